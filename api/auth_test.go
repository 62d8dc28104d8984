package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/store"
)

// clock is a test clock the server, the access store and sessions share.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// authEnv is an API over the shared store with stored tokens and grants,
// bootstrap tokens per role for tenant own, and a log captured in logBuf.
type authEnv struct {
	h      http.Handler
	s      store.Store
	access *Access
	clock  *clock
	own    string
	boot   map[authz.Role]string
	logBuf *syncBuffer
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newAuthEnv(t *testing.T, own string, mod func(*Config)) *authEnv {
	t.Helper()
	s := apiStore.Store(t)
	env := &authEnv{s: s, own: own, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, boot: map[authz.Role]string{}, logBuf: &syncBuffer{}}
	var toks []Token
	for _, r := range authz.Roles {
		env.boot[r] = "boot-" + own + "-" + string(r) + "-0123456789"
		toks = append(toks, Token{Name: string(r) + "@" + own, Token: env.boot[r], Tenants: []string{own}, Role: string(r)})
	}
	env.boot["msp-all"] = "boot-" + own + "-msp-all-0123456789"
	toks = append(toks, Token{Name: "msp-all@" + own, Token: env.boot["msp-all"], Tenants: []string{"*"}, Role: string(authz.MSPAdmin)})
	tokens, err := NewTokens(toks)
	if err != nil {
		t.Fatal(err)
	}
	env.access = NewAccess(s, AccessOptions{Now: env.clock.Now})
	log := slog.New(slog.NewJSONHandler(env.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{Store: s, Tokens: tokens, Access: env.access, Log: log, Registry: prometheus.NewRegistry(), Now: env.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.h = h
	return env
}

// call sends a request with a bearer token ("" for none).
func (e *authEnv) call(t *testing.T, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body is not JSON: %s", rec.Body)
	}
	return m
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int, what string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("%s: status %d, want %d: %s", what, rec.Code, status, rec.Body)
	}
	if status >= 400 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
		t.Fatalf("%s: error is not problem+json: %s", what, rec.Header().Get("Content-Type"))
	}
}

// mint creates a token through the API and returns its secret and id.
func (e *authEnv) mint(t *testing.T, as, tenant, body string) (string, string) {
	t.Helper()
	rec := e.call(t, "POST", "/api/v1/tenants/"+tenant+"/tokens", as, body)
	wantStatus(t, rec, 201, "create token")
	m := decodeBody(t, rec)
	secret, _ := m["token"].(string)
	info, _ := m["token_info"].(map[string]any)
	id, _ := info["token_id"].(string)
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) < len(TokenPrefix)+43 || id == "" {
		t.Fatalf("created token %q (id %q): want phw_ and 32 random bytes", secret, id)
	}
	return secret, id
}

func TestStoredTokenLifecycle(t *testing.T) {
	env := newAuthEnv(t, "tok-life", nil)
	admin := env.boot[authz.PracticeAdmin]
	base := "/api/v1/tenants/tok-life"
	secret, id := env.mint(t, admin, "tok-life", `{"name":"siem export","role":"reviewer","expires":"30d","reason":"SIEM pulls alerts"}`)

	wantStatus(t, env.call(t, "GET", base+"/alerts", secret, ""), 200, "new token reads alerts")
	wantStatus(t, env.call(t, "GET", base+"/tokens", secret, ""), 403, "a reviewer token cannot manage access")
	wantStatus(t, env.call(t, "GET", "/api/v1/tenants/other-tenant/alerts", secret, ""), 404, "another tenant")

	// The listing shows the token, never its secret or hash.
	rec := env.call(t, "GET", base+"/tokens", admin, "")
	wantStatus(t, rec, 200, "list tokens")
	h := tokenHash(secret)
	if strings.Contains(rec.Body.String(), secret) || strings.Contains(rec.Body.String(), hexOf(h[:])) || !strings.Contains(rec.Body.String(), id) {
		t.Fatalf("token listing leaks the secret or hash, or lacks the token: %s", rec.Body)
	}

	// Only the hash is stored.
	var rows []struct {
		TokenSHA256 string `json:"token_sha256"`
		Name        string `json:"name"`
	}
	if err := env.s.Select(context.Background(), &rows, "SELECT token_sha256, name FROM "+env.s.Database()+".api_tokens WHERE tenant_id = 'tok-life'", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if strings.Contains(r.TokenSHA256, strings.TrimPrefix(secret, TokenPrefix)) || r.TokenSHA256 != hexOf(h[:]) {
			t.Fatalf("stored %q, want only the SHA-256 of the token", r.TokenSHA256)
		}
	}

	// Revocation through the API is immediate.
	wantStatus(t, env.call(t, "POST", base+"/tokens/"+id+"/revoke", admin, `{}`), 400, "revoke without a reason")
	wantStatus(t, env.call(t, "POST", base+"/tokens/"+id+"/revoke", admin, `{"reason":"SIEM replaced"}`), 200, "revoke")
	rec = env.call(t, "GET", base+"/alerts", secret, "")
	wantStatus(t, rec, 401, "revoked token")
	if !strings.Contains(rec.Body.String(), "revoked") || rec.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("revoked token: %s", rec.Body)
	}
	wantStatus(t, env.call(t, "POST", base+"/tokens/"+id+"/revoke", admin, `{"reason":"again"}`), 409, "revoke twice")

	// Versions, not updates: the create and the revocation are both kept.
	var versions []struct {
		Revoked   bool   `json:"revoked"`
		ChangedBy string `json:"changed_by"`
		Reason    string `json:"reason"`
	}
	if err := env.s.Select(context.Background(), &versions, "SELECT revoked, changed_by, reason FROM "+env.s.Database()+".api_tokens WHERE token_id = {id:String} ORDER BY version_at", store.Params{"id": id}); err != nil {
		t.Fatal(err)
	}
	if len(versions) != 2 || versions[0].Revoked || !versions[1].Revoked || versions[1].Reason != "SIEM replaced" || versions[1].ChangedBy != "token:practice_admin@tok-life" {
		t.Fatalf("token versions %+v: want the creation and the revocation, with who and why", versions)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestStoredTokenExpiry(t *testing.T) {
	env := newAuthEnv(t, "tok-exp", nil)
	secret, _ := env.mint(t, env.boot[authz.PracticeAdmin], "tok-exp", `{"name":"short","role":"auditor","expires":"2h"}`)
	wantStatus(t, env.call(t, "GET", "/api/v1/tenants/tok-exp/alerts", secret, ""), 200, "before expiry")
	env.clock.Add(2*time.Hour + time.Second)
	rec := env.call(t, "GET", "/api/v1/tenants/tok-exp/alerts", secret, "")
	wantStatus(t, rec, 401, "after expiry")
	if !strings.Contains(rec.Body.String(), "expired") {
		t.Fatalf("expired token: %s", rec.Body)
	}
}

// A revocation made elsewhere (another replica, the CLI) reaches a server
// through its cache within the cache TTL.
func TestRevocationElsewhereTakesEffectWithinCacheTTL(t *testing.T) {
	const ttl = 200 * time.Millisecond
	s := apiStore.Store(t)
	server := NewAccess(s, AccessOptions{CacheTTL: ttl})
	h, err := New(Config{Store: s, Access: server, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	cli := NewAccess(s, AccessOptions{})
	op := &authz.Principal{Subject: "cli:test", Role: authz.MSPAdmin, AllTenants: true}
	secret, rec, err := cli.CreateToken(context.Background(), op, TokenRequest{Name: "x", Role: authz.Auditor, Scope: Scope{Tenants: []string{"tok-remote"}}, Expires: "1d"})
	if err != nil {
		t.Fatal(err)
	}
	get := func() int {
		req := httptest.NewRequest("GET", "/api/v1/tenants/tok-remote/alerts", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if code := get(); code != 200 {
		t.Fatalf("fresh token: %d", code)
	}
	if _, err := cli.RevokeToken(context.Background(), op, "", rec.TokenID, "leaked"); err != nil {
		t.Fatal(err)
	}
	revokedAt := time.Now()
	for get() != 401 {
		if time.Since(revokedAt) > 10*ttl+2*time.Second {
			t.Fatalf("a revoked token is still accepted %v after the revocation (cache TTL %v)", time.Since(revokedAt), ttl)
		}
		time.Sleep(ttl / 4)
	}
}

func TestTokenDelegation(t *testing.T) {
	env := newAuthEnv(t, "tok-del", nil)
	admin := env.boot[authz.PracticeAdmin]
	cases := []struct {
		name, as, path, body string
		status               int
	}{
		{"practice admin mints reviewer", admin, "/api/v1/tenants/tok-del/tokens", `{"name":"a","role":"reviewer","expires":"10d"}`, 201},
		{"practice admin mints practice admin", admin, "/api/v1/tenants/tok-del/tokens", `{"name":"a","role":"practice_admin","expires":"10d"}`, 201},
		{"never a role above theirs", admin, "/api/v1/tenants/tok-del/tokens", `{"name":"a","role":"msp_admin","expires":"10d"}`, 403},
		{"only their own tenant", admin, "/api/v1/tenants/tok-other/tokens", `{"name":"a","role":"reviewer","expires":"10d"}`, 404},
		{"not MSP-wide", admin, "/api/v1/access/tokens", `{"name":"a","role":"reviewer","scope":{"tenants":["tok-del","tok-other"]},"expires":"10d"}`, 403},
		{"a privacy officer manages no access", env.boot[authz.PrivacyOfficer], "/api/v1/tenants/tok-del/tokens", `{"name":"a","role":"auditor","expires":"10d"}`, 403},
		{"expiry required", admin, "/api/v1/tenants/tok-del/tokens", `{"name":"a","role":"reviewer"}`, 400},
		{"at most two years", admin, "/api/v1/tenants/tok-del/tokens", `{"name":"a","role":"reviewer","expires":"1000d"}`, 400},
		{"name required", admin, "/api/v1/tenants/tok-del/tokens", `{"role":"reviewer","expires":"10d"}`, 400},
		{"unknown role", admin, "/api/v1/tenants/tok-del/tokens", `{"name":"a","role":"root","expires":"10d"}`, 400},
		{"unknown field", admin, "/api/v1/tenants/tok-del/tokens", `{"name":"a","role":"reviewer","expires":"10d","tenants":["*"]}`, 400},
		{"msp all tenants", env.boot["msp-all"], "/api/v1/access/tokens", `{"name":"fleet","role":"msp_admin","scope":{"all_tenants":true},"expires":"90d"}`, 201},
		{"all tenants only for msp_admin", env.boot["msp-all"], "/api/v1/access/tokens", `{"name":"x","role":"auditor","scope":{"all_tenants":true},"expires":"90d"}`, 400},
		{"msp several tenants", env.boot["msp-all"], "/api/v1/access/tokens", `{"name":"two","role":"auditor","scope":{"tenants":["tok-del","tok-other"]},"expires":"90d"}`, 201},
		{"msp scoped to one tenant cannot go MSP-wide", env.boot[authz.MSPAdmin], "/api/v1/access/tokens", `{"name":"x","role":"auditor","scope":{"tenants":["tok-del"]},"expires":"9d"}`, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantStatus(t, env.call(t, "POST", c.path, c.as, c.body), c.status, c.name)
		})
	}
	// The MSP-wide token sees both tenants, and nothing else.
	rec := env.call(t, "GET", "/api/v1/access/tokens", env.boot["msp-all"], "")
	wantStatus(t, rec, 200, "list all")
	var list struct {
		Items []tokenView `json:"items"`
	}
	json.Unmarshal(rec.Body.Bytes(), &list)
	found := false
	for _, it := range list.Items {
		if it.Name == "two" && it.ManagedFrom == MSPScope && len(it.Scope.Tenants) == 2 {
			found = true
		}
	}
	if !found {
		t.Fatalf("MSP listing lacks the two-tenant token: %s", rec.Body)
	}
}

func TestDelegationRules(t *testing.T) {
	pa := &authz.Principal{Subject: "pa", Role: authz.PracticeAdmin, Tenants: map[string]bool{"a": true}}
	msp := &authz.Principal{Subject: "msp", Role: authz.MSPAdmin, AllTenants: true}
	mspGroup := &authz.Principal{Subject: "mspg", Role: authz.MSPAdmin, Tenants: map[string]bool{"a": true, "b": true}}
	rev := &authz.Principal{Subject: "rev", Role: authz.Reviewer, Tenants: map[string]bool{"a": true}}
	cases := []struct {
		by    *authz.Principal
		role  authz.Role
		scope Scope
		ok    bool
	}{
		{pa, authz.Reviewer, Scope{Tenants: []string{"a"}}, true},
		{pa, authz.PrivacyOfficer, Scope{Tenants: []string{"a"}}, true},
		{pa, authz.MSPAdmin, Scope{Tenants: []string{"a"}}, false},
		{pa, authz.Reviewer, Scope{Tenants: []string{"b"}}, false},
		{pa, authz.Reviewer, Scope{Tenants: []string{"a", "b"}}, false},
		{rev, authz.Auditor, Scope{Tenants: []string{"a"}}, false},
		{msp, authz.MSPAdmin, Scope{AllTenants: true}, true},
		{msp, authz.MSPAdmin, Scope{Group: "east"}, true},
		{mspGroup, authz.Reviewer, Scope{Tenants: []string{"a", "b"}}, true},
		{mspGroup, authz.MSPAdmin, Scope{AllTenants: true}, false},
		{mspGroup, authz.MSPAdmin, Scope{Group: "east"}, false},
		{nil, authz.Auditor, Scope{Tenants: []string{"a"}}, false},
	}
	for i, c := range cases {
		err := mayDelegate(c.by, c.role, c.scope)
		if (err == nil) != c.ok {
			t.Errorf("case %d (%v hands out %s over %s): err %v, want ok=%v", i, c.by, c.role, c.scope, err, c.ok)
		}
		if err != nil && c.by != nil && c.role.Valid() && !errors.Is(err, ErrForbidden) {
			t.Errorf("case %d: refusal %v is not ErrForbidden", i, err)
		}
	}
}

func TestScopeAndExpiryParsing(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"90d", now.Add(90 * 24 * time.Hour), true},
		{"12h", now.Add(12 * time.Hour), true},
		{"2027-01-31", time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), true},
		{"", time.Time{}, false},
		{"-5d", time.Time{}, false},
		{"0d", time.Time{}, false},
		{"soon", time.Time{}, false},
	} {
		got, err := parseExpiry(c.in, now)
		if (err == nil) != c.ok || (c.ok && !got.Equal(c.want)) {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		s    Scope
		role authz.Role
		ok   bool
	}{
		{Scope{Tenants: []string{"b", "a", "a"}}, authz.Reviewer, true},
		{Scope{}, authz.Reviewer, false},
		{Scope{AllTenants: true, Tenants: []string{"a"}}, authz.MSPAdmin, false},
		{Scope{AllTenants: true}, authz.PracticeAdmin, false},
		{Scope{Group: "East Coast"}, authz.MSPAdmin, false},
		{Scope{Tenants: []string{"Bad Tenant"}}, authz.Reviewer, false},
	} {
		got, err := c.s.normalize(c.role)
		if (err == nil) != c.ok {
			t.Errorf("normalize(%+v, %s): %v, want ok=%v", c.s, c.role, err, c.ok)
		}
		if err == nil && strings.Join(got.Tenants, ",") != "a,b" {
			t.Errorf("normalize sorted/deduplicated to %v", got.Tenants)
		}
	}
	for in, want := range map[string]string{"email:Alice@Example.org": "email:alice@example.org", "sub:00u1": "sub:00u1",
		"alice@example.org": "", "email:not an address": "", "sub:": ""} {
		got, err := PrincipalKey(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("PrincipalKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestGrantsAndGroups(t *testing.T) {
	s := apiStore.Store(t)
	ctx := context.Background()
	a := NewAccess(s, AccessOptions{})
	msp := &authz.Principal{Subject: "cli:op", Role: authz.MSPAdmin, AllTenants: true}
	if _, err := a.SetGroup(ctx, msp, "grp-east", []string{"grp-a", "grp-b"}, "east coast practices"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutGrant(ctx, msp, GrantRequest{Principal: "email:tech@msp.example", Role: authz.MSPAdmin, Scope: Scope{Group: "grp-east"}, Reason: "technician"}); err != nil {
		t.Fatal(err)
	}
	p := principalOf(t, a, "email:tech@msp.example")
	if p.AllTenants || !p.CanSee("grp-a") || !p.CanSee("grp-b") || p.CanSee("grp-c") || p.Role != authz.MSPAdmin {
		t.Fatalf("group-scoped msp_admin: %+v", p)
	}
	// The group grows: the technician sees the new practice.
	if _, err := a.SetGroup(ctx, msp, "grp-east", []string{"grp-a", "grp-b", "grp-c"}, "new practice"); err != nil {
		t.Fatal(err)
	}
	if p := principalOf(t, a, "email:tech@msp.example"); !p.CanSee("grp-c") {
		t.Fatalf("after the group grew: %+v", p)
	}

	// A practice admin manages their practice's people, not the MSP's.
	pa := &authz.Principal{Subject: "pa", Role: authz.PracticeAdmin, Tenants: map[string]bool{"grp-a": true}}
	if _, err := a.PutGrant(ctx, pa, GrantRequest{Principal: "email:nurse@clinic.example", Role: authz.Reviewer, Scope: Scope{Tenants: []string{"grp-a"}},
		WorkforceIDs: map[string]string{"grp-a": "u42"}, Reason: "monthly review"}); err != nil {
		t.Fatal(err)
	}
	p = principalOf(t, a, "email:nurse@clinic.example")
	if p.Role != authz.Reviewer || !p.CanSee("grp-a") || p.CanSee("grp-b") || p.WorkforceIDs["grp-a"] != "u42" {
		t.Fatalf("reviewer grant: %+v", p)
	}
	if _, err := a.PutGrant(ctx, pa, GrantRequest{Principal: "email:tech@msp.example", Role: authz.Auditor, Scope: Scope{Tenants: []string{"grp-a"}}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("practice admin overriding the MSP's grant: %v, want a conflict", err)
	}
	if _, err := a.RevokeGrant(ctx, pa, "email:tech@msp.example", "no"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("practice admin revoking the MSP's grant: %v, want not found", err)
	}
	// A change of role is a new version of the same grant.
	if _, err := a.PutGrant(ctx, pa, GrantRequest{Principal: "email:nurse@clinic.example", Role: authz.PrivacyOfficer, Scope: Scope{Tenants: []string{"grp-a"}}, Reason: "promoted"}); err != nil {
		t.Fatal(err)
	}
	if p := principalOf(t, a, "email:nurse@clinic.example"); p.Role != authz.PrivacyOfficer {
		t.Fatalf("after promotion: %s", p.Role)
	}
	if _, err := a.RevokeGrant(ctx, pa, "email:nurse@clinic.example", "left the practice"); err != nil {
		t.Fatal(err)
	}
	if g, err := a.grantFor(ctx, "email:nurse@clinic.example"); err != nil || g != nil {
		t.Fatalf("revoked grant still found: %+v %v", g, err)
	}
	list, err := a.ListGrants(ctx, "grp-a")
	if err != nil || len(list) != 1 || !list[0].Revoked || list[0].Reason != "left the practice" {
		t.Fatalf("grants of grp-a: %+v %v", list, err)
	}
}

func principalOf(t *testing.T, a *Access, key string) *authz.Principal {
	t.Helper()
	ctx := context.Background()
	g, err := a.grantFor(ctx, key)
	if err != nil || g == nil {
		t.Fatalf("grant of %s: %v %v", key, g, err)
	}
	p, err := a.grantPrincipal(ctx, g, "iss|"+key, "", "", "oidc")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A grant given again after a revocation is in force even when this
// server's clock is behind the one that revoked it.
func TestRegrantAfterRevocationWithSkewedClock(t *testing.T) {
	s := apiStore.Store(t)
	ctx := context.Background()
	c := &clock{t: time.Now().UTC()}
	a := NewAccess(s, AccessOptions{Now: c.Now, CacheTTL: -1})
	msp := &authz.Principal{Subject: "cli:op", Role: authz.MSPAdmin, AllTenants: true}
	req := GrantRequest{Principal: "email:skew@clinic.example", Role: authz.Auditor, Scope: Scope{Tenants: []string{"skew-a"}}}
	if _, err := a.PutGrant(ctx, msp, req); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeGrant(ctx, msp, req.Principal, "audit over"); err != nil {
		t.Fatal(err)
	}
	c.Add(-time.Hour)
	if _, err := a.PutGrant(ctx, msp, req); err != nil {
		t.Fatal(err)
	}
	if g, err := a.grantFor(ctx, req.Principal); err != nil || g == nil || g.Revoked {
		t.Fatalf("re-granted access not in force: %+v %v", g, err)
	}
}
