package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/url"

	"github.com/gin-gonic/gin"
)

// CSRF protection for requests authenticated by the session cookie (API
// tokens are not sent by browsers on their own, so they need none). A
// state-changing request must
//   - come from this site: its Origin (or, without one, its Referer) names
//     this host, and
//   - carry the session's CSRF token, in the X-CSRF-Token header or the
//     csrf_token form field (a synchronizer token: an HMAC of the session
//     id, so it is valid for that session only and needs no storage).
//
// Pages embed the token with CSRFField (forms) or CSRFToken (a meta tag
// read by scripts).

// CSRFHeader and CSRFFormField carry the token.
const (
	CSRFHeader    = "X-CSRF-Token"
	CSRFFormField = "csrf_token"
	csrfCtxKey    = "phiwatch.csrf"
)

func (s *Sessions) csrfToken(sid string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(sid))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CSRFToken is the CSRF token of the request's session ("" outside one),
// for a template: <meta name="csrf-token" content="{{ .CSRF }}">.
func CSRFToken(c *gin.Context) string { return c.GetString(csrfCtxKey) }

// CSRFField is a hidden form field holding the token, for a template:
// <form method="post">{{ .CSRFField }}…</form>.
func CSRFField(c *gin.Context) template.HTML {
	return template.HTML(`<input type="hidden" name="` + CSRFFormField + `" value="` + template.HTMLEscapeString(CSRFToken(c)) + `">`)
}

func safeMethod(m string) bool { return m == "GET" || m == "HEAD" || m == "OPTIONS" }

// checkCSRF answers 403 itself and returns false when a state-changing
// request lacks a same-origin Origin/Referer or the session's token.
func (a *authenticator) checkCSRF(c *gin.Context, sess session) bool {
	if safeMethod(c.Request.Method) {
		return true
	}
	if !a.sameOrigin(c) {
		problem(c, 403, "cross-site request refused: the Origin of a change must be this site")
		return false
	}
	got := c.GetHeader(CSRFHeader)
	if got == "" {
		got = c.PostForm(CSRFFormField)
	}
	want := a.sessions.csrfToken(sess.ID)
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		problem(c, 403, "missing or wrong CSRF token: send the page's token in the "+CSRFHeader+" header or the "+CSRFFormField+" form field")
		return false
	}
	return true
}

// sameOrigin checks Origin, or Referer when a browser sent no Origin;
// a request with neither is left to the token check.
func (a *authenticator) sameOrigin(c *gin.Context) bool {
	src := c.GetHeader("Origin")
	if src == "" {
		src = c.GetHeader("Referer")
	}
	if src == "" {
		return true
	}
	if src == "null" {
		return false
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return false
	}
	if a.publicHost != "" {
		return u.Host == a.publicHost
	}
	return u.Host == c.Request.Host
}
