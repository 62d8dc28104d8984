package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTenantStore(t *testing.T) {
	s := openTestEmbedded(t, "tenantscope")
	ctx := context.Background()
	db := s.Database()
	if err := s.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+db+".notes (tenant_id String, id String, at DateTime64(3, 'UTC'), tags Array(String)) ENGINE = MergeTree ORDER BY (tenant_id, id)", nil); err != nil {
		t.Fatal(err)
	}
	type note struct {
		TenantID string    `json:"tenant_id"`
		ID       string    `json:"id"`
		At       time.Time `json:"at"`
		Tags     []string  `json:"tags"`
	}
	at := time.Date(2026, 11, 1, 8, 30, 0, 123e6, time.UTC)
	a, _ := ForTenant(s, "clinic-a")
	b, _ := ForTenant(s, "clinic-b")
	// The row claims clinic-b; the clinic-a store overrides it.
	if err := a.Insert(ctx, "notes", []note{{TenantID: "clinic-b", ID: "n1", At: at, Tags: []string{"x"}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Insert(ctx, "notes", []note{{ID: "n2", At: at}}); err != nil {
		t.Fatal(err)
	}
	var got []note
	q := "SELECT tenant_id, id, at, tags FROM " + db + ".notes WHERE tenant_id = {tenant:String} ORDER BY id"
	// A caller passing another tenant's id is overridden.
	if err := a.Select(ctx, &got, q, Params{"tenant": "clinic-b"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "n1" || got[0].TenantID != "clinic-a" || !got[0].At.Equal(at) || len(got[0].Tags) != 1 {
		t.Fatalf("clinic-a sees %+v, want only n1 with its time and tags", got)
	}
	err := a.Select(ctx, &got, "SELECT id FROM "+db+".notes", nil)
	if !errors.Is(err, ErrUnscoped) {
		t.Fatalf("unscoped select: err = %v, want ErrUnscoped", err)
	}
	if err := a.Exec(ctx, "TRUNCATE TABLE "+db+".notes", nil); !errors.Is(err, ErrUnscoped) {
		t.Fatalf("unscoped exec: err = %v, want ErrUnscoped", err)
	}
	if err := a.Insert(ctx, "notes; DROP TABLE x", []note{{ID: "n3"}}); err == nil {
		t.Fatal("insert into a bad table name succeeded")
	}
}

func TestParamsWithLineBreaks(t *testing.T) {
	s := openTestEmbedded(t, "params")
	var got []struct {
		V string   `json:"v"`
		A []string `json:"a"`
	}
	v := "first line\nsecond\tline\r\n'quoted' \\ back"
	if err := s.Select(context.Background(), &got, "SELECT {v:String} AS v, {a:Array(String)} AS a",
		Params{"v": v, "a": ArrayParam([]string{v, "x"})}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].V != v || len(got[0].A) != 2 || got[0].A[0] != v {
		t.Fatalf("round trip: %q", got)
	}
}
