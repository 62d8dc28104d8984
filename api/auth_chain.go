package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/authz"
)

// authenticator decides who is calling. In order:
//  1. Authorization: Bearer <token>: a token of the bootstrap tokens file,
//     a phw_ token from the store, or (with OIDC) a JWT of the issuer,
//     mapped to a person through their grant;
//  2. the session cookie of a browser login (state changes CSRF-checked).
//
// Anything else answers 401. A valid OIDC identity without a grant answers
// 403: the person is known, phiwatch just gives them no role.
type authenticator struct {
	tokens     *Tokens
	access     *Access
	oidc       *OIDC
	sessions   *Sessions
	auditor    Auditor
	log        *slog.Logger
	now        func() time.Time
	publicHost string   // host[:port] browsers use, for the Origin check
	failures   *limiter // failed authentications per client address
	tokenLogin bool     // /login takes an API token (Config.TokenLogin)
}

const sessionCtxKey = "phiwatch.session"

// unauthorized answers 401, or 429 once the client address has failed
// too often: guessing costs the guesser, and bad JWTs cannot make the
// server verify signatures without bound.
func (a *authenticator) unauthorized(c *gin.Context, detail string) {
	if a.failures != nil {
		if ok, wait := a.failures.allow("ip:" + c.ClientIP()); !ok {
			tooMany(c, wait)
			return
		}
	}
	c.Header("WWW-Authenticate", `Bearer realm="phiwatch"`)
	problem(c, 401, detail)
}

// require authenticates API requests.
func (a *authenticator) require() gin.HandlerFunc {
	return func(c *gin.Context) {
		if h := c.GetHeader("Authorization"); h != "" {
			p, status, detail := a.bearer(c.Request.Context(), h)
			if p == nil {
				if status == 401 {
					a.unauthorized(c, detail)
				} else {
					problem(c, status, detail)
				}
				return
			}
			route.SetPrincipal(c, p)
			c.Next()
			return
		}
		if a.sessions != nil {
			if sess, ok := a.sessions.current(c); ok {
				if a.sessionPrincipal(c, sess) && a.checkCSRF(c, sess) {
					c.Next()
				}
				return
			}
		}
		a.unauthorized(c, "authentication is required: Authorization: Bearer <token>, or sign in at /login")
	}
}

// RequireSession is the middleware of the reviewer UI's pages: a browser
// without a valid session is sent to /login (and back afterwards); with
// one, the principal is set (route.Principal) and state-changing requests
// are CSRF-checked. Templates embed the token with CSRFField/CSRFToken.
func (a *authenticator) RequireSession() gin.HandlerFunc {
	return func(c *gin.Context) {
		sess, ok := a.sessions.current(c)
		if !ok {
			if safeMethod(c.Request.Method) && (a.oidc != nil || a.tokenLogin) {
				c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
				c.Abort()
				return
			}
			problem(c, 401, "sign in at /login first")
			return
		}
		if a.sessionPrincipal(c, sess) && a.checkCSRF(c, sess) {
			c.Next()
		}
	}
}

// sessionPrincipal sets the principal and CSRF token of a session, or
// answers itself.
func (a *authenticator) sessionPrincipal(c *gin.Context, sess session) bool {
	c.Set(sessionCtxKey, sess)
	c.Set(csrfCtxKey, a.sessions.csrfToken(sess.ID))
	var (
		p      *authz.Principal
		status int
		detail string
	)
	if sess.Token != "" {
		p, status, detail = a.tokenSessionPrincipal(c.Request.Context(), sess.Token)
	} else {
		p, status, detail = a.personPrincipal(c.Request.Context(), sess.identity, "session")
	}
	if p == nil {
		problem(c, status, detail)
		return false
	}
	route.SetPrincipal(c, p)
	return true
}

// bearer resolves an Authorization header: a principal, or the status and
// detail to answer with.
func (a *authenticator) bearer(ctx context.Context, header string) (*authz.Principal, int, string) {
	raw, ok := strings.CutPrefix(header, "Bearer ")
	raw = strings.TrimSpace(raw)
	if !ok || raw == "" {
		return nil, 401, "the Authorization header must be Bearer <token>"
	}
	if p, ok := a.tokens.authenticate(raw); ok {
		return p, 0, ""
	}
	if strings.HasPrefix(raw, TokenPrefix) && a.access != nil {
		p, err := a.access.tokenPrincipal(ctx, raw)
		var refused errTokenRefused
		switch {
		case errors.As(err, &refused):
			return nil, 401, refused.why
		case err != nil:
			a.log.Error("API token lookup failed", "err", err)
			return nil, 503, "tokens cannot be checked right now (the store is unavailable); try again shortly"
		case p != nil:
			return p, 0, ""
		}
		return nil, 401, "unknown API token"
	}
	if a.oidc != nil && looksLikeJWT(raw) {
		id, err := a.oidc.verifyBearer(ctx, raw)
		if err != nil {
			var expired *oidc.TokenExpiredError
			if errors.As(err, &expired) {
				return nil, 401, "the bearer token expired; get a new one from your identity provider"
			}
			a.log.Debug("bearer JWT rejected", "err", err)
			return nil, 401, "the bearer token is not valid here (wrong issuer, audience or signature)"
		}
		return a.personPrincipal(ctx, id, "oidc")
	}
	return nil, 401, "a valid bearer token is required (Authorization: Bearer <token>)"
}

// personPrincipal maps an OIDC identity to a principal through its grant.
func (a *authenticator) personPrincipal(ctx context.Context, id identity, via string) (*authz.Principal, int, string) {
	who := id.Email
	if who == "" {
		who = id.Subject
	}
	noGrant := fmt.Sprintf("you are signed in as %s, but phiwatch grants you no role; ask your practice or MSP administrator for one", who)
	if a.access == nil {
		return nil, 403, noGrant
	}
	g, err := a.access.grantFor(ctx, id.keys(a.oidc != nil && a.oidc.cfg.AllowUnverifiedEmail)...)
	if err != nil {
		a.log.Error("grant lookup failed", "err", err)
		return nil, 503, "access grants cannot be checked right now (the store is unavailable); try again shortly"
	}
	if g == nil {
		return nil, 403, noGrant
	}
	p, err := a.access.grantPrincipal(ctx, g, id.subject(), id.Name, id.Email, via)
	if err != nil {
		a.log.Error("grant lookup failed", "err", err)
		return nil, 503, "access grants cannot be checked right now (the store is unavailable); try again shortly"
	}
	return p, 0, ""
}

// principal is the identity as an audit subject, before any grant.
func (id identity) principal() *authz.Principal {
	return &authz.Principal{Subject: id.subject(), Name: id.Name, Email: id.Email, Via: "oidc"}
}

// audit records an access-control event (login, token and grant changes).
// The change itself is already stored with who and why; a failed audit
// write is logged, not returned.
func (a *authenticator) audit(c *gin.Context, p *authz.Principal, action, target, reason string) {
	if a.auditor == nil {
		return
	}
	e := AuditEntry{Time: a.now().UTC(), Tenant: route.Tenant(c), Action: action, Target: target, Reason: truncate(reason, 500),
		Method: c.Request.Method, Route: c.FullPath(), Path: c.Request.URL.Path, ClientIP: c.ClientIP(),
		UserAgent: c.Request.UserAgent(), RequestID: audit.RequestID(c)}
	if p == nil {
		p = route.Principal(c)
	}
	if p != nil {
		e.Subject, e.Name, e.Role, e.Via = p.Subject, p.Name, string(p.Role), p.Via
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 5*time.Second)
	defer cancel()
	if err := a.auditor.Record(ctx, e); err != nil {
		a.log.Error("audit entry not written", "action", action, "err", err)
	}
}

// recover answers 500 for a panic and logs where, without dumping the
// request (its headers carry tokens and session cookies).
func (s *server) recover() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				s.cfg.Log.Error("panic in handler", "route", c.FullPath(), "method", c.Request.Method, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					problem(c, 500, "internal error; it is in the server log")
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}
