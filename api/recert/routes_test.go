package recert

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/evidence/pdftext"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/storetest"
)

var shared = storetest.New("recertapi")

// harness mounts the routes the way the API server does (principal, tenant
// store, permission), with the principal chosen per request by a header.
func harness(t *testing.T, s store.Store, tenant string, now time.Time, people map[string]*authz.Principal) http.Handler {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	g := r.Group("/api/v1/tenants/:tenant")
	for _, rt := range Routes(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}) {
		perm := rt.Perm
		g.Handle(rt.Method, rt.Path, func(c *gin.Context) {
			p := people[c.GetHeader("X-Who")]
			if p == nil || !p.Can(c.Param("tenant"), perm) {
				route.Problem(c, 403, "no")
				return
			}
			route.SetPrincipal(c, p)
			ts, _ := store.ForTenant(s, c.Param("tenant"))
			route.SetStore(c, ts)
		}, rt.Handle)
	}
	return r
}

func call(t *testing.T, h http.Handler, who, method, path, body string, want int) []byte {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("X-Who", who)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != want {
		t.Fatalf("%s %s %s as %s: %d %s, want %d", method, path, body, who, w.Code, w.Body.String(), want)
	}
	return w.Body.Bytes()
}

func TestCampaignThroughAPI(t *testing.T) {
	s := shared.Store(t)
	ctx := context.Background()
	tenant := "clinic-recert"
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	keep := now.AddDate(7, 0, 0)
	imported := now.Add(-time.Hour)
	if err := s.InsertWorkforce(ctx, []store.WorkforceRow{
		{TenantID: tenant, UserID: "boss", Name: "Bo Boss", Role: "manager", ImportedAt: imported, RetainUntil: keep},
		{TenantID: tenant, UserID: "ann", Name: "Ann Nurse", Role: "nurse", ManagerID: "boss", ImportedAt: imported, RetainUntil: keep},
		{TenantID: tenant, UserID: "bob", Name: "Bob Nurse", Role: "nurse", ManagerID: "boss", ImportedAt: imported, RetainUntil: keep},
	}); err != nil {
		t.Fatal(err)
	}
	var accts []store.AccountRow
	for _, a := range []struct{ id, owner string }{{"ann", "ann"}, {"bob", "bob"}, {"boss", "boss"}} {
		accts = append(accts, store.AccountRow{TenantID: tenant, System: "ehr", AccountID: a.id, Enabled: true, Roles: []string{"clinical"},
			Groups: []string{}, OwnerUserID: a.owner, ImportedAt: imported, RetainUntil: keep, Source: "test"})
	}
	if err := s.InsertAccounts(ctx, accts); err != nil {
		t.Fatal(err)
	}
	people := map[string]*authz.Principal{
		"officer": {Subject: "po", Name: "Pat Officer", Role: authz.PrivacyOfficer, Tenants: map[string]bool{tenant: true}},
		"boss":    {Subject: "boss", Name: "Bo Boss", Role: authz.Manager, Tenants: map[string]bool{tenant: true}, WorkforceIDs: map[string]string{tenant: "boss"}},
		"auditor": {Subject: "aud", Name: "Al Auditor", Role: authz.Auditor, Tenants: map[string]bool{tenant: true}},
	}
	h := harness(t, s, tenant, now, people)
	base := "/api/v1/tenants/" + tenant + "/recert/campaigns"

	call(t, h, "officer", "POST", base, `{"quarter":"2026-Q5"}`, 400)
	call(t, h, "boss", "POST", base, `{"quarter":"2026-Q4"}`, 403)
	call(t, h, "officer", "POST", base, `{"quarter":"2026-Q4","systems":["ehr"]}`, 201)
	call(t, h, "officer", "POST", base, `{"quarter":"2026-Q4","systems":["ehr"]}`, 409)
	camp := base + "/2026-Q4-ehr"

	var list struct {
		Items []struct {
			ItemID    string `json:"item_id"`
			AccountID string `json:"account_id"`
		}
	}
	json.Unmarshal(call(t, h, "boss", "GET", camp+"/items", "", 200), &list)
	// The manager sees the two nurses' accounts, not their own (the
	// practice admin decides that one: the manager has no manager).
	if len(list.Items) != 2 {
		t.Fatalf("manager sees %d items: %+v", len(list.Items), list.Items)
	}
	for _, it := range list.Items {
		call(t, h, "auditor", "POST", camp+"/items/"+it.ItemID+"/decision", `{"decision":"certify","reason":"ok"}`, 403)
		d := `{"decision":"certify","reason":"still treats patients"}`
		if it.AccountID == "bob" {
			d = `{"decision":"revoke","reason":"moved to another practice"}`
		}
		call(t, h, "boss", "POST", camp+"/items/"+it.ItemID+"/decision", d, 200)
	}
	call(t, h, "officer", "POST", camp+"/signoff", "", 409) // boss's own account is undecided
	var all struct {
		Items []struct {
			ItemID    string `json:"item_id"`
			AccountID string `json:"account_id"`
		}
	}
	json.Unmarshal(call(t, h, "officer", "GET", camp+"/items?undecided=true", "", 200), &all)
	if len(all.Items) != 1 || all.Items[0].AccountID != "boss" {
		t.Fatalf("undecided: %+v", all.Items)
	}
	call(t, h, "officer", "POST", camp+"/items/"+all.Items[0].ItemID+"/decision", `{"decision":"certify","reason":"practice manager"}`, 200)
	var prog struct {
		Items, Decided int
		TasksOpen      int `json:"tasks_open"`
	}
	json.Unmarshal(call(t, h, "auditor", "GET", camp, "", 200), &prog)
	if prog.Items != 3 || prog.Decided != 3 || prog.TasksOpen != 1 {
		t.Fatalf("progress %+v", prog)
	}
	call(t, h, "officer", "POST", camp+"/signoff", `{"statement":"Q4 access reviewed"}`, 200)
	call(t, h, "boss", "POST", camp+"/items/"+list.Items[0].ItemID+"/decision", `{"decision":"revoke","reason":"x"}`, 409)
	call(t, h, "officer", "POST", camp+"/items/"+list.Items[0].ItemID+"/decision", `{"decision":"revoke","reason":"left after all","amendment":true}`, 200)
	out := call(t, h, "auditor", "GET", camp+"/export.csv", "", 200)
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 4 {
		t.Fatalf("export: %d rows, %v", len(recs), err)
	}
	if !bytes.Contains(out, []byte("moved to another practice")) || !bytes.Contains(out, []byte("left after all")) {
		t.Fatalf("export lacks the decisions:\n%s", out)
	}
	pdf := call(t, h, "auditor", "GET", camp+"/export.pdf", "", 200)
	text, err := pdftext.Text(pdf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Access recertification 2026-Q4-ehr", "Accounts reviewed", "Decided", "3 of 3", "Revoked", "Amendments",
		"Pat Officer", "Bo Boss", "moved to", "Q4 access reviewed"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}
	call(t, h, "officer", "GET", "/api/v1/tenants/"+tenant+"/recert/campaigns/2025-Q1", "", 404)
}
