package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

const (
	tokenA   = "token-for-clinic-a-0001"
	tokenAll = "token-for-the-msp-00001"
)

func setup(t *testing.T) http.Handler {
	t.Helper()
	testenv.RequireChdb(t)
	ctx := context.Background()
	s := apiStore.Store(t) // chDB opens one directory per process: the package's tests share it
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var alerts []store.AlertRow
	var events []store.EventRow
	for _, tenant := range []string{"clinic-a", "clinic-b"} {
		for i, sev := range []string{"low", "critical", "medium", "high"} {
			at := now.Add(-time.Duration(i+1) * 24 * time.Hour)
			alerts = append(alerts, store.AlertRow{TenantID: tenant, AlertID: tenant + sev, Rule: "after_hours_access", Severity: sev,
				ActorID: "u1", Reason: "reason " + tenant, FirstSeen: at, LastSeen: at, DetectedAt: now, RetainUntil: now.AddDate(7, 0, 0),
				EvidenceEventIDs: []string{"e1"}, PatientIDs: []string{"P1"}})
		}
		for i := range 3 {
			e := event.Event{TenantID: tenant, SourceKind: event.KindEHR, SourceSystem: "t", Time: now.Add(-time.Duration(i+1) * time.Hour),
				Actor: event.Actor{ID: "u1"}, Action: event.ActionView, Outcome: event.OutcomeSuccess, PatientID: "P1", Raw: tenant + string(rune('0'+i))}
			e.EventID = event.ID(tenant, "t", e.Raw)
			events = append(events, store.NewEventRow(&e, 0))
		}
	}
	if err := s.InsertAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvents(ctx, events, ""); err != nil {
		t.Fatal(err)
	}
	insertTestCases(t, s, now)
	tokens, err := NewTokens([]Token{{Name: "a", Token: tokenA, Tenants: []string{"clinic-a"}, Role: "privacy_officer"}, {Name: "msp", Token: tokenAll, Tenants: []string{"*"}, Role: "msp_admin"}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Store: s, Tokens: tokens, Log: log, Registry: prometheus.NewRegistry(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAPI(t *testing.T) {
	h := setup(t)
	cases := []struct {
		name, token, path string
		status            int
		items             int
		check             func(t *testing.T, body map[string]any)
	}{
		{"no token", "", "/api/v1/tenants/clinic-a/alerts", 401, -1, nil},
		{"wrong token", "nope-nope-nope-nope", "/api/v1/tenants/clinic-a/alerts", 401, -1, nil},
		{"own tenant", tokenA, "/api/v1/tenants/clinic-a/alerts", 200, 4, func(t *testing.T, b map[string]any) {
			first := b["items"].([]any)[0].(map[string]any)
			if first["severity"] != "critical" || first["reason"] != "reason clinic-a" {
				t.Fatalf("first item %v, want the critical alert of clinic-a", first)
			}
		}},
		{"other tenant is 404", tokenA, "/api/v1/tenants/clinic-b/alerts", 404, -1, nil},
		{"unknown tenant is 404", tokenA, "/api/v1/tenants/nope/alerts", 404, -1, nil},
		{"msp sees b", tokenAll, "/api/v1/tenants/clinic-b/alerts", 200, 4, nil},
		{"severity filter", tokenA, "/api/v1/tenants/clinic-a/alerts?severity=high", 200, 2, nil},
		{"paging", tokenA, "/api/v1/tenants/clinic-a/alerts?limit=3", 200, 3, func(t *testing.T, b map[string]any) {
			if b["next_offset"] != float64(3) {
				t.Fatalf("next_offset %v", b["next_offset"])
			}
		}},
		{"page 2", tokenA, "/api/v1/tenants/clinic-a/alerts?limit=3&offset=3", 200, 1, func(t *testing.T, b map[string]any) {
			if b["next_offset"] != nil {
				t.Fatalf("next_offset %v on the last page", b["next_offset"])
			}
		}},
		{"time range", tokenA, "/api/v1/tenants/clinic-a/alerts?from=2026-10-30T00:00:00Z&to=2026-11-01T00:00:00Z", 200, 2, nil},
		{"bad severity", tokenA, "/api/v1/tenants/clinic-a/alerts?severity=urgent", 400, -1, nil},
		{"bad limit", tokenA, "/api/v1/tenants/clinic-a/alerts?limit=0", 400, -1, nil},
		{"bad time", tokenA, "/api/v1/tenants/clinic-a/alerts?from=yesterday", 400, -1, nil},
		{"inverted range", tokenA, "/api/v1/tenants/clinic-a/alerts?from=2026-11-01T00:00:00Z&to=2026-10-01T00:00:00Z", 400, -1, nil},
		{"events by actor", tokenA, "/api/v1/tenants/clinic-a/events?actor=u1", 200, 3, nil},
		{"events by patient", tokenA, "/api/v1/tenants/clinic-a/events?patient=P1&limit=2", 200, 2, nil},
		{"events need a subject", tokenA, "/api/v1/tenants/clinic-a/events", 400, -1, nil},
		{"events other tenant", tokenA, "/api/v1/tenants/clinic-b/events?actor=u1", 404, -1, nil},
		{"injection is a value", tokenA, "/api/v1/tenants/clinic-a/events?actor=u1'%20OR%201=1--", 200, 0, nil},
		{"unknown route", tokenA, "/api/v1/nope", 404, -1, nil},
	}
	cases = append(cases, caseListingCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", c.path, nil)
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %s", rec.Body)
			}
			if c.status >= 400 {
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") || body["status"] != float64(c.status) || body["detail"] == "" {
					t.Fatalf("error is not a problem+json: %s %s", ct, rec.Body)
				}
				return
			}
			if n := len(body["items"].([]any)); n != c.items {
				t.Fatalf("%d items, want %d: %s", n, c.items, rec.Body)
			}
			if c.check != nil {
				c.check(t, body)
			}
		})
	}
}

func TestTokensFile(t *testing.T) {
	bad := []struct {
		name string
		toks []Token
	}{
		{"none", nil},
		{"short", []Token{{Name: "x", Token: "short", Tenants: []string{"*"}, Role: "msp_admin"}}},
		{"no tenants", []Token{{Name: "x", Token: "long-enough-token-1"}}},
		{"bad hash", []Token{{Name: "x", TokenSHA256: "abc", Tenants: []string{"*"}, Role: "msp_admin"}}},
		{"both", []Token{{Name: "x", Token: "long-enough-token-1", TokenSHA256: strings.Repeat("a", 64), Tenants: []string{"*"}, Role: "msp_admin"}}},
		{"bad tenant", []Token{{Name: "x", Token: "long-enough-token-1", Tenants: []string{"Clinic A"}, Role: "reviewer"}}},
		{"no role", []Token{{Name: "x", Token: "long-enough-token-1", Tenants: []string{"clinic-a"}}}},
		{"all tenants, not msp", []Token{{Name: "x", Token: "long-enough-token-1", Tenants: []string{"*"}, Role: "reviewer"}}},
	}
	for _, c := range bad {
		if _, err := NewTokens(c.toks); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	f := t.TempDir() + "/tokens.yaml"
	os.WriteFile(f, []byte("tokens:\n  - name: msp\n    token_sha256: \"5a1b2f0c1b8fdbd0e7d0b9a7dd9ae7c3bb4b7e4d6e9a4b0b8f3f8d0d0e0c0b0a\"\n    tenants: [\"*\"]\n    role: msp_admin\n"), 0o600)
	if _, err := LoadTokens(f); err != nil {
		t.Fatal(err)
	}
}
