package records

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Record kinds of workforce training (164.308(a)(5)).
const (
	KindCourse     Kind = "training_course"
	KindAssignment Kind = "training_assignment"
	KindCompletion Kind = "training_completion"
)

// Course is a training course and who must take it.
type Course struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"`            // new_hire, annual_refresher, security_awareness, other
	Roles       []string `json:"roles,omitempty"` // roles it is assigned to; empty = everyone
	ValidMonths int      `json:"valid_months,omitempty"`
	PassScore   float64  `json:"pass_score,omitempty"` // 0–100; 0 = no quiz
	DueDays     int      `json:"due_days"`             // days from assignment
}

// Kind implements Body.
func (Course) Kind() Kind { return KindCourse }

// Validate implements Body.
func (c Course) Validate() error {
	if strings.TrimSpace(c.Title) == "" {
		return errors.New("a course needs a title")
	}
	switch c.Type {
	case "new_hire", "annual_refresher", "security_awareness", "other":
	default:
		return fmt.Errorf("type %q: want new_hire, annual_refresher, security_awareness or other", c.Type)
	}
	if c.DueDays < 1 || c.DueDays > 366 {
		return errors.New("due_days is from 1 to 366")
	}
	if c.PassScore < 0 || c.PassScore > 100 || c.ValidMonths < 0 {
		return errors.New("pass_score is 0 to 100 and valid_months not negative")
	}
	return nil
}

// Assignment is a course assigned to a workforce member.
type Assignment struct {
	CourseID string `json:"course_id"`
	Person   string `json:"person"`
	Role     string `json:"role,omitempty"`
	Assigned Date   `json:"assigned"`
	Due      Date   `json:"due"`
}

// Kind implements Body.
func (Assignment) Kind() Kind { return KindAssignment }

// Validate implements Body.
func (a Assignment) Validate() error {
	if a.CourseID == "" || a.Person == "" || a.Assigned.IsZero() || a.Due.IsZero() {
		return errors.New("an assignment needs the course, the person, the day assigned and the due day")
	}
	if a.Due.Before(a.Assigned) {
		return errors.New("an assignment cannot be due before it was assigned")
	}
	return nil
}

// AssignmentID is the record id of an assignment: one per course, person
// and day assigned.
func AssignmentID(course, person string, assigned Date) string {
	return "asg-" + safeID(course) + "-" + safeID(person) + "-" + assigned.String()
}

// Completion is a course completed.
type Completion struct {
	CourseID    string  `json:"course_id"`
	Person      string  `json:"person"`
	CompletedOn Date    `json:"completed_on"`
	Score       float64 `json:"score,omitempty"`
	Source      string  `json:"source,omitempty"` // e.g. the LMS a CSV came from
}

// Kind implements Body.
func (Completion) Kind() Kind { return KindCompletion }

// Validate implements Body.
func (c Completion) Validate() error {
	if c.CourseID == "" || c.Person == "" || c.CompletedOn.IsZero() {
		return errors.New("a completion needs the course, the person and the day")
	}
	if c.Score < 0 || c.Score > 100 {
		return errors.New("score is 0 to 100")
	}
	return nil
}

// CompletionID is the record id of a completion: one per course, person
// and day, so importing the same CSV twice adds nothing.
func CompletionID(course, person string, on Date) string {
	return "cmp-" + safeID(course) + "-" + safeID(person) + "-" + on.String()
}

// AssignmentsFor lists the assignments of courses to people by role that
// are not there yet: each person gets each course of their role
// (or of everyone), assigned on day.
func AssignmentsFor(courses []Versioned[Course], people map[string]string, existing []Versioned[Assignment], day Date) map[string]Assignment {
	have := map[string]bool{}
	for _, a := range existing {
		have[a.Body.CourseID+"\x00"+a.Body.Person] = true
	}
	out := map[string]Assignment{}
	for _, c := range courses {
		for person, role := range people {
			if len(c.Body.Roles) > 0 && !slices.Contains(c.Body.Roles, role) {
				continue
			}
			if have[c.ID+"\x00"+person] {
				continue
			}
			out[AssignmentID(c.ID, person, day)] = Assignment{CourseID: c.ID, Person: person, Role: role, Assigned: day, Due: day.AddDays(c.Body.DueDays)}
		}
	}
	return out
}

// TrainingStatus is an assignment and whether it was met.
type TrainingStatus struct {
	AssignmentID string     `json:"assignment_id"`
	Assignment   Assignment `json:"assignment"`
	CompletedOn  Date       `json:"completed_on,omitzero"`
	Passed       bool       `json:"passed"`
	Status       string     `json:"status"` // complete, due, overdue
}

// Training is every assignment's status as of day: complete when a passing
// completion of the course by the person is on or after the day assigned.
func Training(courses []Versioned[Course], as []Versioned[Assignment], cs []Versioned[Completion], day Date) []TrainingStatus {
	pass := map[string]float64{}
	for _, c := range courses {
		pass[c.ID] = c.Body.PassScore
	}
	out := make([]TrainingStatus, 0, len(as))
	for _, a := range as {
		st := TrainingStatus{AssignmentID: a.ID, Assignment: a.Body}
		for _, c := range cs {
			if c.Body.CourseID == a.Body.CourseID && c.Body.Person == a.Body.Person && !c.Body.CompletedOn.Before(a.Body.Assigned) &&
				c.Body.Score >= pass[a.Body.CourseID] && (st.CompletedOn.IsZero() || c.Body.CompletedOn.Before(st.CompletedOn)) {
				st.CompletedOn, st.Passed = c.Body.CompletedOn, true
			}
		}
		switch {
		case st.Passed:
			st.Status = "complete"
		case day.After(a.Body.Due):
			st.Status = DeadlineOverdue
		default:
			st.Status = DeadlineDue
		}
		out = append(out, st)
	}
	return out
}

// TrainingPercent is the share of assignments due by day that are complete
// (100 when none are due yet).
func TrainingPercent(sts []TrainingStatus, day Date) float64 {
	due, done := 0, 0
	for _, s := range sts {
		if s.Status == "complete" {
			done++
			due++
		} else if s.Status == DeadlineOverdue {
			due++
		}
	}
	if due == 0 {
		return 100
	}
	return 100 * float64(done) / float64(due)
}

// CompletionCSVHeader is the header ParseCompletionsCSV reads (score optional).
var CompletionCSVHeader = []string{"course_id", "person", "completed_on", "score"}

// ParseCompletionsCSV reads completions exported by a learning system:
// columns course_id, person, completed_on (YYYY-MM-DD) and optionally
// score, in any order. Every bad row is reported with its line; none is
// dropped silently.
func ParseCompletionsCSV(r io.Reader, source string) ([]Completion, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: completions CSV: read the header: %w", ErrInvalid, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range CompletionCSVHeader[:3] {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%w: completions CSV: the header has no %s column (want %s)", ErrInvalid, need, strings.Join(CompletionCSVHeader, ","))
		}
	}
	var out []Completion
	var errs []error
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: completions CSV: %w", ErrInvalid, err)
		}
		c := Completion{CourseID: strings.TrimSpace(rec[col["course_id"]]), Person: strings.TrimSpace(rec[col["person"]]), Source: source}
		if c.CompletedOn, err = ParseDate(strings.TrimSpace(rec[col["completed_on"]])); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			continue
		}
		if i, ok := col["score"]; ok && strings.TrimSpace(rec[i]) != "" {
			if c.Score, err = strconv.ParseFloat(strings.TrimSpace(rec[i]), 64); err != nil {
				errs = append(errs, fmt.Errorf("line %d: score %q is not a number", line, rec[i]))
				continue
			}
		}
		if err := c.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			continue
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%w: completions CSV: %w", ErrInvalid, errors.Join(errs...))
	}
	return out, nil
}
