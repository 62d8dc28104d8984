package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/authz"
)

// Access management over the API (permission access:manage):
//   - per tenant, under /api/v1/tenants/:tenant: tokens and grants limited
//     to that tenant (a practice_admin manages their own practice);
//   - MSP-wide, under /api/v1/access: tokens and grants over several
//     tenants, all tenants or a tenant group, and the groups themselves
//     (an msp_admin over all tenants).

// accessRoutes are the tenant routes of access management.
func (s *server) accessRoutes() []route.Route {
	return []route.Route{
		{Method: "GET", Path: "/tokens", Perm: authz.ManageAccess, Handle: s.listTenantTokens},
		{Method: "POST", Path: "/tokens", Perm: authz.ManageAccess, Handle: s.createTenantToken},
		{Method: "POST", Path: "/tokens/:token/revoke", Perm: authz.ManageAccess, Handle: s.revokeToken},
		{Method: "GET", Path: "/grants", Perm: authz.ManageAccess, Handle: s.listTenantGrants},
		{Method: "POST", Path: "/grants", Perm: authz.ManageAccess, Handle: s.putTenantGrant},
		{Method: "POST", Path: "/grants/revoke", Perm: authz.ManageAccess, Handle: s.revokeGrant},
	}
}

// mountAccess adds the MSP-wide access routes to the authenticated group.
func (s *server) mountAccess(v1 *gin.RouterGroup) {
	g := v1.Group("/access", s.requireMSP)
	g.GET("/tokens", s.listAllTokens)
	g.POST("/tokens", s.createToken)
	g.POST("/tokens/:token/revoke", s.revokeToken)
	g.GET("/grants", s.listAllGrants)
	g.POST("/grants", s.putGrant)
	g.POST("/grants/revoke", s.revokeGrant)
	g.GET("/groups", s.listGroups)
	g.PUT("/groups/:group", s.setGroup)
}

// requireMSP admits an msp_admin over all tenants (the only one who may
// manage MSP-level access), and needs the access store.
func (s *server) requireMSP(c *gin.Context) {
	p := route.Principal(c)
	if p == nil || !mayManageOwner(p, MSPScope) {
		problem(c, 403, "MSP-wide access management needs an msp_admin over all tenants; practice administrators use /api/v1/tenants/<tenant>/tokens and /grants")
		return
	}
	if s.access == nil {
		problem(c, 501, "access management needs the store-backed access control, which this server runs without")
		return
	}
	c.Next()
}

// readBody decodes a JSON request body strictly (unknown fields are an
// error, so a typo is not silently ignored), answering 400/413 itself.
func readBody(c *gin.Context, v any) bool {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		switch {
		case isTooLarge(err):
			problem(c, 413, "the request body is too large")
		case errors.Is(err, io.EOF):
			problem(c, 400, "the request needs a JSON body")
		default:
			problem(c, 400, "the body is not valid JSON for this request: "+truncate(err.Error(), 200))
		}
		return false
	}
	if dec.More() {
		problem(c, 400, "the body must be one JSON object")
		return false
	}
	return true
}

// accessError answers an error of an access change.
func (s *server) accessError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, ErrForbidden):
		problem(c, 403, err.Error())
	case errors.Is(err, ErrNotFound):
		problem(c, 404, err.Error())
	case errors.Is(err, ErrConflict):
		problem(c, 409, err.Error())
	case errors.Is(err, errStore):
		s.cfg.Log.Error("access change failed", "err", err)
		problem(c, 500, "the change could not be stored; the error is in the server log")
	default:
		problem(c, 400, err.Error())
	}
}

func (s *server) tenantAccess(c *gin.Context) bool {
	if s.access == nil {
		problem(c, 501, "access management needs the store-backed access control, which this server runs without")
		return false
	}
	return true
}

// tokenView is a token as the API shows it: never its hash.
type tokenView struct {
	TokenID     string    `json:"token_id"`
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	Scope       Scope     `json:"scope"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Revoked     bool      `json:"revoked"`
	Expired     bool      `json:"expired"`
	ChangedBy   string    `json:"changed_by"`
	Reason      string    `json:"reason"`
	VersionAt   time.Time `json:"version_at"`
	ManagedFrom string    `json:"managed_from"` // the tenant, or "*" for MSP-level
}

func (s *server) view(r TokenRecord) tokenView {
	sc := r.Scope()
	if sc.Tenants == nil {
		sc.Tenants = []string{}
	}
	return tokenView{TokenID: r.TokenID, Name: r.Name, Role: r.Role, Scope: sc, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		ExpiresAt: r.ExpiresAt, Revoked: r.Revoked, Expired: !s.cfg.Now().Before(r.ExpiresAt), ChangedBy: r.ChangedBy,
		Reason: r.Reason, VersionAt: r.VersionAt, ManagedFrom: r.Owner}
}

func (s *server) listTokens(c *gin.Context, owner string) {
	list, err := s.access.ListTokens(c.Request.Context(), owner)
	if err != nil {
		s.accessError(c, err)
		return
	}
	items := make([]tokenView, 0, len(list))
	for _, t := range list {
		items = append(items, s.view(t))
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

func (s *server) listTenantTokens(c *gin.Context) {
	if s.tenantAccess(c) {
		s.listTokens(c, route.Tenant(c))
	}
}

func (s *server) listAllTokens(c *gin.Context) { s.listTokens(c, "") }

// tenantTokenRequest is the body of POST /tenants/:tenant/tokens: the
// scope is the tenant.
type tenantTokenRequest struct {
	Name    string     `json:"name"`
	Role    authz.Role `json:"role"`
	Expires string     `json:"expires"`
	Reason  string     `json:"reason"`
}

func (s *server) createTenantToken(c *gin.Context) {
	var req tenantTokenRequest
	if !s.tenantAccess(c) || !readBody(c, &req) {
		return
	}
	s.issueToken(c, TokenRequest{Name: req.Name, Role: req.Role, Expires: req.Expires, Reason: req.Reason,
		Scope: Scope{Tenants: []string{route.Tenant(c)}}})
}

func (s *server) createToken(c *gin.Context) {
	var req TokenRequest
	if readBody(c, &req) {
		s.issueToken(c, req)
	}
}

// issueToken creates the token and shows its secret, this once.
func (s *server) issueToken(c *gin.Context, req TokenRequest) {
	secret, rec, err := s.access.CreateToken(c.Request.Context(), route.Principal(c), req)
	if err != nil {
		s.accessError(c, err)
		return
	}
	s.auth.audit(c, nil, audit.ActionTokenCreate, rec.TokenID, rec.Role+" over "+rec.Scope().String()+"; "+rec.Reason)
	s.cfg.Log.Info("API token created", "token_id", rec.TokenID, "name", rec.Name, "role", rec.Role, "by", route.Principal(c).Subject)
	c.JSON(http.StatusCreated, gin.H{"token": secret, "note": "store this token now: phiwatch keeps only its hash and cannot show it again",
		"token_info": s.view(rec)})
}

type revokeRequest struct {
	Reason string `json:"reason"`
}

func (s *server) revokeToken(c *gin.Context) {
	var req revokeRequest
	if !s.tenantAccess(c) || !readBody(c, &req) {
		return
	}
	owner := route.Tenant(c) // "" on the MSP route: any scope the caller manages
	rec, err := s.access.RevokeToken(c.Request.Context(), route.Principal(c), owner, c.Param("token"), req.Reason)
	if err != nil {
		s.accessError(c, err)
		return
	}
	s.auth.audit(c, nil, audit.ActionTokenRevoke, rec.TokenID, req.Reason)
	s.cfg.Log.Info("API token revoked", "token_id", rec.TokenID, "by", route.Principal(c).Subject)
	c.JSON(http.StatusOK, s.view(rec))
}
