package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/phiwatch/phiwatch/internal/records"
)

// The compliance-record pages are one generic page set (list, view with
// history, create, edit, and small "action" forms) driven by a description
// of each kind's fields; only what a field table cannot say — the breach
// clock, an incident's assessment and timeline, policy acknowledgement,
// completion import, calendar generation — has its own handler
// (records_actions.go).

// field describes one field of a kind's JSON body for the forms and lists.
type field struct {
	Name     string // JSON key in the body
	Label    string
	Input    string // text, textarea, date, number, select, checkbox, list (comma-separated), json
	Required bool
	Options  []string // for select
	InList   bool     // a column of the list page
	Patient  bool     // holds patient identifiers: masked in lists
	ReadOnly bool     // shown, but changed only by an action (not in the forms)
	Help     string
}

// action is a small form changing a few fields of the current version,
// e.g. "extend" a patient request or "complete" a calendar task.
type action struct {
	Name   string // path segment
	Title  string
	Fields []string
	// Set are fixed values the action writes (e.g. status done); they may
	// depend on who acts and the day.
	Set func(actor string, today records.Date) map[string]any
}

// kindPage is one record kind's pages.
type kindPage struct {
	Slug     string // path under /compliance
	Title    string // plural, for headings
	Singular string
	Prefix   string // of new record ids
	Kind     records.Kind
	Fields   []field
	// Defaults prefill the create form.
	Defaults func(actor string, today records.Date) map[string]string
	Actions  []action
	// OnCreate completes a new record's body before it is stored (an
	// incident's first timeline entry).
	OnCreate func(body []byte, actor string, now time.Time) ([]byte, error)
	// Facts are computed lines shown on the view page (e.g. a deadline).
	Facts func(body any, today records.Date) []fact
	ops   kindOps
}

type fact struct {
	Label, Value, Class string
}

// recordView is one version of a record, the body decoded generically.
type recordView struct {
	ID          string
	Version     uint32
	Actor       string
	Reason      string
	ChangedAt   time.Time
	RetainUntil string
	Body        map[string]any
	Typed       any // the kind's Go value
}

// kindOps binds the generic record store to one kind's type.
type kindOps struct {
	list    func(ctx context.Context, db records.DB) ([]recordView, error)
	get     func(ctx context.Context, db records.DB, id string) (recordView, error)
	history func(ctx context.Context, db records.DB, id string) ([]recordView, error)
	put     func(ctx context.Context, db records.DB, id string, body []byte, ch records.Change) (recordView, error)
}

func viewOf[T records.Body](v records.Versioned[T]) (recordView, error) {
	b, err := json.Marshal(v.Body)
	if err != nil {
		return recordView{}, fmt.Errorf("encode %s %s: %w", v.Body.Kind(), v.ID, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	m := map[string]any{}
	if err := dec.Decode(&m); err != nil {
		return recordView{}, fmt.Errorf("decode %s %s: %w", v.Body.Kind(), v.ID, err)
	}
	return recordView{ID: v.ID, Version: v.Version, Actor: v.Actor, Reason: v.Reason, ChangedAt: v.ChangedAt,
		RetainUntil: v.RetainUntil.String(), Body: m, Typed: v.Body}, nil
}

func viewsOf[T records.Body](vs []records.Versioned[T]) ([]recordView, error) {
	out := make([]recordView, 0, len(vs))
	for _, v := range vs {
		x, err := viewOf(v)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func opsOf[T records.Body]() kindOps {
	return kindOps{
		list: func(ctx context.Context, db records.DB) ([]recordView, error) {
			vs, err := records.List[T](ctx, db)
			if err != nil {
				return nil, err
			}
			return viewsOf(vs)
		},
		get: func(ctx context.Context, db records.DB, id string) (recordView, error) {
			v, err := records.Get[T](ctx, db, id)
			if err != nil {
				return recordView{}, err
			}
			return viewOf(v)
		},
		history: func(ctx context.Context, db records.DB, id string) ([]recordView, error) {
			vs, err := records.History[T](ctx, db, id)
			if err != nil {
				return nil, err
			}
			return viewsOf(vs)
		},
		put: func(ctx context.Context, db records.DB, id string, body []byte, ch records.Change) (recordView, error) {
			var t T
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&t); err != nil {
				return recordView{}, fmt.Errorf("%w: %v", records.ErrInvalid, err)
			}
			v, err := records.Put(ctx, db, id, t, ch)
			if err != nil {
				return recordView{}, err
			}
			return viewOf(v)
		},
	}
}

var (
	severities = []string{"low", "medium", "high"}
	oneToFive  = []string{"1", "2", "3", "4", "5"}
)

// kindPages lists every record kind's pages, in the order of the
// compliance home page.
func kindPages() []*kindPage {
	ks := []*kindPage{
		{Slug: "incidents", Title: "Incidents and breaches", Singular: "incident", Prefix: "inc", Kind: records.KindIncident, ops: opsOf[records.Incident](),
			Fields: []field{
				{Name: "title", Label: "Title", Input: "text", Required: true, InList: true},
				{Name: "summary", Label: "Summary", Input: "textarea", Patient: true},
				{Name: "status", Label: "Status", Input: "select", Required: true, Options: []string{"open", "investigating", "closed"}, InList: true},
				{Name: "discovered", Label: "Discovered on", Input: "date", Required: true, InList: true, Help: "the breach clock runs from this day (164.404(a)(2))"},
				{Name: "source", Label: "Source", Input: "select", Required: true, Options: []string{"manual", "case", "review"}},
				{Name: "source_id", Label: "Case or review item id", Input: "text"},
				{Name: "opened_by", Label: "Opened by", Input: "text"},
				{Name: "patient_ids", Label: "Patients", Input: "list", Patient: true},
				{Name: "role", Label: "Our role", Input: "select", Options: []string{"", "covered_entity", "business_associate"}},
				{Name: "business_associate", Label: "Business associate (vendor id)", Input: "text"},
				{Name: "ba_discovered", Label: "Business associate discovered on", Input: "date"},
				{Name: "ba_is_agent", Label: "The business associate acts as our agent", Input: "checkbox"},
				{Name: "determination", Label: "Determination", Input: "text", InList: true, ReadOnly: true},
				{Name: "breach_type", Label: "Breach type", Input: "select", Options: []string{"", "hacking_it_incident", "unauthorized_access_disclosure", "theft", "loss", "improper_disposal", "other"}},
				{Name: "location", Label: "Location of the PHI", Input: "select", Options: []string{"", "ehr", "email", "laptop", "desktop", "network_server", "paper", "portable_device", "other"}},
				{Name: "breach_start", Label: "Breach started", Input: "date"},
				{Name: "breach_end", Label: "Breach ended", Input: "date"},
				{Name: "safeguards", Label: "Safeguards in place", Input: "textarea"},
				{Name: "actions_taken", Label: "Actions taken", Input: "textarea"},
				{Name: "closed_on", Label: "Closed on", Input: "date"},
			},
			Defaults: func(actor string, today records.Date) map[string]string {
				return map[string]string{"status": "open", "source": "manual", "opened_by": actor, "discovered": today.String()}
			},
			OnCreate: func(body []byte, actor string, now time.Time) ([]byte, error) {
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					return nil, fmt.Errorf("%w: %v", records.ErrInvalid, err)
				}
				m["timeline"] = []records.TimelineEntry{{At: now.UTC(), Actor: actor, Note: "opened by hand"}}
				return json.Marshal(m)
			}},
		{Slug: "patient-requests", Title: "Patient rights requests", Singular: "patient request", Prefix: "req", Kind: records.KindPatientRequest, ops: opsOf[records.PatientRequest](),
			Fields: []field{
				{Name: "type", Label: "Type", Input: "select", Required: true, Options: []string{"access", "amendment", "restriction", "confidential_communication"}, InList: true},
				{Name: "patient_id", Label: "Patient", Input: "text", Required: true, InList: true, Patient: true},
				{Name: "received", Label: "Received on", Input: "date", Required: true, InList: true},
				{Name: "details", Label: "Details", Input: "textarea", Patient: true},
				{Name: "handler", Label: "Handled by", Input: "text"},
				{Name: "policy_days", Label: "Practice deadline (days, restriction / confidential communication)", Input: "number"},
				{Name: "self_pay_to_health_plan", Label: "Restriction to a health plan of care paid out of pocket", Input: "checkbox"},
				{Name: "extended", Label: "Extended", Input: "checkbox"},
				{Name: "extension_reason", Label: "Extension reason", Input: "textarea"},
				{Name: "extension_notified", Label: "Patient told of the extension on", Input: "date"},
				{Name: "status", Label: "Status", Input: "select", Required: true, Options: []string{"open", "granted", "partially_granted", "denied", "withdrawn"}, InList: true},
				{Name: "outcome", Label: "Outcome (basis of a denial)", Input: "textarea"},
				{Name: "decided_on", Label: "Decided on", Input: "date"},
			},
			Defaults: func(actor string, today records.Date) map[string]string {
				return map[string]string{"status": "open", "type": "access", "received": today.String(), "handler": actor}
			},
			Actions: []action{
				{Name: "extend", Title: "Extend the deadline (once, 30 days)", Fields: []string{"extension_reason", "extension_notified"},
					Set: func(string, records.Date) map[string]any { return map[string]any{"extended": true} }},
				{Name: "decide", Title: "Record the outcome", Fields: []string{"status", "outcome", "decided_on"}},
			},
			Facts: func(b any, today records.Date) []fact {
				r := b.(records.PatientRequest)
				due := r.Due()
				f := fact{Label: "Deadline", Value: due.String() + " (" + r.Rule() + ")"}
				if r.Status == "open" {
					f.Value += ", " + daysText(today.DaysUntil(due))
					if today.After(due) {
						f.Class = "overdue"
					}
				}
				return []fact{f}
			}},
		{Slug: "disclosures", Title: "Recorded disclosures", Singular: "disclosure", Prefix: "disc", Kind: records.KindDisclosure, ops: opsOf[records.Disclosure](),
			Fields: []field{
				{Name: "patient_id", Label: "Patient", Input: "text", Required: true, InList: true, Patient: true},
				{Name: "disclosed_on", Label: "Disclosed on", Input: "date", Required: true, InList: true},
				{Name: "recipient", Label: "Recipient", Input: "text", Required: true, InList: true},
				{Name: "recipient_address", Label: "Recipient address", Input: "text"},
				{Name: "description", Label: "PHI disclosed", Input: "textarea", Required: true, Patient: true},
				{Name: "purpose", Label: "Purpose", Input: "textarea", Required: true},
				{Name: "accountable", Label: "Accountable (appears in the accounting of disclosures)", Input: "checkbox", InList: true},
			},
			Defaults: func(_ string, today records.Date) map[string]string {
				return map[string]string{"disclosed_on": today.String(), "accountable": "true"}
			}},
		{Slug: "calendar", Title: "Audit calendar", Singular: "calendar task", Prefix: "cal", Kind: records.KindCalendarTask, ops: opsOf[records.CalendarTask](),
			Fields: []field{
				{Name: "task", Label: "Task", Input: "select", Required: true, Options: calendarTasks(), InList: true},
				{Name: "period", Label: "Period (2026-11, 2026-Q4 or 2026)", Input: "text", Required: true, InList: true},
				{Name: "title", Label: "Title", Input: "text", Required: true, InList: true},
				{Name: "owner", Label: "Owner", Input: "text", InList: true},
				{Name: "due", Label: "Due", Input: "date", Required: true, InList: true},
				{Name: "status", Label: "Status", Input: "select", Required: true, Options: []string{"open", "done", "skipped"}, InList: true},
				{Name: "completed_on", Label: "Completed on", Input: "date"},
				{Name: "completed_by", Label: "Completed by", Input: "text"},
				{Name: "evidence", Label: "Evidence (sign-off id, report, link)", Input: "textarea"},
				{Name: "notes", Label: "Notes", Input: "textarea"},
			},
			Defaults: func(actor string, today records.Date) map[string]string {
				return map[string]string{"status": "open", "owner": actor}
			},
			Actions: []action{
				{Name: "complete", Title: "Complete with evidence", Fields: []string{"completed_on", "completed_by", "evidence", "notes"},
					Set: func(string, records.Date) map[string]any { return map[string]any{"status": "done"} }},
			}},
		{Slug: "findings", Title: "Findings and corrective actions", Singular: "finding", Prefix: "fnd", Kind: records.KindFinding, ops: opsOf[records.Finding](),
			Fields: []field{
				{Name: "title", Label: "Title", Input: "text", Required: true, InList: true},
				{Name: "description", Label: "Description", Input: "textarea"},
				{Name: "source", Label: "Source (calendar task or incident id)", Input: "text"},
				{Name: "severity", Label: "Severity", Input: "select", Required: true, Options: severities, InList: true},
				{Name: "owner", Label: "Owner", Input: "text", Required: true, InList: true},
				{Name: "status", Label: "Status", Input: "select", Required: true, Options: []string{"open", "closed"}, InList: true},
				{Name: "corrective_actions", Label: "Corrective actions (JSON list of {action, owner, due, done_on, evidence})", Input: "json"},
				{Name: "closed_on", Label: "Closed on", Input: "date"},
			},
			Defaults: func(actor string, _ records.Date) map[string]string {
				return map[string]string{"status": "open", "owner": actor, "severity": "medium"}
			}},
		{Slug: "sanctions", Title: "Sanctions", Singular: "sanction", Prefix: "snc", Kind: records.KindSanction, ops: opsOf[records.Sanction](),
			Fields: []field{
				{Name: "person", Label: "Person", Input: "text", Required: true, InList: true},
				{Name: "violation", Label: "Violation", Input: "textarea", Required: true, InList: true},
				{Name: "policy", Label: "Policy (record id)", Input: "text"},
				{Name: "incident_id", Label: "Incident (record id)", Input: "text"},
				{Name: "sanction", Label: "Sanction", Input: "text", Required: true, InList: true},
				{Name: "imposed_on", Label: "Imposed on", Input: "date", Required: true, InList: true},
				{Name: "imposed_by", Label: "Imposed by", Input: "text", Required: true},
			},
			Defaults: func(actor string, today records.Date) map[string]string {
				return map[string]string{"imposed_on": today.String(), "imposed_by": actor}
			}},
		{Slug: "risk-analyses", Title: "Risk analyses", Singular: "risk analysis", Prefix: "ra", Kind: records.KindRiskAnalysis, ops: opsOf[records.RiskAnalysis](),
			Fields: []field{
				{Name: "title", Label: "Title", Input: "text", Required: true, InList: true},
				{Name: "performed_on", Label: "Performed on", Input: "date", Required: true, InList: true},
				{Name: "scope", Label: "Scope", Input: "textarea", Required: true},
				{Name: "method", Label: "Method", Input: "textarea"},
				{Name: "assets", Label: "Assets: systems holding ePHI (JSON list of {name, kind, location, ephi, flows, owner})", Input: "json", Required: true},
				{Name: "approver", Label: "Approver", Input: "text"},
				{Name: "approved_on", Label: "Approved on", Input: "date"},
				{Name: "next_due", Label: "Next analysis due", Input: "date", Required: true, InList: true},
				{Name: "material_change", Label: "Material change (why this version)", Input: "textarea"},
			},
			Defaults: func(_ string, today records.Date) map[string]string {
				return map[string]string{"performed_on": today.String(), "next_due": today.AddYears(1).String()}
			}},
		{Slug: "risks", Title: "Risks and treatment", Singular: "risk", Prefix: "risk", Kind: records.KindRisk, ops: opsOf[records.Risk](),
			Fields: []field{
				{Name: "asset", Label: "Asset", Input: "text", Required: true, InList: true},
				{Name: "threat", Label: "Threat", Input: "text", Required: true, InList: true},
				{Name: "vulnerability", Label: "Vulnerability", Input: "textarea", Required: true},
				{Name: "controls", Label: "Existing controls", Input: "textarea"},
				{Name: "likelihood", Label: "Likelihood (1–5)", Input: "select", Required: true, Options: oneToFive, InList: true},
				{Name: "impact", Label: "Impact (1–5)", Input: "select", Required: true, Options: oneToFive, InList: true},
				{Name: "treatment", Label: "Treatment", Input: "select", Required: true, Options: []string{"mitigate", "accept", "transfer", "avoid"}, InList: true},
				{Name: "plan", Label: "Plan", Input: "textarea"},
				{Name: "owner", Label: "Owner", Input: "text", Required: true, InList: true},
				{Name: "due", Label: "Due", Input: "date", InList: true},
				{Name: "residual_likelihood", Label: "Residual likelihood (1–5)", Input: "number"},
				{Name: "residual_impact", Label: "Residual impact (1–5)", Input: "number"},
				{Name: "status", Label: "Status", Input: "select", Required: true, Options: []string{"open", "treated", "accepted", "closed"}, InList: true},
				{Name: "accepted_by", Label: "Accepted by", Input: "text"},
				{Name: "accepted_on", Label: "Accepted on", Input: "date"},
				{Name: "accept_expires", Label: "Acceptance expires", Input: "date"},
			},
			Defaults: func(actor string, _ records.Date) map[string]string {
				return map[string]string{"status": "open", "owner": actor, "treatment": "mitigate", "likelihood": "3", "impact": "3"}
			},
			Facts: func(b any, _ records.Date) []fact {
				r := b.(records.Risk)
				return []fact{{Label: "Risk level", Value: records.RiskLevel(r.Likelihood, r.Impact)}}
			}},
		{Slug: "policies", Title: "Policies and procedures", Singular: "policy", Prefix: "pol", Kind: records.KindPolicy, ops: opsOf[records.Policy](),
			Fields: []field{
				{Name: "title", Label: "Title", Input: "text", Required: true, InList: true},
				{Name: "rule", Label: "Rule section served (e.g. 164.308(a)(5))", Input: "text", Required: true, InList: true},
				{Name: "markdown", Label: "Text (Markdown)", Input: "textarea", Required: true},
				{Name: "status", Label: "Status", Input: "select", Required: true, Options: []string{"draft", "approved", "published", "retired"}, InList: true},
				{Name: "approved_by", Label: "Approved by", Input: "text"},
				{Name: "approved_on", Label: "Approved on", Input: "date"},
				{Name: "published_on", Label: "Published on", Input: "date"},
				{Name: "review_due", Label: "Review due", Input: "date", InList: true},
				{Name: "owner", Label: "Owner", Input: "text"},
			},
			Defaults: func(actor string, _ records.Date) map[string]string {
				return map[string]string{"status": "draft", "owner": actor}
			}},
		{Slug: "policy-acks", Title: "Policy acknowledgements", Singular: "policy acknowledgement", Prefix: "ack", Kind: records.KindPolicyAck, ops: opsOf[records.PolicyAck](),
			Fields: []field{
				{Name: "policy_id", Label: "Policy (record id)", Input: "text", Required: true, InList: true},
				{Name: "policy_version", Label: "Policy version", Input: "number", Required: true, InList: true},
				{Name: "person", Label: "Person", Input: "text", Required: true, InList: true},
				{Name: "acked_on", Label: "Acknowledged on", Input: "date", Required: true, InList: true},
			},
			Defaults: func(actor string, today records.Date) map[string]string {
				return map[string]string{"person": actor, "acked_on": today.String()}
			}},
		{Slug: "training-courses", Title: "Training courses", Singular: "training course", Prefix: "course", Kind: records.KindCourse, ops: opsOf[records.Course](),
			Fields: []field{
				{Name: "title", Label: "Title", Input: "text", Required: true, InList: true},
				{Name: "type", Label: "Type", Input: "select", Required: true, Options: []string{"new_hire", "annual_refresher", "security_awareness", "other"}, InList: true},
				{Name: "roles", Label: "Roles (comma-separated; empty: everyone)", Input: "list", InList: true},
				{Name: "valid_months", Label: "Valid for (months)", Input: "number"},
				{Name: "pass_score", Label: "Pass score (0–100; 0: no quiz)", Input: "number"},
				{Name: "due_days", Label: "Due (days from assignment)", Input: "number", Required: true, InList: true},
			},
			Defaults: func(string, records.Date) map[string]string {
				return map[string]string{"type": "annual_refresher", "due_days": "30"}
			}},
		{Slug: "training-assignments", Title: "Training assignments", Singular: "training assignment", Prefix: "asg", Kind: records.KindAssignment, ops: opsOf[records.Assignment](),
			Fields: []field{
				{Name: "course_id", Label: "Course (record id)", Input: "text", Required: true, InList: true},
				{Name: "person", Label: "Person", Input: "text", Required: true, InList: true},
				{Name: "role", Label: "Role", Input: "text", InList: true},
				{Name: "assigned", Label: "Assigned on", Input: "date", Required: true, InList: true},
				{Name: "due", Label: "Due", Input: "date", Required: true, InList: true},
			},
			Defaults: func(_ string, today records.Date) map[string]string {
				return map[string]string{"assigned": today.String(), "due": today.AddDays(30).String()}
			}},
		{Slug: "training-completions", Title: "Training completions", Singular: "training completion", Prefix: "cmp", Kind: records.KindCompletion, ops: opsOf[records.Completion](),
			Fields: []field{
				{Name: "course_id", Label: "Course (record id)", Input: "text", Required: true, InList: true},
				{Name: "person", Label: "Person", Input: "text", Required: true, InList: true},
				{Name: "completed_on", Label: "Completed on", Input: "date", Required: true, InList: true},
				{Name: "score", Label: "Quiz score", Input: "number", InList: true},
				{Name: "source", Label: "Source", Input: "text"},
			},
			Defaults: func(_ string, today records.Date) map[string]string {
				return map[string]string{"completed_on": today.String()}
			}},
		{Slug: "vendors", Title: "Business associates", Singular: "business associate", Prefix: "vendor", Kind: records.KindVendor, ops: opsOf[records.Vendor](),
			Fields: []field{
				{Name: "name", Label: "Name", Input: "text", Required: true, InList: true},
				{Name: "services", Label: "Services", Input: "textarea", Required: true},
				{Name: "phi", Label: "PHI it creates, receives, keeps or sends", Input: "textarea", Required: true},
				{Name: "systems", Label: "Systems (comma-separated)", Input: "list"},
				{Name: "contact", Label: "Contact", Input: "text"},
				{Name: "baa_status", Label: "BAA status", Input: "select", Required: true, Options: []string{"none", "requested", "signed", "expired", "terminated"}, InList: true},
				{Name: "baa_signed", Label: "BAA signed on", Input: "date"},
				{Name: "baa_expires", Label: "BAA expires (empty: no end)", Input: "date", InList: true},
				{Name: "review_due", Label: "Review due", Input: "date", InList: true},
				{Name: "due_diligence", Label: "Due diligence", Input: "textarea"},
				{Name: "owner", Label: "Owner", Input: "text"},
				{Name: "terminated_on", Label: "Terminated on", Input: "date"},
				{Name: "data_disposition", Label: "Data at termination", Input: "select", Options: []string{"", "returned", "destroyed", "infeasible"}},
				{Name: "data_disposition_on", Label: "Data returned or destroyed on", Input: "date"},
			},
			Defaults: func(actor string, _ records.Date) map[string]string {
				return map[string]string{"baa_status": "requested", "owner": actor}
			}},
	}
	return ks
}

// daysText says how far a due day is: "12 days left", "due today", "3 days overdue".
func daysText(n int) string {
	switch {
	case n == 0:
		return "due today"
	case n == 1:
		return "1 day left"
	case n > 1:
		return fmt.Sprintf("%d days left", n)
	case n == -1:
		return "1 day overdue"
	}
	return fmt.Sprintf("%d days overdue", -n)
}

// calendarTasks are the audit calendar's task names.
func calendarTasks() []string {
	var out []string
	for _, t := range records.GenerateCalendar(2000, nil) {
		if !slices.Contains(out, t.Task.Task) {
			out = append(out, t.Task.Task)
		}
	}
	return out
}
