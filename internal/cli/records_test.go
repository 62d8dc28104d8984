package cli

import (
	"strings"
	"testing"
)

func TestRecordsBreachClock(t *testing.T) {
	code, out, errOut := run(t, "", "records", "breach-clock", "--discovered", "2026-12-31", "--affected", "813", "--states", "TX=501,OK=300")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"individual  -      2027-03-01  45 CFR 164.404(b)", "hhs ", "media       TX     2027-03-01"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "OK ") || strings.Contains(out, "hhs_annual_log") {
		t.Errorf("output has a media notice for OK (300) or an annual log for 813:\n%s", out)
	}
	for _, bad := range [][]string{
		{"records", "breach-clock", "--affected", "3"},
		{"records", "breach-clock", "--discovered", "2026-12-31", "--affected", "3", "--states", "TX=4"},
		{"records", "frob"},
		{"records", "binder", "--out", "x.zip"},
	} {
		if code, _, errOut := run(t, "", bad...); code == 0 || !strings.Contains(errOut, "phiwatch records") {
			t.Errorf("%v: exit %d, stderr %q; want a refusal", bad, code, errOut)
		}
	}
}
