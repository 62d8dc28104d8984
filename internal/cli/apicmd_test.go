package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phiwatch/phiwatch/internal/config"
)

// The API's authentication flags: refusals an operator gets before the
// server starts, and env/flag parity.
func TestAPIAuthFlags(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yaml")
	os.WriteFile(tokens, []byte("tokens:\n  - name: boot\n    token_sha256: \""+strings.Repeat("ab", 32)+"\"\n    tenants: [\"*\"]\n    role: msp_admin\n"), 0o600)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name string
		args []string
		env  map[string]string
		err  string // "" = accepted
	}{
		{"defaults: stored tokens", nil, nil, ""},
		{"tokens file only", []string{"--tokens-file", tokens, "--no-store-tokens"}, nil, ""},
		{"nothing to authenticate with", []string{"--no-store-tokens"}, nil, "no authentication"},
		{"cert without key", []string{"--tls-cert-file", "c.pem"}, nil, ""}, // checked when serving
		{"bad public url", []string{"--public-url", "phiwatch.example.org"}, nil, "--public-url"},
		{"OIDC without client id", []string{"--oidc-issuer-url", "https://login.example"}, nil, "--oidc-client-id"},
		{"OIDC without redirect", []string{"--oidc-issuer-url", "https://login.example", "--oidc-client-id", "x"}, nil, "--oidc-redirect-url"},
		{"OIDC without grants", []string{"--oidc-issuer-url", "https://login.example", "--oidc-client-id", "x", "--no-store-tokens", "--tokens-file", tokens}, nil, "grants"},
		{"OIDC from the environment", nil, map[string]string{"PHIWATCH_OIDC_ISSUER_URL": "https://login.example"}, "--oidc-client-id"},
		{"bad rate", []string{"--rate-limit", "-1"}, nil, "--rate-limit"},
		{"bad body limit", []string{"--max-body-bytes", "0"}, nil, "--max-body-bytes"},
		{"bad tokens file", []string{"--tokens-file", filepath.Join(dir, "missing.yaml")}, nil, "tokens"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("api", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var af authFlags
			af.register(fs)
			if _, err := config.Parse(fs, c.args, func(k string) string { return c.env[k] }); err != nil {
				t.Fatal(err)
			}
			o, err := af.config(context.Background(), nil, "127.0.0.1:0", log)
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one mentioning %q", err, c.err)
			}
			if err == nil && o.cfg.MaxBodyBytes != 1<<20 {
				t.Fatalf("body limit %d", o.cfg.MaxBodyBytes)
			}
		})
	}
}

// With an issuer that answers discovery, the OIDC flags give a server with
// login sessions; the session key comes from its file.
func TestAPIAuthFlagsOIDC(t *testing.T) {
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"issuer":%q,"authorization_endpoint":"%[1]s/authorize","token_endpoint":"%[1]s/token","jwks_uri":"%[1]s/jwks","id_token_signing_alg_values_supported":["RS256"]}`, issuer)
	}))
	defer srv.Close()
	issuer = srv.URL
	dir := t.TempDir()
	key, secret := filepath.Join(dir, "session.key"), filepath.Join(dir, "secret")
	os.WriteFile(key, []byte(strings.Repeat("0f", 32)), 0o600)
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	var af authFlags
	af.register(fs)
	env := map[string]string{"PHIWATCH_OIDC_ISSUER_URL": issuer, "PHIWATCH_OIDC_CLIENT_ID": "phiwatch",
		"PHIWATCH_OIDC_CLIENT_SECRET_FILE": secret, "PHIWATCH_SESSION_KEY_FILE": key, "PHIWATCH_PUBLIC_URL": "https://phiwatch.example.org"}
	if _, err := config.Parse(fs, nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	o, err := af.config(context.Background(), nil, "127.0.0.1:0", slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.OIDC == nil || o.cfg.Sessions == nil || !o.cfg.HSTS || o.cfg.PublicHost != "phiwatch.example.org" {
		t.Fatalf("config %+v", o.cfg)
	}
	if strings.Contains(logged.String(), "s3cret") || !strings.Contains(logged.String(), "https://phiwatch.example.org/auth/callback") {
		t.Fatalf("log: %s", logged.String())
	}
	env["PHIWATCH_OIDC_ISSUER_URL"] = issuer + "/other" // discovery fails: a clear start-up error
	fs = flag.NewFlagSet("api", flag.ContinueOnError)
	af = authFlags{}
	af.register(fs)
	config.Parse(fs, nil, func(k string) string { return env[k] })
	if _, err := af.config(context.Background(), nil, "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "OIDC discovery") {
		t.Fatalf("unreachable issuer: %v", err)
	}
}
