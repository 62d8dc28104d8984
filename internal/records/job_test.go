package records

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/recert"
	"github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

// The job queues one recertification reminder a day per manager with
// undecided items, in the review outbox, on the reminder days.
func TestJobQueuesRecertReminders(t *testing.T) {
	s := shared.Store(t)
	ctx := context.Background()
	const tenant = "job-remind"
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	keep := now.AddDate(7, 0, 0)
	if err := s.InsertWorkforce(ctx, []store.WorkforceRow{
		{TenantID: tenant, UserID: "mgr", Name: "Mo Manager", Role: "practice_manager", Email: "mo@clinic.example", ImportedAt: now, RetainUntil: keep},
		{TenantID: tenant, UserID: "ann", Name: "Ann Nurse", Role: "nurse", ManagerID: "mgr", ImportedAt: now, RetainUntil: keep},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertAccounts(ctx, []store.AccountRow{{TenantID: tenant, System: "ehr", AccountID: "ann", Enabled: true, Roles: []string{"Clinical"},
		Groups: []string{}, OwnerUserID: "ann", ImportedAt: now, RetainUntil: keep}}); err != nil {
		t.Fatal(err)
	}
	ts, _ := store.ForTenant(s, tenant)
	if _, _, err := recert.Create(ctx, ts, recert.CreateRequest{Quarter: recert.Quarter{Year: 2026, Q: 4},
		DueDate: now.AddDate(0, 0, 3), By: recert.Actor{ID: "t"}, Now: now}); err != nil {
		t.Fatal(err)
	}
	svc := review.NewService(review.Config{}, nil, func() time.Time { return now })
	j := &Job{Store: s, Review: svc, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}
	for range 2 { // the second round queues nothing new
		if err := j.RunOnce(ctx); err != nil {
			t.Logf("round: %v (other tests' tenants share the store)", err)
		}
	}
	ns, err := svc.Notifications(ctx, ts, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []review.Notification
	for _, n := range ns {
		if n.Kind == "recert_reminder" {
			got = append(got, n)
		}
	}
	if len(got) != 1 || got[0].RecipientEmail != "mo@clinic.example" || got[0].State != "pending" || got[0].Period != "2026-Q4" {
		t.Fatalf("queued reminders: %+v", got)
	}
}
