package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/api"
	"github.com/phiwatch/phiwatch/internal/demo"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

// The table counts per rule: a case matched by any alert is found, an
// alert matching no case is a false positive, and a ratio with nothing to
// divide by prints as "-".
func TestBenchDetectTable(t *testing.T) {
	day := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	out := &demo.Output{Start: day.AddDate(0, 0, -28), End: day, Location: time.UTC,
		Staff: make([]demo.Person, 20),
		Cases: []demo.Case{
			{Rule: "rule_a", ActorID: "x", Day: day},
			{Rule: "rule_b", ActorID: "y", Day: day},
		}}
	alerts := []api.Alert{
		{Rule: "rule_a", ActorID: "x", FirstSeen: day.Add(14 * time.Hour)},
		{Rule: "rule_a", ActorID: "x", FirstSeen: day.Add(-10 * time.Hour)}, // the day before: no match
		{Rule: "rule_c", ActorID: "z", FirstSeen: day},
	}
	s := scoreAlerts(out, alerts)
	var b bytes.Buffer
	s.print(&b, 7)
	want := map[string]string{
		"rule_a":    "1 2 1 1 0.50 1.00",
		"rule_b":    "1 0 0 0 - 0.00",
		"rule_c":    "0 1 0 1 0.00 -",
		"all rules": "2 3 1 2 0.33 0.50",
	}
	for _, line := range strings.Split(b.String(), "\n") {
		f := strings.Fields(line)
		for rule, cols := range want {
			if n := len(strings.Fields(rule)); len(f) == n+6 && strings.Join(f[:n], " ") == rule {
				if got := strings.Join(f[n:], " "); got != cols {
					t.Errorf("%s: got %q, want %q", rule, got, cols)
				}
				delete(want, rule)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("rows missing from the table: %v\n%s", want, b.String())
	}
	if !strings.Contains(b.String(), "alerts per 100 workforce/month: 16.1") {
		t.Errorf("3 alerts for 20 people over 28 days should be 16.1 per 100 per month:\n%s", b.String())
	}
	if miss := s.missesTargets(); !strings.Contains(miss, "recall 0.50") {
		t.Errorf("missesTargets() = %q, want the recall miss", miss)
	}
}

// The command end to end on the demo: every rule's row, the figures, the
// streaming part through the in-process bus, and exit 0 because the demo
// meets the targets (streaming p99 ≤ 2 s included).
func TestBenchDetectCommand(t *testing.T) {
	testenv.RequireChdb(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if code := Main(ctx, []string{"bench", "detect", "--seed", "1", "--stream-rate", "4000"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	t.Logf("\n%s", stdout.String())
	for _, want := range []string{"rule  injected  alerted  true pos  false pos  precision  recall",
		"family_member_lookup", "deceased_patient_access", "all rules", "explained-access share:",
		"alerts per 100 workforce/month:", "streaming (in-process bus): ", "arrival→alert latency:          p50",
		"streaming recall:               1.00 ("} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Every streamed alert has the id of a batch alert: they collapse.
	var streamed, same int
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(line, "streamed alerts:") {
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "streamed alerts:")), "%d, of which %d", &streamed, &same)
		}
	}
	if streamed == 0 || same != streamed {
		t.Errorf("streamed alerts %d, with batch ids %d", streamed, same)
	}
	stdout.Reset()
	if code := Main(ctx, []string{"bench"}, nil, &stdout, &stderr); code == 0 {
		t.Error("bench without a benchmark name succeeded")
	}
}
