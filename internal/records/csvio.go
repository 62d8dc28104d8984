package records

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/evidence"
)

// csvMeta are the version columns before a kind's own.
var csvMeta = []string{"record_id", "version", "changed_at", "actor", "reason"}

type csvField struct {
	name  string
	index int
	typ   reflect.Type
}

// bodyFields are T's JSON fields in declaration order: a kind's CSV columns.
func bodyFields[T Body]() []csvField {
	t := reflect.TypeFor[T]()
	var out []csvField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, csvField{name: name, index: i, typ: f.Type})
	}
	return out
}

// CSVHeader is the columns of a kind's CSV export.
func CSVHeader[T Body]() []string {
	h := append([]string{}, csvMeta...)
	for _, f := range bodyFields[T]() {
		h = append(h, f.name)
	}
	return h
}

// WriteCSV writes records as CSV: the version columns, then one column
// per field of the kind. Text fields are written as they are; dates as
// YYYY-MM-DD; lists, maps and nested objects as JSON, so ReadCSV reads the
// file back into the same records. A cell a spreadsheet would take for a
// formula gets a leading quote (evidence.SafeCell), which ReadCSV removes.
func WriteCSV[T Body](w io.Writer, recs []Versioned[T]) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader[T]()); err != nil {
		return err
	}
	fields := bodyFields[T]()
	for _, r := range recs {
		line := []string{r.ID, strconv.FormatUint(uint64(r.Version), 10), r.ChangedAt.UTC().Format(time.RFC3339Nano), r.Actor, r.Reason}
		v := reflect.ValueOf(r.Body)
		for _, f := range fields {
			cell, err := csvCell(v.Field(f.index))
			if err != nil {
				return fmt.Errorf("%s %s, %s: %w", kindOf[T](), r.ID, f.name, err)
			}
			line = append(line, cell)
		}
		for i := range line {
			line[i] = evidence.SafeCell(line[i])
		}
		if err := cw.Write(line); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvCell(v reflect.Value) (string, error) {
	if v.Kind() == reflect.String {
		return v.String(), nil
	}
	if v.IsZero() {
		return "", nil
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return "", err
	}
	var s string
	if len(b) > 0 && b[0] == '"' && json.Unmarshal(b, &s) == nil {
		return s, nil // a date or other text-like value: unquoted
	}
	return string(b), nil
}

// CSVRecord is a record read from CSV: the body, and the id and version it
// was exported with (0 when the file has no version column).
type CSVRecord[T Body] struct {
	ID      string
	Version uint32
	Body    T
}

// ReadCSV reads a kind's CSV (columns in any order; only record_id and the
// fields it sets are needed) and validates each record. Every bad line is
// reported with its number.
func ReadCSV[T Body](r io.Reader) ([]CSVRecord[T], error) {
	cr := csv.NewReader(r)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: %s CSV: read the header: %w", ErrInvalid, kindOf[T](), err)
	}
	byName := map[string]csvField{}
	for _, f := range bodyFields[T]() {
		byName[f.name] = f
	}
	idCol, verCol := -1, -1
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		head[i] = h
		switch h {
		case "record_id":
			idCol = i
		case "version":
			verCol = i
		}
	}
	if idCol < 0 {
		return nil, fmt.Errorf("%w: %s CSV: the header has no record_id column", ErrInvalid, kindOf[T]())
	}
	var out []CSVRecord[T]
	var errs []error
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s CSV: %w", ErrInvalid, kindOf[T](), err)
		}
		var x CSVRecord[T]
		x.ID = unsafeCell(strings.TrimSpace(rec[idCol]))
		if verCol >= 0 && rec[verCol] != "" {
			n, err := strconv.ParseUint(rec[verCol], 10, 32)
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d: version %q is not a number", line, rec[verCol]))
				continue
			}
			x.Version = uint32(n)
		}
		v := reflect.ValueOf(&x.Body).Elem()
		var lineErr error
		for i, h := range head {
			f, ok := byName[h]
			if !ok || rec[i] == "" {
				continue
			}
			if err := setCell(v.Field(f.index), unsafeCell(rec[i])); err != nil {
				lineErr = fmt.Errorf("line %d, %s: %w", line, h, err)
				break
			}
		}
		if lineErr == nil {
			if err := CheckID(x.ID); err != nil {
				lineErr = fmt.Errorf("line %d: %w", line, err)
			} else if err := x.Body.Validate(); err != nil {
				lineErr = fmt.Errorf("line %d: %w", line, err)
			}
		}
		if lineErr != nil {
			errs = append(errs, lineErr)
			continue
		}
		out = append(out, x)
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%w: %s CSV: %w", ErrInvalid, kindOf[T](), errors.Join(errs...))
	}
	return out, nil
}

// unsafeCell undoes evidence.SafeCell.
func unsafeCell(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(s[1])) {
		return s[1:]
	}
	return s
}

func setCell(v reflect.Value, cell string) error {
	if v.Kind() == reflect.String {
		v.SetString(cell)
		return nil
	}
	p := reflect.New(v.Type())
	if err := json.Unmarshal([]byte(cell), p.Interface()); err != nil {
		quoted, _ := json.Marshal(cell)
		if err2 := json.Unmarshal(quoted, p.Interface()); err2 != nil {
			return fmt.Errorf("%q: %w", cell, err)
		}
	}
	v.Set(p.Elem())
	return nil
}
