package records

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Record kinds of the audit calendar.
const (
	KindCalendarTask Kind = "calendar_task"
	KindFinding      Kind = "finding"
	KindSanction     Kind = "sanction"
)

// Calendar task types and how often they recur.
const (
	TaskLogReview          = "log_review"            // monthly: 164.308(a)(1)(ii)(D) information system activity review
	TaskRecertification    = "recertification"       // quarterly: 164.308(a)(4) access authorization review
	TaskBAAInventoryReview = "baa_inventory_review"  // quarterly: 164.308(b)
	TaskRiskAnalysis       = "risk_analysis"         // annual: 164.308(a)(1)(ii)(A)
	TaskContingencyTest    = "contingency_plan_test" // annual: 164.308(a)(7)(ii)(D)
	TaskPolicyRefresh      = "policy_refresh"        // annual: 164.316(b)(2)(iii)
	TaskTrainingReview     = "training_review"       // annual: 164.308(a)(5)
)

var taskTitles = map[string]string{
	TaskLogReview:          "Monthly log review",
	TaskRecertification:    "Quarterly access recertification",
	TaskBAAInventoryReview: "Quarterly business associate inventory review",
	TaskRiskAnalysis:       "Annual risk analysis",
	TaskContingencyTest:    "Annual contingency plan test",
	TaskPolicyRefresh:      "Annual policy review and refresh",
	TaskTrainingReview:     "Annual training completion review",
}

// CalendarTask is one occurrence of a recurring compliance task.
type CalendarTask struct {
	Task        string `json:"task"`
	Period      string `json:"period"` // 2026-11, 2026-Q4 or 2026
	Title       string `json:"title"`
	Owner       string `json:"owner,omitempty"`
	Due         Date   `json:"due"`
	Status      string `json:"status"` // open, done, skipped
	CompletedOn Date   `json:"completed_on,omitzero"`
	CompletedBy string `json:"completed_by,omitempty"`
	Evidence    string `json:"evidence,omitempty"` // what shows it was done: a sign-off id, a report, a link
	Notes       string `json:"notes,omitempty"`
}

// Kind implements Body.
func (CalendarTask) Kind() Kind { return KindCalendarTask }

// Validate implements Body.
func (c CalendarTask) Validate() error {
	if _, ok := taskTitles[c.Task]; !ok {
		return fmt.Errorf("task %q is not on the audit calendar", c.Task)
	}
	if c.Period == "" || c.Due.IsZero() {
		return errors.New("a calendar task needs its period and due day")
	}
	switch c.Status {
	case "open":
	case "done":
		if c.CompletedOn.IsZero() || c.CompletedBy == "" || strings.TrimSpace(c.Evidence) == "" {
			return errors.New("a task is done with the day, who did it and the evidence that it was done")
		}
	case "skipped":
		if strings.TrimSpace(c.Notes) == "" {
			return errors.New("a skipped task needs the reason in its notes")
		}
	default:
		return fmt.Errorf("status %q: want open, done or skipped", c.Status)
	}
	return nil
}

// OnTime reports whether the task was done by its due day.
func (c CalendarTask) OnTime() bool {
	return c.Status == "done" && !c.CompletedOn.After(c.Due)
}

// PlannedTask is a task the calendar generates, with its record id.
type PlannedTask struct {
	ID   string
	Task CalendarTask
}

// GenerateCalendar is a year's tasks: the log review of each month, due at
// the end of the month after it; recertification and the BAA inventory
// review each quarter, due at its end; and the annual tasks, due at the
// end of the year. owners maps a task type to its owner ("" = unassigned).
func GenerateCalendar(year int, owners map[string]string) []PlannedTask {
	var out []PlannedTask
	add := func(task, period string, due Date) {
		out = append(out, PlannedTask{ID: "cal-" + task + "-" + period, Task: CalendarTask{Task: task, Period: period,
			Title: taskTitles[task] + " " + period, Owner: owners[task], Due: due, Status: "open"}})
	}
	for m := time.January; m <= time.December; m++ {
		add(TaskLogReview, fmt.Sprintf("%d-%02d", year, int(m)), NewDate(year, m+2, 1).AddDays(-1))
	}
	for q := 1; q <= 4; q++ {
		end := NewDate(year, time.Month(3*q+1), 1).AddDays(-1)
		add(TaskRecertification, fmt.Sprintf("%d-Q%d", year, q), end)
		add(TaskBAAInventoryReview, fmt.Sprintf("%d-Q%d", year, q), end)
	}
	for _, task := range []string{TaskRiskAnalysis, TaskContingencyTest, TaskPolicyRefresh, TaskTrainingReview} {
		add(task, fmt.Sprint(year), NewDate(year, time.December, 31))
	}
	return out
}

// EnsureCalendar writes the year's tasks that are not recorded yet and
// returns how many it wrote; tasks already there (and their progress) are
// left alone, so it may run again.
func EnsureCalendar(ctx context.Context, db DB, year int, owners map[string]string, actor string, now time.Time) (int, error) {
	if year < 2000 || year > 2200 {
		return 0, fmt.Errorf("%w: year %d", ErrInvalid, year)
	}
	have, err := List[CalendarTask](ctx, db)
	if err != nil {
		return 0, err
	}
	exists := make(map[string]bool, len(have))
	for _, v := range have {
		exists[v.ID] = true
	}
	n := 0
	for _, p := range GenerateCalendar(year, owners) {
		if exists[p.ID] {
			continue
		}
		if _, err := Put(ctx, db, p.ID, p.Task, Change{Actor: actor, Reason: fmt.Sprintf("audit calendar %d generated", year), At: now}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// CalendarDue lists the open tasks as due items.
func CalendarDue(tasks []Versioned[CalendarTask], day Date) []DueItem {
	var out []DueItem
	for _, v := range tasks {
		if v.Body.Status == "open" {
			out = append(out, dueItem(KindCalendarTask, v.ID, v.Body.Title, v.Body.Owner, v.Body.Due, day))
		}
	}
	return out
}

// Finding is a problem found (by an audit, a calendar task, an incident)
// and its corrective actions, tracked to closure.
type Finding struct {
	Title             string             `json:"title"`
	Description       string             `json:"description,omitempty"`
	Source            string             `json:"source,omitempty"` // e.g. a calendar task or incident id
	Severity          string             `json:"severity"`         // low, medium, high
	Owner             string             `json:"owner"`
	Status            string             `json:"status"` // open, closed
	CorrectiveActions []CorrectiveAction `json:"corrective_actions,omitempty"`
	ClosedOn          Date               `json:"closed_on,omitzero"`
}

// CorrectiveAction is one step to fix a finding.
type CorrectiveAction struct {
	Action   string `json:"action"`
	Owner    string `json:"owner"`
	Due      Date   `json:"due"`
	DoneOn   Date   `json:"done_on,omitzero"`
	Evidence string `json:"evidence,omitempty"`
}

// Kind implements Body.
func (Finding) Kind() Kind { return KindFinding }

// Validate implements Body.
func (f Finding) Validate() error {
	if strings.TrimSpace(f.Title) == "" || f.Owner == "" {
		return errors.New("a finding needs a title and an owner")
	}
	if f.Severity != "low" && f.Severity != "medium" && f.Severity != "high" {
		return fmt.Errorf("severity %q: want low, medium or high", f.Severity)
	}
	for i, a := range f.CorrectiveActions {
		if strings.TrimSpace(a.Action) == "" || a.Owner == "" || a.Due.IsZero() {
			return fmt.Errorf("corrective action %d needs the action, an owner and a due day", i+1)
		}
		if !a.DoneOn.IsZero() && strings.TrimSpace(a.Evidence) == "" {
			return fmt.Errorf("corrective action %d is done: say what shows it", i+1)
		}
	}
	switch f.Status {
	case "open":
	case "closed":
		if len(f.CorrectiveActions) == 0 {
			return errors.New("a finding is closed by its corrective actions: record at least one")
		}
		for i, a := range f.CorrectiveActions {
			if a.DoneOn.IsZero() {
				return fmt.Errorf("corrective action %d is not done: a finding closes when all are", i+1)
			}
		}
		if f.ClosedOn.IsZero() {
			return errors.New("a closed finding needs the day it was closed")
		}
	default:
		return fmt.Errorf("status %q: want open or closed", f.Status)
	}
	return nil
}

// FindingsDue lists the open corrective actions as due items.
func FindingsDue(fs []Versioned[Finding], day Date) []DueItem {
	var out []DueItem
	for _, v := range fs {
		if v.Body.Status != "open" {
			continue
		}
		for _, a := range v.Body.CorrectiveActions {
			if a.DoneOn.IsZero() {
				out = append(out, dueItem(KindFinding, v.ID, v.Body.Title+": "+a.Action, a.Owner, a.Due, day))
			}
		}
	}
	return out
}

// Sanction is a sanction applied to a workforce member (164.308(a)(1)(ii)(C)).
type Sanction struct {
	Person     string `json:"person"`
	Violation  string `json:"violation"`
	Policy     string `json:"policy,omitempty"`      // policy record id
	IncidentID string `json:"incident_id,omitempty"` // incident record id
	Sanction   string `json:"sanction"`              // e.g. retraining, written warning, suspension, termination
	ImposedOn  Date   `json:"imposed_on"`
	ImposedBy  string `json:"imposed_by"`
}

// Kind implements Body.
func (Sanction) Kind() Kind { return KindSanction }

// Validate implements Body.
func (s Sanction) Validate() error {
	if s.Person == "" || strings.TrimSpace(s.Violation) == "" || strings.TrimSpace(s.Sanction) == "" || s.ImposedOn.IsZero() || s.ImposedBy == "" {
		return errors.New("a sanction needs the person, the violation, the sanction, the day and who imposed it")
	}
	return nil
}
