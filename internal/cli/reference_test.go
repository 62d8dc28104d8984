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

// The reference commands as an operator runs them, in a process of their
// own (chDB opens one data directory per process, and the demo test holds
// another): imports of every kind, the roster alias, the exit status of a
// partial FHIR import, and the unlinked listing over events from three
// source kinds.
func TestReferenceCommands(t *testing.T) {
	testenv.RequireChdb(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	store := "chdb:" + filepath.Join(t.TempDir(), "chdb")
	data := func(f string) string { return filepath.Join("..", "..", "ingest", "reference", "testdata", f) }
	phiwatch := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		common := []string{"--store", store}
		if args[0] != "query" {
			common = append(common, "--log-level", "warn")
		}
		cmd := exec.CommandContext(ctx, bin, append(args[:1:1], append(common, args[1:]...)...)...)
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
	const tenant = "riverside-family"

	// Events first, so the imports' rebuilds see their actors.
	insert := `INSERT INTO phiwatch.access_events (tenant_id, event_id, source_kind, source_system, time, received_at, actor_id, action, outcome, retain_until) VALUES ` +
		`('riverside-family', 'e1', 'ehr', 't', '2026-10-05 09:00:00', now(), 'dortiz', 'view', 'success', '2033-01-01'),` +
		`('riverside-family', 'e2', 'ehr', 't', '2026-10-05 09:01:00', now(), 'Practitioner/77', 'view', 'success', '2033-01-01'),` +
		`('riverside-family', 'e3', 'email', 't', '2026-10-05 09:02:00', now(), 'Dana.Ortiz@Riverside.example', 'send', 'success', '2033-01-01'),` +
		`('riverside-family', 'e4', 'vpn', 't', '2026-10-05 09:03:00', now(), 'vpn-dortiz', 'vpn_connect', 'success', '2033-01-01'),` +
		`('riverside-family', 'e5', 'vpn', 't', '2026-10-05 09:04:00', now(), 'RIVERSIDE\\dortiz', 'vpn_connect', 'success', '2033-01-01'),` +
		`('riverside-family', 'e6', 'vpn', 't', '2026-10-06 02:00:00', now(), 'mallory', 'login_failed', 'failure', '2033-01-01'),` +
		`('riverside-family', 'e7', 'vpn', 't', '2026-10-06 02:01:00', now(), 'mallory', 'login_failed', 'failure', '2033-01-01'),` +
		`('riverside-family', 'e8', 'ehr', 't', '2026-10-07 10:00:00', now(), 'asmith', 'view', 'success', '2033-01-01')`
	if code, _, errOut := phiwatch("migrate"); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	if code, _, errOut := phiwatch("query", insert); code != 0 {
		t.Fatalf("insert events: %s", errOut)
	}

	code, out, errOut := phiwatch("roster", "--tenant", tenant, data("roster.csv"))
	if code != 0 || !strings.Contains(out, "imported 5 people (2 terminated) into the roster of riverside-family") ||
		!strings.Contains(out, "note: asmith is ambiguous") {
		t.Fatalf("roster: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = phiwatch("reference", "import", "--tenant", tenant, "--kind", "accounts", data("accounts.csv"))
	if code != 0 || !strings.Contains(out, "imported 6 accounts of riverside-family (ehr 1, m365 2, vpn 3)") {
		t.Fatalf("accounts: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = phiwatch("reference", "import", "--tenant", tenant, "--kind", "practitioners", data("practitioners.ndjson"))
	if code != 1 || !strings.Contains(out, "imported 4 practitioners of riverside-family; 3 of 7 records rejected") ||
		!strings.Contains(errOut, "3 records not imported (the others are stored)") || !strings.Contains(errOut, "line 5: the resource has no id") {
		t.Fatalf("practitioners: exit %d\n%s%s", code, out, errOut)
	}
	for kind, file := range map[string]string{"patients": "patients.ndjson", "practitioner-roles": "practitioner-roles.ndjson",
		"appointments": "schedule-bundle.json", "encounters": "encounters.ndjson"} {
		if code, out, errOut := phiwatch("reference", "import", "--tenant", tenant, "--kind", kind, data(file)); code != 1 || !strings.Contains(out, "imported ") {
			t.Fatalf("%s: exit %d (want 1: the files hold bad records)\n%s%s", kind, code, out, errOut)
		}
	}
	if code, _, errOut := phiwatch("reference", "import", "--tenant", tenant, "--kind", "schedules", data("roster.csv")); code != 1 || !strings.Contains(errOut, `unknown reference feed "schedules"`) {
		t.Fatalf("unknown kind: exit %d, %s", code, errOut)
	}
	if code, _, errOut := phiwatch("reference", "import", "--kind", "roster", data("roster.csv")); code != 1 || !strings.Contains(errOut, "--tenant is required") {
		t.Fatalf("no tenant: exit %d, %s", code, errOut)
	}

	code, out, errOut = phiwatch("reference", "unlinked", "--tenant", tenant, "--from", "2026-10-01", "--to", "2026-11-01")
	if code != 0 || !strings.Contains(out, "7 actors seen, 5 linked, 2 not linked") || strings.Contains(out, "dortiz") {
		t.Fatalf("unlinked: exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "mallory ") || !strings.Contains(lines[2], "unlinked") ||
		!strings.Contains(lines[2], "2026-10-06 02:00Z") || !strings.HasPrefix(lines[3], "asmith ") || !strings.Contains(lines[3], "ambiguous") {
		t.Fatalf("unlinked table:\n%s", out)
	}
	code, out, _ = phiwatch("reference", "unlinked", "--tenant", tenant, "--from", "2026-10-01", "--to", "2026-11-01", "--format", "json")
	var first struct {
		Actor    string         `json:"actor"`
		Method   string         `json:"method"`
		Events   int            `json:"events"`
		BySource map[string]int `json:"by_source_kind"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first); code != 0 || err != nil || first.Actor != "mallory" || first.Events != 2 || first.BySource["vpn"] != 2 {
		t.Fatalf("unlinked json: exit %d, %v\n%s", code, err, out)
	}

	code, out, _ = phiwatch("reference", "resolve", "--tenant", tenant, `RIVERSIDE\dortiz`, "Practitioner/77", "asmith")
	if code != 0 || !strings.Contains(out, `RIVERSIDE\dortiz → dortiz (domain_user, confidence 0.90)`) ||
		!strings.Contains(out, "Practitioner/77 → dortiz (practitioner_identifier") || !strings.Contains(out, "asmith → ambiguous") {
		t.Fatalf("resolve: exit %d\n%s", code, out)
	}
	if code, out, errOut := phiwatch("reference", "relink", "--tenant", tenant); code != 0 || !strings.Contains(out, "identity links rebuilt") {
		t.Fatalf("relink: exit %d\n%s%s", code, out, errOut)
	}
	// The original roster format still imports, and says which identity
	// columns it clears.
	code, out, errOut = phiwatch("roster", "--tenant", tenant, data("roster-legacy.csv"))
	if code != 0 || !strings.Contains(out, "imported 2 people (1 terminated)") || !strings.Contains(out, "note: the file has no ehr_username column, which 5 people") {
		t.Fatalf("legacy roster: exit %d\n%s%s", code, out, errOut)
	}
}
