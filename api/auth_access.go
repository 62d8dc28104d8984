package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

// MSPScope is the owner scope (tenant_id) of access rows that span more than
// one tenant: only an msp_admin over all tenants manages them.
const MSPScope = "*"

// Access is phiwatch's access-control store (migration 0020): API tokens
// for machines, role grants for people and the tenant groups an msp_admin
// may be scoped to. Lookups made on every request are cached for CacheTTL,
// so a revocation made elsewhere (another API replica, the CLI) takes effect
// within that time; one made through this Access takes effect at once.
type Access struct {
	q    store.Querier
	now  func() time.Time
	ttl  time.Duration
	keep time.Duration

	mu     sync.Mutex
	tokens map[[32]byte]cached[*TokenRecord]
	grants map[string]cached[*GrantRecord]
	groups map[string]cached[[]string]
}

// AccessOptions configure NewAccess.
type AccessOptions struct {
	// CacheTTL is how long a lookup is reused (default 5 s; negative: never).
	CacheTTL time.Duration
	// Retention is how long rows are kept (default 7 years).
	Retention time.Duration
	Now       func() time.Time
}

type cached[T any] struct {
	v  T
	at time.Time
}

// maxCached bounds each cache: past it the cache starts over, so a flood of
// made-up tokens cannot grow memory.
const maxCached = 10000

// NewAccess opens the access-control store on q.
func NewAccess(q store.Querier, o AccessOptions) *Access {
	if o.CacheTTL == 0 {
		o.CacheTTL = 5 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = 7 * 365 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Access{q: q, now: o.Now, ttl: o.CacheTTL, keep: o.Retention,
		tokens: map[[32]byte]cached[*TokenRecord]{}, grants: map[string]cached[*GrantRecord]{}, groups: map[string]cached[[]string]{}}
}

func getCached[K comparable, T any](a *Access, m map[K]cached[T], k K) (T, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := m[k]
	if !ok || a.ttl < 0 || a.now().Sub(e.at) >= a.ttl {
		var zero T
		return zero, false
	}
	return e.v, true
}

func putCached[K comparable, T any](a *Access, m map[K]cached[T], k K, v T) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(m) >= maxCached {
		clear(m)
	}
	m[k] = cached[T]{v: v, at: a.now()}
}

// forget drops every cached lookup, after a change made here.
func (a *Access) forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.tokens)
	clear(a.grants)
	clear(a.groups)
}

// nextVersion is the version time of a change to a row whose latest
// version is prev: now, but always after prev, so versions never tie (a
// tie would make "latest" ambiguous and let the engine merge them).
func (a *Access) nextVersion(prev time.Time) time.Time {
	now := a.now().UTC().Truncate(time.Millisecond)
	if !now.After(prev) {
		now = prev.Add(time.Millisecond)
	}
	return now
}

// Scope is the set of tenants a token or grant covers: a list of tenants,
// all tenants, or a named tenant group (the last two for msp_admin only).
type Scope struct {
	AllTenants bool     `json:"all_tenants"`
	Tenants    []string `json:"tenants"`
	Group      string   `json:"tenant_group"`
}

// ErrForbidden marks a change the caller may not make.
var ErrForbidden = errors.New("not allowed")

// ErrNotFound marks a token, grant or group that does not exist in the
// caller's scope.
var ErrNotFound = errors.New("not found")

// ErrConflict marks a change that clashes with existing state.
var ErrConflict = errors.New("conflict")

// normalize checks the scope for role and sorts its tenants.
func (s Scope) normalize(role authz.Role) (Scope, error) {
	n := 0
	if s.AllTenants {
		n++
	}
	if len(s.Tenants) > 0 {
		n++
	}
	if s.Group != "" {
		n++
	}
	if n != 1 {
		return s, errors.New("give exactly one of: a list of tenants, all tenants, or a tenant group")
	}
	if (s.AllTenants || s.Group != "") && role != authz.MSPAdmin {
		return s, fmt.Errorf("only msp_admin may cover all tenants or a tenant group; a %s is granted per tenant", role)
	}
	if s.Group != "" && !validGroupName(s.Group) {
		return s, fmt.Errorf("tenant group %q: use 1-64 lower-case letters, digits, '-' or '_'", s.Group)
	}
	out := Scope{AllTenants: s.AllTenants, Group: s.Group}
	for _, t := range s.Tenants {
		if !event.ValidTenant(t) {
			return s, fmt.Errorf("tenant %q is not a valid tenant id", t)
		}
		if !slices.Contains(out.Tenants, t) {
			out.Tenants = append(out.Tenants, t)
		}
	}
	sort.Strings(out.Tenants)
	return out, nil
}

// owner is the tenant_id a row of this scope is stored under.
func (s Scope) owner() string {
	if !s.AllTenants && s.Group == "" && len(s.Tenants) == 1 {
		return s.Tenants[0]
	}
	return MSPScope
}

func (s Scope) String() string {
	switch {
	case s.AllTenants:
		return "all tenants"
	case s.Group != "":
		return "group " + s.Group
	default:
		return strings.Join(s.Tenants, ",")
	}
}

func validGroupName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// roleRank orders roles as authz.Roles does, most powerful first.
func roleRank(r authz.Role) int { return slices.Index(authz.Roles, r) }

// mayDelegate reports why by may not hand out role over scope, or nil. A
// caller needs ManageAccess, never hands out a role above its own, and
// never a tenant it cannot see; all tenants and groups need an msp_admin
// over all tenants.
func mayDelegate(by *authz.Principal, role authz.Role, scope Scope) error {
	if by == nil || !by.Role.Can(authz.ManageAccess) {
		return fmt.Errorf("%w: managing access needs the %s permission", ErrForbidden, authz.ManageAccess)
	}
	if !role.Valid() {
		return fmt.Errorf("role %q is not one of %v", role, authz.Roles)
	}
	if roleRank(role) < roleRank(by.Role) {
		return fmt.Errorf("%w: a %s cannot hand out the %s role, which is above theirs", ErrForbidden, by.Role, role)
	}
	if (scope.AllTenants || scope.Group != "") && !by.AllTenants {
		return fmt.Errorf("%w: only an msp_admin over all tenants may grant all tenants or a tenant group", ErrForbidden)
	}
	for _, t := range scope.Tenants {
		if !by.CanSee(t) {
			return fmt.Errorf("%w: tenant %s is outside your scope", ErrForbidden, t)
		}
	}
	return nil
}

// mayManageOwner reports whether by may see and change rows stored under
// owner: their own tenants' rows, and MSP-level rows for an msp_admin over
// all tenants.
func mayManageOwner(by *authz.Principal, owner string) bool {
	if by == nil || !by.Role.Can(authz.ManageAccess) {
		return false
	}
	if owner == MSPScope {
		return by.AllTenants
	}
	return by.CanSee(owner)
}

// scoped returns the store narrowed to an owner scope.
func (a *Access) scoped(owner string) (*store.TenantStore, error) {
	return store.ForTenant(a.q, owner)
}

// resolve turns a scope into the principal's tenant set, reading the
// group's members.
func (a *Access) resolve(ctx context.Context, p *authz.Principal, s Scope) error {
	p.Tenants = map[string]bool{}
	switch {
	case s.AllTenants:
		p.AllTenants = true
	case s.Group != "":
		members, err := a.groupMembers(ctx, s.Group)
		if err != nil {
			return err
		}
		for _, t := range members {
			p.Tenants[t] = true
		}
	default:
		for _, t := range s.Tenants {
			p.Tenants[t] = true
		}
	}
	return nil
}

// expiry parses an expiry given as a duration ("90d", "12h") or a date
// (YYYY-MM-DD, the end of that day UTC), relative to now.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("an expiry is required: every token ends (e.g. 90d, or a date YYYY-MM-DD)")
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(d, "%d", &n); err == nil && n > 0 && fmt.Sprint(n) == d {
			return now.Add(time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	if day, err := time.Parse(time.DateOnly, s); err == nil {
		return day.Add(24 * time.Hour), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("expiry %q: want a duration (90d, 12h) or a date (2027-03-31)", s)
}

// errStore marks a failure of the store under an access change or lookup
// (as opposed to a request that is wrong).
var errStore = errors.New("the access-control store failed")
