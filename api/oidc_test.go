package api

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/store"
)

// testIssuer is a local OpenID Connect provider: discovery, JWKS, an
// authorize endpoint that signs in User without asking, and a token
// endpoint that checks the PKCE verifier.
type testIssuer struct {
	srv      *httptest.Server
	key      *rsa.PrivateKey
	kid      string
	clientID string
	secret   string

	mu    sync.Mutex
	User  map[string]any // claims of who the authorize endpoint signs in
	codes map[string]issuedCode
	now   func() time.Time
}

type issuedCode struct {
	nonce, challenge, redirect string
}

const testClientID = "phiwatch-test"

func newTestIssuer(t testing.TB, now func() time.Time) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := &testIssuer{key: key, kid: "k1", clientID: testClientID, secret: "client-secret-do-not-log", codes: map[string]issuedCode{}, now: now}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss.srv.URL, "authorization_endpoint": iss.srv.URL + "/authorize", "token_endpoint": iss.srv.URL + "/token",
			"jwks_uri": iss.srv.URL + "/jwks", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: iss.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/authorize", iss.authorize)
	mux.HandleFunc("/token", iss.token)
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	return iss
}

func (iss *testIssuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != iss.clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" || !strings.Contains(q.Get("scope"), "openid") {
		http.Error(w, "bad authorization request: "+r.URL.RawQuery, 400)
		return
	}
	code := randomString(16)
	iss.mu.Lock()
	iss.codes[code] = issuedCode{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	iss.mu.Unlock()
	u, _ := url.Parse(q.Get("redirect_uri"))
	v := u.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (iss *testIssuer) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	iss.mu.Lock()
	c, found := iss.codes[r.PostForm.Get("code")]
	delete(iss.codes, r.PostForm.Get("code"))
	iss.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case id != iss.clientID || secret != iss.secret:
		http.Error(w, `{"error":"invalid_client"}`, 401)
		return
	case !found || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("redirect_uri") != c.redirect:
		http.Error(w, `{"error":"invalid_grant"}`, 400)
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
		http.Error(w, `{"error":"invalid_grant","error_description":"PKCE verifier"}`, 400)
		return
	}
	claims := iss.claims(nil)
	claims["nonce"] = c.nonce
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": "opaque-access-token", "token_type": "Bearer", "expires_in": 3600,
		"id_token": iss.sign(claims, iss.key)})
}

// claims are User's claims for a token valid now, with changes applied.
func (iss *testIssuer) claims(change map[string]any) map[string]any {
	now := iss.now()
	c := map[string]any{"iss": iss.srv.URL, "aud": iss.clientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	iss.mu.Lock()
	for k, v := range iss.User {
		c[k] = v
	}
	iss.mu.Unlock()
	for k, v := range change {
		c[k] = v
	}
	return c
}

func (iss *testIssuer) sign(claims map[string]any, key *rsa.PrivateKey) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: iss.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

// oidcEnv is an API server (a real listener, so a browser-like client
// can follow redirects and keep cookies) with OIDC against a testIssuer.
type oidcEnv struct {
	iss    *testIssuer
	srv    *httptest.Server
	access *Access
	clock  *clock
	logBuf *syncBuffer
	s      store.Store
	oidc   *OIDC
}

func newOIDCEnv(t testing.TB) *oidcEnv {
	t.Helper()
	s := apiStore.Store(t)
	env := &oidcEnv{clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, logBuf: &syncBuffer{}, s: s}
	env.iss = newTestIssuer(t, env.clock.Now)
	var h http.Handler
	env.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(env.srv.Close)
	ctx := context.Background()
	o, err := NewOIDC(ctx, OIDCConfig{IssuerURL: env.iss.srv.URL, ClientID: testClientID, ClientSecret: env.iss.secret,
		RedirectURL: env.srv.URL + "/auth/callback", Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	env.oidc = o
	sess, err := NewSessions(SessionConfig{Key: NewSessionKey(), TTL: time.Hour, Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	env.access = NewAccess(s, AccessOptions{Now: env.clock.Now})
	log := slog.New(slog.NewJSONHandler(env.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err = New(Config{Store: s, Access: env.access, OIDC: o, Sessions: sess, Log: log, Registry: prometheus.NewRegistry(), Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	msp := &authz.Principal{Subject: "cli:test", Role: authz.MSPAdmin, AllTenants: true}
	for _, g := range []GrantRequest{
		{Principal: "email:alice@clinic.example", Role: authz.Reviewer, Scope: Scope{Tenants: []string{"oidc-a"}}, Reason: "reviewer"},
		{Principal: "sub:admin-1", Role: authz.PracticeAdmin, Scope: Scope{Tenants: []string{"oidc-a"}}, Reason: "practice admin"},
	} {
		if _, err := env.access.PutGrant(ctx, msp, g); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

func (e *oidcEnv) get(t *testing.T, path, bearer string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOIDCBearerTokens(t *testing.T) {
	env := newOIDCEnv(t)
	iss := env.iss
	alice := map[string]any{"sub": "u-alice", "email": "Alice@Clinic.example", "email_verified": true, "name": "Alice Ng"}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(change map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range alice {
			m[k] = v
		}
		for k, v := range change {
			m[k] = v
		}
		return iss.claims(m)
	}
	now := env.clock.Now()
	cases := []struct {
		name   string
		token  string
		path   string
		status int
		detail string
	}{
		{"valid token", iss.sign(with(nil), iss.key), "/api/v1/tenants/oidc-a/alerts", 200, ""},
		{"valid token, other tenant", iss.sign(with(nil), iss.key), "/api/v1/tenants/oidc-b/alerts", 404, ""},
		{"valid token, role lacks permission", iss.sign(with(nil), iss.key), "/api/v1/tenants/oidc-a/tokens", 403, "does not allow"},
		{"grant by subject", iss.sign(iss.claims(map[string]any{"sub": "admin-1"}), iss.key), "/api/v1/tenants/oidc-a/tokens", 200, ""},
		{"wrong issuer", iss.sign(with(map[string]any{"iss": "https://evil.example"}), iss.key), "/api/v1/tenants/oidc-a/alerts", 401, "not valid"},
		{"wrong audience", iss.sign(with(map[string]any{"aud": "another-app"}), iss.key), "/api/v1/tenants/oidc-a/alerts", 401, "not valid"},
		{"expired", iss.sign(with(map[string]any{"exp": now.Add(-time.Minute).Unix(), "iat": now.Add(-time.Hour).Unix()}), iss.key), "/api/v1/tenants/oidc-a/alerts", 401, "expired"},
		{"bad signature", iss.sign(with(nil), other), "/api/v1/tenants/oidc-a/alerts", 401, "not valid"},
		{"tampered payload", tamper(iss.sign(with(nil), iss.key)), "/api/v1/tenants/oidc-a/alerts", 401, "not valid"},
		{"unknown user", iss.sign(with(map[string]any{"sub": "u-mallory", "email": "mallory@clinic.example"}), iss.key), "/api/v1/tenants/oidc-a/alerts", 403, "grants you no role"},
		{"unverified email", iss.sign(with(map[string]any{"email_verified": false}), iss.key), "/api/v1/tenants/oidc-a/alerts", 403, "grants you no role"},
		{"no token", "", "/api/v1/tenants/oidc-a/alerts", 401, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := env.get(t, c.path, c.token)
			body := readAll(t, resp)
			if resp.StatusCode != c.status || !strings.Contains(body, c.detail) {
				t.Fatalf("status %d, want %d with %q: %s", resp.StatusCode, c.status, c.detail, body)
			}
		})
	}
	resp := env.get(t, "/api/v1/me", iss.sign(with(nil), iss.key))
	var me struct {
		Subject string     `json:"subject"`
		Role    authz.Role `json:"role"`
		Via     string     `json:"via"`
		Tenants []string   `json:"tenants"`
	}
	json.NewDecoder(resp.Body).Decode(&me)
	if me.Subject != iss.srv.URL+"|u-alice" || me.Role != authz.Reviewer || me.Via != "oidc" || len(me.Tenants) != 1 || me.Tenants[0] != "oidc-a" {
		t.Fatalf("/me for alice: %+v", me)
	}
}

// tamper changes the payload of a JWS but keeps its signature.
func tamper(jwt string) string {
	parts := strings.Split(jwt, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	json.Unmarshal(payload, &m)
	m["sub"] = "admin-1"
	b, _ := json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// browser is a client with a cookie jar that follows redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func TestBrowserLoginSessionCSRFLogout(t *testing.T) {
	env := newOIDCEnv(t)
	env.iss.User = map[string]any{"sub": "u-alice", "email": "alice@clinic.example", "email_verified": true, "name": "Alice Ng"}
	b := browser(t)

	// Login: /login → issuer (auto-approves) → /auth/callback → next.
	resp, err := b.Get(env.srv.URL + "/login?next=/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/api/v1/me" {
		t.Fatalf("login ended at %s with %d: %s", resp.Request.URL, resp.StatusCode, body)
	}
	var me struct {
		Role authz.Role `json:"role"`
		Via  string     `json:"via"`
		CSRF string     `json:"csrf_token"`
	}
	json.Unmarshal([]byte(body), &me)
	if me.Role != authz.Reviewer || me.Via != "session" || me.CSRF == "" {
		t.Fatalf("/me after login: %s", body)
	}
	u, _ := url.Parse(env.srv.URL)
	var sessionCookie *http.Cookie
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == sessionCookie_(false) {
			sessionCookie = c
		}
	}
	if sessionCookie == nil {
		t.Fatal("no session cookie after login")
	}
	// The cookie's attributes, as the server set them.
	resp = loginResponse(t, env)
	setCookie := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
	if !strings.Contains(setCookie, "HttpOnly") || !strings.Contains(setCookie, "SameSite=Lax") {
		t.Fatalf("session cookie attributes: %s", setCookie)
	}
	if rows := auditActions(t, env.s, "login"); rows == 0 {
		t.Fatal("the login is not in the audit trail")
	}

	// CSRF: a state change with the session cookie needs the token and a same-site Origin.
	post := func(path, origin, token string) (int, string) {
		req, _ := http.NewRequest("POST", env.srv.URL+path, strings.NewReader(`{"principal":"email:x@clinic.example","reason":"r"}`))
		req.Header.Set("Content-Type", "application/json")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if token != "" {
			req.Header.Set(CSRFHeader, token)
		}
		b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		defer func() { b.CheckRedirect = nil }()
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, readAll(t, resp)
	}
	grants := "/api/v1/tenants/oidc-a/grants/revoke"
	if code, body := post(grants, "", ""); code != 403 || !strings.Contains(body, "CSRF") {
		t.Fatalf("no CSRF token: %d %s", code, body)
	}
	if code, body := post(grants, "", "forged"); code != 403 || !strings.Contains(body, "CSRF") {
		t.Fatalf("wrong CSRF token: %d %s", code, body)
	}
	if code, body := post(grants, "https://evil.example", me.CSRF); code != 403 || !strings.Contains(body, "cross-site") {
		t.Fatalf("cross-site Origin: %d %s", code, body)
	}
	// With the token and this site's Origin the request passes CSRF and
	// meets the route's permission check (a reviewer manages no access).
	if code, body := post(grants, env.srv.URL, me.CSRF); code != 403 || !strings.Contains(body, "does not allow") {
		t.Fatalf("valid CSRF token: %d %s", code, body)
	}
	if code, _ := post("/logout", env.srv.URL, ""); code != 403 {
		t.Fatalf("logout without CSRF token: %d", code)
	}

	// Logout ends the session, even for a copy of the cookie.
	if code, _ := post("/logout", env.srv.URL, me.CSRF); code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}
	if resp, _ := b.Get(env.srv.URL + "/api/v1/me"); resp.StatusCode != 401 {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", env.srv.URL+"/api/v1/me", nil)
	req.AddCookie(sessionCookie)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 401 {
		t.Fatalf("replayed cookie after logout: %d", resp.StatusCode)
	}
	if rows := auditActions(t, env.s, "logout"); rows == 0 {
		t.Fatal("the logout is not in the audit trail")
	}
}

func sessionCookie_(secure bool) string {
	if secure {
		return "__Host-" + sessionCookie
	}
	return sessionCookie
}

// loginResponse runs a login by hand and returns the callback's response.
func loginResponse(t *testing.T, env *oidcEnv) *http.Response {
	t.Helper()
	b := browser(t)
	b.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/auth/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := b.Get(env.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location") // the issuer's redirect to the callback
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = b.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	return resp
}

func auditActions(t *testing.T, s store.Store, action string) int {
	t.Helper()
	var out []struct {
		N uint64 `json:"n"`
	}
	if err := s.Select(context.Background(), &out, "SELECT count() AS n FROM "+s.Database()+".audit_log WHERE action = {a:String} AND subject LIKE 'http%|u-alice'",
		store.Params{"a": action}); err != nil {
		t.Fatal(err)
	}
	return int(out[0].N)
}

func TestLoginRefusals(t *testing.T) {
	env := newOIDCEnv(t)
	// A person the issuer knows but phiwatch grants nothing.
	env.iss.User = map[string]any{"sub": "u-nobody", "email": "nobody@clinic.example", "email_verified": true}
	resp, err := browser(t).Get(env.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 403 || !strings.Contains(body, "nobody@clinic.example") {
		t.Fatalf("login without a grant: %d %s", resp.StatusCode, body)
	}
	// A callback without the login's state cookie, or with another state.
	resp = env.get(t, "/auth/callback?code=x&state=y", "")
	if resp.StatusCode != 400 {
		t.Fatalf("callback without a login: %d", resp.StatusCode)
	}
	b := browser(t)
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if resp, err = b.Get(env.srv.URL + "/login"); err != nil {
		t.Fatal(err)
	}
	resp, err = b.Get(env.srv.URL + "/auth/callback?code=x&state=forged")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Fatalf("forged state: %d", resp.StatusCode)
	}
	// Open redirects are refused.
	for in, want := range map[string]string{"/ui/t/a": "/ui/t/a", "//evil.example": "/", "https://evil.example": "/", "/\\evil.example": "/", "": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSessionExpiresServerSide(t *testing.T) {
	env := newOIDCEnv(t)
	env.iss.User = map[string]any{"sub": "u-alice", "email": "alice@clinic.example", "email_verified": true}
	b := browser(t)
	if resp, err := b.Get(env.srv.URL + "/login?next=/api/v1/me"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %v %v", resp, err)
	}
	env.clock.Add(time.Hour + time.Second) // the session TTL
	if resp, _ := b.Get(env.srv.URL + "/api/v1/me"); resp.StatusCode != 401 {
		t.Fatalf("expired session: %d", resp.StatusCode)
	}
}

// A revoked grant ends a logged-in person's access (after the cache TTL;
// at once when revoked through the same server).
func TestGrantRevocationEndsSessionAccess(t *testing.T) {
	env := newOIDCEnv(t)
	env.iss.User = map[string]any{"sub": "u-alice", "email": "alice@clinic.example", "email_verified": true}
	b := browser(t)
	if resp, err := b.Get(env.srv.URL + "/login?next=/api/v1/tenants/oidc-a/alerts"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %v %v", resp, err)
	}
	msp := &authz.Principal{Subject: "cli:test", Role: authz.MSPAdmin, AllTenants: true}
	if _, err := env.access.RevokeGrant(context.Background(), msp, "email:alice@clinic.example", "left"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.Get(env.srv.URL + "/api/v1/tenants/oidc-a/alerts"); resp.StatusCode != 403 {
		t.Fatalf("after the grant was revoked: %d", resp.StatusCode)
	}
}

// RequireSession, as the UI's pages use it: to the login without a
// session, the principal and CSRF token with one, CSRF-checked changes.
func TestRequireSession(t *testing.T) {
	env := newOIDCEnv(t)
	sess, err := NewSessions(SessionConfig{Key: NewSessionKey(), TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a := &authenticator{access: env.access, sessions: sess, oidc: &OIDC{}, log: discardLog(), now: time.Now}
	r := gin.New()
	page := func(c *gin.Context) {
		c.String(200, "%s %s %s", route.Principal(c).Role, CSRFToken(c), CSRFField(c))
	}
	r.GET("/ui/page", a.RequireSession(), page)
	r.POST("/ui/page", a.RequireSession(), page)
	do := func(method, path string, cookie *http.Cookie, form url.Values) *httptest.ResponseRecorder {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req := httptest.NewRequest(method, path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}
	if w := do("GET", "/ui/page?x=1", nil, nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?next=%2Fui%2Fpage%3Fx%3D1" {
		t.Fatalf("no session, GET: %d %s", w.Code, w.Header().Get("Location"))
	}
	if w := do("POST", "/ui/page", nil, url.Values{}); w.Code != 401 {
		t.Fatalf("no session, POST: %d", w.Code)
	}
	// A session for alice (a reviewer of oidc-a).
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest("GET", "/", nil)
	if err := sess.start(c, identity{Issuer: "https://idp", Subject: "u-alice", Email: "alice@clinic.example", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	cookie := w.Result().Cookies()[0]
	w = do("GET", "/ui/page", cookie, nil)
	fields := strings.Fields(w.Body.String())
	if w.Code != 200 || fields[0] != "reviewer" || len(fields[1]) < 40 || !strings.Contains(w.Body.String(), `name="csrf_token"`) {
		t.Fatalf("with a session: %d %s", w.Code, w.Body)
	}
	token := fields[1]
	if w := do("POST", "/ui/page", cookie, url.Values{"decision": {"ok"}}); w.Code != 403 {
		t.Fatalf("form without CSRF token: %d", w.Code)
	}
	if w := do("POST", "/ui/page", cookie, url.Values{"decision": {"ok"}, CSRFFormField: {token}}); w.Code != 200 {
		t.Fatalf("form with CSRF token: %d %s", w.Code, w.Body)
	}
}
