package review

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Job is the review's periodic work, run at start and hourly by the API
// (and all-in-one) role: open last month's period for every tenant with
// activity, queue reminders and the daily digest, and send queued mail.
type Job struct {
	Store   store.Querier
	Service *Service
	Mailer  Mailer // nil: mail stays queued (visible in review_notifications)
	Log     *slog.Logger
	// RemindDays are the days before the due date a reminder goes out
	// (default 7, 3 and 1); an overdue period reminds daily.
	RemindDays []int
	// DigestHour is the UTC hour from which the daily digest is sent
	// (default 7).
	DigestHour int
}

// Run runs the job now and then every interval until ctx ends.
func (j *Job) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			j.Log.Error("review job", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce does one round over every tenant; one tenant's failure does not
// stop the others.
func (j *Job) RunOnce(ctx context.Context) error {
	now := j.Service.Now()
	month := MonthOf(now).Prev()
	tenants, err := j.tenants(ctx, month)
	if err != nil {
		return err
	}
	var failed []string
	for _, tenant := range tenants {
		if err := j.tenant(ctx, tenant, month, now); err != nil {
			j.Log.Error("review job for a tenant", "tenant", tenant, "err", err)
			failed = append(failed, tenant)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("review job failed for %d tenant(s): %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// tenants are those with events or cases in the month, or a review period.
func (j *Job) tenants(ctx context.Context, m Month) ([]string, error) {
	db := j.Store.Database()
	var rows []struct {
		Tenant string `json:"tenant_id"`
	}
	err := j.Store.Select(ctx, &rows, fmt.Sprintf(`SELECT DISTINCT tenant_id FROM (
  SELECT tenant_id FROM %s.access_events WHERE time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
  UNION ALL SELECT tenant_id FROM %s.cases WHERE last_seen >= {from:DateTime64(3)} AND first_seen < {to:DateTime64(3)}
  UNION ALL SELECT tenant_id FROM %s.review_periods)
ORDER BY tenant_id`, db, db, db), store.Params{"from": chTime(m.Start()), "to": chTime(m.End())})
	if err != nil {
		return nil, fmt.Errorf("list tenants to review: %w", err)
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.Tenant)
	}
	return out, nil
}

func (j *Job) tenant(ctx context.Context, tenant string, month Month, now time.Time) error {
	db, err := store.ForTenant(j.Store, tenant)
	if err != nil {
		return err
	}
	p, err := j.Service.EnsurePeriod(ctx, db, month, "review-job")
	if err != nil {
		return err
	}
	if p.OpenedAt.After(now.Add(-time.Minute)) {
		j.Log.Info("review period opened", "tenant", tenant, "period", p.Period, "due", p.DueDate)
	}
	if err := j.Service.QueueReminders(ctx, db, now, j.remindDays(), j.digestHour()); err != nil {
		return err
	}
	// Just-in-time notices for what the detectors flagged lately (the
	// window overlaps the runs; a notice is queued once per alert).
	if err := j.Service.QueueFlagNotices(ctx, db, now.Add(-48*time.Hour)); err != nil {
		return err
	}
	if j.Mailer == nil {
		return nil
	}
	n, err := j.Service.SendPending(ctx, db, j.Mailer)
	if n > 0 {
		j.Log.Info("review e-mail sent", "tenant", tenant, "messages", n)
	}
	return err
}

func (j *Job) remindDays() []int {
	if len(j.RemindDays) == 0 {
		return []int{7, 3, 1}
	}
	return j.RemindDays
}

func (j *Job) digestHour() int {
	if j.DigestHour <= 0 || j.DigestHour > 23 {
		return 7
	}
	return j.DigestHour
}

// QueueReminders queues, for every reviewer holding undecided items in an
// open period, a reminder on the remind days before the due date (daily
// once overdue) and the daily digest from digestHour on. Both are keyed by
// the day, so hourly runs queue each once.
func (s *Service) QueueReminders(ctx context.Context, db DB, now time.Time, remindDays []int, digestHour int) error {
	periods, err := s.Periods(ctx, db)
	if err != nil {
		return err
	}
	type open struct {
		p     Period
		count int
		email string
	}
	perReviewer := map[string][]open{}
	var ns []Notification
	day := DateOf(now)
	for _, p := range periods {
		if p.State != PeriodOpen {
			continue
		}
		items, err := s.Items(ctx, db, p.Period, ItemFilter{})
		if err != nil {
			return err
		}
		counts, emails := map[string]int{}, map[string]string{}
		for _, it := range items {
			if !it.Decided() && it.Assignee != "" {
				counts[it.Assignee]++
				emails[it.Assignee] = it.AssigneeEmail
			}
		}
		left := int(p.DueDate.Time().Sub(now.UTC().Truncate(24*time.Hour)).Hours() / 24)
		remind := p.Overdue(now) || slices.Contains(remindDays, left)
		for who, n := range counts {
			perReviewer[who] = append(perReviewer[who], open{p, n, emails[who]})
			if !remind {
				continue
			}
			subject := fmt.Sprintf("phiwatch reminder: %d review item(s) due %s (%s)", n, p.DueDate, p.Period)
			if p.Overdue(now) {
				subject = fmt.Sprintf("phiwatch: the %s access review is OVERDUE (due %s): %d item(s) open", p.Period, p.DueDate, n)
			}
			ns = append(ns, Notification{NotificationID: NotificationID(db.Tenant(), NoticeReminder, p.Period, who, string(day)),
				Period: p.Period, Kind: NoticeReminder, Recipient: who, RecipientEmail: emails[who], Subject: subject,
				Body: fmt.Sprintf("You have %d undecided item(s) in the %s access review of %s. It is due %s.\n", n, p.Period, db.Tenant(), p.DueDate)})
		}
	}
	if now.UTC().Hour() >= digestHour {
		names := make([]string, 0, len(perReviewer))
		for who := range perReviewer {
			names = append(names, who)
		}
		sort.Strings(names)
		for _, who := range names {
			var b strings.Builder
			fmt.Fprintf(&b, "Your open access-review items at %s, %s:\n\n", db.Tenant(), day)
			total := 0
			for _, o := range perReviewer[who] {
				total += o.count
				flag := ""
				if o.p.Overdue(now) {
					flag = " OVERDUE"
				}
				fmt.Fprintf(&b, "  %s: %d item(s), due %s%s\n", o.p.Period, o.count, o.p.DueDate, flag)
			}
			ns = append(ns, Notification{NotificationID: NotificationID(db.Tenant(), NoticeDigest, "", who, string(day)),
				Kind: NoticeDigest, Recipient: who, RecipientEmail: perReviewer[who][0].email,
				Subject: fmt.Sprintf("phiwatch daily digest: %d open review item(s) (%s)", total, db.Tenant()), Body: b.String()})
		}
	}
	return s.Queue(ctx, db, ns)
}
