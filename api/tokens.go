package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/store"
)

// TokenPrefix starts every token phiwatch issues, so a leaked one is easy
// to recognise (and to scan for in repositories).
const TokenPrefix = "phw_"

// MaxTokenLifetime bounds a token's expiry: machines get new tokens at
// least every two years.
const MaxTokenLifetime = 2 * 366 * 24 * time.Hour

// TokenRecord is one version of an API token (table api_tokens). The secret
// itself is never stored, only its SHA-256.
type TokenRecord struct {
	Owner       string    `json:"tenant_id"`
	TokenID     string    `json:"token_id"`
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	AllTenants  bool      `json:"all_tenants"`
	Tenants     []string  `json:"tenants"`
	TenantGroup string    `json:"tenant_group"`
	TokenSHA256 string    `json:"token_sha256"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Revoked     bool      `json:"revoked"`
	ChangedBy   string    `json:"changed_by"`
	Reason      string    `json:"reason"`
	VersionAt   time.Time `json:"version_at"`
}

// tokenRow is what is inserted: the record plus its retention.
type tokenRow struct {
	TokenRecord
	RetainUntil string `json:"retain_until"`
}

// Scope is the token's tenant scope.
func (r *TokenRecord) Scope() Scope {
	return Scope{AllTenants: r.AllTenants, Tenants: r.Tenants, Group: r.TenantGroup}
}

// TokenRequest asks for a new token.
type TokenRequest struct {
	Name    string     `json:"name"`
	Role    authz.Role `json:"role"`
	Scope   Scope      `json:"scope"`
	Expires string     `json:"expires"` // 90d, 12h, or a date YYYY-MM-DD
	Reason  string     `json:"reason"`
}

// NewTokenSecret returns a fresh token: the prefix and 32 random bytes.
func NewTokenSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func newID(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func tokenHash(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

const tokenColumns = `tenant_id, token_id, name, role, all_tenants, tenants, tenant_group, token_sha256,
created_by, created_at, expires_at, revoked, changed_by, reason, version_at`

// CreateToken issues a token for by's delegation and returns its secret,
// which exists nowhere else afterwards: the caller shows it once.
func (a *Access) CreateToken(ctx context.Context, by *authz.Principal, req TokenRequest) (string, TokenRecord, error) {
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 128 {
		return "", TokenRecord{}, errors.New("name the token (1-128 characters): it says which machine uses it")
	}
	scope, err := req.Scope.normalize(req.Role)
	if err != nil {
		return "", TokenRecord{}, err
	}
	if err := mayDelegate(by, req.Role, scope); err != nil {
		return "", TokenRecord{}, err
	}
	now := a.now().UTC().Truncate(time.Millisecond)
	exp, err := parseExpiry(req.Expires, now)
	if err != nil {
		return "", TokenRecord{}, err
	}
	if !exp.After(now) || exp.Sub(now) > MaxTokenLifetime {
		return "", TokenRecord{}, fmt.Errorf("expiry %s: must be in the future and at most two years ahead", exp.Format(time.RFC3339))
	}
	secret := NewTokenSecret()
	h := tokenHash(secret)
	rec := TokenRecord{Owner: scope.owner(), TokenID: newID("tok_", 8), Name: req.Name, Role: string(req.Role),
		AllTenants: scope.AllTenants, Tenants: scope.Tenants, TenantGroup: scope.Group, TokenSHA256: hex.EncodeToString(h[:]),
		CreatedBy: by.Subject, CreatedAt: now, ExpiresAt: exp.UTC(), ChangedBy: by.Subject, Reason: strings.TrimSpace(req.Reason), VersionAt: now}
	if rec.Tenants == nil {
		rec.Tenants = []string{}
	}
	if err := a.insertToken(ctx, rec); err != nil {
		return "", TokenRecord{}, err
	}
	return secret, rec, nil
}

func (a *Access) insertToken(ctx context.Context, rec TokenRecord) error {
	ts, err := a.scoped(rec.Owner)
	if err != nil {
		return err
	}
	row := tokenRow{TokenRecord: rec, RetainUntil: rec.CreatedAt.Add(a.keep).Format(time.DateOnly)}
	if err := ts.Insert(ctx, "api_tokens", []tokenRow{row}); err != nil {
		return fmt.Errorf("store API token %s: %w: %w", rec.TokenID, errStore, err)
	}
	a.forget()
	return nil
}

// ListTokens lists the current version of the tokens stored under owner
// (a tenant, or MSPScope), newest first; owner "" lists every token.
func (a *Access) ListTokens(ctx context.Context, owner string) ([]TokenRecord, error) {
	var out []TokenRecord
	sql := "SELECT " + tokenColumns + " FROM " + a.q.Database() + ".api_tokens_current WHERE ({tenant:String} = '' OR tenant_id = {tenant:String}) ORDER BY created_at DESC, token_id"
	if err := a.q.Select(ctx, &out, sql, store.Params{"tenant": owner}); err != nil {
		return nil, fmt.Errorf("read API tokens: %w: %w", errStore, err)
	}
	return out, nil
}

// RevokeToken ends a token at once: a new version with revoked set, by
// whom and why. by must manage the token's owner scope; owner "" finds the
// token in any scope by may manage.
func (a *Access) RevokeToken(ctx context.Context, by *authz.Principal, owner, tokenID, reason string) (TokenRecord, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return TokenRecord{}, errors.New("give a reason for the revocation: it is the record an auditor reads")
	}
	list, err := a.ListTokens(ctx, owner)
	if err != nil {
		return TokenRecord{}, err
	}
	for _, t := range list {
		if t.TokenID != tokenID || !mayManageOwner(by, t.Owner) {
			continue
		}
		if t.Revoked {
			return t, fmt.Errorf("%w: token %s was already revoked by %s", ErrConflict, tokenID, t.ChangedBy)
		}
		t.Revoked, t.ChangedBy, t.Reason, t.VersionAt = true, by.Subject, reason, a.nextVersion(t.VersionAt)
		if err := a.insertToken(ctx, t); err != nil {
			return TokenRecord{}, err
		}
		return t, nil
	}
	return TokenRecord{}, fmt.Errorf("%w: no token %s in your scope", ErrNotFound, tokenID)
}

// lookupToken finds the current version of the token with this secret
// (nil when there is none), through the cache.
func (a *Access) lookupToken(ctx context.Context, secret string) (*TokenRecord, error) {
	h := tokenHash(secret)
	if rec, ok := getCached(a, a.tokens, h); ok {
		return rec, nil
	}
	var out []TokenRecord
	sql := "SELECT " + tokenColumns + " FROM " + a.q.Database() + ".api_tokens_current WHERE token_sha256 = {h:String} ORDER BY version_at DESC LIMIT 1"
	if err := a.q.Select(ctx, &out, sql, store.Params{"h": hex.EncodeToString(h[:])}); err != nil {
		return nil, fmt.Errorf("look up API token: %w: %w", errStore, err)
	}
	var rec *TokenRecord
	if len(out) > 0 {
		rec = &out[0]
	}
	putCached(a, a.tokens, h, rec)
	return rec, nil
}

// errTokenRefused explains a 401 for a token that exists but may not be
// used; its text goes to the caller.
type errTokenRefused struct{ why string }

func (e errTokenRefused) Error() string { return e.why }

// tokenPrincipal authenticates a phw_ token: nil, nil when it is unknown.
func (a *Access) tokenPrincipal(ctx context.Context, secret string) (*authz.Principal, error) {
	rec, err := a.lookupToken(ctx, secret)
	if err != nil || rec == nil {
		return nil, err
	}
	switch {
	case rec.Revoked:
		return nil, errTokenRefused{"this API token was revoked; ask your administrator for a new one"}
	case !a.now().Before(rec.ExpiresAt):
		return nil, errTokenRefused{"this API token expired at " + rec.ExpiresAt.UTC().Format(time.RFC3339) + "; ask your administrator for a new one"}
	}
	p := &authz.Principal{Subject: "token:" + rec.TokenID, Name: rec.Name, Role: authz.Role(rec.Role), Via: "token"}
	if err := a.resolve(ctx, p, rec.Scope()); err != nil {
		return nil, err
	}
	return p, nil
}
