package parsers

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/phiwatch/phiwatch/internal/event"
)

// MappingSetter is implemented by formats read through a column mapping
// (ehr-csv): `phiwatch parse|ingest --mapping NAME|FILE` hands the flag to
// WithMapping, which returns the parser configured with it.
type MappingSetter interface {
	WithMapping(nameOrPath string) (Parser, error)
}

// EHRCSV reads EHR access-log exports in CSV or TSV (Epic, Cerner/Oracle
// Health P2Sentinel, athenahealth and any other system that exports a
// table of accesses) through a column mapping, so a new export layout is a
// YAML file, not code. See EHRCSVMapping and docs/formats/ehr-csv.md.
//
// Records: the framer reads the header row once and hands on each data row
// as "header\nrow", so every record parses on its own (a dead letter can be
// replayed, a fuzzer can feed anything) while the event's raw is the row
// alone. Quoted fields may hold delimiters, quotes and newlines; a UTF-8 or
// UTF-16 byte-order mark, CRLF or bare-CR line ends, Windows-1252 text and
// trailing blank rows are all read.
//
// What each row becomes: the mapped columns fill the actor, time, patient
// id, device, client IP, purpose of use and break-glass flag; the action
// column's value goes through the mapping's value map onto the action
// vocabulary and is kept as attrs.source_action. A patient name column is
// read only to be left out: events carry the patient id, not the name
// (minimum necessary), and no attribute copies it.
//
// Rows that cannot be events are dead-lettered with the reason: too few
// columns for the mapped fields, more columns than the header (a
// delimiter inside an unquoted field, which would shift every value), an
// empty user or time, a time in none of the mapping's formats.
//
// The zero value has no mapping; use NewEHRCSV, or WithMapping on the
// parser All registers (whose mapping is epic-access-log).
type EHRCSV struct {
	m   *ehrCSVCompiled
	err error          // why there is no mapping, for Parse and Frame to report
	loc *time.Location // zone of zone-less times when the mapping names none
}

// NewEHRCSV returns an ehr-csv parser reading through m, or the reasons m
// is unusable.
func NewEHRCSV(m EHRCSVMapping) (EHRCSV, error) {
	c, err := compileEHRCSVMapping(m)
	if err != nil {
		return EHRCSV{}, fmt.Errorf("ehr-csv mapping %s: %w", cmp.Or(m.Name, "(unnamed)"), err)
	}
	return EHRCSV{m: c}, nil
}

// defaultEHRCSV is the parser All registers. A broken built-in mapping
// (which TestEHRCSVBuiltinMappings rules out) surfaces as the error of
// every Parse and Frame rather than a panic at start-up.
func defaultEHRCSV() EHRCSV {
	m, err := LoadEHRCSVMapping(ehrCSVDefaultMapping)
	if err != nil {
		return EHRCSV{err: err}
	}
	p, err := NewEHRCSV(m)
	if err != nil {
		return EHRCSV{err: err}
	}
	return p
}

// Name implements Parser.
func (EHRCSV) Name() string { return "ehr-csv" }

// Kind implements Parser.
func (EHRCSV) Kind() event.SourceKind { return event.KindEHR }

// Description implements Parser.
func (p EHRCSV) Description() string {
	return fmt.Sprintf("EHR access-log CSV/TSV export read through a column mapping (--mapping; now %s; built in: %s)",
		p.MappingName(), strings.Join(EHRCSVMappings(), ", "))
}

// MappingName is the name of the parser's mapping.
func (p EHRCSV) MappingName() string {
	if p.m == nil {
		return "none"
	}
	return p.m.name
}

// WithMapping implements MappingSetter: nameOrPath is a built-in mapping's
// name or a YAML file's path. The zone set by WithLocation is kept.
func (p EHRCSV) WithMapping(nameOrPath string) (Parser, error) {
	m, err := LoadEHRCSVMapping(nameOrPath)
	if err != nil {
		return nil, err
	}
	q, err := NewEHRCSV(m)
	if err != nil {
		return nil, err
	}
	q.loc = p.loc
	return q, nil
}

// WithLocation implements LocationSetter: loc is the zone of times written
// without an offset, unless the mapping names its own (time.zone), which
// wins because it was written for that export.
func (p EHRCSV) WithLocation(loc *time.Location) Parser {
	p.loc = loc
	return p
}

func (p EHRCSV) compiled() (*ehrCSVCompiled, error) {
	switch {
	case p.err != nil:
		return nil, p.err
	case p.m == nil:
		return nil, errors.New("the ehr-csv parser has no column mapping (construct it with NewEHRCSV or WithMapping)")
	}
	return p.m, nil
}

// Limits on one record. A row is a few hundred bytes; a quoted field left
// open by a stray quote would otherwise swallow the rest of the file.
const (
	maxEHRCSVRow      = event.MaxRawBytes
	maxEHRCSVRowLines = 64
	// A header is a few hundred bytes; every record carries it, so a huge
	// one (a wrong delimiter, a missing skip_rows) is refused, not repeated.
	maxEHRCSVHeader  = 64 << 10
	maxEHRCSVColumns = 1024
)

// Frame implements Framer. It skips the mapping's skip_rows lines, takes
// the first non-blank row as the header (with header: true) and emits each
// later row as "header\nrow", positioned by the row's first line number.
// Blank rows, rows of empty fields (Excel writes ",,,,") and repeats of the
// header (exports appended to one another) are not records. A header that
// lacks a required column ends framing with an error naming what is
// missing: every row would fail the same way.
func (p EHRCSV) Frame(r io.Reader, emit func(data []byte, position string) error) error {
	m, err := p.compiled()
	if err != nil {
		return err
	}
	lr := &ehrLineReader{br: bufio.NewReaderSize(ehrTextReader(r), 64<<10)}
	for i := 0; i < m.skipRows; i++ {
		if _, err := lr.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
	delim := m.delim
	var (
		header []byte
		lay    *ehrCSVLayout
		accept func([]byte) bool // whether a record spanning lines is one
	)
	if !m.header {
		lay = m.resolveNumbered(delim)
		accept = lay.multiLineOK
	}
	for {
		rec, pos, err := lr.record(delim, accept)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rec = ehrToUTF8(rec)
		if !m.header {
			if ehrBlankRow(rec, delim) {
				continue
			}
			if err := emit(rec, strconv.Itoa(pos)); err != nil {
				return err
			}
			continue
		}
		if header == nil {
			if len(bytes.TrimSpace(rec)) == 0 {
				continue
			}
			if delim == 0 {
				delim = ehrDetectDelimiter(rec)
			}
			if lay, err = m.resolve(rec, delim); err != nil {
				if fits := ehrCSVFittingMappings(rec, delim, m.name); len(fits) > 0 {
					return fmt.Errorf("line %d: %w; the built-in mapping %s fits this header", pos, err, strings.Join(fits, " or "))
				}
				return fmt.Errorf("line %d: %w", pos, err)
			}
			header, accept = rec, lay.multiLineOK
			continue
		}
		if ehrBlankRow(rec, delim) || bytes.Equal(rec, header) {
			continue
		}
		data := make([]byte, 0, len(header)+1+len(rec))
		data = append(append(append(data, header...), '\n'), rec...)
		if err := emit(data, strconv.Itoa(pos)); err != nil {
			return err
		}
	}
}

// Parse implements Parser. The record is the header row and one data row
// (as Frame emits it), or only the row with header: false. More rows after
// the header are read too, each its own event; unreadable ones are named in
// the error while the others are kept.
func (p EHRCSV) Parse(rec Record) ([]event.Event, error) {
	m, err := p.compiled()
	if err != nil {
		return nil, err
	}
	data := ehrToUTF8(bytes.TrimPrefix(rec.Data, utf8BOM))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty record")
	}
	delim := m.delim
	if delim == 0 { // auto, which needs a header: it is the first non-blank line
		delim = ehrDetectDelimiter(ehrSkipBlankLines(data))
	}
	var (
		lay  *ehrCSVLayout
		rows []ehrRow
	)
	if m.header {
		data = ehrSkipBlankLines(data)
		hdr := ehrSplitRecords(data, delim, nil)[0]
		if lay, err = m.resolve(hdr.text, delim); err != nil {
			return nil, err
		}
		rows = ehrSplitRecords(data[hdr.end:], delim, lay.multiLineOK)
	} else {
		lay = m.resolveNumbered(delim)
		rows = ehrSplitRecords(data, delim, lay.multiLineOK)
	}
	var (
		evs    []event.Event
		errs   problemList
		rowErr error // the problem of the only row, when there is one
		n      int
	)
	for _, row := range rows {
		if ehrBlankRow(row.text, delim) || (lay.header != nil && bytes.Equal(row.text, lay.header)) {
			continue
		}
		n++
		var err error
		var e event.Event
		if row.open {
			err = errors.New("a quoted field is never closed (a stray \" in the row?)")
		} else {
			e, err = p.event(rec, lay, row.text)
		}
		if err != nil {
			rowErr = err
			errs = append(errs, fmt.Errorf("row %d: %w", n, err))
			continue
		}
		evs = append(evs, e)
	}
	switch {
	case n == 0 && m.header:
		return nil, errors.New("the record holds a header row but no data row")
	case n == 0:
		return nil, errors.New("empty record")
	case n == 1 && rowErr != nil:
		// One row, the usual record: its problem, without "row 1: ".
		return nil, rowErr
	case len(errs) > 0:
		return evs, fmt.Errorf("%d of %d rows unreadable: %w", len(errs), n, errs)
	}
	return evs, nil
}

// ehrCSVLayout is a mapping resolved against one header row: the column
// index of each field, or -1.
type ehrCSVLayout struct {
	m      *ehrCSVCompiled
	delim  byte
	header []byte   // the header row, nil without one
	ncols  int      // columns in the header; 0 without one
	names  []string // header names, for messages
	idx    [nEHRFields]int
	extra  []ehrExtraIndex
	// timeHint is the time layout that fitted last (see parseTime).
	timeHint atomic.Int32
}

type ehrExtraIndex struct {
	attr string
	i    int
}

// resolve finds the mapped columns in a header row. A required field that
// finds none of its names is an error that lists what the header holds, so
// the operator can correct the mapping.
func (m *ehrCSVCompiled) resolve(header []byte, delim byte) (*ehrCSVLayout, error) {
	if l := m.last.Load(); l != nil && l.delim == delim && bytes.Equal(l.header, header) {
		return l, nil
	}
	lay, err := m.resolveHeader(header, delim)
	if err != nil {
		return nil, err
	}
	m.last.Store(lay)
	return lay, nil
}

// resolveHeader is resolve without the memo.
func (m *ehrCSVCompiled) resolveHeader(header []byte, delim byte) (*ehrCSVLayout, error) {
	if len(header) > maxEHRCSVHeader {
		return nil, fmt.Errorf("the header row is %d bytes, more than %s: is the first line really the header (skip_rows), and the delimiter right?", len(header), byteSize(maxEHRCSVHeader))
	}
	names, err := ehrSplitFields(header, delim)
	if err != nil {
		return nil, fmt.Errorf("header row: %w", err)
	}
	if len(names) > maxEHRCSVColumns {
		return nil, fmt.Errorf("the header row has %d columns, more than %d: is the delimiter right?", len(names), maxEHRCSVColumns)
	}
	names = slices.Clone(names) // ehrSplitFields reuses its slice
	lay := &ehrCSVLayout{m: m, delim: delim, header: bytes.Clone(header), ncols: len(names), names: names}
	byName := make(map[string]int, len(names))
	for i, n := range names {
		if k := ehrNorm(n); k != "" {
			if _, dup := byName[k]; !dup {
				byName[k] = i
			}
		}
	}
	find := func(c EHRCSVColumn, norms []string) int {
		if c.Index > 0 {
			if c.Index > len(names) {
				return -1
			}
			return c.Index - 1
		}
		for i, n := range c.Names {
			k := ""
			if i < len(norms) {
				k = norms[i]
			} else {
				k = ehrNorm(n)
			}
			if i, ok := byName[k]; ok {
				return i
			}
		}
		return -1
	}
	var missing problemList
	for f := range nEHRFields {
		lay.idx[f] = find(m.cols[f], m.norms[f])
		if m.required[f] && lay.idx[f] < 0 {
			missing = append(missing, fmt.Errorf("%s (%s)", ehrFieldNames[f], m.cols[f]))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ehr-csv mapping %s does not fit this export: the header row has no column for %v; the header has %s (choose or write a mapping for this export: --mapping)",
			m.name, missing, ehrQuoteList(names, 40))
	}
	for _, x := range m.extra {
		i := find(x.Column, nil)
		if i < 0 || i == lay.idx[ehrFPatientName] {
			continue // optional; and a patient name is never copied
		}
		attr := x.Attr
		if attr == "" {
			attr = ehrSnake(names[i])
			if attr == "" || ehrHas(ehrAttrsSet, attr) {
				attr = "col_" + strconv.Itoa(i+1)
			}
		}
		lay.extra = append(lay.extra, ehrExtraIndex{attr, i})
	}
	return lay, nil
}

// ehrCSVFittingMappings lists the built-in mappings other than skip whose
// required columns the header holds, to point an operator who picked the
// wrong one at the right one.
func ehrCSVFittingMappings(header []byte, delim byte, skip string) []string {
	var fits []string
	for _, c := range ehrCSVBuiltinsCompiled() {
		if c.name == skip {
			continue
		}
		if _, err := c.resolveHeader(header, delim); err == nil {
			fits = append(fits, c.name)
		}
	}
	return fits
}

// ehrCSVBuiltinsCompiled is every built-in mapping, compiled once, sorted
// by name. It is only read (resolveHeader leaves the memo alone), so it is
// an immutable table like the embedded files it comes from.
var ehrCSVBuiltinsCompiled = sync.OnceValue(func() []*ehrCSVCompiled {
	var out []*ehrCSVCompiled
	for _, name := range EHRCSVMappings() {
		if m, err := LoadEHRCSVMapping(name); err == nil {
			if c, err := compileEHRCSVMapping(m); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
})

// resolveNumbered is resolve for files without a header: columns are
// numbered, so they cannot be missing until a row is too short.
func (m *ehrCSVCompiled) resolveNumbered(delim byte) *ehrCSVLayout {
	lay := &ehrCSVLayout{m: m, delim: delim}
	for f := range nEHRFields {
		lay.idx[f] = m.cols[f].Index - 1
	}
	for _, x := range m.extra {
		i := x.Column.Index - 1
		if i < 0 || i == lay.idx[ehrFPatientName] {
			continue
		}
		attr := x.Attr
		if attr == "" {
			attr = "col_" + strconv.Itoa(i+1)
		}
		lay.extra = append(lay.extra, ehrExtraIndex{attr, i})
	}
	return lay
}

// multiLineOK reports whether a record spanning lines is plausible: only
// free text (the purpose or reason, extra columns) holds newlines; a user,
// time, patient or action that does is rows run together by an open quote.
func (lay *ehrCSVLayout) multiLineOK(rec []byte) bool {
	fields, err := ehrSplitFields(rec, lay.delim)
	return err == nil && lay.spansLines(fields) < 0
}

// spansLines returns the first mapped single-line field holding a newline,
// or -1.
func (lay *ehrCSVLayout) spansLines(fields []string) ehrField {
	for f := range nEHRFields {
		if f == ehrFPurpose {
			continue
		}
		if i := lay.idx[f]; i >= 0 && i < len(fields) && strings.ContainsAny(fields[i], "\r\n") {
			return f
		}
	}
	return -1
}

// hint is the layout's time-format hint, only for the default formats: no
// value reads in two of them (TestEHRCSVDefaultFormatsExclusive), so trying
// the last one first cannot change a result. A mapping's own list may be
// ambiguous (%d/%m/%Y and %m/%d/%Y), where the first that reads must win.
func (lay *ehrCSVLayout) hint() *atomic.Int32 {
	if lay.m.defaultFormats {
		return &lay.timeHint
	}
	return nil
}

func (lay *ehrCSVLayout) colName(f ehrField) string {
	i := lay.idx[f]
	if i >= 0 && i < len(lay.names) && strings.TrimSpace(lay.names[i]) != "" {
		return strconv.Quote(strings.TrimSpace(lay.names[i]))
	}
	return "column " + strconv.Itoa(i+1)
}

// event maps one data row.
func (p EHRCSV) event(rec Record, lay *ehrCSVLayout, row []byte) (event.Event, error) {
	m := lay.m
	fields, err := ehrSplitFields(row, lay.delim)
	if err != nil {
		return event.Event{}, err
	}
	if lay.ncols > 0 && len(fields) > lay.ncols {
		extra := false
		for _, f := range fields[lay.ncols:] {
			extra = extra || strings.TrimSpace(f) != ""
		}
		if extra {
			return event.Event{}, fmt.Errorf("row has %d columns but the header has %d: a field holding the delimiter is probably not quoted, which shifts every value after it", len(fields), lay.ncols)
		}
	}
	for f := range nEHRFields {
		if i := lay.idx[f]; i >= len(fields) && (m.required[f] || lay.ncols > 0) {
			have := strconv.Itoa(len(fields))
			if lay.ncols > 0 {
				have += " of the header's " + strconv.Itoa(lay.ncols)
			}
			return event.Event{}, fmt.Errorf("row has %s columns, so %s (%s) is missing (a truncated row, or a report footer?)", have, ehrFieldNames[f], lay.colName(f))
		}
	}
	if f := lay.spansLines(fields); f >= 0 {
		return event.Event{}, fmt.Errorf("%s (%s) spans several lines: a quote left open runs rows together (check the row's quotes)", ehrFieldNames[f], lay.colName(f))
	}
	get := func(f ehrField) string {
		if i := lay.idx[f]; i >= 0 && i < len(fields) {
			return ehrCleanCell(fields[i])
		}
		return ""
	}

	var problems problemList
	user := get(ehrFUserID)
	if user == "" {
		problems = append(problems, fmt.Errorf("the user (%s) is empty", lay.colName(ehrFUserID)))
	}
	tv := get(ehrFTime)
	if lay.idx[ehrFDate] >= 0 {
		if d := get(ehrFDate); d != "" && tv != "" {
			tv = d + " " + tv
		} else if d != "" {
			tv = d
		}
	}
	loc := m.zone
	if loc == nil {
		loc = p.loc
	}
	if loc == nil {
		loc = time.UTC
	}
	var t time.Time
	zoned := false
	if tv == "" {
		problems = append(problems, fmt.Errorf("the time (%s) is empty", lay.colName(ehrFTime)))
	} else if t, zoned, err = m.parseTime(tv, loc, lay.hint()); err != nil {
		problems = append(problems, fmt.Errorf("time %q (%s): %w", truncate(tv, 64), lay.colName(ehrFTime), err))
	}
	if len(problems) > 0 {
		return event.Event{}, problems
	}

	raw := string(bytes.TrimRight(row, "\r\n"))
	e := event.Event{
		TenantID:     rec.Tenant,
		SourceKind:   event.KindEHR,
		SourceSystem: p.Name(),
		SourceName:   rec.SourceName,
		Time:         t,
		ReceivedAt:   rec.ReceivedAt,
		Raw:          raw,
		Attrs:        map[string]string{"mapping": m.name},
	}
	e.Actor = event.Actor{
		ID:         truncate(user, maxIdentLen),
		Name:       truncate(get(ehrFUserName), maxIdentLen),
		Role:       truncate(get(ehrFUserRole), maxIdentLen),
		Department: truncate(get(ehrFDepartment), maxIdentLen),
	}
	if !zoned {
		e.Attrs["time_zone"] = loc.String()
	}

	actionValue := get(ehrFAction)
	e.Action = m.actions.def
	if actionValue != "" {
		e.Action = m.actions.lookup(actionValue)
	}
	source := actionValue
	if source == "" {
		source = "unspecified"
	}
	putAttr(e.Attrs, "source_action", source)

	e.Outcome = m.outcomes.def
	if m.hasOutcome {
		if ov := get(ehrFOutcome); ov != "" {
			// A value the mapping does not know is not taken as the
			// default: "Partial" is not a success just because most are.
			o, ok := m.outcomes.match(ov)
			if !ok {
				o = event.OutcomeUnknown
			}
			e.Outcome = o
			putAttr(e.Attrs, "source_outcome", ov)
		}
	}
	switch {
	case e.Action == event.ActionLoginFailed:
		e.Outcome = event.OutcomeFailure // the operation says it failed, whatever the column says
	case e.Action == event.ActionLogin && e.Outcome == event.OutcomeFailure:
		e.Action = event.ActionLoginFailed // a sign-on the outcome column says failed
	}

	e.PatientID = truncate(get(ehrFPatientID), maxIdentLen)
	e.ResourceType = truncate(get(ehrFResourceType), maxIdentLen)
	e.ResourceID = truncate(get(ehrFResourceID), maxIdentLen)
	if e.ResourceType == "" && e.ResourceID == "" && e.PatientID != "" {
		e.ResourceType, e.ResourceID = "Patient", e.PatientID
	}
	e.Device = truncate(get(ehrFDevice), maxIdentLen)
	if ipv := get(ehrFClientIP); ipv != "" {
		if ip, ok := cleanIP(ipv); ok {
			e.ClientIP = ip
		} else {
			putAttr(e.Attrs, "client_ip_raw", ipv)
		}
	}
	if pv := get(ehrFPurpose); pv != "" {
		e.PurposeOfUse = truncate(pv, maxIdentLen)
		e.BreakGlass = fhirBreakGlass(pv)
	}
	if lay.idx[ehrFBreakGlass] >= 0 && m.btgTrue[ehrNorm(get(ehrFBreakGlass))] {
		e.BreakGlass = true
	}
	if actionValue != "" && len(m.btgActions) > 0 {
		la := strings.ToLower(actionValue)
		for _, s := range m.btgActions {
			if strings.Contains(la, s) {
				e.BreakGlass = true
				break
			}
		}
	}
	for _, x := range lay.extra {
		if x.i < len(fields) {
			putAttr(e.Attrs, x.attr, ehrCleanCell(fields[x.i]))
		}
	}

	// The source's own record id identifies the row across re-exports whose
	// column layout changed; with the time and user beside it, two systems
	// that both number rows from 1 do not collide. Without one, the row.
	key := raw
	if id := get(ehrFRecordID); id != "" {
		putAttr(e.Attrs, "record_id", id)
		key = "id:" + id + "|" + tv + "|" + user
	}
	e.EventID = event.ID(rec.Tenant, p.Name(), key)
	e.Normalize()
	return e, nil
}

// ehrCleanCell trims a value and unwraps Excel's ="00123" (written to keep
// leading zeros of MRNs and ids).
func ehrCleanCell(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 3 && strings.HasPrefix(s, `="`) && strings.HasSuffix(s, `"`) {
		s = strings.TrimSpace(s[2 : len(s)-1])
	}
	return s
}

// ehrSplitFields splits one record (without its line end) into fields
// exactly as encoding/csv reads it with LazyQuotes and any field count —
// a field is quoted when it starts with '"'; inside, "" is a quote, '"'
// ends the field before the delimiter or the record's end and is text
// anywhere else; "\r\n" inside is read as "\n" — without a 4 KiB reader
// per row. FuzzEHRCSV checks it against encoding/csv.
func ehrSplitFields(row []byte, delim byte) ([]string, error) {
	row = bytes.TrimSuffix(row, []byte("\r"))
	if len(row) == 0 {
		return nil, errors.New("empty row")
	}
	if bytes.Contains(row, []byte("\r\n")) {
		row = bytes.ReplaceAll(row, []byte("\r\n"), []byte("\n"))
	}
	fields := make([]string, 0, 16)
	var buf []byte
	for {
		if len(row) == 0 || row[0] != '"' {
			i := bytes.IndexByte(row, delim)
			if i < 0 {
				return append(fields, string(row)), nil
			}
			fields = append(fields, string(row[:i]))
			row = row[i+1:]
			continue
		}
		row = row[1:]
		buf = buf[:0]
	quoted:
		for {
			i := bytes.IndexByte(row, '"')
			if i < 0 { // the quote never closes: the rest is the field
				return append(fields, string(append(buf, row...))), nil
			}
			buf = append(buf, row[:i]...)
			row = row[i+1:]
			switch {
			case len(row) > 0 && row[0] == '"':
				buf = append(buf, '"')
				row = row[1:]
			case len(row) > 0 && row[0] == delim:
				fields = append(fields, string(buf))
				row = row[1:]
				break quoted
			case len(row) == 0 || row[0] == '\n':
				// The record's end (a newline here ends it, as it would a
				// line read by encoding/csv).
				return append(fields, string(buf)), nil
			default:
				buf = append(buf, '"') // a bare quote, kept
			}
		}
	}
}

// ehrDetectDelimiter picks the delimiter of a header row: the most frequent of
// comma, tab, semicolon and pipe outside quotes (comma when none occurs).
func ehrDetectDelimiter(header []byte) byte {
	var counts [256]int
	inQuotes := false
	for _, c := range header {
		if c == '"' {
			inQuotes = !inQuotes
		} else if !inQuotes {
			if c == '\n' {
				break
			}
			counts[c]++
		}
	}
	best, n := byte(','), 0
	for _, c := range []byte{',', '\t', ';', '|'} {
		if counts[c] > n {
			best, n = c, counts[c]
		}
	}
	return best
}

// ehrSkipBlankLines drops the blank lines at the start of data.
func ehrSkipBlankLines(data []byte) []byte {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 || len(bytes.TrimSpace(data[:i])) > 0 {
			return data
		}
		data = data[i+1:]
	}
	return data
}

// ehrBlankRow reports whether a row holds no value: blank, or only
// delimiters and empty quoted fields.
func ehrBlankRow(row []byte, delim byte) bool {
	for _, c := range row {
		if c != delim && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '"' {
			return false
		}
	}
	return true
}

func ehrQuoteList(names []string, max int) string {
	var b strings.Builder
	for i, n := range names {
		if i == max {
			fmt.Fprintf(&b, ", and %d more", len(names)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(truncate(strings.TrimSpace(n), 64)))
	}
	if len(names) == 0 {
		return "no columns"
	}
	return b.String()
}

// ---- record splitting ----

// ehrQuotes follows the quoting of one CSV record across its physical
// lines, the way encoding/csv reads with LazyQuotes: a field is quoted when
// it starts with '"'; inside, "" is a quote, and '"' ends the field only
// before the delimiter or the line end; anywhere else a '"' is text.
type ehrQuotes struct {
	delim      byte
	inQuotes   bool
	fieldStart bool
}

func (q *ehrQuotes) reset() { q.inQuotes, q.fieldStart = false, true }

// line reads one physical line (with its line end) and reports whether the
// record ends with it.
func (q *ehrQuotes) line(l []byte) bool {
	for i := 0; i < len(l); i++ {
		c := l[i]
		if q.inQuotes {
			if c != '"' {
				continue
			}
			rest := l[i+1:]
			switch {
			case len(rest) > 0 && rest[0] == '"':
				i++ // "" is a quote
			case len(rest) == 0, rest[0] == q.delim, rest[0] == '\n', rest[0] == '\r' && (len(rest) == 1 || rest[1] == '\n'):
				q.inQuotes = false
			}
			continue
		}
		switch {
		case c == '"' && q.fieldStart:
			q.inQuotes, q.fieldStart = true, false
		case c == q.delim:
			q.fieldStart = true
		default:
			q.fieldStart = false
		}
	}
	if q.inQuotes {
		return false
	}
	q.fieldStart = true
	return true
}

// ehrRow is one record's text, without its line end; open is set when a
// quoted field is still open at its end; end is its end offset in the data.
type ehrRow struct {
	text []byte
	open bool
	end  int
}

// ehrSplitRecords splits data into records, keeping quoted newlines inside
// theirs. As in the framer, a record whose quote never closes, or that
// spans lines and fails accept, is cut back to its first line and the rest
// read again, so one stray quote costs one row. delim 0 is taken as a
// comma, for finding the header.
func ehrSplitRecords(data []byte, delim byte, accept func([]byte) bool) []ehrRow {
	if delim == 0 {
		delim = ','
	}
	q := ehrQuotes{delim: delim}
	var rows []ehrRow
	off := 0
	for off < len(data) {
		q.reset()
		end, lines, closed := off, 0, false
		for end < len(data) && !closed && lines < maxEHRCSVRowLines && end-off < maxEHRCSVRow {
			n := bytes.IndexByte(data[end:], '\n')
			if n < 0 {
				n = len(data) - end
			} else {
				n++
			}
			closed = q.line(data[end : end+n])
			end += n
			lines++
		}
		text := bytes.TrimRight(data[off:end], "\r\n")
		open := !closed
		if lines > 1 && (!closed || accept != nil && !accept(text)) {
			// The first line alone, whose quote is open by definition: the
			// record went on past it.
			end = off + bytes.IndexByte(data[off:], '\n') + 1
			text = bytes.TrimRight(data[off:end], "\r\n")
			open = true
		}
		rows = append(rows, ehrRow{text: text, open: open, end: end})
		off = end
	}
	return rows
}

// ehrLineReader hands out the physical lines of an input and gathers them
// into records, pushing lines back when a record has to be cut short.
type ehrLineReader struct {
	br      *bufio.Reader
	lineNo  int
	pending []ehrLine // pushed back, next first
}

type ehrLine struct {
	b []byte
	n int
}

func (lr *ehrLineReader) next() (ehrLine, error) {
	if len(lr.pending) > 0 {
		l := lr.pending[0]
		lr.pending = lr.pending[1:]
		return l, nil
	}
	b, err := readRawLine(lr.br, maxEHRCSVRow)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return ehrLine{}, err
		}
		return ehrLine{}, fmt.Errorf("line %d: %w", lr.lineNo+1, err)
	}
	lr.lineNo++
	return ehrLine{b, lr.lineNo}, nil
}

// record returns the next record (without its line end) and the number of
// its first line. With delim 0 (auto, before the header is read) quotes
// after a comma open a field, which only matters for quoted newlines in a
// header row.
//
// A record that spans lines must also pass accept (when given): a quote
// left open in one row can close in a later one, and the rows between
// would silently become one field. When it fails, or the quote never
// closes, the first line is the record on its own (it fails with that
// reason) and the lines after it are read again.
func (lr *ehrLineReader) record(delim byte, accept func([]byte) bool) ([]byte, int, error) {
	if delim == 0 {
		delim = ','
	}
	first, err := lr.next()
	if err != nil {
		return nil, 0, err
	}
	q := ehrQuotes{delim: delim}
	q.reset()
	lines := []ehrLine{first}
	size := len(first.b)
	closed := q.line(first.b)
	for !closed && len(lines) < maxEHRCSVRowLines && size < maxEHRCSVRow {
		l, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		lines = append(lines, l)
		size += len(l.b)
		closed = q.line(l.b)
	}
	if len(lines) == 1 {
		return bytes.TrimRight(first.b, "\r\n"), first.n, nil
	}
	rec := make([]byte, 0, size)
	for _, l := range lines {
		rec = append(rec, l.b...)
	}
	rec = bytes.TrimRight(rec, "\r\n")
	if closed && (accept == nil || accept(rec)) {
		return rec, first.n, nil
	}
	lr.pending = append(append([]ehrLine(nil), lines[1:]...), lr.pending...)
	return bytes.TrimRight(first.b, "\r\n"), first.n, nil
}

// ---- text encodings ----

// ehrTextReader makes an input UTF-8 with '\n' line ends: it drops a UTF-8
// byte-order mark, decodes UTF-16 that starts with one (Excel's "Unicode
// Text" export), and turns bare-CR line ends (old Mac Excel) into '\n'.
func ehrTextReader(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(head, utf8BOM):
		_, _ = br.Discard(3)
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		_, _ = br.Discard(2)
		return &ehrUTF16Reader{br: br}
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		_, _ = br.Discard(2)
		return &ehrUTF16Reader{br: br, bigEndian: true}
	}
	if peek, _ := br.Peek(64 << 10); bytes.IndexByte(peek, '\r') >= 0 && bytes.IndexByte(peek, '\n') < 0 {
		return &ehrCRReader{r: br}
	}
	return br
}

// ehrCRReader turns every '\r' into '\n'.
type ehrCRReader struct{ r io.Reader }

func (c *ehrCRReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := range p[:n] {
		if p[i] == '\r' {
			p[i] = '\n'
		}
	}
	return n, err
}

// ehrUTF16Reader decodes UTF-16 to UTF-8; unpaired surrogates and a dangling
// odd byte become U+FFFD.
type ehrUTF16Reader struct {
	br        *bufio.Reader
	bigEndian bool
	out       []byte
}

func (u *ehrUTF16Reader) unit() (uint16, error) {
	var b [2]byte
	n, err := io.ReadFull(u.br, b[:])
	switch {
	case n == 1:
		return 0xFFFD, nil
	case err != nil:
		return 0, err
	case u.bigEndian:
		return uint16(b[0])<<8 | uint16(b[1]), nil
	}
	return uint16(b[1])<<8 | uint16(b[0]), nil
}

func (u *ehrUTF16Reader) Read(p []byte) (int, error) {
	for len(u.out) < len(p) {
		c, err := u.unit()
		if err != nil {
			if len(u.out) > 0 {
				break
			}
			return 0, err
		}
		r := rune(c)
		if utf16.IsSurrogate(r) {
			next, err := u.br.Peek(2)
			if err == nil {
				var c2 uint16
				if u.bigEndian {
					c2 = uint16(next[0])<<8 | uint16(next[1])
				} else {
					c2 = uint16(next[1])<<8 | uint16(next[0])
				}
				if d := utf16.DecodeRune(r, rune(c2)); d != utf8.RuneError {
					_, _ = u.br.Discard(2)
					r = d
				} else {
					r = utf8.RuneError
				}
			} else {
				r = utf8.RuneError
			}
		}
		u.out = utf8.AppendRune(u.out, r)
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}

// ehrToUTF8 returns b unchanged when it is UTF-8, and otherwise reads it as
// Windows-1252, which is what Excel on Windows writes when a CSV holds a
// name with an accent: the text survives instead of turning into U+FFFD.
func ehrToUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return singleByteToUTF8(b, true)
}

// singleByteToUTF8 decodes single-byte text to UTF-8: ISO-8859-1, or with cp1252
// Windows-1252, whose 0x80-0x9F hold printable characters.
func singleByteToUTF8(b []byte, cp1252 bool) []byte {
	out := make([]byte, 0, len(b)+len(b)/4)
	for _, c := range b {
		r := rune(c)
		if cp1252 && c >= 0x80 && c <= 0x9F {
			r = windows1252High[c-0x80]
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

// windows1252High is Windows-1252's 0x80-0x9F; the five unassigned codes keep
// their C1 values, as Windows' own decoder does.
var windows1252High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}
