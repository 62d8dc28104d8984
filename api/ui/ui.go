// Package ui is the reviewer web UI: server-rendered pages (html/template),
// one small script for keyboard shortcuts, no inline JavaScript (the CSP
// forbids it). Pages are route.Route values like the API's, mounted by the
// API server under /ui/t/:tenant behind the session login, the tenant
// scope, the route's permission and CSRF protection, so the same matrix
// test covers them.
package ui

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	rv "github.com/phiwatch/phiwatch/internal/review"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Deps is what the pages need from the server.
type Deps struct {
	Log *slog.Logger
	Now func() time.Time
	// CSRFToken returns the token forms must carry (field "csrf_token");
	// the server checks it on every POST.
	CSRFToken func(c *gin.Context) string
	// Mask hides a patient id or MRN in free text for lists (minimum
	// necessary); nil shows text as is.
	Mask func(c *gin.Context, text string, patientIDs []string) string
	// Review is the monthly log review service (nil: default settings,
	// inappropriate decisions recorded as incident requests).
	Review *rv.Service
}

// UI renders the pages.
type UI struct {
	d     Deps
	pages map[string]*template.Template
}

// New parses the templates.
func New(d Deps) (*UI, error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.CSRFToken == nil {
		return nil, fmt.Errorf("ui: a CSRF token source is required")
	}
	u := &UI{d: d, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"when": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				if v.IsZero() {
					return ""
				}
				return v.UTC().Format("2006-01-02 15:04 UTC")
			case *time.Time:
				if v == nil || v.IsZero() {
					return ""
				}
				return v.UTC().Format("2006-01-02 15:04 UTC")
			}
			return ""
		},
		"join":  strings.Join,
		"title": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("ui template %s: %w", n, err)
		}
		u.pages[base] = t
	}
	return u, nil
}

// Static serves the stylesheet and script.
func (u *UI) Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return http.StripPrefix("/ui/static/", http.FileServer(http.FS(sub)))
}

// page is what every template gets.
type page struct {
	Title  string
	Tenant string
	User   string
	Role   string
	CSRF   string
	Flash  string
	Error  string
	Data   any
}

// render writes a page; errors are logged (the response may be half sent).
func (u *UI) render(c *gin.Context, status int, name, title string, data any) {
	t, ok := u.pages[name]
	if !ok {
		u.d.Log.Error("ui: no such template", "name", name)
		c.String(http.StatusInternalServerError, "page not found")
		return
	}
	p := page{Title: title, Tenant: route.Tenant(c), CSRF: u.d.CSRFToken(c), Flash: c.Query("done"), Data: data}
	if pr := route.Principal(c); pr != nil {
		p.User, p.Role = pr.Name, string(pr.Role)
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	if err := t.ExecuteTemplate(c.Writer, "layout.html", p); err != nil {
		u.d.Log.Error("ui: render", "page", name, "err", err)
	}
}

// fail shows an error page in the layout.
func (u *UI) fail(c *gin.Context, status int, msg string) {
	u.render(c, status, "error", http.StatusText(status), msg)
	c.Abort()
}

// Routes lists the tenant pages (relative to /ui/t/:tenant).
func (u *UI) Routes() []route.Route {
	return append([]route.Route{
		{Method: "GET", Path: "", Perm: authz.ReadAlerts, Handle: u.home},
		{Method: "GET", Path: "/cases/:case", Perm: authz.ReadAlerts, Handle: u.casePage},
		{Method: "GET", Path: "/recert", Perm: authz.ReadRecert, Handle: u.campaigns},
		{Method: "GET", Path: "/recert/:campaign", Perm: authz.ReadRecert, Handle: u.campaignPage},
		{Method: "POST", Path: "/recert/:campaign/items/:item", Perm: authz.DecideRecert, Handle: u.decideItem},
		{Method: "POST", Path: "/recert/:campaign/signoff", Perm: authz.ManageRecert, Handle: u.signOffCampaign},
		{Method: "POST", Path: "/recert/:campaign/verify", Perm: authz.ManageRecert, Handle: u.verifyCampaign},
	}, append(u.reviewRoutes(), u.recordRoutes()...)...)
}
