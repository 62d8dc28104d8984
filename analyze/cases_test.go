package analyze

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

func TestCaseRiskCountsActorPatientDaysOnce(t *testing.T) {
	day := time.Date(2026, 10, 5, 22, 0, 0, 0, time.UTC)
	a := caseAlert{AlertID: "a", Rule: "after_hours_access", Score: 60, PatientIDs: []string{"P1"}, FirstSeen: day}
	b := caseAlert{AlertID: "b", Rule: "no_clinical_relationship", Score: 50, PatientIDs: []string{"P1"}, FirstSeen: day}
	one := CaseRisk([]caseAlert{a})
	if one != 60 {
		t.Fatalf("one alert of 60: risk %v, want 60", one)
	}
	// Same chart, same day, second rule: the access counts once, only the
	// distinct-rule bonus (5) is added.
	if got := CaseRisk([]caseAlert{a, b}); got != 65 {
		t.Fatalf("two rules on one actor-patient-day: risk %v, want 65", got)
	}
	// A different patient on another day is new evidence: 1-(0.4*0.5) = 80, +5 rules, +2 days.
	c := b
	c.PatientIDs, c.FirstSeen = []string{"P2"}, day.Add(24*time.Hour)
	if got := CaseRisk([]caseAlert{a, c}); got != 87 {
		t.Fatalf("two patients on two days: risk %v, want 87", got)
	}
	// A serial snooper, 6 modest alerts on 6 days, outranks one loud night.
	var serial []caseAlert
	for i := range 6 {
		serial = append(serial, caseAlert{AlertID: string(rune('a' + i)), Rule: "coworker_lookup", Score: 35,
			PatientIDs: []string{"P" + string(rune('a'+i))}, FirstSeen: day.Add(time.Duration(i) * 24 * time.Hour)})
	}
	loud := CaseRisk([]caseAlert{{AlertID: "x", Rule: "after_hours_access", Score: 85, PatientIDs: []string{"P1", "P2"}, FirstSeen: day}})
	if s := CaseRisk(serial); s <= loud || s > 100 {
		t.Fatalf("serial snooper risk %v, loud night %v: want serial higher, at most 100", s, loud)
	}
}

func TestGroupCasesSplitsOpenPeriodsAndKeepsIDs(t *testing.T) {
	day := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	now := day.AddDate(0, 6, 0)
	alerts := []caseAlert{
		{AlertID: "a1", Rule: "r1", Severity: "low", Score: 30, ActorID: "u1", PatientIDs: []string{"P1"}, FirstSeen: day, LastSeen: day},
		{AlertID: "a2", Rule: "r2", Severity: "high", Score: 70, ActorID: "u1", PatientIDs: []string{"P2"}, FirstSeen: day.Add(48 * time.Hour), LastSeen: day.Add(48 * time.Hour)},
		// Two months later: a new open period, a new case.
		{AlertID: "a3", Rule: "r1", Severity: "medium", Score: 40, ActorID: "u1", FirstSeen: day.AddDate(0, 2, 0), LastSeen: day.AddDate(0, 2, 0)},
		{AlertID: "b1", Rule: "r1", Severity: "low", Score: 20, ActorID: "u2", FirstSeen: day, LastSeen: day},
	}
	rows := groupCases("t", alerts, nil, now, 0)
	if len(rows) != 3 {
		t.Fatalf("%d cases, want 3: %+v", len(rows), rows)
	}
	first := rows[0]
	if first.ActorID != "u1" || first.AlertCount != 2 || first.MaxSeverity != "high" || first.DistinctPatients != 2 ||
		first.ActorPatientDays != 2 || first.ActiveDays != 2 || len(first.Rules) != 2 || first.Status != CaseStatusOpen {
		t.Fatalf("first case %+v", first)
	}
	// Unchanged on a re-run: nothing new to write.
	if again := groupCases("t", alerts, rows, now.Add(time.Hour), 0); len(again) != 0 {
		t.Fatalf("re-run wrote %d case versions, want 0", len(again))
	}
	// A late alert before the case's first one joins it under the same id.
	late := caseAlert{AlertID: "a0", Rule: "r3", Severity: "medium", Score: 50, ActorID: "u1", PatientIDs: []string{"P9"}, FirstSeen: day.Add(-time.Hour), LastSeen: day.Add(-time.Hour)}
	again := groupCases("t", append([]caseAlert{late}, alerts...), rows, now.Add(time.Hour), 0)
	if len(again) != 1 || again[0].CaseID != first.CaseID || again[0].AlertCount != 3 || again[0].RiskScore <= first.RiskScore {
		t.Fatalf("late alert: %+v, want case %s grown to 3 alerts with a higher risk than %v", again, first.CaseID, first.RiskScore)
	}
}

// Suppressions and cases on the engine: a suppressed alert is still stored,
// its match is recorded, and it does not feed its actor's case.
func TestSuppressionsAndCasesInStore(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	const tenant = "cases-clinic"
	day := time.Date(2026, 10, 5, 22, 0, 0, 0, time.UTC)
	now := day.AddDate(0, 0, 10)
	var alerts []store.AlertRow
	add := func(id, rule, actor, sev string, score float32, patient string, at time.Time) {
		alerts = append(alerts, store.AlertRow{TenantID: tenant, AlertID: id, Rule: rule, Severity: sev, Score: score, ActorID: actor,
			ActorName: "Name " + actor, PatientIDs: []string{patient}, FirstSeen: at, LastSeen: at, Reason: "r", DetectedAt: now, RetainUntil: at.AddDate(7, 0, 0)})
	}
	for i := range 4 {
		add("snoop"+string(rune('0'+i)), []string{"coworker_lookup", "family_member_lookup"}[i%2], "snooper", "medium", 40, "P"+string(rune('0'+i)), day.AddDate(0, 0, i))
	}
	add("loud", "after_hours_access", "nurse", "high", 75, "P1", day)
	add("vip", "restricted_patient_access", "doctor", "critical", 90, "VIP", day)
	if err := s.InsertAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}

	if _, err := NewSuppression(SuppressionRequest{Tenant: tenant, ActorID: "doctor", ExpiresAt: now.AddDate(0, 1, 0)}, now, 0); err == nil {
		t.Fatal("a suppression without a reason was accepted")
	}
	if _, err := NewSuppression(SuppressionRequest{Tenant: tenant, ActorID: "doctor", Reason: "x", ExpiresAt: now.AddDate(2, 0, 0)}, now, 0); err == nil {
		t.Fatal("a suppression of two years was accepted")
	}
	if _, err := NewSuppression(SuppressionRequest{Tenant: tenant, Reason: "x", ExpiresAt: now.AddDate(0, 1, 0)}, now, 0); err == nil {
		t.Fatal("a suppression matching everything was accepted")
	}
	sp, err := NewSuppression(SuppressionRequest{Tenant: tenant, Rule: "restricted_patient_access", ActorID: "doctor",
		Reason: "treating physician of the VIP patient", CreatedBy: "privacy-officer", ExpiresAt: now.AddDate(0, 3, 0)}, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSuppressions(ctx, []store.SuppressionRow{sp}); err != nil {
		t.Fatal(err)
	}
	w := Window{From: day.AddDate(0, 0, -1), To: now}
	n, err := ApplySuppressions(ctx, s, tenant, w, now)
	if err != nil || n != 1 {
		t.Fatalf("ApplySuppressions: %d matches, %v; want 1", n, err)
	}
	if _, err := BuildCases(ctx, s, tenant, w, now, 0); err != nil {
		t.Fatal(err)
	}
	var cases []store.CaseRow
	if err := s.Select(ctx, &cases, "SELECT * REPLACE (toDateTime(retain_until) AS retain_until) FROM "+s.Database()+".cases_current WHERE tenant_id = {tenant:String} ORDER BY risk_score DESC",
		store.Params{"tenant": tenant}); err != nil {
		t.Fatal(err)
	}
	if len(cases) != 2 || cases[0].ActorID != "snooper" || cases[0].AlertCount != 4 || cases[1].ActorID != "nurse" {
		t.Fatalf("cases %+v: want the snooper first, then the nurse, and no case for the suppressed doctor", cases)
	}
	// A second run with nothing new writes no version.
	if n, err := BuildCases(ctx, s, tenant, w, now.Add(time.Hour), 0); err != nil || n != 0 {
		t.Fatalf("re-run wrote %d case versions (%v), want 0", n, err)
	}
	list, err := ListSuppressions(ctx, s, tenant)
	if err != nil || len(list) != 1 || list[0].Reason != sp.Reason || list[0].Revoked {
		t.Fatalf("ListSuppressions: %+v, %v", list, err)
	}
	// Revoked: the doctor's alert feeds a case again.
	if err := s.InsertSuppressions(ctx, []store.SuppressionRow{Revoke(sp, "privacy-officer", "no longer treating", now.Add(time.Minute))}); err != nil {
		t.Fatal(err)
	}
	if n, err := BuildCases(ctx, s, tenant, w, now.Add(2*time.Minute), 0); err != nil || n != 1 {
		t.Fatalf("after revocation %d case versions (%v), want 1 for the doctor", n, err)
	}
}

func TestCaseWorkflow(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	tenant := "case-flow"
	w := octoberUTC()
	at := time.Date(2026, 10, 20, 22, 0, 0, 0, time.UTC)
	alert := func(id, actor string, first time.Time) store.AlertRow {
		return store.AlertRow{TenantID: tenant, AlertID: id, Rule: "after_hours_access", Severity: SeverityMedium, Score: 55,
			ActorID: actor, PatientIDs: []string{"P1"}, FirstSeen: first, LastSeen: first, Reason: "test",
			DetectedAt: first, RetainUntil: first.AddDate(7, 0, 0)}
	}
	if err := s.InsertAlerts(ctx, []store.AlertRow{alert("al-1", "dana", at), alert("al-2", "dana", at.Add(24*time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if n, err := BuildCases(ctx, s, tenant, w, at.Add(48*time.Hour), 0); err != nil || n != 1 {
		t.Fatalf("build: %d, %v", n, err)
	}
	var ids []struct {
		CaseID string `json:"case_id"`
	}
	if err := s.Select(ctx, &ids, "SELECT case_id FROM "+s.Database()+".cases_current WHERE tenant_id = {t:String}", store.Params{"t": tenant}); err != nil || len(ids) != 1 {
		t.Fatalf("cases %v, %v", ids, err)
	}
	id := ids[0].CaseID
	ts, err := store.ForTenant(s, tenant)
	if err != nil {
		t.Fatal(err)
	}
	now := at.Add(72 * time.Hour)
	steps := []struct {
		name string
		req  CaseRequest
		want string // error text; "" = accepted
	}{
		{"unknown case", CaseRequest{CaseID: "nope", Action: CaseAssign, By: "po", Assignee: "rev1"}, "no such case"},
		{"assign without assignee", CaseRequest{CaseID: id, Action: CaseAssign, By: "po"}, "name the reviewer"},
		{"assign", CaseRequest{CaseID: id, Action: CaseAssign, By: "po", Assignee: "rev1"}, ""},
		{"empty comment", CaseRequest{CaseID: id, Action: CaseComment, By: "rev1", Note: "  "}, "a comment needs text"},
		{"comment", CaseRequest{CaseID: id, Action: CaseComment, By: "rev1", Note: "asked her manager"}, ""},
		{"reassign", CaseRequest{CaseID: id, Action: CaseAssign, By: "po", Assignee: "rev2"}, ""},
		{"close without resolution", CaseRequest{CaseID: id, Action: CaseClose, By: "rev2", Note: "ok"}, "with a resolution"},
		{"close without reason", CaseRequest{CaseID: id, Action: CaseClose, By: "rev2", Resolution: "no_violation"}, "with a reason"},
		{"close", CaseRequest{CaseID: id, Action: CaseClose, By: "rev2", Resolution: "no_violation", Note: "covering the night shift"}, ""},
		{"comment on a closed case", CaseRequest{CaseID: id, Action: CaseComment, By: "rev1", Note: "late"}, "the case is closed"},
	}
	for i, st := range steps {
		_, err := ApplyCaseAction(ctx, ts, st.req, now.Add(time.Duration(i)*time.Minute))
		if (err == nil) != (st.want == "") || (err != nil && !strings.Contains(err.Error(), st.want)) {
			t.Fatalf("%s: error %v, want %q", st.name, err, st.want)
		}
	}
	c, err := GetCase(ctx, ts, id)
	if err != nil || c.Status != CaseStatusClosed || c.UpdatedBy != "rev2" || c.AlertCount != 2 {
		t.Fatalf("closed case %+v, %v", c, err)
	}
	acts, err := CaseActions(ctx, ts, id)
	if err != nil || len(acts) != 4 || Assignee(acts) != "rev2" || acts[3].Resolution != "no_violation" || acts[3].Note != "covering the night shift" {
		t.Fatalf("history %+v, %v", acts, err)
	}
	// The detectors leave the closed case alone; a new alert opens a new one.
	if n, err := BuildCases(ctx, s, tenant, w, now.Add(time.Hour), 0); err != nil || n != 0 {
		t.Fatalf("rebuild after close: %d versions, %v", n, err)
	}
	if err := s.InsertAlerts(ctx, []store.AlertRow{alert("al-3", "dana", at.Add(5*24*time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if n, err := BuildCases(ctx, s, tenant, w, now.Add(2*time.Hour), 0); err != nil || n != 1 {
		t.Fatalf("new alert: %d versions, %v", n, err)
	}
	if c, _ := GetCase(ctx, ts, id); c.Status != CaseStatusClosed {
		t.Fatalf("the closed case was reopened: %+v", c)
	}
}
