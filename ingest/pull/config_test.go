package pull

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// configFiles are the secrets and keys the config tests point at.
type configFiles struct {
	dir, rsaKey, ecKey, cert, googleKey, secret string
}

func newConfigFiles(t *testing.T) configFiles {
	t.Helper()
	dir := t.TempDir()
	k, rsaFile := rsaKeyFile(t, dir)
	_, ecFile := ecKeyFile(t, dir)
	cert, _ := certFile(t, dir, k)
	secret := filepath.Join(dir, "secret")
	writeFile(t, secret, "s3cr3t\n")
	return configFiles{dir: dir, rsaKey: rsaFile, ecKey: ecFile, cert: cert,
		googleKey: googleKeyFile(t, k, "https://oauth2.googleapis.com/token"), secret: secret}
}

func TestParseConfigValid(t *testing.T) {
	f := newConfigFiles(t)
	yaml := fmt.Sprintf(`sources:
  - tenant: riverside-family
    name: ehr-prod
    type: fhir-rest
    base_url: https://ehr.example/fhir
    interval: 1m
    auth: {type: smart-backend, client_id: phiwatch, private_key_file: %s, key_id: k1, algorithm: RS384}
  - tenant: riverside-family
    name: ehr-bulk
    type: fhir-bulk
    base_url: https://ehr.example/fhir
    export_path: Group/practice-1/$export
    auth: {type: bearer, token_file: %s}
  - tenant: riverside-family
    name: m365
    type: m365-activity
    cloud: gcc-high
    auth: {type: client-credentials, azure_tenant_id: 4f1e3a2b-0000-4000-8000-00000000c11a, client_id: app, client_secret_env: M365_SECRET}
    content_types: [Audit.Exchange, Audit.AzureActiveDirectory]
  - tenant: lakeside_peds
    name: workspace
    type: google-reports
    applications: [login, gmail]
    auth: {type: google-service-account, key_file: %s, subject: admin@lakeside.example}
`, f.ecKey, f.secret, f.googleKey)
	// ES384 key with RS384 algorithm would be wrong: use the EC key with ES384.
	yaml = strings.Replace(yaml, "algorithm: RS384", "algorithm: ES384", 1)
	cfg, err := ParseConfig([]byte(yaml), "sources.yaml", func(k string) string {
		if k == "M365_SECRET" {
			return "x"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sources) != 4 {
		t.Fatalf("%d sources", len(cfg.Sources))
	}
	rest, bulk, m, g := cfg.Sources[0], cfg.Sources[1], cfg.Sources[2], cfg.Sources[3]
	if rest.Interval.D() != time.Minute || rest.TimeParam != "date" || rest.PageSize != 100 || rest.Lag.D() != 2*time.Minute || rest.Auth.Scope != "system/AuditEvent.rs" {
		t.Errorf("fhir-rest defaults %+v", rest)
	}
	if bulk.Interval.D() != time.Hour || bulk.ExportPath != "Group/practice-1/$export" {
		t.Errorf("fhir-bulk %+v", bulk)
	}
	if m.BaseURL != "https://manage.office365.us" || m.Auth.TokenURL != "https://login.microsoftonline.us/4f1e3a2b-0000-4000-8000-00000000c11a/oauth2/v2.0/token" ||
		m.Auth.Scope != "https://manage.office365.us/.default" || m.Overlap.D() != 12*time.Hour {
		t.Errorf("m365 GCC High defaults %+v %+v", m, m.Auth)
	}
	if g.BaseURL != "https://admin.googleapis.com" || g.Lag.D() != 20*time.Minute || g.PageSize != 1000 || g.Auth.Scope != googleReportsScope {
		t.Errorf("google defaults %+v", g)
	}
	if g.ID() != (SourceID{Tenant: "lakeside_peds", Name: "workspace", Type: TypeGoogleReports}) {
		t.Errorf("id %v", g.ID())
	}
}

// TestParseConfigErrors: each mistake gets an error an operator can act
// on, naming the line and the source.
func TestParseConfigErrors(t *testing.T) {
	f := newConfigFiles(t)
	smart := fmt.Sprintf("auth: {type: smart-backend, client_id: phiwatch, private_key_file: %s, key_id: k1}", f.rsaKey)
	rest := "tenant: riverside-family\n    name: ehr\n    type: fhir-rest\n    base_url: https://ehr.example/fhir\n    "
	m365 := "tenant: riverside-family\n    name: m365\n    type: m365-activity\n    "
	aadID := "azure_tenant_id: 4f1e3a2b-0000-4000-8000-00000000c11a"
	cases := []struct {
		name, source string
		want         []string
	}{
		{"unknown key", rest + smart + "\n    bse_url: x", []string{"sources.yaml:2: source #1 (riverside-family/ehr)", "line 7: unknown key bse_url", "takes: tenant, name"}},
		{"key of another type", rest + smart + "\n    content_types: [Audit.Exchange]", []string{"unknown key content_types"}},
		{"unknown auth key", rest + fmt.Sprintf("auth: {type: smart-backend, client_id: p, private_key_file: %s, key_id: k1, kid: k1}", f.rsaKey), []string{"unknown key auth.kid"}},
		{"missing type", "tenant: riverside-family\n    name: ehr", []string{"type is missing: one of fhir-bulk, fhir-rest, google-reports, m365-activity"}},
		{"unknown type", "tenant: riverside-family\n    name: ehr\n    type: epic", []string{`unknown type "epic"`}},
		{"missing tenant", "name: ehr\n    type: fhir-rest\n    base_url: https://ehr.example/fhir\n    " + smart, []string{"tenant is missing"}},
		{"invalid tenant", "tenant: Riverside Family\n    name: ehr\n    type: fhir-rest\n    base_url: https://ehr.example/fhir\n    " + smart, []string{`tenant "Riverside Family": use 1-64 characters`}},
		{"invalid name", "tenant: riverside-family\n    name: ehr/prod\n    type: fhir-rest\n    base_url: https://ehr.example/fhir\n    " + smart, []string{`name "ehr/prod"`}},
		{"missing base_url", "tenant: riverside-family\n    name: ehr\n    type: fhir-rest\n    " + smart, []string{"base_url is required"}},
		{"plain http", strings.Replace(rest, "https://ehr.example", "http://ehr.example", 1) + smart, []string{"use https (plain http is accepted only for 127.0.0.1 or localhost)"}},
		{"bad duration", rest + smart + "\n    interval: 60", []string{`"60" is not a duration; write it with a unit`}},
		{"tiny interval", rest + smart + "\n    interval: 10ms", []string{"interval 10ms: at least 1s"}},
		{"bad time_param", rest + smart + "\n    time_param: recorded", []string{`time_param "recorded": date (AuditEvent.recorded) or _lastUpdated`}},
		{"reserved param", rest + smart + "\n    params: {_count: '5'}", []string{"params._count: phiwatch sets this parameter itself"}},
		{"inline client secret", m365 + "auth: {type: client-credentials, " + aadID + ", client_id: app, client_secret: hunter2}",
			[]string{"auth.client_secret: secrets are not written into the sources file; use client_secret_file or client_secret_env"}},
		{"inline token", rest + "auth: {type: bearer, token: abc}", []string{"auth.token: secrets are not written into the sources file; use token_file or token_env"}},
		{"inline private key", rest + "auth: {type: smart-backend, client_id: p, key_id: k1, private_key: '-----BEGIN'}", []string{"auth.private_key: secrets are not written"}},
		{"secret file and env", m365 + "auth: {type: client-credentials, " + aadID + ", client_id: app, client_secret_env: X, client_secret_file: " + f.secret + "}",
			[]string{"either in client_secret_file or in client_secret_env, not both"}},
		{"env not set", m365 + "auth: {type: client-credentials, " + aadID + ", client_id: app, client_secret_env: NOPE}", []string{"the environment variable NOPE is not set"}},
		{"secret file missing", rest + "auth: {type: bearer, token_file: /nonexistent/token}", []string{"auth.token_file: stat /nonexistent/token: no such file"}},
		{"no secret", m365 + "auth: {type: client-credentials, " + aadID + ", client_id: app}", []string{"the client secret is required"}},
		{"auth type for source", rest + "auth: {type: google-service-account, key_file: " + f.googleKey + ", subject: a@b.example}", []string{`auth.type "google-service-account" does not suit a fhir-rest source`}},
		{"auth type missing", rest + "auth: {client_id: x}", []string{"auth.type is required: one of none, bearer, smart-backend, client-credentials"}},
		{"smart algorithm", rest + fmt.Sprintf("auth: {type: smart-backend, client_id: p, private_key_file: %s, key_id: k1, algorithm: HS256}", f.rsaKey), []string{`auth.algorithm "HS256": SMART Backend Services use RS384 or ES384`}},
		{"key does not suit algorithm", rest + fmt.Sprintf("auth: {type: smart-backend, client_id: p, private_key_file: %s, key_id: k1, algorithm: ES384}", f.rsaKey), []string{"algorithm ES384 needs an EC P-384 private key, but the key is RSA 2048-bit"}},
		{"not a key", rest + fmt.Sprintf("auth: {type: smart-backend, client_id: p, private_key_file: %s, key_id: k1}", f.secret), []string{"holds no PEM private key"}},
		{"smart without kid", rest + fmt.Sprintf("auth: {type: smart-backend, client_id: p, private_key_file: %s}", f.rsaKey), []string{"auth.key_id is required"}},
		{"m365 tenant id", m365 + "auth: {type: client-credentials, azure_tenant_id: contoso.onmicrosoft.com, client_id: app, client_secret_file: " + f.secret + "}", []string{"expected the tenant's GUID"}},
		{"m365 cloud", m365 + "cloud: azure-china\n    auth: {type: client-credentials, " + aadID + ", client_id: app, client_secret_file: " + f.secret + "}", []string{`cloud "azure-china"`}},
		{"m365 content type", m365 + "content_types: [Exchange]\n    auth: {type: client-credentials, " + aadID + ", client_id: app, client_secret_file: " + f.secret + "}", []string{`"Exchange" is not a content type`}},
		{"m365 lookback", m365 + "initial_lookback: 240h\n    auth: {type: client-credentials, " + aadID + ", client_id: app, client_secret_file: " + f.secret + "}", []string{"the API keeps only 7 days"}},
		{"m365 cert without key", m365 + "auth: {type: client-credentials, " + aadID + ", client_id: app, certificate_file: " + f.cert + "}", []string{"auth.private_key_file is required"}},
		{"google subject", "tenant: t\n    name: g\n    type: google-reports\n    auth: {type: google-service-account, key_file: " + f.googleKey + "}", []string{"auth.subject is required"}},
		{"google key file", "tenant: t\n    name: g\n    type: google-reports\n    auth: {type: google-service-account, key_file: " + f.secret + ", subject: a@b.example}", []string{"is not a service account key JSON file"}},
		{"google application", "tenant: t\n    name: g\n    type: google-reports\n    applications: [Login]\n    auth: {type: google-service-account, key_file: " + f.googleKey + ", subject: a@b.example}", []string{`"Login" is not a Reports API application name`}},
		{"wrong value kind", rest + smart + "\n    page_size: [1]", []string{"expected a single value, not a list"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte("sources:\n  - "+tc.source+"\n"), "sources.yaml", func(string) string { return "" })
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.source)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error quotes a secret: %v", err)
			}
		})
	}
}

func TestParseConfigFileErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"", "is empty"},
		{"sources: []", "lists no sources"},
		{"source:\n  - tenant: a", `unknown key "source" at the top level`},
		{"sources: {tenant: a}", "sources: should be a list"},
		{"sources:\n  - tenant: a\n  name: b", "not valid YAML"},
		{"sources:\n  - [a, b]", "each source should be a mapping"},
	} {
		if _, err := ParseConfig([]byte(tc.doc), "sources.yaml", func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.doc, err, tc.want)
		}
	}
	// Duplicates: one tenant, one name, two sources.
	f := newConfigFiles(t)
	src := fmt.Sprintf("  - tenant: riverside-family\n    name: ehr\n    type: fhir-rest\n    base_url: https://ehr.example/fhir\n    auth: {type: bearer, token_file: %s}\n", f.secret)
	_, err := ParseConfig([]byte("sources:\n"+src+src), "sources.yaml", func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "tenant riverside-family already has a source named ehr (line 2)") {
		t.Errorf("duplicate: %v", err)
	}
}
