package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"

	"github.com/phiwatch/phiwatch/internal/audit"
)

// OIDCConfig configures single sign-on against one OpenID Connect issuer.
type OIDCConfig struct {
	IssuerURL    string // e.g. https://login.example.org/realms/msp
	ClientID     string
	ClientSecret string // empty for a public client (PKCE only)
	// RedirectURL is this server's /auth/callback as the browser reaches
	// it, e.g. https://phiwatch.example.org/auth/callback.
	RedirectURL string
	// Audience is the aud an API bearer token must carry (default ClientID).
	Audience string
	// Scopes asked for at login (default openid, email, profile).
	Scopes []string
	// AllowUnverifiedEmail matches grants by email even when the issuer
	// does not say the address is verified (email_verified absent or
	// false). Only for issuers that verify every address but omit the claim.
	AllowUnverifiedEmail bool
	// HTTPClient reaches the issuer (default http.DefaultClient).
	HTTPClient *http.Client
	Now        func() time.Time
}

// OIDC validates tokens of one issuer and runs the browser login.
type OIDC struct {
	cfg    OIDCConfig
	login  *oidc.IDTokenVerifier // ID tokens from the code flow: aud = client id
	bearer *oidc.IDTokenVerifier // API bearer tokens: aud = Audience
	oauth  oauth2.Config
}

// NewOIDC discovers the issuer (its /.well-known/openid-configuration) and
// prepares the verifiers; keys are fetched from its JWKS when needed.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if cfg.IssuerURL == "" || cfg.ClientID == "" {
		return nil, errors.New("OIDC needs an issuer URL and a client id")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.ClientID
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// The key set outlives the start-up context: it refreshes keys later.
	cctx := oidc.ClientContext(context.WithoutCancel(ctx), cfg.HTTPClient)
	dctx, cancel := context.WithTimeout(cctx, 30*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, cfg.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("OIDC discovery at %s: %w", cfg.IssuerURL, err)
	}
	o := &OIDC{cfg: cfg}
	o.login = p.VerifierContext(cctx, &oidc.Config{ClientID: cfg.ClientID, Now: cfg.Now})
	o.bearer = o.login
	if cfg.Audience != cfg.ClientID {
		o.bearer = p.VerifierContext(cctx, &oidc.Config{ClientID: cfg.Audience, Now: cfg.Now})
	}
	o.oauth = oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: cfg.Scopes}
	return o, nil
}

// identity is who a verified token says the caller is.
type identity struct {
	Issuer        string `json:"iss"`
	Subject       string `json:"sub"`
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"ev,omitempty"`
	Name          string `json:"name,omitempty"`
}

// keys are the grant principals that may match, strongest first.
func (id identity) keys(allowUnverified bool) []string {
	keys := []string{"sub:" + id.Subject}
	if id.Email != "" && (id.EmailVerified || allowUnverified) {
		keys = append(keys, "email:"+strings.ToLower(id.Email))
	}
	return keys
}

// subject is the principal's stable id, "<issuer>|<sub>".
func (id identity) subject() string { return id.Issuer + "|" + id.Subject }

func identityOf(t *oidc.IDToken) (identity, error) {
	var c struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"` // some issuers send "true"
		Name          string `json:"name"`
		Preferred     string `json:"preferred_username"`
	}
	if err := t.Claims(&c); err != nil {
		return identity{}, fmt.Errorf("read token claims: %w", err)
	}
	id := identity{Issuer: t.Issuer, Subject: t.Subject, Email: c.Email, Name: c.Name}
	switch v := c.EmailVerified.(type) {
	case bool:
		id.EmailVerified = v
	case string:
		id.EmailVerified = v == "true"
	}
	if id.Name == "" {
		id.Name = c.Preferred
	}
	if id.Subject == "" {
		return identity{}, errors.New("token has no sub claim")
	}
	return id, nil
}

// verifyBearer validates an API bearer JWT: signature against the
// issuer's JWKS, issuer, audience and expiry.
func (o *OIDC) verifyBearer(ctx context.Context, raw string) (identity, error) {
	t, err := o.bearer.Verify(ctx, raw)
	if err != nil {
		return identity{}, err
	}
	return identityOf(t)
}

// looksLikeJWT tells a compact JWS (three dot-separated parts) from an
// opaque token.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 && len(s) < 16<<10 }

// loginFlow is what the browser carries (encrypted) between /login and
// /auth/callback.
type loginFlow struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Next     string `json:"next"`
	Expires  int64  `json:"exp"`
}

const loginFlowTTL = 10 * time.Minute

// safeNext keeps a post-login redirect on this site: a local absolute
// path, never //host or /\host.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\\") || len(next) > 1024 {
		return "/"
	}
	return next
}

// handleLogin starts the authorization code flow with PKCE, state and nonce.
func (a *authenticator) handleLogin(c *gin.Context) {
	o := a.oidc
	f := loginFlow{State: randomString(32), Nonce: randomString(32), Verifier: oauth2.GenerateVerifier(),
		Next: safeNext(c.Query("next")), Expires: a.now().Add(loginFlowTTL).Unix()}
	if err := a.sessions.writeFlow(c, f); err != nil {
		a.log.Error("start login", "err", err)
		problem(c, 500, "the login could not be started; the error is in the server log")
		return
	}
	c.Redirect(http.StatusFound, o.oauth.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)))
}

// handleCallback finishes the login: checks state, exchanges the code with
// the PKCE verifier, verifies the ID token and its nonce, finds the
// person's grant and starts a session.
func (a *authenticator) handleCallback(c *gin.Context) {
	ctx := c.Request.Context()
	f, ok := a.sessions.readFlow(c)
	a.sessions.clearFlow(c)
	if !ok || a.now().Unix() > f.Expires {
		problem(c, 400, "this login expired or was not started here; start again at /login")
		return
	}
	if subtle.ConstantTimeCompare([]byte(c.Query("state")), []byte(f.State)) != 1 {
		a.audit(c, nil, audit.ActionLoginFailed, "", "state mismatch")
		problem(c, 400, "the login state does not match; start again at /login")
		return
	}
	if e := c.Query("error"); e != "" {
		a.audit(c, nil, audit.ActionLoginFailed, "", "issuer refused: "+truncate(e, 64))
		problem(c, 401, "the identity provider refused the login ("+truncate(e, 64)+")")
		return
	}
	code := c.Query("code")
	if code == "" {
		problem(c, 400, "the callback has no code; start again at /login")
		return
	}
	tok, err := a.oidc.oauth.Exchange(oidc.ClientContext(ctx, a.oidc.cfg.HTTPClient), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		a.log.Warn("login: code exchange failed", "err", err)
		a.audit(c, nil, audit.ActionLoginFailed, "", "code exchange failed")
		problem(c, 401, "the login could not be completed with the identity provider; try again")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.oidc.login.Verify(ctx, raw)
	if err != nil || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		a.log.Warn("login: ID token rejected", "err", err)
		a.audit(c, nil, audit.ActionLoginFailed, "", "ID token rejected")
		problem(c, 401, "the identity provider's ID token was not valid; try again")
		return
	}
	id, err := identityOf(idt)
	if err != nil {
		problem(c, 401, "the ID token does not say who you are")
		return
	}
	p, status, detail := a.personPrincipal(ctx, id, "session")
	if p == nil {
		a.audit(c, id.principal(), audit.ActionLoginFailed, "", detail)
		problem(c, status, detail)
		return
	}
	if err := a.sessions.start(c, id); err != nil {
		a.log.Error("start session", "err", err)
		problem(c, 500, "the session could not be started; the error is in the server log")
		return
	}
	a.audit(c, p, audit.ActionLogin, "", "")
	a.log.Info("login", "subject", p.Subject, "role", p.Role)
	c.Redirect(http.StatusSeeOther, f.Next)
}

// handleLogout ends the session (CSRF-checked like every state change).
func (a *authenticator) handleLogout(c *gin.Context) {
	sess, ok := a.sessions.current(c)
	if !ok {
		c.Redirect(http.StatusSeeOther, "/signed-out")
		return
	}
	if !a.checkCSRF(c, sess) {
		return
	}
	a.sessions.end(c, sess)
	a.audit(c, sess.identity.principal(), audit.ActionLogout, "", "")
	c.Redirect(http.StatusSeeOther, "/signed-out")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
