package records

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/phiwatch/phiwatch/internal/recert"
	"github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Job is the periodic work of the compliance program, per tenant, run
// beside the review job (phiwatch api, all):
//   - RefreshRetention, so a record that stays current for years is kept
//     six years after it stops being in effect (164.316(b)(2));
//   - recertification reminders (recert.Reminders), queued in the review
//     job's e-mail outbox, which sends them.
type Job struct {
	Store      store.Querier
	Review     *review.Service
	RemindDays []int // default 7, 3, 1 (overdue: daily)
	Log        *slog.Logger
	Now        func() time.Time
}

// Run does one round now and then one every interval until ctx ends.
func (j *Job) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			j.Log.Error("compliance job", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce goes over every known tenant; one tenant's failure does not stop
// the others.
func (j *Job) RunOnce(ctx context.Context) error {
	tenants, err := store.KnownTenants(ctx, j.Store)
	if err != nil {
		return err
	}
	now := j.Now().UTC()
	failed := 0
	for _, tenant := range tenants {
		ts, err := store.ForTenant(j.Store, tenant)
		if err != nil {
			return err
		}
		if err := j.tenant(ctx, ts, now); err != nil {
			j.Log.Error("compliance job for a tenant", "tenant", tenant, "err", err)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("compliance job failed for %d of %d tenants", failed, len(tenants))
	}
	return nil
}

func (j *Job) tenant(ctx context.Context, ts *store.TenantStore, now time.Time) error {
	n, err := RefreshRetention(ctx, ts, now)
	if err != nil {
		return fmt.Errorf("refresh retention of the records: %w", err)
	}
	if n > 0 {
		j.Log.Info("records retention refreshed", "tenant", ts.Tenant(), "versions", n)
	}
	days := j.RemindDays
	if len(days) == 0 {
		days = []int{7, 3, 1}
	}
	rs, err := recert.Reminders(ctx, ts, now, days)
	if err != nil {
		return fmt.Errorf("recertification reminders: %w", err)
	}
	var ns []review.Notification
	day := now.Format("2006-01-02")
	for _, r := range rs {
		if r.Email == "" {
			j.Log.Warn("recertification reminder without an e-mail address on the roster", "tenant", ts.Tenant(), "assignee", r.AssigneeID)
			continue
		}
		ns = append(ns, review.Notification{
			// One a day per campaign and person: queueing again is a no-op.
			NotificationID: review.NotificationID(ts.Tenant(), "recert_reminder", r.CampaignID, r.AssigneeID, day),
			Period:         r.CampaignID, Kind: "recert_reminder", Recipient: r.AssigneeID, RecipientEmail: r.Email,
			Subject: r.Subject(), Body: r.Body(),
		})
	}
	return j.Review.Queue(ctx, ts, ns)
}
