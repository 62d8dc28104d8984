package review

import (
	"fmt"
	"strings"
	"time"
)

// Change is who changes an item, when, and whether as an amendment to a
// signed-off period.
type Change struct {
	By        Reviewer
	At        time.Time
	Reason    string
	Amendment bool
}

// Decision is a reviewer's decision on an item.
type Decision struct {
	Decision string `json:"decision"` // appropriate, inappropriate, needs_information
	Reason   string `json:"reason"`
	// Question and QuestionTo (user or manager) are for needs_information.
	Question   string `json:"question,omitempty"`
	QuestionTo string `json:"question_to,omitempty"`
}

const maxText = 4000

func checkText(what, s string, required bool) (string, error) {
	s = strings.TrimSpace(s)
	if required && s == "" {
		return "", fmt.Errorf("%w: %s is required", ErrInvalid, what)
	}
	if len(s) > maxText {
		return "", fmt.Errorf("%w: %s is at most %d characters", ErrInvalid, what, maxText)
	}
	return s, nil
}

// checkChange applies the lock: a signed-off period takes only
// amendments with a reason, and an open one takes no amendments.
func checkChange(p Period, ch Change) error {
	if p.Locked() && !ch.Amendment {
		return fmt.Errorf("%w (%s, by %s): record the change as an amendment, with a reason", ErrLocked, p.Period, p.SignedOffBy)
	}
	if !p.Locked() && ch.Amendment {
		return fmt.Errorf("%w: period %s is not signed off; decide the item instead of amending it", ErrConflict, p.Period)
	}
	if p.State != PeriodOpen && p.State != PeriodSignedOff {
		return fmt.Errorf("%w: period %s is still opening; try again in a minute", ErrConflict, p.Period)
	}
	if ch.Amendment && strings.TrimSpace(ch.Reason) == "" {
		return fmt.Errorf("%w: an amendment needs a reason", ErrInvalid)
	}
	return nil
}

// next is the new version of an item after a change.
func next(it Item, action string, ch Change) Item {
	it.Action, it.Actor, it.Reason, it.VersionAt, it.Amendment = action, ch.By.ID, strings.TrimSpace(ch.Reason), after(it.VersionAt, ch.At), ch.Amendment
	if ch.Amendment {
		it.Action = "amended_" + action
	}
	return it
}

// Assign gives an item to a reviewer.
func Assign(p Period, it Item, to Reviewer, ch Change) (Item, error) {
	if err := checkChange(p, ch); err != nil {
		return it, err
	}
	if to.ID == "" {
		return it, fmt.Errorf("%w: name the reviewer to assign", ErrInvalid)
	}
	if to.about(it) {
		return it, fmt.Errorf("%w: item %s is about %s's own activity; assign it to someone else", ErrSelf, it.ItemID, to.ID)
	}
	if it.Decided() && !ch.Amendment {
		return it, fmt.Errorf("%w: item %s is already decided (%s)", ErrConflict, it.ItemID, it.State)
	}
	n := next(it, "assigned", ch)
	n.Assignee, n.AssigneeEmail = to.ID, to.Email
	if n.State == StateUnassigned {
		n.State = StateAssigned
	}
	return n, nil
}

// Decide records a decision. The caller opens the incident of an
// inappropriate decision and queues the questionnaire of a
// needs_information one.
func Decide(p Period, it Item, d Decision, ch Change) (Item, error) {
	if err := checkChange(p, ch); err != nil {
		return it, err
	}
	if ch.By.about(it) {
		return it, fmt.Errorf("%w: item %s is about your own activity; another reviewer must decide it", ErrSelf, it.ItemID)
	}
	if it.Decided() && !ch.Amendment {
		return it, fmt.Errorf("%w: item %s is already decided (%s by %s); decisions are not edited", ErrConflict, it.ItemID, it.State, it.DecidedBy)
	}
	reason, err := checkText("reason", d.Reason, d.Decision != DecideNeedsInfo)
	if err != nil {
		return it, err
	}
	n := next(it, "decided", ch)
	switch d.Decision {
	case DecideAppropriate, DecideInappropriate:
		n.State = d.Decision
	case DecideNeedsInfo:
		q, err := checkText("question", d.Question, true)
		if err != nil {
			return it, err
		}
		if d.QuestionTo != "user" && d.QuestionTo != "manager" {
			return it, fmt.Errorf("%w: question_to must be user or manager", ErrInvalid)
		}
		n.State, n.Question, n.QuestionTo, n.Answer, n.AnsweredBy = StateNeedsInfo, q, d.QuestionTo, "", ""
	default:
		return it, fmt.Errorf("%w: decision must be appropriate, inappropriate or needs_information", ErrInvalid)
	}
	at := ch.At
	n.Decision, n.DecisionReason, n.DecidedBy, n.DecidedAt = d.Decision, reason, ch.By.ID, &at
	if n.Reason == "" {
		n.Reason = reason
	}
	return n, nil
}

// RecordAnswer stores the answer to an item's questionnaire.
func RecordAnswer(p Period, it Item, answer, from string, ch Change) (Item, error) {
	if err := checkChange(p, ch); err != nil {
		return it, err
	}
	if it.State != StateNeedsInfo && !ch.Amendment {
		return it, fmt.Errorf("%w: item %s has no open questionnaire (state %s)", ErrConflict, it.ItemID, it.State)
	}
	a, err := checkText("answer", answer, true)
	if err != nil {
		return it, err
	}
	from, err = checkText("answered_by", from, true)
	if err != nil {
		return it, err
	}
	n := next(it, "answered", ch)
	n.Answer, n.AnsweredBy = a, from
	if n.State == StateNeedsInfo {
		n.State = StateAnswered
	}
	return n, nil
}

// SignOff locks a period whose items are all decided.
func SignOff(p Period, items []Item, by Reviewer, note string, at time.Time) (Period, error) {
	if p.Locked() {
		return p, fmt.Errorf("%w: period %s was already signed off by %s", ErrConflict, p.Period, p.SignedOffBy)
	}
	if p.State != PeriodOpen {
		return p, fmt.Errorf("%w: period %s is still opening", ErrConflict, p.Period)
	}
	open := 0
	for _, it := range items {
		if !it.Decided() {
			open++
		}
	}
	if open > 0 {
		return p, fmt.Errorf("%w: %d of %d items are not decided yet; decide them before signing off", ErrConflict, open, len(items))
	}
	note, err := checkText("note", note, false)
	if err != nil {
		return p, err
	}
	n := p
	n.State, n.SignedOffBy, n.SignedOffAt, n.SignOffNote = PeriodSignedOff, by.ID, &at, note
	n.Action, n.Actor, n.Reason, n.VersionAt = "signed_off", by.ID, note, after(p.VersionAt, at)
	return n, nil
}

// after is at, or a millisecond past prev when the clock has not moved
// on: versions are ordered by time, so two changes in the same millisecond
// must still be told apart.
func after(prev, at time.Time) time.Time {
	if !at.After(prev.Truncate(time.Millisecond)) {
		return prev.Truncate(time.Millisecond).Add(time.Millisecond)
	}
	return at
}
