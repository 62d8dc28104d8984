package api

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/store"
)

// maxAuditExport bounds one CSV export; a longer period is exported in
// several ranges.
const maxAuditExport = 100_000

// AuditFilter narrows a listing of a tenant's audit trail.
type AuditFilter struct {
	From, To      time.Time
	Actor         string // subject or name, exact
	Action        string
	Limit, Offset int
}

// auditFilter reads the listing's parameters; an export pages by up to
// maxAuditExport rows instead of 500.
func (s *server) auditFilter(c *gin.Context, export bool) (AuditFilter, bool) {
	var f AuditFilter
	var ok bool
	if f.From, f.To, ok = s.timeRange(c); !ok {
		return f, false
	}
	if export {
		f.Limit = maxAuditExport
		for _, p := range []struct {
			name     string
			dst      *int
			min, max int
		}{{"limit", &f.Limit, 1, maxAuditExport}, {"offset", &f.Offset, 0, 100_000_000}} {
			if v := c.Query(p.name); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < p.min || n > p.max {
					problem(c, 400, fmt.Sprintf("%s must be a number from %d to %d", p.name, p.min, p.max))
					return f, false
				}
				*p.dst = n
			}
		}
	} else if f.Limit, f.Offset, ok = page(c); !ok {
		return f, false
	}
	f.Actor, f.Action = c.Query("actor"), c.Query("action")
	if len(f.Actor) > 512 || len(f.Action) > 64 {
		problem(c, 400, "actor is at most 512 characters and action at most 64")
		return f, false
	}
	return f, true
}

func listAudit(ctx context.Context, q *store.TenantStore, f AuditFilter) ([]audit.Entry, error) {
	p := store.Params{"from": chTime(f.From), "to": chTime(f.To), "actor": f.Actor, "action": f.Action,
		"limit": strconv.Itoa(f.Limit), "offset": strconv.Itoa(f.Offset)}
	var out []audit.Entry
	err := q.Select(ctx, &out, fmt.Sprintf(`
SELECT time, tenant_id AS tenant, subject, actor_name, role, via, action, target, reason, method, route, path, status,
       client_ip, forwarded_for, user_agent, request_id, entry_id
FROM %s.audit_log
WHERE tenant_id = {tenant:String} AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
  AND ({actor:String} = '' OR subject = {actor:String} OR actor_name = {actor:String})
  AND ({action:String} = '' OR action = {action:String})
ORDER BY time DESC, entry_id
LIMIT {limit:UInt32} OFFSET {offset:UInt32}`, q.Database()), p)
	return out, err
}

// auditLog lists the tenant's audit trail, newest first.
func (s *server) auditLog(c *gin.Context) {
	f, ok := s.auditFilter(c, false)
	if !ok {
		return
	}
	items, err := listAudit(c.Request.Context(), route.Store(c), f)
	if err != nil {
		s.cfg.Log.Error("list audit trail", "tenant", route.Tenant(c), "err", err)
		problem(c, 500, "the audit trail could not be read; the error is in the server log")
		return
	}
	respond(c, route.Tenant(c), f.From, f.To, items, f.Limit, f.Offset)
}

// auditExport writes the tenant's audit trail for a range as CSV. The
// export is itself recorded before any row leaves.
func (s *server) auditExport(c *gin.Context) {
	f, ok := s.auditFilter(c, true)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	items, err := listAudit(ctx, route.Store(c), f)
	if err != nil {
		s.cfg.Log.Error("export audit trail", "tenant", route.Tenant(c), "err", err)
		problem(c, 500, "the audit trail could not be read; the error is in the server log")
		return
	}
	target := fmt.Sprintf("audit_log %s..%s", f.From.UTC().Format(time.RFC3339), f.To.UTC().Format(time.RFC3339))
	if err := audit.Note(c, audit.ActionAuditExport, target, ""); err != nil {
		s.cfg.Log.Error("audit the audit export", "tenant", route.Tenant(c), "err", err)
		problem(c, 503, "the export could not be recorded in the audit trail, so it is refused; try again later")
		return
	}
	name := fmt.Sprintf("audit-%s-%s-%s.csv", route.Tenant(c), f.From.UTC().Format("20060102"), f.To.UTC().Format("20060102"))
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	if len(items) == f.Limit {
		c.Header("X-Next-Offset", strconv.Itoa(f.Offset+f.Limit))
	}
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	_ = w.Write([]string{"time", "tenant", "subject", "actor_name", "role", "via", "action", "target", "reason",
		"method", "route", "path", "status", "client_ip", "forwarded_for", "user_agent", "request_id", "entry_id"})
	for _, e := range items {
		_ = w.Write([]string{e.Time.UTC().Format(time.RFC3339Nano), e.Tenant, csvCell(e.Subject), csvCell(e.Name), e.Role, e.Via,
			e.Action, csvCell(e.Target), csvCell(e.Reason), e.Method, e.Route, csvCell(e.Path), strconv.Itoa(e.Status),
			csvCell(e.ClientIP), csvCell(e.Forwarded), csvCell(e.UserAgent), csvCell(e.RequestID), e.EntryID})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		s.cfg.Log.Warn("audit export interrupted", "tenant", route.Tenant(c), "err", err)
	}
}

// csvCell defuses spreadsheet formulas in caller-controlled text (a reason
// or user agent starting with =, +, - or @ would run in Excel).
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
