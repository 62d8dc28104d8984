package records

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// KindIncident is the record kind of incidents.
const KindIncident Kind = "incident"

// Where an incident came from.
const (
	SourceManual = "manual" // entered by hand
	SourceCase   = "case"   // a detector case (docs/cases.md)
	SourceReview = "review" // a reviewer's decision in the monthly log review
)

// Incident statuses.
const (
	IncidentOpen          = "open"
	IncidentInvestigating = "investigating"
	IncidentClosed        = "closed"
)

// Breach determinations (164.402).
const (
	// DeterminationBreach: a breach, presumed unless shown otherwise.
	DeterminationBreach = "breach"
	// DeterminationLowProbability: the four-factor assessment shows a low
	// probability that the PHI was compromised (164.402(2)).
	DeterminationLowProbability = "low_probability"
	// DeterminationException: one of the three exclusions of 164.402(1).
	DeterminationException = "exception"
	// DeterminationNoPHI: no unsecured PHI was involved (e.g. encrypted
	// to the HHS guidance, or no PHI at all).
	DeterminationNoPHI = "no_unsecured_phi"
)

// The exclusions of 164.402(1).
var breachExceptions = map[string]string{
	"unintentional_workforce_access":  "164.402(1)(i): unintentional acquisition, access or use by a workforce member acting in good faith, not further used or disclosed",
	"inadvertent_internal_disclosure": "164.402(1)(ii): inadvertent disclosure between people authorized at the same covered entity, business associate or OHCA, not further used or disclosed",
	"recipient_could_not_retain":      "164.402(1)(iii): good-faith belief that the unauthorized recipient could not reasonably have retained the information",
}

// Incident is a security or privacy incident, from intake to closure,
// with its investigation, risk assessment, breach determination and the
// notices sent.
type Incident struct {
	Title      string   `json:"title"`
	Summary    string   `json:"summary"`
	Source     string   `json:"source"`
	SourceID   string   `json:"source_id,omitempty"`
	OpenedBy   string   `json:"opened_by"`
	PatientIDs []string `json:"patient_ids,omitempty"`
	Status     string   `json:"status"`
	// Discovered starts the breach clock (ClockInput.Discovered).
	Discovered Date            `json:"discovered"`
	Timeline   []TimelineEntry `json:"timeline,omitempty"`
	Assessment *RiskAssessment `json:"assessment,omitempty"`

	Determination string `json:"determination,omitempty"`
	Exception     string `json:"exception,omitempty"`
	Rationale     string `json:"rationale,omitempty"`
	DeterminedBy  string `json:"determined_by,omitempty"`
	DeterminedOn  Date   `json:"determined_on,omitzero"`

	Role              Role           `json:"role,omitempty"`
	BusinessAssociate string         `json:"business_associate,omitempty"` // vendor record id
	BADiscovered      Date           `json:"ba_discovered,omitzero"`
	BAIsAgent         bool           `json:"ba_is_agent,omitempty"`
	Affected          int            `json:"affected"`
	ByState           map[string]int `json:"by_state,omitempty"`

	// What the HHS breach report asks for.
	BreachStart  Date   `json:"breach_start,omitzero"`
	BreachEnd    Date   `json:"breach_end,omitzero"`
	BreachType   string `json:"breach_type,omitempty"`   // hacking_it_incident, unauthorized_access_disclosure, theft, loss, improper_disposal, other
	Location     string `json:"location,omitempty"`      // ehr, email, laptop, desktop, network_server, paper, portable_device, other
	Safeguards   string `json:"safeguards,omitempty"`    // in place before the breach
	ActionsTaken string `json:"actions_taken,omitempty"` // in response

	Notices  []Notice `json:"notices,omitempty"`
	ClosedOn Date     `json:"closed_on,omitzero"`
}

// TimelineEntry is one step of an investigation.
type TimelineEntry struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Note  string    `json:"note"`
}

// Factor is one factor of the 164.402(2) assessment.
type Factor struct {
	Risk  string `json:"risk"` // low, medium, high
	Notes string `json:"notes"`
}

// RiskAssessment is the four-factor assessment of 164.402(2).
type RiskAssessment struct {
	// (i) the nature and extent of the PHI, identifiers and likelihood of re-identification.
	NatureExtent Factor `json:"nature_extent"`
	// (ii) the unauthorized person who used it or to whom it was disclosed.
	Recipient Factor `json:"recipient"`
	// (iii) whether it was actually acquired or viewed.
	AcquiredViewed Factor `json:"acquired_viewed"`
	// (iv) the extent to which the risk has been mitigated.
	Mitigation Factor `json:"mitigation"`
	AssessedBy string `json:"assessed_by"`
	AssessedOn Date   `json:"assessed_on"`
}

// Notice is a notification sent.
type Notice struct {
	Kind   NoticeKind `json:"kind"`
	State  string     `json:"state,omitempty"`
	SentOn Date       `json:"sent_on"`
	Method string     `json:"method,omitempty"` // first-class mail, email, substitute, press release, HHS portal…
	Count  int        `json:"count,omitempty"`
}

// Kind implements Body.
func (Incident) Kind() Kind { return KindIncident }

func (a *RiskAssessment) factors() []struct {
	name string
	f    Factor
} {
	return []struct {
		name string
		f    Factor
	}{{"nature and extent of the PHI", a.NatureExtent}, {"unauthorized recipient", a.Recipient},
		{"actually acquired or viewed", a.AcquiredViewed}, {"mitigation", a.Mitigation}}
}

// Suggest is the determination the assessment supports: a breach is
// presumed (164.402(2)) unless every factor shows low risk. "" while a
// factor is not yet rated.
func (a *RiskAssessment) Suggest() string {
	if a == nil {
		return ""
	}
	all := true
	for _, f := range a.factors() {
		switch f.f.Risk {
		case "":
			return ""
		case "low":
		default:
			all = false
		}
	}
	if all {
		return DeterminationLowProbability
	}
	return DeterminationBreach
}

func (a *RiskAssessment) validate() error {
	for _, f := range a.factors() {
		switch f.f.Risk {
		case "", "low", "medium", "high":
		default:
			return fmt.Errorf("risk assessment, %s: risk %q: want low, medium or high", f.name, f.f.Risk)
		}
		if f.f.Risk != "" && strings.TrimSpace(f.f.Notes) == "" {
			return fmt.Errorf("risk assessment, %s: say why the risk is %s", f.name, f.f.Risk)
		}
	}
	return nil
}

// Validate implements Body.
func (in Incident) Validate() error {
	if strings.TrimSpace(in.Title) == "" {
		return errors.New("an incident needs a title")
	}
	switch in.Source {
	case SourceManual, SourceCase, SourceReview:
	default:
		return fmt.Errorf("source %q: want manual, case or review", in.Source)
	}
	if in.Source != SourceManual && in.SourceID == "" {
		return fmt.Errorf("an incident from a %s needs the %s id", in.Source, in.Source)
	}
	switch in.Status {
	case IncidentOpen, IncidentInvestigating, IncidentClosed:
	default:
		return fmt.Errorf("status %q: want open, investigating or closed", in.Status)
	}
	if in.Discovered.IsZero() {
		return errors.New("the discovery date is required: the breach clock runs from it (164.404(a)(2))")
	}
	for i, e := range in.Timeline {
		if e.At.IsZero() || e.Actor == "" || strings.TrimSpace(e.Note) == "" {
			return fmt.Errorf("timeline entry %d needs a time, an actor and a note", i+1)
		}
	}
	if in.Assessment != nil {
		if err := in.Assessment.validate(); err != nil {
			return err
		}
	}
	if _, err := BreachClock(in.clockInput()); err != nil {
		return err
	}
	switch in.Determination {
	case "":
	case DeterminationBreach:
		if in.Affected < 1 {
			return errors.New("a breach determination needs the number of individuals affected (at least 1)")
		}
	case DeterminationLowProbability:
		if s := in.Assessment.Suggest(); s == "" {
			return errors.New("a low-probability determination needs all four factors of 164.402(2) rated and explained")
		} else if s != DeterminationLowProbability {
			return errors.New("the assessment rates a factor above low: a breach is presumed unless every factor shows low risk (164.402(2))")
		}
	case DeterminationException:
		if _, ok := breachExceptions[in.Exception]; !ok {
			return fmt.Errorf("exception %q: want unintentional_workforce_access, inadvertent_internal_disclosure or recipient_could_not_retain", in.Exception)
		}
	case DeterminationNoPHI:
	default:
		return fmt.Errorf("determination %q: want breach, low_probability, exception or no_unsecured_phi", in.Determination)
	}
	if in.Determination != "" && (strings.TrimSpace(in.Rationale) == "" || in.DeterminedBy == "" || in.DeterminedOn.IsZero()) {
		return errors.New("a determination needs its rationale, who made it and when")
	}
	for i, n := range in.Notices {
		if n.SentOn.IsZero() {
			return fmt.Errorf("notice %d needs the day it was sent", i+1)
		}
		switch n.Kind {
		case NoticeIndividual, NoticeHHS, NoticeHHSAnnualLog, NoticeCoveredEntity:
		case NoticeMedia:
			if n.State == "" {
				return fmt.Errorf("media notice %d needs the state it served", i+1)
			}
		default:
			return fmt.Errorf("notice %d: kind %q is not a breach notice", i+1, n.Kind)
		}
	}
	if in.Status == IncidentClosed {
		if in.Determination == "" {
			return errors.New("an incident is closed only with a breach determination")
		}
		if in.ClosedOn.IsZero() {
			return errors.New("a closed incident needs the day it was closed")
		}
		for _, st := range in.Deadlines(in.ClosedOn) {
			if st.Status == DeadlineDue || st.Status == DeadlineOverdue {
				return fmt.Errorf("record the %s notice before closing: it is still owed", st.label())
			}
		}
	}
	return nil
}

func (in Incident) clockInput() ClockInput {
	return ClockInput{Discovered: in.Discovered, Affected: in.Affected, ByState: in.ByState, Role: in.Role,
		BADiscovered: in.BADiscovered, BAIsAgent: in.BAIsAgent}
}

// Deadline statuses.
const (
	DeadlineDue     = "due"
	DeadlineOverdue = "overdue"
	DeadlineMet     = "met"
	DeadlineLate    = "met_late"
)

// DeadlineStatus is a deadline and whether it was met by day.
type DeadlineStatus struct {
	Deadline
	Status   string `json:"status"`
	SentOn   Date   `json:"sent_on,omitzero"`
	DaysLeft int    `json:"days_left"`
}

func (s DeadlineStatus) label() string {
	if s.State != "" {
		return string(s.Notice) + " (" + s.State + ")"
	}
	return string(s.Notice)
}

// Deadlines is the incident's breach clock as of day. The clock runs
// while the determination is open, since a breach is presumed until the
// assessment shows otherwise; it stops for a determination of no breach.
func (in Incident) Deadlines(day Date) []DeadlineStatus {
	switch in.Determination {
	case DeterminationLowProbability, DeterminationException, DeterminationNoPHI:
		return nil
	}
	clock, err := BreachClock(in.clockInput())
	if err != nil {
		return nil
	}
	out := make([]DeadlineStatus, 0, len(clock))
	for _, dl := range clock {
		s := DeadlineStatus{Deadline: dl, DaysLeft: day.DaysUntil(dl.Due)}
		for _, n := range in.Notices {
			// HHS notice given at once also satisfies the annual log.
			same := n.Kind == dl.Notice || (dl.Notice == NoticeHHSAnnualLog && n.Kind == NoticeHHS)
			if same && n.State == dl.State && (s.SentOn.IsZero() || n.SentOn.Before(s.SentOn)) {
				s.SentOn = n.SentOn
			}
		}
		switch {
		case !s.SentOn.IsZero() && s.SentOn.After(dl.Due):
			s.Status = DeadlineLate
		case !s.SentOn.IsZero():
			s.Status = DeadlineMet
		case day.After(dl.Due):
			s.Status = DeadlineOverdue
		default:
			s.Status = DeadlineDue
		}
		out = append(out, s)
	}
	return out
}

// IncidentRequest opens an incident from the review workflow, a detector
// case or by hand.
type IncidentRequest struct {
	Source     string // manual, case or review
	SourceID   string // case id or review item id
	Summary    string
	Actor      string // who opens it (the change's actor)
	PatientIDs []string
	OpenedBy   string // who raised it, if not Actor (e.g. the reviewer)
	Discovered Date   // default: today
}

// OpenIncident records a new incident and returns its id. An incident
// from a case or review item has an id derived from it, so opening it
// twice returns the first one instead of a duplicate.
func OpenIncident(ctx context.Context, db DB, req IncidentRequest, now time.Time) (string, error) {
	if req.Actor == "" {
		return "", fmt.Errorf("%w: opening an incident needs the actor", ErrInvalid)
	}
	in := Incident{Source: req.Source, SourceID: req.SourceID, Summary: req.Summary, OpenedBy: req.OpenedBy,
		PatientIDs: req.PatientIDs, Status: IncidentOpen, Discovered: req.Discovered}
	if in.OpenedBy == "" {
		in.OpenedBy = req.Actor
	}
	if in.Discovered.IsZero() {
		in.Discovered = DateOf(now)
	}
	in.Title = firstLine(req.Summary)
	if in.Title == "" {
		in.Title = "Incident from " + req.Source + " " + req.SourceID
	}
	id := NewID("inc", now)
	if req.Source != SourceManual {
		id = "inc-" + req.Source + "-" + safeID(req.SourceID)
		if _, err := Get[Incident](ctx, db, id); err == nil {
			return id, nil
		} else if !errors.Is(err, ErrNotFound) {
			return "", err
		}
	}
	note := "opened by hand"
	if req.Source != SourceManual {
		note = "opened from " + req.Source + " " + req.SourceID
	}
	in.Timeline = []TimelineEntry{{At: now.UTC(), Actor: req.Actor, Note: note}}
	if _, err := Put(ctx, db, id, in, Change{Actor: req.Actor, Reason: "incident opened from " + req.Source, At: now}); err != nil {
		return "", err
	}
	return id, nil
}

// AddTimeline appends an investigation step as a new version.
func AddTimeline(ctx context.Context, db DB, id string, e TimelineEntry, base uint32) (Versioned[Incident], error) {
	cur, err := Get[Incident](ctx, db, id)
	if err != nil {
		return cur, err
	}
	in := cur.Body
	if in.Status == IncidentClosed {
		return cur, fmt.Errorf("%w: incident %s is closed; reopen it to add to its timeline", ErrInvalid, id)
	}
	if in.Status == IncidentOpen {
		in.Status = IncidentInvestigating
	}
	in.Timeline = append(in.Timeline, e)
	return Put(ctx, db, id, in, Change{Actor: e.Actor, Reason: "investigation: " + firstLine(e.Note), At: e.At, BaseVersion: base})
}

// Opener opens incidents in any tenant: what the review workflow's
// IncidentOpener is wired to.
type Opener struct {
	Store store.Querier
	Now   func() time.Time
}

// OpenIncident implements the review workflow's IncidentOpener.
func (o Opener) OpenIncident(ctx context.Context, tenant string, req IncidentRequest) (string, error) {
	ts, err := store.ForTenant(o.Store, tenant)
	if err != nil {
		return "", err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	return OpenIncident(ctx, ts, req, now())
}

// IncidentDeadline is one deadline of one incident.
type IncidentDeadline struct {
	IncidentID string `json:"incident_id"`
	Title      string `json:"title"`
	DeadlineStatus
}

// Reminders lists the owed notices of every incident as of day: overdue
// first, then those due within window days, soonest first.
func Reminders(incidents []Versioned[Incident], day Date, window int) (overdue, upcoming []IncidentDeadline) {
	for _, v := range incidents {
		for _, s := range v.Body.Deadlines(day) {
			x := IncidentDeadline{IncidentID: v.ID, Title: v.Body.Title, DeadlineStatus: s}
			switch {
			case s.Status == DeadlineOverdue:
				overdue = append(overdue, x)
			case s.Status == DeadlineDue && s.DaysLeft <= window:
				upcoming = append(upcoming, x)
			}
		}
	}
	byDue := func(xs []IncidentDeadline) {
		slices.SortStableFunc(xs, func(a, b IncidentDeadline) int {
			if c := a.Due.Time().Compare(b.Due.Time()); c != 0 {
				return c
			}
			return strings.Compare(a.IncidentID, b.IncidentID)
		})
	}
	byDue(overdue)
	byDue(upcoming)
	return overdue, upcoming
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > 120 {
		s = string(r[:120])
	}
	return s
}

// safeID maps an outside id onto CheckID's character set.
func safeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 100 {
		out = out[:100]
	}
	return out
}
