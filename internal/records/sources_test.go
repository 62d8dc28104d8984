package records

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/recert"
	"github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

// The binder carries the monthly log reviews and recertification
// campaigns of the period as those workflows export them.
func TestBinderSources(t *testing.T) {
	ctx := context.Background()
	const tenant = "binder-sources"
	s := shared.Store(t)
	db := tenantDB(t, tenant)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	keep := now.AddDate(7, 0, 0)
	if err := s.InsertWorkforce(ctx, []store.WorkforceRow{{TenantID: tenant, UserID: "ann", Name: "Ann Nurse", Role: "nurse", ImportedAt: now.Add(-time.Hour), RetainUntil: keep}}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertAccounts(ctx, []store.AccountRow{{TenantID: tenant, System: "ehr", AccountID: "ann", Enabled: true, Roles: []string{"clinical"},
		Groups: []string{}, OwnerUserID: "ann", ImportedAt: now.Add(-time.Hour), RetainUntil: keep, Source: "test"}}); err != nil {
		t.Fatal(err)
	}
	c, _, err := recert.Create(ctx, db, recert.CreateRequest{Quarter: recert.Quarter{Year: 2026, Q: 4}, DueDate: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC),
		By: recert.Actor{ID: "po", Name: "Pat Officer", Role: "privacy_officer"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	svc := review.NewService(review.Config{}, ReviewIncidents{}, func() time.Time { return now })
	if _, err := svc.EnsurePeriod(ctx, db, review.Month{Year: 2026, Month: time.October}, "po"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	files, err := WriteBinder(ctx, db, &buf, BinderPeriod{From: d("2026-01-01"), To: d("2026-11-27"), Generated: now,
		Sources: []EvidenceSource{ReviewEvidence{Service: svc}, RecertEvidence{}}})
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range zr.File {
		have[f.Name] = true
	}
	for _, want := range []string{"review/periods.csv", "review/2026-10.csv", "review/2026-10.pdf", "recert/campaigns.csv", "recert/" + c.CampaignID + ".csv"} {
		if !have[want] {
			t.Errorf("binder lacks %s (has %d files)", want, len(files))
		}
	}
	var idx string
	for _, f := range zr.File {
		if f.Name == "index.md" {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			idx = string(b)
		}
	}
	if !strings.Contains(idx, "| recert/campaigns.csv | Access recertification campaigns of the period | 1 |") {
		t.Errorf("index does not list the recertification:\n%s", idx)
	}

	// The status counts the October review (due 15 November, not signed
	// off) from the review's own records; the calendar knows nothing.
	day := d("2026-11-27")
	st, err := TenantStatusWith(ctx, db, day, Workflows{Review: svc, Recert: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.ReviewsDue != 1 || st.ReviewsOnTime != 0 || st.RecertPeriod != "" {
		t.Errorf("status from the workflows = %+v", st)
	}
	if st, _ := TenantStatus(ctx, db, day); st.ReviewsDue != 0 {
		t.Errorf("status from the calendar = %+v", st)
	}
	if st, _ := TenantStatusWith(ctx, db, d("2027-01-05"), Workflows{Recert: true}); st.RecertPeriod != "2026-Q4" || st.RecertDone {
		t.Errorf("after the Q4 campaign's due day: %+v", st)
	}
}
