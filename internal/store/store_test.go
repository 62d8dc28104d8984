package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/chdb"
	"github.com/phiwatch/phiwatch/internal/deadletter"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

// chDB allows one data directory per process, so the package's tests share
// one embedded store, each in a database of its own.
var embeddedDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "phiwatch-store-test")
	if err != nil {
		panic(err)
	}
	embeddedDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func openTestEmbedded(t *testing.T, db string) Store {
	t.Helper()
	testenv.RequireChdb(t)
	s, err := openEmbeddedShared(db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var sharedConn *chdb.Conn

func openEmbeddedShared(db string) (Store, error) {
	if sharedConn == nil {
		s, err := openEmbedded(embeddedDir, db, "")
		if err != nil {
			return nil, err
		}
		sharedConn = s.conn
		return s, nil
	}
	return &embedded{conn: sharedConn, db: db}, nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testEvent(i int) event.Event {
	e := event.Event{
		TenantID: "clinic-a", SourceKind: event.KindEHR, SourceSystem: "test",
		Time:       time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute),
		ReceivedAt: time.Date(2026, 10, 1, 9, 0, 1, 0, time.UTC),
		Actor:      event.Actor{ID: fmt.Sprintf("u%d", i%7), Name: "Dana Ortiz", Role: "front_desk"},
		Action:     event.ActionView, Outcome: event.OutcomeSuccess, PatientID: fmt.Sprintf("p%d", i%50),
		ClientIP: "10.0.0.5", Attrs: map[string]string{"k": "v"}, Raw: fmt.Sprintf("raw %d 'quoted' \\ back", i),
		Email: &event.Email{RecipientDomains: []string{"example.org"}, External: true, AttachmentCount: 2},
	}
	e.EventID = event.ID(e.TenantID, e.SourceSystem, e.Raw)
	return e
}

func rows(n, from int) []EventRow {
	out := make([]EventRow, n)
	for i := range out {
		e := testEvent(from + i)
		out[i] = NewEventRow(&e, 0)
	}
	return out
}

type countRow struct {
	Rows     uint64 `json:"rows"`
	Distinct uint64 `json:"distinct_ids"`
}

func counts(t *testing.T, s Store, from string) countRow {
	t.Helper()
	var c []countRow
	if err := s.Select(context.Background(), &c, "SELECT count() AS rows, uniqExact(event_id) AS distinct_ids FROM "+s.Database()+"."+from, nil); err != nil {
		t.Fatal(err)
	}
	return c[0]
}

// The suite runs on both drivers: each case gets a store on a database of
// its own.
type openFunc func(t *testing.T, db string) Store

var suite = []struct {
	name string
	run  func(t *testing.T, open openFunc)
}{
	{"MigrateIsIdempotent", testMigrateIsIdempotent},
	{"EveryTableLeadsWithTenant", testEveryTableLeadsWithTenant},
	{"RedeliveredEventsAreReadOnce", testRedeliveredEventsAreReadOnce},
	{"DeadLetters", testDeadLetters},
}

func TestEmbedded(t *testing.T) {
	for _, c := range suite {
		t.Run(c.name, func(t *testing.T) { c.run(t, openTestEmbedded) })
	}
}

func testMigrateIsIdempotent(t *testing.T, open openFunc) {
	s := open(t, "t_migrate")
	ctx := context.Background()
	first, err := Migrate(ctx, s, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := Migrations()
	if len(first.Applied) != len(ms) || first.Already != 0 {
		t.Fatalf("first migrate: applied %v, already %d; want all %d", first.Applied, first.Already, len(ms))
	}
	second, err := Migrate(ctx, s, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Applied) != 0 || second.Already != len(ms) {
		t.Fatalf("second migrate: applied %v, already %d; want a no-op", second.Applied, second.Already)
	}
	var recorded []struct {
		N uint64 `json:"n"`
	}
	if err := s.Select(ctx, &recorded, "SELECT count() AS n FROM "+s.Database()+".schema_migrations", nil); err != nil {
		t.Fatal(err)
	}
	if recorded[0].N != uint64(len(ms)) {
		t.Fatalf("schema_migrations holds %d rows, want %d", recorded[0].N, len(ms))
	}
}

func testEveryTableLeadsWithTenant(t *testing.T, open openFunc) {
	s := open(t, "t_layout")
	ctx := context.Background()
	if _, err := Migrate(ctx, s, quiet()); err != nil {
		t.Fatal(err)
	}
	var tables []struct {
		Name      string `json:"name"`
		SortKey   string `json:"sorting_key"`
		Partition string `json:"partition_key"`
		Create    string `json:"create_table_query"`
	}
	if err := s.Select(ctx, &tables, "SELECT name, sorting_key, partition_key, create_table_query FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' AND name != 'schema_migrations'", Params{"db": s.Database()}); err != nil {
		t.Fatal(err)
	}
	if len(tables) < 2 {
		t.Fatalf("found %d MergeTree tables, want at least 2", len(tables))
	}
	for _, tb := range tables {
		if !strings.HasPrefix(tb.SortKey, "tenant_id") {
			t.Errorf("%s: ORDER BY %q does not lead with tenant_id", tb.Name, tb.SortKey)
		}
		if !strings.HasPrefix(tb.Partition, "toYYYYMM") {
			t.Errorf("%s: PARTITION BY %q is not monthly", tb.Name, tb.Partition)
		}
		if !strings.Contains(tb.Create, "TTL ") {
			t.Errorf("%s has no TTL", tb.Name)
		}
	}
}

func testRedeliveredEventsAreReadOnce(t *testing.T, open openFunc) {
	s := open(t, "t_dedup")
	ctx := context.Background()
	if _, err := Migrate(ctx, s, quiet()); err != nil {
		t.Fatal(err)
	}
	batch := rows(500, 0)
	if err := s.InsertEvents(ctx, batch, "p0:0-499"); err != nil {
		t.Fatal(err)
	}
	// The same batch retried with its token: dropped at insert.
	if err := s.InsertEvents(ctx, batch, "p0:0-499"); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, s, "access_events"); c.Rows != 500 {
		t.Fatalf("after a retried batch the table holds %d rows, want 500 (token dedup)", c.Rows)
	}
	// A redelivery cut differently (new token, overlapping events) is
	// stored but collapses in what the product reads.
	if err := s.InsertEvents(ctx, rows(300, 400), "p0:400-699"); err != nil {
		t.Fatal(err)
	}
	raw := counts(t, s, "access_events")
	read := counts(t, s, "events")
	if raw.Rows != 800 {
		t.Fatalf("raw rows %d, want 800 (overlap stored until merge)", raw.Rows)
	}
	if read.Rows != 700 || read.Distinct != 700 {
		t.Fatalf("events view reads %d rows / %d distinct, want 700 / 700", read.Rows, read.Distinct)
	}
	// A value with quotes and backslashes survives both ways.
	var got []struct {
		Raw   string            `json:"raw"`
		Time  time.Time         `json:"time"`
		Attrs map[string]string `json:"attrs"`
		Doms  []string          `json:"email_recipient_domains"`
	}
	if err := s.Select(ctx, &got, "SELECT raw, time, attrs, email_recipient_domains FROM "+s.Database()+".events WHERE event_id = {id:String}", Params{"id": batch[3].EventID}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Raw != batch[3].Raw || !got[0].Time.Equal(batch[3].Time) || got[0].Attrs["k"] != "v" || len(got[0].Doms) != 1 {
		t.Fatalf("round trip: got %+v, want raw %q time %s", got, batch[3].Raw, batch[3].Time)
	}
}

func testDeadLetters(t *testing.T, open openFunc) {
	s := open(t, "t_dlq")
	ctx := context.Background()
	if _, err := Migrate(ctx, s, quiet()); err != nil {
		t.Fatal(err)
	}
	d := deadletter.New("clinic-a", deadletter.StageParse, "test", "f.log:3", fmt.Errorf("no time"), []byte{0xff, 'x'}, time.Now())
	r := NewDeadLetterRow(&d, 0)
	if err := s.InsertDeadLetters(ctx, []DeadLetterRow{r, r}, "t1"); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Reason    string `json:"reason"`
		RawBase64 bool   `json:"raw_base64"`
		Retain    string `json:"retain_until"`
	}
	if err := s.Select(ctx, &got, "SELECT reason, raw_base64, toString(retain_until) AS retain_until FROM "+s.Database()+".dead_letters FINAL", nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Reason != "no time" || !got[0].RawBase64 || got[0].Retain != r.RetainUntil.Format("2006-01-02") {
		t.Fatalf("dead letters read back %+v", got)
	}
}

func TestOpenRejectsBadDSN(t *testing.T) {
	for _, dsn := range []string{"", "postgres://x", "chdb:"} {
		if _, err := Open(context.Background(), Options{DSN: dsn}); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", dsn)
		}
	}
	if got := Redact("clickhouse://u:secret@h:9000/db"); got != "clickhouse://u:xxxxx@h:9000/db" {
		t.Errorf("Redact = %q", got)
	}
}
