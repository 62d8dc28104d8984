package audit

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/event"
)

const (
	auditorKey   = "phiwatch.auditor"
	requestIDKey = "phiwatch.request_id"
	// recordTimeout bounds the write of the per-request row, which runs
	// after the response and must not hang the connection.
	recordTimeout = 5 * time.Second
)

// ErrNoAuditor is returned by Note on a route mounted without Middleware.
var ErrNoAuditor = errors.New("audit: no auditor on this route")

// Middleware records one ActionRequest entry for every request that passes
// through it, after the handler ran (so with its status), and makes the
// auditor available to Note. A request for a tenant the caller may not see
// is recorded outside any tenant (tenant ”), with the tenant it asked for
// as the target: the probe is kept, and no tenant's trail shows another
// tenant's users. A failed write is logged: the response is already sent.
func Middleware(a Auditor, log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(auditorKey, a)
		RequestID(c)
		// Deferred, so a handler that panics is recorded too (as the 500
		// the recovery further out will answer), then the panic goes on.
		defer func() {
			p := recover()
			e := entryFor(c, ActionRequest, "", "")
			e.Status = c.Writer.Status()
			if p != nil {
				e.Status = 500
			}
			if t := c.Param("tenant"); e.Tenant == "" && t != "" {
				e.Target = "tenant:" + cut(t, 128)
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), recordTimeout)
			defer cancel()
			if err := a.Record(ctx, e); err != nil {
				log.Error("audit entry not written", "route", e.Route, "status", e.Status, "request_id", e.RequestID, "err", err)
			}
			if p != nil {
				panic(p)
			}
		}()
		c.Next()
	}
}

// Note records an explicit entry for the request (action, what it is
// about, the caller's reason) before the handler answers. Handlers that
// show patient data must answer 503 when it returns an error.
func Note(c *gin.Context, action, target, reason string) error {
	v, _ := c.Get(auditorKey)
	a, _ := v.(Auditor)
	if a == nil {
		return ErrNoAuditor
	}
	return a.Record(c.Request.Context(), entryFor(c, action, target, reason))
}

// RequestID is the request's id: the caller's X-Request-ID when it is a
// short token, else a new random one; it is echoed in the response.
func RequestID(c *gin.Context) string {
	if id := c.GetString(requestIDKey); id != "" {
		return id
	}
	id := c.GetHeader("X-Request-ID")
	if !validRequestID(id) {
		id = NewID()
	}
	c.Set(requestIDKey, id)
	c.Header("X-Request-ID", id)
	return id
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// entryFor fills who, where and from where from the request.
func entryFor(c *gin.Context, action, target, reason string) Entry {
	e := Entry{Action: action, Target: target, Reason: reason, Method: c.Request.Method, Route: c.FullPath(),
		Path: c.Request.URL.Path, ClientIP: c.RemoteIP(), Forwarded: c.GetHeader("X-Forwarded-For"), UserAgent: c.Request.UserAgent(), RequestID: RequestID(c)}
	if p := route.Principal(c); p != nil {
		e.Subject, e.Name, e.Role, e.Via = p.Subject, p.Name, string(p.Role), p.Via
		if t := c.Param("tenant"); event.ValidTenant(t) && p.CanSee(t) {
			e.Tenant = t
		}
	}
	if e.Route == "" {
		e.Route = "unmatched"
	}
	return e
}
