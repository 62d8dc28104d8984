package cli

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/phiwatch/phiwatch/ingest"
	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/ingest/reference"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/store"
)

const replayUsage = `--tenant T --input FORMAT=PATH [--input …] [--reference KIND=PATH …] --out alerts.ndjson [--timezone Z] [--dir DIR]`

// pairs is a repeatable KEY=PATH flag.
type pairs []string

func (p *pairs) String() string { return strings.Join(*p, ",") }

func (p *pairs) Set(v string) error {
	k, path, ok := strings.Cut(v, "=")
	if !ok || k == "" || path == "" {
		return fmt.Errorf("%q: want NAME=PATH", v)
	}
	*p = append(*p, v)
	return nil
}

// ReplayAlert is one line of replay's output: an alert as a reviewer reads it.
type ReplayAlert struct {
	AlertID       string    `json:"alert_id"`
	Rule          string    `json:"rule"`
	Severity      string    `json:"severity"`
	Score         float64   `json:"score"`
	ActorID       string    `json:"actor_id"`
	ActorName     string    `json:"actor_name"`
	ActorRole     string    `json:"actor_role"`
	PatientIDs    []string  `json:"patient_ids"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	Reason        string    `json:"reason"`
	Explanations  []string  `json:"explanations"`
	EvidenceCount uint32    `json:"evidence_count"`
}

// setupReplay is `phiwatch replay`: a tenant's exported logs through the
// whole pipeline on a fresh embedded store, alerts to a file. It answers
// "what would phiwatch have flagged in these logs?" without a deployment,
// and gives detector changes a reproducible before/after.
func setupReplay(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		lg                   logFlags
		inputs, refs         pairs
		tenant, out, dir, tz string
		hours                string
	)
	lg.register(fs)
	fs.StringVar(&tenant, "tenant", "", "tenant the logs belong to (required)")
	fs.Var(&inputs, "input", "FORMAT=PATH of a log file to replay (repeatable; formats: phiwatch parse --list)")
	fs.Var(&refs, "reference", "KIND=PATH of a reference file to import first (repeatable; kinds: roster, accounts, patients, practitioners, practitioner-roles, appointments, encounters)")
	fs.StringVar(&out, "out", "", "file to write the alerts to, one JSON object a line (required; - for stdout)")
	fs.StringVar(&dir, "dir", "", "directory for the embedded store (default: a temporary one, removed afterwards)")
	fs.StringVar(&tz, "timezone", "UTC", "practice's time zone (IANA name); also the zone of log formats whose times carry none")
	fs.StringVar(&hours, "practice-hours", "mon-fri 07:00-19:00", "practice opening hours, the baseline for people without history")
	return func(ctx context.Context, args []string) error {
		log, err := lg.logger(e.stderr)
		if err != nil {
			return err
		}
		if len(args) > 0 {
			return fmt.Errorf("replay takes no arguments (give files with --input FORMAT=PATH), got %q", strings.Join(args, " "))
		}
		if tenant == "" || len(inputs) == 0 || out == "" {
			return errors.New("usage: phiwatch replay " + replayUsage)
		}
		af := analyzeFlags{timezone: tz, hours: hours}
		loc, _, err := af.tenantSettings()
		if err != nil {
			return err
		}
		if dir == "" {
			if dir, err = os.MkdirTemp("", "phiwatch-replay-"); err != nil {
				return fmt.Errorf("create a directory for the replay's store: %w", err)
			}
			defer os.RemoveAll(dir)
		} else if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			return fmt.Errorf("--dir %s is not empty; a replay starts from an empty store", dir)
		}
		var w io.Writer = e.stdout
		if out != "-" {
			f, err := os.Create(out)
			if err != nil {
				return fmt.Errorf("create the alerts file: %w", err)
			}
			defer f.Close()
			w = f
		}
		sum, err := runReplay(ctx, replayPlan{tenant: tenant, inputs: inputs, refs: refs, dir: dir, loc: loc, af: &af}, w, log)
		if err != nil {
			return err
		}
		if f, ok := w.(*os.File); ok && out != "-" {
			if err := f.Close(); err != nil {
				return fmt.Errorf("write the alerts file: %w", err)
			}
		}
		sum.print(e.stderr, out)
		return nil
	}
}

type replayPlan struct {
	tenant       string
	inputs, refs []string
	dir          string
	loc          *time.Location
	af           *analyzeFlags
}

type replaySummary struct {
	records, events, deadLetters int64
	window                       analyze.Window
	alerts                       int
	byRule, bySeverity           map[string]int
	topCases                     []store.CaseRow
}

func (s replaySummary) print(w io.Writer, out string) {
	fmt.Fprintf(w, "replayed %d records: %d events, %d dead letters\n", s.records, s.events, s.deadLetters)
	if s.window.From.IsZero() {
		fmt.Fprintln(w, "no events: nothing to analyze")
		return
	}
	fmt.Fprintf(w, "detectors ran over %s to %s: %d alerts written to %s\n",
		s.window.From.UTC().Format(time.RFC3339), s.window.To.UTC().Format(time.RFC3339), s.alerts, out)
	for _, sev := range []string{analyze.SeverityCritical, analyze.SeverityHigh, analyze.SeverityMedium, analyze.SeverityLow} {
		if n := s.bySeverity[sev]; n > 0 {
			fmt.Fprintf(w, "  %-8s %d\n", sev, n)
		}
	}
	rules := make([]string, 0, len(s.byRule))
	for r := range s.byRule {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		fmt.Fprintf(w, "  %-32s %d\n", r, s.byRule[r])
	}
	for i, c := range s.topCases {
		if i == 0 {
			fmt.Fprintln(w, "riskiest cases:")
		}
		who := c.ActorName
		if who == "" {
			who = c.ActorID
		}
		fmt.Fprintf(w, "  %5.1f  %s: %s\n", c.RiskScore, who, c.Summary)
	}
}

// runReplay loads the plan into a fresh embedded store, runs the detectors
// over the events' whole time range and writes the alerts to w.
func runReplay(ctx context.Context, p replayPlan, w io.Writer, log *slog.Logger) (replaySummary, error) {
	sum := replaySummary{}
	// Check every input before the slow part, so a typo fails in a second.
	type input struct {
		format, path string
		parser       parsers.Parser
	}
	var ins []input
	for _, v := range p.inputs {
		format, path, _ := strings.Cut(v, "=")
		pr, err := parsers.Lookup(format)
		if err != nil {
			return sum, fmt.Errorf("--input %s: %w", v, err)
		}
		if ls, ok := pr.(parsers.LocationSetter); ok {
			pr = ls.WithLocation(p.loc)
		}
		if _, err := os.Stat(path); err != nil {
			return sum, fmt.Errorf("--input %s: %w", v, err)
		}
		ins = append(ins, input{format, path, pr})
	}
	type ref struct {
		kind reference.Kind
		path string
	}
	var rs []ref
	for _, v := range p.refs {
		k, path, _ := strings.Cut(v, "=")
		kind, err := reference.ParseKind(k)
		if err != nil {
			return sum, fmt.Errorf("--reference %s: %w", v, err)
		}
		if _, err := os.Stat(path); err != nil {
			return sum, fmt.Errorf("--reference %s: %w", v, err)
		}
		rs = append(rs, ref{kind, path})
	}

	s, err := store.Open(ctx, store.Options{DSN: "chdb:" + filepath.Join(p.dir, "chdb")})
	if err != nil {
		return sum, err
	}
	defer s.Close()
	if _, err := store.Migrate(ctx, s, log); err != nil {
		return sum, err
	}

	// Events first: every reference import rebuilds the identity links
	// from the actors seen in the events, too.
	m := metrics.New()
	mem := bus.NewMemory(20000)
	lf := loaderFlags{rows: 20000, bytes: 32 << 20, wait: 200 * time.Millisecond, retentionDay: retentionFlag{days: 7 * 365}}
	type loaded struct {
		events, dead int64
		err          error
	}
	done := make(chan loaded, 1)
	loadCtx, stopLoaders := context.WithCancel(ctx)
	defer stopLoaders()
	go func() {
		ev, dl, err := runLoaders(loadCtx, &lf, mem.Consumer(bus.DefaultEventsTopic), mem.Consumer(bus.DefaultDeadLetterTopic), mem,
			bus.DefaultDeadLetterTopic, bus.DefaultEventsTopic, s, m, log, func() { mem.CloseTopic(bus.DefaultDeadLetterTopic) })
		done <- loaded{ev, dl, err}
	}()
	for _, in := range ins {
		pl := &ingest.Pipeline{Parser: in.parser, Producer: mem, EventsTopic: bus.DefaultEventsTopic, DeadLetterTopic: bus.DefaultDeadLetterTopic,
			Tenant: p.tenant, SourceName: strings.TrimSuffix(filepath.Base(in.path), filepath.Ext(in.path)), Metrics: m, Log: log}
		if err := readFile(ctx, pl, in.path); err != nil {
			stopLoaders()
			<-done
			return sum, err
		}
		st := pl.Stats()
		sum.records += st.Records
		log.Info("input read", "file", in.path, "format", in.format, "records", st.Records, "events", st.Events, "dead_letters", st.DeadLetters)
	}
	mem.CloseTopic(bus.DefaultEventsTopic)
	res := <-done
	if res.err != nil {
		return sum, fmt.Errorf("load the replayed events: %w", res.err)
	}
	sum.events, sum.deadLetters = res.events, res.dead

	for _, r := range rs {
		if err := importReference(ctx, s, p.tenant, r.kind, r.path); err != nil {
			return sum, err
		}
	}

	var span []struct {
		N    uint64    `json:"n"`
		From time.Time `json:"first_time"`
		To   time.Time `json:"last_time"`
	}
	if err := s.Select(ctx, &span, "SELECT count() AS n, min(time) AS first_time, max(time) AS last_time FROM "+s.Database()+".events WHERE tenant_id = {tenant:String}",
		store.Params{"tenant": p.tenant}); err != nil {
		return sum, fmt.Errorf("read the replayed events' time range: %w", err)
	}
	if len(span) == 0 || span[0].N == 0 {
		return sum, nil
	}
	// To is exclusive: one millisecond past the last event keeps it in.
	sum.window = analyze.Window{From: span[0].From, To: span[0].To.Add(time.Millisecond)}
	ar, err := runDetectors(ctx, s, p.af, sum.window, 0, nil, log)
	if err != nil {
		return sum, err
	}
	sum.byRule, sum.bySeverity = ar.ByRule, ar.BySeverity

	var alerts []ReplayAlert
	if err := s.Select(ctx, &alerts, `
SELECT alert_id, rule, severity, score, actor_id, actor_name, actor_role, patient_ids, first_seen, last_seen, reason, explanations, evidence_count
FROM `+s.Database()+`.alerts_current WHERE tenant_id = {tenant:String}
ORDER BY multiIf(severity = 'critical', 4, severity = 'high', 3, severity = 'medium', 2, 1) DESC, first_seen, alert_id`,
		store.Params{"tenant": p.tenant}); err != nil {
		return sum, fmt.Errorf("read the alerts: %w", err)
	}
	enc := json.NewEncoder(w)
	for _, a := range alerts {
		if err := enc.Encode(a); err != nil {
			return sum, fmt.Errorf("write the alerts: %w", err)
		}
	}
	sum.alerts = len(alerts)
	if err := s.Select(ctx, &sum.topCases, "SELECT * REPLACE (toDateTime(retain_until) AS retain_until) FROM "+s.Database()+
		".cases_current WHERE tenant_id = {tenant:String} ORDER BY risk_score DESC, case_id LIMIT 5", store.Params{"tenant": p.tenant}); err != nil {
		return sum, fmt.Errorf("read the cases: %w", err)
	}
	return sum, nil
}

func readFile(ctx context.Context, pl *ingest.Pipeline, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pl.Read(ctx, f, path)
}

func importReference(ctx context.Context, s store.Store, tenant string, kind reference.Kind, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	imp, err := reference.Import(ctx, s, f, reference.Options{Tenant: tenant, Kind: kind, Source: path, ImportedBy: "replay"})
	if err == nil {
		err = imp.LinksErr
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	if n := len(imp.Rejected); n > 0 {
		// A replay is for testing what the detectors make of the data: a
		// record left out silently would change the answer.
		return fmt.Errorf("import %s: %d records rejected, the first: %v", path, n, imp.Rejected[0])
	}
	return nil
}
