package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/browsertest"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/recert"
	"github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

// TestBrowserSignInRecertifyReview drives the reviewer UI in headless
// Chromium through the real server and a real single sign-on: a manager
// signs in at the (local) identity provider, certifies one of their
// staff's accounts with the keyboard and revokes another; signs out; the
// privacy officer signs in, decides the last item, signs the campaign off,
// and marks a log-review item appropriate. Screenshots are saved at each
// step (browsertest.ArtifactsDir).
func TestBrowserSignInRecertifyReview(t *testing.T) {
	bctx := browsertest.New(t, 120*time.Second)
	env := newOIDCEnv(t)
	ctx := context.Background()
	const tenant = "ui-e2e"
	now := env.clock.Now()
	keep := now.AddDate(7, 0, 0)
	imported := now.Add(-time.Hour)
	s := env.s
	if err := s.InsertWorkforce(ctx, []store.WorkforceRow{
		{TenantID: tenant, UserID: "boss", Name: "Bo Boss", Role: "practice_manager", ImportedAt: imported, RetainUntil: keep},
		{TenantID: tenant, UserID: "ann", Name: "Ann Nurse", Role: "nurse", ManagerID: "boss", ImportedAt: imported, RetainUntil: keep},
		{TenantID: tenant, UserID: "bob", Name: "Bob Nurse", Role: "nurse", ManagerID: "boss", ImportedAt: imported, RetainUntil: keep},
	}); err != nil {
		t.Fatal(err)
	}
	var accts []store.AccountRow
	for _, id := range []string{"ann", "bob", "boss"} {
		accts = append(accts, store.AccountRow{TenantID: tenant, System: "ehr", AccountID: id, DisplayName: id + " (EHR)", Enabled: true,
			Roles: []string{"Clinical"}, Groups: []string{}, OwnerUserID: id, ImportedAt: imported, RetainUntil: keep, Source: "test"})
	}
	if err := s.InsertAccounts(ctx, accts); err != nil {
		t.Fatal(err)
	}
	ts, _ := store.ForTenant(s, tenant)
	q := recert.Quarter{Year: now.Year(), Q: (int(now.Month())-1)/3 + 1}
	camp, _, err := recert.Create(ctx, ts, recert.CreateRequest{Quarter: q, Systems: []string{"ehr"}, Now: now, By: recert.Actor{ID: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	// Last month's log review: one flagged access and a few unflagged ones.
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	var evs []store.EventRow
	for i := range 4 {
		e := event.Event{TenantID: tenant, SourceKind: event.KindEHR, SourceSystem: "ehr", Time: month.Add(time.Duration(i+1) * 30 * time.Hour),
			Actor: event.Actor{ID: "ann"}, Action: event.ActionView, Outcome: event.OutcomeSuccess, PatientID: fmt.Sprintf("P%d", i), Raw: fmt.Sprintf("e2e-%d", i)}
		e.EventID = event.ID(tenant, "ehr", e.Raw)
		evs = append(evs, store.NewEventRow(&e, 0))
	}
	if err := s.InsertEvents(ctx, evs, ""); err != nil {
		t.Fatal(err)
	}
	at := month.AddDate(0, 0, 2)
	if err := s.InsertAlerts(ctx, []store.AlertRow{{TenantID: tenant, AlertID: "e2e-a1", Rule: "after_hours_access", Severity: "medium", Score: 50,
		ActorID: "ann", ActorName: "Ann Nurse", PatientIDs: []string{"P0"}, FirstSeen: at, LastSeen: at, Reason: "Ann Nurse opened 1 chart at 02:10",
		Explanations: []string{"appointments ±14 days: none"}, EvidenceEventIDs: []string{evs[0].EventID}, EvidenceCount: 1, DetectedAt: at, RetainUntil: keep}}); err != nil {
		t.Fatal(err)
	}
	svc := review.NewService(review.Config{SampleSize: 2}, nil, env.clock.Now)
	period, err := svc.EnsurePeriod(ctx, ts, review.Month{Year: month.Year(), Month: month.Month()}, "test")
	if err != nil {
		t.Fatal(err)
	}
	msp := &authz.Principal{Subject: "cli:test", Role: authz.MSPAdmin, AllTenants: true}
	for _, g := range []GrantRequest{
		{Principal: "sub:boss-sub", Role: authz.Manager, Scope: Scope{Tenants: []string{tenant}}, WorkforceIDs: map[string]string{tenant: "boss"}, Reason: "manager"},
		{Principal: "sub:po-sub", Role: authz.PrivacyOfficer, Scope: Scope{Tenants: []string{tenant}}, Reason: "privacy officer"},
	} {
		if _, err := env.access.PutGrant(ctx, msp, g); err != nil {
			t.Fatal(err)
		}
	}
	signInAs := func(sub, name string) {
		env.iss.mu.Lock()
		env.iss.User = map[string]any{"sub": sub, "name": name, "email": sub + "@clinic.example", "email_verified": true}
		env.iss.mu.Unlock()
	}
	// Each step gets 20 s, so a page that never shows what a step waits
	// for fails with its text instead of eating the whole budget.
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			page, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
			url, _ := chromedp.Run(bctx, chromedp.Location())
			browsertest.Screenshot(bctx, t, "failed-"+strings.ReplaceAll(step, " ", "-"))
			t.Fatalf("%s: %v\nat %s:\n%s\nserver log:\n%s", step, err, url, page, env.logBuf.String())
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return v
	}
	campaignPage := env.srv.URL + "/ui/t/" + tenant + "/recert/" + camp.CampaignID

	// 1. The manager opens the campaign: no session, so the identity
	// provider signs them in and the page follows.
	signInAs("boss-sub", "Bo Boss")
	run("manager signs in", chromedp.Navigate(campaignPage), chromedp.WaitVisible(chromedp.CSS("li.item.selected")))
	browsertest.Screenshot(bctx, t, "manager-worklist")
	if who := text("header .who"); !strings.Contains(who, "Bo Boss") {
		t.Fatalf("signed in as %q", who)
	}
	run("certify with the keyboard",
		chromedp.SendKeys(chromedp.CSS("li.item.selected [data-reason]"), "still treats patients"),
		chromedp.KeyEvent(kb.Escape), chromedp.KeyEvent("c"),
		chromedp.WaitVisible(chromedp.CSS("p.flash")))
	run("revoke with a click",
		chromedp.SendKeys(chromedp.CSS("li.item [data-reason]"), "moved to another practice"),
		chromedp.Click(chromedp.CSS(`li.item button[value="revoke"]`)),
		chromedp.WaitVisible(chromedp.CSS("p.flash")))
	browsertest.Screenshot(bctx, t, "manager-decided")
	if p := text("[data-progress]"); p != "2 of 3 decided" {
		t.Fatalf("progress after the manager: %q", p)
	}

	// 2. The manager signs out; the privacy officer signs in, decides the
	// manager's own account and signs the campaign off.
	signInAs("po-sub", "Pat Officer")
	run("sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS("[data-signed-out]")))
	run("sign in again", chromedp.Click(chromedp.CSS(`a[href="/ui/"]`)), chromedp.WaitVisible(chromedp.CSS("[data-fleet]")))
	browsertest.Screenshot(bctx, t, "officer-practices")
	run("officer signs in", chromedp.Navigate(campaignPage), chromedp.WaitVisible(chromedp.CSS("li.item.selected")))
	if who := text("header .who"); !strings.Contains(who, "Pat Officer") {
		t.Fatalf("signed in as %q after the switch", who)
	}
	run("officer certifies",
		chromedp.SendKeys(chromedp.CSS("li.item.selected [data-reason]"), "practice manager"),
		chromedp.KeyEvent(kb.Escape), chromedp.KeyEvent("c"),
		chromedp.WaitVisible(chromedp.CSS("[data-signoff]")))
	run("sign off",
		chromedp.SendKeys(chromedp.CSS("[data-statement]"), "Q access reviewed with the managers"),
		chromedp.Click(chromedp.CSS("[data-signoff] button")),
		chromedp.WaitVisible(chromedp.CSS("p.notice")))
	browsertest.Screenshot(bctx, t, "campaign-signed-off")
	c, err := recert.Get(ctx, ts, camp.CampaignID)
	if err != nil || c.Status != recert.StatusSignedOff {
		t.Fatalf("campaign after sign-off: %+v %v", c, err)
	}
	items, err := recert.Items(ctx, ts, camp.CampaignID, recert.ItemFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range items {
		got[it.AccountID] = it.Decision + " by " + it.DecisionBy
	}
	want := map[string]string{"ann": "certify by Bo Boss", "bob": "revoke by Bo Boss", "boss": "certify by Pat Officer"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}

	// 3. The officer works last month's log review: the flagged access
	// first, marked appropriate with the keyboard.
	run("review worklist", chromedp.Navigate(env.srv.URL+"/ui/t/"+tenant+"/reviews/"+period.Period), chromedp.WaitVisible(chromedp.CSS("li.item.selected")))
	browsertest.Screenshot(bctx, t, "review-worklist")
	run("mark appropriate",
		chromedp.SendKeys(chromedp.CSS("li.item.selected [data-reason]"), "on call that night"),
		chromedp.KeyEvent(kb.Escape), chromedp.KeyEvent("a"),
		chromedp.WaitVisible(chromedp.CSS("p.flash")))
	browsertest.Screenshot(bctx, t, "review-decided")
	ritems, err := svc.Items(ctx, ts, period.Period, review.ItemFilter{})
	if err != nil {
		t.Fatal(err)
	}
	decided := 0
	for _, it := range ritems {
		if it.Decision == "appropriate" && it.DecisionReason == "on call that night" {
			decided++
		}
	}
	if decided != 1 {
		t.Fatalf("review items after the decision: %+v", ritems)
	}
	// The sign-ins and every page and decision above are in the self-audit
	// trail (per-request rows are batched: give the batcher its second).
	var rows []struct {
		Action string `json:"action"`
		Route  string `json:"route"`
		N      uint64 `json:"n"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows = rows[:0]
		if err := s.Select(ctx, &rows, "SELECT action, route, count() AS n FROM "+s.Database()+".audit_log"+
			" WHERE subject LIKE '%|boss-sub' OR subject LIKE '%|po-sub' GROUP BY action, route ORDER BY action, route", nil); err != nil {
			t.Fatal(err)
		}
		seen := map[string]uint64{}
		for _, r := range rows {
			seen[r.Action+" "+r.Route] += r.N
			seen[r.Action] += r.N
		}
		if seen["login"] >= 2 && seen["logout"] >= 1 && seen["request /ui/t/:tenant/recert/:campaign/items/:item"] >= 3 && seen["request /ui/t/:tenant/recert/:campaign/signoff"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit trail lacks the sign-ins, the sign-out or the decisions: %+v", rows)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
