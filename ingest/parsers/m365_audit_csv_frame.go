package parsers

// CSV plumbing shared by the CSV-export formats (m365-audit-csv and
// message-trace). encoding/csv is not used because framing needs each row's
// bytes exactly as written (a record is its header plus that row, so it can
// be parsed, dead-lettered and replayed on its own) and exports in the wild
// break RFC 4180 in ways encoding/csv rejects outright.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/phiwatch/phiwatch/internal/event"
)

// csvStreamBuffer is the read buffer for a CSV stream.
const csvStreamBuffer = 64 << 10

// maxCSVRow bounds one CSV row. A longer row (or an unterminated quote that
// would swallow the rest of the file) is cut here and handed on as a record
// of its own, which its parser rejects; the rows after it are read normally.
const maxCSVRow = 1 << 20

// csvRow is one row of a CSV file as written: its bytes without the line
// break, the line it starts on, and whether it was cut at maxCSVRow.
type csvRow struct {
	raw  []byte
	line int
	cut  bool
}

// csvHeader is the header row the data rows below it are read with.
type csvHeader struct {
	row    csvRow
	fields []string // as written
	norm   []string // normalized by csvNorm
	delim  byte
	sep    bool  // delim came from a "sep=" line, which records repeat
	err    error // what the format's check found wrong with it
	used   bool  // a data row was read with it
}

// prefix is what a record starts with: the "sep=" line if the file had
// one (so the record splits the same way on its own) and the header row.
func (h *csvHeader) prefix() []byte {
	var b []byte
	if h.sep {
		b = append(b, "sep="...)
		b = append(b, h.delim, '\n')
	}
	return append(b, h.row.raw...)
}

// col is the index of the first column whose normalized name is one of
// names, or -1.
func (h *csvHeader) col(names ...string) int {
	for _, n := range names {
		for i, c := range h.norm {
			if c == n {
				return i
			}
		}
	}
	return -1
}

// columns lists the header's names for an error message.
func (h *csvHeader) columns() string {
	return clipText(strings.Join(h.fields, ", "), 200)
}

// csvNorm normalizes a column name so that the spellings of one column
// across exports and versions compare equal: "SenderAddress",
// "sender_address" and "Sender address" are all "senderaddress".
func csvNorm(s string) string {
	if len(s) > maxCSVColumnName {
		return "" // a value, not a column name
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		}
	}
	return string(b)
}

// maxCSVColumnName bounds what csvNorm reads as a column name, so that
// telling a data row from a header costs nothing for long values (an
// AuditData JSON is kilobytes).
const maxCSVColumnName = 128

// scanCSV reads CSV text as exports write it, with read buffers of size
// bytes, and calls row for every data row with the header above it. It
// skips blank lines and the preambles that exporters add before the header
// (PowerShell's "#TYPE …" line, Excel's "sep=;"). A row that check accepts
// as a header starts a new table, so concatenated exports are read with the
// right columns. A header that check rejects, with no data rows under it,
// goes to badHeader, so that a file which is not the expected export is
// reported rather than read as empty. The delimiter (',' ';' or tab) is the
// one the header uses most, unless a "sep=" line names it.
func scanCSV(r io.Reader, size int, check func(norm []string) error, row func(h *csvHeader, r csvRow) error, badHeader func(h *csvHeader) error) error {
	rows := &csvRows{br: bufio.NewReaderSize(newUTF8Reader(r, size), size), delim: ','}
	var (
		hdr     *csvHeader
		sepHint byte
	)
	closeTable := func() error {
		if hdr != nil && hdr.err != nil && !hdr.used {
			return badHeader(hdr)
		}
		return nil
	}
	for {
		rw, err := rows.next()
		if errors.Is(err, io.EOF) {
			return closeTable()
		}
		if err != nil {
			return err
		}
		t := bytes.TrimSpace(rw.raw)
		switch {
		case len(t) == 0:
			continue
		case bytes.HasPrefix(t, []byte("#TYPE")):
			// Export-Csv without -NoTypeInformation: a new export begins
			// and its header follows.
			if err := closeTable(); err != nil {
				return err
			}
			hdr = nil
			continue
		case hdr == nil && len(t) <= 5 && bytes.HasPrefix(bytes.ToLower(t), []byte("sep=")):
			// Excel's delimiter hint. A tab was trimmed with the spaces.
			if d := byte('\t'); len(t) == 5 {
				d = t[4]
				if d != '"' && d >= ' ' && d < 0x7F {
					sepHint = d
				}
			} else if bytes.IndexByte(rw.raw, d) >= 0 {
				sepHint = d
			}
			continue
		}
		if hdr == nil {
			hdr = newCSVHeader(rw, sepHint, check)
			rows.delim = hdr.delim
			continue
		}
		if !rw.cut && len(rw.raw) < 64<<10 {
			// A row that is itself a valid header (another export appended
			// to this one) starts a new table.
			if fields, ferr := splitCSV(rw.raw, hdr.delim); ferr == nil && looksLikeHeader(fields, check) {
				if err := closeTable(); err != nil {
					return err
				}
				hdr = newCSVHeader(rw, sepHint, check)
				rows.delim = hdr.delim
				continue
			}
		}
		hdr.used = true
		if err := row(hdr, rw); err != nil {
			return err
		}
	}
}

func looksLikeHeader(fields []string, check func([]string) error) bool {
	norm := make([]string, len(fields))
	for i, f := range fields {
		norm[i] = csvNorm(f)
	}
	return check(norm) == nil
}

func newCSVHeader(rw csvRow, sepHint byte, check func([]string) error) *csvHeader {
	h := &csvHeader{row: rw, delim: sepHint, sep: sepHint != 0}
	if h.delim == 0 {
		h.delim = guessDelimiter(rw.raw)
	}
	fields, err := splitCSV(rw.raw, h.delim)
	h.fields = fields
	h.norm = make([]string, len(fields))
	for i, f := range fields {
		h.norm[i] = csvNorm(f)
	}
	switch {
	case rw.cut:
		h.err = fmt.Errorf("the header row is longer than %s", byteSize(maxCSVRow))
	case err != nil:
		h.err = fmt.Errorf("header row: %w", err)
	default:
		if err := check(h.norm); err != nil {
			if t := bytes.TrimSpace(rw.raw); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
				h.err = fmt.Errorf("the input is JSON, not a CSV export: %w", err)
			} else {
				h.err = fmt.Errorf("the first row is not the header expected: %w; it reads %s", err, h.columns())
			}
		}
	}
	return h
}

// guessDelimiter picks the separator a header row uses most, outside
// quotes: a comma, or the semicolon or tab of regional Excel exports.
func guessDelimiter(row []byte) byte {
	counts := map[byte]int{}
	in := false
	for _, c := range row {
		switch {
		case c == '"':
			in = !in
		case !in && (c == ',' || c == ';' || c == '\t'):
			counts[c]++
		}
	}
	best := byte(',')
	for _, c := range []byte{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}

// csvRows splits CSV text into rows: a line break ends a row unless it is
// inside a quoted field. Quoting is read leniently: a quote opens a quoted
// field only at the start of a field (elsewhere it is a character), and
// text after a closing quote is kept as part of the field.
type csvRows struct {
	br    *bufio.Reader
	delim byte
	line  int // lines read so far
}

// States of csvRows' scanner.
const (
	csvFieldStart = iota
	csvUnquoted
	csvQuoted
	csvQuoteSeen // a quote inside a quoted field: its end, or the first of ""
)

func (c *csvRows) next() (csvRow, error) {
	var row csvRow
	state := csvFieldStart
	started := false
	for {
		frag, err := c.br.ReadSlice('\n')
		if len(frag) > 0 {
			if !started {
				row.line = c.line + 1
				started = true
			}
			for _, b := range frag {
				switch state {
				case csvFieldStart:
					switch b {
					case '"':
						state = csvQuoted
					case c.delim, '\n':
					default:
						state = csvUnquoted
					}
				case csvUnquoted:
					if b == c.delim {
						state = csvFieldStart
					}
				case csvQuoted:
					if b == '"' {
						state = csvQuoteSeen
					}
				case csvQuoteSeen:
					switch b {
					case '"':
						state = csvQuoted
					case c.delim:
						state = csvFieldStart
					default:
						state = csvUnquoted
					}
				}
			}
			if room := maxCSVRow - len(row.raw); room > 0 {
				row.raw = append(row.raw, frag[:min(room, len(frag))]...)
			}
			if len(row.raw) >= maxCSVRow {
				row.cut = true
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return row, err
		}
		atEOF := err != nil
		if !atEOF {
			c.line++
			// A cut row ends at the next line break whatever the quoting,
			// so an unterminated quote costs one record, not the file.
			if state == csvQuoted && !row.cut {
				continue
			}
		}
		if !started {
			return row, io.EOF
		}
		if atEOF && len(frag) > 0 {
			c.line++
		}
		row.raw = bytes.TrimSuffix(bytes.TrimSuffix(row.raw, []byte("\n")), []byte("\r"))
		return row, nil
	}
}

// errUnterminatedQuote is returned by splitCSV for a row whose last quoted
// field does not end: a file cut short, or a stray quote.
var errUnterminatedQuote = errors.New("a quoted field is not terminated (is the file cut short?)")

// splitCSV splits one row into fields, unquoting them. A quoted field keeps
// its line breaks; "" inside it is one quote; text after its closing quote
// is kept. It copies whole runs rather than bytes: AuditData fields are
// kilobytes long.
func splitCSV(row []byte, delim byte) ([]string, error) {
	var fields []string
	i := 0
	for {
		if i < len(row) && row[i] == '"' {
			var b []byte
			start := i + 1
			for {
				j := bytes.IndexByte(row[start:], '"')
				if j < 0 {
					b = append(b, row[start:]...)
					return append(fields, string(b)), errUnterminatedQuote
				}
				j += start
				if j+1 < len(row) && row[j+1] == '"' { // an escaped quote
					b = append(b, row[start:j+1]...)
					start = j + 2
					continue
				}
				b = append(b, row[start:j]...)
				i = j + 1
				break
			}
			end := len(row)
			if k := bytes.IndexByte(row[i:], delim); k >= 0 {
				end = i + k
			}
			fields = append(fields, string(append(b, row[i:end]...)))
			i = end
		} else {
			end := len(row)
			if k := bytes.IndexByte(row[i:], delim); k >= 0 {
				end = i + k
			}
			fields = append(fields, string(row[i:end]))
			i = end
		}
		if i >= len(row) {
			return fields, nil
		}
		i++ // the delimiter
	}
}

// joinCSV writes fields as one CSV row, quoting where needed.
func joinCSV(fields []string, delim byte) string {
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(delim)
		}
		if f == "" || !strings.ContainsAny(f, "\"\r\n"+string(delim)) && strings.TrimSpace(f) == f {
			b.WriteString(f)
			continue
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(f, `"`, `""`))
		b.WriteByte('"')
	}
	return b.String()
}

// frameCSV implements Framer for the CSV formats: each data row becomes one
// record holding the header row (after the file's "sep=" line, if any), a
// line break and the row, positioned by the line the row starts on. A header check rejects with no rows under it is
// handed on alone, so its parser reports what is wrong with the file.
func frameCSV(r io.Reader, check func([]string) error, emit func([]byte, string) error) error {
	return scanCSV(r, csvStreamBuffer, check,
		func(h *csvHeader, rw csvRow) error {
			rec := append(append(h.prefix(), '\n'), rw.raw...)
			return emit(rec, strconv.Itoa(rw.line))
		},
		func(h *csvHeader) error {
			return emit(h.prefix(), strconv.Itoa(h.row.line))
		})
}

// parseCSVRecord is Parse for the CSV formats: data is a framed record (a
// header and one row) or a whole export. each maps one row; the events of
// the readable rows are returned with an error naming the others by line.
func parseCSVRecord(data []byte, check func([]string) error, each func(h *csvHeader, rw csvRow, fields []string) ([]event.Event, error)) ([]event.Event, error) {
	var (
		evs      []event.Event
		problems problemList
		rows     int
	)
	bad := func(line int, err error) { problems = append(problems, &csvRowError{line, err}) }
	// The record is in memory: buffers need not exceed it.
	err := scanCSV(bytes.NewReader(data), min(len(data)+1, csvStreamBuffer), check,
		func(h *csvHeader, rw csvRow) error {
			rows++
			if h.err != nil {
				bad(rw.line, h.err)
				return nil
			}
			if rw.cut {
				bad(rw.line, fmt.Errorf("row is longer than %s (cut short here)", byteSize(maxCSVRow)))
				return nil
			}
			fields, ferr := splitCSV(rw.raw, h.delim)
			if ferr != nil {
				bad(rw.line, ferr)
				return nil
			}
			got, err := each(h, rw, fields)
			evs = append(evs, got...)
			if err != nil {
				bad(rw.line, err)
			}
			return nil
		},
		func(h *csvHeader) error {
			problems = append(problems, h.err)
			return nil
		})
	if err != nil {
		return evs, err
	}
	switch {
	case len(problems) == 0:
		return evs, nil
	case rows <= 1 && len(problems) == 1:
		// One framed row: its line in the record (2) is not its line in the
		// file, which the record's origin gives, so the reason stands alone.
		var re *csvRowError
		if errors.As(problems[0], &re) {
			return evs, re.err
		}
		return evs, problems[0]
	}
	return evs, fmt.Errorf("%d of %d rows unreadable: %w", len(problems), max(rows, len(problems)), problems)
}

// csvRowError is what is wrong with the row on a line.
type csvRowError struct {
	line int
	err  error
}

func (e *csvRowError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *csvRowError) Unwrap() error { return e.err }

// ---- text decoding ----

// newUTF8Reader returns r as UTF-8 without a byte order mark. Exchange's
// message trace reports are UTF-16LE, often without a BOM; UTF-16 is told
// by its BOM or, failing that, by the zero bytes ASCII text has in every
// other position, which UTF-8 text never has.
func newUTF8Reader(r io.Reader, size int) io.Reader {
	br := bufio.NewReaderSize(r, max(size, 512))
	head, _ := br.Peek(512)
	switch {
	case bytes.HasPrefix(head, utf8BOM):
		br.Discard(len(utf8BOM))
		return br
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		br.Discard(2)
		return newUTF16Reader(br, false)
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		br.Discard(2)
		return newUTF16Reader(br, true)
	}
	if n := len(head) / 2; n >= 2 {
		var even, odd int
		for i := 0; i+1 < len(head); i += 2 {
			if head[i] == 0 {
				even++
			}
			if head[i+1] == 0 {
				odd++
			}
		}
		switch {
		case odd*10 >= n*6 && even*10 < n:
			return newUTF16Reader(br, false)
		case even*10 >= n*6 && odd*10 < n:
			return newUTF16Reader(br, true)
		}
	}
	return br
}

// utf16Reader decodes UTF-16 to UTF-8; unpaired surrogates and a trailing
// odd byte become U+FFFD.
type utf16Reader struct {
	r       *bufio.Reader
	big     bool
	out     []byte
	pending int // a unit read ahead while pairing surrogates, or -1
	err     error
}

func newUTF16Reader(r *bufio.Reader, big bool) *utf16Reader {
	return &utf16Reader{r: r, big: big, pending: -1}
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 && u.err == nil {
		u.fill()
	}
	if len(u.out) > 0 {
		n := copy(p, u.out)
		u.out = u.out[n:]
		return n, nil
	}
	return 0, u.err
}

func (u *utf16Reader) unit() (int, error) {
	if u.pending >= 0 {
		c := u.pending
		u.pending = -1
		return c, nil
	}
	var b [2]byte
	n, err := io.ReadFull(u.r, b[:])
	if n == 1 {
		return utf8.RuneError, nil // a lone last byte
	}
	if err != nil {
		return 0, err
	}
	if u.big {
		return int(b[0])<<8 | int(b[1]), nil
	}
	return int(b[1])<<8 | int(b[0]), nil
}

func (u *utf16Reader) fill() {
	u.out = u.out[:0]
	for range 4096 {
		c, err := u.unit()
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			u.err = err
			return
		}
		r := rune(c)
		if utf16.IsSurrogate(r) {
			r = utf8.RuneError
			if c < 0xDC00 { // a high surrogate: pair it with a low one
				if c2, err := u.unit(); err == nil {
					if c2 >= 0xDC00 && c2 <= 0xDFFF {
						r = utf16.DecodeRune(rune(c), rune(c2))
					} else {
						u.pending = c2
					}
				}
			}
		}
		u.out = utf8.AppendRune(u.out, r)
	}
}
