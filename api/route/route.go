// Package route is the contract between the API server and the packages
// that add endpoints to it (api/review, api/records, …). A feature declares
// its routes with the one permission each needs; the server authenticates
// the caller, resolves the tenant (404 when the caller may not see it),
// checks the permission (403) and hands the handler a store narrowed to
// the tenant. Handlers never see the unscoped store.
package route

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Route is one endpoint under /api/v1/tenants/:tenant.
type Route struct {
	Method string // GET, POST, PUT, PATCH, DELETE
	Path   string // relative, e.g. "/alerts" or "/reviews/:period/items"
	Perm   authz.Permission
	Handle gin.HandlerFunc
}

const (
	principalKey = "phiwatch.principal"
	storeKey     = "phiwatch.tenant_store"
)

// SetPrincipal records the authenticated caller (server use).
func SetPrincipal(c *gin.Context, p *authz.Principal) { c.Set(principalKey, p) }

// SetStore records the tenant-scoped store (server use).
func SetStore(c *gin.Context, s *store.TenantStore) { c.Set(storeKey, s) }

// Principal is the authenticated caller; nil outside authenticated routes.
func Principal(c *gin.Context) *authz.Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(*authz.Principal)
	return pr
}

// Store is the store narrowed to the request's tenant.
func Store(c *gin.Context) *store.TenantStore {
	s, _ := c.Get(storeKey)
	ts, _ := s.(*store.TenantStore)
	return ts
}

// Tenant is the request's tenant.
func Tenant(c *gin.Context) string {
	if s := Store(c); s != nil {
		return s.Tenant()
	}
	return ""
}

// ProblemDetail is an RFC 9457 problem detail.
type ProblemDetail struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// Problem aborts the request with an application/problem+json body. detail
// is shown to the caller: say what was wrong and how to fix it, never
// internal errors.
func Problem(c *gin.Context, status int, detail string) {
	p := ProblemDetail{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Instance: c.Request.URL.Path}
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(status, p)
}
