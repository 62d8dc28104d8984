// Package api serves phiwatch's HTTP API: alerts and events per tenant,
// for callers authenticated by API token, OIDC bearer token or login
// session (auth_chain.go) and scoped to their tenants. Errors are RFC 9457
// problem+json.
package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiwatch/phiwatch/analyze"
	recertapi "github.com/phiwatch/phiwatch/api/recert"
	recordsapi "github.com/phiwatch/phiwatch/api/records"
	reviewapi "github.com/phiwatch/phiwatch/api/review"
	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/records"
	"github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Config is what the API server needs.
type Config struct {
	Store    store.Querier
	Tokens   *Tokens
	Log      *slog.Logger
	Registry prometheus.Registerer
	// DefaultRange is how far back listings go without ?from (default 90 days).
	DefaultRange time.Duration
	Now          func() time.Time
	// Auditor writes the self-audit trail (default: an audit.Batcher on
	// the audit_log table of Store; pass your own to Flush it at shutdown).
	// Patient-data reads fail closed when it fails.
	Auditor Auditor
	// MaskKey keys the opaque patient references in list responses (see
	// mask.go); default: random per process, so references last until a
	// restart.
	MaskKey []byte

	// Authentication (README "Authentication"); at least one of Tokens
	// (the bootstrap tokens file), Access (tokens and grants in the store)
	// and OIDC. OIDC's browser login needs Sessions.
	Access   *Access
	OIDC     *OIDC
	Sessions *Sessions
	// PublicHost is the host[:port] browsers reach the API at, checked
	// against the Origin of state-changing UI requests (default: the
	// request's Host).
	PublicHost string
	// HSTS sends Strict-Transport-Security (set when TLS is terminated in
	// front of the API; direct TLS sets it by itself).
	HSTS bool
	// RateLimit is per principal (zero Rate: none).
	RateLimit RateLimit
	// MaxBodyBytes limits request bodies (0: DefaultMaxBody; negative: none).
	MaxBodyBytes int64
	// TrustedProxies are the addresses (IPs or CIDRs) of reverse proxies
	// whose X-Forwarded-For is believed; by default none, so a client
	// cannot choose the address rate limits and the audit trail see.
	TrustedProxies []string
	// TokenLogin lets the UI's sign-in page take an API token
	// (token_login.go): for deployments without single sign-on.
	TokenLogin bool
	// Review is the monthly log review service the API and the UI share
	// (nil: default settings; inappropriate decisions open incidents).
	Review *review.Service
}

type server struct {
	cfg      Config
	auth     *authenticator
	access   *Access
	limiter  *limiter
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New builds the HTTP handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil || cfg.Log == nil {
		return nil, fmt.Errorf("api: store and logger are required")
	}
	if cfg.Tokens == nil && cfg.Access == nil && cfg.OIDC == nil {
		return nil, fmt.Errorf("api: no authentication configured (tokens file, stored tokens or OIDC): every request would be refused")
	}
	if cfg.TokenLogin && cfg.Sessions == nil {
		return nil, fmt.Errorf("api: token sign-in needs sessions (a session key)")
	}
	if cfg.OIDC != nil && cfg.Sessions == nil {
		return nil, fmt.Errorf("api: OIDC login needs sessions (a session key)")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBody
	}
	if cfg.DefaultRange <= 0 {
		cfg.DefaultRange = 90 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Review == nil {
		cfg.Review = review.NewService(review.Config{}, records.ReviewIncidents{}, cfg.Now)
	}
	if cfg.Auditor == nil {
		cfg.Auditor = audit.NewBatcher(audit.NewStoreAuditor(cfg.Store), cfg.Log, audit.BatchOptions{})
	}
	if len(cfg.MaskKey) == 0 {
		cfg.MaskKey = newMaskKey()
	}
	s := &server{
		cfg:     cfg,
		access:  cfg.Access,
		limiter: newLimiter(cfg.RateLimit, cfg.Now),
		auth: &authenticator{tokens: cfg.Tokens, access: cfg.Access, oidc: cfg.OIDC, sessions: cfg.Sessions,
			auditor: cfg.Auditor, log: cfg.Log, now: cfg.Now, publicHost: cfg.PublicHost, tokenLogin: cfg.TokenLogin,
			failures: newLimiter(RateLimit{Rate: cfg.RateLimit.Rate / 4, Burst: cfg.RateLimit.Burst}, cfg.Now)},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_api_requests_total", Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "phiwatch_api_request_duration_seconds", Help: "API request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"route"}),
	}
	if cfg.Registry != nil {
		if err := cfg.Registry.Register(s.requests); err != nil {
			return nil, err
		}
		if err := cfg.Registry.Register(s.duration); err != nil {
			return nil, err
		}
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("api: trusted proxies: %w", err)
	}
	r.Use(s.recover(), securityHeaders(cfg.HSTS), s.observe(), bodyLimit(cfg.MaxBodyBytes))
	r.NoRoute(func(c *gin.Context) { problem(c, 404, "no such endpoint") })
	registerOpenAPI(r) // public: the document holds no data
	if cfg.OIDC != nil {
		r.GET("/login", s.limiter.middleware(), s.auth.handleLogin)
		r.GET("/auth/callback", s.limiter.middleware(), s.auth.handleCallback)
		r.POST("/logout", s.limiter.middleware(), s.auth.handleLogout)
	}
	if err := s.mountUI(r); err != nil {
		return nil, fmt.Errorf("api: reviewer UI: %w", err)
	}
	v1 := r.Group("/api/v1", s.auth.require(), s.limiter.middleware())
	v1.GET("/me", s.me)
	s.mountAccess(v1)
	s.mountFleet(v1)
	tenant := v1.Group("/tenants/:tenant", audit.Middleware(cfg.Auditor, cfg.Log))
	for _, rt := range s.routes() {
		if rt.Perm == "" {
			return nil, fmt.Errorf("api: route %s %s declares no permission", rt.Method, rt.Path)
		}
		tenant.Handle(rt.Method, rt.Path, tenantScope(cfg.Store, rt.Perm), rt.Handle)
	}
	return r, nil
}

// routes lists every tenant route: the server's own and each feature's.
func (s *server) routes() []route.Route {
	rs := []route.Route{
		{Method: "GET", Path: "/alerts", Perm: authz.ReadAlerts, Handle: s.alerts},
		{Method: "GET", Path: "/events", Perm: authz.ReadEvents, Handle: s.events},
		{Method: "GET", Path: "/cases", Perm: authz.ReadAlerts, Handle: s.cases},
		{Method: "POST", Path: "/patients/:patient/reveal", Perm: authz.RevealPHI, Handle: s.reveal},
		{Method: "GET", Path: "/audit", Perm: authz.ReadAudit, Handle: s.auditLog},
		{Method: "GET", Path: "/audit/export", Perm: authz.ReadAudit, Handle: s.auditExport},
	}
	rs = append(rs, s.accessRoutes()...)
	rs = append(rs, s.caseRoutes()...)
	// Feature packages: one line each.
	rs = append(rs, recertapi.Routes(recertapi.Deps{Log: s.cfg.Log, Now: s.cfg.Now})...)
	rs = append(rs, recordsapi.Routes(recordsapi.Deps{Log: s.cfg.Log, Now: s.cfg.Now})...)
	rs = append(rs, reviewapi.Routes(reviewapi.Deps{Service: s.cfg.Review, Log: s.cfg.Log, Now: s.cfg.Now, Mask: s.maskText})...)
	return rs
}

func (s *server) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		s.requests.WithLabelValues(route, strconv.Itoa(c.Writer.Status())).Inc()
		s.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		s.cfg.Log.Debug("api request", "route", route, "status", c.Writer.Status(), "duration", time.Since(start))
	}
}

// page reads limit/offset.
func page(c *gin.Context) (limit, offset int, ok bool) {
	limit, offset = 50, 0
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			problem(c, 400, "limit must be a number from 1 to 500")
			return 0, 0, false
		}
		limit = n
	}
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			problem(c, 400, "offset must be a number from 0 to 1000000")
			return 0, 0, false
		}
		offset = n
	}
	return limit, offset, true
}

// timeRange reads from/to (RFC 3339); to defaults to now, from to
// DefaultRange before it.
func (s *server) timeRange(c *gin.Context) (from, to time.Time, ok bool) {
	to = s.cfg.Now()
	if v := c.Query("to"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			problem(c, 400, "to must be an RFC 3339 time, e.g. 2026-10-31T00:00:00Z")
			return from, to, false
		}
		to = t
	}
	from = to.Add(-s.cfg.DefaultRange)
	if v := c.Query("from"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			problem(c, 400, "from must be an RFC 3339 time, e.g. 2026-10-01T00:00:00Z")
			return from, to, false
		}
		from = t
	}
	if !from.Before(to) {
		problem(c, 400, "from must be before to")
		return from, to, false
	}
	return from, to, true
}

type listResponse[T any] struct {
	Tenant     string    `json:"tenant"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Items      []T       `json:"items"`
	NextOffset *int      `json:"next_offset"`
}

func respond[T any](c *gin.Context, tenant string, from, to time.Time, items []T, limit, offset int) {
	if items == nil {
		items = []T{}
	}
	resp := listResponse[T]{Tenant: tenant, From: from.UTC(), To: to.UTC(), Items: items}
	if len(items) == limit {
		next := offset + limit
		resp.NextOffset = &next
	}
	c.JSON(http.StatusOK, resp)
}

// listing holds the parameters every list endpoint takes.
type listing struct {
	tenant        string
	from, to      time.Time
	limit, offset int
}

// listParams reads them, answering 400 itself when they are bad.
func (s *server) listParams(c *gin.Context) (listing, bool) {
	l := listing{tenant: c.Param("tenant")}
	var ok bool
	if l.from, l.to, ok = s.timeRange(c); !ok {
		return l, false
	}
	l.limit, l.offset, ok = page(c)
	return l, ok
}

func (s *server) alerts(c *gin.Context) {
	l, ok := s.listParams(c)
	if !ok {
		return
	}
	tenant, from, to, limit, offset := l.tenant, l.from, l.to, l.limit, l.offset
	f := AlertFilter{From: from, To: to, Limit: limit, Offset: offset, Rule: c.Query("rule"), MinSeverity: c.Query("severity")}
	if f.MinSeverity != "" {
		if _, known := severityRank[f.MinSeverity]; !known {
			problem(c, 400, fmt.Sprintf("severity must be one of %v (alerts at or above it are listed)", analyze.Severities))
			return
		}
	}
	items, err := listAlerts(c.Request.Context(), route.Store(c), f)
	if err != nil {
		s.cfg.Log.Error("list alerts", "tenant", tenant, "err", err)
		problem(c, 500, "alerts could not be read; the error is in the server log")
		return
	}
	masked, err := maskAlerts(c.Request.Context(), route.Store(c), s.cfg.MaskKey, items)
	if err != nil {
		s.cfg.Log.Error("mask alerts", "tenant", tenant, "err", err)
		problem(c, 500, "alerts could not be read; the error is in the server log")
		return
	}
	respond(c, tenant, from, to, masked, limit, offset)
}

func (s *server) events(c *gin.Context) {
	l, ok := s.listParams(c)
	if !ok {
		return
	}
	tenant, from, to, limit, offset := l.tenant, l.from, l.to, l.limit, l.offset
	f := EventFilter{From: from, To: to, Limit: limit, Offset: offset, Actor: c.Query("actor"), Patient: c.Query("patient")}
	if f.Actor == "" && f.Patient == "" {
		problem(c, 400, "give actor=<user id> or patient=<patient id>: events are listed for one person at a time")
		return
	}
	if len(f.Actor) > 256 || len(f.Patient) > 256 {
		problem(c, 400, "actor and patient are at most 256 characters")
		return
	}
	if isRef(f.Patient) {
		f.PatientRef, f.Patient = f.Patient, ""
		f.MaskKey = s.cfg.MaskKey
	}
	items, err := listEvents(c.Request.Context(), route.Store(c), f)
	if err != nil {
		s.cfg.Log.Error("list events", "tenant", tenant, "err", err)
		problem(c, 500, "events could not be read; the error is in the server log")
		return
	}
	masked, err := maskEvents(c.Request.Context(), route.Store(c), s.cfg.MaskKey, items)
	if err != nil {
		s.cfg.Log.Error("mask events", "tenant", tenant, "err", err)
		problem(c, 500, "events could not be read; the error is in the server log")
		return
	}
	// Raw access events are patient data: no record, no data.
	if err := audit.Note(c, audit.ActionReadEvents, eventsTarget(f), ""); err != nil {
		s.cfg.Log.Error("audit events read", "tenant", tenant, "err", err)
		problem(c, 503, "the read could not be recorded in the audit trail, so it is refused; try again later")
		return
	}
	respond(c, tenant, from, to, masked, limit, offset)
}
