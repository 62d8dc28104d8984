package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/authz"
)

func (s *server) listGrants(c *gin.Context, owner string) {
	list, err := s.access.ListGrants(c.Request.Context(), owner)
	if err != nil {
		s.accessError(c, err)
		return
	}
	if list == nil {
		list = []GrantRecord{}
	}
	c.JSON(http.StatusOK, gin.H{"items": list})
}

func (s *server) listTenantGrants(c *gin.Context) {
	if s.tenantAccess(c) {
		s.listGrants(c, route.Tenant(c))
	}
}

func (s *server) listAllGrants(c *gin.Context) { s.listGrants(c, "") }

// tenantGrantRequest is the body of POST /tenants/:tenant/grants: the
// scope is the tenant.
type tenantGrantRequest struct {
	Principal   string     `json:"principal"`
	DisplayName string     `json:"display_name"`
	Role        authz.Role `json:"role"`
	WorkforceID string     `json:"workforce_id"` // the person's roster user id in this tenant
	Reason      string     `json:"reason"`
}

func (s *server) putTenantGrant(c *gin.Context) {
	var req tenantGrantRequest
	if !s.tenantAccess(c) || !readBody(c, &req) {
		return
	}
	t := route.Tenant(c)
	g := GrantRequest{Principal: req.Principal, DisplayName: req.DisplayName, Role: req.Role, Reason: req.Reason,
		Scope: Scope{Tenants: []string{t}}}
	if req.WorkforceID != "" {
		g.WorkforceIDs = map[string]string{t: req.WorkforceID}
	}
	s.storeGrant(c, g)
}

func (s *server) putGrant(c *gin.Context) {
	var req GrantRequest
	if readBody(c, &req) {
		s.storeGrant(c, req)
	}
}

func (s *server) storeGrant(c *gin.Context, req GrantRequest) {
	g, err := s.access.PutGrant(c.Request.Context(), route.Principal(c), req)
	if err != nil {
		s.accessError(c, err)
		return
	}
	s.auth.audit(c, nil, audit.ActionGrantChange, g.Principal, g.Role+" over "+g.Scope().String()+"; "+g.Reason)
	s.cfg.Log.Info("role granted", "principal", g.Principal, "role", g.Role, "by", route.Principal(c).Subject)
	c.JSON(http.StatusOK, g)
}

type grantRevokeRequest struct {
	Principal string `json:"principal"`
	Reason    string `json:"reason"`
}

func (s *server) revokeGrant(c *gin.Context) {
	var req grantRevokeRequest
	if !s.tenantAccess(c) || !readBody(c, &req) {
		return
	}
	p := route.Principal(c)
	if t := route.Tenant(c); t != "" {
		// On a tenant route, only that tenant's grants.
		p = narrowTo(p, t)
	}
	g, err := s.access.RevokeGrant(c.Request.Context(), p, req.Principal, req.Reason)
	if err != nil {
		s.accessError(c, err)
		return
	}
	s.auth.audit(c, nil, audit.ActionGrantRevoke, g.Principal, req.Reason)
	s.cfg.Log.Info("role grant revoked", "principal", g.Principal, "by", route.Principal(c).Subject)
	c.JSON(http.StatusOK, g)
}

// narrowTo is p limited to one tenant, for changes made on a tenant route.
func narrowTo(p *authz.Principal, tenant string) *authz.Principal {
	n := *p
	n.AllTenants = false
	n.Tenants = map[string]bool{tenant: true}
	return &n
}

func (s *server) listGroups(c *gin.Context) {
	list, err := s.access.ListGroups(c.Request.Context())
	if err != nil {
		s.accessError(c, err)
		return
	}
	if list == nil {
		list = []TenantGroup{}
	}
	c.JSON(http.StatusOK, gin.H{"items": list})
}

type groupRequest struct {
	Tenants []string `json:"tenants"`
	Reason  string   `json:"reason"`
}

func (s *server) setGroup(c *gin.Context) {
	var req groupRequest
	if !readBody(c, &req) {
		return
	}
	g, err := s.access.SetGroup(c.Request.Context(), route.Principal(c), c.Param("group"), req.Tenants, req.Reason)
	if err != nil {
		s.accessError(c, err)
		return
	}
	s.auth.audit(c, nil, audit.ActionGrantChange, "group:"+g.Name, req.Reason)
	c.JSON(http.StatusOK, g)
}

// me tells callers who they are and what they may do, e.g. for the UI.
func (s *server) me(c *gin.Context) {
	p := route.Principal(c)
	perms := []authz.Permission{}
	for _, perm := range authz.Permissions() {
		if p.Role.Can(perm) {
			perms = append(perms, perm)
		}
	}
	tenants := p.TenantList()
	if tenants == nil {
		tenants = []string{}
	}
	c.JSON(http.StatusOK, gin.H{"subject": p.Subject, "name": p.Name, "email": p.Email, "role": p.Role, "via": p.Via,
		"all_tenants": p.AllTenants, "tenants": tenants, "permissions": perms, "csrf_token": CSRFToken(c)})
}
