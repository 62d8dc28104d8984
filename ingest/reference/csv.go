package reference

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Column documents one column of a CSV feed. Header names are matched
// ignoring case and surrounding space; Aliases are other names the same
// column is exported under by common systems.
type Column struct {
	Name     string
	Aliases  []string
	Required bool
	Meaning  string
}

// csvFeed reads a CSV feed with a header row. It accepts what spreadsheet
// programs and exports actually produce: a UTF-8 byte order mark, CRLF line
// ends, columns in any order, short lines (missing trailing cells read as
// empty) and rows that are entirely blank (skipped).
type csvFeed struct {
	feed string // "roster", "account inventory": names the file in errors
	cr   *csv.Reader
	col  map[string]int // canonical column name → index
}

func openCSV(r io.Reader, feed string, cols []Column) (*csvFeed, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: the file is empty; the first line must be the header (columns: %s)", feed, columnNames(cols))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: read header: %w", feed, err)
	}
	byName := map[string]string{}
	for _, c := range cols {
		byName[c.Name] = c.Name
		for _, a := range c.Aliases {
			byName[a] = c.Name
		}
	}
	f := &csvFeed{feed: feed, cr: cr, col: map[string]int{}}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if h == "" && i == len(header)-1 && i > 0 {
			continue // a trailing comma on the header line
		}
		name, ok := byName[h]
		if !ok {
			return nil, fmt.Errorf("%s: unknown column %q (known: %s)", feed, h, columnNames(cols))
		}
		if prev, dup := f.col[name]; dup {
			return nil, fmt.Errorf("%s: column %q appears twice in the header (columns %d and %d)", feed, name, prev+1, i+1)
		}
		f.col[name] = i
	}
	for _, c := range cols {
		if _, ok := f.col[c.Name]; c.Required && !ok {
			return nil, fmt.Errorf("%s: the header has no %s column", feed, c.Name)
		}
	}
	return f, nil
}

// has reports whether the header named the column.
func (f *csvFeed) has(name string) bool { _, ok := f.col[name]; return ok }

// csvRow is one data line.
type csvRow struct {
	f      *csvFeed
	fields []string
	line   int
}

// next returns the next non-blank row, io.EOF at the end, or a malformed
// line's error with its line number (reading may go on after it).
func (f *csvFeed) next() (csvRow, error) {
	for {
		rec, err := f.cr.Read()
		if errors.Is(err, io.EOF) {
			return csvRow{}, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return csvRow{line: pe.StartLine}, fmt.Errorf("line %d: %w", pe.StartLine, pe.Err)
			}
			return csvRow{}, fmt.Errorf("%s: %w", f.feed, err)
		}
		line, _ := f.cr.FieldPos(0)
		blank := true
		for _, v := range rec {
			if strings.TrimSpace(v) != "" {
				blank = false
				break
			}
		}
		if !blank {
			return csvRow{f: f, fields: rec, line: line}, nil
		}
	}
}

func (r csvRow) get(name string) string {
	if i, ok := r.f.col[name]; ok && i < len(r.fields) {
		return strings.TrimSpace(r.fields[i])
	}
	return ""
}

// list splits a ';'-separated cell, dropping empty items.
func (r csvRow) list(name string) []string {
	var out []string
	for _, v := range strings.Split(r.get(name), ";") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// date reads an optional YYYY-MM-DD cell.
func (r csvRow) date(name string) (*time.Time, error) {
	v := r.get(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not YYYY-MM-DD", name, v)
	}
	return &t, nil
}

// timestamp reads an optional time cell: RFC 3339, or a date or
// "YYYY-MM-DD HH:MM[:SS]", both taken as UTC (inventory exports rarely say).
func (r csvRow) timestamp(name string) (*time.Time, error) {
	v := r.get(name)
	switch strings.ToLower(v) {
	case "", "never", "n/a", "-":
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly, time.DateTime, "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, v); err == nil {
			t = t.UTC().Truncate(time.Millisecond)
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%s %q is not a time (want RFC 3339, e.g. 2026-10-01T14:03:00Z, or YYYY-MM-DD)", name, v)
}

// boolean reads a yes/no cell; def is the value of an empty cell.
func (r csvRow) boolean(name string, def bool) (bool, error) {
	v := strings.ToLower(r.get(name))
	switch v {
	case "":
		return def, nil
	case "true", "yes", "y", "1", "enabled", "active":
		return true, nil
	case "false", "no", "n", "0", "disabled", "inactive":
		return false, nil
	}
	return false, fmt.Errorf("%s %q is not a yes/no value (true/false, yes/no, 1/0)", name, r.get(name))
}

func columnNames(cols []Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// checkEmail is a sanity check, not RFC 5322: it catches the swapped
// column, not the unusual address.
func checkEmail(name, v string) error {
	if v == "" {
		return nil
	}
	local, domain, ok := strings.Cut(v, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(v, " ,;") || strings.Contains(domain, "@") {
		return fmt.Errorf("%s %q is not an email address", name, v)
	}
	return nil
}
