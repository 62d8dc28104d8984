package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/testenv"
)

// phiwatch suppress as an operator runs it, in a process of its own (chDB
// opens one data directory per process): refusals, add, list, revoke.
func TestSuppressCommand(t *testing.T) {
	testenv.RequireChdb(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	storeDSN := "chdb:" + filepath.Join(t.TempDir(), "chdb")
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, append([]string{"suppress", args[0], "--store", storeDSN, "--log-level", "warn", "--by", "po"}, args[1:]...)...)
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
	next := time.Now().AddDate(0, 2, 0).Format(time.DateOnly)
	for _, bad := range [][]string{
		{"add", "--tenant", "c1", "--actor", "u1", "--expires", next},                            // no reason
		{"add", "--tenant", "c1", "--actor", "u1", "--reason", "x"},                              // no expiry
		{"add", "--tenant", "c1", "--actor", "u1", "--reason", "x", "--expires", "2099-01-01"},   // too long
		{"add", "--tenant", "c1", "--reason", "x", "--expires", next},                            // matches everything
		{"add", "--tenant", "c1", "--actor", "u1", "--reason", "x", "--expires", "next tuesday"}, // bad date
	} {
		if code, _, errOut := run(bad...); code == 0 || !strings.Contains(errOut, "phiwatch suppress") {
			t.Errorf("%v: exit %d, stderr %q; want a refusal", bad, code, errOut)
		}
	}
	code, out, errOut := run("add", "--tenant", "c1", "--rule", "after_hours_access", "--actor", "nightnurse",
		"--reason", "works the night shift by contract", "--expires", next)
	if code != 0 || !strings.Contains(out, "suppression ") {
		t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
	}
	id := strings.Fields(out)[1]
	code, out, errOut = run("list", "--tenant", "c1", "--format", "json")
	var got struct {
		SuppressionID string `json:"suppression_id"`
		Rule          string `json:"rule"`
		CreatedBy     string `json:"created_by"`
		Revoked       bool   `json:"revoked"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.SuppressionID != id || got.Rule != "after_hours_access" ||
		got.CreatedBy != "po" || got.Revoked {
		t.Fatalf("list: exit %d, %+v\n%s%s", code, got, out, errOut)
	}
	if code, out, _ := run("list", "--tenant", "c2"); code != 0 || strings.Contains(out, id) {
		t.Fatalf("another tenant's list shows the suppression: %s", out)
	}
	if code, _, errOut := run("revoke", "--tenant", "c1", "--id", id, "--reason", "contract ended"); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	if code, out, _ := run("list", "--tenant", "c1"); code != 0 || !strings.Contains(out, "revoked") || strings.Count(out, id) != 1 {
		t.Fatalf("list after revoke:\n%s", out)
	}
	if code, _, _ := run("revoke", "--tenant", "c1", "--id", id, "--reason", "again"); code == 0 {
		t.Fatal("a second revocation was accepted")
	}
}
