package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Token is one API token from the tokens file. Only its SHA-256 is kept;
// the file may hold the plain token (for a demo or a test) or its hash.
type Token struct {
	Name        string   `yaml:"name"`
	Token       string   `yaml:"token"`        // plain, discouraged outside demos
	TokenSHA256 string   `yaml:"token_sha256"` // hex of sha256(token)
	Tenants     []string `yaml:"tenants"`      // tenant ids, or "*" for all (msp_admin only)
	Role        string   `yaml:"role"`         // one of authz.Roles
}

// Tokens authenticates bearer tokens.
type Tokens struct {
	byHash map[[32]byte]*authz.Principal
}

// LoadTokens reads a tokens file:
//
//	tokens:
//	  - name: msp-oncall
//	    token_sha256: 9f86d0…   # sha256 of the token, hex
//	    tenants: ["*"]
//	    role: msp_admin
func LoadTokens(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read API tokens: %w", err)
	}
	var doc struct {
		Tokens []Token `yaml:"tokens"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("API tokens file %s: %w", path, err)
	}
	return NewTokens(doc.Tokens)
}

// NewTokens validates tokens.
func NewTokens(list []Token) (*Tokens, error) {
	t := &Tokens{byHash: map[[32]byte]*authz.Principal{}}
	var errs []error
	for i, tok := range list {
		where := fmt.Sprintf("token %d (%s)", i+1, tok.Name)
		if tok.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is empty", where))
		}
		var h [32]byte
		switch {
		case tok.TokenSHA256 != "" && tok.Token != "":
			errs = append(errs, fmt.Errorf("%s: give token or token_sha256, not both", where))
			continue
		case tok.TokenSHA256 != "":
			b, err := hex.DecodeString(tok.TokenSHA256)
			if err != nil || len(b) != 32 {
				errs = append(errs, fmt.Errorf("%s: token_sha256 must be 64 hex characters", where))
				continue
			}
			copy(h[:], b)
		case len(tok.Token) >= 16:
			h = sha256.Sum256([]byte(tok.Token))
		default:
			errs = append(errs, fmt.Errorf("%s: token must be at least 16 characters (or give token_sha256)", where))
			continue
		}
		p := &authz.Principal{Subject: "token:" + tok.Name, Name: tok.Name, Via: "token", Role: authz.Role(tok.Role), Tenants: map[string]bool{}}
		if !p.Role.Valid() {
			errs = append(errs, fmt.Errorf("%s: role %q is not one of %v", where, tok.Role, authz.Roles))
		}
		if len(tok.Tenants) == 0 {
			errs = append(errs, fmt.Errorf("%s: tenants is empty (use [\"*\"] for all)", where))
		}
		for _, tn := range tok.Tenants {
			switch {
			case tn == "*":
				p.AllTenants = true
			case event.ValidTenant(tn):
				p.Tenants[tn] = true
			default:
				errs = append(errs, fmt.Errorf("%s: tenant %q is not a valid tenant id", where, tn))
			}
		}
		if p.AllTenants && p.Role != authz.MSPAdmin {
			errs = append(errs, fmt.Errorf("%s: only an msp_admin token may have tenants [\"*\"]", where))
		}
		if _, dup := t.byHash[h]; dup {
			errs = append(errs, fmt.Errorf("%s: the same token appears twice", where))
		}
		t.byHash[h] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(t.byHash) == 0 {
		return nil, errors.New("no API tokens configured: every request would be refused")
	}
	return t, nil
}

// authenticate finds the principal of a bearer token from the file. The
// comparison is on hashes, so timing reveals nothing about stored tokens.
func (t *Tokens) authenticate(raw string) (*authz.Principal, bool) {
	if t == nil || raw == "" {
		return nil, false
	}
	h := sha256.Sum256([]byte(raw))
	var found *authz.Principal
	for k, p := range t.byHash {
		if subtle.ConstantTimeCompare(k[:], h[:]) == 1 {
			found = p
		}
	}
	return found, found != nil
}

// tenantScope resolves the :tenant path parameter against the principal,
// checks the route's permission and narrows the store to the tenant. A
// tenant the caller may not see answers 404, the same as one that does not
// exist, so tenant ids cannot be probed; a permission the caller's role
// lacks answers 403.
func tenantScope(q store.Querier, perm authz.Permission) gin.HandlerFunc {
	return func(c *gin.Context) {
		tenant := c.Param("tenant")
		p := route.Principal(c)
		if !event.ValidTenant(tenant) || !p.CanSee(tenant) {
			problem(c, 404, "no such tenant")
			return
		}
		if !p.Role.Can(perm) {
			problem(c, 403, fmt.Sprintf("your role (%s) does not allow %s", p.Role, perm))
			return
		}
		ts, err := store.ForTenant(q, tenant)
		if err != nil {
			problem(c, 500, "the store is not available")
			return
		}
		route.SetStore(c, ts)
		c.Next()
	}
}
