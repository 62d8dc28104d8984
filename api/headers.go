package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

// contentSecurityPolicy allows only this site's own scripts and styles (no
// inline script), no plugins and no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// SecurityHeaders sets the headers every response carries: a strict CSP,
// no MIME sniffing, no referrer, no framing, HSTS when served over TLS (or
// behind an HTTPS proxy: hsts), and no caching, since API responses hold
// patient data. Pages that may be cached override Cache-Control.
func SecurityHeaders(next http.Handler, hsts bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header(), hsts || r.TLS != nil)
		next.ServeHTTP(w, r)
	})
}

func setSecurityHeaders(h http.Header, hsts bool) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer browsers send
	// "Origin: null" with the UI's own form posts, which the CSRF check
	// must refuse; same-origin still tells other sites nothing.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if hsts {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
}

func securityHeaders(hsts bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		setSecurityHeaders(c.Writer.Header(), hsts || c.Request.TLS != nil)
		c.Next()
	}
}

// DefaultMaxBody is the default request body limit.
const DefaultMaxBody = 1 << 20

// bodyLimit answers 413 for a body over max bytes. A body of unknown
// length is read up to the limit first, so the answer is the same 413
// whether or not the client declared a length.
func bodyLimit(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		if r.Body == nil || r.Body == http.NoBody || max <= 0 {
			c.Next()
			return
		}
		tooLarge := func() {
			c.Header("Connection", "close")
			problem(c, 413, "the request body is larger than "+strconv.FormatInt(max, 10)+" bytes")
		}
		if r.ContentLength > max {
			tooLarge()
			return
		}
		if r.ContentLength < 0 {
			b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
			if err != nil {
				problem(c, 400, "the request body could not be read")
				return
			}
			if int64(len(b)) > max {
				tooLarge()
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			c.Next()
			return
		}
		r.Body = http.MaxBytesReader(c.Writer, r.Body, max)
		c.Next()
	}
}

// isTooLarge reports a body cut off by the limit.
func isTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}
