package review

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// QueueFlagNotices queues the just-in-time notice (tenant setting
// JITNotice) for every alert detected since `since` that no suppression
// quiets: the person whose account was flagged hears of it within one job
// interval, not at the month's review. One notice per alert (queueing again
// is a no-op); a person without an e-mail address on the roster gets none.
func (s *Service) QueueFlagNotices(ctx context.Context, db DB, since time.Time) error {
	st, err := s.TenantSettings(ctx, db)
	if err != nil || !st.JITNotice {
		return err
	}
	var alerts []struct {
		AlertID   string    `json:"alert_id"`
		ActorID   string    `json:"actor_id"`
		Rule      string    `json:"rule"`
		FirstSeen time.Time `json:"first_seen"`
	}
	if err := db.Select(ctx, &alerts, fmt.Sprintf(`SELECT alert_id, actor_id, rule, first_seen FROM %[1]s.alerts_current
WHERE tenant_id = {tenant:String} AND detected_at >= {since:DateTime64(3)} AND actor_id != ''
  AND alert_id NOT IN (SELECT alert_id FROM %[1]s.alert_suppressions WHERE tenant_id = {tenant:String})
ORDER BY detected_at`, db.Database()), store.Params{"since": store.TimeParam(since)}); err != nil {
		return fmt.Errorf("read new alerts for just-in-time notices: %w", err)
	}
	var ns []Notification
	for _, a := range alerts {
		who, err := s.person(ctx, db, a.ActorID)
		if err != nil {
			return err
		}
		if who.Email == "" {
			continue
		}
		month := MonthOf(a.FirstSeen).String()
		ns = append(ns, Notification{NotificationID: NotificationID(db.Tenant(), NoticeJIT, month, a.ActorID, a.AlertID),
			Period: month, Kind: NoticeJIT, Recipient: a.ActorID, RecipientEmail: who.Email,
			Subject: "Your access to patient records was flagged for review",
			// The notice names no patient: the rule says what kind of access.
			Body: fmt.Sprintf("Hello %s,\n\nAn access to patient records under your account on %s was flagged for the practice's privacy review (%s).\n\n"+
				"Access patient records only when your work requires it. Your privacy officer may contact you.\n",
				orName(who.Name, a.ActorID), a.FirstSeen.UTC().Format("2 Jan 2006"), strings.ReplaceAll(a.Rule, "_", " "))})
	}
	return s.Queue(ctx, db, ns)
}
