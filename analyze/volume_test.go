package analyze

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

func TestRobustStatistics(t *testing.T) {
	tests := []struct {
		xs       []float64
		med, mad float64
	}{
		{[]float64{12, 10, 14, 11, 13}, 12, 1},
		{[]float64{1, 2, 3, 4}, 2.5, 1},
		{[]float64{5, 5, 5, 100}, 5, 0},
		{nil, 0, 0},
	}
	for _, tc := range tests {
		r := summarize(tc.xs)
		if r.med != tc.med || r.mad != tc.mad {
			t.Errorf("%v: median %v MAD %v, want %v and %v", tc.xs, r.med, r.mad, tc.med, tc.mad)
		}
	}
	// A MAD of 0 is floored at 1: one more chart is not an infinite outlier.
	r := summarize([]float64{12, 12, 12, 12})
	if z := r.z(13); math.IsInf(z, 0) || z > 1 {
		t.Fatalf("z(13) over a constant 12 = %v", z)
	}
	if !r.outlier(40, 3.5, 2.5) || r.outlier(25, 3.5, 2.5) {
		t.Fatal("40 should be an outlier over a constant 12 (≥ 2.5×), 25 not")
	}
}

// volumeScenario writes October for a tenant (UTC): four front-desk clerks
// open about 15 charts a weekday, four physicians about 14; then
//   - fd1 opens 70 more on Wed 21 Oct: a snooping day (alert);
//   - every physician sees 30 on Tue 20 Oct: a busy clinic day for all (no alert);
//   - quiet, with 2 charts a day, opens 3 on Thu 22 Oct (no alert);
//   - bill1 prints 30 patients' records on Mon 26 Oct (bulk alert), while
//     printer prints 12 every day and 15 that day (no bulk alert);
//   - newguy, with no history and no peers, opens 45 on Fri 23 Oct (low alert).
func volumeScenario(t *testing.T, b *evBuilder) {
	t.Helper()
	ehr := func(actor, role string, at time.Time, action event.Action, patient string) {
		b.add(event.Event{SourceKind: event.KindEHR, Actor: event.Actor{ID: actor, Name: strings.ToUpper(actor), Role: role},
			Action: action, Time: at, PatientID: patient})
	}
	for d := 1; d <= 31; d++ {
		day := time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC)
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			continue
		}
		for i := range 4 {
			n := 13 + (d+i)%5
			for k := range n {
				ehr(fmt.Sprintf("fd%d", i), "front_desk", day.Add(8*time.Hour+time.Duration(k*20)*time.Minute), event.ActionView, fmt.Sprintf("P%d-%d-%d", d, i, k))
			}
			m := 12 + (d*3+i)%5
			if d == 20 {
				m = 28 + i
			}
			for k := range m {
				ehr(fmt.Sprintf("doc%d", i), "physician", day.Add(8*time.Hour+time.Duration(k*15)*time.Minute), event.ActionView, fmt.Sprintf("D%d-%d-%d", d, i, k))
			}
		}
		ehr("quiet", "nurse", day.Add(10*time.Hour), event.ActionView, fmt.Sprintf("Q%d", d))
		ehr("quiet", "nurse", day.Add(11*time.Hour), event.ActionView, fmt.Sprintf("Q%d", d+100))
		if d == 22 {
			ehr("quiet", "nurse", day.Add(12*time.Hour), event.ActionView, "Q999")
		}
		for k := range 5 {
			ehr("bill1", "billing", day.Add(10*time.Hour+time.Duration(k)*time.Minute), event.ActionView, fmt.Sprintf("B%d-%d", d, k))
		}
		n := 12
		if d == 26 {
			n = 15
		}
		for k := range n {
			ehr("printer", "billing", day.Add(13*time.Hour+time.Duration(k)*time.Minute), event.ActionPrint, fmt.Sprintf("PR%d-%d", d, k))
		}
	}
	for i := range 70 {
		ehr("fd1", "front_desk", time.Date(2026, 10, 21, 12, i, 0, 0, time.UTC), event.ActionView, fmt.Sprintf("X%d", i))
	}
	for i := range 30 {
		ehr("bill1", "billing", time.Date(2026, 10, 26, 15, i, 0, 0, time.UTC), event.ActionPrint, fmt.Sprintf("BX%d", i))
	}
	for i := range 45 {
		ehr("newguy", "scribe", time.Date(2026, 10, 23, 9, i, 0, 0, time.UTC), event.ActionView, fmt.Sprintf("N%d", i))
	}
}

func TestVolumeRules(t *testing.T) {
	s := testStore(t)
	tenant := "volume"
	b := &evBuilder{tenant: tenant}
	volumeScenario(t, b)
	b.insert(t, s)

	tests := []struct {
		name     string
		detector Detector
		actor    string
		want     int    // alerts for the actor
		severity string // of the first
		reason   []string
	}{
		{"snooping day", VolumeDistinctPatients{}, "fd1", 1, SeverityHigh, []string{"opened 85 distinct patients' charts on Wed 21 Oct 2026",
			"own median 15/day (MAD 1) over 21 other active days", "front desk peers median 16 that day (3 peers), 15 over 66 peer-days"}},
		{"busy clinic day for every physician", VolumeDistinctPatients{}, "doc0", 0, "", nil},
		{"quiet user", VolumeDistinctPatients{}, "quiet", 0, "", nil},
		{"steady printer", VolumeDistinctPatients{}, "printer", 0, "", nil},
		{"no history, no peers", VolumeDistinctPatients{}, "newguy", 1, SeverityLow, []string{"opened 45 distinct patients' charts",
			"too little history for a personal baseline (0 other active days)", "no scribe peer group"}},
		{"bulk print", BulkExport{}, "bill1", 1, SeverityHigh, []string{"printed or exported the records of 30 patients on Mon 26 Oct 2026 (30 print/export events)",
			"their own median is 0/day"}},
		{"printing is their job", BulkExport{}, "printer", 0, "", nil},
		{"lower threshold from tuning", BulkExport{MinPatients: 40}, "bill1", 0, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := detectAll(t, s, tc.detector, tenant, octoberUTC())[tc.actor]
			if len(got) != tc.want {
				t.Fatalf("%d alerts, want %d: %+v", len(got), tc.want, got)
			}
			if tc.want == 0 {
				return
			}
			a := got[0]
			if a.Severity != tc.severity || a.Rule != tc.detector.Rule() || len(a.EvidenceEventIDs) == 0 || len(a.PatientIDs) == 0 {
				t.Fatalf("alert %+v", a)
			}
			for _, r := range tc.reason {
				if !strings.Contains(a.Reason, r) {
					t.Errorf("reason %q lacks %q", a.Reason, r)
				}
			}
		})
	}
	// The busy day is unusual for doc0 alone (own median ~14); their peers
	// had it too. Without peers to compare with, it would be flagged.
	solo := &evBuilder{tenant: "volume-solo"}
	for _, r := range b.rows {
		if r.ActorID == "doc0" {
			r.TenantID = solo.tenant
			solo.rows = append(solo.rows, r)
		}
	}
	solo.insert(t, s)
	if got := detectAll(t, s, VolumeDistinctPatients{MinRatio: 1.5}, solo.tenant, octoberUTC())["doc0"]; len(got) != 1 {
		t.Fatalf("a physician alone with a doubled day: %+v", got)
	}
}
