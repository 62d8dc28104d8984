package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/browsertest"
	"github.com/phiwatch/phiwatch/internal/event"
	rv "github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

// reviewNow is the tests' clock: after the October period's due date
// (November 15), so the period is overdue until it is signed off.
var reviewNow = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// seedReview writes a practice's October (EHR accesses, a case about u2,
// a case about u7, after-hours alerts about u3, u4 and u7; every patient
// is MRN-1234, which the harness masks) and opens its review period.
func seedReview(t *testing.T, s store.Store, tenant string) (*store.TenantStore, map[string]rv.Item) {
	t.Helper()
	ctx := context.Background()
	oct := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	keep := oct.AddDate(7, 0, 0)
	var events []store.EventRow
	for i := range 12 {
		e := event.Event{TenantID: tenant, SourceKind: event.KindEHR, SourceSystem: "ehr", Time: oct.Add(time.Duration(i) * 13 * time.Hour),
			Actor: event.Actor{ID: fmt.Sprintf("u%d", i%4+1), Name: fmt.Sprintf("Person %d", i%4+1)}, Action: event.ActionView,
			Outcome: event.OutcomeSuccess, PatientID: "MRN-1234", Raw: fmt.Sprintf("rec-%d", i)}
		e.EventID = event.ID(tenant, "ehr", e.Raw)
		events = append(events, store.NewEventRow(&e, 0))
	}
	if err := s.InsertEvents(ctx, events, ""); err != nil {
		t.Fatal(err)
	}
	at := func(d int) time.Time { return oct.AddDate(0, 0, d) }
	alert := func(id, rule, sev string, score float32, actor string, day int, reason string, ev int) store.AlertRow {
		return store.AlertRow{TenantID: tenant, AlertID: id, Rule: rule, Severity: sev, Score: score, ActorID: actor, ActorName: "Person " + actor[1:],
			PatientIDs: []string{"MRN-1234"}, FirstSeen: at(day), LastSeen: at(day), Reason: reason,
			Explanations:     []string{"appointments ±14 days: none", "same department: no"},
			EvidenceEventIDs: []string{events[ev].EventID}, EvidenceCount: 1, DetectedAt: at(day + 1), RetainUntil: keep}
	}
	if err := s.InsertAlerts(ctx, []store.AlertRow{
		alert("a1", "coworker_lookup", "high", 80, "u2", 3, "Person 2 opened the chart of MRN-1234, a <b>coworker</b>", 0),
		alert("a2", "no_clinical_relationship", "high", 75, "u2", 4, "no appointment, order or note for MRN-1234", 1),
		alert("a3", "self_lookup", "medium", 60, "u7", 5, "Person 7 opened their own chart", 2),
		alert("a4", "after_hours_access", "low", 40, "u3", 6, "access at 02:10", 3),
		alert("a5", "after_hours_access", "low", 35, "u4", 7, "access at 03:40", 4),
		alert("a6", "after_hours_access", "low", 30, "u7", 8, "access at 04:05", 5),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertCases(ctx, []store.CaseRow{
		{TenantID: tenant, CaseID: "c-u2", ActorID: "u2", ActorName: "Person 2", Status: "open", AlertIDs: []string{"a1", "a2"},
			Rules: []string{"coworker_lookup", "no_clinical_relationship"}, FirstSeen: at(3), LastSeen: at(4), AlertCount: 2, RiskScore: 88,
			MaxSeverity: "high", Summary: "Person 2 opened a <i>coworker's</i> chart", UpdatedAt: at(5), RetainUntil: keep},
		{TenantID: tenant, CaseID: "c-u7", ActorID: "u7", ActorName: "Person 7", Status: "open", AlertIDs: []string{"a3"},
			Rules: []string{"self_lookup"}, FirstSeen: at(5), LastSeen: at(5), AlertCount: 1, RiskScore: 60,
			MaxSeverity: "medium", Summary: "Person 7 opened their own chart", UpdatedAt: at(6), RetainUntil: keep},
	}); err != nil {
		t.Fatal(err)
	}
	var roster []store.WorkforceRow
	for i := 1; i <= 8; i++ {
		roster = append(roster, store.WorkforceRow{TenantID: tenant, UserID: fmt.Sprintf("u%d", i), Name: fmt.Sprintf("Person %d", i),
			Role: "nurse", ManagerID: "u6", Email: fmt.Sprintf("u%d@clinic.example", i), ImportedAt: oct, ImportedBy: "test", Source: "test", RetainUntil: keep})
	}
	if err := s.InsertWorkforce(ctx, roster); err != nil {
		t.Fatal(err)
	}
	ts, err := store.ForTenant(s, tenant)
	if err != nil {
		t.Fatal(err)
	}
	svc := rv.NewService(rv.Config{SampleSize: 3}, nil, func() time.Time { return reviewNow })
	if _, err := svc.EnsurePeriod(ctx, ts, rv.Month{Year: 2026, Month: time.October}, "test"); err != nil {
		t.Fatal(err)
	}
	return ts, reviewItems(t, ts)
}

// reviewItems reads the October items by reference (case, alert or event
// id).
func reviewItems(t *testing.T, ts *store.TenantStore) map[string]rv.Item {
	t.Helper()
	items, err := rv.NewService(rv.Config{}, nil, nil).Items(context.Background(), ts, "2026-10", rv.ItemFilter{})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]rv.Item{}
	for _, it := range items {
		by[it.RefID] = it
	}
	return by
}

// post sends a form as who and returns the status, the redirect target
// and the body.
func post(t *testing.T, h http.Handler, who, path string, form url.Values) (int, string, string) {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Who", who)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Header().Get("Location"), w.Body.String()
}

// mustPost posts a form that must redirect back to the worklist, and
// returns the flash message it carries.
func mustPost(t *testing.T, h http.Handler, who, path string, form url.Values) string {
	t.Helper()
	code, loc, body := post(t, h, who, path, form)
	if code != http.StatusSeeOther {
		t.Fatalf("POST %s as %s: %d, want 303\n%s", path, who, code, body)
	}
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(u.Path, "/ui/t/") || !strings.Contains(u.Path, "/reviews/2026-10") {
		t.Fatalf("POST %s redirects to %q", path, loc)
	}
	return u.Query().Get("done")
}

func wantStatus(t *testing.T, h http.Handler, who, path string, form url.Values, want int, text string) {
	t.Helper()
	code, _, body := post(t, h, who, path, form)
	if code != want || !strings.Contains(body, text) {
		t.Fatalf("POST %s as %s: %d, want %d with %q\n%s", path, who, code, want, text, body)
	}
}

// section is the HTML of the worklist entry of an item.
func section(t *testing.T, page, itemID string) string {
	t.Helper()
	i := strings.Index(page, `id="item-`+itemID+`"`)
	if i < 0 {
		t.Fatalf("the page has no item %s", itemID)
	}
	rest := page[i:]
	if j := strings.Index(rest, "</li>\n\n<li"); j > 0 {
		return rest[:j]
	}
	if j := strings.Index(rest, "</ol>"); j > 0 {
		return rest[:j]
	}
	return rest
}

func TestReviewPages(t *testing.T) {
	s := shared.Store(t)
	ctx := context.Background()
	tenant := "clinic-review-ui"
	ts, items := seedReview(t, s, tenant)
	if len(items) != 8 {
		t.Fatalf("worklist of %d items, want 2 cases, 3 alerts outside them, 3 samples", len(items))
	}
	people := map[string]*authz.Principal{
		"officer": {Subject: "po", Name: "Pat Officer", Email: "po@clinic.example", Role: authz.PrivacyOfficer, Tenants: map[string]bool{tenant: true},
			WorkforceIDs: map[string]string{tenant: "u8"}},
		"bob": {Subject: "bob", Name: "Bob Reviewer", Email: "bob@clinic.example", Role: authz.Reviewer, Tenants: map[string]bool{tenant: true},
			WorkforceIDs: map[string]string{tenant: "u7"}},
		"auditor": {Subject: "aud", Name: "Ann Auditor", Role: authz.Auditor, Tenants: map[string]bool{tenant: true}},
	}
	h := harness(t, s, reviewNow, people)
	base := "/ui/t/" + tenant + "/reviews"
	wl := base + "/2026-10"
	item := func(ref string) string { return wl + "/items/" + items[ref].ItemID }
	var samples []string
	for _, it := range items {
		if it.Kind == rv.KindSample {
			samples = append(samples, it.ItemID)
		}
	}

	// The periods page: progress, due date, overdue.
	pg := get(t, h, "bob", base, 200)
	for _, want := range []string{`href="/ui/t/` + tenant + `/reviews/2026-10"`, "0 of 8 decided", "2026-11-15", "overdue"} {
		if !strings.Contains(pg, want) {
			t.Errorf("periods page lacks %q", want)
		}
	}

	// The worklist: riskiest first, reasons and what was checked, masked
	// patients, escaped text, a link to the case, no form on bob's own case.
	pg = get(t, h, "bob", wl, 200)
	for _, want := range []string{`data-progress>0 of 8 decided`, "overdue", "/ui/t/" + tenant + "/cases/c-u2", "appointments ±14 days: none",
		"••••1234", "a &lt;b&gt;coworker&lt;/b&gt;", "&lt;i&gt;coworker&#39;s&lt;/i&gt;", `name="csrf_token" value="tok"`, `data-key="a"`,
		`data-key="i"`, `data-key="n"`, "after hours access: all 3 undecided"} {
		if !strings.Contains(pg, want) {
			t.Errorf("worklist lacks %q", want)
		}
	}
	for _, bad := range []string{"MRN-1234", "<b>coworker", "<i>coworker", "export.csv"} {
		if strings.Contains(pg, bad) {
			t.Errorf("worklist shows %q", bad)
		}
	}
	if strings.Index(pg, items["c-u2"].ItemID) > strings.Index(pg, items["a4"].ItemID) {
		t.Error("the case (risk 88) is listed after the alert (risk 40)")
	}
	own := section(t, pg, items["c-u7"].ItemID)
	if !strings.Contains(own, "about your own activity") || strings.Contains(own, "<form") || strings.Contains(own, "data-select") {
		t.Errorf("bob's own case offers a form:\n%s", own)
	}
	get(t, h, "bob", wl+"?show=bogus", 400)
	get(t, h, "bob", base+"/2026-13", 400)
	get(t, h, "bob", base+"/2025-01", 404)

	// A decision: the reason is required, bob may not decide his own case,
	// the reason is shown escaped.
	wantStatus(t, h, "bob", item("c-u2"), url.Values{"decision": {"appropriate"}, "reason": {" "}}, 400, "reason is required")
	wantStatus(t, h, "bob", item("c-u7"), url.Values{"decision": {"appropriate"}, "reason": {"fine"}}, 403, "own activity")
	wantStatus(t, h, "auditor", item("c-u2"), url.Values{"decision": {"appropriate"}, "reason": {"fine"}}, 403, "")
	done := mustPost(t, h, "bob", item("c-u2"), url.Values{"decision": {"inappropriate"}, "reason": {"<script>alert(1)</script> coworker's chart"},
		"show": {"all"}, "csrf_token": {"tok"}})
	if !strings.Contains(done, "#1 marked inappropriate") {
		t.Errorf("flash %q", done)
	}
	pg = get(t, h, "bob", wl+"?show=all&done="+url.QueryEscape(done), 200)
	if !strings.Contains(pg, `<p class="flash" role="status">Item #1 marked inappropriate`) || !strings.Contains(pg, "data-progress>1 of 8 decided") ||
		!strings.Contains(pg, "&lt;script&gt;alert(1)&lt;/script&gt; coworker&#39;s chart") || strings.Contains(pg, "<script>alert(1)") {
		t.Fatalf("after the decision:\n%s", section(t, pg, items["c-u2"].ItemID))
	}
	if it := reviewItems(t, ts)["c-u2"]; it.State != rv.StateInappropriate || it.DecidedBy != "bob" || it.IncidentID == "" {
		t.Fatalf("stored decision %+v", it)
	}
	wantStatus(t, h, "bob", item("c-u2"), url.Values{"decision": {"appropriate"}, "reason": {"again"}}, 409, "already decided")

	// Needs information, then the answer.
	mustPost(t, h, "bob", item("a4"), url.Values{"decision": {"needs_information"}, "reason": {"Why at 2am?"}, "question_to": {"manager"}})
	pg = get(t, h, "bob", wl, 200)
	if sec := section(t, pg, items["a4"].ItemID); !strings.Contains(sec, "Asked the manager: Why at 2am?") || !strings.Contains(sec, "/answer") {
		t.Fatalf("questionnaire item:\n%s", sec)
	}
	mustPost(t, h, "bob", item("a4")+"/answer", url.Values{"answer": {"Night shift"}, "answered_by": {"u6"}})
	if it := reviewItems(t, ts)["a4"]; it.State != rv.StateAnswered || it.Answer != "Night shift" {
		t.Fatalf("answered item %+v", it)
	}

	// Bulk by rule: bob's own after-hours access is left out.
	done = mustPost(t, h, "bob", wl+"/bulk", url.Values{"bulk_rule": {"after_hours_access"}, "decision": {"appropriate"}, "reason": {"night shift roster"}})
	if !strings.Contains(done, "2 item(s) marked appropriate") || !strings.Contains(done, "1 item(s) about your own activity") {
		t.Errorf("bulk flash %q", done)
	}
	now := reviewItems(t, ts)
	if now["a4"].State != rv.StateAppropriate || now["a5"].State != rv.StateAppropriate || now["a6"].Decided() {
		t.Fatalf("after the bulk decision: a4 %s, a5 %s, a6 %s", now["a4"].State, now["a5"].State, now["a6"].State)
	}
	wantStatus(t, h, "bob", wl+"/bulk", url.Values{"decision": {"appropriate"}, "reason": {"x"}}, 400, "Tick the items")

	// Comments, assignment, auto-assignment.
	mustPost(t, h, "bob", wl+"/items/"+samples[0]+"/comments", url.Values{"body": {"checked the <schedule>"}})
	mustPost(t, h, "bob", wl+"/items/"+samples[0]+"/assignment", url.Values{"to": {"me"}})
	pg = get(t, h, "bob", wl+"?show=mine", 200)
	if sec := section(t, pg, samples[0]); !strings.Contains(sec, "checked the &lt;schedule&gt;") || !strings.Contains(sec, "assigned to bob") {
		t.Fatalf("commented and assigned sample:\n%s", sec)
	}
	if strings.Contains(pg, items["a6"].ItemID) {
		t.Error("show=mine lists an item not assigned to bob")
	}
	wantStatus(t, h, "officer", item("a6")+"/assignment", url.Values{"reviewer_id": {"bob"}, "reviewer_workforce_id": {"u7"}}, 403, "own activity")
	done = mustPost(t, h, "officer", wl+"/assignments", url.Values{"reviewers": {"po, u8, po@clinic.example\nbob, u7, bob@clinic.example\n"}})
	if !strings.Contains(done, "assigned over 2 reviewer(s)") {
		t.Errorf("auto-assign flash %q", done)
	}
	now = reviewItems(t, ts)
	if now["c-u7"].Assignee != "po" || now["a6"].Assignee != "po" {
		t.Fatalf("u7's items went to %q and %q, want po", now["c-u7"].Assignee, now["a6"].Assignee)
	}
	wantStatus(t, h, "officer", wl+"/assignments", url.Values{"reviewers": {"a, b, c, d"}}, 400, "want id, workforce id")

	// Sign-off: only the privacy officer, only when all is decided, only
	// with a statement.
	wantStatus(t, h, "bob", wl+"/signoff", url.Values{"statement": {"done"}}, 403, "")
	wantStatus(t, h, "officer", wl+"/signoff", url.Values{"statement": {"done"}}, 409, "not decided yet")
	var rest []string
	for _, it := range now {
		if !it.Decided() {
			rest = append(rest, it.ItemID)
		}
	}
	done = mustPost(t, h, "officer", wl+"/bulk", url.Values{"item_ids": rest, "decision": {"appropriate"}, "reason": {"reviewed, work related"}})
	if !strings.Contains(done, fmt.Sprintf("%d item(s) marked appropriate", len(rest))) {
		t.Errorf("bulk flash %q", done)
	}
	wantStatus(t, h, "officer", wl+"/signoff", url.Values{"statement": {"  "}}, 400, "statement")
	done = mustPost(t, h, "officer", wl+"/signoff", url.Values{"statement": {"October reviewed in full."}})
	if done != "Review 2026-10 signed off and locked." {
		t.Errorf("sign-off flash %q", done)
	}
	pg = get(t, h, "officer", wl+"?show=all", 200)
	for _, want := range []string{"data-locked", "signed off by po", "October reviewed in full.", "8 of 8 decided", "/amendment",
		"/api/v1/tenants/" + tenant + "/reviews/2026-10/export.pdf"} {
		if !strings.Contains(pg, want) {
			t.Errorf("signed-off worklist lacks %q", want)
		}
	}
	if strings.Contains(pg, "overdue") || strings.Contains(pg, "/signoff") {
		t.Error("a signed-off period is shown overdue or offers sign-off")
	}
	if pg := get(t, h, "bob", base, 200); !strings.Contains(pg, "signed off by po") {
		t.Error("the periods page does not show the sign-off")
	}

	// Locked: changes answer 409; an amendment needs the sign-off role and
	// a reason, and is recorded beside the original.
	wantStatus(t, h, "officer", item("a5"), url.Values{"decision": {"inappropriate"}, "reason": {"second look"}}, 409, "signed off and locked")
	wantStatus(t, h, "officer", wl+"/bulk", url.Values{"item_ids": {items["a5"].ItemID}, "decision": {"inappropriate"}, "reason": {"x"}}, 409, "locked")
	wantStatus(t, h, "officer", item("a5")+"/comments", url.Values{"body": {"late note"}}, 409, "locked")
	wantStatus(t, h, "bob", item("a5")+"/amendment", url.Values{"decision": {"inappropriate"}, "reason": {"x"}}, 403, "")
	wantStatus(t, h, "officer", item("a5")+"/amendment", url.Values{"decision": {"inappropriate"}, "reason": {""}}, 400, "reason")
	done = mustPost(t, h, "officer", item("a5")+"/amendment", url.Values{"decision": {"inappropriate"}, "reason": {"u4 had no shift that night"}})
	if !strings.Contains(done, "Amendment recorded") {
		t.Errorf("amendment flash %q", done)
	}
	hist, err := rv.NewService(rv.Config{}, nil, nil).ItemHistory(ctx, ts, "2026-10", items["a5"].ItemID)
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if last.Action != "amended_decided" || !last.Amendment || last.State != rv.StateInappropriate || last.Reason != "u4 had no shift that night" ||
		hist[len(hist)-2].State != rv.StateAppropriate {
		t.Fatalf("history of the amended item: %+v", hist)
	}
	pg = get(t, h, "officer", wl+"?show=all", 200)
	if sec := section(t, pg, items["a5"].ItemID); !strings.Contains(sec, "amended") || !strings.Contains(sec, "u4 had no shift that night") {
		t.Errorf("amended item:\n%s", sec)
	}
	if !strings.Contains(pg, "amended by po: decision inappropriate on 1 item(s): u4 had no shift that night") {
		t.Error("the period's history lacks the amendment")
	}

	// The auditor reads, exports, and gets no forms.
	pg = get(t, h, "auditor", wl+"?show=all", 200)
	if strings.Contains(pg, `/items/`+items["a5"].ItemID+`"`) || strings.Contains(pg, "/bulk") || !strings.Contains(pg, "export.csv") {
		t.Error("the auditor's worklist offers forms or lacks the exports")
	}
}

// TestBrowserReview works a reviewer's worklist in headless Chromium with
// the keyboard (j selects the second item, type the reason, a decides),
// then the privacy officer signs the period off.
func TestBrowserReview(t *testing.T) {
	bctx := browsertest.New(t, 90*time.Second)
	s := shared.Store(t)
	ctx := context.Background()
	tenant := "clinic-review-browser"
	ts, items := seedReview(t, s, tenant)
	people := map[string]*authz.Principal{
		"officer": {Subject: "po", Name: "Pat Officer", Role: authz.PrivacyOfficer, Tenants: map[string]bool{tenant: true},
			WorkforceIDs: map[string]string{tenant: "u8"}},
		"bob": {Subject: "bob", Name: "Bob Reviewer", Role: authz.Reviewer, Tenants: map[string]bool{tenant: true},
			WorkforceIDs: map[string]string{tenant: "u5"}},
	}
	h := harness(t, s, reviewNow, people)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ck, err := r.Cookie("who"); err == nil {
			r.Header.Set("X-Who", ck.Value)
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	as := func(who string) {
		t.Helper()
		if _, err := chromedp.Call(bctx, network.SetCookie, network.SetCookieParams{Name: "who", Value: who, URL: srv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	page := srv.URL + "/ui/t/" + tenant + "/reviews/2026-10"
	second := items["c-u7"] // rank 2

	as("bob")
	if err := chromedp.Do(bctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS("li.item.selected")),
		chromedp.KeyEvent("j"),
		chromedp.WaitVisible(chromedp.CSS("li.item.selected#item-"+second.ItemID)),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(bctx, t, "worklist")
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS("li.item.selected [data-reason]"), "Reviewed the chart with the patient's consent"),
		chromedp.KeyEvent(kb.Escape),
		chromedp.KeyEvent("a"),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(bctx, t, "decided")
	flash, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("p.flash")))
	if err != nil || flash != "Item #2 marked appropriate." {
		t.Fatalf("flash after the decision: %q %v", flash, err)
	}
	progress, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("[data-progress]")))
	if err != nil || progress != "1 of 8 decided" {
		t.Fatalf("progress after the decision: %q %v", progress, err)
	}
	it := reviewItems(t, ts)["c-u7"]
	if it.State != rv.StateAppropriate || it.DecisionReason != "Reviewed the chart with the patient's consent" || it.DecidedBy != "bob" {
		t.Fatalf("stored decision %+v", it)
	}

	// The rest of the month is decided outside the browser; the privacy
	// officer signs off in it.
	svc := rv.NewService(rv.Config{}, nil, func() time.Time { return reviewNow })
	var rest []string
	for _, it := range items {
		if it.ItemID != second.ItemID {
			rest = append(rest, it.ItemID)
		}
	}
	if _, _, err := svc.BulkDecide(ctx, ts, "2026-10", rest, "", rv.Decision{Decision: rv.DecideAppropriate, Reason: "work related"},
		rv.Change{By: rv.Reviewer{ID: "po", WorkforceID: "u8"}}); err != nil {
		t.Fatal(err)
	}
	as("officer")
	if err := chromedp.Do(bctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS("button[data-signoff]")),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(bctx, t, "before-signoff")
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("button[data-signoff]")),
		chromedp.WaitVisible(chromedp.CSS("[data-locked]")),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(bctx, t, "signed-off")
	state, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("[data-state]")))
	if err != nil || !strings.HasPrefix(state, "signed off by po") {
		t.Fatalf("state after sign-off: %q %v", state, err)
	}
	p, err := svc.Period(ctx, ts, "2026-10")
	if err != nil || !p.Locked() || p.SignedOffBy != "po" || !strings.Contains(p.SignOffNote, "I have reviewed") {
		t.Fatalf("stored period %+v %v", p, err)
	}
}

func TestParseReviewers(t *testing.T) {
	tests := []struct {
		in      string
		want    []rv.Reviewer
		wantErr bool
	}{
		{in: "po, u8, po@clinic.example\r\n\n bob ,u7,\n", want: []rv.Reviewer{{ID: "po", WorkforceID: "u8", Email: "po@clinic.example"}, {ID: "bob", WorkforceID: "u7"}}},
		{in: "carol", want: []rv.Reviewer{{ID: "carol"}}},
		{in: "  \n ", want: nil},
		{in: "a, b, c, d", wantErr: true},
		{in: strings.Repeat("x\n", 101), wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseReviewers(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseReviewers(%q): error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("parseReviewers(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// Without the server's mask, patient ids still show only their last four
// characters.
func TestPatientMaskFallback(t *testing.T) {
	u := &UI{}
	for in, want := range map[string]string{"MRN-123456": "••••3456", "1234": "••••", "": "••••"} {
		if got := u.patient(nil, in, nil); got != want {
			t.Errorf("patient(%q) = %q, want %q", in, got, want)
		}
	}
}
