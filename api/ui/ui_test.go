package ui

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/browsertest"
	"github.com/phiwatch/phiwatch/internal/recert"
	rv "github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/storetest"
)

var shared = storetest.New("ui")

func harness(t *testing.T, s store.Store, now time.Time, people map[string]*authz.Principal) http.Handler {
	t.Helper()
	u, err := New(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now },
		CSRFToken: func(*gin.Context) string { return "tok" },
		Mask: func(_ *gin.Context, text string, _ []string) string {
			return strings.ReplaceAll(text, "MRN-1234", "••••1234")
		}})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	g := r.Group("/ui/t/:tenant")
	for _, rt := range u.Routes() {
		perm := rt.Perm
		g.Handle(rt.Method, rt.Path, func(c *gin.Context) {
			p := people[c.GetHeader("X-Who")]
			if p == nil || !p.Can(c.Param("tenant"), perm) {
				c.AbortWithStatus(403)
				return
			}
			route.SetPrincipal(c, p)
			ts, _ := store.ForTenant(s, c.Param("tenant"))
			route.SetStore(c, ts)
		}, rt.Handle)
	}
	r.GET("/ui/static/*f", gin.WrapH(u.Static()))
	return r
}

func get(t *testing.T, h http.Handler, who, path string, want int) string {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("X-Who", who)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != want {
		t.Fatalf("GET %s as %s: %d, want %d\n%s", path, who, w.Code, want, w.Body.String())
	}
	return w.Body.String()
}

func TestPages(t *testing.T) {
	s := shared.Store(t)
	ctx := context.Background()
	tenant := "clinic-ui"
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	keep := now.AddDate(7, 0, 0)
	at := now.Add(-48 * time.Hour)
	if err := s.InsertAlerts(ctx, []store.AlertRow{{TenantID: tenant, AlertID: "a1", Rule: "family_member_lookup", Severity: "high", Score: 75,
		ActorID: "dortiz", Reason: "Dana <b>Ortiz</b> opened the chart of MRN-1234: same last name", FirstSeen: at, LastSeen: at, DetectedAt: now,
		RetainUntil: keep, EvidenceEventIDs: []string{"e1"}, PatientIDs: []string{"MRN-1234"}, Explanations: []string{"appointments ±14 days: none"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertCases(ctx, []store.CaseRow{{TenantID: tenant, CaseID: "c1", ActorID: "dortiz", ActorName: "Dana Ortiz", ActorRole: "front_desk",
		Status: "open", AlertIDs: []string{"a1"}, Rules: []string{"family_member_lookup"}, FirstSeen: at, LastSeen: at, AlertCount: 1,
		RiskScore: 75, MaxSeverity: "high", Summary: "1 alert", UpdatedAt: now, RetainUntil: keep}}); err != nil {
		t.Fatal(err)
	}
	imported := now.Add(-time.Hour)
	if err := s.InsertWorkforce(ctx, []store.WorkforceRow{
		{TenantID: tenant, UserID: "boss", Name: "Bo Boss", Role: "manager", ImportedAt: imported, RetainUntil: keep},
		{TenantID: tenant, UserID: "ann", Name: "Ann Nurse", Role: "nurse", ManagerID: "boss", ImportedAt: imported, RetainUntil: keep},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertAccounts(ctx, []store.AccountRow{{TenantID: tenant, System: "ehr", AccountID: "ann", DisplayName: "Ann <script>x</script>",
		Enabled: true, Roles: []string{"Clinical"}, Groups: []string{}, OwnerUserID: "ann", ImportedAt: imported, RetainUntil: keep}}); err != nil {
		t.Fatal(err)
	}
	ts, _ := store.ForTenant(s, tenant)
	camp, items, err := recert.Create(ctx, ts, recert.CreateRequest{Quarter: recert.Quarter{Year: 2026, Q: 4}, Now: now, By: recert.Actor{ID: "t"}})
	if err != nil || len(items) != 1 {
		t.Fatalf("%v %d", err, len(items))
	}
	people := map[string]*authz.Principal{
		"officer": {Subject: "po", Name: "Pat Officer", Role: authz.PrivacyOfficer, Tenants: map[string]bool{tenant: true}},
		"boss":    {Subject: "boss", Name: "Bo Boss", Role: authz.Manager, Tenants: map[string]bool{tenant: true}, WorkforceIDs: map[string]string{tenant: "boss"}},
	}
	h := harness(t, s, now, people)
	base := "/ui/t/" + tenant

	home := get(t, h, "officer", base, 200)
	if !strings.Contains(home, "Dana Ortiz") || !strings.Contains(home, "/ui/t/"+tenant+"/cases/c1") {
		t.Fatalf("home lacks the case:\n%s", home)
	}
	get(t, h, "boss", base, 403) // managers have no access to cases
	cs := get(t, h, "officer", base+"/cases/c1", 200)
	for _, want := range []string{"same last name", "appointments ±14 days: none", "••••1234", "&lt;b&gt;Ortiz&lt;/b&gt;"} {
		if !strings.Contains(cs, want) {
			t.Errorf("case page lacks %q", want)
		}
	}
	if strings.Contains(cs, "MRN-1234") {
		t.Error("case page shows an unmasked MRN")
	}
	get(t, h, "officer", base+"/cases/nope", 404)

	pg := get(t, h, "boss", base+"/recert/"+camp.CampaignID, 200)
	if !strings.Contains(pg, "0 of 1 decided") || !strings.Contains(pg, "Ann &lt;script&gt;") || strings.Contains(pg, "<script>x") {
		t.Fatalf("campaign page:\n%s", pg)
	}
	if !strings.Contains(pg, `name="csrf_token" value="tok"`) {
		t.Error("decision form lacks the CSRF token")
	}
	form := url.Values{"decision": {"certify"}, "reason": {"still on the ward"}}
	req := httptest.NewRequest("POST", base+"/recert/"+camp.CampaignID+"/items/"+items[0].ItemID, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Who", "boss")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("decide: %d %s", w.Code, w.Body.String())
	}
	pg = get(t, h, "boss", base+"/recert/"+camp.CampaignID+"?show=all", 200)
	if !strings.Contains(pg, "1 of 1 decided") || !strings.Contains(pg, "still on the ward") {
		t.Fatalf("after the decision:\n%s", pg)
	}
	if css := get(t, h, "boss", "/ui/static/app.js", 200); !strings.Contains(css, "keydown") {
		t.Fatal("script not served")
	}
}

// TestBrowserRecertification works a manager's recertification worklist in
// headless Chromium with the keyboard: select the item, type the reason,
// press c to certify.
func TestBrowserRecertification(t *testing.T) {
	bctx := browsertest.New(t, 60*time.Second)
	s := shared.Store(t)
	ctx := context.Background()
	tenant := "clinic-browser"
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	keep := now.AddDate(7, 0, 0)
	imported := now.Add(-time.Hour)
	if err := s.InsertWorkforce(ctx, []store.WorkforceRow{
		{TenantID: tenant, UserID: "boss", Name: "Bo Boss", Role: "manager", ImportedAt: imported, RetainUntil: keep},
		{TenantID: tenant, UserID: "ann", Name: "Ann Nurse", Role: "nurse", ManagerID: "boss", ImportedAt: imported, RetainUntil: keep},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertAccounts(ctx, []store.AccountRow{{TenantID: tenant, System: "ehr", AccountID: "ann", DisplayName: "Ann Nurse",
		Enabled: true, Roles: []string{"Clinical"}, Groups: []string{}, OwnerUserID: "ann", ImportedAt: imported, RetainUntil: keep}}); err != nil {
		t.Fatal(err)
	}
	ts, _ := store.ForTenant(s, tenant)
	camp, _, err := recert.Create(ctx, ts, recert.CreateRequest{Quarter: recert.Quarter{Year: 2026, Q: 4}, Now: now, By: recert.Actor{ID: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	people := map[string]*authz.Principal{
		"boss": {Subject: "boss", Name: "Bo Boss", Role: authz.Manager, Tenants: map[string]bool{tenant: true}, WorkforceIDs: map[string]string{tenant: "boss"}},
	}
	// The browser cannot send the harness's header; a cookie names the
	// principal instead (the real server uses the session cookie).
	h := harness(t, s, now, people)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ck, err := r.Cookie("who"); err == nil {
			r.Header.Set("X-Who", ck.Value)
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	page := srv.URL + "/ui/t/" + tenant + "/recert/" + camp.CampaignID
	if _, err := chromedp.Call(bctx, network.SetCookie, network.SetCookieParams{Name: "who", Value: "boss", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS("li.item.selected")),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(bctx, t, "worklist")
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS("li.item.selected [data-reason]"), "still on the ward"),
		chromedp.KeyEvent(kb.Escape),
		chromedp.KeyEvent("c"),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(bctx, t, "decided")
	progress, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("[data-progress]")))
	if err != nil || progress != "1 of 1 decided" {
		t.Fatalf("progress after the decision: %q %v", progress, err)
	}
	it, err := recert.Items(ctx, ts, camp.CampaignID, recert.ItemFilter{})
	if err != nil || it[0].Decision != recert.Certify || it[0].DecisionWhy != "still on the ward" || it[0].DecisionBy != "Bo Boss" {
		t.Fatalf("stored decision: %+v %v", it, err)
	}
}

func TestFleetPage(t *testing.T) {
	s := shared.Store(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	keep := now.AddDate(7, 0, 0)
	at := now.Add(-2 * time.Hour)
	if err := s.InsertCases(ctx, []store.CaseRow{{TenantID: "fleet-a", CaseID: "c1", ActorID: "x", ActorName: "X", Status: "open",
		AlertIDs: []string{"a"}, Rules: []string{"r"}, FirstSeen: at, LastSeen: at, AlertCount: 1, RiskScore: 90, MaxSeverity: "high",
		UpdatedAt: now, RetainUntil: keep}}); err != nil {
		t.Fatal(err)
	}
	// fleet-b's September review is open and past its due date.
	fb, _ := store.ForTenant(s, "fleet-b")
	if _, err := rv.NewService(rv.Config{}, nil, func() time.Time { return now }).EnsurePeriod(ctx, fb, rv.Month{Year: 2026, Month: time.September}, "t"); err != nil {
		t.Fatal(err)
	}
	u, err := New(Deps{Now: func() time.Time { return now }, CSRFToken: func(*gin.Context) string { return "tok" }})
	if err != nil {
		t.Fatal(err)
	}
	p := &authz.Principal{Subject: "m", Name: "Msp", Role: authz.MSPAdmin, Tenants: map[string]bool{"fleet-a": true, "fleet-b": true}}
	r := gin.New()
	r.GET("/ui/", func(c *gin.Context) { route.SetPrincipal(c, p) }, u.FleetPage(func(c *gin.Context) (*store.FleetStore, error) {
		return store.ForTenants(s, []string{"fleet-a", "fleet-b"})
	}))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/ui/", nil))
	body := w.Body.String()
	// An overdue log review outranks one open case.
	if w.Code != 200 || !strings.Contains(body, "fleet-a") || !strings.Contains(body, "fleet-b") || strings.Index(body, "fleet-b") > strings.Index(body, "fleet-a") {
		t.Fatalf("fleet page %d (fleet-b, with an overdue review, must come first):\n%s", w.Code, body)
	}
	if !strings.Contains(body, "log review overdue") || !strings.Contains(body, "2026-09") {
		t.Errorf("fleet page lacks fleet-b's overdue log review:\n%s", body)
	}
	st, err := FleetStatus(ctx, mustFleet(t, s, "fleet-a"), now)
	if err != nil || len(st) != 1 || st[0].OpenCases != 1 || st[0].TopRisk != 90 {
		t.Fatalf("status %+v %v", st, err)
	}
}

func mustFleet(t *testing.T, s store.Store, tenants ...string) *store.FleetStore {
	f, err := store.ForTenants(s, tenants)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
