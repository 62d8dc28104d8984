package records

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Role is who the practice is for a breach: the covered entity that must
// notify individuals, HHS and the media, or a business associate that must
// notify the covered entity.
type Role string

// Roles.
const (
	CoveredEntity     Role = "covered_entity"
	BusinessAssociate Role = "business_associate"
)

// NoticeKind is a notification a breach requires.
type NoticeKind string

// Notices of 45 CFR 164.404–164.410.
const (
	NoticeIndividual    NoticeKind = "individual"     // 164.404
	NoticeMedia         NoticeKind = "media"          // 164.406, per state
	NoticeHHS           NoticeKind = "hhs"            // 164.408(b): 500 or more
	NoticeHHSAnnualLog  NoticeKind = "hhs_annual_log" // 164.408(c): fewer than 500
	NoticeCoveredEntity NoticeKind = "covered_entity" // 164.410
)

// The numbers of the Breach Notification Rule.
const (
	NoticeDays          = 60  // calendar days after discovery: 164.404(b), 164.406(b), 164.408(b), 164.410(b)
	HHSImmediateAtLeast = 500 // 164.408(b): "500 or more individuals"
	MediaMoreThan       = 500 // 164.406(a): "more than 500 residents of a State or jurisdiction"
)

// ClockInput is what the breach clock depends on.
type ClockInput struct {
	// Discovered is the first day the breach was known, or by reasonable
	// diligence would have been known, to anyone in the workforce other
	// than the person who committed it (164.404(a)(2)).
	Discovered Date
	// Affected is the number of individuals whose PHI was involved.
	Affected int
	// ByState is how many affected individuals reside in each state or
	// jurisdiction (two-letter code); it may cover fewer than Affected.
	ByState map[string]int
	// Role is covered_entity (default) or business_associate.
	Role Role
	// BADiscovered is the day a business associate discovered a breach it
	// then reported to this covered entity. It starts the covered entity's
	// clock only when the business associate acts as its agent (164.404(a)(2)
	// imputes an agent's knowledge); otherwise Discovered, the day the
	// covered entity was told, does.
	BADiscovered Date
	BAIsAgent    bool
}

// Deadline is one notification a breach requires and when it is due.
type Deadline struct {
	Notice NoticeKind `json:"notice"`
	State  string     `json:"state,omitempty"`
	Due    Date       `json:"due"`
	Rule   string     `json:"rule"`
	What   string     `json:"what"`
}

var stateCode = regexp.MustCompile(`^[A-Z]{2}$`)

// Validate says what is wrong with the input.
func (in ClockInput) Validate() error {
	if in.Discovered.IsZero() {
		return fmt.Errorf("the discovery date is required: the clock runs from it")
	}
	if in.Affected < 0 {
		return fmt.Errorf("affected individuals cannot be negative")
	}
	sum := 0
	for st, n := range in.ByState {
		if !stateCode.MatchString(st) {
			return fmt.Errorf("state %q: use the two-letter code, e.g. TX", st)
		}
		if n < 0 {
			return fmt.Errorf("state %s: residents cannot be negative", st)
		}
		sum += n
	}
	if sum > in.Affected {
		return fmt.Errorf("the states add up to %d residents, more than the %d individuals affected", sum, in.Affected)
	}
	switch in.Role {
	case "", CoveredEntity, BusinessAssociate:
	default:
		return fmt.Errorf("role %q: want covered_entity or business_associate", in.Role)
	}
	if in.Role == BusinessAssociate && !in.BADiscovered.IsZero() {
		return fmt.Errorf("a business associate's own discovery is the discovery date; ba_discovered is for a covered entity told by one")
	}
	if !in.BADiscovered.IsZero() && in.BADiscovered.After(in.Discovered) {
		return fmt.Errorf("the business associate cannot have discovered the breach after the covered entity was told of it")
	}
	return nil
}

// ClockStart is the day the covered entity's (or business associate's) 60
// days run from.
func (in ClockInput) ClockStart() Date {
	if in.Role != BusinessAssociate && in.BAIsAgent && !in.BADiscovered.IsZero() {
		return in.BADiscovered
	}
	return in.Discovered
}

// AnnualLogDue is the last day to submit the log of a calendar year's
// breaches of fewer than 500 individuals: 60 days after the year ends
// (164.408(c)), i.e. 1 March, or 29 February when the next year is a leap year.
func AnnualLogDue(year int) Date { return NewDate(year, 12, 31).AddDays(NoticeDays) }

// BreachClock lists the notifications a breach requires and their
// deadlines, the latest each may be sent: the rule asks for notice "without
// unreasonable delay", so these are outer limits, not targets. Media notices
// come one per state with more than 500 residents affected, in state order.
func BreachClock(in ClockInput) ([]Deadline, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	start := in.ClockStart()
	due := start.AddDays(NoticeDays)
	if in.Role == BusinessAssociate {
		return []Deadline{{Notice: NoticeCoveredEntity, Due: due, Rule: "45 CFR 164.410(b)",
			What: "notify the covered entity, identifying each individual affected as far as possible"}}, nil
	}
	out := []Deadline{{Notice: NoticeIndividual, Due: due, Rule: "45 CFR 164.404(b)",
		What: "written notice to each individual affected (substitute notice where contact details are missing)"}}
	if in.Affected >= HHSImmediateAtLeast {
		out = append(out, Deadline{Notice: NoticeHHS, Due: due, Rule: "45 CFR 164.408(b)",
			What: fmt.Sprintf("notify the Secretary of HHS now: %d individuals (500 or more)", in.Affected)})
	} else {
		out = append(out, Deadline{Notice: NoticeHHSAnnualLog, Due: AnnualLogDue(start.Year()), Rule: "45 CFR 164.408(c)",
			What: fmt.Sprintf("log with HHS for %d: %d individuals (fewer than 500), due 60 days after the year ends", start.Year(), in.Affected)})
	}
	states := make([]string, 0, len(in.ByState))
	for st, n := range in.ByState {
		if n > MediaMoreThan {
			states = append(states, st)
		}
	}
	sort.Strings(states)
	for _, st := range states {
		out = append(out, Deadline{Notice: NoticeMedia, State: st, Due: due, Rule: "45 CFR 164.406(b)",
			What: fmt.Sprintf("notify prominent media outlets serving %s: %d residents (more than 500)", st, in.ByState[st])})
	}
	return out, nil
}

// ParseStates reads residents by state written "TX=501,OK=12" (or TX:501).
func ParseStates(s string) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			k, v, ok = strings.Cut(strings.TrimSpace(part), ":")
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil {
			return nil, fmt.Errorf("states: %q is not STATE=COUNT", part)
		}
		k = strings.ToUpper(strings.TrimSpace(k))
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("states: %s given twice", k)
		}
		out[k] = n
	}
	return out, nil
}
