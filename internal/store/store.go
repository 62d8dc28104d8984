// Package store is phiwatch's ClickHouse layer. Two drivers run the same SQL:
// the embedded engine (chDB, in-process, no server) and a ClickHouse server
// or cluster over the native protocol (clickhouse-go).
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Params are ClickHouse query parameters ({name:Type} in SQL), given in the
// text form of their type.
type Params map[string]string

// Store is what the roles need from ClickHouse.
type Store interface {
	// Exec runs one statement that returns no rows.
	Exec(ctx context.Context, sql string, params Params) error
	// Select runs a query and decodes its rows into dest, a pointer to a
	// slice of structs with json tags named like the result columns.
	Select(ctx context.Context, dest any, sql string, params Params) error
	// InsertEvents stores a batch. token makes a retried insert of the same
	// batch a no-op; duplicates across batches collapse by event_id.
	InsertEvents(ctx context.Context, rows []EventRow, token string) error
	// InsertDeadLetters stores rejected records.
	InsertDeadLetters(ctx context.Context, rows []DeadLetterRow, token string) error
	// InsertWorkforce stores a roster import (new versions of people).
	InsertWorkforce(ctx context.Context, rows []WorkforceRow) error
	// InsertAlerts stores detector output (new versions of alerts).
	InsertAlerts(ctx context.Context, rows []AlertRow) error
	// Reference feeds (docs/reference-feeds.md): each call stores one
	// import, new versions of what it holds.
	InsertAccounts(ctx context.Context, rows []AccountRow) error
	InsertPatients(ctx context.Context, rows []PatientRow) error
	InsertPractitioners(ctx context.Context, rows []PractitionerRow) error
	InsertPractitionerRoles(ctx context.Context, rows []PractitionerRoleRow) error
	InsertAppointments(ctx context.Context, rows []AppointmentRow) error
	InsertEncounters(ctx context.Context, rows []EncounterRow) error
	// InsertIdentityLinks stores one build of a tenant's identity links
	// (docs/identity.md).
	InsertIdentityLinks(ctx context.Context, rows []IdentityLinkRow) error
	// Cases and suppressions (docs/cases.md): new versions of each, and
	// the record of which suppression matched which alert.
	InsertCases(ctx context.Context, rows []CaseRow) error
	InsertSuppressions(ctx context.Context, rows []SuppressionRow) error
	InsertAlertSuppressions(ctx context.Context, rows []AlertSuppressionRow) error
	Ping(ctx context.Context) error
	// Database is the ClickHouse database phiwatch's tables live in.
	Database() string
	Close() error
}

// Options configure Open.
type Options struct {
	// DSN is chdb:PATH (embedded) or clickhouse://user:pass@host:9000/db.
	DSN      string
	Database string // default "phiwatch"; a clickhouse:// path overrides it
	ChdbLib  string // explicit libchdb.so path, optional
}

// Open connects to the store the DSN names.
func Open(ctx context.Context, o Options) (Store, error) {
	db := o.Database
	if db == "" {
		db = "phiwatch"
	}
	switch {
	case strings.HasPrefix(o.DSN, "chdb:"):
		path := strings.TrimPrefix(strings.TrimPrefix(o.DSN, "chdb:"), "//")
		if path == "" {
			return nil, errors.New("store DSN chdb: needs a data directory, e.g. chdb:./phiwatch-data")
		}
		return openEmbedded(path, db, o.ChdbLib)
	case strings.HasPrefix(o.DSN, "clickhouse://"):
		u, err := url.Parse(o.DSN)
		if err != nil {
			return nil, fmt.Errorf("store DSN %s: %w", redact(o.DSN), err)
		}
		if p := strings.Trim(u.Path, "/"); p != "" {
			db = p
		}
		return openServer(ctx, o.DSN, db)
	default:
		return nil, fmt.Errorf("store DSN %q: want chdb:PATH for the embedded engine or clickhouse://host:9000/db for a server", redact(o.DSN))
	}
}

// redact hides a password in a DSN for messages and logs.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Redact hides credentials in a DSN.
func Redact(dsn string) string { return redact(dsn) }

// checkIdent validates a database name; names come from config, but SQL is
// built with them, so only plain identifiers are accepted.
func checkIdent(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("database name %q must be 1-64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("database name %q may hold only letters, digits and '_'", name)
		}
	}
	return nil
}
