package parsers

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"

	"github.com/phiwatch/phiwatch/internal/event"
)

// The built-in mappings ship inside the binary, so `--mapping epic-access-log`
// works on any install; a site whose export differs writes its own file
// (docs/formats/ehr-csv.md says how) and names its path instead.
//
//go:embed mappings/ehr-csv/*.yaml
var ehrCSVBuiltins embed.FS

const (
	ehrCSVBuiltinDir = "mappings/ehr-csv"
	// ehrCSVDefaultMapping is the mapping of the ehr-csv parser that All
	// registers, used until --mapping says otherwise.
	ehrCSVDefaultMapping = "epic-access-log"
	// maxEHRCSVMappingFile bounds a mapping file: a real one is a few KiB, so
	// anything bigger is the wrong file.
	maxEHRCSVMappingFile = 1 << 20
)

// EHRCSVMapping says how one EHR's CSV/TSV access-log export maps onto the
// event model. It is read from YAML (see docs/formats/ehr-csv.md and the
// built-in files under mappings/ehr-csv/); the YAML keys are the field tags.
type EHRCSVMapping struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Delimiter is comma, tab, semicolon, pipe, or auto (the default), which
	// picks the most frequent of those in the header row.
	Delimiter string `yaml:"delimiter"`
	// Header says whether the first row names the columns; nil means true.
	// Without a header, columns are given by number.
	Header *bool `yaml:"header"`
	// SkipRows is how many lines precede the header (a report's title and
	// run date); they are not records.
	SkipRows   int              `yaml:"skip_rows"`
	Columns    EHRCSVColumns    `yaml:"columns"`
	Time       EHRCSVTime       `yaml:"time"`
	Action     EHRCSVValueMap   `yaml:"action"`
	Outcome    EHRCSVValueMap   `yaml:"outcome"`
	BreakGlass EHRCSVBreakGlass `yaml:"break_glass"`
	// Extra columns are copied into attrs, keyed by the YAML key (map form)
	// or by the header name in snake_case (list form).
	Extra EHRCSVExtra `yaml:"extra"`
}

// EHRCSVColumns names the source column of each plain event field.
type EHRCSVColumns struct {
	UserID     EHRCSVColumn `yaml:"user_id"`
	UserName   EHRCSVColumn `yaml:"user_name"`
	UserRole   EHRCSVColumn `yaml:"user_role"`
	Department EHRCSVColumn `yaml:"department"`
	PatientID  EHRCSVColumn `yaml:"patient_id"`
	// PatientName is read only so it is never copied anywhere: events keep
	// the patient id, not the name (minimum necessary).
	PatientName  EHRCSVColumn `yaml:"patient_name"`
	Device       EHRCSVColumn `yaml:"device"`
	ClientIP     EHRCSVColumn `yaml:"client_ip"`
	Purpose      EHRCSVColumn `yaml:"purpose"`
	RecordID     EHRCSVColumn `yaml:"record_id"`
	ResourceType EHRCSVColumn `yaml:"resource_type"`
	ResourceID   EHRCSVColumn `yaml:"resource_id"`
}

// EHRCSVTime says where the access time is and how it is written.
type EHRCSVTime struct {
	// Column holds the date and time, or only the time of day when
	// DateColumn is set (the two are joined with a space before parsing).
	Column     EHRCSVColumn `yaml:"column"`
	DateColumn EHRCSVColumn `yaml:"date_column"`
	// Formats are tried in order: Go layouts ("01/02/2006 15:04:05"),
	// strftime patterns ("%m/%d/%Y %I:%M %p"), or excel (a serial day
	// number), unix, unix_ms. Empty means a list of common export formats.
	Formats []string `yaml:"formats"`
	// Zone is the IANA zone of times written without an offset. Empty means
	// the zone the parser is given (ingest --syslog-location), default UTC.
	Zone string `yaml:"zone"`
}

// EHRCSVValueMap maps a column's values onto a closed vocabulary (actions
// or outcomes). Values match ignoring case and spacing; Contains rules are
// tried in order after the exact values; Default covers the rest.
type EHRCSVValueMap struct {
	Column   EHRCSVColumn      `yaml:"column"`
	Values   map[string]string `yaml:"values"`
	Contains []EHRCSVMatch     `yaml:"contains"`
	Default  string            `yaml:"default"`
}

// EHRCSVMatch maps values containing Match (ignoring case) to Value.
type EHRCSVMatch struct {
	Match string `yaml:"match"`
	Value string `yaml:"value"`
}

// EHRCSVBreakGlass says how a row shows emergency access: a flag column
// with one of TrueValues (default Y, Yes, True, 1, X), or an action value
// containing one of ActionContains.
type EHRCSVBreakGlass struct {
	Column         EHRCSVColumn `yaml:"column"`
	TrueValues     []string     `yaml:"true_values"`
	ActionContains []string     `yaml:"action_contains"`
}

// EHRCSVColumn names a source column: by header name (any of several
// alternatives, the first present wins; case, spaces and punctuation are
// ignored) or by 1-based number. In YAML: "User ID", [User ID, EMP ID], 3,
// or "#3".
type EHRCSVColumn struct {
	Names []string
	Index int // 1-based; 0 when named
}

// IsZero reports whether no column is named.
func (c EHRCSVColumn) IsZero() bool { return len(c.Names) == 0 && c.Index == 0 }

func (c EHRCSVColumn) String() string {
	if c.Index > 0 {
		return "column " + strconv.Itoa(c.Index)
	}
	q := make([]string, len(c.Names))
	for i, n := range c.Names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, " or ")
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (c *EHRCSVColumn) UnmarshalYAML(n *yaml.Node) error {
	*c = EHRCSVColumn{}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return nil
		}
		return c.addScalar(n)
	case yaml.SequenceNode:
		for _, el := range n.Content {
			if el.Kind != yaml.ScalarNode || el.ShortTag() == "!!int" || strings.HasPrefix(el.Value, "#") {
				return fmt.Errorf("line %d: a list of alternatives holds header names only; give a column number on its own", el.Line)
			}
			if err := c.addScalar(el); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: a column is a header name, a list of header names, or a column number", n.Line)
}

func (c *EHRCSVColumn) addScalar(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	num, isNum := "", false
	switch {
	case n.ShortTag() == "!!int":
		num, isNum = v, true
	case strings.HasPrefix(v, "#"):
		num, isNum = strings.TrimSpace(v[1:]), true
	}
	if isNum {
		i, err := strconv.Atoi(num)
		if err != nil || i < 1 {
			return fmt.Errorf("line %d: column number %q must be 1 or more (columns count from 1)", n.Line, n.Value)
		}
		c.Index = i
		return nil
	}
	if v == "" {
		return fmt.Errorf("line %d: empty column name", n.Line)
	}
	c.Names = append(c.Names, v)
	return nil
}

// EHRCSVExtra lists columns copied into attrs.
type EHRCSVExtra []EHRCSVExtraColumn

// EHRCSVExtraColumn is one column copied into attrs under Attr ("" means
// the header name in snake_case, or col_N for a numbered column).
type EHRCSVExtraColumn struct {
	Attr   string
	Column EHRCSVColumn
}

// UnmarshalYAML implements yaml.Unmarshaler: a list of columns, or a map of
// attribute name to column.
func (x *EHRCSVExtra) UnmarshalYAML(n *yaml.Node) error {
	*x = nil
	switch n.Kind {
	case yaml.SequenceNode:
		for _, el := range n.Content {
			var c EHRCSVColumn
			if err := c.UnmarshalYAML(el); err != nil {
				return err
			}
			*x = append(*x, EHRCSVExtraColumn{Column: c})
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			var c EHRCSVColumn
			if err := c.UnmarshalYAML(n.Content[i+1]); err != nil {
				return err
			}
			*x = append(*x, EHRCSVExtraColumn{Attr: n.Content[i].Value, Column: c})
		}
	case yaml.ScalarNode:
		if n.ShortTag() != "!!null" {
			return fmt.Errorf("line %d: extra is a list of columns or a map of attribute name to column", n.Line)
		}
	default:
		return fmt.Errorf("line %d: extra is a list of columns or a map of attribute name to column", n.Line)
	}
	return nil
}

// ehrCSVSchema lists the keys a mapping file may hold, per section, so a
// misspelt key is an error rather than a silently unmapped field.
var ehrCSVSchema = map[string][]string{
	"":            {"name", "description", "delimiter", "header", "skip_rows", "columns", "time", "action", "outcome", "break_glass", "extra"},
	"columns":     {"user_id", "user_name", "user_role", "department", "patient_id", "patient_name", "device", "client_ip", "purpose", "record_id", "resource_type", "resource_id"},
	"time":        {"column", "date_column", "formats", "zone"},
	"action":      {"column", "values", "contains", "default"},
	"outcome":     {"column", "values", "contains", "default"},
	"break_glass": {"column", "true_values", "action_contains"},
}

// EHRCSVMappings lists the built-in mappings' names, sorted.
func EHRCSVMappings() []string {
	entries, err := ehrCSVBuiltins.ReadDir(ehrCSVBuiltinDir)
	if err != nil {
		return nil // unreachable: the directory is embedded
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// LoadEHRCSVMapping reads a mapping: a built-in one by name
// (EHRCSVMappings lists them) or a YAML file by path. "" is the default,
// epic-access-log.
func LoadEHRCSVMapping(nameOrPath string) (EHRCSVMapping, error) {
	if nameOrPath == "" {
		nameOrPath = ehrCSVDefaultMapping
	}
	if !strings.ContainsAny(nameOrPath, `/\`) && !strings.HasSuffix(nameOrPath, ".yaml") && !strings.HasSuffix(nameOrPath, ".yml") {
		data, err := ehrCSVBuiltins.ReadFile(path.Join(ehrCSVBuiltinDir, nameOrPath+".yaml"))
		if err == nil {
			return ParseEHRCSVMapping(nameOrPath, data)
		}
		if _, statErr := os.Stat(nameOrPath); statErr != nil {
			return EHRCSVMapping{}, fmt.Errorf("no ehr-csv mapping %q: the built-in mappings are %s, or give the path of a mapping file", nameOrPath, strings.Join(EHRCSVMappings(), ", "))
		}
	}
	f, err := os.Open(nameOrPath)
	if err != nil {
		return EHRCSVMapping{}, fmt.Errorf("read ehr-csv mapping: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEHRCSVMappingFile+1))
	if err != nil {
		return EHRCSVMapping{}, fmt.Errorf("read ehr-csv mapping %s: %w", nameOrPath, err)
	}
	if len(data) > maxEHRCSVMappingFile {
		return EHRCSVMapping{}, fmt.Errorf("ehr-csv mapping %s is larger than %s: is it the right file?", nameOrPath, byteSize(maxEHRCSVMappingFile))
	}
	return ParseEHRCSVMapping(nameOrPath, data)
}

// ParseEHRCSVMapping reads a mapping from YAML and checks it; source names
// the file in error messages and is the mapping's name when it gives none.
func ParseEHRCSVMapping(source string, data []byte) (EHRCSVMapping, error) {
	var m EHRCSVMapping
	fail := func(err error) (EHRCSVMapping, error) {
		return EHRCSVMapping{}, fmt.Errorf("ehr-csv mapping %s: %w", source, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fail(ehrYAMLError(err))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return fail(errors.New("the file is empty"))
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fail(fmt.Errorf("line %d: a mapping file is a YAML map (name:, columns:, time:, action: …)", root.Line))
	}
	if err := ehrCheckKeys(root, ""); err != nil {
		return fail(err)
	}
	if err := root.Decode(&m); err != nil {
		return fail(ehrYAMLError(err))
	}
	if m.Name == "" {
		m.Name = strings.TrimSuffix(strings.TrimSuffix(path.Base(strings.ReplaceAll(source, `\`, "/")), ".yaml"), ".yml")
	}
	if _, err := compileEHRCSVMapping(m); err != nil {
		return fail(err)
	}
	return m, nil
}

// ehrYAMLError puts a YAML library error on one line, keeping the original
// reachable with errors.As.
func ehrYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
	return &ehrReworded{msg: "invalid YAML: " + msg, err: err}
}

// ehrReworded is an error whose text is rewritten for an operator while
// the original stays reachable.
type ehrReworded struct {
	msg string
	err error
}

func (e *ehrReworded) Error() string { return e.msg }
func (e *ehrReworded) Unwrap() error { return e.err }

// ehrCheckKeys rejects keys the schema does not know, naming the line,
// the section and, where it can, the key that was meant.
func ehrCheckKeys(n *yaml.Node, section string) error {
	known := ehrCSVSchema[section]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !ehrHas(known, k.Value) {
			where := "at the top level"
			if section != "" {
				where = "under " + section + ":"
			}
			hint := ""
			if s := ehrClosestKey(k.Value, known); s != "" {
				hint = fmt.Sprintf("; did you mean %q?", s)
			} else {
				for sec, keys := range ehrCSVSchema {
					if sec != section && ehrHas(keys, k.Value) {
						if sec == "" {
							hint = fmt.Sprintf("; %s belongs at the top level", k.Value)
						} else {
							hint = fmt.Sprintf("; %s belongs under %s:", k.Value, sec)
						}
						break
					}
				}
			}
			return fmt.Errorf("line %d: unknown field %q %s (known: %s)%s", k.Line, k.Value, where, strings.Join(known, ", "), hint)
		}
		if _, sub := ehrCSVSchema[k.Value]; sub && section == "" {
			switch v.Kind {
			case yaml.MappingNode:
				if err := ehrCheckKeys(v, k.Value); err != nil {
					return err
				}
			case yaml.ScalarNode:
				if v.ShortTag() != "!!null" {
					return fmt.Errorf("line %d: %s: is a section (a map of %s), not a single value", k.Line, k.Value, strings.Join(ehrCSVSchema[k.Value], ", "))
				}
			default:
				return fmt.Errorf("line %d: %s: is a section (a map of %s), not a list", k.Line, k.Value, strings.Join(ehrCSVSchema[k.Value], ", "))
			}
		}
	}
	return nil
}

func ehrHas(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ehrClosestKey suggests the known key a misspelt one was meant to be: equal
// but for case and separators, or at most two edits away.
func ehrClosestKey(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if ehrNorm(c) == ehrNorm(k) {
			return c
		}
		if d := ehrEditDistance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func ehrEditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ehrNorm is how header names and mapped values compare: lower case,
// letters and digits only, so "User ID", "USER_ID" and "user-id" match.
func ehrNorm(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf { // ASCII, nearly every header
			switch {
			case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
				b = append(b, c)
			case c >= 'A' && c <= 'Z':
				b = append(b, c+('a'-'A'))
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b = utf8.AppendRune(b, unicode.ToLower(r))
		}
		i += n
	}
	return string(b)
}

// ehrSnake turns a header name into an attribute key: "Metric Name" →
// "metric_name".
func ehrSnake(s string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if sep && b.Len() > 0 {
				b.WriteByte('_')
			}
			sep = false
			b.WriteRune(r)
		} else {
			sep = true
		}
	}
	return truncate(b.String(), 64)
}

// ---- the compiled mapping ----

// ehrField numbers the mapped columns; a resolved header is one index per
// field.
type ehrField int

const (
	ehrFUserID ehrField = iota
	ehrFUserName
	ehrFUserRole
	ehrFDepartment
	ehrFPatientID
	ehrFPatientName
	ehrFDevice
	ehrFClientIP
	ehrFPurpose
	ehrFRecordID
	ehrFResourceType
	ehrFResourceID
	ehrFTime
	ehrFDate
	ehrFAction
	ehrFOutcome
	ehrFBreakGlass
	nEHRFields
)

var ehrFieldNames = [nEHRFields]string{
	"columns.user_id", "columns.user_name", "columns.user_role", "columns.department", "columns.patient_id",
	"columns.patient_name", "columns.device", "columns.client_ip", "columns.purpose", "columns.record_id",
	"columns.resource_type", "columns.resource_id", "time.column", "time.date_column", "action.column",
	"outcome.column", "break_glass.column",
}

// ehrAttrsSet are the attributes the parser sets itself; extra columns may
// not take their names.
var ehrAttrsSet = []string{"source_action", "record_id", "mapping", "time_zone", "source_outcome", "client_ip_raw", "patient_count"}

// ehrCSVCompiled is a checked mapping in the form rows are read with. It is
// not changed after compileEHRCSVMapping, but for last, so parsers share it
// freely.
type ehrCSVCompiled struct {
	// last memoizes the layout of the last header resolved: every framed
	// record carries the header, and resolving it each time would cost
	// more than the row.
	last atomic.Pointer[ehrCSVLayout]
	// norms are the columns' names as headers are compared (ehrNorm).
	norms [nEHRFields][]string

	name     string
	delim    byte // 0: auto, from the header row
	header   bool
	skipRows int
	cols     [nEHRFields]EHRCSVColumn
	required [nEHRFields]bool
	layouts  []ehrTimeLayout
	// defaultFormats: the mapping gave no time.formats, so errors describe
	// the common forms rather than list Go layouts the operator never wrote.
	defaultFormats bool
	zone           *time.Location // nil: the parser's location
	actions        ehrValueMap[event.Action]
	outcomes       ehrValueMap[event.Outcome]
	hasOutcome     bool
	btgTrue        map[string]bool
	btgActions     []string
	extra          EHRCSVExtra
}

// ehrValueMap is a compiled EHRCSVValueMap.
type ehrValueMap[T ~string] struct {
	values   map[string]T // by ehrNorm of the source value
	contains []ehrContains[T]
	def      T
}

type ehrContains[T ~string] struct {
	sub string // lower case
	v   T
}

// lookup maps a value: an exact value first (ignoring case and spacing),
// then the first contains rule that matches, else the default.
func (m *ehrValueMap[T]) lookup(v string) T {
	if t, ok := m.match(v); ok {
		return t
	}
	return m.def
}

func (m *ehrValueMap[T]) match(v string) (T, bool) {
	if t, ok := m.values[ehrNorm(v)]; ok {
		return t, true
	}
	if len(m.contains) > 0 {
		lv := strings.ToLower(v)
		for _, c := range m.contains {
			if strings.Contains(lv, c.sub) {
				return c.v, true
			}
		}
	}
	var zero T
	return zero, false
}

var ehrDelimiters = map[string]byte{"comma": ',', "tab": '\t', "semicolon": ';', "pipe": '|', ",": ',', "\t": '\t', ";": ';', "|": '|'}

// ehrDefaultBreakGlassTrue are the flag values that mean yes when the mapping
// lists none.
var ehrDefaultBreakGlassTrue = []string{"y", "yes", "true", "1", "x", "t"}

// compileEHRCSVMapping checks a mapping and puts it in the form rows are
// read with. Every problem is reported, each on its own, worded for the
// operator who wrote the file.
func compileEHRCSVMapping(m EHRCSVMapping) (*ehrCSVCompiled, error) {
	var errs problemList
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	c := &ehrCSVCompiled{name: m.Name, header: m.Header == nil || *m.Header, skipRows: m.SkipRows}
	if c.name == "" {
		c.name = "custom"
	}
	d := m.Delimiter
	if d != "\t" { // a literal tab ("\t" in YAML) is itself a delimiter
		d = strings.ToLower(strings.TrimSpace(d))
	}
	switch d {
	case "", "auto":
		if !c.header {
			bad("delimiter auto needs a header row to look at; with header: false, set delimiter to comma, tab, semicolon or pipe")
		}
	default:
		if b, ok := ehrDelimiters[d]; ok {
			c.delim = b
		} else {
			bad("delimiter %q is not one of comma, tab, semicolon, pipe, auto", m.Delimiter)
		}
	}
	if m.SkipRows < 0 || m.SkipRows > 1000 {
		bad("skip_rows %d must be between 0 and 1000", m.SkipRows)
	}

	cols := &m.Columns
	for f, col := range [...]EHRCSVColumn{
		ehrFUserID: cols.UserID, ehrFUserName: cols.UserName, ehrFUserRole: cols.UserRole, ehrFDepartment: cols.Department,
		ehrFPatientID: cols.PatientID, ehrFPatientName: cols.PatientName, ehrFDevice: cols.Device, ehrFClientIP: cols.ClientIP,
		ehrFPurpose: cols.Purpose, ehrFRecordID: cols.RecordID, ehrFResourceType: cols.ResourceType, ehrFResourceID: cols.ResourceID,
		ehrFTime: m.Time.Column, ehrFDate: m.Time.DateColumn, ehrFAction: m.Action.Column, ehrFOutcome: m.Outcome.Column,
		ehrFBreakGlass: m.BreakGlass.Column,
	} {
		c.cols[f] = col
		for _, n := range col.Names {
			c.norms[f] = append(c.norms[f], ehrNorm(n))
		}
		if !c.header && len(col.Names) > 0 {
			bad("%s names %s, but the mapping says the file has no header row (header: false); give a column number", ehrFieldNames[f], col)
		}
	}
	// Required: who, when, what. A field named with alternatives must find
	// one of them in the header, or every row would lack it.
	if c.cols[ehrFUserID].IsZero() {
		bad("columns.user_id is missing: every access needs the user who made it")
	}
	if c.cols[ehrFTime].IsZero() {
		if c.cols[ehrFDate].IsZero() {
			bad("time.column is missing: every access needs its time")
		} else {
			bad("time.date_column is set but time.column is not: name the time-of-day column too (or move the column to time.column if it holds date and time)")
		}
	}
	if c.cols[ehrFAction].IsZero() && m.Action.Default == "" {
		bad("action is missing: name the column saying what the user did (action.column) or, for an export of one kind of access, a fixed action (action.default: view)")
	}
	for _, f := range []ehrField{ehrFUserID, ehrFTime, ehrFDate, ehrFAction} {
		c.required[f] = !c.cols[f].IsZero()
	}

	c.defaultFormats = len(m.Time.Formats) == 0
	layouts, err := ehrCompileTimeFormats(m.Time.Formats)
	if err != nil {
		errs = append(errs, err)
	}
	c.layouts = layouts
	if z := strings.TrimSpace(m.Time.Zone); z != "" {
		loc, err := time.LoadLocation(z)
		if err != nil || strings.EqualFold(z, "local") {
			bad("time.zone %q is not an IANA time zone (such as America/Chicago or UTC)", z)
		} else {
			c.zone = loc
		}
	}

	c.actions.def = event.ActionOther
	if m.Action.Default != "" {
		a, err := event.ParseAction(strings.TrimSpace(m.Action.Default))
		if err != nil {
			bad("action.default: %v", err)
		}
		c.actions.def = a
	}
	c.actions.values = map[string]event.Action{}
	for _, k := range ehrSortedKeys(m.Action.Values) {
		a, err := event.ParseAction(strings.TrimSpace(m.Action.Values[k]))
		if err != nil {
			bad("action.values[%q]: %v", k, err)
		}
		c.actions.values[ehrNorm(k)] = a
	}
	for i, r := range m.Action.Contains {
		a, err := event.ParseAction(strings.TrimSpace(r.Value))
		if err != nil {
			bad("action.contains[%d] (match %q): %v", i, r.Match, err)
		}
		if strings.TrimSpace(r.Match) == "" {
			bad("action.contains[%d] has an empty match, which would match every value", i)
		}
		c.actions.contains = append(c.actions.contains, ehrContains[event.Action]{strings.ToLower(strings.TrimSpace(r.Match)), a})
	}

	c.hasOutcome = !m.Outcome.Column.IsZero()
	c.outcomes.def = event.OutcomeUnknown
	parseOutcome := func(what, s string) event.Outcome {
		switch o := event.Outcome(strings.ToLower(strings.TrimSpace(s))); o {
		case event.OutcomeSuccess, event.OutcomeFailure, event.OutcomeUnknown:
			return o
		}
		bad("%s: outcome %q is not one of success, failure, unknown", what, s)
		return event.OutcomeUnknown
	}
	if m.Outcome.Default != "" {
		c.outcomes.def = parseOutcome("outcome.default", m.Outcome.Default)
	}
	c.outcomes.values = map[string]event.Outcome{}
	for _, k := range ehrSortedKeys(m.Outcome.Values) {
		c.outcomes.values[ehrNorm(k)] = parseOutcome(fmt.Sprintf("outcome.values[%q]", k), m.Outcome.Values[k])
	}
	for i, r := range m.Outcome.Contains {
		if strings.TrimSpace(r.Match) == "" {
			bad("outcome.contains[%d] has an empty match, which would match every value", i)
		}
		o := parseOutcome(fmt.Sprintf("outcome.contains[%d]", i), r.Value)
		c.outcomes.contains = append(c.outcomes.contains, ehrContains[event.Outcome]{strings.ToLower(strings.TrimSpace(r.Match)), o})
	}
	if !c.hasOutcome && (len(m.Outcome.Values) > 0 || len(m.Outcome.Contains) > 0) {
		bad("outcome.values or outcome.contains are set but outcome.column is not: name the column they apply to")
	}

	c.btgTrue = map[string]bool{}
	trues := m.BreakGlass.TrueValues
	if len(trues) == 0 {
		trues = ehrDefaultBreakGlassTrue
	}
	for _, v := range trues {
		c.btgTrue[ehrNorm(v)] = true
	}
	for _, s := range m.BreakGlass.ActionContains {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			c.btgActions = append(c.btgActions, s)
		}
	}
	if len(c.btgActions) > 0 && c.cols[ehrFAction].IsZero() {
		bad("break_glass.action_contains needs action.column to look in")
	}

	for i, x := range m.Extra {
		if x.Column.IsZero() {
			bad("extra[%d] names no column", i)
			continue
		}
		if !c.header && len(x.Column.Names) > 0 {
			bad("extra[%d] names %s, but the file has no header row; give a column number", i, x.Column)
		}
		if x.Attr != "" {
			if ehrSnake(x.Attr) != x.Attr {
				bad("extra attribute name %q should be lower case letters, digits and underscores (%q)", x.Attr, ehrSnake(x.Attr))
			}
			if ehrHas(ehrAttrsSet, x.Attr) {
				bad("extra attribute name %q is one phiwatch sets itself; choose another", x.Attr)
			}
		}
	}
	c.extra = m.Extra
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

func ehrSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ---- time formats ----

type ehrTimeKind int

const (
	ehrTimeGo    ehrTimeKind = iota
	ehrTimeExcel             // days since 1899-12-30, as Excel stores dates
	ehrTimeUnix
	ehrTimeUnixMS
)

type ehrTimeLayout struct {
	kind    ehrTimeKind
	layout  string // Go layout, for ehrTimeGo
	source  string // as the mapping wrote it, for messages
	hasZone bool   // the layout reads an offset or zone from the value
}

// ehrDefaultTimeFormats are tried when a mapping gives none: the forms EHR
// report exports and Excel re-saves commonly use, ISO first. US month/day
// order is assumed for slashed dates, as US EHRs write them; a site that
// writes day/month gives its format.
var ehrDefaultTimeFormats = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04",
	"1/2/2006 15:04:05",
	"1/2/2006 15:04",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 3:04 PM",
	"1/2/06 15:04:05",
	"1/2/06 15:04",
	"1/2/06 3:04:05 PM",
	"1/2/06 3:04 PM",
	"2-Jan-2006 15:04:05",
	"2-Jan-2006 15:04",
	"2-Jan-06 15:04:05",
	"2-Jan-06 3:04:05 PM",
	"Jan 2, 2006 3:04:05 PM",
	"Jan 2 2006 15:04:05",
	"20060102150405",
	"excel",
}

// ehrCompileTimeFormats checks each format by writing a known instant with it
// and reading it back: a layout that cannot carry a date is a mistake the
// operator should hear about now, not as one dead letter per row.
func ehrCompileTimeFormats(formats []string) ([]ehrTimeLayout, error) {
	if len(formats) == 0 {
		formats = ehrDefaultTimeFormats
	}
	var errs problemList
	out := make([]ehrTimeLayout, 0, len(formats))
	ref := time.Date(2026, 10, 17, 21, 8, 9, 0, time.UTC)
	for _, f := range formats {
		l := ehrTimeLayout{source: f}
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "excel":
			l.kind = ehrTimeExcel
		case "unix":
			l.kind, l.hasZone = ehrTimeUnix, true
		case "unix_ms":
			l.kind, l.hasZone = ehrTimeUnixMS, true
		default:
			layout := f
			if strings.Contains(f, "%") {
				var err error
				if layout, err = ehrStrftimeLayout(f); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			back, err := time.Parse(layout, ref.Format(layout))
			if err != nil || back.Year() != ref.Year() || back.Month() != ref.Month() || back.Day() != ref.Day() {
				errs = append(errs, fmt.Errorf("time.formats: %q does not hold a full date (year, month and day); Go layouts use 2006-01-02 15:04:05, strftime patterns %%Y-%%m-%%d %%H:%%M:%%S", f))
				continue
			}
			l.layout = layout
			l.hasZone = strings.Contains(layout, "Z07") || strings.Contains(layout, "-07") || strings.Contains(layout, "MST")
		}
		out = append(out, l)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// ehrStrftimeDirectives translate strftime conversions to Go layout elements.
var ehrStrftimeDirectives = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'H': "15", 'I': "03", 'M': "04", 'S': "05",
	'p': "PM", 'b': "Jan", 'h': "Jan", 'B': "January", 'a': "Mon", 'A': "Monday", 'z': "-0700", 'Z': "MST",
	'f': "000000", 'L': "000", 'T': "15:04:05", 'D': "01/02/06", 'F': "2006-01-02", 'R': "15:04", '%': "%",
}

// ehrStrftimeLayout converts a strftime pattern ("%m/%d/%Y %I:%M %p") to a Go
// layout. %-m, %-d, %-I and %-H (no padding, as GNU date writes them) read
// one- or two-digit numbers, which Go's unpadded elements do.
func ehrStrftimeLayout(f string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		i++
		if i >= len(f) {
			return "", fmt.Errorf("time.formats: %q ends with a lone %%", f)
		}
		if f[i] == '-' && i+1 < len(f) {
			i++
			switch f[i] {
			case 'm':
				b.WriteString("1")
			case 'd':
				b.WriteString("2")
			case 'I':
				b.WriteString("3")
			case 'H':
				b.WriteString("15")
			case 'M':
				b.WriteString("4")
			case 'S':
				b.WriteString("5")
			default:
				return "", fmt.Errorf("time.formats: %q uses %%-%c, which phiwatch does not know (it knows %%-m %%-d %%-H %%-I %%-M %%-S)", f, f[i])
			}
			continue
		}
		d, ok := ehrStrftimeDirectives[f[i]]
		if !ok {
			return "", fmt.Errorf("time.formats: %q uses %%%c, which phiwatch does not know (it knows %%Y %%y %%m %%d %%e %%H %%I %%M %%S %%f %%L %%p %%b %%B %%a %%A %%z %%Z %%T %%D %%F %%R)", f, f[i])
		}
		if prev := b.String(); (f[i] == 'f' || f[i] == 'L') && !strings.HasSuffix(prev, ".") && !strings.HasSuffix(prev, ",") {
			return "", fmt.Errorf("time.formats: %q: %%%c must follow a '.' or ','", f, f[i])
		}
		b.WriteString(d)
	}
	return b.String(), nil
}

// parseTime reads v with the first layout that fits. loc is the zone of
// values without an offset; zoned reports whether v carried its own. hint,
// when given, remembers which layout fitted last and is tried first: an
// export writes every time alike, and failed attempts are not free.
func (c *ehrCSVCompiled) parseTime(v string, loc *time.Location, hint *atomic.Int32) (t time.Time, zoned bool, err error) {
	if hint != nil {
		if i := int(hint.Load()); i > 0 && i < len(c.layouts) {
			if t, zoned, ok := c.layouts[i].parse(v, loc); ok {
				return t, zoned, nil
			}
		}
	}
	for i, l := range c.layouts {
		if t, zoned, ok := l.parse(v, loc); ok {
			if hint != nil {
				hint.Store(int32(i))
			}
			return t, zoned, nil
		}
	}
	if c.defaultFormats {
		return time.Time{}, false, errors.New("not a date and time phiwatch recognizes (such as 10/01/2026 09:03:07, 10/1/26 9:03 AM, 2026-10-01T09:03:07Z or an Excel serial); give the export's format in the mapping's time.formats")
	}
	return time.Time{}, false, errors.New("not a time in any of the mapping's time.formats (" + c.formatList() + ")")
}

// parse reads v with this one layout.
func (l ehrTimeLayout) parse(v string, loc *time.Location) (time.Time, bool, bool) {
	switch l.kind {
	case ehrTimeExcel:
		t, ok := ehrExcelSerial(v, loc)
		return t, false, ok
	case ehrTimeUnix, ehrTimeUnixMS:
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil:
			return time.Time{}, false, false
		case l.kind == ehrTimeUnixMS:
			return time.UnixMilli(n), true, true
		case n > -1<<40 && n < 1<<40:
			return time.Unix(n, 0), true, true
		}
		return time.Time{}, false, false
	}
	if l.hasZone {
		t, err := time.Parse(l.layout, v)
		return t, true, err == nil
	}
	t, err := time.ParseInLocation(l.layout, v, loc)
	return t, false, err == nil
}

func (c *ehrCSVCompiled) formatList() string {
	var names []string
	for i, l := range c.layouts {
		if i == 4 {
			names = append(names, fmt.Sprintf("and %d more", len(c.layouts)-i))
			break
		}
		names = append(names, l.source)
	}
	return strings.Join(names, ", ")
}

// ehrExcelSerial reads an Excel serial date ("46296.3798") in loc: whole days
// since 1899-12-30 (Excel's 1900 system, leap-year bug included) and the
// fraction of a day. Values outside 1990-2100 are not taken as dates, so a
// stray number is not mistaken for one.
func ehrExcelSerial(v string, loc *time.Location) (time.Time, bool) {
	if v == "" || !(v[0] >= '0' && v[0] <= '9') {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 32874 || f >= 73051 { // 1990-01-01 .. 2100-01-01
		return time.Time{}, false
	}
	days := int(f)
	ms := int((f-float64(days))*86400000 + 0.5)
	// Wall-clock fields, not an added duration: a serial says what the
	// clock read, and adding hours across a DST change would shift it.
	return time.Date(1899, 12, 30+days, 0, 0, 0, ms*int(time.Millisecond), loc), true
}
