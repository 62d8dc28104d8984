package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/testenv"
)

// phiwatch review as an operator runs it, in a process of its own:
// refusals, tenant settings, opening a period twice (same seed), listing.
func TestReviewCommand(t *testing.T) {
	testenv.RequireChdb(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	storeDSN := "chdb:" + filepath.Join(t.TempDir(), "chdb")
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, append([]string{"review", args[0], "--store", storeDSN, "--log-level", "warn", "--by", "po"}, args[1:]...)...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	for _, bad := range [][]string{
		{"open"}, // no tenant
		{"open", "--tenant", "c1", "--month", "October"},
		{"settings", "--tenant", "c1", "--sample-size", "3"},                      // no reason
		{"settings", "--tenant", "c1", "--due-day", "31", "--reason", "x"},        // past 28
		{"open", "--tenant", "c1", "--month", "2026-10", "--review-due-day", "0"}, // bad default
		{"nope", "--tenant", "c1"},
	} {
		if code, _, stderr := run(bad...); code == 0 || stderr == "" {
			t.Fatalf("review %v: exit %d, stderr %q; want a refusal", bad, code, stderr)
		}
	}
	if code, out, stderr := run("settings", "--tenant", "c1", "--sample-size", "3", "--due-day", "10", "--reason", "smaller practice"); code != 0 ||
		!strings.Contains(out, "due day 10") {
		t.Fatalf("settings: %d %s %s", code, out, stderr)
	}
	seedRE := regexp.MustCompile(`seed ([0-9a-f]{32})\), due 2026-11-10`)
	code, first, stderr := run("open", "--tenant", "c1", "--month", "2026-10")
	if code != 0 || !seedRE.MatchString(first) {
		t.Fatalf("open: %d %q %s", code, first, stderr)
	}
	_, second, _ := run("open", "--tenant", "c1", "--month", "2026-10")
	if seedRE.FindStringSubmatch(first)[1] != seedRE.FindStringSubmatch(second)[1] {
		t.Fatalf("opening twice drew a new seed:\n%s%s", first, second)
	}
	code, out, stderr := run("list", "--tenant", "c1", "--format", "json")
	var p struct {
		Period     string `json:"period"`
		State      string `json:"state"`
		SampleSize int    `json:"sample_size"`
	}
	if code != 0 || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &p) != nil || p.Period != "2026-10" || p.State != "open" || p.SampleSize != 3 {
		t.Fatalf("list: %d %q %s", code, out, stderr)
	}
}
