package api

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/store"
)

// fakeStore answers every statement with no rows: the fuzz targets test
// request parsing, not the engine, and run without libchdb.
type fakeStore struct{}

func (*fakeStore) Exec(context.Context, string, store.Params) error        { return nil }
func (*fakeStore) Select(context.Context, any, string, store.Params) error { return nil }
func (*fakeStore) Database() string                                        { return "fuzz" }
func (*fakeStore) Ping(context.Context) error                              { return nil }

const fuzzTenant = "fuzz-t"

// checkAnswer: only 2xx and 4xx, and every error a problem detail.
func checkAnswer(t *testing.T, what string, code int, contentType, body string) {
	t.Helper()
	if code >= 500 || code < 200 {
		t.Fatalf("%s: status %d: %.300s", what, code, body)
	}
	if code >= 400 && !strings.HasPrefix(contentType, "application/problem+json") {
		t.Fatalf("%s: %d without a problem detail (%s): %.300s", what, code, contentType, body)
	}
}

// FuzzListQuery throws arbitrary query strings (time range, paging,
// filters) at every list endpoint.
func FuzzListQuery(f *testing.F) {
	env := newSecEnv(f, &fakeStore{}, fuzzTenant, nil)
	paths := []string{"/alerts", "/events", "/cases", "/audit", "/audit/export"}
	for _, q := range []string{"", "limit=10&offset=5", "from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z", "severity=high&rule=x",
		"actor=u1", "patient=pr_0123456789abcdef01234567", "status=open", "limit=-1", "offset=99999999999999999999",
		"from=2026-13-01T00:00:00Z", "actor=%00%ff", "action=phi.reveal&actor=token:a", "to=0001-01-01T00:00:00Z", "limit=100000"} {
		for i := range paths {
			f.Add(uint8(i), q)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, rawQuery string) {
		// The raw query goes in as the server would hand it over, unparsed
		// (httptest.NewRequest would refuse a space in it).
		req := httptest.NewRequest("GET", "/api/v1/tenants/"+fuzzTenant+paths[int(which)%len(paths)], nil)
		req.URL.RawQuery = rawQuery
		req.Header.Set("Authorization", "Bearer "+env.tokens[authz.PrivacyOfficer])
		rec := httptest.NewRecorder()
		env.h.ServeHTTP(rec, req)
		checkAnswer(t, req.URL.String(), rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	})
}

// FuzzRevealBody throws arbitrary patients and bodies at the reveal.
func FuzzRevealBody(f *testing.F) {
	env := newSecEnv(f, &fakeStore{}, fuzzTenant, nil)
	for _, b := range []string{`{"reason":"checking case 4"}`, `{}`, `{"reason":1}`, `[]`, `null`, `{"reason":"x","a":1}`,
		`{"reason":"` + strings.Repeat("é", 2000) + `"}`, "\xff", `{"reason":"ok"} {}`} {
		f.Add("pat-0001", []byte(b))
		f.Add("pr_0123456789abcdef01234567", []byte(b))
	}
	f.Fuzz(func(t *testing.T, patient string, body []byte) {
		path := "/api/v1/tenants/" + fuzzTenant + "/patients/" + url.PathEscape(patient) + "/reveal"
		rec := env.do(t, "POST", path, authz.Reviewer, string(body))
		checkAnswer(t, "reveal "+path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		if rec.Code == 200 {
			t.Fatalf("revealed a patient from an empty store: %s", rec.Body)
		}
	})
}

// FuzzRouteBodies throws arbitrary JSON bodies at every state-changing
// tenant route the router registers (all features mounted), as an
// msp_admin, who holds every permission.
func FuzzRouteBodies(f *testing.F) {
	env := newSecEnv(f, &fakeStore{}, fuzzTenant, nil)
	var targets []string
	for _, r := range registeredRoutes(f, env.h) {
		if r.Method != "GET" && r.Method != "HEAD" && isTenantRoute(r.Path) {
			targets = append(targets, r.Method+" "+concrete(r.Path, fuzzTenant))
		}
	}
	if len(targets) == 0 {
		f.Fatal("no state-changing tenant routes registered")
	}
	for i := range targets {
		// Few seeds per route, so that 10 s of fuzzing gets past the
		// baseline; the mutator finds the rest.
		for _, b := range []string{`{"reason":"because","decision":"appropriate"}`, `[1,{"a":null}]`} {
			f.Add(uint8(i), []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		method, path, _ := strings.Cut(targets[int(which)%len(targets)], " ")
		rec := env.do(t, method, path, authz.MSPAdmin, string(body))
		checkAnswer(t, method+" "+path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	})
}
