package analyze

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/storetest"
)

var shared = storetest.New("analyze_test")

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

func testStore(t *testing.T) store.Store { return shared.Store(t) }

var ny, _ = time.LoadLocation("America/New_York")

// scenario writes a month of EHR access for a tenant:
//   - day: Mon–Fri 09–16, every weekday; one night (Sat 10 Oct, 01–02) opens 25 charts;
//   - nurse: nights 22–05 on 20 days, every day of the week: usual for her;
//   - newbie: 3 days of history, then 21:00 on a Tuesday: practice-hours fallback;
//   - once: one late access to a single patient (below MinPatients): no alert.
func scenario(t *testing.T, s store.Store, tenant string) {
	t.Helper()
	var rows []store.EventRow
	add := func(actor, role string, at time.Time, patient string) {
		e := event.Event{TenantID: tenant, SourceKind: event.KindEHR, SourceSystem: "test", Time: at.UTC(), ReceivedAt: at.UTC(),
			Actor: event.Actor{ID: actor, Name: strings.ToUpper(actor[:1]) + actor[1:], Role: role}, Action: event.ActionView,
			Outcome: event.OutcomeSuccess, PatientID: patient, Raw: fmt.Sprint(actor, at.UnixNano(), patient)}
		e.EventID = event.ID(tenant, "test", e.Raw)
		rows = append(rows, store.NewEventRow(&e, 0))
	}
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, ny)
	for d := range 31 {
		day := start.AddDate(0, 0, d)
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			for h := 9; h <= 16; h++ {
				add("day", "front_desk", day.Add(time.Duration(h)*time.Hour+17*time.Minute), fmt.Sprintf("P%d", (d*10+h)%300))
			}
		}
		if d%3 != 2 { // nurse works 2 nights of 3
			for _, h := range []int{22, 23} {
				add("nurse", "nurse", day.Add(time.Duration(h)*time.Hour+5*time.Minute), fmt.Sprintf("N%d", (d*7+h)%200))
			}
			for h := 0; h <= 5; h++ {
				add("nurse", "nurse", day.Add(time.Duration(h)*time.Hour+40*time.Minute), fmt.Sprintf("N%d", (d*5+h)%200))
			}
		}
	}
	night := time.Date(2026, 10, 10, 1, 3, 0, 0, ny) // a Saturday
	for i := range 25 {
		add("day", "front_desk", night.Add(time.Duration(i)*3*time.Minute), fmt.Sprintf("VIP%d", i))
	}
	for _, d := range []int{19, 20, 21} {
		add("newbie", "billing", start.AddDate(0, 0, d).Add(10*time.Hour), "B1")
	}
	tue := time.Date(2026, 10, 27, 21, 0, 0, 0, ny)
	add("newbie", "billing", tue, "B2")
	add("newbie", "billing", tue.Add(5*time.Minute), "B3")
	add("once", "physician", time.Date(2026, 10, 14, 10, 0, 0, 0, ny), "X1")
	add("once", "physician", time.Date(2026, 10, 14, 23, 30, 0, 0, ny), "X1")
	if err := s.InsertEvents(context.Background(), rows, ""); err != nil {
		t.Fatal(err)
	}
}

func october() Window {
	return Window{From: time.Date(2026, 10, 1, 0, 0, 0, 0, ny), To: time.Date(2026, 11, 1, 0, 0, 0, 0, ny)}
}

func TestAfterHours(t *testing.T) {
	s := testStore(t)
	scenario(t, s, "clinic-ah")
	tenant := Tenant{ID: "clinic-ah", Location: ny, Hours: DefaultPracticeHours()}
	alerts, err := AfterHours{}.Detect(context.Background(), s, tenant, october())
	if err != nil {
		t.Fatal(err)
	}
	byActor := map[string][]store.AlertRow{}
	for _, a := range alerts {
		byActor[a.ActorID] = append(byActor[a.ActorID], a)
		t.Logf("%s %s: %s", a.Severity, a.ActorID, a.Reason)
	}
	if n := len(byActor["day"]); n != 1 {
		t.Fatalf("day worker: %d alerts, want 1 (the Saturday night)", n)
	}
	a := byActor["day"][0]
	if a.Severity != SeverityHigh || a.EvidenceCount != 25 || len(a.PatientIDs) != 25 ||
		!strings.Contains(a.Reason, "opened 25 patients' records between 01:03 and 02:15 on Sat 10 Oct 2026") ||
		!strings.Contains(a.Reason, "their usual hours are 08:00-18:00, weekdays") {
		t.Fatalf("day worker alert: %+v", a)
	}
	if len(byActor["nurse"]) != 0 {
		t.Fatalf("the night nurse's own pattern should explain her nights, got %v", byActor["nurse"][0].Reason)
	}
	if n := len(byActor["newbie"]); n != 1 || !strings.Contains(byActor["newbie"][0].Reason, "outside practice hours") {
		t.Fatalf("newbie: %+v, want one alert against practice hours", byActor["newbie"])
	}
	if len(byActor["once"]) != 0 {
		t.Fatal("one late look at one patient is below MinPatients")
	}
	// Stable ids: the same run gives the same alert ids.
	again, _ := AfterHours{}.Detect(context.Background(), s, tenant, october())
	if len(again) != len(alerts) || again[0].AlertID != alerts[0].AlertID {
		t.Fatal("alert ids are not stable across runs")
	}
}

func TestTerminatedAndRunner(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	tenant := "clinic-term"
	term := time.Date(2026, 10, 12, 0, 0, 0, 0, time.UTC)
	err := s.InsertWorkforce(ctx, []store.WorkforceRow{
		{TenantID: tenant, UserID: "jlee", Name: "Jamie Lee", Role: "nurse", Email: "Jamie.Lee@clinic.example", Aliases: []string{"JLEE-VPN"}, TerminationDate: &term, ImportedAt: time.Now(), RetainUntil: time.Now().AddDate(7, 0, 0)},
		{TenantID: tenant, UserID: "kim", Name: "Kim Park", Role: "physician", ImportedAt: time.Now(), RetainUntil: time.Now().AddDate(7, 0, 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.EventRow
	add := func(actor string, kind event.SourceKind, action event.Action, at time.Time, patient, ip string) {
		e := event.Event{TenantID: tenant, SourceKind: kind, SourceSystem: "test", Time: at, ReceivedAt: at,
			Actor: event.Actor{ID: actor}, Action: action, Outcome: event.OutcomeSuccess, PatientID: patient, ClientIP: ip, Raw: fmt.Sprint(actor, at, action)}
		e.EventID = event.ID(tenant, "test", e.Raw)
		rows = append(rows, store.NewEventRow(&e, 0))
	}
	add("jlee", event.KindEHR, event.ActionView, time.Date(2026, 10, 12, 15, 0, 0, 0, time.UTC), "P1", "") // termination day: fine
	add("JLEE-VPN", event.KindVPN, event.ActionVPNConnect, time.Date(2026, 10, 15, 1, 0, 0, 0, time.UTC), "", "198.51.100.7")
	add("jamie.lee@clinic.example", event.KindEmail, event.ActionMailboxAccess, time.Date(2026, 10, 15, 1, 5, 0, 0, time.UTC), "", "198.51.100.7")
	add("jlee", event.KindEHR, event.ActionView, time.Date(2026, 10, 15, 1, 10, 0, 0, time.UTC), "P9", "10.0.0.9")
	add("kim", event.KindEHR, event.ActionView, time.Date(2026, 10, 15, 14, 0, 0, 0, time.UTC), "P2", "")
	if err := s.InsertEvents(ctx, rows, ""); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Store: s, Detectors: []Detector{Terminated{}}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w := Window{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	tz := Tenant{ID: tenant, Location: time.UTC, Hours: DefaultPracticeHours()}
	res, err := r.Run(ctx, []Tenant{tz}, w)
	if err != nil {
		t.Fatal(err)
	}
	if res.Alerts != 1 || res.BySeverity[SeverityCritical] != 1 {
		t.Fatalf("run result %+v, want one critical alert", res)
	}
	// Running again replaces, not adds.
	if _, err := r.Run(ctx, []Tenant{tz}, w); err != nil {
		t.Fatal(err)
	}
	var got []store.AlertRow
	if err := s.Select(ctx, &got, "SELECT tenant_id, alert_id, rule, severity, actor_id, reason, evidence_event_ids, evidence_count, patient_ids FROM analyze_test.alerts_current WHERE tenant_id = {t:String}", store.Params{"t": tenant}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d alerts stored after two runs, want 1", len(got))
	}
	a := got[0]
	t.Log(a.Reason)
	if a.EvidenceCount != 3 || len(a.EvidenceEventIDs) != 3 || a.PatientIDs[0] != "P9" ||
		!strings.Contains(a.Reason, "Jamie Lee (nurse) left on 12 Oct 2026, but their accounts were used 3 days after that, on Thu 15 Oct 2026") ||
		!strings.Contains(a.Reason, "198.51.100.7") || !strings.Contains(a.Reason, "VPN session start ×1") || !strings.Contains(a.Reason, "mailbox access ×1") {
		t.Fatalf("alert %+v", a)
	}
	tenants, err := TenantsWithEvents(ctx, s, w)
	if err != nil || !strings.Contains(strings.Join(tenants, ","), tenant) {
		t.Fatalf("tenants %v, %v", tenants, err)
	}
}

func TestParsePracticeHours(t *testing.T) {
	h, err := ParsePracticeHours("sat-mon 08:00-12:00")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Days[time.Saturday] || !h.Days[time.Sunday] || !h.Days[time.Monday] || h.Days[time.Tuesday] || h.Open != 8 || h.Close != 12 {
		t.Fatalf("%+v", h)
	}
	for _, bad := range []string{"", "mon-fri", "mon-fri 19:00-07:00", "xyz 07:00-19:00", "mon 07:30-19:00"} {
		if _, err := ParsePracticeHours(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
