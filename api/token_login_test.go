package api

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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiwatch/phiwatch/internal/authz"
)

// TestTokenLogin: the UI's sign-in page takes a stored API token, the
// session follows the token (its revocation ends the session), a wrong token
// or a JWT-looking string is refused, and a cross-site sign-in is refused.
func TestTokenLogin(t *testing.T) {
	s := apiStore.Store(t)
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	access := NewAccess(s, AccessOptions{Now: clk.Now, CacheTTL: time.Nanosecond})
	msp := &authz.Principal{Subject: "cli:test", Role: authz.MSPAdmin, AllTenants: true, Via: "cli"}
	tok, rec, err := access.CreateToken(ctx, msp, TokenRequest{Name: "ui-login", Role: authz.PrivacyOfficer,
		Scope: Scope{Tenants: []string{"tl-a"}}, Expires: "1d", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := NewSessions(SessionConfig{Key: NewSessionKey(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Store: s, Access: access, Sessions: sessions, TokenLogin: true, Now: clk.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := browser(t)
	post := func(token, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/login/token", strings.NewReader(url.Values{"token": {token}, "next": {"/ui/"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	// Without a session the UI sends the browser to the sign-in form.
	res, err := c.Get(srv.URL + "/ui/t/tl-a/cases/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Request.URL.Path != "/login" || !strings.Contains(string(body), `action="/login/token"`) ||
		!strings.Contains(string(body), `value="/ui/t/tl-a/cases/x"`) {
		t.Fatalf("UI without a session: %d at %s\n%s", res.StatusCode, res.Request.URL, body)
	}
	for _, bad := range []string{"phw_nonsense", "a.b.c", ""} {
		if res := post(bad, srv.URL); res.StatusCode != 401 {
			t.Errorf("token %q: %d, want 401", bad, res.StatusCode)
		}
	}
	if res := post(tok, "https://evil.example"); res.StatusCode != 403 {
		t.Errorf("cross-site sign-in: %d, want 403", res.StatusCode)
	}
	if res := post(tok, srv.URL); res.StatusCode != 200 || res.Request.URL.Path != "/ui/" {
		t.Fatalf("sign-in: %d at %s", res.StatusCode, res.Request.URL)
	}
	res, _ = c.Get(srv.URL + "/ui/t/tl-a")
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("UI after sign-in: %d", res.StatusCode)
	}
	if _, err := access.RevokeToken(ctx, msp, rec.Owner, rec.TokenID, "test: revoked"); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	res, _ = c.Get(srv.URL + "/api/v1/tenants/tl-a/alerts")
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("API by the session after the token was revoked: %d, want 401", res.StatusCode)
	}
}
