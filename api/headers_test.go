package api

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/authz"
)

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	env := newAuthEnv(t, "hdr-a", nil)
	for _, c := range []struct {
		name, path, token string
		status            int
	}{
		{"data", "/api/v1/tenants/hdr-a/alerts", env.boot[authz.Reviewer], 200},
		{"unauthenticated", "/api/v1/tenants/hdr-a/alerts", "", 401},
		{"other tenant", "/api/v1/tenants/hdr-b/alerts", env.boot[authz.Reviewer], 404},
		{"no such endpoint", "/nope", "", 404},
	} {
		rec := env.call(t, "GET", c.path, c.token, "")
		if rec.Code != c.status {
			t.Fatalf("%s: status %d, want %d", c.name, rec.Code, c.status)
		}
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", c.name, csp)
		}
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Referrer-Policy": "same-origin", "Cache-Control": "no-store"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", c.name, k, got, want)
			}
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP", c.name)
		}
	}
	// Over TLS (and with HSTS configured for a TLS proxy) HSTS is sent.
	srv := httptest.NewTLSServer(SecurityHeaders(env.h, false))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/v1/tenants/hdr-a/alerts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("HSTS over TLS: %q", resp.Header.Get("Strict-Transport-Security"))
	}
	proxied := newAuthEnv(t, "hdr-a", func(c *Config) { c.HSTS = true })
	if rec := proxied.call(t, "GET", "/nope", "", ""); rec.Header().Get("Strict-Transport-Security") == "" {
		t.Fatal("HSTS behind a TLS proxy")
	}
}

func TestBodyLimit(t *testing.T) {
	env := newAuthEnv(t, "body-a", func(c *Config) { c.MaxBodyBytes = 1024 })
	admin := env.boot[authz.PracticeAdmin]
	big := `{"name":"` + strings.Repeat("x", 2000) + `","role":"reviewer","expires":"1d"}`
	rec := env.call(t, "POST", "/api/v1/tenants/body-a/tokens", admin, big)
	wantStatus(t, rec, 413, "declared length over the limit")

	// Without a declared length (chunked), the same answer.
	req := httptest.NewRequest("POST", "/api/v1/tenants/body-a/tokens", io.NopCloser(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+admin)
	w := httptest.NewRecorder()
	env.h.ServeHTTP(w, req)
	wantStatus(t, w, 413, "chunked body over the limit")

	// Under the limit it goes through.
	req = httptest.NewRequest("POST", "/api/v1/tenants/body-a/tokens", io.NopCloser(strings.NewReader(`{"name":"ok","role":"reviewer","expires":"1d"}`)))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+admin)
	w = httptest.NewRecorder()
	env.h.ServeHTTP(w, req)
	wantStatus(t, w, 201, "small chunked body")
}

func TestRateLimitPerPrincipal(t *testing.T) {
	env := newAuthEnv(t, "rate-a", func(c *Config) { c.RateLimit = RateLimit{Rate: 1, Burst: 3} })
	rev, aud := env.boot[authz.Reviewer], env.boot[authz.Auditor]
	for range 3 {
		wantStatus(t, env.call(t, "GET", "/api/v1/tenants/rate-a/alerts", rev, ""), 200, "within the burst")
	}
	rec := env.call(t, "GET", "/api/v1/tenants/rate-a/alerts", rev, "")
	wantStatus(t, rec, 429, "over the burst")
	if rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1 (one token a second)", rec.Header().Get("Retry-After"))
	}
	// Another principal has a bucket of its own.
	wantStatus(t, env.call(t, "GET", "/api/v1/tenants/rate-a/alerts", aud, ""), 200, "another caller")
	// The bucket refills with time.
	env.clock.Add(time.Second)
	wantStatus(t, env.call(t, "GET", "/api/v1/tenants/rate-a/alerts", rev, ""), 200, "after a second")
}

func TestLimiter(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	l := newLimiter(RateLimit{Rate: 2, Burst: 2}, c.Now)
	for i, want := range []bool{true, true, false} {
		if ok, _ := l.allow("k"); ok != want {
			t.Fatalf("request %d: allowed %v, want %v", i, ok, want)
		}
	}
	_, wait := l.allow("k")
	if wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("wait %v, want up to 0.5 s at 2/s", wait)
	}
	c.Add(500 * time.Millisecond)
	if ok, _ := l.allow("k"); !ok {
		t.Fatal("refused after the refill")
	}
	// Idle buckets are dropped, and a dropped bucket starts full.
	c.Add(time.Hour)
	l.allow("other")
	if _, kept := l.buckets["k"]; kept {
		t.Fatal("idle bucket kept")
	}
	if newLimiter(RateLimit{}, c.Now) != nil {
		t.Fatal("a zero rate must turn the limit off")
	}
}

// X-Forwarded-For is believed only from configured proxies: a client
// cannot pick the address its rate limit and audit entries are keyed by.
// Seen through the limiter of failed logins, which is keyed by address.
func TestForwardedForNeedsTrustedProxy(t *testing.T) {
	for _, c := range []struct {
		proxies []string
		spoofed bool // whether the header's address is used
	}{
		{nil, false},
		{[]string{"192.0.2.0/24"}, true},
	} {
		env := newAuthEnv(t, "xff-a", func(cfg *Config) {
			cfg.TrustedProxies = c.proxies
			cfg.RateLimit = RateLimit{Rate: 0.001, Burst: 1}
		})
		fail := func(xff string) int {
			req := httptest.NewRequest("GET", "/api/v1/me", nil)
			req.RemoteAddr = "192.0.2.10:5555"
			req.Header.Set("X-Forwarded-For", xff)
			req.Header.Set("Authorization", "Bearer wrong-token")
			rec := httptest.NewRecorder()
			env.h.ServeHTTP(rec, req)
			return rec.Code
		}
		// Two failures from "different" forwarded addresses: with a trusted
		// proxy they are two clients (401, 401); without, one (401, 429).
		first, second := fail("203.0.113.7"), fail("203.0.113.8")
		if first != 401 || (c.spoofed && second != 401) || (!c.spoofed && second != 429) {
			t.Fatalf("proxies %v: statuses %d, %d", c.proxies, first, second)
		}
	}
}
