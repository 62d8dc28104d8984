package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// server talks to a ClickHouse server or cluster over the native protocol.
type server struct {
	conn driver.Conn
	db   string
}

func openServer(ctx context.Context, dsn, db string) (*server, error) {
	if err := checkIdent(db); err != nil {
		return nil, err
	}
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("store DSN %s: %w", redact(dsn), err)
	}
	// Connect to "default": phiwatch's database may not exist before migrate,
	// and every statement names it explicitly anyway.
	opts.Auth.Database = "default"
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to ClickHouse %s: %w", redact(dsn), err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to ClickHouse %s: %w", redact(dsn), err)
	}
	return &server{conn: conn, db: db}, nil
}

func (s *server) Database() string { return s.db }

func withParamsCtx(ctx context.Context, params Params) context.Context {
	if len(params) == 0 {
		return ctx
	}
	return clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(params)))
}

func (s *server) Exec(ctx context.Context, sql string, params Params) error {
	return s.conn.Exec(withParamsCtx(ctx, params), sql)
}

// Select scans generically and goes through JSON so that result structs
// decode the same way on both drivers.
func (s *server) Select(ctx context.Context, dest any, sql string, params Params) error {
	rows, err := s.conn.Query(withParamsCtx(ctx, params), sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols := rows.Columns()
	types := rows.ColumnTypes()
	var buf []byte
	for rows.Next() {
		vals := make([]any, len(types))
		for i, t := range types {
			vals[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			return fmt.Errorf("scan result row: %w", err)
		}
		m := make(map[string]any, len(cols))
		for i, c := range cols {
			m[c] = vals[i]
		}
		line, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode result row: %w", err)
		}
		buf = append(append(buf, line...), '\n')
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return decodeJSONEachRow(buf, dest)
}

func (s *server) InsertEvents(ctx context.Context, rows []EventRow, token string) error {
	return insertBatch(ctx, s, "access_events", rows, token)
}

func (s *server) InsertDeadLetters(ctx context.Context, rows []DeadLetterRow, token string) error {
	return insertBatch(ctx, s, "dead_letters", rows, token)
}

func (s *server) InsertWorkforce(ctx context.Context, rows []WorkforceRow) error {
	return insertBatch(ctx, s, "workforce", rows, "")
}

func (s *server) InsertAlerts(ctx context.Context, rows []AlertRow) error {
	return insertBatch(ctx, s, "alerts", rows, "")
}

func (s *server) InsertAccounts(ctx context.Context, rows []AccountRow) error {
	return insertBatch(ctx, s, "accounts", rows, "")
}

func (s *server) InsertPatients(ctx context.Context, rows []PatientRow) error {
	return insertBatch(ctx, s, "patients", rows, "")
}

func (s *server) InsertPractitioners(ctx context.Context, rows []PractitionerRow) error {
	return insertBatch(ctx, s, "practitioners", rows, "")
}

func (s *server) InsertPractitionerRoles(ctx context.Context, rows []PractitionerRoleRow) error {
	return insertBatch(ctx, s, "practitioner_roles", rows, "")
}

func (s *server) InsertAppointments(ctx context.Context, rows []AppointmentRow) error {
	return insertBatch(ctx, s, "appointments", rows, "")
}

func (s *server) InsertEncounters(ctx context.Context, rows []EncounterRow) error {
	return insertBatch(ctx, s, "encounters", rows, "")
}

func (s *server) InsertIdentityLinks(ctx context.Context, rows []IdentityLinkRow) error {
	return insertBatch(ctx, s, "identity_links", rows, "")
}

func (s *server) InsertCases(ctx context.Context, rows []CaseRow) error {
	return insertBatch(ctx, s, "cases", rows, "")
}

func (s *server) InsertSuppressions(ctx context.Context, rows []SuppressionRow) error {
	return insertBatch(ctx, s, "suppressions", rows, "")
}

func (s *server) InsertAlertSuppressions(ctx context.Context, rows []AlertSuppressionRow) error {
	return insertBatch(ctx, s, "alert_suppressions", rows, "")
}

// insertBatch sends one native batch. The caller bounds its size (the loader
// caps rows and bytes): clickhouse-go builds the whole block in memory. The
// connection goes back to the pool while the block is built.
func insertBatch[T any](ctx context.Context, s *server, table string, rows []T, token string) error {
	if len(rows) == 0 {
		return nil
	}
	if token != "" {
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_deduplication_token": token}))
	}
	var zero T
	b, err := s.conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.%s (%s)", s.db, table, columnList(zero)), driver.WithReleaseConnection())
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	for i := range rows {
		if err := b.AppendStruct(&rows[i]); err != nil {
			_ = b.Abort()
			return fmt.Errorf("append row to %s batch: %w", table, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", len(rows), table, err)
	}
	return nil
}

func (s *server) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

func (s *server) Close() error { return s.conn.Close() }
