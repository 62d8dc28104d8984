package records

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/review"
)

func TestReviewIncidents(t *testing.T) {
	ctx := context.Background()
	db := tenantDB(t, "review-open")
	at := time.Date(2026, 12, 2, 15, 4, 0, 0, time.UTC)
	req := review.IncidentRequest{Period: "2026-11", ItemID: "item-7", ActorID: "dortiz", ActorName: "Dana Ortiz", PatientIDs: []string{"p9"},
		Rules: []string{"family_member_lookup"}, AlertIDs: []string{"a1"}, Reason: "looked up her sister's chart", RequestedBy: "reviewer@clinic", RequestedAt: at}
	var opener review.IncidentOpener = ReviewIncidents{}
	id, err := opener.OpenIncident(ctx, db, req)
	if err != nil {
		t.Fatal(err)
	}
	if id != "inc-review-2026-11.item-7" {
		t.Fatalf("id = %q", id)
	}
	again, err := opener.OpenIncident(ctx, db, req)
	if err != nil || again != id {
		t.Fatalf("retried decision: %q, %v", again, err)
	}
	v, err := Get[Incident](ctx, db, id)
	if err != nil {
		t.Fatal(err)
	}
	in := v.Body
	if v.Version != 1 || in.Source != SourceReview || in.Discovered.String() != "2026-12-02" || in.OpenedBy != "reviewer@clinic" || v.Actor != "reviewer@clinic" ||
		!strings.HasPrefix(in.Title, "Inappropriate access by Dana Ortiz, dortiz") || !strings.Contains(in.Summary, "sister") ||
		!strings.Contains(in.Summary, "family_member_lookup") || len(in.PatientIDs) != 1 {
		t.Fatalf("incident = %+v (version %d by %s)", in, v.Version, v.Actor)
	}
	// Its clock runs from the decision day.
	if dl := in.Deadlines(DateOf(at)); len(dl) != 2 || dl[0].Due.String() != "2027-01-31" {
		t.Fatalf("clock = %+v", dl)
	}
}

// Opener opens incidents by tenant name for callers holding the unscoped store.
func TestOpenerByTenant(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	o := Opener{Store: shared.Store(t), Now: func() time.Time { return at }}
	id, err := o.OpenIncident(ctx, "opener-a", IncidentRequest{Source: SourceCase, SourceID: "k1", Summary: "Mass export", Actor: "po"})
	if err != nil || id != "inc-case-k1" {
		t.Fatalf("open = %q, %v", id, err)
	}
	if _, err := Get[Incident](ctx, tenantDB(t, "opener-b"), id); err == nil {
		t.Fatal("the incident is visible in another tenant")
	}
	v, err := Get[Incident](ctx, tenantDB(t, "opener-a"), id)
	if err != nil || v.Body.Discovered.String() != "2026-03-01" || v.Body.Timeline[0].Note != "opened from case k1" {
		t.Fatalf("incident = %+v, %v", v, err)
	}
	if _, err := o.OpenIncident(ctx, "", IncidentRequest{Source: SourceManual, Summary: "x", Actor: "po"}); err == nil {
		t.Fatal("an incident without a tenant was opened")
	}
}
