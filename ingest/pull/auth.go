package pull

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TokenSource gives the bearer token for API calls.
type TokenSource interface {
	// Token returns a token that is valid now (cached while it lasts).
	Token(ctx context.Context) (string, error)
	// Invalidate forgets token after the API refused it, so the next
	// Token fetches a new one.
	Invalidate(token string)
}

// AuthError is a failure to obtain or use a credential. Its text never
// holds the secret itself.
type AuthError struct {
	Op  string // what was being done: "get a token from https://…"
	Err error
}

func (e *AuthError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// Secret names where a secret is kept: a file or an environment variable.
// It is read when needed (so a rotated file is picked up) and never printed.
type Secret struct {
	File   string
	Env    string
	Getenv func(string) string // default os.Getenv
}

// String says where the secret is, not what it is.
func (s Secret) String() string {
	if s.File != "" {
		return "file " + s.File
	}
	return "environment variable " + s.Env
}

// Read returns the secret, trimmed of surrounding whitespace (files often
// end in a newline).
func (s Secret) Read() (string, error) {
	var v string
	if s.File != "" {
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		v = string(b)
	} else {
		getenv := s.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		v = getenv(s.Env)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("the secret in %s is empty", s)
	}
	return v, nil
}

// StaticToken is a bearer token kept in a file or the environment. After a
// 401 it is read again, so a token rotated on disk is picked up.
type StaticToken struct {
	Secret Secret

	mu  sync.Mutex
	tok string
}

// Token implements TokenSource.
func (s *StaticToken) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == "" {
		t, err := s.Secret.Read()
		if err != nil {
			return "", &AuthError{Op: "read the bearer token from " + s.Secret.String(), Err: err}
		}
		s.tok = t
	}
	return s.tok, nil
}

// Invalidate implements TokenSource.
func (s *StaticToken) Invalidate(string) {
	s.mu.Lock()
	s.tok = ""
	s.mu.Unlock()
}

// OAuthToken gets access tokens from an OAuth 2.0 token endpoint and caches
// each until shortly before it expires. Form builds the request body for
// each fetch (a fresh client assertion each time); TokenURL may discover
// the endpoint on first use.
type OAuthToken struct {
	TokenURL func(ctx context.Context) (string, error)
	Form     func(tokenURL string, now time.Time) (url.Values, error)
	HTTP     *Client // without Auth
	Now      func() time.Time

	mu      sync.Mutex
	tok     string
	expires time.Time
}

// tokenResponse is RFC 6749 §5.1; expires_in is a string in some Azure
// answers, so it is read either way.
type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
}

// oauthError is RFC 6749 §5.2.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// defaultTokenLife is assumed when a token endpoint does not say.
const defaultTokenLife = 5 * time.Minute

func (o *OAuthToken) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Token implements TokenSource.
func (o *OAuthToken) Token(ctx context.Context) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tok != "" && o.now().Before(o.expires) {
		return o.tok, nil
	}
	tokenURL, err := o.TokenURL(ctx)
	if err != nil {
		return "", err
	}
	op := "get an access token from " + RedactURL(tokenURL)
	now := o.now()
	form, err := o.Form(tokenURL, now)
	if err != nil {
		return "", &AuthError{Op: op, Err: err}
	}
	resp, err := o.HTTP.Do(ctx, &Request{Method: http.MethodPost, URL: tokenURL, Body: []byte(form.Encode()),
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}})
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) {
			// The OAuth error names the problem (invalid_client, …);
			// quote only that, never the request.
			var oe oauthError
			if json.Unmarshal([]byte(he.Body), &oe) == nil && oe.Error != "" {
				return "", &AuthError{Op: op, Err: fmt.Errorf("HTTP %d: %s: %s", he.Status, oe.Error, oe.Description)}
			}
			return "", &AuthError{Op: op, Err: fmt.Errorf("HTTP %d", he.Status)}
		}
		if ctx.Err() != nil {
			return "", err
		}
		return "", &AuthError{Op: op, Err: err}
	}
	var tr tokenResponse
	if err := json.Unmarshal(resp.Body, &tr); err != nil || tr.AccessToken == "" {
		return "", &AuthError{Op: op, Err: errors.New("the answer holds no access_token")}
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return "", &AuthError{Op: op, Err: fmt.Errorf("token_type is %q; only bearer tokens are supported", tr.TokenType)}
	}
	life := defaultTokenLife
	if s := strings.Trim(string(tr.ExpiresIn), `"`); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			life = time.Duration(n) * time.Second
		}
	}
	// Renew a minute early (a tenth of a short lifetime), so a token never
	// expires between being handed out and reaching the API.
	o.tok, o.expires = tr.AccessToken, now.Add(life-min(time.Minute, life/10))
	return o.tok, nil
}

// Invalidate implements TokenSource.
func (o *OAuthToken) Invalidate(token string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tok == token {
		o.tok = ""
	}
}

// FixedURL is a TokenURL that needs no discovery.
func FixedURL(u string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return u, nil }
}

// ClientSecretForm is the client_credentials grant with a client secret in
// the body (client_secret_post, which Azure AD expects).
func ClientSecretForm(clientID, scope string, secret Secret) func(string, time.Time) (url.Values, error) {
	return func(string, time.Time) (url.Values, error) {
		s, err := secret.Read()
		if err != nil {
			return nil, err
		}
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {s}}
		if scope != "" {
			f.Set("scope", scope)
		}
		return f, nil
	}
}

// Client assertion type of RFC 7523, used by SMART Backend Services and by
// Azure AD certificate credentials.
const jwtBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionForm is the client_credentials grant authenticated by a signed
// JWT (RFC 7523): iss = sub = client id, aud = the token endpoint, a unique
// jti and a short exp. SMART Backend Services require exp at most five
// minutes ahead; life is kept under that to absorb clock skew.
func AssertionForm(clientID, scope string, signer *JWTSigner, life time.Duration) func(string, time.Time) (url.Values, error) {
	return func(tokenURL string, now time.Time) (url.Values, error) {
		jti, err := randomID()
		if err != nil {
			return nil, err
		}
		a, err := signer.Sign(map[string]any{
			"iss": clientID, "sub": clientID, "aud": tokenURL, "jti": jti,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(life).Unix(),
		})
		if err != nil {
			return nil, err
		}
		f := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {jwtBearerAssertion}, "client_assertion": {a}}
		if scope != "" {
			f.Set("scope", scope)
		}
		// Azure AD wants client_id alongside the assertion; SMART servers
		// accept it.
		f.Set("client_id", clientID)
		return f, nil
	}
}

// GoogleServiceAccountForm is Google's JWT bearer grant (RFC 7523 §2.1) for a
// service account with domain-wide delegation: iss = the account's email,
// sub = the admin it acts as, the scope, aud = the token URI, one hour.
func GoogleServiceAccountForm(clientEmail, subject, scope string, signer *JWTSigner) func(string, time.Time) (url.Values, error) {
	return func(tokenURL string, now time.Time) (url.Values, error) {
		a, err := signer.Sign(map[string]any{
			"iss": clientEmail, "sub": subject, "scope": scope, "aud": tokenURL,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
		if err != nil {
			return nil, err
		}
		return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {a}}, nil
	}
}

// SMARTTokenURL discovers the token endpoint from
// [base]/.well-known/smart-configuration on first use and remembers it.
func SMARTTokenURL(base *url.URL, hc *Client) func(context.Context) (string, error) {
	var (
		mu  sync.Mutex
		got string
	)
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if got != "" {
			return got, nil
		}
		wk := base.JoinPath(".well-known", "smart-configuration")
		op := "discover the SMART token endpoint at " + RedactURL(wk.String())
		resp, err := hc.Do(ctx, &Request{URL: wk.String(), Header: http.Header{"Accept": {"application/json"}}})
		if err != nil {
			if ctx.Err() != nil {
				return "", err
			}
			return "", &AuthError{Op: op, Err: fmt.Errorf("%w (or set auth.token_url)", err)}
		}
		var cfg struct {
			TokenEndpoint string `json:"token_endpoint"`
		}
		if err := json.Unmarshal(resp.Body, &cfg); err != nil || cfg.TokenEndpoint == "" {
			return "", &AuthError{Op: op, Err: errors.New("the document has no token_endpoint (set auth.token_url)")}
		}
		u, err := url.Parse(cfg.TokenEndpoint)
		if err != nil || !u.IsAbs() || (u.Scheme != "https" && !isLoopback(u)) {
			return "", &AuthError{Op: op, Err: fmt.Errorf("token_endpoint %q is not an https URL", cfg.TokenEndpoint)}
		}
		got = u.String()
		return got, nil
	}
}

func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// JWTSigner signs compact JWS tokens with RS256, RS384 or ES384 using only
// the standard library.
type JWTSigner struct {
	Alg    string
	Key    crypto.Signer
	Header map[string]string // extra header fields: kid, x5t, …
}

// NewJWTSigner checks that key suits alg.
func NewJWTSigner(alg string, key crypto.Signer, header map[string]string) (*JWTSigner, error) {
	switch alg {
	case "RS256", "RS384":
		k, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("algorithm %s needs an RSA private key, but the key is %s", alg, keyKind(key))
		}
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("the RSA key has %d bits; at least 2048 are required", k.N.BitLen())
		}
	case "ES384":
		k, ok := key.(*ecdsa.PrivateKey)
		if !ok || k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("algorithm ES384 needs an EC P-384 private key, but the key is %s", keyKind(key))
		}
	default:
		return nil, fmt.Errorf("algorithm %q is not supported; use RS384 or ES384 (SMART), RS256 (Azure AD, Google)", alg)
	}
	return &JWTSigner{Alg: alg, Key: key, Header: header}, nil
}

func keyKind(key crypto.Signer) string {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "EC " + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", key)
}

var b64 = base64.RawURLEncoding

// Sign returns header.claims.signature.
func (s *JWTSigner) Sign(claims map[string]any) (string, error) {
	h := map[string]string{"alg": s.Alg, "typ": "JWT"}
	for k, v := range s.Header {
		h[k] = v
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	var sig []byte
	switch s.Alg {
	case "RS256":
		d := sha256.Sum256([]byte(input))
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.Key.(*rsa.PrivateKey), crypto.SHA256, d[:])
	case "RS384":
		d := sha512.Sum384([]byte(input))
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.Key.(*rsa.PrivateKey), crypto.SHA384, d[:])
	case "ES384":
		d := sha512.Sum384([]byte(input))
		r, ss, serr := ecdsa.Sign(rand.Reader, s.Key.(*ecdsa.PrivateKey), d[:])
		if err = serr; err == nil {
			// JWS wants r||s, each 48 bytes, not ASN.1.
			sig = make([]byte, 96)
			r.FillBytes(sig[:48])
			ss.FillBytes(sig[48:])
		}
	default:
		err = fmt.Errorf("algorithm %q is not supported", s.Alg)
	}
	if err != nil {
		return "", fmt.Errorf("sign the client assertion: %w", err)
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// LoadPrivateKey reads a PEM private key: PKCS#8, PKCS#1 (RSA) or SEC 1 (EC).
// The error names the file, never its content.
func LoadPrivateKey(file string) (crypto.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	return ParsePrivateKey(data, file)
}

// ParsePrivateKey parses PEM key data; name says where it came from.
func ParsePrivateKey(data []byte, name string) (crypto.Signer, error) {
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return nil, fmt.Errorf("%s holds no PEM private key (expected a \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block)", name)
		}
		if _, enc := blk.Headers["DEK-Info"]; enc || blk.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, fmt.Errorf("%s is an encrypted private key; phiwatch reads unencrypted keys (protect the file with permissions, e.g. mode 0400)", name)
		}
		switch blk.Type {
		case "PRIVATE KEY":
			key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: PKCS#8 private key is unreadable: %w", name, err)
			}
			if s, ok := key.(crypto.Signer); ok {
				return s, nil
			}
			return nil, fmt.Errorf("%s: unsupported private key type %T", name, key)
		case "RSA PRIVATE KEY":
			key, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: RSA private key is unreadable: %w", name, err)
			}
			return key, nil
		case "EC PRIVATE KEY":
			key, err := x509.ParseECPrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: EC private key is unreadable: %w", name, err)
			}
			return key, nil
		}
		// Other blocks (EC PARAMETERS, a certificate in the same file) are skipped.
	}
}

// CertThumbprints reads a PEM certificate and returns its SHA-1 and SHA-256
// thumbprints, base64url, for the x5t and x5t#S256 headers Azure AD uses to
// find the certificate registered for the app.
func CertThumbprints(file string) (sha1T, sha256T string, err error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", "", fmt.Errorf("read certificate: %w", err)
	}
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return "", "", fmt.Errorf("%s holds no PEM certificate", file)
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return "", "", fmt.Errorf("%s: certificate is unreadable: %w", file, err)
		}
		s1 := sha1.Sum(blk.Bytes)
		s256 := sha256.Sum256(blk.Bytes)
		return b64.EncodeToString(s1[:]), b64.EncodeToString(s256[:]), nil
	}
}

// GoogleServiceAccountKey is the JSON key file of a Google service account.
type GoogleServiceAccountKey struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	TokenURI     string `json:"token_uri"`
}

// LoadGoogleServiceAccountKey reads and checks a key file.
func LoadGoogleServiceAccountKey(file string) (*GoogleServiceAccountKey, crypto.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("read service account key: %w", err)
	}
	var k GoogleServiceAccountKey
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, nil, fmt.Errorf("%s is not a service account key JSON file: %v", file, err)
	}
	if k.Type != "service_account" || k.ClientEmail == "" || k.PrivateKey == "" {
		return nil, nil, fmt.Errorf("%s is not a service account key (want type service_account with client_email and private_key)", file)
	}
	if k.TokenURI == "" {
		k.TokenURI = "https://oauth2.googleapis.com/token"
	}
	key, err := ParsePrivateKey([]byte(k.PrivateKey), file+" private_key")
	if err != nil {
		return nil, nil, err
	}
	return &k, key, nil
}

func isLoopback(u *url.URL) bool {
	h := u.Hostname()
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}
