package recert

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/storetest"
)

var shared = storetest.New("recert")

func ptr[T any](v T) *T { return &v }

// seed loads a small practice: a manager, three nurses (one terminated,
// one with an admin entitlement no other nurse has), a front-desk clerk who
// is the admin's own staff, and an orphan account.
func seed(t *testing.T, tenant string, now time.Time) *store.TenantStore {
	t.Helper()
	s := shared.Store(t)
	ctx := context.Background()
	imported := now.AddDate(0, 0, -2)
	keep := now.AddDate(7, 0, 0)
	wf := []store.WorkforceRow{
		{TenantID: tenant, UserID: "mgr", Name: "Maria Manager", Role: "practice_manager", ImportedAt: imported, RetainUntil: keep},
		{TenantID: tenant, UserID: "n1", Name: "Nora Nurse", Role: "nurse", ManagerID: "mgr", ImportedAt: imported, RetainUntil: keep},
		{TenantID: tenant, UserID: "n2", Name: "Ned Nurse", Role: "nurse", ManagerID: "mgr", ImportedAt: imported, RetainUntil: keep},
		{TenantID: tenant, UserID: "n3", Name: "Nia Nurse", Role: "nurse", ManagerID: "mgr", ImportedAt: imported, RetainUntil: keep,
			TerminationDate: ptr(now.AddDate(0, -1, 0))},
		{TenantID: tenant, UserID: "n4", Name: "Nat Nurse", Role: "nurse", ManagerID: "mgr", ImportedAt: imported, RetainUntil: keep},
		{TenantID: tenant, UserID: "fd", Name: "Fay Desk", Role: "front_desk", ManagerID: "nobody", ImportedAt: imported, RetainUntil: keep},
	}
	if err := s.InsertWorkforce(ctx, wf); err != nil {
		t.Fatal(err)
	}
	acct := func(id, owner string, roles []string, enabled bool, lastLogin *time.Time) store.AccountRow {
		return store.AccountRow{TenantID: tenant, System: "ehr", AccountID: id, DisplayName: id, Email: id + "@clinic.example",
			Enabled: enabled, Roles: roles, Groups: []string{}, OwnerUserID: owner, LastLogin: lastLogin, Privileged: slices.Contains(roles, "admin"),
			ImportedAt: imported, RetainUntil: keep, Source: "test"}
	}
	recent := ptr(now.AddDate(0, 0, -3))
	old := ptr(now.AddDate(0, 0, -200))
	accts := []store.AccountRow{
		acct("nnurse", "n1", []string{"clinical"}, true, recent),
		acct("nednurse", "n2", []string{"clinical"}, true, recent),
		acct("nia", "n3", []string{"clinical"}, true, recent),
		acct("natn", "n4", []string{"clinical", "admin"}, true, old),
		acct("fay", "fd", []string{"scheduling"}, true, nil),
		acct("temp01", "", []string{"clinical"}, true, nil),
		acct("maria", "mgr", []string{"admin"}, true, recent),
	}
	if err := s.InsertAccounts(ctx, accts); err != nil {
		t.Fatal(err)
	}
	ev := event.Event{TenantID: tenant, SourceKind: event.KindEHR, SourceSystem: "t", Time: now.AddDate(0, 0, -1),
		Actor: event.Actor{ID: "fay"}, Action: event.ActionView, Outcome: event.OutcomeSuccess, PatientID: "P1", Raw: tenant + "fay"}
	ev.EventID = event.ID(tenant, "t", ev.Raw)
	if err := s.InsertEvents(ctx, []store.EventRow{store.NewEventRow(&ev, 0)}, ""); err != nil {
		t.Fatal(err)
	}
	ts, err := store.ForTenant(s, tenant)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestCampaignWorkflow(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	s := seed(t, "recert-flow", now)
	ctx := context.Background()
	q, _ := ParseQuarter("2026-Q4")
	admin := Actor{ID: "oidc|po", Name: "Pat Officer", Role: "privacy_officer"}
	c, items, err := Create(ctx, s, CreateRequest{Quarter: q, Systems: []string{"ehr"}, By: admin, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if c.CampaignID != "2026-Q4-ehr" || c.DueDate != "2027-01-31" || len(items) != 7 {
		t.Fatalf("campaign %+v with %d items", c, len(items))
	}
	if _, _, err := Create(ctx, s, CreateRequest{Quarter: q, Systems: []string{"ehr"}, By: admin, Now: now}); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	byAcct := map[string]Item{}
	for _, it := range items {
		byAcct[it.AccountID] = it
	}
	wantFlags := map[string][]string{
		"nnurse":   {},
		"nia":      {FlagTerminatedEnabled},
		"natn":     {FlagPrivileged, FlagDormant, FlagRoleDrift},
		"temp01":   {FlagNoOwner, FlagNeverUsed},
		"fay":      {},
		"maria":    {FlagPrivileged},
		"nednurse": {},
	}
	for acct, want := range wantFlags {
		if got := byAcct[acct].Flags; !slices.Equal(got, want) {
			t.Errorf("%s: flags %v, want %v (notes %v)", acct, got, want, byAcct[acct].Notes)
		}
	}
	if byAcct["fay"].LastActivity == nil || byAcct["fay"].DaysDormant != 1 {
		t.Errorf("fay's use from the logs: %+v", byAcct["fay"])
	}
	if a := byAcct["nnurse"].AssigneeID; a != "mgr" {
		t.Errorf("nurse item assigned to %q, want her manager", a)
	}
	if a := byAcct["fay"].AssigneeID; a != PracticeAdminQueue {
		t.Errorf("item of someone whose manager is not on the roster assigned to %q", a)
	}

	mgr := Actor{ID: "oidc|mgr", Name: "Maria Manager", Role: "manager", WorkforceID: "mgr"}
	other := Actor{ID: "oidc|n2", Name: "Ned", Role: "manager", WorkforceID: "n2"}
	id := func(acct string) string { return byAcct[acct].ItemID }
	cases := []struct {
		name string
		acct string
		req  DecideRequest
		by   Actor
		err  error
	}{
		{"no reason", "nnurse", DecideRequest{Decision: Certify}, mgr, ErrInvalid},
		{"modify without roles", "natn", DecideRequest{Decision: Modify, Reason: "x"}, mgr, ErrInvalid},
		{"self certification", "maria", DecideRequest{Decision: Certify, Reason: "mine"}, mgr, ErrSelf},
		{"manager of someone else", "nnurse", DecideRequest{Decision: Certify, Reason: "ok"}, other, ErrNotAssigned},
		{"manager and the admin queue", "fay", DecideRequest{Decision: Certify, Reason: "ok"}, mgr, ErrNotAssigned},
		{"amendment before sign-off", "nnurse", DecideRequest{Decision: Certify, Reason: "ok", Amendment: true}, mgr, ErrNotLocked},
		{"certify", "nnurse", DecideRequest{Decision: Certify, Reason: "works nights in clinic"}, mgr, nil},
		{"certify 2", "nednurse", DecideRequest{Decision: Certify, Reason: "active"}, mgr, nil},
		{"revoke terminated", "nia", DecideRequest{Decision: Revoke, Reason: "left in November"}, mgr, nil},
		{"modify drift", "natn", DecideRequest{Decision: Modify, Reason: "no admin for nurses", NewRoles: []string{"clinical"}}, mgr, nil},
		{"officer decides the queue", "fay", DecideRequest{Decision: Certify, Reason: "front desk"}, admin, nil},
		{"officer revokes orphan", "temp01", DecideRequest{Decision: Revoke, Reason: "no owner"}, admin, nil},
	}
	for _, tc := range cases {
		_, err := Decide(ctx, s, c.CampaignID, id(tc.acct), tc.req, tc.by, now)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
		}
	}
	if _, err := SignOff(ctx, s, c.CampaignID, admin, "", now); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("sign-off with an undecided item: %v", err)
	}
	if _, err := Decide(ctx, s, c.CampaignID, id("maria"), DecideRequest{Decision: Certify, Reason: "practice manager"}, admin, now); err != nil {
		t.Fatal(err)
	}
	p, err := GetProgress(ctx, s, c.CampaignID, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Items != 7 || p.Decided != 7 || p.ByDecision[Revoke] != 2 || p.ByDecision[Modify] != 1 || p.TasksOpen != 3 || !p.ReadyForSign || p.Overdue {
		t.Fatalf("progress %+v", p)
	}

	// The next inventory: nia disabled, temp01 still enabled (and used after
	// the decision), natn reduced to clinical.
	later := now.Add(48 * time.Hour)
	keep := now.AddDate(7, 0, 0)
	next := []store.AccountRow{}
	for _, a := range []struct {
		id, owner string
		roles     []string
		enabled   bool
	}{{"nnurse", "n1", []string{"clinical"}, true}, {"nednurse", "n2", []string{"clinical"}, true}, {"nia", "n3", []string{"clinical"}, false},
		{"natn", "n4", []string{"clinical"}, true}, {"fay", "fd", []string{"scheduling"}, true}, {"temp01", "", []string{"clinical"}, true},
		{"maria", "mgr", []string{"admin"}, true}} {
		next = append(next, store.AccountRow{TenantID: s.Tenant(), System: "ehr", AccountID: a.id, Email: a.id + "@clinic.example", Enabled: a.enabled,
			Roles: a.roles, Groups: []string{}, OwnerUserID: a.owner, ImportedAt: later, RetainUntil: keep, Source: "test"})
	}
	raw := shared.Store(t)
	if err := raw.InsertAccounts(ctx, next); err != nil {
		t.Fatal(err)
	}
	ev := event.Event{TenantID: s.Tenant(), SourceKind: event.KindEHR, SourceSystem: "t", Time: now.Add(time.Hour),
		Actor: event.Actor{ID: "TEMP01"}, Action: event.ActionView, Outcome: event.OutcomeSuccess, PatientID: "P2", Raw: "temp01-after"}
	ev.EventID = event.ID(s.Tenant(), "t", ev.Raw)
	if err := raw.InsertEvents(ctx, []store.EventRow{store.NewEventRow(&ev, 0)}, ""); err != nil {
		t.Fatal(err)
	}
	v, err := Verify(ctx, s, c.CampaignID, later.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if v.Checked != 3 || v.Confirmed != 2 || v.StillActive != 1 {
		t.Fatalf("verify %+v, want 3 checked: nia and natn confirmed, temp01 still active", v)
	}

	signed, err := SignOff(ctx, s, c.CampaignID, admin, "Q4 reviewed", later)
	if err != nil || signed.Status != StatusSignedOff || signed.SignedOffAt == nil {
		t.Fatalf("sign-off: %+v %v", signed, err)
	}
	if _, err := Decide(ctx, s, c.CampaignID, id("fay"), DecideRequest{Decision: Revoke, Reason: "x"}, admin, later); !errors.Is(err, ErrLocked) {
		t.Fatalf("edit after sign-off: %v", err)
	}
	it, err := Decide(ctx, s, c.CampaignID, id("fay"), DecideRequest{Decision: Revoke, Reason: "moved to billing", Amendment: true}, admin, later)
	if err != nil || !it.Amended || it.Decision != Revoke || it.TaskStatus != TaskOpen {
		t.Fatalf("amendment: %+v %v", it, err)
	}

	items, err = Items(ctx, s, c.CampaignID, ItemFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, signed, items); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 8 {
		t.Fatalf("csv: %d records, %v", len(recs), err)
	}
	// The evidence keeps the history: two decisions for fay.
	var n []struct {
		N uint64 `json:"n"`
	}
	if err := s.Select(ctx, &n, "SELECT count() AS n FROM "+s.Database()+".recert_decisions WHERE tenant_id = {tenant:String} AND item_id = {i:String}",
		store.Params{"i": id("fay")}); err != nil || n[0].N != 2 {
		t.Fatalf("decision versions for fay: %v %v", n, err)
	}
}

func TestParseQuarter(t *testing.T) {
	for _, bad := range []string{"", "2026-Q5", "2026Q1", "26-Q1", "2026-Q0"} {
		if _, err := ParseQuarter(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	q, err := ParseQuarter("2026-Q1")
	if err != nil || q.Start() != time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) || q.End() != time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("%v %v", q, err)
	}
}

func TestReminders(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	s := seed(t, "recert-remind", now)
	ctx := context.Background()
	q, _ := ParseQuarter("2026-Q4")
	due := time.Date(2026, 12, 13, 0, 0, 0, 0, time.UTC)
	if _, _, err := Create(ctx, s, CreateRequest{Quarter: q, DueDate: due, By: Actor{ID: "t"}, Now: now}); err != nil {
		t.Fatal(err)
	}
	days := []int{7, 3, 1}
	cases := []struct {
		at       time.Time
		want     int // reminders
		daysLeft int
	}{
		{now, 1, 3},                   // 3 days before: the manager's reminder
		{now.AddDate(0, 0, 1), 0, 0},  // 2 days before: none
		{now.AddDate(0, 0, 5), 1, -2}, // overdue: every day
	}
	for _, c := range cases {
		rs, err := Reminders(ctx, s, c.at, days)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != c.want {
			t.Fatalf("%s: %d reminders, want %d: %+v", c.at.Format("Jan 2"), len(rs), c.want, rs)
		}
		if c.want == 1 {
			r := rs[0]
			// mgr's staff: four nurse accounts; the practice admin's queue
			// (fay, temp01, maria) gets none.
			if r.AssigneeID != "mgr" || r.Undecided != 4 || r.DaysLeft != c.daysLeft || !strings.Contains(r.Body(), "4 accounts") {
				t.Errorf("%s: %+v\n%s", c.at.Format("Jan 2"), r, r.Body())
			}
		}
	}
}
