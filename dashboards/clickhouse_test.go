package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/cli"
	"github.com/phiwatch/phiwatch/internal/demo"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

// demoData is the demo practice's month, run through the real pipeline by
// `phiwatch demo --exit` (parsers, bus, loaders, detectors, cases) into an
// embedded store that the tests then reopen. chDB allows one data directory
// per process, so the package's tests share it; it is made once.
type demoData struct {
	once     sync.Once
	dir      string
	s        store.Store
	from, to time.Time // the demo's events, first to last
	err      error
}

var shared demoData

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.s != nil {
		shared.s.Close()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func (d *demoData) store(t *testing.T) store.Store {
	t.Helper()
	testenv.RequireChdb(t)
	d.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if d.dir, d.err = os.MkdirTemp("", "phiwatch-dashboards-"); d.err != nil {
			return
		}
		var out bytes.Buffer
		if code := cli.Main(ctx, []string{"demo", "--exit", "--seed", "1", "--dir", d.dir}, nil, &out, &out); code != 0 {
			d.err = fmt.Errorf("phiwatch demo exited %d:\n%s", code, out.String())
			return
		}
		if d.s, d.err = store.Open(ctx, store.Options{DSN: "chdb:" + filepath.Join(d.dir, "chdb")}); d.err != nil {
			return
		}
		var r []struct {
			From int64 `json:"from"`
			To   int64 `json:"to"`
		}
		d.err = d.s.Select(ctx, &r, `SELECT toUnixTimestamp(min(time)) AS from, toUnixTimestamp(max(time)) AS to
			FROM `+d.s.Database()+`.access_events WHERE tenant_id = {t:String}`, store.Params{"t": demo.Tenant})
		if d.err == nil && (len(r) != 1 || r[0].From == 0) {
			d.err = fmt.Errorf("the demo stored no events for %s", demo.Tenant)
		}
		if d.err == nil {
			// The range ends a second after the last event: Grafana's
			// filters compare whole seconds.
			d.from, d.to = time.Unix(r[0].From, 0).UTC(), time.Unix(r[0].To+1, 0).UTC()
			d.err = addRareEvents(ctx, d.s, d.from.Add(36*time.Hour))
		}
	})
	if d.err != nil {
		t.Fatal(d.err)
	}
	return d.s
}

// addRareEvents stores what the demo month lacks, so that the panels
// showing them run on rows too: a failed VPN sign-in, a mailbox forward to
// a webmail address, a message to a personal domain, a dead letter, a
// monthly log review with one item decided and one pending, and an overdue
// recertification campaign with one of two accounts decided.
func addRareEvents(ctx context.Context, s store.Store, at time.Time) error {
	keep := at.AddDate(7, 0, 0)
	ev := func(id, kind, system, action, outcome string) store.EventRow {
		return store.EventRow{TenantID: demo.Tenant, EventID: "dashboards-test-" + id, SourceKind: kind, SourceSystem: system,
			SourceName: system, Time: at, ReceivedAt: at, ActorID: "test.user", ActorName: "Test User", ActorRole: "nurse",
			Action: action, Outcome: outcome, Attrs: map[string]string{}, RetainUntil: keep}
	}
	failed := ev("vpn-failed", "vpn", "cisco-asa", "login_failed", "failure")
	failed.ClientIP, failed.Attrs["geo_country"] = "203.0.113.9", "RO"
	forward := ev("forward", "email", "m365-audit", "forward", "success")
	forward.Attrs["forward_to"], forward.Attrs["source_action"] = "someone@gmail.com", "Set-Mailbox"
	send := ev("send", "email", "m365-audit", "send", "success")
	send.EmailSender, send.EmailRecipients, send.EmailRecipientDomains = "test.user@example.org", []string{"me@gmail.com"}, []string{"gmail.com"}
	send.EmailExternal, send.EmailAttachmentCount, send.EmailSizeBytes = true, 2, 123456
	if err := s.InsertEvents(ctx, []store.EventRow{failed, forward, send}, "dashboards-test-events"); err != nil {
		return fmt.Errorf("add the test's events: %w", err)
	}
	if err := s.InsertDeadLetters(ctx, []store.DeadLetterRow{{TenantID: demo.Tenant, ReceivedAt: at, KeyHash: "dashboards-test",
		Stage: "parse", Format: "cisco-asa", Origin: "asa.log:1", Reason: "no message id", Raw: "garbage", RetainUntil: keep}}, "dashboards-test-dead"); err != nil {
		return fmt.Errorf("add the test's dead letter: %w", err)
	}
	month := time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)
	p := store.Params{"t": demo.Tenant, "period": month.Format("2006-01"), "month": month.Format("2006-01-02"),
		"due": month.AddDate(0, 1, 10).Format("2006-01-02"), "at": at.Format("2006-01-02 15:04:05"), "keep": keep.Format("2006-01-02")}
	db := s.Database()
	if err := s.Exec(ctx, `INSERT INTO `+db+`.review_periods (tenant_id, period, month_start, due_date, state, opened_at, opened_by,
		action, actor, reason, version_at, retain_until) VALUES ({t:String}, {period:String}, {month:Date}, {due:Date}, 'open',
		{at:DateTime64(3)}, 'test', 'open', 'test', 'dashboards test', {at:DateTime64(3)}, {keep:Date})`, p); err != nil {
		return fmt.Errorf("add the test's review period: %w", err)
	}
	if err := s.Exec(ctx, `INSERT INTO `+db+`.review_items (tenant_id, period, month_start, item_id, kind, state, first_seen, action,
		actor, reason, version_at, retain_until) VALUES
		({t:String}, {period:String}, {month:Date}, 'i1', 'case', 'assigned', {at:DateTime64(3)}, 'assign', 'test', 'test', {at:DateTime64(3)}, {keep:Date}),
		({t:String}, {period:String}, {month:Date}, 'i2', 'case', 'appropriate', {at:DateTime64(3)}, 'decide', 'test', 'test', {at:DateTime64(3)}, {keep:Date})`, p); err != nil {
		return fmt.Errorf("add the test's review items: %w", err)
	}
	// A recertification campaign past its due date, one of two accounts decided.
	if err := s.Exec(ctx, `INSERT INTO `+db+`.recert_campaigns (tenant_id, campaign_id, quarter, systems, status, due_date, created_by,
		created_at, changed_by, changed_at, reason, retain_until) VALUES ({t:String}, 'dashboards-test', '2026-Q3', ['ehr'], 'open',
		{month:Date}, 'test', {at:DateTime64(3)}, 'test', {at:DateTime64(3)}, 'dashboards test', {keep:Date})`, p); err != nil {
		return fmt.Errorf("add the test's recertification campaign: %w", err)
	}
	if err := s.Exec(ctx, `INSERT INTO `+db+`.recert_items (tenant_id, campaign_id, item_id, system, account_id, created_at, retain_until)
		VALUES ({t:String}, 'dashboards-test', 'a1', 'ehr', 'a1', {at:DateTime64(3)}, {keep:Date}),
		       ({t:String}, 'dashboards-test', 'a2', 'ehr', 'a2', {at:DateTime64(3)}, {keep:Date})`, p); err != nil {
		return fmt.Errorf("add the test's recertification items: %w", err)
	}
	return s.Exec(ctx, `INSERT INTO `+db+`.recert_decisions (tenant_id, campaign_id, item_id, decision, reason, decided_by, decided_at,
		retain_until) VALUES ({t:String}, 'dashboards-test', 'a1', 'keep', 'still needed', 'test', {at:DateTime64(3)}, {keep:Date})`, p)
}

// column is one column of a query's result, as DESCRIBE reports it.
type column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

var (
	numericType = regexp.MustCompile(`^(Nullable\()?(LowCardinality\()?(U?Int\d+|Float\d+|Decimal)`)
	timeType    = regexp.MustCompile(`^(Nullable\()?(DateTime|Date)`)
	stringType  = regexp.MustCompile(`^(Nullable\()?(LowCardinality\()?(String|FixedString|Enum)`)
)

// run returns the columns of sql's result and its row count.
func run(ctx context.Context, s store.Store, sql string) ([]column, int, error) {
	var cols []column
	if err := s.Select(ctx, &cols, "DESCRIBE ("+sql+")", nil); err != nil {
		return nil, 0, fmt.Errorf("describe: %w", err)
	}
	var n []struct {
		N int `json:"n"`
	}
	if err := s.Select(ctx, &n, "SELECT toUInt32(count()) AS n FROM ("+sql+")", nil); err != nil {
		return nil, 0, fmt.Errorf("run: %w", err)
	}
	if len(n) != 1 {
		return nil, 0, fmt.Errorf("count returned %d rows", len(n))
	}
	return cols, n[0].N, nil
}

// varsFromDashboard starts from each variable's saved current value.
func varsFromDashboard(d *dashboard) map[string]variable {
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		var cur any
		json.Unmarshal(v.Current.Value, &cur)
		vv := variable{multi: v.Multi, allValue: v.AllValue}
		switch c := cur.(type) {
		case string:
			vv.values = []string{c}
		case []any:
			for _, x := range c {
				vv.values = append(vv.values, fmt.Sprint(x))
			}
		}
		if len(vv.values) == 1 && vv.values[0] == "$__all" {
			vv.all = true
		}
		if v.Type == "textbox" {
			var q string
			json.Unmarshal(v.Query, &q)
			vv.values = []string{q}
		}
		vars[v.Name] = vv
	}
	return vars
}

// panelWants is what a panel reads from its query's result: the columns
// its table transformations, field overrides and options name.
func panelWants(p panel) []string {
	var want []string
	for _, tr := range p.Transformations {
		for c := range tr.Options.RenameByName {
			want = append(want, c)
		}
		for c := range tr.Options.IndexByName {
			want = append(want, c)
		}
	}
	for _, o := range p.FieldConfig.Overrides {
		if o.Matcher.ID == "byName" {
			if name, ok := o.Matcher.Options.(string); ok {
				want = append(want, name)
			}
		}
	}
	if p.Options.XField != "" {
		want = append(want, p.Options.XField)
	}
	slices.Sort(want)
	return slices.Compact(want)
}

// Every ClickHouse query of every panel and variable, expanded the way
// Grafana and the plugin expand it, runs on the embedded engine against
// the demo month, returns the columns its panel reads, and returns rows.
func TestClickHouseQueriesOnDemoData(t *testing.T) {
	s := shared.store(t)
	ctx := context.Background()
	ran := 0
	for _, d := range loadDashboards(t) {
		base := varsFromDashboard(d)
		base["database"] = variable{values: []string{s.Database()}}
		if base["tenant"].multi {
			// The fleet view with every tenant, and with one chosen.
			all := base["tenant"]
			all.all, all.values = true, []string{demo.Tenant, "another-practice"}
			one := base["tenant"]
			one.all, one.values = false, []string{demo.Tenant}
			runDashboard(ctx, t, s, d, base, map[string]variable{"tenant": all}, "all tenants", &ran)
			runDashboard(ctx, t, s, d, base, map[string]variable{"tenant": one}, "one tenant", &ran)
			continue
		}
		if _, ok := base["tenant"]; ok {
			base["tenant"] = variable{values: []string{demo.Tenant}}
		}
		runDashboard(ctx, t, s, d, base, nil, "", &ran)
		if bytes.Contains(d.raw, []byte("__timezone")) {
			// Grafana's $__timezone for a dashboard set to UTC.
			runDashboard(ctx, t, s, d, base, map[string]variable{"__timezone": {values: []string{"utc"}}}, "timezone utc", &ran)
		}
	}
	for title := range statAtLeast {
		found := false
		for _, d := range loadDashboards(t) {
			for _, p := range d.allPanels() {
				found = found || (p.Type == "stat" && p.Title == title)
			}
		}
		if !found {
			t.Errorf("statAtLeast names %q, which is no stat panel", title)
		}
	}
	t.Logf("ran %d ClickHouse queries on the demo month %s to %s", ran, shared.from.Format(time.DateOnly), shared.to.Format(time.DateOnly))
	if ran < 40 {
		t.Errorf("ran only %d ClickHouse queries", ran)
	}
}

func runDashboard(ctx context.Context, t *testing.T, s store.Store, d *dashboard, base, over map[string]variable, scenario string, ran *int) {
	vars := map[string]variable{}
	for k, v := range base {
		vars[k] = v
	}
	for k, v := range over {
		vars[k] = v
	}
	qc := queryContext{from: shared.from, to: shared.to, interval: time.Hour, timezone: "America/New_York", vars: vars}
	if tz, ok := over["__timezone"]; ok {
		qc.timezone = tz.values[0]
	}
	name := filepath.Base(d.file)
	if scenario != "" {
		name += " " + scenario
	}
	t.Run(name, func(t *testing.T) {
		for _, v := range d.Templating.List {
			if v.Type != "query" || v.Datasource == nil || v.Datasource.Type != clickhouseType {
				continue
			}
			var q struct {
				RawSQL string `json:"rawSql"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil || q.RawSQL == "" {
				t.Errorf("variable %s: want a v4 query object with rawSql, got %s", v.Name, v.Query)
				continue
			}
			sql, err := qc.clickhouseSQL(q.RawSQL)
			if err != nil {
				t.Errorf("variable %s: %v", v.Name, err)
				continue
			}
			var rows []map[string]any
			if err := s.Select(ctx, &rows, sql, nil); err != nil {
				t.Errorf("variable %s: %v\n%s", v.Name, err, sql)
				continue
			}
			*ran++
			found := false
			for _, r := range rows {
				for _, val := range r {
					found = found || val == demo.Tenant
				}
			}
			if !found {
				t.Errorf("variable %s: %d options, none is the demo tenant %s", v.Name, len(rows), demo.Tenant)
			}
		}
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				if dsType(p, tg) != clickhouseType {
					continue
				}
				sql, err := qc.clickhouseSQL(tg.RawSQL)
				if err != nil {
					t.Errorf("panel %q: expand: %v", p.Title, err)
					continue
				}
				cols, rows, err := run(ctx, s, sql)
				if err != nil {
					t.Errorf("panel %q: %v\n%s", p.Title, err, sql)
					continue
				}
				*ran++
				checkColumns(t, p, tg, cols)
				if low, ok := statAtLeast[p.Title]; ok && p.Type == "stat" {
					checkStat(ctx, t, s, p, sql, low)
				}
				if rows == 0 {
					t.Errorf("panel %q: no rows on the demo month\n%s", p.Title, sql)
				}
			}
		}
	})
}

func checkColumns(t *testing.T, p panel, tg target, cols []column) {
	t.Helper()
	byName := map[string]string{}
	numeric := 0
	for _, c := range cols {
		byName[c.Name] = c.Type
		if numericType.MatchString(c.Type) {
			numeric++
		}
	}
	for _, w := range panelWants(p) {
		if _, ok := byName[w]; !ok {
			t.Errorf("panel %q reads column %q; the query returns %v", p.Title, w, cols)
		}
	}
	switch {
	case *tg.Format == formatTimeSeries:
		if len(cols) < 2 || !timeType.MatchString(cols[0].Type) || numeric == 0 {
			t.Errorf("panel %q: a time series needs a time column first and a number, got %v", p.Title, cols)
		}
	case p.Type == "stat" || p.Type == "barchart" || p.Type == "piechart":
		if numeric == 0 {
			t.Errorf("panel %q (%s) shows numbers; the query returns %v", p.Title, p.Type, cols)
		}
		if p.Type == "piechart" && !stringType.MatchString(cols[0].Type) {
			t.Errorf("panel %q: a pie chart's first column names the slices, got %v", p.Title, cols)
		}
	case p.Type == "table":
		if len(panelWants(p)) == 0 {
			t.Errorf("panel %q: a table should name its columns (organize transformation)", p.Title)
		}
	}
	if *tg.Format == formatTable && p.Type == "timeseries" {
		t.Errorf("panel %q: a time series panel with a table query", p.Title)
	}
	for _, c := range cols {
		if strings.HasPrefix(c.Type, "Map(") || strings.HasPrefix(c.Type, "Tuple(") {
			t.Errorf("panel %q: column %s is a %s, which Grafana shows as JSON text", p.Title, c.Name, c.Type)
		}
	}
}

// statAtLeast is the least each of these stats shows on the test's data:
// what the demo month (and addRareEvents) holds, so a query that runs but
// counts the wrong thing fails.
var statAtLeast = map[string]float64{
	"Tenants reporting":        1,
	"Events":                   1000,
	"Open cases":               1,
	"Critical and high alerts": 1,
	"Dead letters":             1,
	"Overdue recertifications": 1,
	"Patient record accesses":  1000,
	"Patients":                 10,
	"Users":                    5,
	"After-hours share":        0.001,
	"VPN sessions":             1,
	"Failed sign-ins":          1,
	"Countries":                2,
	"Impossible travel":        1,
	"Mail to personal domains": 1,
}

func checkStat(ctx context.Context, t *testing.T, s store.Store, p panel, sql string, low float64) {
	t.Helper()
	var rows []map[string]any
	if err := s.Select(ctx, &rows, "SELECT * FROM ("+sql+") LIMIT 1", nil); err != nil || len(rows) != 1 {
		t.Errorf("panel %q: read its value: %v (%d rows)", p.Title, err, len(rows))
		return
	}
	for _, v := range rows[0] {
		var f float64
		if _, err := fmt.Sscan(fmt.Sprint(v), &f); err != nil {
			continue
		}
		if f >= low && (p.Title != "After-hours share" || f <= 1) {
			return
		}
	}
	t.Errorf("panel %q shows %v; want at least %v on the test's data", p.Title, rows[0], low)
}
