package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"
	_ "time/tzdata" // practices' time zones must resolve on any machine

	"github.com/phiwatch/phiwatch/analyze"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/opsserver"
	"github.com/phiwatch/phiwatch/internal/store"
)

// analyzeFlags configure the detectors.
type analyzeFlags struct {
	timezone, hours string
	from, to        string
	lookback        time.Duration
	interval        time.Duration
	once            bool
	// tenantsFile tunes the detectors per tenant (analyze.TenantsFile);
	// read at every run, so an edit applies from the next run on.
	// tenantsYAML is its content when it comes from elsewhere (the demo).
	tenantsFile string
	tenantsYAML []byte
}

func (a *analyzeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.timezone, "timezone", "UTC", "practices' local time zone (IANA name, e.g. America/New_York)")
	fs.StringVar(&a.hours, "practice-hours", "mon-fri 07:00-19:00", "practice opening hours, the baseline for people without history")
	fs.StringVar(&a.from, "from", "", "start of the window to analyze (RFC 3339; default: now - lookback)")
	fs.StringVar(&a.to, "to", "", "end of the window (RFC 3339; default: now)")
	fs.DurationVar(&a.lookback, "lookback", 48*time.Hour, "window length when --from is not given; late events inside it are picked up")
	fs.DurationVar(&a.interval, "interval", 5*time.Minute, "time between runs")
	fs.BoolVar(&a.once, "once", false, "run once and exit")
	fs.StringVar(&a.tenantsFile, "tenants-file", "", "YAML file tuning the detectors per tenant: time zone, practice hours, thresholds, disabled rules, allow-lists (docs/detectors-volume.md)")
}

// tuning reads the tenants file; nil when there is none.
func (a *analyzeFlags) tuning(now time.Time) (*analyze.TenantsFile, error) {
	data := a.tenantsYAML
	if a.tenantsFile != "" {
		var err error
		if data, err = os.ReadFile(a.tenantsFile); err != nil {
			return nil, fmt.Errorf("--tenants-file: %w", err)
		}
	}
	if data == nil {
		return nil, nil
	}
	f, err := analyze.LoadTenantsFile(data, now)
	if err != nil && a.tenantsFile != "" {
		return nil, fmt.Errorf("--tenants-file %s: %w", a.tenantsFile, err)
	}
	return f, err
}

func (a *analyzeFlags) window(now time.Time) (analyze.Window, error) {
	w := analyze.Window{To: now, From: now.Add(-a.lookback)}
	var err error
	if a.to != "" {
		if w.To, err = time.Parse(time.RFC3339, a.to); err != nil {
			return w, fmt.Errorf("--to %q: want RFC 3339, e.g. 2026-11-01T00:00:00Z", a.to)
		}
		w.From = w.To.Add(-a.lookback)
	}
	if a.from != "" {
		if w.From, err = time.Parse(time.RFC3339, a.from); err != nil {
			return w, fmt.Errorf("--from %q: want RFC 3339, e.g. 2026-10-01T00:00:00Z", a.from)
		}
	}
	if !w.From.Before(w.To) {
		return w, fmt.Errorf("--from must be before --to")
	}
	return w, nil
}

func (a *analyzeFlags) tenantSettings() (*time.Location, analyze.PracticeHours, error) {
	loc, err := time.LoadLocation(a.timezone)
	if err != nil {
		return nil, analyze.PracticeHours{}, fmt.Errorf("--timezone %q: %w", a.timezone, err)
	}
	hours, err := analyze.ParsePracticeHours(a.hours)
	if err != nil {
		return nil, hours, fmt.Errorf("--practice-hours: %w", err)
	}
	return loc, hours, nil
}

// runDetectors runs every detector once over w for the tenants with events.
// m may be nil (replay keeps no metrics).
func runDetectors(ctx context.Context, s store.Store, af *analyzeFlags, w analyze.Window, keep time.Duration, m *metrics.Metrics, log *slog.Logger) (analyze.RunResult, error) {
	res, err := detectOnce(ctx, s, af, w, keep, m, log)
	if m != nil {
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.DetectorRuns.WithLabelValues(result).Inc()
	}
	return res, err
}

func detectOnce(ctx context.Context, s store.Store, af *analyzeFlags, w analyze.Window, keep time.Duration, m *metrics.Metrics, log *slog.Logger) (analyze.RunResult, error) {
	loc, hours, err := af.tenantSettings()
	if err != nil {
		return analyze.RunResult{}, err
	}
	ids, err := analyze.TenantsWithEvents(ctx, s, w)
	if err != nil {
		return analyze.RunResult{}, fmt.Errorf("list tenants: %w", err)
	}
	tuning, err := af.tuning(time.Now())
	if err != nil {
		return analyze.RunResult{}, err
	}
	// Each tenant runs its own tuned detectors (analyze.TenantsFile).
	tenants := make([]analyze.Tenant, len(ids))
	res := analyze.RunResult{ByRule: map[string]int{}, BySeverity: map[string]int{}, ByRuleSeverity: map[[2]string]int{}}
	start := time.Now()
	for i, id := range ids {
		t, detectors, err := tuning.Resolve(id, analyze.Tenant{ID: id, Location: loc, Hours: hours}, analyze.BatchDetectors())
		if err != nil {
			return res, err
		}
		tenants[i] = t
		r := &analyze.Runner{Store: s, Log: log, Retention: keep, Detectors: detectors}
		tr, err := r.Run(ctx, []analyze.Tenant{t}, w)
		if err != nil {
			return res, err
		}
		res.Alerts += tr.Alerts
		for k, n := range tr.ByRule {
			res.ByRule[k] += n
		}
		for k, n := range tr.BySeverity {
			res.BySeverity[k] += n
		}
		for k, n := range tr.ByRuleSeverity {
			res.ByRuleSeverity[k] += n
		}
	}
	// Suppressions before cases: a suppressed alert stays stored but must
	// not raise its actor's case (docs/cases.md).
	suppressed, cases := 0, 0
	for _, t := range tenants {
		// Allow-list entries become suppressions first, so they are
		// recorded like every other suppression.
		if _, err := analyze.SyncAllowList(ctx, s, t.ID, tuning.AllowList(t.ID), w, time.Now(), keep); err != nil {
			return res, err
		}
		n, err := analyze.ApplySuppressions(ctx, s, t.ID, w, time.Now())
		if err != nil {
			return res, err
		}
		suppressed += n
		if n, err = analyze.BuildCases(ctx, s, t.ID, w, time.Now(), keep); err != nil {
			return res, err
		}
		cases += n
	}
	if m != nil {
		for rule, n := range res.ByRuleSeverity {
			m.AlertsWritten.WithLabelValues(rule[0], rule[1]).Add(float64(n))
		}
		for _, t := range tenants {
			ex, err := (analyze.Explainer{}).Explain(ctx, s, t, w)
			if err != nil {
				return res, fmt.Errorf("explained share of %s: %w", t.ID, err)
			}
			if ex.HasSchedule {
				m.ExplainedShare.WithLabelValues(t.ID).Set(ex.Share)
			}
		}
		m.DetectorDuration.Observe(time.Since(start).Seconds())
	}
	log.Info("detectors ran", "tenants", len(tenants), "from", w.From.UTC().Format(time.RFC3339), "to", w.To.UTC().Format(time.RFC3339),
		"alerts", res.Alerts, "by_severity", res.BySeverity, "suppressed", suppressed, "case_versions", cases,
		"duration", time.Since(start).Round(time.Millisecond))
	return res, nil
}

func setupAnalyze(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg    string
		lg     logFlags
		sf     storeFlags
		af     analyzeFlags
		ret    retentionFlag
		kf     kafkaFlags
		sfl    streamFlags
		listen string
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lg.register(fs)
	sf.register(fs)
	af.register(fs)
	ret.register(fs)
	kf.register(fs)
	sfl.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:9467", "address for /metrics, /healthz and /readyz (empty: off)")
	return func(ctx context.Context, args []string) error {
		log, err := lg.logger(e.stderr)
		if err != nil {
			return err
		}
		if len(args) > 0 {
			return fmt.Errorf("analyze takes no arguments")
		}
		keep, err := ret.duration()
		if err != nil {
			return err
		}
		if _, _, err := af.tenantSettings(); err != nil {
			return err
		}
		s, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := store.Migrate(ctx, s, log); err != nil {
			return err
		}
		if af.once {
			w, err := af.window(time.Now())
			if err != nil {
				return err
			}
			res, err := runDetectors(ctx, s, &af, w, keep, nil, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d alerts (%v)\n", res.Alerts, res.BySeverity)
			return nil
		}
		m := metrics.New()
		ops := opsserver.New(listen, m, map[string]opsserver.Check{"store": s.Ping}, log)
		if err := ops.Start(); err != nil {
			return err
		}
		defer ops.Shutdown(context.Background())
		if sfl.enabled {
			st, err := newStream(s, &af, keep, sfl.refresh, m, log)
			if err != nil {
				return err
			}
			st.Hold = af.lookback // what the scheduled run re-reads, the stream keeps
			stop := startStream(ctx, func(ctx context.Context) { runStreamKafka(ctx, st, &kf, sfl.group, log) })
			defer stop()
		}
		for {
			w, err := af.window(time.Now())
			if err != nil {
				return err
			}
			if _, err := runDetectors(ctx, s, &af, w, keep, m, log); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				log.Error("detector run failed; retrying at the next interval", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(af.interval):
			}
		}
	}
}
