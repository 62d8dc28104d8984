package records

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIncidentLifecycle(t *testing.T) {
	ctx := context.Background()
	db := tenantDB(t, "inc-life")
	other := tenantDB(t, "inc-other")
	now := time.Date(2026, 12, 31, 15, 0, 0, 0, time.UTC)

	id, err := OpenIncident(ctx, db, IncidentRequest{Source: SourceCase, SourceID: "case/42", Summary: "Clerk opened 30 charts at 1 a.m.\nDetails follow.",
		Actor: "po@clinic", OpenedBy: "reviewer@clinic", PatientIDs: []string{"p1", "p2"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if id != "inc-case-case_42" {
		t.Fatalf("id = %q, want one derived from the case", id)
	}
	again, err := OpenIncident(ctx, db, IncidentRequest{Source: SourceCase, SourceID: "case/42", Summary: "again", Actor: "po@clinic"}, now.Add(time.Hour))
	if err != nil || again != id {
		t.Fatalf("second open = %q, %v; want the same incident", again, err)
	}
	if _, err := Get[Incident](ctx, other, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant reads the incident: err = %v", err)
	}
	cur, err := Get[Incident](ctx, db, id)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Version != 1 || cur.Body.Title != "Clerk opened 30 charts at 1 a.m." || cur.Body.Discovered.String() != "2026-12-31" || cur.Body.OpenedBy != "reviewer@clinic" {
		t.Fatalf("opened incident = %+v", cur)
	}
	if got := cur.RetainUntil.String(); got != "2033-12-31" {
		t.Fatalf("retain_until = %s, want 7 years on", got)
	}

	if _, err := AddTimeline(ctx, db, id, TimelineEntry{At: now.Add(2 * time.Hour), Actor: "po@clinic", Note: "interviewed the clerk"}, 1); err != nil {
		t.Fatal(err)
	}
	// A change made from the old version is refused.
	if _, err := AddTimeline(ctx, db, id, TimelineEntry{At: now.Add(3 * time.Hour), Actor: "po@clinic", Note: "stale"}, 1); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale change: err = %v, want ErrConflict", err)
	}

	// The assessment rates a factor high: low probability is refused, breach accepted.
	cur, _ = Get[Incident](ctx, db, id)
	in := cur.Body
	in.Assessment = &RiskAssessment{
		NatureExtent:   Factor{"high", "diagnoses and SSNs"},
		Recipient:      Factor{"medium", "a workforce member without need"},
		AcquiredViewed: Factor{"high", "charts were opened"},
		Mitigation:     Factor{"low", "attestation of non-retention"},
		AssessedBy:     "po@clinic", AssessedOn: d("2027-01-05"),
	}
	in.Determination, in.Rationale, in.DeterminedBy, in.DeterminedOn = DeterminationLowProbability, "x", "po@clinic", d("2027-01-05")
	in.Affected = 30
	in.ByState = map[string]int{"TX": 30}
	if _, err := Put(ctx, db, id, in, Change{Actor: "po@clinic", Reason: "assessed", BaseVersion: 2}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "presumed") {
		t.Fatalf("low probability with high factors: err = %v", err)
	}
	in.Determination = DeterminationBreach
	in.BreachType, in.Location = "unauthorized_access_disclosure", "ehr"
	if _, err := Put(ctx, db, id, in, Change{Actor: "po@clinic", Reason: "four-factor assessment", BaseVersion: 2}); err != nil {
		t.Fatal(err)
	}
	// Closing with the individual notice still owed is refused.
	in.Status, in.ClosedOn = IncidentClosed, d("2027-01-10")
	if _, err := Put(ctx, db, id, in, Change{Actor: "po@clinic", Reason: "close", BaseVersion: 3}); err == nil || !strings.Contains(err.Error(), "individual") {
		t.Fatalf("closing with notices owed: err = %v", err)
	}
	in.Status, in.ClosedOn = IncidentInvestigating, Date{}

	// Reminders on 20 February: individual notice due 1 March, 9 days left; the log not yet.
	all, err := List[Incident](ctx, db)
	if err != nil || len(all) != 1 {
		t.Fatalf("list = %d, %v", len(all), err)
	}
	overdue, upcoming := Reminders(all, d("2027-02-20"), 14)
	if len(overdue) != 0 || len(upcoming) != 2 || upcoming[0].Notice != NoticeIndividual || upcoming[0].DaysLeft != 9 {
		t.Fatalf("reminders on 20 Feb: overdue %+v upcoming %+v", overdue, upcoming)
	}
	overdue, _ = Reminders(all, d("2027-03-02"), 14)
	if len(overdue) != 2 {
		t.Fatalf("on 2 March both notices are overdue, got %+v", overdue)
	}

	in.Notices = []Notice{{Kind: NoticeIndividual, SentOn: d("2027-02-15"), Method: "first-class mail", Count: 30}}
	if _, err := Put(ctx, db, id, in, Change{Actor: "po@clinic", Reason: "letters mailed", BaseVersion: 3}); err != nil {
		t.Fatal(err)
	}
	hist, err := History[Incident](ctx, db, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 || hist[0].Reason != "incident opened from case" || hist[3].Reason != "letters mailed" || hist[0].Body.Determination != "" {
		t.Fatalf("history has %d versions: %+v", len(hist), hist)
	}

	// The 2026 annual log holds it (discovered 31 Dec 2026, 30 individuals).
	all, _ = List[Incident](ctx, db)
	var buf bytes.Buffer
	if err := WriteHHSLogCSV(&buf, all, 2026); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1][0] != id || recs[1][1] != "2026-12-31" || recs[1][4] != "30" || recs[1][8] != "2027-02-15" {
		t.Fatalf("HHS log 2026 = %v", recs)
	}
	buf.Reset()
	_ = WriteHHSLogCSV(&buf, all, 2027)
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("HHS log 2027 has %d lines, want the header only", n)
	}
}

func TestPutValidates(t *testing.T) {
	ctx := context.Background()
	db := tenantDB(t, "inc-validate")
	good := Incident{Title: "Lost laptop", Source: SourceManual, Status: IncidentOpen, Discovered: d("2026-05-01"), OpenedBy: "po"}
	tests := []struct {
		name string
		id   string
		body Incident
		ch   Change
		want string
	}{
		{"no actor", "a1", good, Change{Reason: "r"}, "actor"},
		{"no reason", "a1", good, Change{Actor: "po"}, "reason"},
		{"short retention", "a1", good, Change{Actor: "po", Reason: "r", RetainYears: 5}, "164.316"},
		{"bad id", "a b", good, Change{Actor: "po", Reason: "r"}, "record id"},
		{"no discovery", "a1", func() Incident { x := good; x.Discovered = Date{}; return x }(), Change{Actor: "po", Reason: "r"}, "discovery"},
		{"case without id", "a1", func() Incident { x := good; x.Source = SourceCase; return x }(), Change{Actor: "po", Reason: "r"}, "case id"},
		{"exception unknown", "a1", func() Incident {
			x := good
			x.Determination, x.Exception, x.Rationale, x.DeterminedBy, x.DeterminedOn = DeterminationException, "felt fine", "r", "po", d("2026-05-02")
			return x
		}(), Change{Actor: "po", Reason: "r"}, "exception"},
		{"determination without rationale", "a1", func() Incident {
			x := good
			x.Determination, x.Affected = DeterminationBreach, 3
			return x
		}(), Change{Actor: "po", Reason: "r"}, "rationale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Put(ctx, db, tt.id, tt.body, tt.ch)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := Put(ctx, db, "a1", good, Change{Actor: "po", Reason: "intake"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Put(ctx, db, "a1", good, Change{Actor: "po", Reason: "intake again"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("create over an existing id: err = %v, want ErrConflict", err)
	}
}

func TestIncidentDeadlinesStopWithoutBreach(t *testing.T) {
	in := Incident{Discovered: d("2026-05-01"), Affected: 900}
	if n := len(in.Deadlines(d("2026-05-02"))); n != 2 {
		t.Fatalf("undetermined incident has %d deadlines, want the presumed breach's 2", n)
	}
	in.Determination = DeterminationLowProbability
	if n := len(in.Deadlines(d("2026-05-02"))); n != 0 {
		t.Fatalf("low-probability incident has %d deadlines", n)
	}
	// HHS notified at once also covers the annual log.
	in = Incident{Discovered: d("2026-05-01"), Affected: 10, Determination: DeterminationBreach,
		Notices: []Notice{{Kind: NoticeHHS, SentOn: d("2026-05-20")}, {Kind: NoticeIndividual, SentOn: d("2026-07-15")}}}
	got := in.Deadlines(d("2026-08-01"))
	if len(got) != 2 || got[0].Status != DeadlineLate || got[1].Status != DeadlineMet {
		t.Fatalf("deadlines = %+v, want individual late (sent 15 Jul, due 30 Jun) and the log met", got)
	}
}

// records_current (for dashboards and ad hoc queries) agrees with Get.
func TestRecordsCurrentView(t *testing.T) {
	ctx := context.Background()
	db := tenantDB(t, "view-current")
	good := Incident{Title: "Misdirected fax", Source: SourceManual, Status: IncidentOpen, Discovered: d("2026-05-01"), OpenedBy: "po"}
	if _, err := Put(ctx, db, "f1", good, Change{Actor: "po", Reason: "intake"}); err != nil {
		t.Fatal(err)
	}
	good.Status = IncidentInvestigating
	if _, err := Put(ctx, db, "f1", good, Change{Actor: "po", Reason: "started", BaseVersion: 1}); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Version uint32 `json:"version"`
		Reason  string `json:"reason"`
	}
	if err := db.Select(ctx, &rows, "SELECT version, reason FROM "+db.Database()+".records_current WHERE tenant_id = {tenant:String}", nil); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Version != 2 || rows[0].Reason != "started" {
		t.Fatalf("records_current = %+v", rows)
	}
}
