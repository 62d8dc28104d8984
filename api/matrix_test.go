package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiwatch/phiwatch/internal/authz"
)

// tenantRoutes is every route under /api/v1/tenants/:tenant and the one
// permission it requires. A route the router registers that is missing
// here fails TestRouteMatrix: a new endpoint cannot escape the matrix.
var tenantRoutes = map[string]authz.Permission{
	"GET /api/v1/tenants/:tenant/alerts":                    authz.ReadAlerts,
	"GET /api/v1/tenants/:tenant/events":                    authz.ReadEvents,
	"GET /api/v1/tenants/:tenant/cases":                     authz.ReadAlerts,
	"GET /api/v1/tenants/:tenant/cases/:case":               authz.ReadAlerts,
	"POST /api/v1/tenants/:tenant/cases/:case/assign":       authz.ManageCases,
	"POST /api/v1/tenants/:tenant/cases/:case/comments":     authz.ManageCases,
	"POST /api/v1/tenants/:tenant/cases/:case/close":        authz.ManageCases,
	"POST /api/v1/tenants/:tenant/patients/:patient/reveal": authz.RevealPHI,
	"GET /api/v1/tenants/:tenant/audit":                     authz.ReadAudit,
	"GET /api/v1/tenants/:tenant/audit/export":              authz.ReadAudit,
	// The reviewer UI's pages (api/ui), behind the session.
	"GET /ui/t/:tenant":                                         authz.ReadAlerts,
	"GET /ui/t/:tenant/cases/:case":                             authz.ReadAlerts,
	"GET /ui/t/:tenant/recert":                                  authz.ReadRecert,
	"GET /ui/t/:tenant/recert/:campaign":                        authz.ReadRecert,
	"POST /ui/t/:tenant/recert/:campaign/items/:item":           authz.DecideRecert,
	"POST /ui/t/:tenant/recert/:campaign/signoff":               authz.ManageRecert,
	"POST /ui/t/:tenant/recert/:campaign/verify":                authz.ManageRecert,
	"GET /ui/t/:tenant/reviews":                                 authz.ReadReview,
	"GET /ui/t/:tenant/reviews/:period":                         authz.ReadReview,
	"POST /ui/t/:tenant/reviews/:period/items/:item":            authz.DecideReview,
	"POST /ui/t/:tenant/reviews/:period/items/:item/comments":   authz.DecideReview,
	"POST /ui/t/:tenant/reviews/:period/items/:item/assignment": authz.DecideReview,
	"POST /ui/t/:tenant/reviews/:period/items/:item/answer":     authz.DecideReview,
	"POST /ui/t/:tenant/reviews/:period/items/:item/amendment":  authz.SignOffReview,
	"POST /ui/t/:tenant/reviews/:period/bulk":                   authz.DecideReview,
	"POST /ui/t/:tenant/reviews/:period/assignments":            authz.DecideReview,
	"POST /ui/t/:tenant/reviews/:period/signoff":                authz.SignOffReview,
	// The compliance-record pages (api/ui/records*.go).
	"GET /ui/t/:tenant/compliance":                                  authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/binder":                           authz.ExportEvidence,
	"GET /ui/t/:tenant/compliance/incidents":                        authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/incidents/new":                    authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/incidents":                       authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/incidents/:id":                    authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/incidents/:id/edit":               authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/incidents/:id":                   authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/patient-requests":                 authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/patient-requests/new":             authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/patient-requests":                authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/patient-requests/:id":             authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/patient-requests/:id/edit":        authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/patient-requests/:id":            authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/patient-requests/:id/do/:action": authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/disclosures":                      authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/disclosures/new":                  authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/disclosures":                     authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/disclosures/:id":                  authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/disclosures/:id/edit":             authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/disclosures/:id":                 authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/calendar":                         authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/calendar/new":                     authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/calendar":                        authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/calendar/:id":                     authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/calendar/:id/edit":                authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/calendar/:id":                    authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/calendar/:id/do/:action":         authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/findings":                         authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/findings/new":                     authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/findings":                        authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/findings/:id":                     authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/findings/:id/edit":                authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/findings/:id":                    authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/sanctions":                        authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/sanctions/new":                    authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/sanctions":                       authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/sanctions/:id":                    authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/sanctions/:id/edit":               authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/sanctions/:id":                   authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/risk-analyses":                    authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/risk-analyses/new":                authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/risk-analyses":                   authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/risk-analyses/:id":                authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/risk-analyses/:id/edit":           authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/risk-analyses/:id":               authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/risks":                            authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/risks/new":                        authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/risks":                           authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/risks/:id":                        authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/risks/:id/edit":                   authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/risks/:id":                       authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/policies":                         authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/policies/new":                     authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/policies":                        authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/policies/:id":                     authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/policies/:id/edit":                authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/policies/:id":                    authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/policy-acks":                      authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/policy-acks/new":                  authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/policy-acks":                     authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/policy-acks/:id":                  authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/policy-acks/:id/edit":             authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/policy-acks/:id":                 authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/training-courses":                 authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/training-courses/new":             authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/training-courses":                authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/training-courses/:id":             authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/training-courses/:id/edit":        authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/training-courses/:id":            authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/training-assignments":             authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/training-assignments/new":         authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/training-assignments":            authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/training-assignments/:id":         authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/training-assignments/:id/edit":    authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/training-assignments/:id":        authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/training-completions":             authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/training-completions/new":         authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/training-completions":            authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/training-completions/:id":         authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/training-completions/:id/edit":    authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/training-completions/:id":        authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/vendors":                          authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/vendors/new":                      authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/vendors":                         authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/vendors/:id":                      authz.ReadRecords,
	"GET /ui/t/:tenant/compliance/vendors/:id/edit":                 authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/vendors/:id":                     authz.WriteRecords,
	"GET /ui/t/:tenant/compliance/incidents/:id/clock":              authz.ReadRecords,
	"POST /ui/t/:tenant/compliance/incidents/:id/timeline":          authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/incidents/:id/assessment":        authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/incidents/:id/notice":            authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/policies/:id/acknowledge":        authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/training-completions/import":     authz.WriteRecords,
	"POST /ui/t/:tenant/compliance/calendar/generate":               authz.WriteRecords,
	// Tokens and grants of the tenant (api/tokens_api.go).
	"GET /api/v1/tenants/:tenant/tokens":                authz.ManageAccess,
	"POST /api/v1/tenants/:tenant/tokens":               authz.ManageAccess,
	"POST /api/v1/tenants/:tenant/tokens/:token/revoke": authz.ManageAccess,
	"GET /api/v1/tenants/:tenant/grants":                authz.ManageAccess,
	"POST /api/v1/tenants/:tenant/grants":               authz.ManageAccess,
	"POST /api/v1/tenants/:tenant/grants/revoke":        authz.ManageAccess,
	// Monthly log review (api/review).
	"GET /api/v1/tenants/:tenant/reviews":                                 authz.ReadReview,
	"GET /api/v1/tenants/:tenant/reviews/:period":                         authz.ReadReview,
	"GET /api/v1/tenants/:tenant/reviews/:period/items":                   authz.ReadReview,
	"GET /api/v1/tenants/:tenant/reviews/:period/items/:item":             authz.ReadReview,
	"POST /api/v1/tenants/:tenant/reviews/:period/items/:item/decision":   authz.DecideReview,
	"POST /api/v1/tenants/:tenant/reviews/:period/decisions":              authz.DecideReview,
	"POST /api/v1/tenants/:tenant/reviews/:period/items/:item/comments":   authz.DecideReview,
	"POST /api/v1/tenants/:tenant/reviews/:period/items/:item/assignment": authz.DecideReview,
	"POST /api/v1/tenants/:tenant/reviews/:period/assignments":            authz.DecideReview,
	"POST /api/v1/tenants/:tenant/reviews/:period/items/:item/answer":     authz.DecideReview,
	"POST /api/v1/tenants/:tenant/reviews/:period/sign-off":               authz.SignOffReview,
	"POST /api/v1/tenants/:tenant/reviews/:period/items/:item/amendment":  authz.SignOffReview,
	"GET /api/v1/tenants/:tenant/reviews/:period/export.csv":              authz.ExportEvidence,
	"GET /api/v1/tenants/:tenant/reviews/:period/export.pdf":              authz.ExportEvidence,
	// Access recertification (api/recert).
	"GET /api/v1/tenants/:tenant/recert/campaigns":                                 authz.ReadRecert,
	"POST /api/v1/tenants/:tenant/recert/campaigns":                                authz.ManageRecert,
	"GET /api/v1/tenants/:tenant/recert/campaigns/:campaign":                       authz.ReadRecert,
	"GET /api/v1/tenants/:tenant/recert/campaigns/:campaign/items":                 authz.ReadRecert,
	"POST /api/v1/tenants/:tenant/recert/campaigns/:campaign/items/:item/decision": authz.DecideRecert,
	"POST /api/v1/tenants/:tenant/recert/campaigns/:campaign/verify":               authz.ManageRecert,
	"POST /api/v1/tenants/:tenant/recert/campaigns/:campaign/signoff":              authz.ManageRecert,
	"GET /api/v1/tenants/:tenant/recert/campaigns/:campaign/export.csv":            authz.ExportEvidence,
	"GET /api/v1/tenants/:tenant/recert/campaigns/:campaign/export.pdf":            authz.ExportEvidence,
	// Compliance records (api/records).
	"GET /api/v1/tenants/:tenant/incidents":                        authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/incidents":                       authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/incidents/import":                authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/incidents/:id":                    authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/incidents/:id":                    authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/incidents/:id/history":            authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/patient-requests":                 authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/patient-requests":                authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/patient-requests/import":         authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/patient-requests/:id":             authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/patient-requests/:id":             authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/patient-requests/:id/history":     authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/disclosures":                      authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/disclosures":                     authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/disclosures/import":              authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/disclosures/:id":                  authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/disclosures/:id":                  authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/disclosures/:id/history":          authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/calendar":                         authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/calendar":                        authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/calendar/import":                 authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/calendar/:id":                     authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/calendar/:id":                     authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/calendar/:id/history":             authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/findings":                         authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/findings":                        authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/findings/import":                 authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/findings/:id":                     authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/findings/:id":                     authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/findings/:id/history":             authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/sanctions":                        authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/sanctions":                       authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/sanctions/import":                authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/sanctions/:id":                    authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/sanctions/:id":                    authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/sanctions/:id/history":            authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/risk-analyses":                    authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/risk-analyses":                   authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/risk-analyses/import":            authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/risk-analyses/:id":                authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/risk-analyses/:id":                authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/risk-analyses/:id/history":        authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/risks":                            authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/risks":                           authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/risks/import":                    authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/risks/:id":                        authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/risks/:id":                        authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/risks/:id/history":                authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/policies":                         authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/policies":                        authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/policies/import":                 authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/policies/:id":                     authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/policies/:id":                     authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/policies/:id/history":             authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/policy-acks":                      authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/policy-acks":                     authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/policy-acks/import":              authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/policy-acks/:id":                  authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/policy-acks/:id":                  authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/policy-acks/:id/history":          authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/training/courses":                 authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/training/courses":                authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/training/courses/import":         authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/training/courses/:id":             authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/training/courses/:id":             authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/training/courses/:id/history":     authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/training/assignments":             authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/training/assignments":            authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/training/assignments/import":     authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/training/assignments/:id":         authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/training/assignments/:id":         authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/training/assignments/:id/history": authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/training/completions":             authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/training/completions":            authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/training/completions/import":     authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/training/completions/:id":         authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/training/completions/:id":         authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/training/completions/:id/history": authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/vendors":                          authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/vendors":                         authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/vendors/import":                  authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/vendors/:id":                      authz.ReadRecords,
	"PUT /api/v1/tenants/:tenant/vendors/:id":                      authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/vendors/:id/history":              authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/incidents/intake":                authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/incidents/:id/timeline":          authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/incidents/:id/clock":              authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/breaches/clock":                   authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/breaches/deadlines":               authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/breaches/hhs-log":                 authz.ExportEvidence,
	"GET /api/v1/tenants/:tenant/patients/:patient/accounting":     authz.ReadEvents,
	"GET /api/v1/tenants/:tenant/patients/:patient/access-report":  authz.ReadEvents,
	"POST /api/v1/tenants/:tenant/calendar/generate":               authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/risk-analyses/seed-assets":        authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/policies/:id/acks":                authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/training/status":                  authz.ReadRecords,
	"POST /api/v1/tenants/:tenant/training/assign":                 authz.WriteRecords,
	"POST /api/v1/tenants/:tenant/training/completions/import-lms": authz.WriteRecords,
	"GET /api/v1/tenants/:tenant/compliance/status":                authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/compliance/reminders":             authz.ReadRecords,
	"GET /api/v1/tenants/:tenant/binder":                           authz.ExportEvidence,
}

// globalAuth is how a route outside a tenant authenticates.
type globalAuth struct {
	public bool             // answers without credentials
	login  bool             // a sign-in endpoint: public, and 401 to a bad credential
	perm   authz.Permission // "" = any authenticated caller
	mspAll bool             // only an msp_admin over all tenants
}

// globalRoutes is every other route and who may call it.
var globalRoutes = map[string]globalAuth{
	"GET /api/v1/openapi.json":     {public: true},
	"GET /api/v1/openapi.yaml":     {public: true},
	"GET /api/v1/me":               {},
	"GET /api/v1/fleet/compliance": {perm: authz.ReadFleet},
	// The reviewer UI, served when browser sessions are configured.
	"GET /":                {public: true}, // a redirect to /ui/
	"GET /ui/static/*file": {public: true},
	"GET /ui/":             {}, // the caller's practices
	"GET /signed-out":      {public: true},
	// Token sign-in for deployments without SSO (Config.TokenLogin).
	"GET /login":        {public: true},
	"POST /login/token": {public: true, login: true},
	"POST /logout":      {public: true},
	// MSP-wide access management (tokens, grants, tenant groups).
	"GET /api/v1/access/tokens":                {mspAll: true},
	"POST /api/v1/access/tokens":               {mspAll: true},
	"POST /api/v1/access/tokens/:token/revoke": {mspAll: true},
	"GET /api/v1/access/grants":                {mspAll: true},
	"POST /api/v1/access/grants":               {mspAll: true},
	"POST /api/v1/access/grants/revoke":        {mspAll: true},
	"GET /api/v1/access/groups":                {mspAll: true},
	"PUT /api/v1/access/groups/:group":         {mspAll: true},
}

const (
	mxOwn     = "mx-own"
	mxOther   = "mx-other"
	mxUnknown = "mx-nowhere"
	mxLeak    = "LEAKMARK" // written into every row of mxOther
)

// registeredRoutes are the routes of the router the binary serves.
func registeredRoutes(t testing.TB, h http.Handler) gin.RoutesInfo {
	t.Helper()
	e, ok := h.(interface{ Routes() gin.RoutesInfo })
	if !ok {
		t.Fatalf("api.New returned %T, which does not list its routes: keep it a *gin.Engine (or give the wrapper a Routes method)", h)
	}
	routes := e.Routes()
	sort.Slice(routes, func(i, j int) bool { return routes[i].Method+routes[i].Path < routes[j].Method+routes[j].Path })
	return routes
}

var pathParam = regexp.MustCompile(`[:*][A-Za-z0-9_]+`)

// concrete fills a route pattern: the tenant, and a placeholder for every
// other parameter.
func concrete(pattern, tenant string) string {
	return pathParam.ReplaceAllStringFunc(pattern, func(p string) string {
		if p == ":tenant" {
			return tenant
		}
		return "x1"
	})
}

func isTenantRoute(path string) bool { return strings.Contains(path, "/:tenant") }

// TestRouteMatrix: every registered route × every role × {own, other,
// unknown tenant}. Other and unknown tenants answer 404 whatever the role,
// a missing permission 403, and an allowed call reaches the handler (not
// 401, 403 or the tenant 404, no 5xx). No answer carries another tenant's
// data.
func TestRouteMatrix(t *testing.T) {
	s := apiStore.Store(t)
	seed(t, s, mxOwn, "OWNMARK")
	seed(t, s, mxOther, mxLeak)
	trail := &memAuditor{}
	runMatrix(t, newSecEnv(t, s, mxOwn, trail), trail)
}

// The same matrix for people signed in through the browser: their role
// comes from a grant in the store, their requests carry the session cookie
// and CSRF token.
func TestRouteMatrixSessions(t *testing.T) {
	s := apiStore.Store(t)
	seed(t, s, "mxs-own", "OWNMARK")
	seed(t, s, mxOther, mxLeak)
	trail := &memAuditor{}
	runMatrix(t, newSessionEnv(t, s, "mxs-own", trail), trail)
	vias := map[string]int{}
	for _, e := range trail.entries {
		if e.Subject != "" {
			vias[e.Via]++
		}
	}
	if vias["session"] == 0 || len(vias) != 1 {
		t.Fatalf("callers came via %v, want sessions only", vias)
	}
}

// Every route in the tables is registered by the API as the binary
// builds it, with or without browser sessions (the UI).
func TestRouteMatrixTableCurrent(t *testing.T) {
	registered := map[string]bool{}
	for _, h := range []http.Handler{newSecEnv(t, &fakeStore{}, mxOwn, &memAuditor{}).h, newSessionEnvRoutes(t)} {
		for _, r := range registeredRoutes(t, h) {
			registered[r.Method+" "+r.Path] = true
		}
	}
	for k := range tenantRoutes {
		if !registered[k] {
			t.Errorf("the matrix lists %s, which is not registered: remove it", k)
		}
	}
	for k := range globalRoutes {
		if !registered[k] {
			t.Errorf("the matrix lists %s, which is not registered: remove it", k)
		}
	}
}

func runMatrix(t *testing.T, env *secEnv, trail *memAuditor) {
	mxOwn := env.own
	routes := registeredRoutes(t, env.h)
	defer func() { t.Logf("%d routes, %d audit entries written", len(routes), trail.count()) }()

	for _, r := range routes {
		key := r.Method + " " + r.Path
		body := ""
		if r.Method != "GET" && r.Method != "HEAD" && r.Method != "DELETE" {
			body = "{}"
		}
		if !isTenantRoute(r.Path) {
			ga, ok := globalRoutes[key]
			if !ok {
				t.Errorf("%s is registered but not in the matrix (globalRoutes): add it with its expected authentication", key)
				continue
			}
			checkGlobal(t, env, r, ga, body)
			continue
		}
		perm, ok := tenantRoutes[key]
		if !ok {
			t.Errorf("%s is registered but not in the matrix (tenantRoutes): add it with the permission it needs", key)
			continue
		}
		// A UI page without a session sends the browser to sign in.
		if rec := env.do(t, r.Method, concrete(r.Path, mxOwn), "", body); rec.Code != 401 &&
			!(rec.Code == 303 && strings.HasPrefix(rec.Header().Get("Location"), "/login?next=")) {
			t.Errorf("%s without credentials: %d, want 401 or a redirect to /login", key, rec.Code)
		}
		for _, role := range authz.Roles {
			for _, tenant := range []string{mxOwn, mxOther, mxUnknown} {
				before := trail.count()
				rec := env.do(t, r.Method, concrete(r.Path, tenant), role, body)
				if trail.count() == before {
					t.Errorf("%s as %s in %s left no entry in the audit trail", key, role, tenant)
				}
				where := fmt.Sprintf("%s as %s in %s", key, role, tenant)
				if strings.Contains(rec.Body.String(), mxLeak) {
					t.Errorf("%s: the answer holds the other tenant's data: %.200s", where, rec.Body)
				}
				switch {
				case tenant != mxOwn:
					if rec.Code != 404 || !isTenant404(rec) {
						t.Errorf("%s: %d %.200s, want the tenant 404", where, rec.Code, rec.Body)
					}
				case !role.Can(perm):
					if rec.Code != 403 {
						t.Errorf("%s: %d, want 403 (the role lacks %s)", where, rec.Code, perm)
					}
				default:
					if rec.Code == 401 || rec.Code == 403 || isTenant404(rec) || rec.Code >= 500 {
						t.Errorf("%s: %d %.200s, want the handler's answer (the role holds %s)", where, rec.Code, rec.Body, perm)
					}
				}
			}
		}
	}
}

// isTenant404 tells the scope's 404 (tenant not visible) from a handler's
// own 404 (no such case, patient, …).
func isTenant404(rec interface {
	Result() *http.Response
}) bool {
	res := rec.Result()
	if res.StatusCode != 404 {
		return false
	}
	b, _ := io.ReadAll(res.Body)
	var p Problem
	return json.Unmarshal(b, &p) == nil && p.Detail == "no such tenant"
}

func checkGlobal(t *testing.T, env *secEnv, r gin.RouteInfo, ga globalAuth, body string) {
	t.Helper()
	key := r.Method + " " + r.Path
	path := concrete(r.Path, mxOwn)
	rec := env.do(t, r.Method, path, "", body)
	switch {
	case ga.public && !ga.login && (rec.Code == 401 || rec.Code == 403):
		t.Errorf("%s is public but answers %d without credentials", key, rec.Code)
	case !ga.public && rec.Code != 401 && rec.Code != 303:
		t.Errorf("%s without credentials: %d, want 401 (or a redirect to the login)", key, rec.Code)
	}
	if ga.public {
		return
	}
	for _, role := range append(slices.Clone(authz.Roles), mspAllRole) {
		rec := env.do(t, r.Method, path, role, body)
		where := fmt.Sprintf("%s as %s", key, role)
		if strings.Contains(rec.Body.String(), mxLeak) {
			t.Errorf("%s: the answer holds another tenant's data", where)
		}
		effective := role
		if role == mspAllRole {
			effective = authz.MSPAdmin
		}
		allowed := effective.Can(ga.perm) || ga.perm == ""
		if ga.mspAll {
			allowed = role == mspAllRole
		}
		if allowed {
			if rec.Code == 401 || rec.Code == 403 || rec.Code >= 500 {
				t.Errorf("%s: %d %.200s, want the handler's answer", where, rec.Code, rec.Body)
			}
		} else if rec.Code != 403 {
			t.Errorf("%s: %d, want 403", where, rec.Code)
		}
	}
}

// The matrix table agrees with the permission each route declares.
func TestRouteMatrixMatchesDeclaredPermissions(t *testing.T) {
	cfg := Config{Store: &fakeStore{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now,
		Registry: prometheus.NewRegistry()}
	s := &server{cfg: cfg}
	declared := map[string]authz.Permission{}
	for _, rt := range s.routes() {
		declared[rt.Method+" /api/v1/tenants/:tenant"+rt.Path] = rt.Perm
	}
	for k, p := range declared {
		if want, ok := tenantRoutes[k]; ok && want != p {
			t.Errorf("%s declares %s, the matrix expects %s", k, p, want)
		}
	}
}

// The permission table in docs/security.md is the one internal/authz
// enforces.
func TestSecurityDocPermissionTable(t *testing.T) {
	f, err := os.Open("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var header []string
	doc := map[authz.Permission]map[authz.Role]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			if header != nil && len(doc) > 0 {
				break // the table ended
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`*")
		}
		if header == nil {
			if cells[0] == "permission" {
				header = cells
			}
			continue
		}
		if strings.HasPrefix(cells[0], "---") || strings.HasPrefix(cells[0], ":--") {
			continue
		}
		if len(cells) != len(header) {
			t.Fatalf("row %q has %d cells, the header %d", line, len(cells), len(header))
		}
		row := map[authz.Role]bool{}
		for i, c := range cells[1:] {
			switch c {
			case "✓", "yes":
				row[authz.Role(header[i+1])] = true
			case "", "–", "-", "no":
			default:
				t.Fatalf("cell %q in row %s: use ✓ or –", c, cells[0])
			}
		}
		perm, _, _ := strings.Cut(cells[0], " ") // "`alerts:read` — what it allows"
		doc[authz.Permission(strings.Trim(perm, "`"))] = row
	}
	if header == nil {
		t.Fatal("docs/security.md has no table starting | permission |")
	}
	var roles []authz.Role
	for _, h := range header[1:] {
		roles = append(roles, authz.Role(h))
	}
	if !slices.Equal(roles, authz.Roles) {
		t.Fatalf("the table's roles %v, authz has %v", roles, authz.Roles)
	}
	for _, p := range authz.Permissions() {
		row, ok := doc[p]
		if !ok {
			t.Errorf("permission %s is not in docs/security.md", p)
			continue
		}
		for _, r := range authz.Roles {
			if row[r] != r.Can(p) {
				t.Errorf("docs/security.md says %s %v for %s; authz says %v", r, row[r], p, r.Can(p))
			}
		}
	}
	if len(doc) != len(authz.Permissions()) {
		t.Errorf("docs/security.md lists %d permissions, authz %d", len(doc), len(authz.Permissions()))
	}
}
