package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/phiwatch/phiwatch/internal/chdb"
)

// embedded runs the ClickHouse engine in-process through libchdb.
type embedded struct {
	conn *chdb.Conn
	db   string
}

func openEmbedded(path, db, lib string) (*embedded, error) {
	if err := checkIdent(db); err != nil {
		return nil, err
	}
	c, err := chdb.Open(lib, path)
	if err != nil {
		return nil, fmt.Errorf("open embedded ClickHouse engine: %w", err)
	}
	// Output formats both drivers agree on: ISO times and numbers as numbers,
	// so Select decodes the same JSON whichever driver produced it.
	if _, err := c.Query("SET date_time_output_format='iso'; SET output_format_json_quote_64bit_integers=0; SET output_format_json_quote_decimals=0", "JSONEachRow"); err != nil {
		c.Close()
		return nil, fmt.Errorf("configure embedded ClickHouse engine: %w", err)
	}
	return &embedded{conn: c, db: db}, nil
}

func (s *embedded) Database() string { return s.db }

// withParams prefixes SET statements for every parameter. chDB settings are
// session-wide and the connection serialises queries, so every call sets all
// the parameters it uses.
func withParams(sql string, params Params) string {
	if len(params) == 0 {
		return sql
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	stringParams := map[string]bool{}
	for _, m := range paramDecl.FindAllStringSubmatch(sql, -1) {
		t := strings.TrimSpace(m[2])
		if t == "String" || t == "Nullable(String)" || t == "LowCardinality(String)" {
			stringParams[m[1]] = true
		}
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteString("SET param_")
		b.WriteString(k)
		b.WriteString(" = ")
		v := params[k]
		if stringParams[k] {
			v = escapeParam(v)
		}
		b.WriteString(quoteString(v))
		b.WriteString("; ")
	}
	b.WriteString(sql)
	return b.String()
}

// paramDecl finds {name:Type} parameter uses.
var paramDecl = regexp.MustCompile(`\{(\w+):([^{}]+)\}`)

// escapeParam writes a String parameter in the escaped text form ClickHouse
// reads parameter values in: a raw line break or tab would end the value
// early and a backslash would start an escape.
func escapeParam(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
}

// quoteString makes a ClickHouse string literal.
func quoteString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`)
	return "'" + r.Replace(s) + "'"
}

func (s *embedded) Exec(ctx context.Context, sql string, params Params) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.conn.Query(withParams(sql, params), "JSONEachRow")
	return err
}

func (s *embedded) Select(ctx context.Context, dest any, sql string, params Params) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	out, err := s.conn.Query(withParams(sql, params), "JSONEachRow")
	if err != nil {
		return err
	}
	return decodeJSONEachRow(out, dest)
}

// decodeJSONEachRow appends one element to *dest for each line.
func decodeJSONEachRow(data []byte, dest any) error {
	v := reflect.ValueOf(dest)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("select destination must be a pointer to a slice, got %T", dest)
	}
	sl := v.Elem()
	sl.SetLen(0)
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		elem := reflect.New(sl.Type().Elem())
		if err := json.Unmarshal(line, elem.Interface()); err != nil {
			return fmt.Errorf("decode result row: %w", err)
		}
		sl.Set(reflect.Append(sl, elem.Elem()))
	}
	return nil
}

func (s *embedded) InsertEvents(ctx context.Context, rows []EventRow, token string) error {
	return insertRows(ctx, s, "access_events", rows, token)
}

func (s *embedded) InsertDeadLetters(ctx context.Context, rows []DeadLetterRow, token string) error {
	return insertRows(ctx, s, "dead_letters", rows, token)
}

func (s *embedded) InsertWorkforce(ctx context.Context, rows []WorkforceRow) error {
	return insertRows(ctx, s, "workforce", rows, "")
}

func (s *embedded) InsertAlerts(ctx context.Context, rows []AlertRow) error {
	return insertRows(ctx, s, "alerts", rows, "")
}

func (s *embedded) InsertAccounts(ctx context.Context, rows []AccountRow) error {
	return insertRows(ctx, s, "accounts", rows, "")
}

func (s *embedded) InsertPatients(ctx context.Context, rows []PatientRow) error {
	return insertRows(ctx, s, "patients", rows, "")
}

func (s *embedded) InsertPractitioners(ctx context.Context, rows []PractitionerRow) error {
	return insertRows(ctx, s, "practitioners", rows, "")
}

func (s *embedded) InsertPractitionerRoles(ctx context.Context, rows []PractitionerRoleRow) error {
	return insertRows(ctx, s, "practitioner_roles", rows, "")
}

func (s *embedded) InsertAppointments(ctx context.Context, rows []AppointmentRow) error {
	return insertRows(ctx, s, "appointments", rows, "")
}

func (s *embedded) InsertEncounters(ctx context.Context, rows []EncounterRow) error {
	return insertRows(ctx, s, "encounters", rows, "")
}

func (s *embedded) InsertIdentityLinks(ctx context.Context, rows []IdentityLinkRow) error {
	return insertRows(ctx, s, "identity_links", rows, "")
}

func (s *embedded) InsertCases(ctx context.Context, rows []CaseRow) error {
	return insertRows(ctx, s, "cases", rows, "")
}

func (s *embedded) InsertSuppressions(ctx context.Context, rows []SuppressionRow) error {
	return insertRows(ctx, s, "suppressions", rows, "")
}

func (s *embedded) InsertAlertSuppressions(ctx context.Context, rows []AlertSuppressionRow) error {
	return insertRows(ctx, s, "alert_suppressions", rows, "")
}

// binaryRow is a row that encodes itself in RowBinary.
type binaryRow interface{ appendRowBinary([]byte) []byte }

func insertRows[T any, P interface {
	*T
	binaryRow
}](ctx context.Context, s *embedded, table string, rows []T, token string) error {
	if len(rows) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var zero T
	q := fmt.Sprintf("INSERT INTO %s.%s (%s)", s.db, table, columnList(zero))
	if token != "" {
		q += " SETTINGS insert_deduplication_token = " + quoteString(token)
	}
	b := make([]byte, 0, 256*len(rows))
	for i := range rows {
		b = P(&rows[i]).appendRowBinary(b)
	}
	if err := s.conn.Insert(q, "RowBinary", b); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", len(rows), table, err)
	}
	return nil
}

func (s *embedded) Ping(ctx context.Context) error {
	return s.Exec(ctx, "SELECT 1", nil)
}

func (s *embedded) Close() error { return s.conn.Close() }
