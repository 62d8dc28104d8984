package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// AssignItem gives one item to a reviewer and queues the assignment notice.
func (s *Service) AssignItem(ctx context.Context, db DB, period, itemID string, to Reviewer, ch Change) (Item, error) {
	p, err := s.Period(ctx, db, period)
	if err != nil {
		return Item{}, err
	}
	it, err := s.Item(ctx, db, period, itemID)
	if err != nil {
		return Item{}, err
	}
	ch.At = s.Now()
	n, err := Assign(p, it, to, ch)
	if err != nil {
		return Item{}, err
	}
	if err := s.writeItems(ctx, db, []Item{n}); err != nil {
		return Item{}, err
	}
	if err := s.amended(ctx, db, p, ch, "assignment of "+itemID); err != nil {
		return Item{}, err
	}
	return n, s.Queue(ctx, db, s.assignmentNotices(db.Tenant(), p, []Item{n}))
}

// AutoAssignResult says what auto-assignment did.
type AutoAssignResult struct {
	Assigned   map[string]int `json:"assigned"`   // reviewer → items given now
	Unassigned []string       `json:"unassigned"` // items nobody listed may review
}

// AutoAssign balances the period's unassigned, undecided items over the
// reviewers, counting what each already holds open.
func (s *Service) AutoAssign(ctx context.Context, db DB, period string, reviewers []Reviewer, ch Change) (AutoAssignResult, error) {
	res := AutoAssignResult{Assigned: map[string]int{}, Unassigned: []string{}}
	if err := checkReviewers(reviewers); err != nil {
		return res, err
	}
	p, err := s.Period(ctx, db, period)
	if err != nil {
		return res, err
	}
	if err := checkChange(p, ch); err != nil {
		return res, err
	}
	items, err := s.Items(ctx, db, period, ItemFilter{})
	if err != nil {
		return res, err
	}
	load := map[string]int{}
	var todo []Item
	byID := map[string]Item{}
	for _, it := range items {
		switch {
		case it.Decided():
		case it.Assignee != "":
			load[it.Assignee]++
		default:
			todo = append(todo, it)
			byID[it.ItemID] = it
		}
	}
	as, un := Balance(todo, reviewers, load)
	res.Unassigned = append(res.Unassigned, un...)
	ch.At = s.Now()
	var out []Item
	for _, a := range as {
		n, err := Assign(p, byID[a.ItemID], a.Reviewer, ch)
		if err != nil {
			return res, err
		}
		out = append(out, n)
		res.Assigned[a.Reviewer.ID]++
	}
	if err := s.writeItems(ctx, db, out); err != nil {
		return res, err
	}
	if err := s.amended(ctx, db, p, ch, "auto-assignment"); err != nil {
		return res, err
	}
	return res, s.Queue(ctx, db, s.assignmentNotices(db.Tenant(), p, out))
}

func (s *Service) assignmentNotices(tenant string, p Period, items []Item) []Notification {
	per := map[string][]Item{}
	var order []string
	for _, it := range items {
		if per[it.Assignee] == nil {
			order = append(order, it.Assignee)
		}
		per[it.Assignee] = append(per[it.Assignee], it)
	}
	var ns []Notification
	for _, who := range order {
		its := per[who]
		var b strings.Builder
		fmt.Fprintf(&b, "You have been assigned %d item(s) of the %s access review, due %s:\n\n", len(its), p.Period, p.DueDate)
		var key strings.Builder
		for _, it := range its {
			fmt.Fprintf(&b, "  #%d %s %s: %s\n", it.Rank, it.Kind, it.ItemID, it.Summary)
			key.WriteString(it.ItemID + it.VersionAt.String())
		}
		ns = append(ns, Notification{NotificationID: NotificationID(tenant, NoticeAssignment, p.Period, who, key.String()),
			Period: p.Period, Kind: NoticeAssignment, Recipient: who, RecipientEmail: its[0].AssigneeEmail,
			Subject: fmt.Sprintf("phiwatch: %d review item(s) assigned to you (%s)", len(its), p.Period), Body: b.String()})
	}
	return ns
}

// DecideItem records a decision on one item: an inappropriate one opens an
// incident; a needs_information one queues the questionnaire.
func (s *Service) DecideItem(ctx context.Context, db DB, period, itemID string, d Decision, ch Change) (Item, error) {
	p, err := s.Period(ctx, db, period)
	if err != nil {
		return Item{}, err
	}
	it, err := s.Item(ctx, db, period, itemID)
	if err != nil {
		return Item{}, err
	}
	out, err := s.decide(ctx, db, p, []Item{it}, d, ch)
	if err != nil {
		return Item{}, err
	}
	return out[0], nil
}

// BulkDecide applies one decision, with one reason, to items that share
// an explanation: the listed items, or every undecided item with the rule.
// Items about the caller's own activity are skipped and returned.
func (s *Service) BulkDecide(ctx context.Context, db DB, period string, itemIDs []string, rule string, d Decision, ch Change) (decided []Item, skipped []string, err error) {
	if (len(itemIDs) == 0) == (rule == "") {
		return nil, nil, fmt.Errorf("%w: give either item_ids or rule", ErrInvalid)
	}
	if d.Decision == DecideNeedsInfo {
		return nil, nil, fmt.Errorf("%w: questionnaires go one item at a time", ErrInvalid)
	}
	if len(itemIDs) > 1000 {
		return nil, nil, fmt.Errorf("%w: at most 1000 items per bulk decision", ErrInvalid)
	}
	p, err := s.Period(ctx, db, period)
	if err != nil {
		return nil, nil, err
	}
	if err := checkChange(p, ch); err != nil {
		return nil, nil, err
	}
	items, err := s.Items(ctx, db, period, ItemFilter{Rule: rule})
	if err != nil {
		return nil, nil, err
	}
	want := map[string]bool{}
	for _, id := range itemIDs {
		want[id] = true
	}
	var todo []Item
	for _, it := range items {
		if len(want) > 0 && !want[it.ItemID] {
			continue
		}
		delete(want, it.ItemID)
		if it.Decided() && !ch.Amendment {
			if len(itemIDs) > 0 {
				return nil, nil, fmt.Errorf("%w: item %s is already decided (%s)", ErrConflict, it.ItemID, it.State)
			}
			continue
		}
		if ch.By.about(it) {
			skipped = append(skipped, it.ItemID)
			continue
		}
		todo = append(todo, it)
	}
	for id := range want {
		return nil, nil, fmt.Errorf("%w: period %s has no item %s", ErrNotFound, period, id)
	}
	if len(todo) == 0 {
		return nil, skipped, nil
	}
	decided, err = s.decide(ctx, db, p, todo, d, ch)
	return decided, skipped, err
}

func (s *Service) decide(ctx context.Context, db DB, p Period, items []Item, d Decision, ch Change) ([]Item, error) {
	ch.At = s.Now()
	out := make([]Item, 0, len(items))
	for _, it := range items {
		n, err := Decide(p, it, d, ch)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	// Incidents first: an item is recorded inappropriate only with its
	// incident's id.
	if d.Decision == DecideInappropriate {
		for i, n := range out {
			if n.IncidentID != "" {
				continue // amended back to inappropriate: the incident exists
			}
			id, err := s.incidents.OpenIncident(ctx, db, IncidentRequest{Period: p.Period, ItemID: n.ItemID, Kind: n.Kind, ActorID: n.ActorID,
				ActorName: n.ActorName, PatientIDs: n.PatientIDs, Rules: n.Rules, AlertIDs: n.AlertIDs, Summary: n.Summary,
				Reason: n.DecisionReason, RequestedBy: ch.By.ID, RequestedAt: ch.At, RetainUntil: n.RetainUntil})
			if err != nil {
				return nil, fmt.Errorf("open the incident for item %s: %w", n.ItemID, err)
			}
			out[i].IncidentID = id
		}
	}
	if err := s.writeItems(ctx, db, out); err != nil {
		return nil, err
	}
	if err := s.amended(ctx, db, p, ch, fmt.Sprintf("decision %s on %d item(s)", d.Decision, len(out))); err != nil {
		return nil, err
	}
	if d.Decision == DecideNeedsInfo {
		var ns []Notification
		for _, n := range out {
			q, err := s.questionnaire(ctx, db, p, n)
			if err != nil {
				return nil, err
			}
			ns = append(ns, q)
		}
		if err := s.Queue(ctx, db, ns); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// questionnaire is the e-mail asking the user (or their manager) about an
// item; the recipient comes from the roster.
func (s *Service) questionnaire(ctx context.Context, db DB, p Period, it Item) (Notification, error) {
	who, err := s.person(ctx, db, it.ActorID)
	if err != nil {
		return Notification{}, err
	}
	to := who
	if it.QuestionTo == "manager" {
		if who.ManagerID == "" {
			return Notification{}, fmt.Errorf("%w: the roster names no manager for %s; ask the user instead", ErrInvalid, it.ActorID)
		}
		if to, err = s.person(ctx, db, who.ManagerID); err != nil {
			return Notification{}, err
		}
	}
	body := fmt.Sprintf("Hello %s,\n\nThe privacy review of %s asks about this access by %s:\n%s\n\nQuestion: %s\n\n"+
		"Please reply to your privacy officer; your answer is recorded with the review (item %s).\n",
		orName(to.Name, to.UserID), p.Period, orName(who.Name, it.ActorID), it.Summary, it.Question, it.ItemID)
	return Notification{NotificationID: NotificationID(db.Tenant(), NoticeQuestionnaire, p.Period, to.UserID, it.ItemID+it.VersionAt.String()),
		Period: p.Period, Kind: NoticeQuestionnaire, Recipient: to.UserID, RecipientEmail: to.Email,
		Subject: "Privacy review question about an access to patient records (" + p.Period + ")", Body: body}, nil
}

// Answer stores the answer to an item's questionnaire.
func (s *Service) Answer(ctx context.Context, db DB, period, itemID, answer, from string, ch Change) (Item, error) {
	p, err := s.Period(ctx, db, period)
	if err != nil {
		return Item{}, err
	}
	it, err := s.Item(ctx, db, period, itemID)
	if err != nil {
		return Item{}, err
	}
	ch.At = s.Now()
	n, err := RecordAnswer(p, it, answer, from, ch)
	if err != nil {
		return Item{}, err
	}
	if err := s.writeItems(ctx, db, []Item{n}); err != nil {
		return Item{}, err
	}
	return n, s.amended(ctx, db, p, ch, "answer on "+itemID)
}

// AddComment adds a comment to an item.
func (s *Service) AddComment(ctx context.Context, db DB, period, itemID, body string, ch Change) (Comment, error) {
	p, err := s.Period(ctx, db, period)
	if err != nil {
		return Comment{}, err
	}
	if err := checkChange(p, ch); err != nil {
		return Comment{}, err
	}
	if _, err := s.Item(ctx, db, period, itemID); err != nil {
		return Comment{}, err
	}
	body, err = checkText("comment", body, true)
	if err != nil {
		return Comment{}, err
	}
	now := s.Now()
	h := sha256.Sum256([]byte(db.Tenant() + period + itemID + ch.By.ID + now.String() + body))
	c := Comment{Period: period, MonthStart: p.MonthStart, ItemID: itemID, CommentID: "rc-" + hex.EncodeToString(h[:8]), Author: ch.By.ID,
		Body: body, Amendment: ch.Amendment, CreatedAt: now, RetainUntil: p.RetainUntil}
	if err := db.Insert(ctx, "review_comments", []Comment{c}); err != nil {
		return Comment{}, fmt.Errorf("store comment: %w", err)
	}
	return c, s.amended(ctx, db, p, ch, "comment on "+itemID)
}

// SignOffPeriod locks the period.
func (s *Service) SignOffPeriod(ctx context.Context, db DB, period string, by Reviewer, note string) (Period, error) {
	p, err := s.Period(ctx, db, period)
	if err != nil {
		return Period{}, err
	}
	items, err := s.Items(ctx, db, period, ItemFilter{})
	if err != nil {
		return Period{}, err
	}
	n, err := SignOff(p, items, by, note, s.Now())
	if err != nil {
		return Period{}, err
	}
	return n, s.writePeriod(ctx, db, n)
}
