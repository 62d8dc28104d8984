package records

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/phiwatch/phiwatch/internal/recert"
	"github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Status is a practice's compliance status on a day: what an MSP looks at
// first, and the first page of the evidence binder.
type Status struct {
	Tenant string `json:"tenant"`
	Day    Date   `json:"day"`
	// Monthly log reviews due in the last 12 months and how many were
	// signed off by their due day (calendar tasks log_review).
	ReviewsDue    int `json:"reviews_due"`
	ReviewsOnTime int `json:"reviews_on_time"`
	// The latest quarter's recertification whose due day has passed.
	RecertPeriod string `json:"recert_period,omitempty"`
	RecertDone   bool   `json:"recert_done"`
	// Training assignments due by the day that are complete, in percent.
	TrainingPercent float64 `json:"training_percent"`
	TrainingOverdue int     `json:"training_overdue"`
	// Business associates with a BAA in force, of the active ones.
	Vendors        int `json:"vendors"`
	VendorsCurrent int `json:"vendors_current"`
	OpenIncidents  int `json:"open_incidents"`
	// Breach notices overdue, and risk treatments or acceptances overdue.
	NoticesOverdue int `json:"notices_overdue"`
	RisksOverdue   int `json:"risks_overdue"`
	// Everything overdue, and the next things due (at most 10 each).
	Overdue []DueItem `json:"overdue"`
	Next    []DueItem `json:"next"`
	// Attention orders the fleet view: higher needs attention sooner.
	Attention int `json:"attention"`
}

// StatusWindow is how many days ahead "next" looks.
const StatusWindow = 30

// TenantStatus computes the status of db's tenant on day, the log reviews
// and recertifications from the audit calendar's tasks.
func TenantStatus(ctx context.Context, db DB, day Date) (Status, error) {
	st, _, err := tenantStatus(ctx, db, day, Workflows{})
	return st, err
}

// Workflows, when set, supply the status's log-review and recertification
// facts from those workflows' own records (review periods and their
// sign-offs, recertification campaigns) instead of the audit calendar,
// for a tenant that has any.
type Workflows struct {
	Review *review.Service
	Recert bool
}

// TenantStatusWith is TenantStatus with the workflows' records.
func TenantStatusWith(ctx context.Context, db DB, day Date, w Workflows) (Status, error) {
	st, _, err := tenantStatus(ctx, db, day, w)
	return st, err
}

// apply overrides the calendar's review and recertification facts.
func (w Workflows) apply(ctx context.Context, db DB, day Date, st *Status) error {
	if rdb, ok := db.(review.DB); ok && w.Review != nil {
		periods, err := w.Review.Periods(ctx, rdb)
		if err != nil {
			return err
		}
		due, onTime := 0, 0
		for _, p := range periods {
			d, err := ParseDate(string(p.DueDate))
			if err != nil || d.After(day) || !d.After(day.AddYears(-1)) {
				continue
			}
			due++
			if p.SignedOffAt != nil && !DateOf(*p.SignedOffAt).After(d) {
				onTime++
			}
		}
		if len(periods) > 0 {
			st.ReviewsDue, st.ReviewsOnTime = due, onTime
		}
	}
	if w.Recert {
		cs, err := recert.List(ctx, db)
		if err != nil {
			return err
		}
		var latest *recert.Campaign
		var latestDue Date
		for i := range cs {
			d, err := ParseDate(cs[i].DueDate)
			if err != nil || d.After(day) {
				continue
			}
			if latest == nil || d.After(latestDue) {
				latest, latestDue = &cs[i], d
			}
		}
		if latest != nil {
			st.RecertPeriod, st.RecertDone = latest.Quarter, latest.Status == recert.StatusSignedOff
		}
	}
	return nil
}

// Owed lists everything the tenant owes on day — breach notices, patient
// requests, calendar tasks, BAA renewals and reviews, training, risk
// treatments, corrective actions, policy reviews — overdue, and due within
// window days, soonest first.
func Owed(ctx context.Context, db DB, day Date, window int) (overdue, upcoming []DueItem, err error) {
	_, due, err := tenantStatus(ctx, db, day, Workflows{})
	if err != nil {
		return nil, nil, err
	}
	overdue, upcoming = SplitDue(due, window)
	return overdue, upcoming, nil
}

func tenantStatus(ctx context.Context, db DB, day Date, w Workflows) (Status, []DueItem, error) {
	st := Status{Tenant: db.Tenant(), Day: day}
	incidents, err := List[Incident](ctx, db)
	if err != nil {
		return st, nil, err
	}
	tasks, err := List[CalendarTask](ctx, db)
	if err != nil {
		return st, nil, err
	}
	courses, err := List[Course](ctx, db)
	if err != nil {
		return st, nil, err
	}
	assignments, err := List[Assignment](ctx, db)
	if err != nil {
		return st, nil, err
	}
	completions, err := List[Completion](ctx, db)
	if err != nil {
		return st, nil, err
	}
	vendors, err := List[Vendor](ctx, db)
	if err != nil {
		return st, nil, err
	}
	risks, err := List[Risk](ctx, db)
	if err != nil {
		return st, nil, err
	}
	analyses, err := List[RiskAnalysis](ctx, db)
	if err != nil {
		return st, nil, err
	}
	requests, err := List[PatientRequest](ctx, db)
	if err != nil {
		return st, nil, err
	}
	findings, err := List[Finding](ctx, db)
	if err != nil {
		return st, nil, err
	}
	policies, err := List[Policy](ctx, db)
	if err != nil {
		return st, nil, err
	}

	yearAgo := day.AddYears(-1)
	var latestRecert *CalendarTask
	for i := range tasks {
		t := tasks[i].Body
		if t.Due.After(day) {
			continue
		}
		switch t.Task {
		case TaskLogReview:
			if t.Due.After(yearAgo) && t.Status != "skipped" {
				st.ReviewsDue++
				if t.OnTime() {
					st.ReviewsOnTime++
				}
			}
		case TaskRecertification:
			if latestRecert == nil || t.Due.After(latestRecert.Due) {
				latestRecert = &tasks[i].Body
			}
		}
	}
	if latestRecert != nil {
		st.RecertPeriod, st.RecertDone = latestRecert.Period, latestRecert.Status == "done"
	}
	if err := w.apply(ctx, db, day, &st); err != nil {
		return st, nil, err
	}
	training := Training(courses, assignments, completions, day)
	st.TrainingPercent = TrainingPercent(training, day)
	for _, v := range vendors {
		if v.Body.BAAStatus != "terminated" {
			st.Vendors++
			if v.Body.Current(day) {
				st.VendorsCurrent++
			}
		}
	}
	var due []DueItem
	for _, v := range incidents {
		if v.Body.Status != IncidentClosed {
			st.OpenIncidents++
		}
		for _, s := range v.Body.Deadlines(day) {
			if s.Status == DeadlineDue || s.Status == DeadlineOverdue {
				due = append(due, dueItem(KindIncident, v.ID, s.label()+" notice: "+v.Body.Title, "", s.Due, day))
			}
		}
	}
	for _, s := range training {
		if s.Status != "complete" {
			due = append(due, dueItem(KindAssignment, s.AssignmentID, "Training "+s.Assignment.CourseID+" for "+s.Assignment.Person, s.Assignment.Person, s.Assignment.Due, day))
		}
	}
	due = append(due, CalendarDue(tasks, day)...)
	due = append(due, VendorsDue(vendors, day)...)
	due = append(due, RisksDue(risks, day)...)
	due = append(due, AnalysisDue(analyses, day))
	due = append(due, RequestsDue(requests, day)...)
	due = append(due, FindingsDue(findings, day)...)
	due = append(due, PoliciesDue(policies, day)...)
	overdue, next := SplitDue(due, StatusWindow)
	for _, it := range overdue {
		switch it.Kind {
		case KindIncident:
			st.NoticesOverdue++
		case KindRisk:
			st.RisksOverdue++
		case KindAssignment:
			st.TrainingOverdue++
		}
	}
	st.Attention = 10*st.NoticesOverdue + 3*st.OpenIncidents + 2*len(overdue) + (st.Vendors - st.VendorsCurrent) + (st.ReviewsDue - st.ReviewsOnTime)
	if !st.RecertDone && st.RecertPeriod != "" {
		st.Attention += 3
	}
	st.Overdue, st.Next = firstN(overdue, 10), firstN(next, 10)
	return st, due, nil
}

func firstN[T any](xs []T, n int) []T {
	if xs == nil {
		return []T{}
	}
	return xs[:min(n, len(xs))]
}

// Fleet is the status of each of tenants, those needing attention first:
// the MSP overview. q is the unscoped store; each tenant is read through
// a store narrowed to it.
func Fleet(ctx context.Context, q store.Querier, tenants []string, day Date, w Workflows) ([]Status, error) {
	out := make([]Status, 0, len(tenants))
	for _, t := range tenants {
		db, err := store.ForTenant(q, t)
		if err != nil {
			return nil, err
		}
		st, err := TenantStatusWith(ctx, db, day, w)
		if err != nil {
			return nil, fmt.Errorf("compliance status of %s: %w", t, err)
		}
		out = append(out, st)
	}
	slices.SortStableFunc(out, func(a, b Status) int {
		if a.Attention != b.Attention {
			return b.Attention - a.Attention
		}
		return strings.Compare(a.Tenant, b.Tenant)
	})
	return out, nil
}
