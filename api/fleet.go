package api

import (
	"github.com/gin-gonic/gin"

	recordsapi "github.com/phiwatch/phiwatch/api/records"
	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/store"
)

// mountFleet serves the MSP overview across the caller's tenants
// (authz.ReadFleet): GET /api/v1/fleet/compliance, each tenant's
// compliance status (internal/records).
func (s *server) mountFleet(v1 *gin.RouterGroup) {
	v1.GET("/fleet/compliance", requirePermission(authz.ReadFleet),
		recordsapi.FleetHandler(recordsapi.Deps{Log: s.cfg.Log, Now: s.cfg.Now}, s.cfg.Store, s.fleetTenants))
}

// requirePermission answers 403 unless the caller's role holds p (for
// routes outside a tenant).
func requirePermission(p authz.Permission) gin.HandlerFunc {
	return func(c *gin.Context) {
		if pr := route.Principal(c); pr == nil || !pr.Role.Can(p) {
			problem(c, 403, "your role does not allow "+string(p))
			return
		}
		c.Next()
	}
}

// fleetTenants are the caller's tenants; every known tenant for an
// msp_admin over all.
func (s *server) fleetTenants(c *gin.Context) ([]string, error) {
	p := route.Principal(c)
	if p.AllTenants {
		return store.KnownTenants(c.Request.Context(), s.cfg.Store)
	}
	return p.TenantList(), nil
}
