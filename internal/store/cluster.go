package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Cluster DDL: the migrations are written for one ClickHouse node. On a
// cluster the same schema becomes, for every table,
//
//   - <table>_local on every node (ON CLUSTER), its MergeTree engine turned
//     into the Replicated one (Keeper path /clickhouse/tables/{shard}/{database}/{table},
//     replica {replica});
//   - <table>, a Distributed table over <table>_local under the name the
//     application reads and writes, sharded by cityHash64(tenant_id);
//
// and for every view, <view>_local over the local tables plus a Distributed
// <view> over it. Sharding by tenant keeps all of a tenant's rows on one
// shard, so everything a view does runs shard-locally and stays exact:
// FINAL and ReplacingMergeTree collapse duplicates of an event that always
// lands on the same shard, LIMIT 1 BY and argMax pick the latest version of a
// record whose versions all live there, and IN / JOIN subqueries over a
// tenant's tables see the whole tenant. A query filtered by tenant_id reads
// one shard (optimize_skip_unused_shards). Sharding by (tenant_id, actor)
// would spread a large tenant wider, but every per-tenant view and detector
// join would then need GLOBAL subqueries; a practice's volume fits one
// shard many times over (docs/deploy.md, sizing).
//
// The translation parses each statement of each migration, so a new
// migration is covered without changes here; a statement it cannot
// translate is an error, never passed through silently.

// ClusterShardingKey is the Distributed tables' sharding expression.
const ClusterShardingKey = "cityHash64(tenant_id)"

// clusterObject is what the translation knows about a name it created.
type clusterObject int

const (
	shardedTable clusterObject = iota + 1 // <name>_local + Distributed <name>
	shardedView                           // <name>_local view + Distributed <name>
	localOnly                             // created as is on every node (materialized view TO a table)
)

// ClusterDDL translates migrations, in order, into DDL for a cluster. The
// zero cluster name means a single node: statements come out unchanged.
type ClusterDDL struct {
	db, cluster string
	// replicated and onCluster are true for a real cluster; the tests turn
	// them off to run the sharded layout on one embedded engine, which has
	// neither Keeper nor distributed DDL.
	replicated, onCluster bool
	objects               map[string]clusterObject
}

// NewClusterDDL prepares a translation for database db on cluster (a name
// from the servers' remote_servers, or a macro such as {cluster}); an empty
// cluster translates nothing.
func NewClusterDDL(db, cluster string) (*ClusterDDL, error) {
	if err := checkIdent(db); err != nil {
		return nil, err
	}
	if cluster != "" && !clusterNameRe.MatchString(cluster) {
		return nil, fmt.Errorf("cluster name %q may hold only letters, digits, '_', '-', '.' and {macro} braces", cluster)
	}
	return &ClusterDDL{db: db, cluster: cluster, replicated: true, onCluster: true, objects: map[string]clusterObject{}}, nil
}

var clusterNameRe = regexp.MustCompile(`^[A-Za-z0-9_.{}-]{1,128}$`)

// Enabled reports whether statements are translated for a cluster.
func (c *ClusterDDL) Enabled() bool { return c.cluster != "" }

// Bootstrap is what Migrate runs before the migrations: the database and
// the schema_migrations bookkeeping. On a cluster the bookkeeping is one
// replication group across every node of every shard (the replica name
// carries the shard), so a role connected to any node sees what was applied.
func (c *ClusterDDL) Bootstrap() []string {
	const cols = "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC'))"
	if !c.Enabled() {
		return []string{
			"CREATE DATABASE IF NOT EXISTS " + c.db,
			"CREATE TABLE IF NOT EXISTS " + c.db + ".schema_migrations " + cols + " ENGINE = MergeTree ORDER BY version",
		}
	}
	engine := "ReplicatedMergeTree('/clickhouse/tables/{database}/schema_migrations', '{shard}-{replica}')"
	if !c.replicated {
		engine = "MergeTree"
	}
	return []string{
		"CREATE DATABASE IF NOT EXISTS " + c.db + c.on(),
		"CREATE TABLE IF NOT EXISTS " + c.db + ".schema_migrations" + c.on() + " " + cols + " ENGINE = " + engine + " ORDER BY version",
	}
}

// Translate returns the statements of m for the cluster. Migrations must be
// translated in order, every one of them, applied or not: later statements
// refer to the tables earlier ones created.
func (c *ClusterDDL) Translate(m Migration) ([]string, error) {
	stmts := m.Statements(c.db)
	if !c.Enabled() {
		return stmts, nil
	}
	var out []string
	for i, s := range stmts {
		t, err := c.translate(s)
		if err != nil {
			return nil, fmt.Errorf("migration %s, statement %d: cannot translate for a cluster: %w", m.Name, i+1, err)
		}
		out = append(out, t...)
	}
	return out, nil
}

var (
	createRe = regexp.MustCompile(`(?is)^CREATE\s+(OR\s+REPLACE\s+)?(TABLE|VIEW|MATERIALIZED\s+VIEW)\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\.(\w+)\s*(.*)$`)
	alterRe  = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+(\w+)\.(\w+)\s+(.*)$`)
	dropRe   = regexp.MustCompile(`(?is)^DROP\s+(TABLE|VIEW)\s+(IF\s+EXISTS\s+)?(\w+)\.(\w+)(\s+SYNC)?\s*$`)
	insertRe = regexp.MustCompile(`(?is)^INSERT\s+INTO\s`)
	engineRe = regexp.MustCompile(`(?is)\bENGINE\s*=\s*(\w+)`)
	toRe     = regexp.MustCompile(`(?is)^TO\s+(\w+)\.(\w+)\s`)
	refRe    = regexp.MustCompile(`\b(\w+)\.(\w+)\b`)
	tenantRe = regexp.MustCompile(`\btenant_id\b`)
	starRe   = regexp.MustCompile(`(?is)\bSELECT\s+\*`)
)

func (c *ClusterDDL) translate(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	switch {
	case createRe.MatchString(s):
		g := createRe.FindStringSubmatch(s)
		orReplace, kind, ifNotExists, db, name, rest := g[1] != "", strings.ToUpper(g[2]), g[3] != "", g[4], g[5], g[6]
		if err := c.checkDB(db); err != nil {
			return nil, err
		}
		switch {
		case kind == "TABLE":
			return c.createTable(orReplace, ifNotExists, name, rest)
		case kind == "VIEW":
			return c.createView(orReplace, ifNotExists, name, rest)
		default:
			return c.createMaterializedView(orReplace, ifNotExists, name, rest)
		}
	case alterRe.MatchString(s):
		g := alterRe.FindStringSubmatch(s)
		if err := c.checkDB(g[1]); err != nil {
			return nil, err
		}
		return c.alter(g[2], g[3])
	case dropRe.MatchString(s):
		g := dropRe.FindStringSubmatch(s)
		if err := c.checkDB(g[3]); err != nil {
			return nil, err
		}
		return c.drop(strings.ToUpper(g[1]), g[2] != "", g[4])
	case insertRe.MatchString(s):
		// A backfill writes through the Distributed names, which route each
		// row to its tenant's shard.
		return []string{s}, nil
	}
	head, _, _ := strings.Cut(s, "\n")
	return nil, fmt.Errorf("unsupported statement %q: the cluster translation (internal/store/cluster.go) knows CREATE TABLE/VIEW/MATERIALIZED VIEW, ALTER TABLE, DROP and INSERT", head)
}

func (c *ClusterDDL) checkDB(db string) error {
	if db != c.db {
		return fmt.Errorf("statement names database %q, not ${DB}", db)
	}
	return nil
}

// on is the ON CLUSTER clause, with a leading space.
func (c *ClusterDDL) on() string {
	if !c.onCluster {
		return ""
	}
	return " ON CLUSTER " + quoteString(c.cluster)
}

func createHead(orReplace bool, what string, ifNotExists bool) string {
	h := "CREATE "
	if orReplace {
		h += "OR REPLACE "
	}
	h += what + " "
	if ifNotExists {
		h += "IF NOT EXISTS "
	}
	return h
}

// distributed is the Distributed table <name> over <name>_local.
func (c *ClusterDDL) distributed(orReplace, ifNotExists bool, name string, sharded bool) string {
	args := quoteString(c.cluster) + ", " + c.db + ", " + name + "_local"
	if sharded {
		args += ", " + ClusterShardingKey
	}
	return createHead(orReplace, "TABLE", ifNotExists) + c.db + "." + name + c.on() +
		" AS " + c.db + "." + name + "_local ENGINE = Distributed(" + args + ")"
}

func (c *ClusterDDL) createTable(orReplace, ifNotExists bool, name, rest string) ([]string, error) {
	if !strings.HasPrefix(rest, "(") {
		return nil, fmt.Errorf("CREATE TABLE %s without a column list", name)
	}
	end, err := closingParen(rest, 0)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", name, err)
	}
	cols, tail := rest[:end+1], rest[end+1:]
	if !tenantRe.MatchString(cols) {
		return nil, fmt.Errorf("table %s has no tenant_id column to shard by", name)
	}
	tail, err = c.replicateEngine(name, tail)
	if err != nil {
		return nil, err
	}
	c.objects[name] = shardedTable
	return []string{
		createHead(orReplace, "TABLE", ifNotExists) + c.db + "." + name + "_local" + c.on() + "\n" + cols + tail,
		c.distributed(orReplace, ifNotExists, name, true),
	}, nil
}

// replicateEngine turns the MergeTree-family engine in s into its
// Replicated form, keeping the engine's own arguments after the Keeper path
// and replica name.
func (c *ClusterDDL) replicateEngine(name, s string) (string, error) {
	loc := engineRe.FindStringSubmatchIndex(s)
	if loc == nil {
		return "", fmt.Errorf("table %s has no ENGINE", name)
	}
	engine := s[loc[2]:loc[3]]
	if !strings.HasSuffix(engine, "MergeTree") || strings.HasPrefix(engine, "Replicated") || strings.HasPrefix(engine, "Shared") {
		return "", fmt.Errorf("table %s: engine %s is not a plain MergeTree-family engine; only those are replicated and sharded", name, engine)
	}
	if !c.replicated {
		return s, nil
	}
	after := loc[1]
	var args string
	if i := skipSpace(s, after); i < len(s) && s[i] == '(' {
		end, err := closingParen(s, i)
		if err != nil {
			return "", fmt.Errorf("table %s engine: %w", name, err)
		}
		args = strings.TrimSpace(s[i+1 : end])
		after = end + 1
	}
	repl := "Replicated" + engine + "('/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
	if args != "" {
		repl += ", " + args
	}
	repl += ")"
	return s[:loc[2]] + repl + s[after:], nil
}

func (c *ClusterDDL) createView(orReplace, ifNotExists bool, name, rest string) ([]string, error) {
	local := createHead(orReplace, "VIEW", ifNotExists) + c.db + "." + name + "_local" + c.on() + " " + c.localRefs(rest)
	c.objects[name] = shardedView
	// Every table has tenant_id, so SELECT * carries it. A view without
	// tenant_id has no sharding key to skip shards by; it is still read from
	// every shard.
	keyed := tenantRe.MatchString(rest) || starRe.MatchString(rest)
	return []string{local, c.distributed(orReplace, ifNotExists, name, keyed)}, nil
}

func (c *ClusterDDL) createMaterializedView(orReplace, ifNotExists bool, name, rest string) ([]string, error) {
	g := toRe.FindStringSubmatch(rest)
	if g == nil {
		return nil, fmt.Errorf("materialized view %s: only the TO <table> form is translated (its target is then a sharded table)", name)
	}
	if err := c.checkDB(g[1]); err != nil {
		return nil, err
	}
	if c.objects[g[2]] != shardedTable {
		return nil, fmt.Errorf("materialized view %s writes to %s, which no earlier migration created as a table", name, g[2])
	}
	// Each node's view feeds that node's shard of the target: the rows it
	// sees were inserted into the same shard.
	c.objects[name] = localOnly
	return []string{createHead(orReplace, "MATERIALIZED VIEW", ifNotExists) + c.db + "." + name + c.on() + " " + c.localRefs(rest)}, nil
}

// localRefs points the references to sharded tables and views at their
// local tables, leaving string literals and quoted names alone.
func (c *ClusterDDL) localRefs(s string) string {
	var b strings.Builder
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '\'' && s[i] != '"' && s[i] != '`' {
			continue
		}
		end, err := closingQuote(s, i)
		if err != nil {
			break // unterminated: the engine will say so
		}
		b.WriteString(c.localRefsUnquoted(s[start:i]))
		b.WriteString(s[i : end+1])
		start, i = end+1, end
	}
	b.WriteString(c.localRefsUnquoted(s[start:]))
	return b.String()
}

func (c *ClusterDDL) localRefsUnquoted(s string) string {
	return refRe.ReplaceAllStringFunc(s, func(ref string) string {
		db, name, _ := strings.Cut(ref, ".")
		if db != c.db {
			return ref
		}
		if k := c.objects[name]; k == shardedTable || k == shardedView {
			return ref + "_local"
		}
		return ref
	})
}

// distributedAlter are the ALTER commands a Distributed table takes too:
// its columns must follow the local table's.
var distributedAlter = regexp.MustCompile(`(?is)^(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\s`)

func (c *ClusterDDL) alter(name, commands string) ([]string, error) {
	switch c.objects[name] {
	case shardedTable:
	case localOnly:
		return []string{"ALTER TABLE " + c.db + "." + name + c.on() + " " + commands}, nil
	case shardedView:
		return nil, fmt.Errorf("ALTER of view %s: replace the view instead (CREATE OR REPLACE VIEW)", name)
	default:
		return nil, fmt.Errorf("ALTER of %s, which no earlier migration created", name)
	}
	out := []string{"ALTER TABLE " + c.db + "." + name + "_local" + c.on() + " " + commands}
	parts, err := splitTopLevel(commands)
	if err != nil {
		return nil, fmt.Errorf("ALTER of %s: %w", name, err)
	}
	var dist []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); distributedAlter.MatchString(p) {
			dist = append(dist, stripColumnStorage(p))
		}
	}
	if len(dist) > 0 {
		out = append(out, "ALTER TABLE "+c.db+"."+name+c.on()+"\n    "+strings.Join(dist, ",\n    "))
	}
	return out, nil
}

// columnStorageRe finds the parts of a column definition that concern how
// the local table stores it, which a Distributed table has no use for.
var columnStorageRe = regexp.MustCompile(`(?is)\s+(CODEC|TTL|SETTINGS)\b.*$`)

// stripColumnStorage drops CODEC, TTL and SETTINGS from a column command for
// the Distributed table.
func stripColumnStorage(cmd string) string {
	loc := columnStorageRe.FindStringIndex(cmd)
	if loc == nil {
		return cmd
	}
	return strings.TrimSpace(cmd[:loc[0]])
}

func (c *ClusterDDL) drop(kind string, ifExists bool, name string) ([]string, error) {
	ie := ""
	if ifExists {
		ie = "IF EXISTS "
	}
	k := c.objects[name]
	delete(c.objects, name)
	switch k {
	case shardedTable, shardedView:
		return []string{
			"DROP TABLE " + ie + c.db + "." + name + c.on() + " SYNC",
			"DROP " + kind + " " + ie + c.db + "." + name + "_local" + c.on() + " SYNC",
		}, nil
	case localOnly:
		return []string{"DROP " + kind + " " + ie + c.db + "." + name + c.on() + " SYNC"}, nil
	}
	if ifExists {
		// Dropping what never existed: harmless, as on one node.
		return []string{"DROP " + kind + " " + ie + c.db + "." + name + c.on() + " SYNC"}, nil
	}
	return nil, fmt.Errorf("DROP of %s, which no earlier migration created", name)
}

// closingParen returns the index of the parenthesis closing the one at
// open, skipping quoted strings and identifiers.
func closingParen(s string, open int) (int, error) {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\'', '"', '`':
			j, err := closingQuote(s, i)
			if err != nil {
				return 0, err
			}
			i = j
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("unbalanced parentheses")
}

func closingQuote(s string, open int) (int, error) {
	q := s[open]
	for i := open + 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			return i, nil
		}
	}
	return 0, fmt.Errorf("unterminated quote")
}

// splitTopLevel splits s at the commas outside parentheses and quotes.
func splitTopLevel(s string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'', '"', '`':
			j, err := closingQuote(s, i)
			if err != nil {
				return nil, err
			}
			i = j
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:]), nil
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// ClusterSchema is every migration translated, in order.
type ClusterSchema struct {
	Bootstrap  []string
	Migrations []ClusterMigration
}

// ClusterMigration is one migration's statements for the cluster.
type ClusterMigration struct {
	Migration
	Statements []string
}

// TranslateAll translates the bootstrap and every embedded migration.
func (c *ClusterDDL) TranslateAll() (ClusterSchema, error) {
	ms, err := Migrations()
	if err != nil {
		return ClusterSchema{}, err
	}
	out := ClusterSchema{Bootstrap: c.Bootstrap()}
	for _, m := range ms {
		st, err := c.Translate(m)
		if err != nil {
			return ClusterSchema{}, err
		}
		out.Migrations = append(out.Migrations, ClusterMigration{Migration: m, Statements: st})
	}
	return out, nil
}

// WriteSQL prints the schema as a SQL script, one statement per line group,
// each ended by ';', with the migration it comes from as a comment.
func (cs ClusterSchema) WriteSQL(w io.Writer) error {
	var b strings.Builder
	b.WriteString("-- bootstrap\n")
	for _, s := range cs.Bootstrap {
		b.WriteString(s + ";\n\n")
	}
	for _, m := range cs.Migrations {
		fmt.Fprintf(&b, "-- %s (checksum %s)\n", m.Name, m.Checksum)
		for _, s := range m.Statements {
			b.WriteString(s + ";\n\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// MigrateCluster is Migrate for a ClickHouse cluster: the same migrations,
// bookkeeping and checksums, applied as the cluster DDL of NewClusterDDL
// through the node s is connected to. With an empty cluster it is Migrate.
func MigrateCluster(ctx context.Context, s Store, cluster string, log *slog.Logger) (MigrateResult, error) {
	if cluster == "" {
		return Migrate(ctx, s, log)
	}
	c, err := NewClusterDDL(s.Database(), cluster)
	if err != nil {
		return MigrateResult{}, err
	}
	return c.apply(ctx, s, log)
}

func (c *ClusterDDL) apply(ctx context.Context, s Store, log *slog.Logger) (MigrateResult, error) {
	var res MigrateResult
	schema, err := c.TranslateAll()
	if err != nil {
		return res, err
	}
	for _, q := range schema.Bootstrap {
		if err := s.Exec(ctx, q, nil); err != nil {
			return res, fmt.Errorf("prepare database %s on cluster %s: %w", c.db, c.cluster, err)
		}
	}
	var applied []appliedRow
	if err := s.Select(ctx, &applied, "SELECT version, any(checksum) AS checksum FROM "+c.db+".schema_migrations GROUP BY version", nil); err != nil {
		return res, fmt.Errorf("read %s.schema_migrations: %w", c.db, err)
	}
	done := map[uint32]string{}
	for _, a := range applied {
		done[a.Version] = a.Checksum
	}
	for _, m := range schema.Migrations {
		if sum, ok := done[uint32(m.Version)]; ok {
			if sum != m.Checksum {
				return res, fmt.Errorf("migration %s changed after it was applied (checksum %s, now %s): add a new migration instead of editing one", m.Name, sum, m.Checksum)
			}
			res.Already++
			continue
		}
		start := time.Now()
		for i, q := range m.Statements {
			if err := s.Exec(ctx, q, nil); err != nil {
				return res, fmt.Errorf("migration %s, cluster statement %d: %w", m.Name, i+1, err)
			}
		}
		err := s.Exec(ctx, "INSERT INTO "+c.db+".schema_migrations (version, name, checksum, applied_at) VALUES ({v:UInt32}, {n:String}, {c:String}, now64(3))",
			Params{"v": strconv.Itoa(m.Version), "n": m.Name, "c": m.Checksum})
		if err != nil {
			return res, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		log.Info("applied migration on cluster", "migration", m.Name, "cluster", c.cluster, "duration", time.Since(start).Round(time.Millisecond))
		res.Applied = append(res.Applied, m.Name)
	}
	return res, nil
}
