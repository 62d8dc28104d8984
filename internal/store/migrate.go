package store

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one numbered schema change.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Checksum string
}

// Migrations lists the embedded migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", name)
		}
		b, err := migrationFiles.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(name, ".sql"), SQL: string(b), Checksum: hex.EncodeToString(sum[:8])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("two migrations numbered %d", out[i].Version)
		}
	}
	return out, nil
}

// Statements splits a migration into statements (ClickHouse servers take one
// per request), dropping comments, and fills in the database name.
func (m Migration) Statements(db string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(m.SQL, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			out = append(out, strings.ReplaceAll(s, "${DB}", db))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, strings.ReplaceAll(s, "${DB}", db))
	}
	return out
}

// MigrateResult says what Migrate did.
type MigrateResult struct {
	Applied []string // migrations run now
	Already int      // migrations that had run before
}

type appliedRow struct {
	Version  uint32 `json:"version"`
	Checksum string `json:"checksum"`
}

// Migrate creates the database and applies the migrations that have not run,
// recording each in schema_migrations. Running it again is a no-op. A
// migration whose file changed after it ran is an error: migrations are
// never edited, a new one is added.
func Migrate(ctx context.Context, s Store, log *slog.Logger) (MigrateResult, error) {
	var res MigrateResult
	db := s.Database()
	ms, err := Migrations()
	if err != nil {
		return res, err
	}
	bootstrap := []string{
		"CREATE DATABASE IF NOT EXISTS " + db,
		// Bookkeeping, not tenant data: the one table not led by tenant_id.
		"CREATE TABLE IF NOT EXISTS " + db + ".schema_migrations (version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY version",
	}
	for _, q := range bootstrap {
		if err := s.Exec(ctx, q, nil); err != nil {
			return res, fmt.Errorf("prepare database %s: %w", db, err)
		}
	}
	var applied []appliedRow
	if err := s.Select(ctx, &applied, "SELECT version, any(checksum) AS checksum FROM "+db+".schema_migrations GROUP BY version", nil); err != nil {
		return res, fmt.Errorf("read %s.schema_migrations: %w", db, err)
	}
	done := map[uint32]string{}
	for _, a := range applied {
		done[a.Version] = a.Checksum
	}
	for _, m := range ms {
		if sum, ok := done[uint32(m.Version)]; ok {
			if sum != m.Checksum {
				return res, fmt.Errorf("migration %s changed after it was applied (checksum %s, now %s): add a new migration instead of editing one", m.Name, sum, m.Checksum)
			}
			res.Already++
			continue
		}
		start := time.Now()
		for i, q := range m.Statements(db) {
			if err := s.Exec(ctx, q, nil); err != nil {
				return res, fmt.Errorf("migration %s, statement %d: %w", m.Name, i+1, err)
			}
		}
		err := s.Exec(ctx, "INSERT INTO "+db+".schema_migrations (version, name, checksum, applied_at) VALUES ({v:UInt32}, {n:String}, {c:String}, now64(3))",
			Params{"v": strconv.Itoa(m.Version), "n": m.Name, "c": m.Checksum})
		if err != nil {
			return res, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		log.Info("applied migration", "migration", m.Name, "duration", time.Since(start).Round(time.Millisecond))
		res.Applied = append(res.Applied, m.Name)
	}
	return res, nil
}
