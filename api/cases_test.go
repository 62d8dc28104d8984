package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/analyze"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/store"
)

// insertTestCases gives each tenant three cases (risk 30, 92, 61), plus an
// older version of the 92 one that must not show, for TestAPI.
func insertTestCases(t *testing.T, s store.Store, now time.Time) {
	t.Helper()
	var rows []store.CaseRow
	for _, tenant := range []string{"clinic-a", "clinic-b"} {
		for i, risk := range []float32{30, 92, 61} {
			at := now.Add(-time.Duration(i+1) * 24 * time.Hour)
			id := tenant + "-case-" + string(rune('0'+i))
			rows = append(rows, store.CaseRow{TenantID: tenant, CaseID: id, ActorID: "u" + string(rune('0'+i)), Status: "open",
				AlertIDs: []string{"a" + id}, Rules: []string{"after_hours_access"}, FirstSeen: at, LastSeen: at, AlertCount: 1,
				RiskScore: risk, MaxSeverity: "high", Summary: "case " + tenant, UpdatedAt: now, RetainUntil: now.AddDate(7, 0, 0)})
			if risk == 92 {
				old := rows[len(rows)-1]
				old.RiskScore, old.UpdatedAt = 10, now.Add(-time.Hour)
				rows = append(rows, old)
			}
		}
	}
	if err := s.InsertCases(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
}

// caseListingCases are TestAPI's checks of GET …/cases.
var caseListingCases = []struct {
	name, token, path string
	status            int
	items             int
	check             func(t *testing.T, body map[string]any)
}{
	{"cases no token", "", "/api/v1/tenants/clinic-a/cases", 401, -1, nil},
	{"cases other tenant is 404", tokenA, "/api/v1/tenants/clinic-b/cases", 404, -1, nil},
	{"cases riskiest first", tokenA, "/api/v1/tenants/clinic-a/cases", 200, 3, func(t *testing.T, b map[string]any) {
		var risks []float64
		for _, it := range b["items"].([]any) {
			c := it.(map[string]any)
			if c["summary"] != "case clinic-a" {
				t.Fatalf("case of another tenant: %v", c)
			}
			risks = append(risks, c["risk_score"].(float64))
		}
		if risks[0] != 92 || risks[1] != 61 || risks[2] != 30 {
			t.Fatalf("risks %v, want 92, 61, 30 (latest versions, riskiest first)", risks)
		}
	}},
	{"cases msp sees b", tokenAll, "/api/v1/tenants/clinic-b/cases", 200, 3, nil},
	{"cases paging", tokenA, "/api/v1/tenants/clinic-a/cases?limit=2&offset=2", 200, 1, nil},
	{"cases time range", tokenA, "/api/v1/tenants/clinic-a/cases?from=2026-10-30T00:00:00Z&to=2026-11-01T00:00:00Z", 200, 2, nil},
	{"cases bad status", tokenA, "/api/v1/tenants/clinic-a/cases?status=maybe", 400, -1, nil},
	{"cases closed", tokenA, "/api/v1/tenants/clinic-a/cases?status=closed", 200, 0, nil},
}

// TestCaseWorkflowAPI reads one case with its alerts and suppressions,
// assigns it, comments, and closes it, through the routes and their
// permissions.
func TestCaseWorkflowAPI(t *testing.T) {
	s := apiStore.Store(t)
	ctx := context.Background()
	tenant := "cases-wf"
	at := testNow.Add(-48 * time.Hour).UTC().Truncate(time.Millisecond)
	alerts := []store.AlertRow{
		{TenantID: tenant, AlertID: "wf-a1", Rule: "volume_distinct_patients", Severity: "high", Score: 75, ActorID: "rmedina",
			ActorRole: "him", PatientIDs: []string{"pat-x1"}, FirstSeen: at, LastSeen: at, Reason: "opened 40 distinct patients' charts",
			Explanations: []string{"own baseline: none"}, DetectedAt: at, RetainUntil: at.AddDate(7, 0, 0)},
		{TenantID: tenant, AlertID: "wf-a2", Rule: "after_hours_access", Severity: "medium", Score: 55, ActorID: "rmedina",
			FirstSeen: at.Add(time.Hour), LastSeen: at.Add(time.Hour), Reason: "late", DetectedAt: at, RetainUntil: at.AddDate(7, 0, 0)},
	}
	if err := s.InsertAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	sp, err := analyze.NewSuppression(analyze.SuppressionRequest{Tenant: tenant, Rule: "volume_distinct_patients", ActorID: "rmedina",
		Reason: "allow-list: release of information", CreatedBy: "tenants file", ExpiresAt: testNow.AddDate(0, 6, 0)}, testNow.Add(-time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSuppressions(ctx, []store.SuppressionRow{sp}); err != nil {
		t.Fatal(err)
	}
	w := analyze.Window{From: at.Add(-time.Hour), To: testNow}
	if _, err := analyze.ApplySuppressions(ctx, s, tenant, w, testNow); err != nil {
		t.Fatal(err)
	}
	// The suppressed alert does not feed the case; the other one does.
	if n, err := analyze.BuildCases(ctx, s, tenant, w, testNow, 0); err != nil || n != 1 {
		t.Fatalf("build cases: %d, %v", n, err)
	}
	var ids []struct {
		CaseID string `json:"case_id"`
	}
	if err := s.Select(ctx, &ids, "SELECT case_id FROM "+s.Database()+".cases_current WHERE tenant_id = {t:String}", store.Params{"t": tenant}); err != nil || len(ids) != 1 {
		t.Fatalf("cases %v %v", ids, err)
	}
	base := "/api/v1/tenants/" + tenant + "/cases/" + ids[0].CaseID
	env := newSecEnv(t, s, tenant, nil)

	steps := []struct {
		name, method, path string
		role               authz.Role
		body               string
		status             int
		check              func(t *testing.T, b map[string]any)
	}{
		{"read", "GET", base, authz.Reviewer, "", 200, func(t *testing.T, b map[string]any) {
			c := b["case"].(map[string]any)
			if c["status"] != "open" || c["alert_count"].(float64) != 1 || b["assignee"] != "" || len(b["actions"].([]any)) != 0 {
				t.Fatalf("case %v", b)
			}
			as := b["alerts"].([]any)
			if len(as) != 1 || as[0].(map[string]any)["reason"] != "late" || len(as[0].(map[string]any)["suppressed_by"].([]any)) != 0 {
				t.Fatalf("alerts %v", as)
			}
		}},
		{"no such case", "GET", base + "x", authz.Reviewer, "", 404, nil},
		{"auditor may read", "GET", base, authz.Auditor, "", 200, nil},
		{"auditor may not assign", "POST", base + "/assign", authz.Auditor, `{"assignee":"rev1"}`, 403, nil},
		{"assign needs an assignee", "POST", base + "/assign", authz.PrivacyOfficer, `{"note":"x"}`, 400, nil},
		{"unknown field", "POST", base + "/assign", authz.PrivacyOfficer, `{"asignee":"rev1"}`, 400, nil},
		{"assign", "POST", base + "/assign", authz.PrivacyOfficer, `{"assignee":"rev1","note":"please look"}`, 200, func(t *testing.T, b map[string]any) {
			if b["assignee"] != "rev1" || len(b["actions"].([]any)) != 1 {
				t.Fatalf("after assign %v", b)
			}
		}},
		{"comment", "POST", base + "/comments", authz.Reviewer, `{"note":"spoke to her manager"}`, 200, nil},
		{"close needs a resolution", "POST", base + "/close", authz.Reviewer, `{"reason":"fine"}`, 400, nil},
		{"close needs a reason", "POST", base + "/close", authz.Reviewer, `{"resolution":"no_violation"}`, 400, nil},
		{"close", "POST", base + "/close", authz.Reviewer, `{"resolution":"no_violation","reason":"covering for a colleague"}`, 200, func(t *testing.T, b map[string]any) {
			if b["case"].(map[string]any)["status"] != "closed" {
				t.Fatalf("after close %v", b)
			}
		}},
		{"comment on a closed case", "POST", base + "/comments", authz.Reviewer, `{"note":"late"}`, 409, nil},
		{"read closed", "GET", base, authz.Reviewer, "", 200, func(t *testing.T, b map[string]any) {
			acts := b["actions"].([]any)
			last := acts[len(acts)-1].(map[string]any)
			if b["case"].(map[string]any)["status"] != "closed" || len(acts) != 3 || last["action"] != "close" ||
				last["resolution"] != "no_violation" || last["note"] != "covering for a colleague" || last["actor"] == "" {
				t.Fatalf("closed case %v", b)
			}
		}},
	}
	for _, st := range steps {
		rec := env.do(t, st.method, st.path, st.role, st.body)
		if rec.Code != st.status {
			t.Fatalf("%s: %d %s, want %d", st.name, rec.Code, rec.Body, st.status)
		}
		if st.check != nil {
			var b map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			st.check(t, b)
		}
	}
	// The alert list says why the other alert is quiet.
	rec := env.do(t, "GET", "/api/v1/tenants/"+tenant+"/alerts?from="+at.Add(-time.Hour).Format(time.RFC3339), authz.Reviewer, "")
	var list struct {
		Items []struct {
			AlertID      string         `json:"alert_id"`
			SuppressedBy []SuppressedBy `json:"suppressed_by"`
		} `json:"items"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != 200 || len(list.Items) != 2 {
		t.Fatalf("alerts: %d %s", rec.Code, rec.Body)
	}
	for _, a := range list.Items {
		quiet := len(a.SuppressedBy) == 1 && a.SuppressedBy[0].SuppressionID == sp.SuppressionID &&
			a.SuppressedBy[0].Reason == "allow-list: release of information" && a.SuppressedBy[0].CreatedBy == "tenants file"
		if (a.AlertID == "wf-a1") != quiet {
			t.Fatalf("alert %s suppressed_by %+v", a.AlertID, a.SuppressedBy)
		}
	}
}
