package records

import (
	"strings"
	"testing"
)

func TestRiskLevel(t *testing.T) {
	for _, tt := range []struct {
		l, i int
		want string
	}{{1, 1, "low"}, {2, 2, "low"}, {1, 5, "medium"}, {3, 3, "medium"}, {2, 5, "high"}, {4, 4, "high"}, {3, 6, "critical"}, {5, 5, "critical"}, {0, 3, ""}} {
		if got := RiskLevel(tt.l, tt.i); got != tt.want {
			t.Errorf("RiskLevel(%d, %d) = %q, want %q", tt.l, tt.i, got, tt.want)
		}
	}
}

func TestValidateKinds(t *testing.T) {
	pub := Policy{Title: "Sanctions", Rule: "164.308(a)(1)(ii)(C)", Markdown: "text", Status: "published", ApprovedBy: "owner",
		ApprovedOn: d("2026-01-10"), PublishedOn: d("2026-01-11"), ReviewDue: d("2027-01-10")}
	tests := []struct {
		name string
		body Body
		want string // "" = valid
	}{
		{"published policy", pub, ""},
		{"policy rule not a section", func() Policy { p := pub; p.Rule = "HIPAA"; return p }(), "section"},
		{"policy review over a year", func() Policy { p := pub; p.ReviewDue = d("2027-01-11"); return p }(), "yearly"},
		{"published without approval", func() Policy { p := pub; p.ApprovedBy = ""; return p }(), "approver"},
		{"ack without version", PolicyAck{PolicyID: "p", Person: "ann", AckedOn: d("2026-01-12")}, "version"},
		{"risk to mitigate without plan", Risk{Asset: "ehr", Threat: "t", Vulnerability: "v", Likelihood: 2, Impact: 2, Treatment: "mitigate", Owner: "o", Status: "open"}, "plan"},
		{"risk scores out of range", Risk{Asset: "ehr", Threat: "t", Vulnerability: "v", Likelihood: 6, Impact: 2, Treatment: "accept", Owner: "o", Status: "open"}, "1 to 5"},
		{"acceptance over a year", Risk{Asset: "ehr", Threat: "t", Vulnerability: "v", Likelihood: 2, Impact: 2, Treatment: "accept", Owner: "o", Status: "accepted",
			AcceptedBy: "dr", AcceptedOn: d("2026-01-01"), AcceptExpires: d("2027-01-02")}, "at most a year"},
		{"analysis next due over a year", RiskAnalysis{Title: "RA", PerformedOn: d("2026-02-28"), Scope: "all", Assets: []Asset{{Name: "ehr", Kind: "ehr"}}, NextDue: d("2027-03-01")}, "within a year"},
		{"analysis without assets", RiskAnalysis{Title: "RA", PerformedOn: d("2026-02-28"), Scope: "all", NextDue: d("2027-02-28")}, "inventory"},
		{"vendor terminated without disposition", Vendor{Name: "A", Services: "s", PHI: "p", BAAStatus: "terminated", TerminatedOn: d("2026-01-01")}, "returned or destroyed"},
		{"vendor data destroyed without day", Vendor{Name: "A", Services: "s", PHI: "p", BAAStatus: "terminated", TerminatedOn: d("2026-01-01"), DataDisposition: "destroyed"}, "day the PHI"},
		{"vendor infeasible return", Vendor{Name: "A", Services: "s", PHI: "p", BAAStatus: "terminated", TerminatedOn: d("2026-01-01"), DataDisposition: "infeasible"}, ""},
		{"BAA expiring before signed", Vendor{Name: "A", Services: "s", PHI: "p", BAAStatus: "signed", BAASigned: d("2026-01-01"), BAAExpires: d("2025-01-01")}, "expire before"},
		{"course without due days", Course{Title: "c", Type: "annual_refresher"}, "due_days"},
		{"finding closed with open action", Finding{Title: "f", Owner: "o", Severity: "high", Status: "closed", ClosedOn: d("2026-02-01"),
			CorrectiveActions: []CorrectiveAction{{Action: "a", Owner: "o", Due: d("2026-01-01")}}}, "not done"},
		{"finding action done without evidence", Finding{Title: "f", Owner: "o", Severity: "high", Status: "open",
			CorrectiveActions: []CorrectiveAction{{Action: "a", Owner: "o", Due: d("2026-01-01"), DoneOn: d("2026-01-02")}}}, "what shows it"},
		{"task done without evidence", CalendarTask{Task: TaskLogReview, Period: "2026-01", Due: d("2026-02-28"), Status: "done", CompletedOn: d("2026-02-20"), CompletedBy: "po"}, "evidence"},
		{"task not on the calendar", CalendarTask{Task: "yoga", Period: "2026", Due: d("2026-12-31"), Status: "open"}, "not on the audit calendar"},
		{"sanction without who imposed it", Sanction{Person: "p", Violation: "v", Sanction: "warning", ImposedOn: d("2026-01-01")}, "imposed"},
		{"disclosure without purpose", Disclosure{PatientID: "p", DisclosedOn: d("2026-01-01"), Recipient: "r", Description: "d"}, "purpose"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.body.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("valid record refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestGenerateCalendar(t *testing.T) {
	tasks := GenerateCalendar(2028, map[string]string{TaskLogReview: "po"})
	if len(tasks) != 12+8+4 {
		t.Fatalf("%d tasks, want 24", len(tasks))
	}
	due := map[string]string{}
	for _, p := range tasks {
		due[p.ID] = p.Task.Due.String()
		if err := p.Task.Validate(); err != nil {
			t.Errorf("%s: %v", p.ID, err)
		}
	}
	for id, want := range map[string]string{
		"cal-log_review-2028-01":           "2028-02-29", // leap year
		"cal-log_review-2028-11":           "2028-12-31",
		"cal-log_review-2028-12":           "2029-01-31",
		"cal-recertification-2028-Q1":      "2028-03-31",
		"cal-baa_inventory_review-2028-Q4": "2028-12-31",
		"cal-risk_analysis-2028":           "2028-12-31",
	} {
		if due[id] != want {
			t.Errorf("%s due %q, want %s", id, due[id], want)
		}
	}
	if tasks[0].Task.Owner != "po" || tasks[12].Task.Owner != "" {
		t.Errorf("owners: %q, %q", tasks[0].Task.Owner, tasks[12].Task.Owner)
	}
}

func TestTrainingStatus(t *testing.T) {
	courses := []Versioned[Course]{{ID: "sec", Body: Course{Title: "Security", Type: "security_awareness", DueDays: 30, PassScore: 80, Roles: []string{"nurse"}}}}
	as := []Versioned[Assignment]{
		{ID: "a1", Body: Assignment{CourseID: "sec", Person: "ann", Assigned: d("2026-01-01"), Due: d("2026-01-31")}},
		{ID: "a2", Body: Assignment{CourseID: "sec", Person: "bob", Assigned: d("2026-01-01"), Due: d("2026-01-31")}},
		{ID: "a3", Body: Assignment{CourseID: "sec", Person: "cat", Assigned: d("2026-01-01"), Due: d("2026-03-31")}},
	}
	cs := []Versioned[Completion]{
		{Body: Completion{CourseID: "sec", Person: "ann", CompletedOn: d("2026-01-20"), Score: 95}},
		{Body: Completion{CourseID: "sec", Person: "bob", CompletedOn: d("2026-01-20"), Score: 60}}, // failed the quiz
		{Body: Completion{CourseID: "sec", Person: "bob", CompletedOn: d("2025-06-01"), Score: 99}}, // before this assignment
	}
	st := Training(courses, as, cs, d("2026-02-15"))
	got := st[0].Status + " " + st[1].Status + " " + st[2].Status
	if got != "complete overdue due" {
		t.Fatalf("statuses = %s", got)
	}
	if p := TrainingPercent(st, d("2026-02-15")); p != 50 {
		t.Fatalf("percent = %v, want 50 (cat is not due yet)", p)
	}
	people := map[string]string{"ann": "nurse", "dan": "nurse", "eve": "front_desk"}
	add := AssignmentsFor(courses, people, as, d("2026-02-15"))
	if len(add) != 1 {
		t.Fatalf("new assignments = %+v, want dan's only (ann has one, eve's role has none)", add)
	}
	for _, a := range add {
		if a.Person != "dan" || a.Due.String() != "2026-03-17" {
			t.Fatalf("assignment = %+v", a)
		}
	}
}

func TestAckCoverage(t *testing.T) {
	p := Versioned[Policy]{ID: "pol", Version: 2}
	acks := []Versioned[PolicyAck]{
		{Body: PolicyAck{PolicyID: "pol", PolicyVersion: 2, Person: "ann"}},
		{Body: PolicyAck{PolicyID: "pol", PolicyVersion: 1, Person: "bob"}}, // an old version
		{Body: PolicyAck{PolicyID: "other", PolicyVersion: 2, Person: "cat"}},
	}
	acked, missing := AckCoverage(p, acks, []string{"ann", "bob", "cat"})
	if strings.Join(acked, ",") != "ann" || strings.Join(missing, ",") != "bob,cat" {
		t.Fatalf("acked %v missing %v", acked, missing)
	}
	if id := AckID("pol", 2, "ann@x.org"); id != "ack-pol-v2-ann_x.org" {
		t.Fatalf("AckID = %s", id)
	}
}

func TestVendorsDue(t *testing.T) {
	vs := []Versioned[Vendor]{
		{ID: "a", Body: Vendor{Name: "A", BAAStatus: "signed", BAASigned: d("2025-01-01"), BAAExpires: d("2026-03-01")}},
		{ID: "b", Body: Vendor{Name: "B", BAAStatus: "signed", BAASigned: d("2025-01-01"), BAAExpires: d("2026-06-01")}},
		{ID: "c", Body: Vendor{Name: "C", BAAStatus: "requested"}},
		{ID: "d", Body: Vendor{Name: "D", BAAStatus: "terminated"}},
	}
	day := d("2026-02-01")
	var got []string
	for _, it := range VendorsDue(vs, day) {
		got = append(got, it.ID+":"+it.Title)
	}
	if strings.Join(got, "|") != "a:BAA renewal: A|c:BAA missing: C" {
		t.Fatalf("due = %v", got)
	}
	if !vs[0].Body.Current(day) || vs[0].Body.Current(d("2026-03-02")) || vs[2].Body.Current(day) {
		t.Fatal("Current is wrong around the expiry day")
	}
}
