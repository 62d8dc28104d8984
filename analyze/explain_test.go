package analyze

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

// fixture writes reference data and EHR accesses for one tenant.
type fixture struct {
	t      *testing.T
	s      store.Store
	tenant string
	events []store.EventRow
}

var relDay = time.Date(2026, 10, 14, 15, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, tenant string) *fixture {
	return &fixture{t: t, s: testStore(t), tenant: tenant}
}

func (f *fixture) access(actor, patient string, at time.Time, mod func(*event.Event)) {
	e := event.Event{TenantID: f.tenant, SourceKind: event.KindEHR, SourceSystem: "test", Time: at, ReceivedAt: at,
		Actor: event.Actor{ID: actor}, Action: event.ActionView, Outcome: event.OutcomeSuccess, PatientID: patient,
		Raw: fmt.Sprint(actor, patient, at.UnixNano(), len(f.events))}
	if mod != nil {
		mod(&e)
	}
	e.EventID = event.ID(f.tenant, "test", e.Raw)
	f.events = append(f.events, store.NewEventRow(&e, 0))
}

func (f *fixture) workforce(rows ...store.WorkforceRow) {
	for i := range rows {
		rows[i].TenantID, rows[i].ImportedAt, rows[i].RetainUntil = f.tenant, time.Now(), time.Now().AddDate(7, 0, 0)
	}
	if err := f.s.InsertWorkforce(context.Background(), rows); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) patients(rows ...store.PatientRow) {
	for i := range rows {
		rows[i].TenantID, rows[i].ImportedAt, rows[i].RetainUntil = f.tenant, time.Now(), time.Now().AddDate(7, 0, 0)
	}
	if err := f.s.InsertPatients(context.Background(), rows); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) practitioner(id, npi string) {
	err := f.s.InsertPractitioners(context.Background(), []store.PractitionerRow{{TenantID: f.tenant, PractitionerID: id,
		Identifiers: []string{"http://hl7.org/fhir/sid/us-npi|" + npi}, NPI: npi, Active: true, ImportedAt: time.Now(), RetainUntil: time.Now().AddDate(7, 0, 0)}})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) appointment(id, patient string, at time.Time, pracs ...string) {
	err := f.s.InsertAppointments(context.Background(), []store.AppointmentRow{{TenantID: f.tenant, AppointmentID: id, Status: "booked",
		StartTime: &at, PatientIDs: []string{patient}, PractitionerIDs: pracs, ImportedAt: time.Now(), RetainUntil: time.Now().AddDate(7, 0, 0)}})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) encounter(id, patient string, at time.Time, pracs ...string) {
	err := f.s.InsertEncounters(context.Background(), []store.EncounterRow{{TenantID: f.tenant, EncounterID: id, Status: "finished",
		PeriodStart: &at, PatientID: patient, PractitionerIDs: pracs, ImportedAt: time.Now(), RetainUntil: time.Now().AddDate(7, 0, 0)}})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) flush() {
	if err := f.s.InsertEvents(context.Background(), f.events, ""); err != nil {
		f.t.Fatal(err)
	}
	f.events = nil
}

func (f *fixture) tenantOf() Tenant {
	return Tenant{ID: f.tenant, Location: time.UTC, Hours: DefaultPracticeHours()}
}

func october2026() Window {
	return Window{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
}

func (f *fixture) detect(d Detector) []store.AlertRow {
	f.t.Helper()
	alerts, err := d.Detect(context.Background(), f.s, f.tenantOf(), october2026())
	if err != nil {
		f.t.Fatal(err)
	}
	for _, a := range alerts {
		f.t.Logf("%s %s %s %s: %s %v", a.Rule, a.Severity, a.ActorID, a.PatientIDs, a.Reason, a.Explanations)
	}
	return alerts
}

func alertsFor(alerts []store.AlertRow, actor, patient string) []store.AlertRow {
	var out []store.AlertRow
	for _, a := range alerts {
		if a.ActorID == actor && len(a.PatientIDs) == 1 && a.PatientIDs[0] == patient {
			out = append(out, a)
		}
	}
	return out
}

// clinic is a practice with schedule data: Dr Kim (Practitioner/77 by NPI)
// sees patient p1; nurse Priya is of the same department as Kim; nurse
// Omar of another; Dana works the front desk, Bill does billing.
func clinic(t *testing.T, tenant string) *fixture {
	f := newFixture(t, tenant)
	f.workforce(
		store.WorkforceRow{UserID: "kim", Name: "Kim Park", Role: "physician", Department: "cardiology", NPI: "1234567893"},
		store.WorkforceRow{UserID: "priya", Name: "Priya Patel", Role: "nurse", Department: "cardiology"},
		store.WorkforceRow{UserID: "omar", Name: "Omar Reyes", Role: "nurse", Department: "pediatrics"},
		store.WorkforceRow{UserID: "dana", Name: "Dana Ortiz", Role: "front_desk", Department: "front office"},
		store.WorkforceRow{UserID: "bill", Name: "Bill Chu", Role: "billing", Department: "business office"},
	)
	f.practitioner("77", "1234567893")
	f.patients(store.PatientRow{PatientID: "p1", MRN: "MRN004211", Active: true}, store.PatientRow{PatientID: "p2", MRN: "MRN004212", Active: true})
	f.appointment("a1", "p1", relDay.Add(2*time.Hour), "77")
	f.encounter("e1", "p1", relDay.Add(2*time.Hour), "77")
	return f
}

func TestExplainAndNoClinicalRelationship(t *testing.T) {
	f := clinic(t, "clinic-explain")
	f.access("kim", "p1", relDay, nil)                    // participant
	f.access("priya", "p1", relDay.AddDate(0, 0, 3), nil) // same department
	f.access("dana", "p1", relDay.Add(-3*time.Hour), nil) // front desk, appointment day
	f.access("dana", "p1", relDay.AddDate(0, 0, 2), nil)  // front desk, another day: unexplained, not clinical
	f.access("bill", "p1", relDay.AddDate(0, 0, 10), nil) // billing after the encounter
	f.access("omar", "p1", relDay.AddDate(0, 0, 1), nil)  // another department: unexplained
	f.access("priya", "p2", relDay.AddDate(0, 0, 1), nil) // no schedule for p2: unexplained
	f.access("priya", "p2", relDay.AddDate(0, 0, 1).Add(5*time.Minute), nil)
	f.flush()

	res, err := Explainer{}.Explain(context.Background(), f.s, f.tenantOf(), october2026())
	if err != nil {
		t.Fatal(err)
	}
	if !res.HasSchedule || len(res.Accesses) != 8 || res.Explained != 4 || res.Share != 0.5 {
		t.Fatalf("result: schedule %v, %d accesses, %d explained, share %v", res.HasSchedule, len(res.Accesses), res.Explained, res.Share)
	}
	for _, a := range res.Accesses {
		t.Logf("%s %s %v %q %v", a.Who(), a.PatientID, a.Explained, a.Explanation, a.Checked)
	}
	want := map[string]string{"kim": "participant", "bill": "covers 30 days after encounter e1"}
	for _, a := range res.Accesses {
		if w, ok := want[a.Who()]; ok && !strings.Contains(a.Explanation, w) {
			t.Errorf("%s: explanation %q, want %q", a.Who(), a.Explanation, w)
		}
	}

	alerts := f.detect(NoClinicalRelationship{})
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want 2 (omar p1, priya p2)", len(alerts))
	}
	o := alertsFor(alerts, "omar", "p1")
	if len(o) != 1 || o[0].Severity != SeverityLow ||
		o[0].Reason != "Omar Reyes (nurse) opened the chart of patient MRN004211 with no appointment or encounter with them or their department within 14 days." ||
		!strings.Contains(strings.Join(o[0].Explanations, "|"), "appointments ±14 days: 1, none with them or their department") {
		t.Fatalf("omar: %+v", o)
	}
	if p := alertsFor(alerts, "priya", "p2"); len(p) != 1 || p[0].EvidenceCount != 2 ||
		!strings.Contains(strings.Join(p[0].Explanations, "|"), "encounters ±14 days: none") {
		t.Fatalf("priya p2: %+v", p)
	}
	again := f.detect(NoClinicalRelationship{})
	if again[0].AlertID != alerts[0].AlertID {
		t.Fatal("alert ids are not stable")
	}
}

func TestNoScheduleDataIsSilent(t *testing.T) {
	f := newFixture(t, "clinic-noschedule")
	f.workforce(store.WorkforceRow{UserID: "priya", Name: "Priya Patel", Role: "nurse"})
	f.patients(store.PatientRow{PatientID: "v1", MRN: "MRN9", Restricted: true, Active: true})
	f.access("priya", "p1", relDay, nil)
	f.access("priya", "v1", relDay, func(e *event.Event) { e.BreakGlass = true })
	f.flush()
	res, err := Explainer{}.Explain(context.Background(), f.s, f.tenantOf(), october2026())
	if err != nil {
		t.Fatal(err)
	}
	if res.HasSchedule || res.Share != 0 || res.Accesses[0].Checked[0] != NoScheduleNote {
		t.Fatalf("%+v", res)
	}
	if a := f.detect(NoClinicalRelationship{}); len(a) != 0 {
		t.Fatal("no_clinical_relationship must be silent without schedule data")
	}
	if a := f.detect(BreakGlassUnexplained{}); len(a) != 0 {
		t.Fatal("break_glass_unexplained must be silent without encounters")
	}
	// Restricted charts still alert, lower, saying what could not be checked.
	a := f.detect(RestrictedPatientAccess{})
	if len(a) != 1 || a[0].Severity != SeverityMedium || !strings.Contains(a[0].Reason, "could not be checked") {
		t.Fatalf("restricted without schedule: %+v", a)
	}
}

func TestBreakGlassUnexplained(t *testing.T) {
	f := clinic(t, "clinic-btg")
	btg := func(e *event.Event) { e.BreakGlass = true }
	f.access("omar", "p1", relDay.Add(20*time.Hour), btg)                               // encounter within 24 h: fine
	f.access("omar", "p2", relDay, btg)                                                 // no encounter: alert
	f.access("priya", "p2", relDay, func(e *event.Event) { e.PurposeOfUse = "ETREAT" }) // purpose of use: alert
	f.access("kim", "p2", relDay, nil)                                                  // not break-glass
	f.access("omar", "p1", relDay.AddDate(0, 0, 3), btg)                                // encounter 3 days before: alert
	f.flush()
	alerts := f.detect(BreakGlassUnexplained{})
	if len(alerts) != 3 || len(alertsFor(alerts, "omar", "p2")) != 1 || len(alertsFor(alerts, "priya", "p2")) != 1 {
		t.Fatalf("%d alerts, want omar p2, priya p2, omar p1 day 3", len(alerts))
	}
	for _, a := range alerts {
		if a.Severity != SeverityHigh || !strings.Contains(a.Reason, "no encounter within 24 hours") {
			t.Errorf("%+v", a)
		}
	}
}
