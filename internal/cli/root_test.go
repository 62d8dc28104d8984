package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestEveryCommandHasHelp(t *testing.T) {
	for name, cmd := range commands() {
		code, out, _ := run(t, "", name, "--help")
		if code != 0 || !strings.Contains(out, "Usage: phiwatch "+name) || !strings.Contains(out, upperFirst(cmd.summary)) {
			t.Errorf("%s --help: exit %d, output %q", name, code, out)
		}
		if name != "version" && !strings.Contains(out, "-config") {
			t.Errorf("%s has no --config flag", name)
		}
	}
	code, out, _ := run(t, "", "--help")
	for name := range commands() {
		if !strings.Contains(out, "  "+name+" ") {
			t.Errorf("root help does not list %s", name)
		}
	}
	if code != 0 {
		t.Errorf("root --help exit %d", code)
	}
	if code, _, errOut := run(t, "", "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
}

func TestParseCommand(t *testing.T) {
	good := `{"tenant_id":"clinic-a","source_kind":"ehr","source_system":"s","time":"2026-10-01T10:00:00Z","actor":{"id":"u1"},"action":"view"}`
	code, out, errOut := run(t, good+"\n\nnot json\n", "parse", "--format", "phiwatch-ndjson", "-")
	if code != 1 || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "-:3: parse error") || !strings.Contains(errOut, "1 of 2 records failed") {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if code, _, errOut := run(t, "", "parse", "--format", "nope"); code != 1 || !strings.Contains(errOut, "known formats") {
		t.Fatalf("unknown format: exit %d, %q", code, errOut)
	}
	if code, out, _ := run(t, "", "parse", "--list"); code != 0 || !strings.Contains(out, "phiwatch-ndjson") {
		t.Fatalf("--list: exit %d, %q", code, out)
	}
	f := filepath.Join(t.TempDir(), "in.ndjson")
	os.WriteFile(f, []byte(good+"\n"), 0o600)
	if code, out, _ := run(t, "", "parse", "--format", "phiwatch-ndjson", "--tenant", "x", f); code != 0 || !strings.Contains(out, `"tenant_id":"clinic-a"`) {
		t.Fatalf("file: exit %d, %q", code, out)
	}
}

func TestConfigFileAndEnv(t *testing.T) {
	f := filepath.Join(t.TempDir(), "phiwatch.yaml")
	os.WriteFile(f, []byte("format: phiwatch-ndjson\nkafka-brokers: [a:1]\n"), 0o600)
	good := `{"tenant_id":"clinic-a","source_kind":"ehr","source_system":"s","time":"2026-10-01T10:00:00Z","actor":{"id":"u1"},"action":"view"}`
	code, out, errOut := run(t, good, "parse", "--config", f, "-")
	if code != 0 || !strings.Contains(out, "clinic-a") || !strings.Contains(errOut, "kafka-brokers") {
		t.Fatalf("config file: exit %d, out %q, err %q", code, out, errOut)
	}
	t.Setenv("PHIWATCH_FORMAT", "nope")
	if code, _, errOut := run(t, good, "parse", "-"); code != 1 || !strings.Contains(errOut, `unknown format "nope"`) {
		t.Fatalf("env: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "", "migrate", "--store", "postgres://x"); code != 1 || !strings.Contains(errOut, "want chdb:PATH") {
		t.Fatalf("bad store: exit %d, %q", code, errOut)
	}
}

func TestFormatFlagsAreChecked(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"parse", "--format", "cisco-asa", "--mapping", "epic-access-log", "-"}, "--mapping applies to formats read through a column mapping"},
		{[]string{"parse", "--format", "cisco-asa", "--internal-domains", "a.example", "-"}, "--internal-domains applies to"},
		{[]string{"parse", "--format", "ehr-csv", "--mapping", "no-such-mapping", "-"}, "no-such-mapping"},
		{[]string{"parse", "--format", "fhir-auditevent", "--syslog-location", "Mars/Olympus", "-"}, "--syslog-location"},
		{[]string{"ingest", "--format", "cisco-asa", "--tenant", "t", "--syslog-tls", "127.0.0.1:0"}, "--syslog-tls needs --syslog-tls-cert"},
		{[]string{"ingest", "--format", "cisco-asa", "--tenant", "t", "--syslog-tls-cert", "x.pem", "f"}, "need --syslog-tls ADDRESS"},
		{[]string{"ingest", "--format", "cisco-asa", "--syslog-tls", "127.0.0.1:0"}, "--tenant is required"},
		{[]string{"ingest", "--format", "cisco-asa", "--geoip-csv", "/nonexistent.csv", "f"}, "geoip"},
	}
	for _, c := range cases {
		code, _, errOut := run(t, "", c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error containing %q", c.args, code, errOut, c.want)
		}
	}
	// A mapping is applied: a Cerner-style export parses with its mapping.
	code, out, errOut := run(t, "", "parse", "--list")
	if code != 0 || !strings.Contains(out, "ehr-csv") || !strings.Contains(out, "atna") || !strings.Contains(out, "postfix") {
		t.Fatalf("parse --list: %d %q %q", code, out, errOut)
	}
}
