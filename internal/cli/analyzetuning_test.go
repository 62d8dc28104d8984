package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAnalyzeFlagsTenantsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		af      analyzeFlags
		want    string // error text; "" = loads
		tenants int
	}{
		{"none", analyzeFlags{}, "", -1},
		{"file", analyzeFlags{tenantsFile: write("ok.yaml", "tenants: {a: {timezone: Europe/Paris}, b: {}}")}, "", 2},
		{"missing", analyzeFlags{tenantsFile: filepath.Join(dir, "nope.yaml")}, "--tenants-file", 0},
		{"bad rule", analyzeFlags{tenantsFile: write("bad.yaml", "tenants: {a: {rules: {volume: {}}}}")}, `bad.yaml: tenants file, tenant a: unknown rule "volume"`, 0},
		{"inline", analyzeFlags{tenantsYAML: []byte("defaults: {practice_hours: mon-fri 08:00-18:00}")}, "", 0},
	}
	for _, tc := range tests {
		f, err := tc.af.tuning(now)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Fatalf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		switch {
		case tc.tenants < 0 && f != nil:
			t.Fatalf("%s: a tuning without a file", tc.name)
		case tc.tenants >= 0 && err == nil && len(f.Tenants) != tc.tenants:
			t.Fatalf("%s: %d tenants", tc.name, len(f.Tenants))
		}
	}
}
