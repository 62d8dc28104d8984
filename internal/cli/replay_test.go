package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/testenv"
)

// replayFixture writes a tiny practice's exported log in phiwatch's own
// NDJSON: a front-desk clerk with three ordinary days who then opens three
// charts at 02:00 on a Saturday, a VPN account hit by 12 failed logins in
// six minutes, and one broken line.
func replayFixture(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	line := func(at time.Time, kind, system, actor, action, outcome, patient string) {
		fmt.Fprintf(&b, `{"source_kind":%q,"source_system":%q,"time":%q,"actor":{"id":%q,"name":"Dana Ortiz","role":"front_desk"},"action":%q,"outcome":%q,"patient_id":%q,"client_ip":"203.0.113.9"}`+"\n",
			kind, system, at.UTC().Format(time.RFC3339), actor, action, outcome, patient)
	}
	day := time.Date(2026, 10, 5, 14, 0, 0, 0, time.UTC) // a Monday
	for d := range 3 {
		for i := range 4 {
			line(day.AddDate(0, 0, d).Add(time.Duration(i)*time.Hour), "ehr", "test-ehr", "dortiz", "view", "success", fmt.Sprintf("P%d", i))
		}
	}
	night := time.Date(2026, 10, 10, 2, 0, 0, 0, time.UTC) // Saturday
	for i, p := range []string{"VIP1", "VIP2", "VIP3"} {
		line(night.Add(time.Duration(i)*time.Minute), "ehr", "test-ehr", "dortiz", "view", "success", p)
	}
	for i := range 12 {
		line(night.Add(time.Duration(i)*30*time.Second), "vpn", "cisco-asa", "mallory", "login_failed", "failure", "")
	}
	b.WriteString("{not json\n")
	path := filepath.Join(dir, "export.ndjson")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// phiwatch replay end to end, in a process of its own (chDB opens one data
// directory per process): the alerts file holds what the detectors found,
// the summary says what was read.
func TestReplayWritesAlerts(t *testing.T) {
	testenv.RequireChdb(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	input := replayFixture(t, dir)
	out := filepath.Join(dir, "alerts.ndjson")
	roster := filepath.Join("..", "..", "ingest", "reference", "testdata", "roster.csv")
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "replay", "--tenant", "riverside-family", "--input", "phiwatch-ndjson="+input,
		"--reference", "roster="+roster, "--out", out, "--timezone", "UTC", "--log-level", "warn", "--dir", filepath.Join(dir, "store"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	summary := stderr.String()
	for _, want := range []string{"replayed 28 records: 27 events, 1 dead letters", "after_hours_access", "vpn_brute_force", "riskiest cases:"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byRule := map[string]map[string]any{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a map[string]any
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alerts file line %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"alert_id", "rule", "severity", "actor_id", "patient_ids", "first_seen", "last_seen", "reason", "explanations"} {
			if _, ok := a[k]; !ok {
				t.Errorf("alert lacks %s: %s", k, sc.Text())
			}
		}
		byRule[a["rule"].(string)] = a
	}
	night := byRule["after_hours_access"]
	if night == nil || night["actor_id"] != "dortiz" || len(night["patient_ids"].([]any)) != 3 || !strings.Contains(night["reason"].(string), "Dana Ortiz") {
		t.Errorf("after-hours alert %v: want Dana Ortiz's night with the 3 VIP charts", night)
	}
	if bf := byRule["vpn_brute_force"]; bf == nil || bf["actor_id"] != "mallory" {
		t.Errorf("brute-force alert %v: want mallory's", bf)
	}
	if t.Failed() {
		t.Logf("summary:\n%s", summary)
	}

	// Refusals come before any work.
	for _, bad := range [][]string{
		{"replay", "--tenant", "x", "--out", out},
		{"replay", "--tenant", "x", "--input", "no-such-format=" + input, "--out", out},
		{"replay", "--tenant", "x", "--input", "phiwatch-ndjson=" + filepath.Join(dir, "missing"), "--out", out},
		{"replay", "--tenant", "x", "--input", "phiwatch-ndjson", "--out", out},
	} {
		var errb bytes.Buffer
		c := exec.CommandContext(ctx, bin, bad...)
		c.Stderr = &errb
		if err := c.Run(); err == nil || !strings.Contains(errb.String(), "phiwatch replay") {
			t.Errorf("%v: %v %q; want a refusal", bad, err, errb.String())
		}
	}
}
