package api

import (
	"context"
	"testing"
	"time"

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
