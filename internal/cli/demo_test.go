package cli

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/phiwatch/phiwatch/internal/demo"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

// The demo's pipeline, run for real: every injected case raises its alert,
// ordinary work raises (almost) none, and every generated record parses.
func TestDemoFindsInjectedCases(t *testing.T) {
	testenv.RequireChdb(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var progress strings.Builder
	start := time.Now()
	run, err := runDemoPipeline(ctx, t.TempDir(), 1, &progress, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	defer run.store.Close()
	t.Logf("demo pipeline in %s:\n%s", time.Since(start).Round(time.Millisecond), progress.String())

	total := 0
	for _, n := range run.out.Records {
		total += n
	}
	if run.deadLetter != 0 || run.events != int64(total) {
		t.Errorf("loaded %d events and %d dead letters from %d generated records; every demo record should parse", run.events, run.deadLetter, total)
	}
	// What the product reads, not what the loader counted: every event, once.
	var stored []struct {
		N        uint64 `json:"n"`
		Distinct uint64 `json:"distinct_ids"`
	}
	if err := run.store.Select(ctx, &stored, "SELECT count() AS n, uniqExact(event_id) AS distinct_ids FROM phiwatch.events", nil); err != nil {
		t.Fatal(err)
	}
	if stored[0].N != uint64(total) || stored[0].Distinct != uint64(total) {
		t.Fatalf("the store reads %d events (%d distinct), want all %d generated", stored[0].N, stored[0].Distinct, total)
	}
	matched := map[int]bool{}
	for i, c := range run.out.Cases {
		for j, a := range run.alerts {
			if caseMatches(c, a, run.out.Location) {
				matched[j] = true
				t.Logf("case %q → [%s] %s", c.Name, a.Severity, a.Reason)
				if len(a.EvidenceEventIDs) == 0 || a.Reason == "" {
					t.Errorf("alert for %q has no evidence or reason", c.Name)
				}
			}
		}
		found := false
		for j := range run.alerts {
			if matched[j] && caseMatches(c, run.alerts[j], run.out.Location) {
				found = true
			}
		}
		if !found {
			t.Errorf("injected case %d (%s: %s on %s) raised no alert", i, c.Rule, c.ActorID, c.Day.Format("2006-01-02"))
		}
	}
	var extra []string
	for j, a := range run.alerts {
		if !matched[j] {
			extra = append(extra, "["+a.Severity+"] "+a.Reason)
		}
	}
	// A month of ordinary work for ~22 people should cost a reviewer at most
	// a couple of looks.
	if len(extra) > 2 {
		t.Errorf("%d alerts about ordinary activity (want at most 2):\n%s", len(extra), strings.Join(extra, "\n"))
	}
	t.Logf("%d alerts, %d for injected cases, %d about ordinary activity", len(run.alerts), len(matched), len(extra))

	// Every rule the relationship feeds enable has a planted case.
	rules := map[string]bool{}
	for _, c := range run.out.Cases {
		rules[c.Rule] = true
	}
	for _, r := range []string{"family_member_lookup", "coworker_lookup", "restricted_patient_access", "no_clinical_relationship",
		"break_glass_unexplained", "deceased_patient_access", "vpn_new_country", "vpn_impossible_travel"} {
		if !rules[r] {
			t.Errorf("no injected case for %s", r)
		}
	}
	// The hard negatives — explained access that looks like the cases —
	// raise nothing at all, not merely little.
	quiet := map[string]string{"MRN900002": "the restricted patient seen normally", "MRN900006": "a patient who shares Dana's surname",
		"MRN900007": "a patient who shares Dana's surname", "MRN900009": "the on-call physician's night patient"}
	named := false // guards the check below against alerts that name patients some other way
	for _, a := range run.alerts {
		named = named || slices.Contains(a.PatientIDs, "MRN900004")
		if a.ActorID == "rmedina" {
			t.Errorf("HIM's bulk release alerted: [%s] %s", a.Rule, a.Reason)
		}
		for _, p := range a.PatientIDs {
			if what, ok := quiet[p]; ok {
				t.Errorf("%s (%s) alerted: [%s] %s", p, what, a.Rule, a.Reason)
			}
		}
	}
	if !named {
		t.Error("no alert names the family member MRN900004 in patient_ids; the hard-negative check would see nothing")
	}
	for _, n := range run.out.HardNegatives {
		t.Logf("hard negative: %s", n)
	}
	ex, err := scoreDemo(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if !ex.HasSchedule || ex.ExplainedShare < 0.95 {
		t.Errorf("explained-access share %.3f (schedule loaded: %v); the demo's ordinary work is all explained, want ≥ 0.95", ex.ExplainedShare, ex.HasSchedule)
	}
	t.Logf("explained-access share %.1f%% (%d of %d EHR patient accesses)", ex.ExplainedShare*100, ex.Explained, ex.Accesses)
	// The same share reaches Prometheus, and every alert is counted.
	if got := testutil.ToFloat64(run.metrics.ExplainedShare.WithLabelValues(demo.Tenant)); got < 0.95 {
		t.Errorf("phiwatch_explained_access_ratio = %.3f, want ≥ 0.95", got)
	}
	// run.alerts is the worklist; the metric also counts the alerts written
	// and then recorded as suppressed (the demo's HIM allow-list).
	var byRuleSeverity []struct {
		Rule     string `json:"rule"`
		Severity string `json:"severity"`
		N        uint64 `json:"n"`
	}
	if err := run.store.Select(context.Background(), &byRuleSeverity, "SELECT rule, severity, count() AS n FROM "+run.store.Database()+
		".alerts_current WHERE tenant_id = {t:String} GROUP BY rule, severity", store.Params{"t": demo.Tenant}); err != nil {
		t.Fatal(err)
	}
	written, want := 0.0, 0
	for _, c := range byRuleSeverity {
		written += testutil.ToFloat64(run.metrics.AlertsWritten.WithLabelValues(c.Rule, c.Severity))
		want += int(c.N)
	}
	if int(written) != want || want < len(run.alerts) {
		t.Errorf("phiwatch_alerts_written_total counts %.0f alerts, want %d (%d on the worklist)", written, want, len(run.alerts))
	}
}
