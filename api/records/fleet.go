package records

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/internal/records"
	"github.com/phiwatch/phiwatch/internal/store"
)

// FleetHandler serves the MSP overview: the compliance status of each
// tenant the caller may see, those needing attention first. It is not a
// tenant route: mount it outside /tenants/:tenant behind authentication
// and authz.ReadFleet. tenants lists the caller's tenants (every tenant
// for a principal with AllTenants).
func FleetHandler(d Deps, q store.Querier, tenants func(c *gin.Context) ([]string, error)) gin.HandlerFunc {
	h := handlers{d.withDefaults()}
	return func(c *gin.Context) {
		day, ok := h.day(c, "day")
		if !ok {
			return
		}
		ts, err := tenants(c)
		if err != nil {
			h.fail(c, "tenant list", err)
			return
		}
		out, err := records.Fleet(c.Request.Context(), q, ts, day, *h.d.Workflows)
		if err != nil {
			h.fail(c, "fleet overview", err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"day": day, "tenants": orEmpty(out)})
	}
}
