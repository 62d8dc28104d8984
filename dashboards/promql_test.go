package dashboards

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/phiwatch/phiwatch/api"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/store"
)

// recordingRegisterer keeps what a role registers besides passing it on.
type recordingRegisterer struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registerer.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// nopQuerier satisfies api.Config; building the handler reads nothing.
type nopQuerier struct{ store.Querier }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedSeries lists the series names a phiwatch process can export,
// built as the binary builds its registry: the pipeline's metrics
// (internal/metrics, with the Go and process collectors) and the API's.
// A histogram or summary exports its _bucket, _sum and _count series.
func exportedSeries(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New()
	rec := &recordingRegisterer{Registerer: m.Registry}
	tokens, err := api.NewTokens([]api.Token{{Name: "metrics", Token: "dashboards-test-token-0123456789", Tenants: []string{"t"}, Role: "auditor"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.New(api.Config{Store: nopQuerier{}, Tokens: tokens, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: rec}); err != nil {
		t.Fatalf("build the API as the binary does: %v", err)
	}
	var collectors []prometheus.Collector
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if c, ok := v.Field(i).Interface().(prometheus.Collector); ok && v.Type().Field(i).Name != "Registry" {
			collectors = append(collectors, c)
		}
	}
	collectors = append(collectors, rec.collectors...)

	series := map[string]bool{}
	add := func(name string, histogram bool) {
		if histogram {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				series[name+s] = true
			}
			return
		}
		series[name] = true
	}
	for _, c := range collectors {
		_, histogram := c.(prometheus.Histogram)
		_, histogramVec := c.(*prometheus.HistogramVec)
		_, summary := c.(prometheus.Summary)
		_, summaryVec := c.(*prometheus.SummaryVec)
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			sub := fqName.FindStringSubmatch(d.String())
			if sub == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			add(sub[1], histogram || histogramVec || summary || summaryVec)
			if summary || summaryVec {
				series[sub[1]] = true // quantile series
			}
		}
	}
	// The Go and process collectors, whose series always have values.
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		add(f.GetName(), f.GetType().String() == "HISTOGRAM")
	}
	if !series["phiwatch_loader_insert_duration_seconds_bucket"] || !series["phiwatch_api_requests_total"] || !series["go_goroutines"] {
		t.Fatalf("the registry lacks metrics every build has: %v", slices.Sorted(maps.Keys(series)))
	}
	return series
}

// promQL holds what one expression reads.
type promQL struct {
	series []string      // metric names selected
	ranges time.Duration // the shortest range or subquery window, 0 if none
}

func parsePromQL(expr string) (promQL, error) {
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return promQL{}, err
	}
	var q promQL
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := n.Name
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			if name == "" {
				err = fmt.Errorf("selector %s names no metric", n)
			}
			q.series = append(q.series, name)
		case *parser.MatrixSelector:
			if q.ranges == 0 || n.Range < q.ranges {
				q.ranges = n.Range
			}
		case *parser.SubqueryExpr:
			if q.ranges == 0 || n.Range < q.ranges {
				q.ranges = n.Range
			}
		}
		return nil
	})
	return q, err
}

// checkPromQL parses expr and reports what is wrong with it: a syntax
// error, a metric the code does not export, or a range window shorter than
// four 15 s scrapes (rate() then often sees a single sample).
func checkPromQL(expr string, exported map[string]bool) []string {
	q, err := parsePromQL(expr)
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var problems []string
	for _, s := range q.series {
		if !exported[s] {
			problems = append(problems, fmt.Sprintf("reads %s, which no phiwatch role exports", s))
		}
	}
	if q.ranges != 0 && q.ranges < time.Minute {
		problems = append(problems, fmt.Sprintf("a range of %s is shorter than four scrapes", q.ranges))
	}
	return problems
}

func TestCheckPromQLCatchesMistakes(t *testing.T) {
	exported := map[string]bool{"phiwatch_a_total": true, "phiwatch_h_bucket": true}
	for expr, want := range map[string]string{
		`rate(phiwatch_a_total[5m])`:                                 "",
		`histogram_quantile(0.9, rate(phiwatch_h_bucket[5m]))`:       "",
		`rate(phiwatch_b_total[5m])`:                                 "phiwatch_b_total",
		`{__name__="phiwatch_typo"}`:                                 "phiwatch_typo",
		`sum(rate(phiwatch_a_total[5m])) / sum(phiwatch_h_count)`:    "phiwatch_h_count",
		`rate(phiwatch_a_total[15s])`:                                "shorter than four scrapes",
		`rate(phiwatch_a_total[5m]`:                                  "does not parse",
		`max_over_time(rate(phiwatch_a_total[5m])[1h:30s])`:          "",
		`phiwatch_a_total and on (job) rate(phiwatch_ghost[5m]) > 0`: "phiwatch_ghost",
	} {
		got := strings.Join(checkPromQL(expr, exported), "; ")
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: got %q, want %q", expr, got, want)
		}
	}
}

// Every Prometheus query in the dashboards (panels and variables) parses
// and reads only series the code exports.
func TestDashboardPromQL(t *testing.T) {
	exported := exportedSeries(t)
	read := map[string]bool{}
	checked := 0
	for _, d := range loadDashboards(t) {
		vars := varsFromDashboard(d)
		for name, v := range vars {
			if v.all || len(v.values) == 0 || v.values[0] == "" {
				v.values = []string{"riverside-family"}
				vars[name] = v
			}
		}
		qc := queryContext{interval: 30 * time.Second, vars: vars}
		for _, v := range d.Templating.List {
			if v.Datasource == nil || v.Datasource.Type != prometheusType {
				continue
			}
			// A plain string: Grafana's classic Prometheus variable query.
			var q string
			json.Unmarshal(v.Query, &q)
			sel, ok := strings.CutPrefix(q, "label_values(")
			if !ok || !strings.Contains(sel, ",") {
				t.Errorf("%s: variable %s: want label_values(metric, label), got %s", d.file, v.Name, v.Query)
				continue
			}
			sel = sel[:strings.LastIndex(sel, ",")]
			for _, p := range checkPromQL(sel, exported) {
				t.Errorf("%s: variable %s: %s", d.file, v.Name, p)
			}
		}
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				if dsType(p, tg) != prometheusType {
					continue
				}
				expr, err := qc.interpolate(tg.Expr, prometheusFormat)
				if err != nil {
					t.Errorf("%s: panel %q: %v", d.file, p.Title, err)
					continue
				}
				if strings.Contains(expr, "$") {
					t.Errorf("%s: panel %q: a variable is left after interpolation: %s", d.file, p.Title, expr)
				}
				for _, problem := range checkPromQL(expr, exported) {
					t.Errorf("%s: panel %q %s: %s\n%s", d.file, p.Title, tg.RefID, problem, expr)
				}
				q, _ := parsePromQL(expr)
				for _, s := range q.series {
					read[s] = true
				}
				checked++
			}
		}
	}
	if checked < 25 {
		t.Errorf("checked only %d PromQL expressions", checked)
	}
	// What issue 9 asks the pipeline-health dashboard to show.
	for _, s := range []string{"phiwatch_ingest_events_total", "phiwatch_dead_letters_total", "phiwatch_loader_consumer_lag",
		"phiwatch_loader_insert_duration_seconds_bucket", "phiwatch_pull_errors_total", "phiwatch_detector_run_duration_seconds_bucket",
		"phiwatch_api_requests_total", "phiwatch_explained_access_ratio"} {
		if !read[s] {
			t.Errorf("no dashboard panel reads %s", s)
		}
	}
}

// alertRules is a Prometheus rule file.
type alertRules struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// The alert rules parse, read only exported series, wait a sane time
// before firing, and tell the on-call person what happened and what to do.
func TestAlertRules(t *testing.T) {
	exported := exportedSeries(t)
	var rf alertRules
	readYAMLStrict(t, "prometheus/alerts.yaml", &rf)
	if len(rf.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	// Prometheus runs annotation templates with these defined.
	funcs := template.FuncMap{"humanize": fmt.Sprint, "humanizeDuration": fmt.Sprint, "humanizePercentage": fmt.Sprint}
	names := map[string]bool{}
	read := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" || r.Record != "" {
				t.Errorf("group %s: only alerting rules belong here, got %+v", g.Name, r)
				continue
			}
			if names[name] || !strings.HasPrefix(name, "Phiwatch") {
				t.Errorf("%s: alert names must be unique and start with Phiwatch", name)
			}
			names[name] = true
			for _, p := range checkPromQL(r.Expr, exported) {
				t.Errorf("%s: %s", name, p)
			}
			q, _ := parsePromQL(r.Expr)
			for _, s := range q.series {
				read[s] = true
			}
			if r.For == "" {
				t.Errorf("%s: no for: (write 0m to fire on the first evaluation on purpose)", name)
			} else if d, err := model.ParseDuration(r.For); err != nil || time.Duration(d) > time.Hour {
				t.Errorf("%s: for %q: want a duration of at most 1h (%v)", name, r.For, err)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity label %q: want warning or critical", name, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				text := strings.TrimSpace(r.Annotations[a])
				if len(text) < 20 {
					t.Errorf("%s: annotation %s is missing or too short to help: %q", name, a, text)
					continue
				}
				if _, err := template.New(a).Funcs(funcs).Parse("{{$labels := .Labels}}{{$value := .Value}}" + text); err != nil {
					t.Errorf("%s: annotation %s is not a valid template: %v", name, a, err)
				}
			}
		}
	}
	// The alerts issue 9 asks for, by what they must read.
	for what, s := range map[string]string{
		"consumer lag":         "phiwatch_loader_consumer_lag",
		"stalled loader":       "phiwatch_loader_last_insert_timestamp_seconds",
		"dead-letter spike":    "phiwatch_dead_letters_total",
		"puller failures":      "phiwatch_pull_errors_total",
		"API 5xx rate":         "phiwatch_api_requests_total",
		"detector not running": "phiwatch_detector_run_duration_seconds_count",
		"detector slow":        "phiwatch_detector_run_duration_seconds_sum",
	} {
		if !read[s] {
			t.Errorf("no alert for %s (reading %s)", what, s)
		}
	}
}
