package pull

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/phiwatch/phiwatch/internal/event"
)

// Config is a sources file: the API sources of every tenant.
type Config struct {
	File    string
	Sources []*SourceConfig
}

// SourceConfig is one source, as written in the sources file. Which keys a
// source may have depends on its type (see sourceKeys).
type SourceConfig struct {
	Tenant   string     `yaml:"tenant"`
	Name     string     `yaml:"name"`
	Type     string     `yaml:"type"`
	BaseURL  string     `yaml:"base_url"`
	Interval Duration   `yaml:"interval"`
	Auth     AuthConfig `yaml:"auth"`

	RequestTimeout   Duration `yaml:"request_timeout"`
	MaxAttempts      int      `yaml:"max_attempts"`
	MaxResponseBytes int64    `yaml:"max_response_bytes"`
	InitialLookback  Duration `yaml:"initial_lookback"`

	// fhir-rest (Params also fhir-bulk; PageSize and Lag also google-reports)
	TimeParam string            `yaml:"time_param"`
	PageSize  int               `yaml:"page_size"`
	Params    map[string]string `yaml:"params"`
	Lag       *Duration         `yaml:"lag"`

	// fhir-bulk
	ExportPath    string   `yaml:"export_path"`
	PollInterval  Duration `yaml:"poll_interval"`
	ExportTimeout Duration `yaml:"export_timeout"`

	// m365-activity
	Cloud        string    `yaml:"cloud"`
	ContentTypes []string  `yaml:"content_types"`
	Overlap      *Duration `yaml:"overlap"`

	// google-reports
	Applications []string `yaml:"applications"`
	CustomerID   string   `yaml:"customer_id"`

	Line int `yaml:"-"` // where the source starts in the file
}

// AuthConfig is a source's credentials: where they are, never what.
type AuthConfig struct {
	Type string `yaml:"type"` // none | bearer | smart-backend | client-credentials | google-service-account

	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`

	ClientID         string `yaml:"client_id"`
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	PrivateKeyFile   string `yaml:"private_key_file"`
	CertificateFile  string `yaml:"certificate_file"`
	KeyID            string `yaml:"key_id"`
	Algorithm        string `yaml:"algorithm"`
	Scope            string `yaml:"scope"`
	TokenURL         string `yaml:"token_url"`
	AzureTenantID    string `yaml:"azure_tenant_id"`

	KeyFile string `yaml:"key_file"` // Google service account JSON key
	Subject string `yaml:"subject"`  // the Workspace admin the service account acts as
}

// Duration is a YAML duration written with a unit ("90s", "5m", "24h"):
// a bare number would be ambiguous.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 90s, 5m or 24h", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration; write it with a unit, such as 90s, 5m or 24h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ID is the source's identity.
func (s *SourceConfig) ID() SourceID { return SourceID{Tenant: s.Tenant, Name: s.Name, Type: s.Type} }

var commonKeys = []string{"tenant", "name", "type", "base_url", "interval", "auth",
	"request_timeout", "max_attempts", "max_response_bytes", "initial_lookback"}

// sourceKeys are the keys each type takes beyond commonKeys.
var sourceKeys = map[string][]string{
	TypeFHIRREST:      {"time_param", "page_size", "params", "lag"},
	TypeFHIRBulk:      {"export_path", "params", "poll_interval", "export_timeout"},
	TypeM365Activity:  {"cloud", "content_types", "overlap"},
	TypeGoogleReports: {"applications", "customer_id", "page_size", "lag"},
}

// authKeys are the keys of each auth type; authTypes the auth types each
// source type can use.
var (
	authKeys = map[string][]string{
		"none":                   {"type"},
		"bearer":                 {"type", "token_file", "token_env"},
		"smart-backend":          {"type", "client_id", "private_key_file", "key_id", "algorithm", "scope", "token_url"},
		"client-credentials":     {"type", "client_id", "client_secret_file", "client_secret_env", "certificate_file", "private_key_file", "scope", "token_url", "azure_tenant_id"},
		"google-service-account": {"type", "key_file", "subject", "scope"},
	}
	authTypes = map[string][]string{
		TypeFHIRREST:      {"none", "bearer", "smart-backend", "client-credentials"},
		TypeFHIRBulk:      {"none", "bearer", "smart-backend", "client-credentials"},
		TypeM365Activity:  {"client-credentials"},
		TypeGoogleReports: {"google-service-account"},
	}
	// inlineSecrets are keys that would hold a secret in the file itself,
	// with the keys to use instead.
	inlineSecrets = map[string]string{
		"client_secret": "client_secret_file or client_secret_env",
		"token":         "token_file or token_env",
		"access_token":  "token_file or token_env",
		"private_key":   "private_key_file (PEM), or key_file for a Google service account",
		"password":      "a *_file or *_env key",
		"secret":        "a *_file or *_env key",
		"api_key":       "a *_file or *_env key",
	}
)

// M365 clouds: the Management API and sign-in endpoints of each.
var m365Clouds = map[string]struct{ api, login string }{
	"commercial": {"https://manage.office.com", "https://login.microsoftonline.com"},
	"gcc":        {"https://manage-gcc.office.com", "https://login.microsoftonline.com"},
	"gcc-high":   {"https://manage.office365.us", "https://login.microsoftonline.us"},
	"dod":        {"https://manage.protection.apps.mil", "https://login.microsoftonline.us"},
}

var m365ContentTypes = []string{"Audit.AzureActiveDirectory", "Audit.Exchange", "Audit.SharePoint", "Audit.General", "DLP.All"}

// Defaults.
const (
	googleReportsAPI   = "https://admin.googleapis.com"
	googleReportsScope = "https://www.googleapis.com/auth/admin.reports.audit.readonly"
	smartDefaultScope  = "system/AuditEvent.rs"
)

var (
	defaultIntervals = map[string]time.Duration{
		TypeFHIRREST: time.Minute, TypeFHIRBulk: time.Hour, TypeM365Activity: 5 * time.Minute, TypeGoogleReports: 5 * time.Minute,
	}
	googleAppName = regexp.MustCompile(`^[a-z][a-z_]{1,63}$`)
	uuidLike      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// reservedParams are set by the pullers themselves.
	reservedParams = []string{"date", "_lastUpdated", "_sort", "_count", "_type", "_since", "_outputFormat"}
)

// LoadConfig reads and checks a sources file. getenv (os.Getenv outside
// tests) is used to check that the environment variables named exist.
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the sources file: %w", err)
	}
	return ParseConfig(data, path, getenv)
}

// ParseConfig checks a sources file's content; name is used in errors.
func ParseConfig(data []byte, name string, getenv func(string) string) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s is not valid YAML: %w", name, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s is empty; it should hold a sources: list", name)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: the file should be a mapping with a sources: list", name, root.Line)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if k.Value != "sources" {
			return nil, fmt.Errorf("%s:%d: unknown key %q at the top level (only sources: is read)", name, k.Line, k.Value)
		}
		list = root.Content[i+1]
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: sources: should be a list of sources", name)
	}
	cfg := &Config{File: name}
	var errs []error
	seen := map[SourceID]int{}
	for i, n := range list.Content {
		sc, err := parseSource(n, getenv)
		label := fmt.Sprintf("%s:%d: source #%d", name, n.Line, i+1)
		if sc != nil && sc.Tenant != "" && sc.Name != "" {
			label += fmt.Sprintf(" (%s/%s)", sc.Tenant, sc.Name)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
			continue
		}
		key := SourceID{Tenant: sc.Tenant, Name: sc.Name}
		if prev, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("%s: tenant %s already has a source named %s (line %d); names must be unique per tenant, they key the checkpoints", label, sc.Tenant, sc.Name, prev))
			continue
		}
		seen[key] = n.Line
		cfg.Sources = append(cfg.Sources, sc)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(cfg.Sources) == 0 {
		return nil, fmt.Errorf("%s lists no sources", name)
	}
	return cfg, nil
}

// mappingKeys returns a mapping node's keys with their lines.
func mappingKeys(n *yaml.Node) map[string]int {
	keys := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys[n.Content[i].Value] = n.Content[i].Line
	}
	return keys
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// checkKeys reports keys outside allowed, and secrets written inline. where
// prefixes key names ("auth."); what names the thing that takes allowed.
func checkKeys(keys map[string]int, allowed []string, where, what string) []error {
	var errs []error
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if slices.Contains(allowed, k) {
			continue
		}
		if instead, ok := inlineSecrets[k]; ok {
			errs = append(errs, fmt.Errorf("line %d: %s%s: secrets are not written into the sources file; use %s", keys[k], where, k, instead))
			continue
		}
		errs = append(errs, fmt.Errorf("line %d: unknown key %s%s (%s takes: %s)", keys[k], where, k, what, strings.Join(allowed, ", ")))
	}
	return errs
}

func parseSource(n *yaml.Node, getenv func(string) string) (*SourceConfig, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("each source should be a mapping of keys (tenant, name, type, …)")
	}
	keys := mappingKeys(n)
	// Tenant and name label the errors even when the rest is wrong.
	partial := &SourceConfig{}
	if v := mappingValue(n, "tenant"); v != nil {
		partial.Tenant = v.Value
	}
	if v := mappingValue(n, "name"); v != nil {
		partial.Name = v.Value
	}
	var errs []error
	typ := ""
	if v := mappingValue(n, "type"); v != nil {
		typ = v.Value
	}
	extra, known := sourceKeys[typ]
	switch {
	case typ == "":
		return partial, fmt.Errorf("type is missing: one of %s", strings.Join(sortedTypes(), ", "))
	case !known:
		return partial, fmt.Errorf("line %d: unknown type %q: one of %s", keys["type"], typ, strings.Join(sortedTypes(), ", "))
	}
	errs = append(errs, checkKeys(keys, append(slices.Clone(commonKeys), extra...), "", "a "+typ+" source")...)
	authType := ""
	if a := mappingValue(n, "auth"); a != nil {
		if a.Kind != yaml.MappingNode {
			errs = append(errs, fmt.Errorf("line %d: auth should be a mapping with a type", a.Line))
		} else {
			akeys := mappingKeys(a)
			if v := mappingValue(a, "type"); v != nil {
				authType = v.Value
			}
			if allowed, ok := authKeys[authType]; ok {
				errs = append(errs, checkKeys(akeys, allowed, "auth.", "auth type "+authType)...)
			} else {
				// Secrets are refused even before the type is right.
				for k, line := range akeys {
					if instead, ok := inlineSecrets[k]; ok {
						errs = append(errs, fmt.Errorf("line %d: auth.%s: secrets are not written into the sources file; use %s", line, k, instead))
					}
				}
			}
		}
	}
	if len(errs) > 0 {
		return partial, errors.Join(errs...)
	}
	var sc SourceConfig
	if err := n.Decode(&sc); err != nil {
		return partial, readableYAMLError(err)
	}
	sc.Line = n.Line
	if err := sc.validate(getenv); err != nil {
		return &sc, err
	}
	return &sc, nil
}

// readableYAMLError turns yaml's "cannot unmarshal !!str `x` into int" into
// words.
func readableYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var out []error
	for _, e := range te.Errors {
		e = strings.Replace(e, "cannot unmarshal !!str", "expected a different kind of value than the text", 1)
		e = strings.Replace(e, "cannot unmarshal !!seq", "expected a single value, not a list", 1)
		e = strings.Replace(e, "cannot unmarshal !!map", "expected a single value, not a mapping", 1)
		out = append(out, errors.New(e))
	}
	return errors.Join(out...)
}

func sortedTypes() []string {
	ts := make([]string, 0, len(sourceKeys))
	for t := range sourceKeys {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// checkURL accepts https URLs, and http ones only on the loopback interface
// (a local test server or proxy): audit logs hold ePHI.
func checkURL(key, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("%s %q is not an absolute URL such as https://ehr.example/fhir", key, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s must not carry credentials in the URL; use auth", key)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u):
	case u.Scheme == "http":
		return nil, fmt.Errorf("%s %s: use https (plain http is accepted only for 127.0.0.1 or localhost)", key, raw)
	default:
		return nil, fmt.Errorf("%s %q: the scheme must be https", key, raw)
	}
	return u, nil
}

// checkSecret checks that exactly one of file and env is given and that it
// exists now (it is read again at each use, so it may be rotated).
func checkSecret(what, fileKey, file, envKey, env string, getenv func(string) string) (Secret, error) {
	switch {
	case file != "" && env != "":
		return Secret{}, fmt.Errorf("auth: give %s either in %s or in %s, not both", what, fileKey, envKey)
	case file != "":
		fi, err := os.Stat(file)
		if err != nil {
			return Secret{}, fmt.Errorf("auth.%s: %w", fileKey, err)
		}
		if fi.IsDir() {
			return Secret{}, fmt.Errorf("auth.%s: %s is a directory", fileKey, file)
		}
		return Secret{File: file, Getenv: getenv}, nil
	case env != "":
		if getenv(env) == "" {
			return Secret{}, fmt.Errorf("auth.%s: the environment variable %s is not set", envKey, env)
		}
		return Secret{Env: env, Getenv: getenv}, nil
	}
	return Secret{}, fmt.Errorf("auth: %s is required: set %s (a file readable only by phiwatch) or %s (an environment variable)", what, fileKey, envKey)
}

func (s *SourceConfig) validate(getenv func(string) string) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !event.ValidTenant(s.Tenant) {
		if s.Tenant == "" {
			add("tenant is missing")
		} else {
			add("tenant %q: use 1-64 characters of a-z, 0-9, '-' or '_'", s.Tenant)
		}
	}
	if !event.ValidTenant(s.Name) {
		if s.Name == "" {
			add("name is missing (it names the source in events and keys its checkpoint)")
		} else {
			add("name %q: use 1-64 characters of a-z, 0-9, '-' or '_' (it names the checkpoint file)", s.Name)
		}
	}
	if s.Interval == 0 {
		s.Interval = Duration(defaultIntervals[s.Type])
	} else if s.Interval.D() < time.Second {
		add("interval %s: at least 1s", s.Interval.D())
	}
	if s.RequestTimeout == 0 {
		s.RequestTimeout = Duration(defaultTimeout)
	} else if s.RequestTimeout.D() < time.Second {
		add("request_timeout %s: at least 1s", s.RequestTimeout.D())
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = defaultMaxAttempts
	} else if s.MaxAttempts < 1 || s.MaxAttempts > 20 {
		add("max_attempts %d: between 1 and 20", s.MaxAttempts)
	}
	if s.MaxResponseBytes == 0 {
		s.MaxResponseBytes = defaultMaxBody
	} else if s.MaxResponseBytes < 1<<16 {
		add("max_response_bytes %d: at least 65536", s.MaxResponseBytes)
	}
	if s.InitialLookback == 0 {
		s.InitialLookback = Duration(24 * time.Hour)
	} else if s.InitialLookback < 0 {
		add("initial_lookback %s: must be positive", s.InitialLookback.D())
	}
	if s.Lag != nil && *s.Lag < 0 {
		add("lag %s: must not be negative", s.Lag.D())
	}
	if s.BaseURL != "" {
		if _, err := checkURL("base_url", s.BaseURL); err != nil {
			errs = append(errs, err)
		}
	}
	for k := range s.Params {
		if slices.Contains(reservedParams, k) {
			add("params.%s: phiwatch sets this parameter itself", k)
		}
	}
	switch s.Type {
	case TypeFHIRREST, TypeFHIRBulk:
		if s.BaseURL == "" {
			add("base_url is required: the FHIR server's base, e.g. https://ehr.example/fhir")
		}
		switch s.TimeParam {
		case "":
			s.TimeParam = "date"
		case "date", "_lastUpdated":
		default:
			add("time_param %q: date (AuditEvent.recorded) or _lastUpdated (meta.lastUpdated)", s.TimeParam)
		}
		if s.PageSize == 0 {
			s.PageSize = 100
		} else if s.PageSize < 1 || s.PageSize > 10000 {
			add("page_size %d: between 1 and 10000", s.PageSize)
		}
		if s.ExportPath == "" {
			s.ExportPath = "$export"
		} else if !strings.HasSuffix(s.ExportPath, "$export") || strings.Contains(s.ExportPath, "://") {
			add("export_path %q: a path under base_url ending in $export, e.g. Group/abc/$export", s.ExportPath)
		}
		if s.PollInterval == 0 {
			s.PollInterval = Duration(30 * time.Second)
		}
		if s.ExportTimeout == 0 {
			s.ExportTimeout = Duration(6 * time.Hour)
		}
	case TypeM365Activity:
		if s.Cloud == "" {
			s.Cloud = "commercial"
		}
		cloud, ok := m365Clouds[s.Cloud]
		if !ok {
			add("cloud %q: one of commercial, gcc, gcc-high, dod", s.Cloud)
		}
		if s.BaseURL == "" {
			s.BaseURL = cloud.api
		}
		if len(s.ContentTypes) == 0 {
			s.ContentTypes = []string{"Audit.Exchange", "Audit.AzureActiveDirectory"}
		}
		for _, ct := range s.ContentTypes {
			if !slices.Contains(m365ContentTypes, ct) {
				add("content_types: %q is not a content type; use %s", ct, strings.Join(m365ContentTypes, ", "))
			}
		}
		if s.Overlap == nil {
			o := Duration(12 * time.Hour)
			s.Overlap = &o
		} else if *s.Overlap < 0 || s.Overlap.D() > m365Retention/2 {
			add("overlap %s: between 0 and 84h", s.Overlap.D())
		}
		if s.InitialLookback.D() > m365Retention {
			add("initial_lookback %s: the API keeps only 7 days (168h)", s.InitialLookback.D())
		}
		if s.Auth.AzureTenantID == "" {
			add("auth.azure_tenant_id is required: the Microsoft Entra (Azure AD) tenant id of the practice, a GUID")
		} else if !uuidLike.MatchString(s.Auth.AzureTenantID) {
			add("auth.azure_tenant_id %q: expected the tenant's GUID (Entra admin center → Overview → Tenant ID)", s.Auth.AzureTenantID)
		}
		if s.Auth.TokenURL == "" && s.Auth.AzureTenantID != "" {
			s.Auth.TokenURL = cloud.login + "/" + s.Auth.AzureTenantID + "/oauth2/v2.0/token"
		}
		if s.Auth.Scope == "" {
			s.Auth.Scope = strings.TrimSuffix(s.BaseURL, "/") + "/.default"
		}
	case TypeGoogleReports:
		if s.BaseURL == "" {
			s.BaseURL = googleReportsAPI
		}
		if len(s.Applications) == 0 {
			s.Applications = []string{"login"}
		}
		for _, a := range s.Applications {
			if !googleAppName.MatchString(a) {
				add("applications: %q is not a Reports API application name (login, gmail, admin, drive, token, …)", a)
			}
		}
		if s.PageSize == 0 {
			s.PageSize = 1000
		} else if s.PageSize < 1 || s.PageSize > 1000 {
			add("page_size %d: between 1 and 1000", s.PageSize)
		}
		if s.Auth.Scope == "" {
			s.Auth.Scope = googleReportsScope
		}
	}
	if s.Lag == nil {
		l := Duration(2 * time.Minute)
		if s.Type == TypeGoogleReports {
			l = Duration(20 * time.Minute)
		}
		s.Lag = &l
	}
	errs = append(errs, s.validateAuth(getenv)...)
	return errors.Join(errs...)
}

func (s *SourceConfig) validateAuth(getenv func(string) string) []error {
	a := &s.Auth
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	allowed := authTypes[s.Type]
	if a.Type == "" {
		if len(allowed) == 1 {
			a.Type = allowed[0]
		} else {
			add("auth.type is required: one of %s", strings.Join(allowed, ", "))
			return errs
		}
	}
	if !slices.Contains(allowed, a.Type) {
		add("auth.type %q does not suit a %s source: use %s", a.Type, s.Type, strings.Join(allowed, " or "))
		return errs
	}
	if a.TokenURL != "" {
		if _, err := checkURL("auth.token_url", a.TokenURL); err != nil {
			errs = append(errs, err)
		}
	}
	switch a.Type {
	case "bearer":
		if _, err := checkSecret("the bearer token", "token_file", a.TokenFile, "token_env", a.TokenEnv, getenv); err != nil {
			errs = append(errs, err)
		}
	case "smart-backend":
		if a.ClientID == "" {
			add("auth.client_id is required: the client id the FHIR server registered for phiwatch")
		}
		if a.Algorithm == "" {
			a.Algorithm = "RS384"
		}
		if a.Algorithm != "RS384" && a.Algorithm != "ES384" {
			add("auth.algorithm %q: SMART Backend Services use RS384 or ES384", a.Algorithm)
		}
		if a.KeyID == "" {
			add("auth.key_id is required: the kid of the key in the JWK Set registered with the server")
		}
		if a.Scope == "" {
			a.Scope = smartDefaultScope
		}
		errs = append(errs, checkKeyFile("auth.private_key_file", a.PrivateKeyFile, a.Algorithm)...)
	case "client-credentials":
		if a.ClientID == "" {
			add("auth.client_id is required: the application (client) id")
		}
		if s.Type != TypeM365Activity && a.AzureTenantID != "" {
			add("auth.azure_tenant_id is only for m365-activity sources; give auth.token_url")
		}
		if a.CertificateFile != "" || a.PrivateKeyFile != "" {
			if a.ClientSecretFile != "" || a.ClientSecretEnv != "" {
				add("auth: give either a client secret or a certificate (certificate_file and private_key_file), not both")
			}
			if a.CertificateFile == "" {
				add("auth.certificate_file is required with private_key_file: the certificate uploaded to the app registration (PEM)")
			} else if _, _, err := CertThumbprints(a.CertificateFile); err != nil {
				add("auth.certificate_file: %v", err)
			}
			errs = append(errs, checkKeyFile("auth.private_key_file", a.PrivateKeyFile, "RS256")...)
		} else if _, err := checkSecret("the client secret", "client_secret_file", a.ClientSecretFile, "client_secret_env", a.ClientSecretEnv, getenv); err != nil {
			errs = append(errs, err)
		}
	case "google-service-account":
		if a.KeyFile == "" {
			add("auth.key_file is required: the service account's JSON key file")
		} else if k, _, err := LoadGoogleServiceAccountKey(a.KeyFile); err != nil {
			add("auth.key_file: %v", err)
		} else if _, err := checkURL("token_uri in auth.key_file", k.TokenURI); err != nil {
			errs = append(errs, err)
		}
		if a.Subject == "" {
			add("auth.subject is required: the email of a Workspace admin the service account acts as (domain-wide delegation)")
		} else if !strings.Contains(a.Subject, "@") {
			add("auth.subject %q: an email address", a.Subject)
		}
	}
	return errs
}

// checkKeyFile loads a private key now, so a bad key fails at startup.
func checkKeyFile(key, file, alg string) []error {
	if file == "" {
		return []error{fmt.Errorf("%s is required: the client's private key (PEM)", key)}
	}
	k, err := LoadPrivateKey(file)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", key, err)}
	}
	if _, err := NewJWTSigner(alg, k, nil); err != nil {
		return []error{fmt.Errorf("%s: %w", key, err)}
	}
	return nil
}
