package pull

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/phiwatch/phiwatch/internal/metrics"
)

// BuildOptions are what Build needs beyond the source's configuration.
type BuildOptions struct {
	Deps
	Metrics   *metrics.Metrics
	Getenv    func(string) string
	UserAgent string
	// HTTP is the client for API calls; nil: one with sensible transport
	// timeouts (per-call timeouts are the Client's).
	HTTP *http.Client
	// Retry overrides the backoff of the API client (tests); zero: defaults.
	BaseDelay time.Duration
}

// NewHTTPClient returns an http.Client for source APIs: TLS 1.2 or later,
// bounded connect and header waits, no overall timeout (downloads are
// bounded per read by Client instead).
func NewHTTPClient(headerTimeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ResponseHeaderTimeout = headerTimeout
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}
}

// Build makes the Runner of a source checked by ParseConfig: its API
// client, credentials and puller. The sink in o.Deps is wrapped to count
// records in o.Metrics.
func Build(sc *SourceConfig, o BuildOptions) (*Runner, error) {
	id := sc.ID()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	log := o.Log.With("tenant", id.Tenant, "source", id.Name)
	hc := o.HTTP
	if hc == nil {
		hc = NewHTTPClient(sc.RequestTimeout.D())
	}
	newClient := func() *Client {
		return &Client{HTTP: hc, MaxAttempts: sc.MaxAttempts, MaxBody: sc.MaxResponseBytes, Timeout: sc.RequestTimeout.D(),
			BaseDelay: o.BaseDelay, UserAgent: o.UserAgent, Log: log, Now: o.Now, Sleep: o.Sleep,
			OnRetry: func(reason string) { o.Metrics.PullRetries.WithLabelValues(id.Type, reason).Inc() }}
	}
	api := newClient()
	var base *url.URL
	if sc.BaseURL != "" {
		var err error
		if base, err = checkURL("base_url", sc.BaseURL); err != nil {
			return nil, err
		}
	}
	auth, err := buildAuth(sc, base, newClient(), o)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", id, err)
	}
	api.Auth = auth
	d := o.Deps
	d.Sink = countingSink{Sink: o.Sink, m: o.Metrics, typ: id.Type}
	var p Puller
	switch sc.Type {
	case TypeFHIRREST:
		f := NewFHIRREST(id, base, api, d)
		f.TimeParam, f.PageSize, f.Lag, f.InitialLookback = sc.TimeParam, sc.PageSize, sc.Lag.D(), sc.InitialLookback.D()
		f.Params = params(sc.Params)
		p = f
	case TypeFHIRBulk:
		f := NewFHIRBulk(id, base, api, d)
		f.ExportPath, f.PollInterval, f.ExportTimeout, f.InitialLookback = sc.ExportPath, sc.PollInterval.D(), sc.ExportTimeout.D(), sc.InitialLookback.D()
		f.Params = params(sc.Params)
		p = f
	case TypeM365Activity:
		m := NewM365(id, base, sc.Auth.AzureTenantID, api, d)
		m.ContentTypes, m.Overlap, m.InitialLookback = sc.ContentTypes, sc.Overlap.D(), sc.InitialLookback.D()
		p = m
	case TypeGoogleReports:
		g := NewGoogle(id, base, api, d)
		g.Applications, g.CustomerID, g.PageSize, g.Lag, g.InitialLookback = sc.Applications, sc.CustomerID, sc.PageSize, sc.Lag.D(), sc.InitialLookback.D()
		p = g
	default:
		return nil, fmt.Errorf("source %s: unknown type %q", id, sc.Type)
	}
	return &Runner{ID: id, Interval: sc.Interval.D(), Puller: p, Sink: d.Sink, Metrics: o.Metrics, Log: o.Log, Now: o.Now, Sleep: o.Sleep}, nil
}

func params(m map[string]string) url.Values {
	v := url.Values{}
	for k, s := range m {
		v.Set(k, s)
	}
	return v
}

// buildAuth makes the source's TokenSource (nil for none). hc is a client
// without auth, for the token endpoint.
func buildAuth(sc *SourceConfig, base *url.URL, hc *Client, o BuildOptions) (TokenSource, error) {
	a := sc.Auth
	getenv := o.Getenv
	switch a.Type {
	case "none":
		return nil, nil
	case "bearer":
		s, err := checkSecret("the bearer token", "token_file", a.TokenFile, "token_env", a.TokenEnv, getenv)
		if err != nil {
			return nil, err
		}
		return &StaticToken{Secret: s}, nil
	case "smart-backend":
		key, err := LoadPrivateKey(a.PrivateKeyFile)
		if err != nil {
			return nil, err
		}
		signer, err := NewJWTSigner(a.Algorithm, key, map[string]string{"kid": a.KeyID})
		if err != nil {
			return nil, err
		}
		o.Log.Info("SMART Backend Services credentials loaded", "tenant", sc.Tenant, "source", sc.Name, "client_id", a.ClientID, "kid", a.KeyID, "alg", a.Algorithm)
		// Four minutes: under SMART's five-minute ceiling even with a
		// minute of clock skew.
		return &OAuthToken{TokenURL: tokenURL(a.TokenURL, base, hc), Form: AssertionForm(a.ClientID, a.Scope, signer, 4*time.Minute), HTTP: hc, Now: o.Now}, nil
	case "client-credentials":
		if a.CertificateFile != "" {
			key, err := LoadPrivateKey(a.PrivateKeyFile)
			if err != nil {
				return nil, err
			}
			x5t, x5tS256, err := CertThumbprints(a.CertificateFile)
			if err != nil {
				return nil, err
			}
			signer, err := NewJWTSigner("RS256", key, map[string]string{"x5t": x5t, "x5t#S256": x5tS256})
			if err != nil {
				return nil, err
			}
			o.Log.Info("client certificate credentials loaded", "tenant", sc.Tenant, "source", sc.Name, "client_id", a.ClientID, "x5t", x5t)
			return &OAuthToken{TokenURL: tokenURL(a.TokenURL, base, hc), Form: AssertionForm(a.ClientID, a.Scope, signer, 10*time.Minute), HTTP: hc, Now: o.Now}, nil
		}
		s, err := checkSecret("the client secret", "client_secret_file", a.ClientSecretFile, "client_secret_env", a.ClientSecretEnv, getenv)
		if err != nil {
			return nil, err
		}
		return &OAuthToken{TokenURL: tokenURL(a.TokenURL, base, hc), Form: ClientSecretForm(a.ClientID, a.Scope, s), HTTP: hc, Now: o.Now}, nil
	case "google-service-account":
		k, key, err := LoadGoogleServiceAccountKey(a.KeyFile)
		if err != nil {
			return nil, err
		}
		signer, err := NewJWTSigner("RS256", key, map[string]string{"kid": k.PrivateKeyID})
		if err != nil {
			return nil, err
		}
		o.Log.Info("Google service account key loaded", "tenant", sc.Tenant, "source", sc.Name, "client_email", k.ClientEmail, "kid", k.PrivateKeyID, "subject", a.Subject)
		return &OAuthToken{TokenURL: FixedURL(k.TokenURI), Form: GoogleServiceAccountForm(k.ClientEmail, a.Subject, a.Scope, signer), HTTP: hc, Now: o.Now}, nil
	}
	return nil, fmt.Errorf("unknown auth type %q", a.Type)
}

// tokenURL is the configured token endpoint, or for a FHIR server without
// one, the endpoint its SMART configuration names.
func tokenURL(configured string, base *url.URL, hc *Client) func(ctx context.Context) (string, error) {
	if configured != "" || base == nil {
		return FixedURL(configured)
	}
	return SMARTTokenURL(base, hc)
}
