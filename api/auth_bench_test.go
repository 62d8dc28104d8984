package api

import (
	"context"
	"testing"

	"github.com/phiwatch/phiwatch/internal/authz"
)

// BenchmarkAuthenticate measures what authentication adds to a request:
// a stored token found in the cache, and an OIDC bearer JWT (RS256
// signature, keys cached after the first fetch) mapped through a grant.
func BenchmarkAuthenticate(b *testing.B) {
	s := apiStore.Store(b)
	ctx := context.Background()
	access := NewAccess(s, AccessOptions{})
	msp := &authz.Principal{Subject: "cli:bench", Role: authz.MSPAdmin, AllTenants: true}
	secret, _, err := access.CreateToken(ctx, msp, TokenRequest{Name: "bench", Role: authz.Auditor, Scope: Scope{Tenants: []string{"bench-a"}}, Expires: "1d"})
	if err != nil {
		b.Fatal(err)
	}
	a := &authenticator{access: access, log: discardLog(), now: access.now}
	b.Run("stored-token-cached", func(b *testing.B) {
		for b.Loop() {
			if p, _, detail := a.bearer(ctx, "Bearer "+secret); p == nil {
				b.Fatal(detail)
			}
		}
	})
	env := newOIDCEnv(b)
	a.oidc = env.oidc
	a.access = env.access
	jwt := env.iss.sign(env.iss.claims(map[string]any{"sub": "admin-1"}), env.iss.key)
	b.Run("oidc-jwt", func(b *testing.B) {
		for b.Loop() {
			if p, _, detail := a.bearer(ctx, "Bearer "+jwt); p == nil {
				b.Fatal(detail)
			}
		}
	})
}
