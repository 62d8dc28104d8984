package api

import (
	"context"
	"html/template"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/authz"
)

// Token login (Config.TokenLogin): the UI's sign-in page takes an API
// token instead of sending the browser to an identity provider. It is for
// a deployment without single sign-on — the demo, a lab, break-glass — and
// off unless configured. The session keeps the token (encrypted in the
// cookie) and checks it on every request, so the token's expiry and
// revocation end the session; JWTs are refused (they belong to OIDC).

var tokenLoginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · phiwatch</title>
<link rel="stylesheet" href="/ui/static/app.css"></head>
<body><main>
<h1>Sign in to phiwatch</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login/token">
<input type="hidden" name="next" value="{{.Next}}">
<label>API token <input type="password" name="token" autocomplete="off" required autofocus></label>
<button type="submit">Sign in</button>
</form>
<p class="muted">This deployment signs in with API tokens (phiwatch token create). Every sign-in is audited.</p>
</main></body></html>`))

func (a *authenticator) tokenLoginForm(c *gin.Context, status int, msg string) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	_ = tokenLoginPage.Execute(c.Writer, struct{ Next, Error string }{safeNext(c.Query("next")), msg})
}

// handleTokenLogin checks the token and opens a session.
func (a *authenticator) handleTokenLogin(c *gin.Context) {
	if !a.sameOrigin(c) {
		problem(c, 403, "cross-site sign-in refused")
		return
	}
	tok := strings.TrimSpace(c.PostForm("token"))
	next := safeNext(c.PostForm("next"))
	p, _, detail := a.tokenSessionPrincipal(c.Request.Context(), tok)
	if p == nil {
		if a.failures != nil {
			if ok, wait := a.failures.allow("ip:" + c.ClientIP()); !ok {
				tooMany(c, wait)
				return
			}
		}
		a.audit(c, nil, audit.ActionLoginFailed, "", "token sign-in: "+detail)
		c.Request.URL.RawQuery = "next=" + next
		a.tokenLoginForm(c, http.StatusUnauthorized, "That token was not accepted: "+detail)
		return
	}
	if err := a.sessions.startSession(c, session{identity: identity{Subject: p.Subject, Name: p.Name}, Token: tok}); err != nil {
		a.log.Error("start session", "err", err)
		problem(c, 500, "the session could not be started; the error is in the server log")
		return
	}
	a.audit(c, p, audit.ActionLogin, "", "token sign-in")
	c.Redirect(http.StatusSeeOther, next)
}

// tokenSessionPrincipal resolves an API token (tokens file or phw_),
// never a JWT.
func (a *authenticator) tokenSessionPrincipal(ctx context.Context, tok string) (*authz.Principal, int, string) {
	if tok == "" || looksLikeJWT(tok) {
		return nil, 401, "give an API token"
	}
	p, status, detail := a.bearer(ctx, "Bearer "+tok)
	if p != nil {
		cp := *p
		cp.Via = "token-session"
		return &cp, 0, ""
	}
	return nil, status, detail
}

// signedOutPage ends a logout. It does not send the browser on to /login:
// with single sign-on that would redirect to the identity provider, which
// the CSP's form-action 'self' forbids after a form post (and which would
// sign the person straight back in).
var signedOutPage = template.Must(template.New("signed-out").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out · phiwatch</title>
<link rel="stylesheet" href="/ui/static/app.css"></head>
<body><main>
<h1 data-signed-out>You are signed out</h1>
<p><a href="/ui/">Sign in again</a></p>
</main></body></html>`))

func signedOut(c *gin.Context) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
	_ = signedOutPage.Execute(c.Writer, nil)
}
