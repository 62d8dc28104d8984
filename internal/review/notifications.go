package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Notification kinds.
const (
	NoticeAssignment    = "assignment"
	NoticeQuestionnaire = "questionnaire"
	NoticeReminder      = "reminder"
	NoticeDigest        = "digest"
	NoticeJIT           = "jit_notice"
)

// Notification is one e-mail, queued then sent (versions of
// review_notifications: pending, then sent or failed).
type Notification struct {
	NotificationID string    `json:"notification_id"`
	Period         string    `json:"period"`
	Kind           string    `json:"kind"`
	Recipient      string    `json:"recipient"`
	RecipientEmail string    `json:"recipient_email"`
	Subject        string    `json:"subject"`
	Body           string    `json:"body"`
	State          string    `json:"state"` // pending, sent, failed, skipped
	Error          string    `json:"error"`
	CreatedAt      time.Time `json:"created_at"`
	VersionAt      time.Time `json:"version_at"`
	RetainUntil    Date      `json:"retain_until"`
}

// NotificationID is stable for the same purpose (kind, period, recipient
// and a discriminator such as the day or the item), so queueing again is
// a no-op.
func NotificationID(tenant, kind, period, recipient, key string) string {
	h := sha256.Sum256([]byte(tenant + "\x00" + kind + "\x00" + period + "\x00" + recipient + "\x00" + key))
	return "rn-" + hex.EncodeToString(h[:10])
}

// Queue stores notifications not queued before (by id).
func (s *Service) Queue(ctx context.Context, db DB, ns []Notification) error {
	if len(ns) == 0 {
		return nil
	}
	ids := make([]string, 0, len(ns))
	for _, n := range ns {
		ids = append(ids, n.NotificationID)
	}
	var have []struct {
		ID string `json:"notification_id"`
	}
	err := db.Select(ctx, &have, fmt.Sprintf(`SELECT DISTINCT notification_id FROM %s.review_notifications
WHERE tenant_id = {tenant:String} AND has({ids:Array(String)}, notification_id)`, db.Database()), store.Params{"ids": store.ArrayParam(ids)})
	if err != nil {
		return fmt.Errorf("check queued notifications: %w", err)
	}
	seen := map[string]bool{}
	for _, h := range have {
		seen[h.ID] = true
	}
	now := s.Now()
	var add []Notification
	for _, n := range ns {
		if seen[n.NotificationID] {
			continue
		}
		seen[n.NotificationID] = true
		n.State, n.CreatedAt, n.VersionAt, n.RetainUntil = "pending", now, now, s.retainUntil(now)
		if n.RecipientEmail == "" {
			n.State, n.Error = "skipped", "no e-mail address known for "+n.Recipient
		}
		add = append(add, n)
	}
	if len(add) == 0 {
		return nil
	}
	if err := db.Insert(ctx, "review_notifications", add); err != nil {
		return fmt.Errorf("queue %d notifications: %w", len(add), err)
	}
	return nil
}

// Notifications lists the tenant's current notifications in a state ("" =
// any), oldest first.
func (s *Service) Notifications(ctx context.Context, db DB, state string) ([]Notification, error) {
	var out []Notification
	err := db.Select(ctx, &out, fmt.Sprintf(`SELECT notification_id, period, kind, recipient, recipient_email, subject, body, state, error,
       created_at, version_at, retain_until
FROM %s.review_notifications_current WHERE tenant_id = {tenant:String} AND ({state:String} = '' OR state = {state:String})
ORDER BY created_at, notification_id`, db.Database()), store.Params{"state": state})
	if err != nil {
		return nil, fmt.Errorf("read notifications: %w", err)
	}
	return out, nil
}

// Mailer sends one e-mail.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// retryFor is how long a message that failed to send is retried (each
// run of the job): a relay outage delays mail instead of losing it.
const retryFor = 72 * time.Hour

// SendPending sends the tenant's pending notifications (and retries those
// that failed in the last three days), recording each outcome as a new
// version. It returns how many were sent.
func (s *Service) SendPending(ctx context.Context, db DB, m Mailer) (int, error) {
	var pending []Notification
	err := db.Select(ctx, &pending, fmt.Sprintf(`SELECT notification_id, period, kind, recipient, recipient_email, subject, body, state, error,
       created_at, version_at, retain_until
FROM %s.review_notifications_current WHERE tenant_id = {tenant:String}
  AND (state = 'pending' OR (state = 'failed' AND created_at >= {since:DateTime64(3)}))
ORDER BY created_at, notification_id`, db.Database()), store.Params{"since": chTime(s.Now().Add(-retryFor))})
	if err != nil {
		return 0, fmt.Errorf("read notifications to send: %w", err)
	}
	sent := 0
	var done []Notification
	for _, n := range pending {
		err := m.Send(ctx, n.RecipientEmail, n.Subject, n.Body)
		n.VersionAt = after(n.VersionAt, s.Now())
		if err != nil {
			n.State, n.Error = "failed", err.Error()
		} else {
			n.State, n.Error = "sent", ""
			sent++
		}
		done = append(done, n)
	}
	if len(done) > 0 {
		if err := db.Insert(ctx, "review_notifications", done); err != nil {
			return sent, fmt.Errorf("record sent notifications: %w", err)
		}
	}
	return sent, nil
}
