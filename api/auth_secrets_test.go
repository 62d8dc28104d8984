package api

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/phiwatch/phiwatch/internal/authz"
)

// Secrets never reach the log: run token creation, use, revocation, a
// login, bearer JWTs (good and bad) and a panic with debug logging on,
// then look for every secret in what was logged.
func TestSecretsNeverLogged(t *testing.T) {
	env := newAuthEnv(t, "sec-a", nil)
	admin := env.boot[authz.PracticeAdmin]
	secret, id := env.mint(t, admin, "sec-a", `{"name":"n","role":"reviewer","expires":"1d"}`)
	env.call(t, "GET", "/api/v1/tenants/sec-a/alerts", secret, "")
	env.call(t, "GET", "/api/v1/tenants/sec-a/alerts", secret+"x", "")
	env.call(t, "POST", "/api/v1/tenants/sec-a/tokens/"+id+"/revoke", admin, `{"reason":"r"}`)
	env.call(t, "GET", "/api/v1/tenants/sec-a/alerts", secret, "")
	h := tokenHash(secret)
	tokenSecrets := []string{secret, strings.TrimPrefix(secret, TokenPrefix), hexOf(h[:]), admin}
	if !strings.Contains(env.logBuf.String(), id) {
		t.Fatalf("the token's creation is not logged at all (by id): %s", env.logBuf.String())
	}
	assertNotLogged(t, env.logBuf.String(), tokenSecrets)

	o := newOIDCEnv(t)
	o.iss.User = map[string]any{"sub": "u-alice", "email": "alice@clinic.example", "email_verified": true}
	b := browser(t)
	resp, err := b.Get(o.srv.URL + "/login?next=/api/v1/me")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %v %v", resp, err)
	}
	me := readAll(t, resp)
	u, _ := url.Parse(o.srv.URL)
	var oidcSecrets []string
	for _, c := range b.Jar.Cookies(u) {
		oidcSecrets = append(oidcSecrets, c.Value)
	}
	if len(oidcSecrets) == 0 {
		t.Fatal("no session cookie")
	}
	csrf := me[strings.Index(me, `"csrf_token":"`)+len(`"csrf_token":"`):]
	csrf = csrf[:strings.IndexByte(csrf, '"')]
	good := o.iss.sign(o.iss.claims(map[string]any{"sub": "u-alice", "email": "alice@clinic.example", "email_verified": true}), o.iss.key)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	bad := o.iss.sign(o.iss.claims(map[string]any{"sub": "u-alice"}), other)
	for _, tok := range []string{good, bad, tamper(good)} {
		o.get(t, "/api/v1/me", tok)
	}
	req, _ := http.NewRequest("POST", o.srv.URL+"/logout", nil)
	req.Header.Set(CSRFHeader, csrf)
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if resp, err := b.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %v %v", resp, err)
	}
	parts := strings.Split(good, ".")
	oidcSecrets = append(oidcSecrets, o.iss.secret, csrf, good, bad, parts[1], parts[2])
	logged := o.logBuf.String()
	if !strings.Contains(logged, `"msg":"login"`) {
		t.Fatalf("the login is not logged: %s", logged)
	}
	assertNotLogged(t, logged, oidcSecrets)
}

func assertNotLogged(t *testing.T, logged string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(logged, s) {
			t.Errorf("a secret (%.6s…) appears in the log:\n%s", s, logged)
		}
	}
}
