package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/analyze"
	"github.com/phiwatch/phiwatch/api"
	"github.com/phiwatch/phiwatch/ingest"
	"github.com/phiwatch/phiwatch/ingest/enrich"
	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/ingest/reference"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/demo"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/recert"
	"github.com/phiwatch/phiwatch/internal/records"
	"github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

// demoRun is what one demo pipeline run produced.
type demoRun struct {
	out        *demo.Output
	store      store.Store
	metrics    *metrics.Metrics
	events     int64
	deadLetter int64
	alerts     []api.Alert
	// loaded is when the last event was in the store and detected when the
	// alerts were: the batch run's arrival-to-alert latency.
	loaded, detected time.Time
	total            time.Duration
	tenant           analyze.Tenant // as the detectors saw it
	window           analyze.Window
}

// runDemoPipeline generates the practice into dir and runs it through the
// real pipeline in one process: parsers → in-process bus → loaders → the
// embedded ClickHouse engine → detectors. progress gets one line per step.
func runDemoPipeline(ctx context.Context, dir string, seed uint64, progress io.Writer, log *slog.Logger) (*demoRun, error) {
	step := func(format string, args ...any) { fmt.Fprintf(progress, "  "+format+"\n", args...) }
	start := time.Now()
	out, err := demo.Generate(demo.Options{Seed: seed})
	if err != nil {
		return nil, err
	}
	step("generated %s: %d staff, %s to %s (%s), %d EHR audit events, %d Microsoft 365 records, %d Cisco ASA lines",
		demo.Tenant, len(out.Staff), out.Start.Format("2 Jan"), out.End.AddDate(0, 0, -1).Format("2 Jan 2006"), out.Location,
		out.Records["fhir-auditevent"], out.Records["m365-audit"], out.Records["cisco-asa"])
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o750); err != nil {
		return nil, err
	}
	inputs := []struct {
		file, format string
		data         []byte
	}{
		{"ehr-auditevents.ndjson", "fhir-auditevent", out.FHIR},
		{"m365-audit.ndjson", "m365-audit", out.M365},
		{"asa.log", "cisco-asa", out.ASA},
		{"message-trace.csv", "message-trace", out.MessageTrace},
		{"roster.csv", "", []byte(out.Roster)},
		{"geoip.csv", "", []byte(out.GeoCSV)},
	}
	// The reference feeds an operator imports from the EHR's FHIR API.
	refs := []struct {
		file string
		kind reference.Kind
		data []byte
	}{
		{"practitioners.ndjson", reference.KindPractitioners, out.Practitioners},
		{"patients.ndjson", reference.KindPatients, out.Patients},
		{"appointments.ndjson", reference.KindAppointments, out.Appointments},
		{"encounters.ndjson", reference.KindEncounters, out.Encounters},
		{"accounts.csv", reference.KindAccounts, []byte(demo.AccountsCSV(out))},
	}
	for _, r := range refs {
		inputs = append(inputs, struct {
			file, format string
			data         []byte
		}{r.file, "", r.data})
	}
	for _, in := range inputs {
		if err := os.WriteFile(filepath.Join(logs, in.file), in.data, 0o640); err != nil {
			return nil, fmt.Errorf("write the demo's %s: %w", in.file, err)
		}
	}
	step("wrote the raw logs and the roster to %s", logs)

	s, err := store.Open(ctx, store.Options{DSN: "chdb:" + filepath.Join(dir, "chdb")})
	if err != nil {
		return nil, err
	}
	if _, err := store.Migrate(ctx, s, log); err != nil {
		s.Close()
		return nil, err
	}
	run := &demoRun{out: out, store: s, metrics: metrics.New()}
	// The roster goes in the way an operator's does, which also builds the
	// identity links across the EHR, email and VPN accounts.
	imp, err := reference.Import(ctx, s, strings.NewReader(out.Roster), reference.Options{
		Tenant: demo.Tenant, Kind: reference.KindRoster, Source: "roster.csv", ImportedBy: "demo"})
	if err == nil {
		err = imp.LinksErr
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("import the demo roster: %w", err)
	}
	step("%s", imp.Summary(demo.Tenant))
	for _, r := range refs {
		imp, err := reference.Import(ctx, s, bytes.NewReader(r.data), reference.Options{
			Tenant: demo.Tenant, Kind: r.kind, Source: r.file, ImportedBy: "demo"})
		if err == nil {
			err = imp.LinksErr
		}
		if err == nil && len(imp.Rejected) > 0 {
			// The generator writes these records; one the importer turns
			// away is a generator bug, not data to skip.
			err = fmt.Errorf("%d records rejected, the first: %v", len(imp.Rejected), imp.Rejected[0])
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("import the demo's %s: %w", r.file, err)
		}
		step("%s", imp.Summary(demo.Tenant))
	}

	// The demo's public addresses are documentation ranges; a CIDR table
	// places them, so the VPN location rules have something to judge.
	geo, err := enrich.NewGeoIP(enrich.GeoIPOptions{CSVPath: filepath.Join(logs, "geoip.csv"), IncludeDocumentationRanges: true})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("load the demo's GeoIP table: %w", err)
	}
	defer geo.Close()

	mem := bus.NewMemory(20000)
	// The streaming detectors judge the events as the parsers publish them
	// (a flood here: the month arrives in seconds), beside the loader.
	af := analyzeFlags{timezone: out.Location.String(), hours: "mon-fri 07:00-19:00", tenantsYAML: []byte(out.Tenants)}
	st, err := newStream(s, &af, 0, time.Minute, run.metrics, log)
	if err != nil {
		return nil, err
	}
	var streamed, streamEvents int
	st.OnBatch = func(b analyze.StreamBatch) {
		observeStream(run.metrics, b)
		streamed += len(b.Alerts)
		streamEvents += b.Events
	}
	ms := startMemStream(ctx, st, mem, log)
	defer ms.stop()
	lf := loaderFlags{rows: 20000, bytes: 32 << 20, wait: 200 * time.Millisecond, retentionDay: retentionFlag{days: 7 * 365}}
	type loaded struct {
		events, dead int64
		err          error
	}
	done := make(chan loaded, 1)
	go func() {
		ev, dl, err := runLoaders(ctx, &lf, mem.Consumer(bus.DefaultEventsTopic), mem.Consumer(bus.DefaultDeadLetterTopic), mem,
			bus.DefaultDeadLetterTopic, bus.DefaultEventsTopic, s, run.metrics, log, func() { mem.CloseTopic(bus.DefaultDeadLetterTopic) })
		done <- loaded{ev, dl, err}
	}()
	for _, in := range inputs[:4] {
		p, err := parsers.Lookup(in.format)
		if err != nil {
			return nil, err
		}
		pl := &ingest.Pipeline{Parser: p, Producer: copyTopic{Producer: mem, from: bus.DefaultEventsTopic, to: streamTopic}, EventsTopic: bus.DefaultEventsTopic, DeadLetterTopic: bus.DefaultDeadLetterTopic,
			Tenant: demo.Tenant, SourceName: strings.TrimSuffix(in.file, filepath.Ext(in.file)), Metrics: run.metrics, Log: log,
			Enrich: geo.Enrich}
		if err := pl.Read(ctx, bytes.NewReader(in.data), in.file); err != nil {
			return nil, err
		}
		st := pl.Stats()
		step("parsed %-22s with %-16s %6d records → %6d events, %d dead letters", in.file, in.format, st.Records, st.Events, st.DeadLetters)
	}
	mem.CloseTopic(bus.DefaultEventsTopic)
	res := <-done
	if res.err != nil {
		return nil, res.err
	}
	run.events, run.deadLetter, run.loaded = res.events, res.dead, time.Now()
	step("loaded %d events and %d dead letters into the embedded ClickHouse engine", res.events, res.dead)
	ms.drain(mem)
	step("streaming detectors judged %d events as they arrived: %d alert versions written", streamEvents, streamed)

	w := analyze.Window{From: out.Start, To: out.End}
	loc, hours, err := af.tenantSettings()
	if err != nil {
		return nil, err
	}
	run.tenant, run.window = analyze.Tenant{ID: demo.Tenant, Location: loc, Hours: hours}, w
	ar, err := runDetectors(ctx, s, &af, w, 0, run.metrics, log)
	if err != nil {
		return nil, err
	}
	run.detected = time.Now()
	step("ran the detectors over the month: %d alerts %v", ar.Alerts, ar.BySeverity)
	var alerts []api.Alert
	if err := s.Select(ctx, &alerts, `SELECT alert_id, rule, severity, score, actor_id, actor_name, actor_role, patient_ids,
		first_seen, last_seen, reason, evidence_event_ids, evidence_count, explanations, detector_version, detected_at
		FROM `+s.Database()+`.alerts_current WHERE tenant_id = {t:String}
		  AND alert_id NOT IN (SELECT alert_id FROM `+s.Database()+`.alert_suppressions WHERE tenant_id = {t:String}) -- the worklist: allow-listed alerts are recorded as suppressed
		ORDER BY multiIf(severity = 'critical', 4, severity = 'high', 3, severity = 'medium', 2, 1) DESC, first_seen`,
		store.Params{"t": demo.Tenant}); err != nil {
		return nil, err
	}
	run.alerts = alerts
	if err := openDemoRecertification(ctx, s, out, step); err != nil {
		return nil, err
	}
	if err := openDemoReview(ctx, s, out, step); err != nil {
		return nil, err
	}
	run.total = time.Since(start)
	step("done in %s", run.total.Round(100*time.Millisecond))
	return run, nil
}

func setupDemo(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg, dir, listen string
		seed             uint64
		exit             bool
		lg               logFlags
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	fs.StringVar(&dir, "dir", "", "where to put the demo's logs and store (default: a new temporary directory)")
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "API address")
	fs.Uint64Var(&seed, "seed", 1, "generator seed (the same seed gives the same practice)")
	fs.BoolVar(&exit, "exit", false, "exit after the pipeline ran instead of serving the API")
	lg.register(fs)
	return func(ctx context.Context, args []string) error {
		if lg.level == "info" {
			lg.level = "warn" // the demo prints its own progress
		}
		log, err := lg.logger(e.stderr)
		if err != nil {
			return err
		}
		if dir == "" {
			if dir, err = os.MkdirTemp("", "phiwatch-demo-"); err != nil {
				return err
			}
		} else if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			return fmt.Errorf("--dir %s is not empty; the demo starts from nothing", dir)
		}
		fmt.Fprintf(e.stdout, "phiwatch demo: one practice's month through the whole pipeline, on the embedded ClickHouse engine\n")
		run, err := runDemoPipeline(ctx, dir, seed, e.stdout, log)
		if err != nil {
			return err
		}
		defer run.store.Close()
		printAlerts(e.stdout, run)
		if exit {
			return nil
		}
		// A real stored token, as `phiwatch token create` makes them.
		access := api.NewAccess(run.store, api.AccessOptions{})
		tok, _, err := access.CreateToken(ctx, &authz.Principal{Subject: "cli:demo", Name: "demo", Role: authz.MSPAdmin, AllTenants: true, Via: "cli"},
			api.TokenRequest{Name: "demo", Role: authz.PrivacyOfficer, Scope: api.Scope{Tenants: []string{demo.Tenant}}, Expires: "7d", Reason: "phiwatch demo"})
		if err != nil {
			return err
		}
		// The reviewer UI signs in with the same token: the demo has no
		// identity provider.
		sessions, err := api.NewSessions(api.SessionConfig{Key: api.NewSessionKey()})
		if err != nil {
			return err
		}
		a, err := startAPIWith(apiOptions{addr: listen, cfg: api.Config{Access: access, Sessions: sessions, TokenLogin: true,
			RateLimit: api.RateLimit{Rate: 20, Burst: 60}}}, run.store, run.metrics, log)
		if err != nil {
			return err
		}
		defer a.Shutdown()
		from := run.out.Start.UTC().Format(time.RFC3339)
		fmt.Fprintf(e.stdout, `
The API is up at %[1]s (a stored API token of a privacy officer, valid 7 days; Ctrl-C stops the API).

  curl -s -H 'Authorization: Bearer %[2]s' '%[1]s/api/v1/tenants/%[3]s/alerts?from=%[4]s'
  curl -s -H 'Authorization: Bearer %[2]s' '%[1]s/api/v1/tenants/%[3]s/events?actor=dortiz&from=%[4]s&limit=5'

Reviewer UI: %[1]s/ui/ (sign in with the token above)
Raw logs: %[5]s/logs   Metrics: %[1]s/metrics
Look inside the store with: phiwatch query --store chdb:%[5]s/chdb 'SELECT count() FROM phiwatch.events'
(stop the demo first: the embedded engine allows one process per store)
`, a.URL(), tok, demo.Tenant, from, dir)
		<-ctx.Done()
		return nil
	}
}

func printAlerts(w io.Writer, run *demoRun) {
	fmt.Fprintf(w, "\nAlerts for %s, most severe first:\n", demo.Tenant)
	sort.SliceStable(run.alerts, func(i, j int) bool {
		return severityOrder(run.alerts[i].Severity) > severityOrder(run.alerts[j].Severity)
	})
	for _, a := range run.alerts {
		fmt.Fprintf(w, "  [%-8s] %-25s %s\n", a.Severity, a.Rule, a.Reason)
	}
	fmt.Fprintf(w, "\nInjected cases (%d):\n", len(run.out.Cases))
	for _, c := range run.out.Cases {
		found := "MISSED"
		for _, a := range run.alerts {
			if caseMatches(c, a, run.out.Location) {
				found = "alerted"
				break
			}
		}
		fmt.Fprintf(w, "  %-8s %s\n", found, c.Name)
	}
}

func severityOrder(s string) int {
	for i, v := range analyze.Severities {
		if v == s {
			return i
		}
	}
	return -1
}

// caseMatches reports whether an alert is the one an injected case expects.
func caseMatches(c demo.Case, a api.Alert, loc *time.Location) bool {
	return a.Rule == c.Rule && a.ActorID == c.ActorID &&
		a.FirstSeen.In(loc).Format("2006-01-02") == c.Day.In(loc).Format("2006-01-02")
}

// openDemoRecertification opens the quarter's access recertification over
// the demo's account inventories, as a practice admin would.
func openDemoRecertification(ctx context.Context, s store.Store, out *demo.Output, step func(string, ...any)) error {
	last := out.End.AddDate(0, 0, -1)
	q := recert.Quarter{Year: last.Year(), Q: (int(last.Month())-1)/3 + 1}
	ts, err := store.ForTenant(s, demo.Tenant)
	if err != nil {
		return err
	}
	c, items, err := recert.Create(ctx, ts, recert.CreateRequest{Quarter: q, By: recert.Actor{ID: "demo", Name: "demo"}, Now: out.End})
	if err != nil {
		return fmt.Errorf("open the demo's access recertification: %w", err)
	}
	flags := map[string]int{}
	for _, it := range items {
		for _, f := range it.Flags {
			flags[f]++
		}
	}
	step("opened the %s access recertification %s: %d accounts, flags %v", c.Quarter, c.CampaignID, len(items), flags)
	return nil
}

// openDemoReview opens the month's log review, as the API's job would on
// the first of the next month, and fills the compliance records of a small
// practice (risk analysis, policies, training, business associates, an
// incident, the audit calendar) so every page has something to show.
func openDemoReview(ctx context.Context, s store.Store, out *demo.Output, step func(string, ...any)) error {
	ts, err := store.ForTenant(s, demo.Tenant)
	if err != nil {
		return err
	}
	last := out.End.AddDate(0, 0, -1)
	svc := review.NewService(review.Config{}, records.ReviewIncidents{}, func() time.Time { return out.End })
	p, err := svc.EnsurePeriod(ctx, ts, review.Month{Year: last.Year(), Month: last.Month()}, "demo")
	if err != nil {
		return fmt.Errorf("open the demo's log review: %w", err)
	}
	if err := records.SeedDemo(ctx, ts, records.DateOf(out.End)); err != nil {
		return fmt.Errorf("seed the demo's compliance records: %w", err)
	}
	step("opened the %s log review (sample of %d unflagged accesses, seed %s) and filled the compliance records", p.Period, p.SampleSize, p.Seed)
	return nil
}
