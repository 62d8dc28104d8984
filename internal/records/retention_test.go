package records

import (
	"context"
	"testing"
	"time"
)

// A version is kept 7 years from when it stopped being in effect, not only
// from when it was written; the history still shows each version once.
func TestRetentionFollowsLastEffectiveDay(t *testing.T) {
	ctx := context.Background()
	db := tenantDB(t, "retention")
	c := Course{Title: "Security awareness", Type: "security_awareness", DueDays: 30}
	t2020 := time.Date(2020, 3, 1, 9, 0, 0, 0, time.UTC)
	if _, err := Put(ctx, db, "course-1", c, Change{Actor: "po", Reason: "created", At: t2020}); err != nil {
		t.Fatal(err)
	}
	if _, err := Put(ctx, db, "course-2", c, Change{Actor: "po", Reason: "created", At: t2020}); err != nil {
		t.Fatal(err)
	}
	// course-1 stays in effect until 2026, when version 2 replaces it.
	c.DueDays = 14
	t2026 := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	if _, err := Put(ctx, db, "course-1", c, Change{Actor: "po", Reason: "shorter deadline", At: t2026, BaseVersion: 1}); err != nil {
		t.Fatal(err)
	}
	hist, err := History[Course](ctx, db, "course-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].RetainUntil.String() != "2033-06-01" || hist[1].RetainUntil.String() != "2033-06-01" ||
		hist[0].Reason != "created" || !hist[0].ChangedAt.Equal(t2020) || hist[0].Body.DueDays != 30 {
		t.Fatalf("history = %+v, want version 1 unchanged but kept to 2033-06-01", hist)
	}
	// course-2 is still current in 2026: the refresh extends it; run again, nothing to do.
	n, err := RefreshRetention(ctx, db, t2026)
	if err != nil || n != 1 {
		t.Fatalf("refresh = %d, %v; want course-2 only", n, err)
	}
	if n, _ := RefreshRetention(ctx, db, t2026); n != 0 {
		t.Fatalf("second refresh extended %d", n)
	}
	v, err := Get[Course](ctx, db, "course-2")
	if err != nil || v.RetainUntil.String() != "2033-06-01" || v.Version != 1 || v.Reason != "created" {
		t.Fatalf("course-2 = %+v, %v", v, err)
	}
	all, _ := Versions[Course](ctx, db, t2020.AddDate(-1, 0, 0), t2026.AddDate(1, 0, 0))
	if len(all) != 3 {
		t.Fatalf("versions = %d, want 3 (each once)", len(all))
	}
}
