// Package records keeps a practice's HIPAA compliance records — incidents
// and breaches, patient-rights requests, disclosures, the audit calendar,
// findings, sanctions, risk analysis, policies, training and business
// associates — as append-only versions in one table (docs/records.md).
// Each kind is a Go type validated before it is written; every change is a
// new version with who made it, when and why, and nothing is changed in
// place, so the history is the evidence an auditor asks for.
package records

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Kind names a record type; it is the kind column of the records table.
type Kind string

// Body is a record kind's document.
type Body interface {
	// Kind is the record type, the same for every value of the type.
	Kind() Kind
	// Validate says what is wrong with the record, worded for the person
	// who entered it; nil when it may be stored.
	Validate() error
}

// DB is what the record store needs: a store narrowed to one tenant
// (*store.TenantStore).
type DB interface {
	Select(ctx context.Context, dest any, sql string, params store.Params) error
	Insert(ctx context.Context, table string, rows any) error
	Database() string
	Tenant() string
}

// Retention: HIPAA documentation is kept 6 years (164.316(b)(2)); phiwatch
// keeps every version 7 by default.
const (
	MinRetentionYears     = 6
	DefaultRetentionYears = 7
)

var (
	// ErrNotFound is returned for a record the tenant does not have.
	ErrNotFound = errors.New("no such record")
	// ErrConflict is returned when a change was based on an older version
	// than the current one.
	ErrConflict = errors.New("the record was changed by someone else since it was read")
	// ErrInvalid wraps a validation failure.
	ErrInvalid = errors.New("invalid record")
)

// Change is who changes a record, when and why.
type Change struct {
	Actor  string
	Reason string
	At     time.Time // default now
	// BaseVersion is the version the change was made from: 0 to create,
	// otherwise the current version or ErrConflict.
	BaseVersion uint32
	// RetainYears overrides DefaultRetentionYears (at least 6).
	RetainYears int
}

// Versioned is one version of a record.
type Versioned[T Body] struct {
	ID          string    `json:"record_id"`
	Version     uint32    `json:"version"`
	Actor       string    `json:"actor"`
	Reason      string    `json:"reason"`
	ChangedAt   time.Time `json:"changed_at"`
	RetainUntil Date      `json:"retain_until"`
	Body        T         `json:"body"`
}

// row is a records table row.
type row struct {
	Kind        string    `json:"kind"`
	RecordID    string    `json:"record_id"`
	Version     uint32    `json:"version"`
	Body        string    `json:"body"`
	Actor       string    `json:"actor"`
	Reason      string    `json:"reason"`
	ChangedAt   time.Time `json:"changed_at"`
	RetainUntil string    `json:"retain_until"`
}

func decode[T Body](r row) (Versioned[T], error) {
	v := Versioned[T]{ID: r.RecordID, Version: r.Version, Actor: r.Actor, Reason: r.Reason, ChangedAt: r.ChangedAt.UTC()}
	v.RetainUntil, _ = ParseDate(r.RetainUntil)
	if err := json.Unmarshal([]byte(r.Body), &v.Body); err != nil {
		return v, fmt.Errorf("%s %s version %d: stored body does not decode: %w", r.Kind, r.RecordID, r.Version, err)
	}
	return v, nil
}

func kindOf[T Body]() Kind {
	var zero T
	return zero.Kind()
}

// CheckID says what is wrong with a record id: ids are chosen by people or
// derived from other ids, so they are kept to a URL- and file-safe set.
func CheckID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("record id must be 1 to 128 characters")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return fmt.Errorf("record id %q: use letters, digits and - _ . : only", id)
		}
	}
	return nil
}

// latestOnly keeps the current version of each record, as the
// records_current view does; the filter stays on the table so the primary
// key narrows the read to the tenant and kind.
const latestOnly = " ORDER BY record_id, version DESC, changed_at DESC LIMIT 1 BY record_id"

const selectCols = "kind, record_id, version, body, actor, reason, changed_at, toString(retain_until) AS retain_until"

// Get is the current version of record id of kind T.
func Get[T Body](ctx context.Context, db DB, id string) (Versioned[T], error) {
	r, found, err := currentRow(ctx, db, kindOf[T](), id)
	if err != nil {
		return Versioned[T]{}, err
	}
	if !found {
		return Versioned[T]{}, ErrNotFound
	}
	return decode[T](r)
}

// List is the current version of every record of kind T, by id.
func List[T Body](ctx context.Context, db DB) ([]Versioned[T], error) {
	var rows []row
	err := db.Select(ctx, &rows, "SELECT "+selectCols+" FROM "+db.Database()+".records FINAL"+
		" WHERE tenant_id = {tenant:String} AND kind = {kind:String}"+latestOnly,
		store.Params{"kind": string(kindOf[T]())})
	if err != nil {
		return nil, fmt.Errorf("list %s records: %w", kindOf[T](), err)
	}
	out := make([]Versioned[T], 0, len(rows))
	for _, r := range rows {
		v, err := decode[T](r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// History is every version of record id of kind T, oldest first.
func History[T Body](ctx context.Context, db DB, id string) ([]Versioned[T], error) {
	var rows []row
	err := db.Select(ctx, &rows, "SELECT "+selectCols+" FROM "+db.Database()+".records FINAL"+
		" WHERE tenant_id = {tenant:String} AND kind = {kind:String} AND record_id = {id:String} ORDER BY version, changed_at",
		store.Params{"kind": string(kindOf[T]()), "id": id})
	if err != nil {
		return nil, fmt.Errorf("read the history of %s %s: %w", kindOf[T](), id, err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	out := make([]Versioned[T], 0, len(rows))
	for _, r := range rows {
		v, err := decode[T](r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Versions is every version of every record of kind T changed in [from,
// to), by record and version: the audit trail of a period.
func Versions[T Body](ctx context.Context, db DB, from, to time.Time) ([]Versioned[T], error) {
	var rows []row
	err := db.Select(ctx, &rows, "SELECT "+selectCols+" FROM "+db.Database()+".records FINAL"+
		" WHERE tenant_id = {tenant:String} AND kind = {kind:String} AND changed_at >= {from:DateTime64(3)} AND changed_at < {to:DateTime64(3)}"+
		" ORDER BY record_id, version, changed_at",
		store.Params{"kind": string(kindOf[T]()), "from": chTime(from), "to": chTime(to)})
	if err != nil {
		return nil, fmt.Errorf("read the %s versions of the period: %w", kindOf[T](), err)
	}
	out := make([]Versioned[T], 0, len(rows))
	for _, r := range rows {
		v, err := decode[T](r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Put validates body and writes it as the next version of record id. A
// create (BaseVersion 0) fails with ErrConflict when the id exists; an
// update must name the current version. The check narrows, but does not
// close, the window for two writers: if both pass, both versions are kept
// (see the migration) and the later one is current.
func Put[T Body](ctx context.Context, db DB, id string, body T, ch Change) (Versioned[T], error) {
	kind := kindOf[T]()
	if err := CheckID(id); err != nil {
		return Versioned[T]{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := body.Validate(); err != nil {
		return Versioned[T]{}, fmt.Errorf("%w: %s %s: %w", ErrInvalid, kind, id, err)
	}
	if strings.TrimSpace(ch.Actor) == "" {
		return Versioned[T]{}, fmt.Errorf("%w: every change needs the actor who made it", ErrInvalid)
	}
	if strings.TrimSpace(ch.Reason) == "" {
		return Versioned[T]{}, fmt.Errorf("%w: every change needs a reason", ErrInvalid)
	}
	years := ch.RetainYears
	if years == 0 {
		years = DefaultRetentionYears
	}
	if years < MinRetentionYears {
		return Versioned[T]{}, fmt.Errorf("%w: retention of %d years is shorter than HIPAA's 6 (164.316(b)(2))", ErrInvalid, years)
	}
	cur, found, err := currentRow(ctx, db, kind, id)
	switch {
	case err != nil:
		return Versioned[T]{}, err
	case !found && ch.BaseVersion != 0:
		return Versioned[T]{}, ErrNotFound
	case found && cur.Version != ch.BaseVersion:
		return Versioned[T]{}, fmt.Errorf("%w: %s %s is at version %d, the change was made from version %d",
			ErrConflict, kind, id, cur.Version, ch.BaseVersion)
	}
	at := ch.At
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC().Truncate(time.Millisecond)
	b, err := json.Marshal(body)
	if err != nil {
		return Versioned[T]{}, fmt.Errorf("encode %s %s: %w", kind, id, err)
	}
	v := Versioned[T]{ID: id, Version: cur.Version + 1, Actor: ch.Actor, Reason: ch.Reason, ChangedAt: at,
		RetainUntil: DateOf(at.AddDate(years, 0, 0)), Body: body}
	r := row{Kind: string(kind), RecordID: id, Version: v.Version, Body: string(b), Actor: v.Actor, Reason: v.Reason,
		ChangedAt: at, RetainUntil: v.RetainUntil.String()}
	rows := []row{r}
	// The superseded version was in effect until now: it is kept as long
	// from now as a new one (see restamp).
	if found {
		if old, ok := restamp(cur, v.RetainUntil); ok {
			rows = append(rows, old)
		}
	}
	if err := db.Insert(ctx, "records", rows); err != nil {
		return Versioned[T]{}, fmt.Errorf("store %s %s version %d: %w", kind, id, v.Version, err)
	}
	return v, nil
}

// currentRow is the current version of a record as stored.
func currentRow(ctx context.Context, db DB, kind Kind, id string) (row, bool, error) {
	var rows []row
	err := db.Select(ctx, &rows, "SELECT "+selectCols+" FROM "+db.Database()+".records FINAL"+
		" WHERE tenant_id = {tenant:String} AND kind = {kind:String} AND record_id = {id:String}"+latestOnly,
		store.Params{"kind": string(kind), "id": id})
	if err != nil {
		return row{}, false, fmt.Errorf("read %s %s: %w", kind, id, err)
	}
	if len(rows) == 0 {
		return row{}, false, nil
	}
	return rows[0], true, nil
}

// restamp is r again with its retention extended to until, or false when
// it already lasts that long. HIPAA counts the six years from a document's
// last effective date, and a version is in effect until the next one: its
// retain_until, set when it was written, may fall short. The copy has the
// same sorting key as the original, so ReplacingMergeTree keeps one of them
// — the later insert, with the longer retention — and reads with FINAL
// never see two; body, actor, reason and time are unchanged.
func restamp(r row, until Date) (row, bool) {
	cur, err := ParseDate(r.RetainUntil)
	if err == nil && !cur.Before(until) {
		return r, false
	}
	r.RetainUntil = until.String()
	r.ChangedAt = r.ChangedAt.UTC()
	return r, true
}

// RefreshRetention extends the retention of every current version that
// has been in effect for more than a year, to DefaultRetentionYears from
// now: a record unchanged for years (a BAA in force, a course) is still in
// effect and must outlive its original retain_until. Run it regularly
// (e.g. monthly); it returns how many versions it extended.
func RefreshRetention(ctx context.Context, db DB, now time.Time) (int, error) {
	var rows []row
	err := db.Select(ctx, &rows, "SELECT "+selectCols+" FROM "+db.Database()+".records FINAL"+
		" WHERE tenant_id = {tenant:String}"+
		" ORDER BY kind, record_id, version DESC, changed_at DESC LIMIT 1 BY kind, record_id", nil)
	if err != nil {
		return 0, fmt.Errorf("read the current records: %w", err)
	}
	until := DateOf(now.AddDate(DefaultRetentionYears, 0, 0))
	threshold := DateOf(now.AddDate(DefaultRetentionYears-1, 0, 0))
	var out []row
	for _, r := range rows {
		if cur, err := ParseDate(r.RetainUntil); err == nil && !cur.Before(threshold) {
			continue
		}
		if x, ok := restamp(r, until); ok {
			out = append(out, x)
		}
	}
	for start := 0; start < len(out); start += 1000 {
		if err := db.Insert(ctx, "records", out[start:min(start+1000, len(out))]); err != nil {
			return start, fmt.Errorf("extend the retention of current records: %w", err)
		}
	}
	return len(out), nil
}

// NewID is an id for a new record: a prefix, the UTC time and four random
// hex digits, so ids sort by creation and read well in a binder.
func NewID(prefix string, at time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + at.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}
