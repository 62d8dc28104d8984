// Package review is the monthly log review (docs/review.md): a review
// period per tenant and calendar month, its risk-ranked worklist (the
// month's open cases, alerts outside any case, and a reproducible sample of
// unflagged accesses), assignment to reviewers, decisions, questionnaires,
// reminders, sign-off and amendments. Everything it stores is an
// append-only version row with actor, time and reason.
//
// The rules (what may change, by whom, when) are plain functions on Period
// and Item; Service adds the storage through the small DB interface, which
// a *store.TenantStore satisfies.
package review

import (
	"errors"
	"fmt"
	"time"
)

// Item kinds.
const (
	KindCase   = "case"   // an open case of the month (docs/cases.md)
	KindAlert  = "alert"  // an alert of the month that no open case holds
	KindSample = "sample" // a sampled unflagged EHR access
)

// Item states.
const (
	StateUnassigned    = "unassigned"
	StateAssigned      = "assigned"
	StateNeedsInfo     = "needs_information" // questionnaire sent, no answer yet
	StateAnswered      = "answered"          // answer stored, awaiting a decision
	StateAppropriate   = "appropriate"
	StateInappropriate = "inappropriate"
)

// States lists every item state, in worklist order.
var States = []string{StateUnassigned, StateAssigned, StateNeedsInfo, StateAnswered, StateAppropriate, StateInappropriate}

// Decisions.
const (
	DecideAppropriate   = "appropriate"
	DecideInappropriate = "inappropriate"
	DecideNeedsInfo     = "needs_information"
)

// Period states.
const (
	PeriodOpening   = "opening" // seed recorded, worklist being written
	PeriodOpen      = "open"
	PeriodSignedOff = "signed_off"
)

// Errors the API maps to status codes.
var (
	ErrInvalid  = errors.New("invalid request")                            // 400
	ErrSelf     = errors.New("nobody reviews their own activity")          // 403
	ErrNotFound = errors.New("not found")                                  // 404
	ErrLocked   = errors.New("the review period is signed off and locked") // 409
	ErrConflict = errors.New("conflict")                                   // 409
)

// Period is one tenant's review of one calendar month (a version row of
// review_periods).
type Period struct {
	TenantID     string     `json:"tenant_id,omitempty"`
	Period       string     `json:"period"` // YYYY-MM
	MonthStart   Date       `json:"month_start"`
	DueDate      Date       `json:"due_date"`
	State        string     `json:"state"`
	Seed         string     `json:"seed"`
	SampleSize   uint32     `json:"sample_size"`
	SampleMethod string     `json:"sample_method"`
	OpenedAt     time.Time  `json:"opened_at"`
	OpenedBy     string     `json:"opened_by"`
	SignedOffBy  string     `json:"signed_off_by"`
	SignedOffAt  *time.Time `json:"signed_off_at"`
	SignOffNote  string     `json:"sign_off_note"`
	Amendments   uint32     `json:"amendments"`
	Action       string     `json:"action"`
	Actor        string     `json:"actor"`
	Reason       string     `json:"reason"`
	VersionAt    time.Time  `json:"version_at"`
	RetainUntil  Date       `json:"retain_until"`
}

// Locked reports whether the period is signed off.
func (p Period) Locked() bool { return p.State == PeriodSignedOff }

// Overdue reports whether the period is past its due date without sign-off.
func (p Period) Overdue(now time.Time) bool {
	return !p.Locked() && !now.Before(p.DueDate.Time().AddDate(0, 0, 1))
}

// Item is one worklist entry (a version row of review_items).
type Item struct {
	TenantID       string     `json:"tenant_id,omitempty"`
	Period         string     `json:"period"`
	MonthStart     Date       `json:"month_start"`
	ItemID         string     `json:"item_id"`
	Kind           string     `json:"kind"`
	RefID          string     `json:"ref_id"` // case_id, alert_id or event_id
	Rank           uint32     `json:"rank"`
	RiskScore      float64    `json:"risk_score"`
	Severity       string     `json:"severity"`
	ActorID        string     `json:"actor_id"`
	ActorName      string     `json:"actor_name"`
	PatientIDs     []string   `json:"patient_ids"`
	Rules          []string   `json:"rules"`
	AlertIDs       []string   `json:"alert_ids"`
	Summary        string     `json:"summary"`
	FirstSeen      time.Time  `json:"first_seen"`
	State          string     `json:"state"`
	Assignee       string     `json:"assignee"`
	AssigneeEmail  string     `json:"assignee_email"`
	Decision       string     `json:"decision"`
	DecisionReason string     `json:"decision_reason"`
	DecidedBy      string     `json:"decided_by"`
	DecidedAt      *time.Time `json:"decided_at"`
	IncidentID     string     `json:"incident_id"`
	Question       string     `json:"question"`
	QuestionTo     string     `json:"question_to"` // user or manager
	Answer         string     `json:"answer"`
	AnsweredBy     string     `json:"answered_by"`
	Amendment      bool       `json:"amendment"`
	Action         string     `json:"action"`
	Actor          string     `json:"actor"`
	Reason         string     `json:"reason"`
	VersionAt      time.Time  `json:"version_at"`
	RetainUntil    Date       `json:"retain_until"`
}

// Decided reports whether the item has a final decision.
func (it Item) Decided() bool {
	return it.State == StateAppropriate || it.State == StateInappropriate
}

// Reviewer is who reviews: an id (the principal's subject), the reviewer's
// own workforce id in the tenant (empty for machines) and an e-mail address
// for notices.
type Reviewer struct {
	ID          string `json:"id"`
	WorkforceID string `json:"workforce_id"`
	Email       string `json:"email"`
}

// about reports whether the item is about the reviewer's own activity.
func (r Reviewer) about(it Item) bool {
	return r.WorkforceID != "" && r.WorkforceID == it.ActorID
}

// Date is a calendar day that reads and writes ClickHouse's YYYY-MM-DD.
type Date string

// DateOf is the day of t in UTC.
func DateOf(t time.Time) Date { return Date(t.UTC().Format(time.DateOnly)) }

// Time is the start of the day in UTC (zero when unparsable).
func (d Date) Time() time.Time {
	t, _ := time.Parse(time.DateOnly, string(d))
	return t
}

// Month is a calendar month.
type Month struct {
	Year  int
	Month time.Month
}

// ParseMonth reads YYYY-MM.
func ParseMonth(s string) (Month, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return Month{}, fmt.Errorf("%w: month %q: want YYYY-MM, e.g. 2026-10", ErrInvalid, s)
	}
	return Month{t.Year(), t.Month()}, nil
}

// MonthOf is the month t falls in (UTC).
func MonthOf(t time.Time) Month { t = t.UTC(); return Month{t.Year(), t.Month()} }

// String is YYYY-MM.
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// Start is the first instant of the month (UTC).
func (m Month) Start() time.Time { return time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, time.UTC) }

// End is the first instant of the next month.
func (m Month) End() time.Time { return m.Start().AddDate(0, 1, 0) }

// Prev is the month before.
func (m Month) Prev() Month { return MonthOf(m.Start().AddDate(0, -1, 0)) }

// DueDate is day dueDay of the next month (clamped to its length).
func (m Month) DueDate(dueDay int) Date {
	next := m.End()
	last := next.AddDate(0, 1, -1).Day()
	dueDay = max(1, min(dueDay, last))
	return DateOf(time.Date(next.Year(), next.Month(), dueDay, 0, 0, 0, 0, time.UTC))
}
