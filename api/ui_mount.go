package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/ui"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/store"
)

// mountUI serves the reviewer UI (api/ui) when browser sessions are
// configured: /ui/ is the caller's practices, /ui/t/:tenant/… the pages,
// each behind the session, the self-audit, the tenant scope and its
// permission, like the API's routes; POSTs are CSRF-checked by
// RequireSession.
func (s *server) mountUI(r *gin.Engine) error {
	if s.cfg.Sessions == nil {
		return nil
	}
	u, err := ui.New(ui.Deps{Log: s.cfg.Log, Now: s.cfg.Now, CSRFToken: CSRFToken, Mask: s.maskText, Review: s.cfg.Review})
	if err != nil {
		return err
	}
	r.GET("/ui/static/*file", gin.WrapH(u.Static()))
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/ui/") })
	r.GET("/signed-out", signedOut)
	if s.cfg.TokenLogin && s.cfg.OIDC == nil {
		r.GET("/login", s.limiter.middleware(), func(c *gin.Context) { s.auth.tokenLoginForm(c, http.StatusOK, "") })
	}
	if s.cfg.TokenLogin {
		r.POST("/login/token", s.limiter.middleware(), s.auth.handleTokenLogin)
		if s.cfg.OIDC == nil {
			r.POST("/logout", s.limiter.middleware(), s.auth.handleLogout)
		}
	}
	g := r.Group("/ui", s.auth.RequireSession(), s.limiter.middleware())
	g.GET("/", u.FleetPage(s.fleetFor))
	t := g.Group("/t/:tenant", audit.Middleware(s.cfg.Auditor, s.cfg.Log))
	for _, rt := range u.Routes() {
		t.Handle(rt.Method, rt.Path, tenantScope(s.cfg.Store, rt.Perm), rt.Handle)
	}
	return nil
}

// fleetFor narrows the store to the caller's tenants.
func (s *server) fleetFor(c *gin.Context) (*store.FleetStore, error) {
	tenants, err := s.fleetTenants(c)
	if err != nil {
		return nil, err
	}
	return store.ForTenants(s.cfg.Store, tenants)
}
