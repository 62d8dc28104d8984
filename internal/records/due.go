package records

import (
	"slices"
	"strings"
)

// DueItem is something owed by a day: a request to answer, a task, a
// renewal. The overview, reminders and the binder list them the same way.
type DueItem struct {
	Kind     Kind   `json:"kind"`
	ID       string `json:"record_id"`
	Title    string `json:"title"`
	Owner    string `json:"owner,omitempty"`
	Due      Date   `json:"due"`
	Status   string `json:"status"` // due, overdue
	DaysLeft int    `json:"days_left"`
}

func dueItem(kind Kind, id, title, owner string, due, day Date) DueItem {
	s := DeadlineDue
	if day.After(due) {
		s = DeadlineOverdue
	}
	return DueItem{Kind: kind, ID: id, Title: title, Owner: owner, Due: due, Status: s, DaysLeft: day.DaysUntil(due)}
}

// SplitDue sorts items by due day and splits them into the overdue and
// those due within window days; the rest are left out.
func SplitDue(items []DueItem, window int) (overdue, upcoming []DueItem) {
	slices.SortStableFunc(items, func(a, b DueItem) int {
		if c := a.Due.Time().Compare(b.Due.Time()); c != 0 {
			return c
		}
		return strings.Compare(string(a.Kind)+a.ID, string(b.Kind)+b.ID)
	})
	for _, it := range items {
		switch {
		case it.Status == DeadlineOverdue:
			overdue = append(overdue, it)
		case it.DaysLeft <= window:
			upcoming = append(upcoming, it)
		}
	}
	return overdue, upcoming
}
