package records

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SeedDemo fills db's tenant with a small practice's compliance records as
// of day — a risk analysis, policies and acknowledgements, training,
// business associates, the year's audit calendar with its reviews done
// (one late), two incidents (one a breach with its notices), a patient
// request, a disclosure, a finding and a sanction — so the demo and the
// binder have something real to show. It is idempotent: records already
// there are left alone.
func SeedDemo(ctx context.Context, db DB, day Date) error {
	const po = "privacy.officer@riverside.example"
	at := day.Time().Add(9 * time.Hour)
	y := day.Year()
	put := func(err error) error {
		if errors.Is(err, ErrConflict) {
			return nil // already seeded
		}
		return err
	}
	ch := func(reason string) Change { return Change{Actor: po, Reason: reason, At: at} }
	ago := func(n int) Date { return day.AddDays(-n) }

	assets, err := SeedAssets(ctx, db)
	if err != nil {
		return err
	}
	if len(assets) == 0 {
		assets = []Asset{{Name: "ehr-prod", Kind: "ehr", EPHI: true, Flows: "charts, orders, results"},
			{Name: "m365", Kind: "email", EPHI: true, Flows: "referrals and results by mail"},
			{Name: "main-asa", Kind: "vpn", EPHI: true, Flows: "remote access to the EHR"}}
	}
	steps := []error{
		putErr(Put(ctx, db, fmt.Sprintf("ra-%d", y), RiskAnalysis{Title: fmt.Sprintf("Risk analysis %d", y), PerformedOn: ago(120),
			Scope: "all systems that create, receive, keep or send ePHI", Method: "NIST SP 800-30", Assets: assets,
			Approver: "dr.owner@riverside.example", ApprovedOn: ago(118), NextDue: ago(120).AddYears(1)}, ch("annual risk analysis"))),
		putErr(Put(ctx, db, "risk-laptops", Risk{Asset: "workstations", Threat: "theft of a laptop", Vulnerability: "two laptops without full-disk encryption",
			Controls: "screen lock", Likelihood: 3, Impact: 4, Treatment: "mitigate", Plan: "enable BitLocker on every laptop", Owner: "it@msp.example",
			Due: ago(10), ResidualLikelihood: 1, ResidualImpact: 2, Status: "open"}, ch("risk identified in the analysis"))),
		putErr(Put(ctx, db, "risk-phishing", Risk{Asset: "m365", Threat: "phishing of credentials", Vulnerability: "staff click rate 8%",
			Controls: "MFA, mail filtering", Likelihood: 3, Impact: 3, Treatment: "accept", Owner: po, Status: "accepted",
			AcceptedBy: "dr.owner@riverside.example", AcceptedOn: ago(100), AcceptExpires: ago(100).AddYears(1)}, ch("residual risk accepted"))),
		putErr(Put(ctx, db, "pol-access-review", Policy{Title: "Information system activity review", Rule: "164.308(a)(1)",
			Markdown: "The privacy officer reviews the audit logs of every system holding ePHI each month...", Status: "published",
			ApprovedBy: "dr.owner@riverside.example", ApprovedOn: ago(200), PublishedOn: ago(199), ReviewDue: ago(200).AddYears(1), Owner: po}, ch("policy published"))),
		putErr(Put(ctx, db, AckID("pol-access-review", 1, "dortiz"), PolicyAck{PolicyID: "pol-access-review", PolicyVersion: 1, Person: "dortiz", AckedOn: ago(190)}, ch("acknowledged"))),
		putErr(Put(ctx, db, "course-security", Course{Title: "Security awareness", Type: "security_awareness", DueDays: 30, PassScore: 80, ValidMonths: 12}, ch("course added"))),
		putErr(Put(ctx, db, AssignmentID("course-security", "dortiz", ago(90)), Assignment{CourseID: "course-security", Person: "dortiz", Role: "front_desk", Assigned: ago(90), Due: ago(60)}, ch("annual assignment"))),
		putErr(Put(ctx, db, AssignmentID("course-security", "mchen", ago(90)), Assignment{CourseID: "course-security", Person: "mchen", Role: "nurse", Assigned: ago(90), Due: ago(60)}, ch("annual assignment"))),
		putErr(Put(ctx, db, CompletionID("course-security", "dortiz", ago(70)), Completion{CourseID: "course-security", Person: "dortiz", CompletedOn: ago(70), Score: 92, Source: "lms"}, ch("imported from the LMS"))),
		putErr(Put(ctx, db, "vendor-ehr", Vendor{Name: "Acme EHR Cloud", Services: "hosted EHR", PHI: "the whole chart", Systems: []string{"ehr-prod"},
			BAAStatus: "signed", BAASigned: ago(700), ReviewDue: day.AddDays(45), DueDiligence: "SOC 2 Type II reviewed", Owner: po}, ch("BAA on file"))),
		putErr(Put(ctx, db, "vendor-billing", Vendor{Name: "Prairie Billing LLC", Services: "claims and billing", PHI: "demographics, insurance, diagnosis codes",
			BAAStatus: "signed", BAASigned: ago(340), BAAExpires: day.AddDays(25), Owner: po}, ch("BAA on file"))),
		putErr(Put(ctx, db, "vendor-shred", Vendor{Name: "Old Shred Co", Services: "paper destruction", PHI: "paper records",
			BAAStatus: "terminated", BAASigned: ago(1500), TerminatedOn: ago(300), DataDisposition: "destroyed", DataDispositionOn: ago(295)}, ch("contract ended"))),
		putErr(Put(ctx, db, "req-access-1", PatientRequest{Type: RequestAccess, PatientID: "MRN-000123", Received: ago(20), Handler: po, Status: "open",
			Details: "copy of the chart, electronic"}, ch("request received"))),
		putErr(Put(ctx, db, "disc-health-dept", Disclosure{PatientID: "MRN-000123", DisclosedOn: ago(40), Recipient: "County health department",
			Description: "notifiable disease report", Purpose: "public health reporting (164.512(b))", Accountable: true}, ch("disclosure recorded"))),
		putErr(Put(ctx, db, "finding-laptops", Finding{Title: "Laptops without encryption", Source: fmt.Sprintf("ra-%d", y), Severity: "high", Owner: "it@msp.example",
			Status: "open", CorrectiveActions: []CorrectiveAction{{Action: "enable BitLocker", Owner: "it@msp.example", Due: ago(10)}}}, ch("finding from the risk analysis"))),
		putErr(Put(ctx, db, "sanction-1", Sanction{Person: "dortiz", Violation: "opened a family member's chart without need", Policy: "pol-access-review",
			IncidentID: "inc-case-demo-1", Sanction: "written warning and retraining", ImposedOn: ago(15), ImposedBy: "dr.owner@riverside.example"}, ch("sanction recorded"))),
	}
	for _, err := range steps {
		if err := put(err); err != nil {
			return fmt.Errorf("seed the demo's records: %w", err)
		}
	}
	if _, err := EnsureCalendar(ctx, db, y, map[string]string{TaskLogReview: po, TaskRecertification: "practice.admin@riverside.example"}, po, at); err != nil {
		return err
	}
	tasks, err := List[CalendarTask](ctx, db)
	if err != nil {
		return err
	}
	for _, v := range tasks {
		t := v.Body
		if t.Status != "open" || !t.Due.Before(day) {
			continue
		}
		t.Status, t.CompletedBy, t.CompletedOn = "done", po, t.Due.AddDays(-3)
		t.Evidence = "sign-off of " + t.Period
		if t.Task == TaskLogReview && t.Period == fmt.Sprintf("%d-03", y) {
			t.CompletedOn = t.Due.AddDays(9) // the one late review
		}
		if _, err := Put(ctx, db, v.ID, t, Change{Actor: po, Reason: "completed", At: at, BaseVersion: v.Version}); err != nil {
			return err
		}
	}

	// A breach found in the log review: 30 patients, letters sent, in the annual log.
	id, err := OpenIncident(ctx, db, IncidentRequest{Source: SourceCase, SourceID: "demo-1", Actor: po, OpenedBy: "reviewer@riverside.example",
		Summary: "Front-desk clerk opened 30 charts at 1 a.m. on a Saturday, one of a family member", Discovered: ago(50)}, ago(50).Time().Add(10*time.Hour))
	if err != nil {
		return err
	}
	cur, err := Get[Incident](ctx, db, id)
	if err != nil {
		return err
	}
	if cur.Body.Determination == "" {
		in := cur.Body
		in.Timeline = append(in.Timeline, TimelineEntry{At: ago(48).Time().Add(11 * time.Hour), Actor: po, Note: "interviewed the clerk; access not job-related"})
		in.Assessment = &RiskAssessment{NatureExtent: Factor{"medium", "demographics and visit notes"}, Recipient: Factor{"medium", "workforce member without need"},
			AcquiredViewed: Factor{"high", "the charts were opened"}, Mitigation: Factor{"low", "signed attestation, access revoked"}, AssessedBy: po, AssessedOn: ago(45)}
		in.Determination, in.Rationale, in.DeterminedBy, in.DeterminedOn = DeterminationBreach, "charts actually viewed without need; not all factors low", po, ago(45)
		in.Affected, in.ByState = 30, map[string]int{"TX": 29, "OK": 1}
		in.BreachStart, in.BreachEnd, in.BreachType, in.Location = ago(52), ago(52), "unauthorized_access_disclosure", "ehr"
		in.Safeguards, in.ActionsTaken = "role-based access, monthly log review", "sanction, retraining, access review"
		in.Notices = []Notice{{Kind: NoticeIndividual, SentOn: ago(30), Method: "first-class mail", Count: 30}}
		in.Status = IncidentInvestigating
		if _, err := Put(ctx, db, id, in, Change{Actor: po, Reason: "assessment and determination", At: ago(30).Time().Add(12 * time.Hour), BaseVersion: cur.Version}); err != nil {
			return err
		}
	}
	// A lost phone, still being assessed: its clock runs.
	_, err = OpenIncident(ctx, db, IncidentRequest{Source: SourceReview, SourceID: "demo-2", Actor: po, Summary: "Nurse reports a lost phone with work mail",
		Discovered: ago(5)}, ago(5).Time().Add(10*time.Hour))
	return err
}

func putErr[T any](_ T, err error) error { return err }
