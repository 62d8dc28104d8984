package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phiwatch/phiwatch/api"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/store"
)

// apiServer serves the API with /metrics and health on the same listener.
type apiServer struct {
	srv    *http.Server
	ln     net.Listener
	scheme string
	flush  func(context.Context) error // pending self-audit rows
}

// apiOptions are how the API is served; cfg carries the authentication
// and hardening settings (Store, Log and Registry are filled in).
type apiOptions struct {
	addr            string
	tlsCert, tlsKey string
	cfg             api.Config
}

func startAPI(addr string, s store.Store, tokens *api.Tokens, m *metrics.Metrics, log *slog.Logger) (*apiServer, error) {
	return startAPIWith(apiOptions{addr: addr, cfg: api.Config{Tokens: tokens}}, s, m, log)
}

func startAPIWith(o apiOptions, s store.Store, m *metrics.Metrics, log *slog.Logger) (*apiServer, error) {
	cfg := o.cfg
	cfg.Store, cfg.Log, cfg.Registry = s, log, m.Registry
	// Per-request audit rows are batched (a second at most); reads of
	// patient data, reveals and decisions are still written before the
	// answer. Shutdown writes what is pending.
	var batcher *audit.Batcher
	if cfg.Auditor == nil {
		batcher = audit.NewBatcher(audit.NewStoreAuditor(s), log, audit.BatchOptions{})
		cfg.Auditor = batcher
	}
	h, err := api.New(cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", h)
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Ping(r.Context()); err != nil {
			log.Warn("readiness: store unavailable", "err", err)
			http.Error(w, "store: unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "store: ok")
	})
	mux.Handle("/", h) // login, UI, and problem+json 404s for everything else
	a := &apiServer{scheme: "http", srv: &http.Server{Handler: api.SecurityHeaders(mux, cfg.HSTS), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	if batcher != nil {
		a.flush = batcher.Flush
	}
	if o.tlsCert != "" || o.tlsKey != "" {
		if o.tlsCert == "" || o.tlsKey == "" {
			return nil, errors.New("give both --tls-cert-file and --tls-key-file, or neither")
		}
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("API TLS certificate: %w", err)
		}
		a.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		a.scheme = "https"
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("API listen on %s: %w", o.addr, err)
	}
	a.ln = ln
	if a.srv.TLSConfig != nil {
		ln = tls.NewListener(ln, a.srv.TLSConfig)
	}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("API server stopped", "err", err)
		}
	}()
	log.Info("API listening", "url", a.URL())
	return a, nil
}

func (a *apiServer) URL() string { return a.scheme + "://" + a.ln.Addr().String() }

func (a *apiServer) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.srv.Shutdown(ctx)
	if a.flush != nil {
		_ = a.flush(ctx)
	}
}

// authFlags are the API's authentication and hardening settings.
type authFlags struct {
	tokensFile, tlsCert, tlsKey, publicURL                 string
	oidcIssuer, oidcClientID, oidcSecretFile, oidcRedirect string
	oidcAudience, oidcScopes, sessionKeyFile, maskKeyFile  string
	trustedProxies                                         string
	oidcUnverifiedEmail, noStoreTokens, uiTokenLogin       bool
	sessionTTL, cacheTTL                                   time.Duration
	maxBody                                                int64
	rate                                                   float64
	burst                                                  int
}

func (f *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.tokensFile, "tokens-file", "", "YAML file of bootstrap API tokens (name, token_sha256, tenants, role); optional once tokens are created with 'phiwatch token create'")
	fs.BoolVar(&f.noStoreTokens, "no-store-tokens", false, "accept only the --tokens-file tokens and OIDC, not the tokens and grants kept in the store")
	fs.DurationVar(&f.cacheTTL, "auth-cache-ttl", 5*time.Second, "how long a token or grant lookup is reused: a revocation made on another replica or with the CLI takes effect within it")
	fs.StringVar(&f.tlsCert, "tls-cert-file", "", "PEM certificate (chain) to serve HTTPS; with --tls-key-file")
	fs.StringVar(&f.tlsKey, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&f.publicURL, "public-url", "", "URL browsers use to reach the API, e.g. https://phiwatch.example.org (behind a TLS proxy: turns on Secure cookies and HSTS; default: --listen)")
	fs.StringVar(&f.oidcIssuer, "oidc-issuer-url", "", "OpenID Connect issuer for single sign-on, e.g. https://login.microsoftonline.com/<tenant>/v2.0 (empty: no SSO)")
	fs.StringVar(&f.oidcClientID, "oidc-client-id", "", "OIDC client id registered for phiwatch at the issuer")
	fs.StringVar(&f.oidcSecretFile, "oidc-client-secret-file", "", "file holding the OIDC client secret (omit for a public client; PKCE is always used)")
	fs.StringVar(&f.oidcRedirect, "oidc-redirect-url", "", "the callback registered at the issuer (default: --public-url + /auth/callback)")
	fs.StringVar(&f.oidcAudience, "oidc-audience", "", "audience (aud) API bearer JWTs must carry (default: --oidc-client-id)")
	fs.StringVar(&f.oidcScopes, "oidc-scopes", "openid,email,profile", "scopes asked for at login, comma-separated")
	fs.BoolVar(&f.oidcUnverifiedEmail, "oidc-allow-unverified-email", false, "match email grants even when the issuer does not mark the email verified (only for issuers that verify every address, e.g. a single Entra ID tenant)")
	fs.StringVar(&f.sessionKeyFile, "session-key-file", "", "file with the 32-byte key of the login session cookies, the same on every replica (openssl rand -hex 32); default: a random key, sessions end at restart")
	fs.DurationVar(&f.sessionTTL, "session-ttl", 8*time.Hour, "how long a browser session lasts after login")
	fs.StringVar(&f.maskKeyFile, "mask-key-file", "", "file with the 32-byte key of the opaque patient references (pr_…) in lists, the same on every replica (openssl rand -hex 32); default: a random key, references change at restart")
	fs.BoolVar(&f.uiTokenLogin, "ui-token-login", false, "let the reviewer UI's sign-in page take an API token (for deployments without single sign-on; every sign-in is audited)")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For gives the client address (default: none; the connection's address is used)")
	fs.Int64Var(&f.maxBody, "max-body-bytes", api.DefaultMaxBody, "largest request body accepted; larger ones get 413")
	fs.Float64Var(&f.rate, "rate-limit", 20, "requests per second each caller (token, person, or address before login) may make on average; 0 turns the limit off")
	fs.IntVar(&f.burst, "rate-burst", 60, "requests a caller may make at once before --rate-limit applies")
}

// config builds the API's authentication from the flags.
func (f *authFlags) config(ctx context.Context, s store.Store, listen string, log *slog.Logger) (apiOptions, error) {
	o := apiOptions{addr: listen, tlsCert: f.tlsCert, tlsKey: f.tlsKey}
	c := &o.cfg
	c.MaxBodyBytes = f.maxBody
	if f.maxBody <= 0 {
		return o, errors.New("--max-body-bytes must be positive")
	}
	if f.rate < 0 || f.burst < 1 {
		return o, errors.New("--rate-limit must be 0 or more and --rate-burst at least 1")
	}
	c.RateLimit = api.RateLimit{Rate: f.rate, Burst: f.burst}
	for _, p := range strings.Split(f.trustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	secure := f.tlsCert != ""
	if f.publicURL != "" {
		u, err := url.Parse(f.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("--public-url %q: want e.g. https://phiwatch.example.org", f.publicURL)
		}
		c.PublicHost = u.Host
		secure = secure || u.Scheme == "https"
		c.HSTS = u.Scheme == "https"
	}
	if f.maskKeyFile != "" {
		k, err := api.LoadSessionKey(f.maskKeyFile)
		if err != nil {
			return o, fmt.Errorf("--mask-key-file: %w", err)
		}
		c.MaskKey = k
	}
	if f.tokensFile != "" {
		t, err := api.LoadTokens(f.tokensFile)
		if err != nil {
			return o, err
		}
		c.Tokens = t
	}
	if !f.noStoreTokens {
		c.Access = api.NewAccess(s, api.AccessOptions{CacheTTL: f.cacheTTL})
	}
	if f.oidcIssuer != "" {
		if f.oidcClientID == "" {
			return o, errors.New("--oidc-issuer-url needs --oidc-client-id")
		}
		if c.Access == nil {
			return o, errors.New("OIDC maps people to roles through the grants in the store: drop --no-store-tokens")
		}
		oc := api.OIDCConfig{IssuerURL: f.oidcIssuer, ClientID: f.oidcClientID, RedirectURL: f.oidcRedirect,
			Audience: f.oidcAudience, AllowUnverifiedEmail: f.oidcUnverifiedEmail}
		for _, sc := range strings.Split(f.oidcScopes, ",") {
			if sc = strings.TrimSpace(sc); sc != "" {
				oc.Scopes = append(oc.Scopes, sc)
			}
		}
		if f.oidcSecretFile != "" {
			b, err := os.ReadFile(f.oidcSecretFile)
			if err != nil {
				return o, fmt.Errorf("read the OIDC client secret: %w", err)
			}
			oc.ClientSecret = strings.TrimSpace(string(b))
		}
		if oc.RedirectURL == "" {
			if f.publicURL == "" {
				return o, errors.New("--oidc-issuer-url needs --oidc-redirect-url or --public-url (the callback the issuer redirects browsers to)")
			}
			oc.RedirectURL = strings.TrimSuffix(f.publicURL, "/") + "/auth/callback"
		}
		oidc, err := api.NewOIDC(ctx, oc)
		if err != nil {
			return o, err
		}
		c.OIDC = oidc
		log.Info("OIDC single sign-on enabled", "issuer", f.oidcIssuer, "client_id", f.oidcClientID, "redirect_url", oc.RedirectURL)
	}
	if c.OIDC != nil || f.uiTokenLogin {
		key := api.NewSessionKey()
		if f.sessionKeyFile != "" {
			var err error
			if key, err = api.LoadSessionKey(f.sessionKeyFile); err != nil {
				return o, err
			}
		} else {
			log.Warn("no --session-key-file: login sessions use a random key and end when this process stops; with several API replicas, give them one key file")
		}
		var err error
		if c.Sessions, err = api.NewSessions(api.SessionConfig{Key: key, TTL: f.sessionTTL, Secure: secure}); err != nil {
			return o, err
		}
		c.TokenLogin = f.uiTokenLogin
	}
	if c.Tokens == nil && c.Access == nil {
		return o, errors.New("no authentication: give --tokens-file, or leave the store's tokens on (drop --no-store-tokens)")
	}
	return o, nil
}

func setupAPI(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg, listen string
		lg          logFlags
		sf          storeFlags
		af          authFlags
		rf          reviewFlags
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lg.register(fs)
	sf.register(fs)
	af.register(fs)
	rf.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "API address (also serves /metrics, /healthz, /readyz)")
	return func(ctx context.Context, args []string) error {
		log, err := lg.logger(e.stderr)
		if err != nil {
			return err
		}
		s, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := store.Migrate(ctx, s, log); err != nil {
			return err
		}
		o, err := af.config(ctx, s, listen, log)
		if err != nil {
			return err
		}
		// The API and the UI decide review items with the job's settings.
		if o.cfg.Review, err = rf.service(); err != nil {
			return err
		}
		a, err := startAPIWith(o, s, metrics.New(), log)
		if err != nil {
			return err
		}
		// The monthly log review: open periods, reminders, digest (docs/review.md).
		reviewDone, err := rf.start(ctx, s, log)
		if err != nil {
			a.Shutdown()
			return err
		}
		<-ctx.Done()
		a.Shutdown()
		reviewDone()
		return nil
	}
}
