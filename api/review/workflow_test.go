package review_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/review"
	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/evidence/pdftext"
	rv "github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/review/smtptest"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/storetest"
)

var shared = storetest.New("reviewapi")

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

// clock is a test clock that moves on a second per reading, so versions
// are ordered as they would be in real use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// harness serves the review routes the way api.New does: the caller named
// by X-Test-Principal, a 404 for tenants they may not see, 403 for a
// permission their role lacks, and a store narrowed to the tenant.
func harness(t *testing.T, s store.Store, routes []route.Route, principals map[string]*authz.Principal) http.Handler {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	g := r.Group("/api/v1/tenants/:tenant")
	for _, rt := range routes {
		perm := rt.Perm
		g.Handle(rt.Method, rt.Path, func(c *gin.Context) {
			p := principals[c.GetHeader("X-Test-Principal")]
			tenant := c.Param("tenant")
			if p == nil || !p.CanSee(tenant) {
				route.Problem(c, 404, "no such tenant")
				return
			}
			if !p.Role.Can(perm) {
				route.Problem(c, 403, "forbidden")
				return
			}
			ts, err := store.ForTenant(s, tenant)
			if err != nil {
				t.Error(err)
			}
			route.SetPrincipal(c, p)
			route.SetStore(c, ts)
			c.Next()
		}, rt.Handle)
	}
	return r
}

type client struct {
	t      *testing.T
	h      http.Handler
	prefix string
}

func (c client) do(who, method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, c.prefix+path, rd)
	req.Header.Set("X-Test-Principal", who)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// ok runs a request that must answer want, decoding the body into out.
func (c client) ok(who, method, path string, body any, want int, out any) []byte {
	c.t.Helper()
	code, b := c.do(who, method, path, body)
	if code != want {
		c.t.Fatalf("%s %s %s: status %d, want %d: %s", who, method, path, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return b
}

const tenant = "clinic-review"

// seed writes a practice's October: 60 EHR accesses by u1–u5, a case of
// two alerts about u2, a case about u7 (who is also the reviewer bob), and
// two after-hours alerts outside any case (u3, u4).
func seed(t *testing.T, s store.Store, tenant string) (unflagged []string) {
	t.Helper()
	ctx := context.Background()
	oct := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	keep := oct.AddDate(7, 0, 0)
	var events []store.EventRow
	for i := range 60 {
		e := event.Event{TenantID: tenant, SourceKind: event.KindEHR, SourceSystem: "ehr", Time: oct.Add(time.Duration(i) * 11 * time.Hour),
			Actor: event.Actor{ID: fmt.Sprintf("u%d", i%5+1), Name: fmt.Sprintf("User %d", i%5+1)}, Action: event.ActionView,
			Outcome: event.OutcomeSuccess, PatientID: fmt.Sprintf("P%03d", i%17), Raw: fmt.Sprintf("rec-%d", i)}
		e.EventID = event.ID(tenant, "ehr", e.Raw)
		events = append(events, store.NewEventRow(&e, 0))
	}
	// A November access and a VPN event: never sampled for October.
	nov := event.Event{TenantID: tenant, SourceKind: event.KindEHR, SourceSystem: "ehr", Time: oct.AddDate(0, 1, 2), Actor: event.Actor{ID: "u1"},
		Action: event.ActionView, Outcome: event.OutcomeSuccess, PatientID: "P001", Raw: "nov"}
	nov.EventID = event.ID(tenant, "ehr", nov.Raw)
	events = append(events, store.NewEventRow(&nov, 0))
	if err := s.InsertEvents(ctx, events, ""); err != nil {
		t.Fatal(err)
	}
	flagged := map[string]bool{events[0].EventID: true, events[1].EventID: true, events[2].EventID: true}
	for _, e := range events[:60] {
		if !flagged[e.EventID] {
			unflagged = append(unflagged, e.EventID)
		}
	}
	at := func(d int) time.Time { return oct.AddDate(0, 0, d) }
	alert := func(id, rule, sev string, score float32, actor string, day int, ev string) store.AlertRow {
		return store.AlertRow{TenantID: tenant, AlertID: id, Rule: rule, Severity: sev, Score: score, ActorID: actor, ActorName: "Name " + actor,
			PatientIDs: []string{"MRN-0000" + id[len(id)-1:]}, FirstSeen: at(day), LastSeen: at(day), Reason: rule + " by " + actor,
			EvidenceEventIDs: []string{ev}, EvidenceCount: 1, DetectedAt: at(day + 1), RetainUntil: keep}
	}
	alerts := []store.AlertRow{
		alert("a1", "no_clinical_relationship", "high", 80, "u2", 3, events[0].EventID),
		alert("a2", "coworker_lookup", "high", 75, "u2", 4, events[1].EventID),
		alert("a3", "self_lookup", "medium", 60, "u7", 5, events[2].EventID),
		alert("a4", "after_hours_access", "low", 40, "u3", 6, events[0].EventID),
		alert("a5", "after_hours_access", "low", 35, "u4", 7, events[1].EventID),
	}
	if err := s.InsertAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	cases := []store.CaseRow{
		{TenantID: tenant, CaseID: "c-u2", ActorID: "u2", ActorName: "Name u2", Status: "open", AlertIDs: []string{"a1", "a2"},
			Rules: []string{"no_clinical_relationship", "coworker_lookup"}, FirstSeen: at(3), LastSeen: at(4), AlertCount: 2, RiskScore: 88,
			MaxSeverity: "high", Summary: "u2 opened a coworker's chart without a clinical relationship", UpdatedAt: at(5), RetainUntil: keep},
		{TenantID: tenant, CaseID: "c-u7", ActorID: "u7", ActorName: "Name u7", Status: "open", AlertIDs: []string{"a3"},
			Rules: []string{"self_lookup"}, FirstSeen: at(5), LastSeen: at(5), AlertCount: 1, RiskScore: 60,
			MaxSeverity: "medium", Summary: "u7 opened their own chart", UpdatedAt: at(6), RetainUntil: keep},
	}
	if err := s.InsertCases(ctx, cases); err != nil {
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
	return unflagged
}

type itemList struct {
	Items []rv.Item `json:"items"`
}

func TestMonthlyReviewWorkflow(t *testing.T) {
	s := shared.Store(t)
	ctx := context.Background()
	unflagged := seed(t, s, tenant)
	clk := &clock{t: time.Date(2026, 11, 1, 0, 30, 0, 0, time.UTC)}
	svc := rv.NewService(rv.Config{SampleSize: 5, DueDay: 15}, nil, clk.now)
	principals := map[string]*authz.Principal{
		"alice":   {Subject: "alice", Email: "alice@msp.example", Role: authz.PrivacyOfficer, Tenants: map[string]bool{tenant: true}, WorkforceIDs: map[string]string{tenant: "u8"}},
		"bob":     {Subject: "bob", Email: "bob@msp.example", Role: authz.Reviewer, Tenants: map[string]bool{tenant: true}, WorkforceIDs: map[string]string{tenant: "u7"}},
		"auditor": {Subject: "auditor", Role: authz.Auditor, Tenants: map[string]bool{tenant: true}},
		"other":   {Subject: "other", Role: authz.PrivacyOfficer, Tenants: map[string]bool{"clinic-elsewhere": true}},
	}
	c := client{t: t, h: harness(t, s, review.Routes(review.Deps{Service: svc, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}), principals),
		prefix: "/api/v1/tenants/" + tenant}

	// The job opens last month's period, once.
	job := &rv.Job{Store: s, Service: svc, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := job.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	ts, _ := store.ForTenant(s, tenant)
	again, err := svc.EnsurePeriod(ctx, ts, rv.Month{Year: 2026, Month: time.October}, "cli")
	if err != nil {
		t.Fatal(err)
	}
	var periods struct {
		Items []rv.Period `json:"items"`
	}
	c.ok("auditor", "GET", "/reviews", nil, 200, &periods)
	if len(periods.Items) != 1 || periods.Items[0].Period != "2026-10" || periods.Items[0].State != rv.PeriodOpen ||
		periods.Items[0].DueDate != "2026-11-15" || periods.Items[0].Seed != again.Seed {
		t.Fatalf("periods %+v (EnsurePeriod again: %+v)", periods.Items, again)
	}
	seedValue := again.Seed
	if code, _ := c.do("other", "GET", "/reviews", nil); code != 404 {
		t.Fatalf("another tenant's principal got %d, want 404", code)
	}

	// The worklist: 2 cases, 2 alerts outside them, 5 sampled accesses,
	// riskiest first; the sample is the one DrawSample re-draws.
	var wl itemList
	c.ok("bob", "GET", "/reviews/2026-10/items?limit=100", nil, 200, &wl)
	kinds := map[string]int{}
	var sampled []string
	for i, it := range wl.Items {
		kinds[it.Kind]++
		if it.Rank != uint32(i+1) {
			t.Fatalf("item %d has rank %d", i, it.Rank)
		}
		if it.Kind == rv.KindSample {
			sampled = append(sampled, it.RefID)
		}
	}
	if kinds[rv.KindCase] != 2 || kinds[rv.KindAlert] != 2 || kinds[rv.KindSample] != 5 || wl.Items[0].RefID != "c-u2" || wl.Items[1].RefID != "c-u7" {
		t.Fatalf("worklist kinds %v, first %s, %s", kinds, wl.Items[0].RefID, wl.Items[1].RefID)
	}
	if want := rv.DrawSample(seedValue, unflagged, 5); !slices.Equal(sampled, want) {
		t.Fatalf("the stored sample %v is not what the seed re-draws: %v", sampled, want)
	}
	if p := wl.Items[0].PatientIDs; len(p) != 2 || !strings.HasPrefix(p[0], "••••000") || strings.Contains(p[0], "MRN") {
		t.Fatalf("case patients %v, want those of both alerts, masked", p)
	}
	byRef := map[string]rv.Item{}
	for _, it := range wl.Items {
		byRef[it.RefID] = it
	}
	itemPath := func(ref string) string { return "/reviews/2026-10/items/" + byRef[ref].ItemID }

	// Auto-assignment: balanced, and bob (u7) never gets the case about u7.
	var assigned rv.AutoAssignResult
	c.ok("alice", "POST", "/reviews/2026-10/assignments", map[string]any{"reviewers": []rv.Reviewer{
		{ID: "alice", WorkforceID: "u8", Email: "alice@msp.example"}, {ID: "bob", WorkforceID: "u7", Email: "bob@msp.example"}}}, 200, &assigned)
	if assigned.Assigned["alice"]+assigned.Assigned["bob"] != 9 || abs(assigned.Assigned["alice"]-assigned.Assigned["bob"]) > 1 {
		t.Fatalf("assignment %+v, want 9 split 5/4", assigned)
	}
	var it rv.Item
	c.ok("bob", "GET", itemPath("c-u7"), nil, 200, &struct {
		Item *rv.Item `json:"item"`
	}{&it})
	if it.Assignee != "alice" || it.State != rv.StateAssigned {
		t.Fatalf("the case about u7 went to %q (%s)", it.Assignee, it.State)
	}
	if code, b := c.do("alice", "POST", itemPath("c-u2")+"/assignment", map[string]any{"reviewer": rv.Reviewer{ID: "carol", WorkforceID: "u2"}}); code != 403 {
		t.Fatalf("assigning u2's case to u2: %d %s", code, b)
	}

	// Decisions.
	if code, b := c.do("bob", "POST", itemPath("c-u7")+"/decision", rv.Decision{Decision: "appropriate", Reason: "my own chart"}); code != 403 ||
		!strings.Contains(string(b), "own activity") {
		t.Fatalf("bob deciding his own case: %d %s", code, b)
	}
	if code, _ := c.do("alice", "POST", itemPath("c-u2")+"/decision", rv.Decision{Decision: "appropriate"}); code != 400 {
		t.Fatalf("a decision without a reason: %d", code)
	}
	if code, _ := c.do("auditor", "POST", itemPath("c-u2")+"/decision", rv.Decision{Decision: "appropriate", Reason: "x"}); code != 403 {
		t.Fatalf("an auditor deciding: %d", code)
	}
	c.ok("alice", "POST", itemPath("c-u2")+"/decision", rv.Decision{Decision: "inappropriate", Reason: "no treatment relationship; coworker's chart"}, 200, &it)
	if it.State != rv.StateInappropriate || it.IncidentID == "" {
		t.Fatalf("inappropriate decision %+v: want an incident id", it)
	}
	reqs, err := rv.IncidentRequests(ctx, ts, "2026-10")
	if err != nil || len(reqs) != 1 || reqs[0].ItemID != it.ItemID || reqs[0].RequestID != it.IncidentID || reqs[0].ActorID != "u2" {
		t.Fatalf("incident requests %+v %v", reqs, err)
	}
	c.ok("alice", "POST", itemPath("c-u2")+"/comments", map[string]string{"body": "HR informed"}, 201, nil)
	if code, _ := c.do("alice", "POST", itemPath("c-u2")+"/decision", rv.Decision{Decision: "appropriate", Reason: "changed my mind"}); code != 409 {
		t.Fatalf("re-deciding a decided item: %d, want 409", code)
	}

	// needs_information → questionnaire to the manager → answer → decision.
	c.ok("bob", "POST", itemPath("a4")+"/decision", rv.Decision{Decision: "needs_information", Question: "Why was this chart opened at 2am?", QuestionTo: "manager"}, 200, &it)
	if it.State != rv.StateNeedsInfo {
		t.Fatalf("state %s", it.State)
	}
	c.ok("bob", "POST", itemPath("a4")+"/answer", map[string]string{"answer": "Night shift covering the ward.", "answered_by": "u6 (manager)"}, 200, &it)
	if it.State != rv.StateAnswered || it.Answer != "Night shift covering the ward." {
		t.Fatalf("answered item %+v", it)
	}
	c.ok("bob", "POST", itemPath("a4")+"/decision", rv.Decision{Decision: "appropriate", Reason: "night shift, confirmed by manager"}, 200, &it)

	// Sign-off is refused while items are open.
	if code, b := c.do("alice", "POST", "/reviews/2026-10/sign-off", map[string]string{"note": "early"}); code != 409 || !strings.Contains(string(b), "not decided") {
		t.Fatalf("early sign-off: %d %s", code, b)
	}

	// Bulk: the samples in one go; then the rest.
	var sampleIDs []string
	for _, ref := range sampled {
		sampleIDs = append(sampleIDs, byRef[ref].ItemID)
	}
	var bulk struct {
		Decided int      `json:"decided"`
		Skipped []string `json:"skipped_own_activity"`
	}
	c.ok("alice", "POST", "/reviews/2026-10/decisions", map[string]any{"item_ids": sampleIDs, "decision": "appropriate",
		"reason": "scheduled care; sample checked against the schedule"}, 200, &bulk)
	if bulk.Decided != 5 {
		t.Fatalf("bulk decided %d, want 5", bulk.Decided)
	}
	c.ok("bob", "POST", "/reviews/2026-10/decisions", map[string]any{"rule": "after_hours_access", "decision": "appropriate", "reason": "on-call rota"}, 200, &bulk)
	if bulk.Decided != 1 {
		t.Fatalf("bulk by rule decided %d, want 1 (a5; a4 is decided)", bulk.Decided)
	}
	c.ok("alice", "POST", itemPath("c-u7")+"/decision", rv.Decision{Decision: "appropriate", Reason: "own chart via patient portal workflow"}, 200, nil)

	var pv struct {
		rv.Period
		Progress rv.Progress `json:"progress"`
	}
	c.ok("auditor", "GET", "/reviews/2026-10", nil, 200, &pv)
	if pv.Progress.Total != 9 || pv.Progress.Decided != 9 || pv.Progress.ByState[rv.StateInappropriate] != 1 || pv.Progress.Overdue {
		t.Fatalf("progress %+v", pv.Progress)
	}

	// Sign-off locks the period.
	if code, _ := c.do("bob", "POST", "/reviews/2026-10/sign-off", map[string]string{}); code != 403 {
		t.Fatalf("a reviewer signing off: %d", code)
	}
	var signed rv.Period
	c.ok("alice", "POST", "/reviews/2026-10/sign-off", map[string]string{"note": "October reviewed; one finding referred to HR"}, 200, &signed)
	if !signed.Locked() || signed.SignedOffBy != "alice" {
		t.Fatalf("signed %+v", signed)
	}
	for _, w := range []struct {
		path string
		body any
	}{
		{itemPath("c-u7") + "/decision", rv.Decision{Decision: "inappropriate", Reason: "edit"}},
		{itemPath("c-u7") + "/comments", map[string]string{"body": "late note"}},
		{itemPath("c-u7") + "/assignment", map[string]any{"reviewer": rv.Reviewer{ID: "bob"}}},
		{"/reviews/2026-10/decisions", map[string]any{"rule": "self_lookup", "decision": "appropriate", "reason": "x"}},
		{"/reviews/2026-10/sign-off", map[string]string{}},
	} {
		code, b := c.do("alice", "POST", w.path, w.body)
		if code != 409 || !strings.Contains(string(b), "application/problem+json") && !strings.Contains(string(b), `"status":409`) {
			t.Fatalf("change after sign-off %s: %d %s", w.path, code, b)
		}
	}
	if code, _ := c.do("bob", "POST", itemPath("c-u7")+"/amendment", rv.Decision{Decision: "inappropriate", Reason: "x"}); code != 403 {
		t.Fatalf("a reviewer amending: %d", code)
	}
	if code, _ := c.do("alice", "POST", itemPath("c-u7")+"/amendment", rv.Decision{Decision: "inappropriate"}); code != 400 {
		t.Fatalf("an amendment without a reason: %d", code)
	}
	c.ok("alice", "POST", itemPath("c-u7")+"/amendment", rv.Decision{Decision: "inappropriate", Reason: "u7 admitted browsing a relative's chart"}, 200, &it)
	if !it.Amendment || it.Action != "amended_decided" || it.State != rv.StateInappropriate || it.IncidentID == "" {
		t.Fatalf("amended item %+v", it)
	}
	var detail struct {
		History []rv.Item `json:"history"`
	}
	c.ok("auditor", "GET", itemPath("c-u7"), nil, 200, &detail)
	var actions []string
	for _, h := range detail.History {
		actions = append(actions, h.Action)
	}
	if want := []string{"created", "assigned", "decided", "amended_decided"}; !slices.Equal(actions, want) || detail.History[2].State != rv.StateAppropriate {
		t.Fatalf("history %v, want %v with the original decision kept", actions, want)
	}
	c.ok("auditor", "GET", "/reviews/2026-10", nil, 200, &pv)
	if pv.Amendments != 1 || pv.State != rv.PeriodSignedOff || pv.Progress.ByState[rv.StateInappropriate] != 2 {
		t.Fatalf("period after amendment %+v", pv)
	}
	if reqs, _ := rv.IncidentRequests(ctx, ts, "2026-10"); len(reqs) != 2 {
		t.Fatalf("%d incident requests, want 2 (the amendment opened one)", len(reqs))
	}

	// Evidence: CSV and PDF.
	if code, _ := c.do("bob", "GET", "/reviews/2026-10/export.csv", nil); code != 403 {
		t.Fatalf("a reviewer exporting evidence: %d", code)
	}
	b := c.ok("auditor", "GET", "/reviews/2026-10/export.csv", nil, 200, nil)
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	states, amendedRows := map[string]int{}, 0
	for _, r := range recs[1:] {
		states[r[col["state"]]]++
		if r[col["amended"]] == "true" {
			amendedRows++
		}
		if r[col["decided_by"]] == "" || r[col["decision_reason"]] == "" || r[col["decided_at"]] == "" {
			t.Fatalf("CSV row without reviewer, reason or time: %v", r)
		}
	}
	if len(recs) != 10 || states["appropriate"] != 7 || states["inappropriate"] != 2 || amendedRows != 1 {
		t.Fatalf("CSV: %d rows, states %v, amended %d", len(recs)-1, states, amendedRows)
	}
	pdf := c.ok("auditor", "GET", "/reviews/2026-10/export.pdf", nil, 200, nil)
	text, err := pdftext.Text(pdf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Monthly information system activity review 2026-10", "Items in worklist:\n9", "Sampled unflagged accesses:\n5",
		"Decided:\n9 of 9", "State inappropriate:\n2", "State appropriate:\n7", seedValue, "Signed off by:\nalice",
		"Amendments after sign-off:\n1"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	// Table cells wrap: long reasons are whole, over several lines.
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"u7 admitted browsing a relative's chart", "no treatment relationship; coworker's chart"} {
		if !strings.Contains(flat, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("PDF text:\n%s", text)
	}

	// Mail: assignment notices and the questionnaire to u6 (the manager)
	// reach the SMTP server; the outcome is recorded.
	srv := smtptest.Start(t)
	mailer, err := rv.NewSMTPMailer(rv.SMTPConfig{Host: srv.Host(), Port: srv.Port(), From: "review@msp.example", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n, err := svc.SendPending(ctx, ts, mailer)
	if err != nil {
		t.Fatal(err)
	}
	to := map[string]string{}
	for _, m := range srv.Messages() {
		to[m.To[0]] += m.Data
	}
	if n != len(srv.Messages()) || !strings.Contains(to["u6@clinic.example"], "Why was this chart opened at 2am?") ||
		!strings.Contains(to["alice@msp.example"], "assigned") || !strings.Contains(to["bob@msp.example"], "assigned") {
		t.Fatalf("sent %d; mail by recipient: %v", n, to)
	}
	if again, _ := svc.SendPending(ctx, ts, mailer); again != 0 {
		t.Fatalf("%d messages sent twice", again)
	}
	sent, _ := svc.Notifications(ctx, ts, "sent")
	if len(sent) != n {
		t.Fatalf("%d notifications recorded as sent, want %d", len(sent), n)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestRemindersDigestAndJITNotice(t *testing.T) {
	const tenant = "clinic-remind"
	s := shared.Store(t)
	ctx := context.Background()
	seed(t, s, tenant)
	db, _ := store.ForTenant(s, tenant)
	clk := &clock{t: time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC)}
	svc := rv.NewService(rv.Config{SampleSize: 2, DueDay: 15}, nil, clk.now)
	if err := svc.SetSettings(ctx, db, rv.Settings{SampleSize: 2, DueDay: 12, JITNotice: true, SetBy: "po", Reason: "trial of just-in-time notices"}); err != nil {
		t.Fatal(err)
	}
	p, err := svc.EnsurePeriod(ctx, db, rv.Month{Year: 2026, Month: time.October}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if p.DueDate != "2026-11-12" || p.SampleSize != 2 {
		t.Fatalf("period %+v: want the tenant's settings (due the 12th, sample 2)", p)
	}
	// Just-in-time notices: one per flagged item, to the actor's roster address.
	queued, err := svc.Notifications(ctx, db, "pending")
	if err != nil {
		t.Fatal(err)
	}
	jit := map[string]bool{}
	for _, n := range queued {
		if n.Kind == rv.NoticeJIT {
			jit[n.RecipientEmail] = true
		}
	}
	if len(jit) != 4 || !jit["u2@clinic.example"] || !jit["u7@clinic.example"] {
		t.Fatalf("just-in-time notices to %v, want u2, u3, u4, u7", jit)
	}
	if _, err := svc.AutoAssign(ctx, db, p.Period, []rv.Reviewer{{ID: "alice", Email: "alice@msp.example"}, {ID: "bob", Email: "bob@msp.example"}},
		rv.Change{By: rv.Reviewer{ID: "po"}}); err != nil {
		t.Fatal(err)
	}
	// Three days before the due date, after the digest hour: a reminder
	// and a digest for each reviewer; a second run the same day adds none.
	at := time.Date(2026, 11, 9, 8, 0, 0, 0, time.UTC)
	for range 2 {
		if err := svc.QueueReminders(ctx, db, at, []int{7, 3, 1}, 7); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := svc.Notifications(ctx, db, "")
	kinds := map[string]int{}
	for _, n := range all {
		kinds[n.Kind]++
	}
	if kinds[rv.NoticeReminder] != 2 || kinds[rv.NoticeDigest] != 2 || kinds[rv.NoticeAssignment] != 2 {
		t.Fatalf("notifications by kind %v, want 2 reminders, 2 digests, 2 assignment notices", kinds)
	}
	// Two days before: no reminder day, but the next digest.
	if err := svc.QueueReminders(ctx, db, at.AddDate(0, 0, 1), []int{7, 3, 1}, 7); err != nil {
		t.Fatal(err)
	}
	// Overdue: a daily reminder saying so.
	if err := svc.QueueReminders(ctx, db, time.Date(2026, 11, 13, 6, 0, 0, 0, time.UTC), []int{7, 3, 1}, 7); err != nil {
		t.Fatal(err)
	}
	// The relay is down: nothing is lost, the failures are recorded and
	// retried on the next run.
	if n, err := svc.SendPending(ctx, db, failingMailer{}); n != 0 || err != nil {
		t.Fatalf("sent %d through a failing relay (%v)", n, err)
	}
	if failed, _ := svc.Notifications(ctx, db, "failed"); len(failed) != 14 || !strings.Contains(failed[0].Error, "relay down") {
		t.Fatalf("%d failed notifications recorded, want 14", len(failed))
	}
	srv := smtptest.Start(t)
	mailer, err := rv.NewSMTPMailer(rv.SMTPConfig{Host: srv.Host(), Port: srv.Port(), From: "review@msp.example", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := svc.SendPending(ctx, db, mailer)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, m := range srv.Messages() {
		for _, line := range strings.Split(m.Data, "\r\n") {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok && m.To[0] == "alice@msp.example" {
				subjects = append(subjects, s)
			}
		}
	}
	// alice: assignment, reminder (9th), digest (9th), digest (10th), overdue reminder (13th; before the digest hour).
	joined := strings.Join(subjects, "\n")
	if sent != 4+2+2+2+2+2 || len(subjects) != 5 || strings.Count(joined, "daily digest") != 2 || !strings.Contains(joined, "OVERDUE") ||
		!strings.Contains(joined, "due 2026-11-12") {
		t.Fatalf("sent %d; alice's subjects:\n%s", sent, joined)
	}
}

type failingMailer struct{}

func (failingMailer) Send(context.Context, string, string, string) error {
	return fmt.Errorf("smtp: connect: relay down")
}

// The just-in-time notice goes out within a job run of the detection, once
// per alert, and never for a suppressed alert.
func TestFlagNoticesAfterDetection(t *testing.T) {
	const tenant = "clinic-jit"
	s := shared.Store(t)
	ctx := context.Background()
	seed(t, s, tenant)
	db, _ := store.ForTenant(s, tenant)
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	svc := rv.NewService(rv.Config{}, nil, func() time.Time { return now })
	if err := svc.QueueFlagNotices(ctx, db, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, _ := svc.Notifications(ctx, db, ""); len(n) != 0 {
		t.Fatalf("notices queued with the setting off: %+v", n)
	}
	if err := svc.SetSettings(ctx, db, rv.Settings{SampleSize: 2, DueDay: 15, JITNotice: true, SetBy: "po", Reason: "notices on"}); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-30 * time.Minute)
	keep := now.AddDate(7, 0, 0)
	if err := s.InsertAlerts(ctx, []store.AlertRow{
		{TenantID: tenant, AlertID: "jit-1", Rule: "after_hours_access", Severity: "medium", ActorID: "u2", Reason: "opened 3 charts at 02:00",
			FirstSeen: at, LastSeen: at, DetectedAt: now, RetainUntil: keep},
		{TenantID: tenant, AlertID: "jit-2", Rule: "bulk_export", Severity: "high", ActorID: "u3", Reason: "printed 40 records",
			FirstSeen: at, LastSeen: at, DetectedAt: now, RetainUntil: keep},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertAlertSuppressions(ctx, []store.AlertSuppressionRow{{TenantID: tenant, AlertID: "jit-2", SuppressionID: "sup-him",
		Rule: "bulk_export", ActorID: "u3", AlertFirstSeen: at, MatchedAt: now, RetainUntil: keep}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := svc.QueueFlagNotices(ctx, db, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := svc.Notifications(ctx, db, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].Kind != rv.NoticeJIT || ns[0].RecipientEmail != "u2@clinic.example" || !strings.Contains(ns[0].Body, "after hours access") || strings.Contains(ns[0].Body, "02:00") {
		t.Fatalf("notices: %+v", ns)
	}
}
