package store

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/phiwatch/phiwatch/internal/testenv"
)

var updateCluster = flag.Bool("update-cluster", false, "rewrite the golden files under testdata/cluster")

func clusterSchema(t *testing.T, cluster string) ClusterSchema {
	t.Helper()
	c, err := NewClusterDDL("phiwatch", cluster)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c.TranslateAll()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func joinStatements(stmts []string) string {
	var b strings.Builder
	for _, s := range stmts {
		b.WriteString(s + ";\n\n")
	}
	return b.String()
}

// TestClusterDDLGolden pins the cluster DDL of every migration: a new
// migration needs its golden file (go test ./internal/store -run
// TestClusterDDLGolden -update-cluster), and a reviewer reads what the cluster gets.
func TestClusterDDLGolden(t *testing.T) {
	cs := clusterSchema(t, "phiwatch")
	files := map[string]string{"bootstrap.sql": joinStatements(cs.Bootstrap)}
	for _, m := range cs.Migrations {
		files[m.Name+".sql"] = joinStatements(m.Statements)
	}
	dir := filepath.Join("testdata", "cluster")
	for name, got := range files {
		path := filepath.Join(dir, name)
		if *updateCluster {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (a new migration? run go test ./internal/store -run TestClusterDDLGolden -update-cluster and review the file)", path, err)
			continue
		}
		if string(want) != got {
			t.Errorf("cluster DDL of %s differs from %s (if intended, rerun with -update-cluster and review the diff):\n%s", name, path, got)
		}
	}
}

// TestClusterDisabledIsSingleNode: without a cluster the translation is the
// identity, so `phiwatch migrate` keeps running exactly today's DDL.
func TestClusterDisabledIsSingleNode(t *testing.T) {
	cs := clusterSchema(t, "")
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Migrations) != len(ms) {
		t.Fatalf("%d translated migrations, want %d", len(cs.Migrations), len(ms))
	}
	for i, m := range ms {
		want := m.Statements("phiwatch")
		got := cs.Migrations[i].Statements
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("%s: single-node translation changed the DDL", m.Name)
		}
	}
}

var (
	localTableRe = regexp.MustCompile(`(?s)^CREATE (OR REPLACE )?TABLE (IF NOT EXISTS )?phiwatch\.(\w+)_local ON CLUSTER 'phiwatch'\n\(.*\)\nENGINE = Replicated\w*MergeTree\('/clickhouse/tables/\{shard\}/\{database\}/\{table\}', '\{replica\}'`)
	distRe       = regexp.MustCompile(`^CREATE (OR REPLACE )?TABLE (IF NOT EXISTS )?phiwatch\.(\w+) ON CLUSTER 'phiwatch' AS phiwatch\.(\w+)_local ENGINE = Distributed\('phiwatch', phiwatch, (\w+)_local(, cityHash64\(tenant_id\))?\)$`)
	localViewRe  = regexp.MustCompile(`(?s)^CREATE (OR REPLACE )?VIEW (IF NOT EXISTS )?phiwatch\.(\w+)_local ON CLUSTER 'phiwatch' `)
	plainMTRe    = regexp.MustCompile(`ENGINE\s*=\s*(Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing)?MergeTree\b`)
)

// TestClusterDDLShape checks what every translated statement must be,
// whatever migrations exist: ON CLUSTER everywhere, only replicated local
// tables, a Distributed table for each local table and view under the name
// the application uses, sharded by tenant, and views reading local tables.
func TestClusterDDLShape(t *testing.T) {
	cs := clusterSchema(t, "phiwatch")
	for _, s := range cs.Bootstrap {
		if !strings.Contains(s, " ON CLUSTER 'phiwatch'") {
			t.Errorf("bootstrap statement without ON CLUSTER: %s", s)
		}
	}
	locals := map[string]string{} // name → "table" or "view"
	dists := map[string]bool{}
	for _, m := range cs.Migrations {
		for _, s := range m.Statements {
			if strings.HasPrefix(s, "INSERT") {
				continue
			}
			if !strings.Contains(s, " ON CLUSTER 'phiwatch'") {
				t.Errorf("%s: statement without ON CLUSTER: %.120s", m.Name, s)
			}
			if plainMTRe.MatchString(s) {
				t.Errorf("%s: non-replicated MergeTree on a cluster: %.120s", m.Name, s)
			}
			switch {
			case localTableRe.MatchString(s):
				locals[localTableRe.FindStringSubmatch(s)[3]] = "table"
			case localViewRe.MatchString(s):
				name := localViewRe.FindStringSubmatch(s)[3]
				locals[name] = "view"
				for _, ref := range refRe.FindAllStringSubmatch(s[len(localViewRe.FindString(s)):], -1) {
					if ref[1] == "phiwatch" && !strings.HasSuffix(ref[2], "_local") {
						t.Errorf("%s: view %s_local reads %s, not a local table: a shard would read the whole cluster", m.Name, name, ref[0])
					}
				}
			case distRe.MatchString(s):
				g := distRe.FindStringSubmatch(s)
				if g[3] != g[4] || g[3] != g[5] {
					t.Errorf("%s: Distributed %s is over %s_local / %s_local", m.Name, g[3], g[4], g[5])
				}
				if locals[g[3]] == "" {
					t.Errorf("%s: Distributed %s before its local table", m.Name, g[3])
				}
				if locals[g[3]] == "table" && g[6] == "" {
					t.Errorf("%s: Distributed table %s is not sharded by tenant", m.Name, g[3])
				}
				dists[g[3]] = true
			}
		}
	}
	if len(locals) < 20 {
		t.Errorf("only %d local tables and views recognised: %v", len(locals), locals)
	}
	for name := range locals {
		if !dists[name] {
			t.Errorf("%s_local has no Distributed %s", name, name)
		}
	}
	for _, want := range []string{"access_events", "events", "alerts", "alerts_current", "workforce_current", "accounts_current"} {
		if !dists[want] {
			t.Errorf("no Distributed table %s, which the application reads", want)
		}
	}
}

func translateOne(t *testing.T, c *ClusterDDL, sql string) ([]string, error) {
	t.Helper()
	return c.Translate(Migration{Name: "9999_test", SQL: sql})
}

func TestClusterTranslate(t *testing.T) {
	const table = "CREATE TABLE IF NOT EXISTS ${DB}.t (tenant_id String, v UInt32, s String) ENGINE = ReplacingMergeTree(v) ORDER BY (tenant_id, s);\n"
	tests := []struct {
		name string
		sql  string
		want []string // statements, after the table's two
		err  string
	}{
		{name: "engine arguments kept after the replica",
			sql: "CREATE TABLE ${DB}.u (tenant_id String, x Tuple(a UInt8, b String), v UInt64) ENGINE = VersionedCollapsingMergeTree(sign, intDiv(v, 2)) ORDER BY tenant_id;",
			want: []string{
				"CREATE TABLE c.u_local ON CLUSTER 'k'\n(tenant_id String, x Tuple(a UInt8, b String), v UInt64) ENGINE = ReplicatedVersionedCollapsingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', sign, intDiv(v, 2)) ORDER BY tenant_id",
				"CREATE TABLE c.u ON CLUSTER 'k' AS c.u_local ENGINE = Distributed('k', c, u_local, cityHash64(tenant_id))",
			}},
		{name: "alter: columns to both, index only to the local table",
			sql: table + "ALTER TABLE ${DB}.t ADD COLUMN IF NOT EXISTS w String CODEC(ZSTD(3)), ADD INDEX i s TYPE bloom_filter(0.01) GRANULARITY 4, MODIFY COLUMN s LowCardinality(String);",
			want: []string{
				"ALTER TABLE c.t_local ON CLUSTER 'k' ADD COLUMN IF NOT EXISTS w String CODEC(ZSTD(3)), ADD INDEX i s TYPE bloom_filter(0.01) GRANULARITY 4, MODIFY COLUMN s LowCardinality(String)",
				"ALTER TABLE c.t ON CLUSTER 'k'\n    ADD COLUMN IF NOT EXISTS w String,\n    MODIFY COLUMN s LowCardinality(String)",
			}},
		{name: "alter without column changes leaves the Distributed table alone",
			sql:  table + "ALTER TABLE ${DB}.t MODIFY TTL toDate(now()) + INTERVAL 7 YEAR;",
			want: []string{"ALTER TABLE c.t_local ON CLUSTER 'k' MODIFY TTL toDate(now()) + INTERVAL 7 YEAR"}},
		{name: "view reads local tables, strings untouched",
			sql: table + "CREATE OR REPLACE VIEW ${DB}.t_current AS SELECT tenant_id, argMax(s, v) AS s FROM ${DB}.t WHERE s != 'c.t' AND (tenant_id, v) IN (SELECT tenant_id, max(v) FROM ${DB}.t GROUP BY tenant_id) GROUP BY tenant_id;",
			want: []string{
				"CREATE OR REPLACE VIEW c.t_current_local ON CLUSTER 'k' AS SELECT tenant_id, argMax(s, v) AS s FROM c.t_local WHERE s != 'c.t' AND (tenant_id, v) IN (SELECT tenant_id, max(v) FROM c.t_local GROUP BY tenant_id) GROUP BY tenant_id",
				"CREATE OR REPLACE TABLE c.t_current ON CLUSTER 'k' AS c.t_current_local ENGINE = Distributed('k', c, t_current_local, cityHash64(tenant_id))",
			}},
		{name: "materialized view feeds the local target",
			sql: table + "CREATE TABLE ${DB}.daily (tenant_id String, n UInt64) ENGINE = SummingMergeTree ORDER BY tenant_id;\nCREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.daily_mv TO ${DB}.daily AS SELECT tenant_id, count() AS n FROM ${DB}.t GROUP BY tenant_id;",
			want: []string{
				"CREATE TABLE c.daily_local ON CLUSTER 'k'\n(tenant_id String, n UInt64) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}') ORDER BY tenant_id",
				"CREATE TABLE c.daily ON CLUSTER 'k' AS c.daily_local ENGINE = Distributed('k', c, daily_local, cityHash64(tenant_id))",
				"CREATE MATERIALIZED VIEW IF NOT EXISTS c.daily_mv ON CLUSTER 'k' TO c.daily_local AS SELECT tenant_id, count() AS n FROM c.t_local GROUP BY tenant_id",
			}},
		{name: "drop both halves",
			sql:  table + "DROP TABLE IF EXISTS ${DB}.t;",
			want: []string{"DROP TABLE IF EXISTS c.t ON CLUSTER 'k' SYNC", "DROP TABLE IF EXISTS c.t_local ON CLUSTER 'k' SYNC"}},
		{name: "backfill goes through the Distributed names",
			sql:  table + "INSERT INTO ${DB}.t SELECT * FROM ${DB}.t WHERE 0;",
			want: []string{"INSERT INTO c.t SELECT * FROM c.t WHERE 0"}},
		{name: "no tenant_id", sql: "CREATE TABLE ${DB}.x (a String) ENGINE = MergeTree ORDER BY a;", err: "no tenant_id"},
		{name: "not MergeTree", sql: "CREATE TABLE ${DB}.x (tenant_id String) ENGINE = Memory;", err: "not a plain MergeTree"},
		{name: "already replicated", sql: "CREATE TABLE ${DB}.x (tenant_id String) ENGINE = ReplicatedMergeTree ORDER BY tenant_id;", err: "not a plain MergeTree"},
		{name: "other database", sql: "CREATE TABLE other.x (tenant_id String) ENGINE = MergeTree ORDER BY tenant_id;", err: `database "other"`},
		{name: "alter of unknown table", sql: "ALTER TABLE ${DB}.nope ADD COLUMN a String;", err: "no earlier migration created"},
		{name: "alter of a view", sql: table + "CREATE VIEW ${DB}.v AS SELECT * FROM ${DB}.t;\nALTER TABLE ${DB}.v MODIFY QUERY SELECT 1;", err: "replace the view"},
		{name: "materialized view with its own engine", sql: table + "CREATE MATERIALIZED VIEW ${DB}.m ENGINE = MergeTree ORDER BY tenant_id AS SELECT * FROM ${DB}.t;", err: "only the TO <table> form"},
		{name: "unknown statement", sql: "CREATE DICTIONARY ${DB}.d (k UInt64) PRIMARY KEY k SOURCE(NULL()) LAYOUT(FLAT()) LIFETIME(0);", err: "unsupported statement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClusterDDL("c", "k")
			if err != nil {
				t.Fatal(err)
			}
			got, err := translateOne(t, c, tt.sql)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(tt.sql, table) {
				got = got[2:]
			}
			if strings.Join(got, "\n---\n") != strings.Join(tt.want, "\n---\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n---\n"), strings.Join(tt.want, "\n---\n"))
			}
		})
	}
}

func TestClusterNameChecked(t *testing.T) {
	for _, name := range []string{"phiwatch", "{cluster}", "prod-ch_1"} {
		if _, err := NewClusterDDL("phiwatch", name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	for _, name := range []string{"a'b", "a b", "x;DROP"} {
		if _, err := NewClusterDDL("phiwatch", name); err == nil {
			t.Errorf("%q accepted", name)
		}
	}
}

// TestClusterDDLParsesOnChdb has the ClickHouse engine's own parser read
// back every statement of the real cluster form (Replicated engines, ON
// CLUSTER), which the embedded engine cannot execute without Keeper.
func TestClusterDDLParsesOnChdb(t *testing.T) {
	s := openTestEmbedded(t, "clusterddl")
	cs := clusterSchema(t, "phiwatch")
	all := append([]string{}, cs.Bootstrap...)
	for _, m := range cs.Migrations {
		all = append(all, m.Statements...)
	}
	for _, q := range all {
		var out []struct {
			Q string `json:"q"`
		}
		// A literal, not a parameter: parameter values are read in escaped
		// form, where a newline ends the value.
		if err := s.Select(context.Background(), &out, "SELECT formatQuery("+quoteString(q)+") AS q", nil); err != nil {
			t.Errorf("ClickHouse does not parse %.200s: %v", q, err)
			continue
		}
		if len(out) != 1 || !strings.Contains(out[0].Q, "ON CLUSTER") {
			t.Errorf("formatQuery(%.80s) = %v", q, out)
		}
	}
}

const helperEnv = "PHIWATCH_CLUSTER_HELPER_DIR"

// TestClusterLayoutRunsOnChdb runs the sharded layout — local tables and
// views, Distributed tables under the application's names — on the embedded
// engine, given a one-shard cluster of the local node in a config.xml (chDB
// reads one from its working directory, hence a child process). Replicated
// engines need Keeper and ON CLUSTER needs the distributed DDL queue, which
// the embedded engine has neither of, so this form keeps the plain engines
// and runs each statement locally: everything else is the real DDL.
func TestClusterLayoutRunsOnChdb(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		return // in the child, TestClusterLayoutHelper does the work
	}
	testenv.RequireChdb(t)
	dir := t.TempDir()
	config := `<clickhouse>
  <tcp_port>9000</tcp_port>
  <remote_servers>
    <phiwatch_test>
      <shard><replica><host>localhost</host><port>9000</port></replica></shard>
    </phiwatch_test>
  </remote_servers>
</clickhouse>
`
	if err := os.WriteFile(filepath.Join(dir, "config.xml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestClusterLayoutHelper$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("cluster layout on chDB: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestClusterLayoutHelper") {
		t.Fatal("the child process did not run the cluster layout test")
	}
}

func TestClusterLayoutHelper(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		return // runs only as the child of TestClusterLayoutRunsOnChdb
	}
	ctx := context.Background()
	s, err := openEmbedded(filepath.Join(dir, "data"), "phiwatch", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var clusters []struct {
		Cluster string `json:"cluster"`
		IsLocal uint8  `json:"is_local"`
	}
	if err := s.Select(ctx, &clusters, "SELECT cluster, is_local FROM system.clusters WHERE cluster = 'phiwatch_test'", nil); err != nil || len(clusters) != 1 || clusters[0].IsLocal != 1 {
		t.Fatalf("the engine did not load the test cluster from config.xml: %v %v", clusters, err)
	}
	c, err := NewClusterDDL("phiwatch", "phiwatch_test")
	if err != nil {
		t.Fatal(err)
	}
	c.replicated, c.onCluster = false, false
	res, err := c.apply(ctx, s, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := Migrations()
	if len(res.Applied) != len(ms) {
		t.Fatalf("applied %d migrations, want %d", len(res.Applied), len(ms))
	}
	again, err := c.apply(ctx, s, quiet())
	if err != nil || len(again.Applied) != 0 || again.Already != len(ms) {
		t.Fatalf("second run: %+v, %v; want nothing applied", again, err)
	}

	// What the application names are Distributed tables over local ones.
	var engines []struct {
		Name   string `json:"name"`
		Engine string `json:"engine"`
	}
	if err := s.Select(ctx, &engines, "SELECT name, engine FROM system.tables WHERE database = 'phiwatch'", nil); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, e := range engines {
		kinds[e.Name] = e.Engine
	}
	for name, k := range c.objects {
		if k == localOnly {
			continue
		}
		if kinds[name] != "Distributed" {
			t.Errorf("%s is %q, want Distributed", name, kinds[name])
		}
		if kinds[name+"_local"] == "" {
			t.Errorf("%s_local missing", name)
		}
		// Every table and view answers through its Distributed name.
		var n []struct {
			N uint64 `json:"n"`
		}
		if err := s.Select(ctx, &n, "SELECT count() AS n FROM phiwatch."+name+" WHERE tenant_id = 'nobody'", nil); err != nil {
			t.Errorf("read %s through the Distributed table: %v", name, err)
		}
	}

	// Writes go through the Distributed table and reads through the
	// sharded FINAL view: a redelivered batch is still read once.
	if err := s.InsertEvents(ctx, rows(100, 0), "batch-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvents(ctx, rows(100, 50), "batch-2"); err != nil {
		t.Fatal(err)
	}
	got := counts(t, s, "events")
	if got.Rows != 150 || got.Distinct != 150 {
		t.Errorf("events through the cluster layout: %+v, want 150 rows, 150 distinct", got)
	}
}
