package recert

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Reminder tells one assignee of an open campaign what is left to decide.
type Reminder struct {
	CampaignID string
	Quarter    string
	DueDate    string
	AssigneeID string
	Name       string
	Email      string
	Undecided  int
	DaysLeft   int // negative: overdue
}

// Subject and Body are the reminder's e-mail.
func (r Reminder) Subject() string {
	if r.DaysLeft < 0 {
		return fmt.Sprintf("Overdue: %d accounts to recertify (%s)", r.Undecided, r.CampaignID)
	}
	return fmt.Sprintf("%d accounts to recertify by %s (%s)", r.Undecided, r.DueDate, r.CampaignID)
}

func (r Reminder) Body() string {
	when := fmt.Sprintf("The campaign is due on %s (%d days left).", r.DueDate, r.DaysLeft)
	if r.DaysLeft < 0 {
		when = fmt.Sprintf("The campaign was due on %s (%d days ago).", r.DueDate, -r.DaysLeft)
	}
	return fmt.Sprintf("Hello %s,\n\n%d accounts of your staff still need a decision in the %s access recertification (%s).\n%s\n\n"+
		"Certify, revoke or modify each one with a reason in phiwatch: /recert/%s\n", r.Name, r.Undecided, r.Quarter, r.CampaignID, when, r.CampaignID)
}

// Reminders lists, for every open campaign of the tenant, each assignee
// with undecided items on the days a reminder is due: remindDays before
// the due date (e.g. 7, 3, 1) and every day once overdue. Items in the
// practice admin's queue have no roster e-mail and are left out (the
// campaign's progress shows them).
func Reminders(ctx context.Context, s Store, now time.Time, remindDays []int) ([]Reminder, error) {
	camps, err := List(ctx, s)
	if err != nil {
		return nil, err
	}
	var out []Reminder
	today := now.UTC().Truncate(24 * time.Hour)
	for _, c := range camps {
		if c.Status != StatusOpen {
			continue
		}
		due, err := time.Parse("2006-01-02", c.DueDate)
		if err != nil {
			continue
		}
		left := int(due.Sub(today).Hours() / 24)
		if left >= 0 && !slices.Contains(remindDays, left) {
			continue
		}
		items, err := Items(ctx, s, c.CampaignID, ItemFilter{Undecided: true})
		if err != nil {
			return nil, err
		}
		count := map[string]int{}
		names := map[string]string{}
		for _, it := range items {
			if it.AssigneeID == PracticeAdminQueue {
				continue
			}
			count[it.AssigneeID]++
			names[it.AssigneeID] = it.AssigneeName
		}
		if len(count) == 0 {
			continue
		}
		ids := make([]string, 0, len(count))
		for id := range count {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		var emails []struct {
			UserID string `json:"user_id"`
			Email  string `json:"email"`
		}
		if err := s.Select(ctx, &emails, `SELECT user_id, email FROM `+s.Database()+`.workforce_current
WHERE tenant_id = {tenant:String} AND has({ids:Array(String)}, user_id)`, store.Params{"ids": store.ArrayParam(ids)}); err != nil {
			return nil, fmt.Errorf("read assignees' e-mail: %w", err)
		}
		mail := map[string]string{}
		for _, e := range emails {
			mail[e.UserID] = e.Email
		}
		for _, id := range ids {
			out = append(out, Reminder{CampaignID: c.CampaignID, Quarter: c.Quarter, DueDate: c.DueDate, AssigneeID: id,
				Name: names[id], Email: mail[id], Undecided: count[id], DaysLeft: left})
		}
	}
	return out, nil
}
