package api

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

// GrantRecord is one version of a person's role grant (table
// access_grants). Principal is "sub:<OIDC subject>" or "email:<address>".
type GrantRecord struct {
	Owner        string            `json:"tenant_id"`
	Principal    string            `json:"principal"`
	DisplayName  string            `json:"display_name"`
	Role         string            `json:"role"`
	AllTenants   bool              `json:"all_tenants"`
	Tenants      []string          `json:"tenants"`
	TenantGroup  string            `json:"tenant_group"`
	WorkforceIDs map[string]string `json:"workforce_ids"`
	CreatedAt    time.Time         `json:"created_at"`
	Revoked      bool              `json:"revoked"`
	ChangedBy    string            `json:"changed_by"`
	Reason       string            `json:"reason"`
	VersionAt    time.Time         `json:"version_at"`
}

type grantRow struct {
	GrantRecord
	RetainUntil string `json:"retain_until"`
}

// Scope is the grant's tenant scope.
func (g *GrantRecord) Scope() Scope {
	return Scope{AllTenants: g.AllTenants, Tenants: g.Tenants, Group: g.TenantGroup}
}

// GrantRequest gives a person a role over a scope, replacing the grant
// they held (a person holds one grant at a time).
type GrantRequest struct {
	Principal   string     `json:"principal"` // sub:<subject> or email:<address>
	DisplayName string     `json:"display_name"`
	Role        authz.Role `json:"role"`
	Scope       Scope      `json:"scope"`
	// WorkforceIDs maps tenant → the person's roster user id there, so they
	// never review their own accesses.
	WorkforceIDs map[string]string `json:"workforce_ids"`
	Reason       string            `json:"reason"`
}

// PrincipalKey normalizes "sub:…" or "email:…" (emails lower-cased).
func PrincipalKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "sub:") && len(s) > 4 && len(s) <= 260:
		return s, nil
	case strings.HasPrefix(s, "email:"):
		addr := strings.ToLower(strings.TrimPrefix(s, "email:"))
		if a, err := mail.ParseAddress(addr); err == nil && a.Address == addr && len(addr) <= 254 {
			return "email:" + addr, nil
		}
	}
	return "", fmt.Errorf("principal %q: want sub:<OIDC subject> or email:<address>", s)
}

const grantColumns = `tenant_id, principal, display_name, role, all_tenants, tenants, tenant_group, workforce_ids,
created_at, revoked, changed_by, reason, version_at`

// ListGrants lists the current grants stored under owner (a tenant or
// MSPScope; "" lists all), revoked ones included.
func (a *Access) ListGrants(ctx context.Context, owner string) ([]GrantRecord, error) {
	var out []GrantRecord
	sql := "SELECT " + grantColumns + " FROM " + a.q.Database() + ".access_grants_current WHERE ({tenant:String} = '' OR tenant_id = {tenant:String}) ORDER BY principal, tenant_id"
	if err := a.q.Select(ctx, &out, sql, store.Params{"tenant": owner}); err != nil {
		return nil, fmt.Errorf("read role grants: %w: %w", errStore, err)
	}
	return out, nil
}

// activeGrants are the unrevoked grants of one principal key, any owner.
func (a *Access) activeGrants(ctx context.Context, keys ...string) ([]GrantRecord, error) {
	return a.currentGrants(ctx, true, keys...)
}

// currentGrants are the current versions of the grants of the keys, any
// owner; only unrevoked ones when active.
func (a *Access) currentGrants(ctx context.Context, active bool, keys ...string) ([]GrantRecord, error) {
	var out []GrantRecord
	p := store.Params{}
	var conds []string
	for i, k := range keys {
		name := fmt.Sprintf("k%d", i)
		p[name] = k
		conds = append(conds, "principal = {"+name+":String}")
	}
	if len(conds) == 0 {
		return nil, nil
	}
	where := "(" + strings.Join(conds, " OR ") + ")"
	if active {
		where = "NOT revoked AND " + where
	}
	sql := "SELECT " + grantColumns + " FROM " + a.q.Database() + ".access_grants_current WHERE " + where + " ORDER BY version_at DESC"
	if err := a.q.Select(ctx, &out, sql, p); err != nil {
		return nil, fmt.Errorf("read role grants: %w: %w", errStore, err)
	}
	return out, nil
}

// PutGrant gives a person a role. An active grant of the same person that
// by may manage is replaced (revoked in the same change); one that by may
// not manage (e.g. set by the MSP) is a conflict.
func (a *Access) PutGrant(ctx context.Context, by *authz.Principal, req GrantRequest) (GrantRecord, error) {
	key, err := PrincipalKey(req.Principal)
	if err != nil {
		return GrantRecord{}, err
	}
	scope, err := req.Scope.normalize(req.Role)
	if err != nil {
		return GrantRecord{}, err
	}
	if err := mayDelegate(by, req.Role, scope); err != nil {
		return GrantRecord{}, err
	}
	wf := map[string]string{}
	for t, id := range req.WorkforceIDs {
		if !event.ValidTenant(t) || id == "" || len(id) > 256 {
			return GrantRecord{}, fmt.Errorf("workforce id for tenant %q: want a tenant id and a roster user id", t)
		}
		wf[t] = id
	}
	existing, err := a.currentGrants(ctx, false, key)
	if err != nil {
		return GrantRecord{}, err
	}
	now := a.now().UTC().Truncate(time.Millisecond)
	reason := strings.TrimSpace(req.Reason)
	var rows []GrantRecord
	g := GrantRecord{Owner: scope.owner(), Principal: key, DisplayName: strings.TrimSpace(req.DisplayName), Role: string(req.Role),
		AllTenants: scope.AllTenants, Tenants: scope.Tenants, TenantGroup: scope.Group, WorkforceIDs: wf, CreatedAt: now,
		ChangedBy: by.Subject, Reason: reason, VersionAt: now}
	if g.Tenants == nil {
		g.Tenants = []string{}
	}
	for _, old := range existing {
		if old.Revoked {
			if old.Owner == g.Owner {
				g.VersionAt = a.nextVersion(old.VersionAt) // after the revocation, whatever the clocks say
			}
			continue
		}
		if err := mayChangeGrant(by, old); err != nil {
			return GrantRecord{}, fmt.Errorf("%w: %s already holds a grant you cannot change (%v); ask who granted it", ErrConflict, key, err)
		}
		if old.Owner == g.Owner {
			g.CreatedAt, g.VersionAt = old.CreatedAt, a.nextVersion(old.VersionAt) // same row, a new version
			continue
		}
		old.Revoked, old.ChangedBy, old.Reason, old.VersionAt = true, by.Subject, "replaced by a grant over "+scope.String(), a.nextVersion(old.VersionAt)
		rows = append(rows, old)
	}
	rows = append(rows, g)
	for _, r := range rows {
		if err := a.insertGrant(ctx, r); err != nil {
			return GrantRecord{}, err
		}
	}
	return g, nil
}

// mayChangeGrant reports why by may not change or revoke g, or nil.
func mayChangeGrant(by *authz.Principal, g GrantRecord) error {
	if !mayManageOwner(by, g.Owner) {
		return fmt.Errorf("%w: it is outside your scope", ErrForbidden)
	}
	if roleRank(authz.Role(g.Role)) < roleRank(by.Role) {
		return fmt.Errorf("%w: it is a %s grant, above your role", ErrForbidden, g.Role)
	}
	return nil
}

func (a *Access) insertGrant(ctx context.Context, g GrantRecord) error {
	ts, err := a.scoped(g.Owner)
	if err != nil {
		return err
	}
	row := grantRow{GrantRecord: g, RetainUntil: g.VersionAt.Add(a.keep).Format(time.DateOnly)}
	if err := ts.Insert(ctx, "access_grants", []grantRow{row}); err != nil {
		return fmt.Errorf("store the grant of %s: %w: %w", g.Principal, errStore, err)
	}
	a.forget()
	return nil
}

// RevokeGrant removes a person's grant (a new version with revoked set).
func (a *Access) RevokeGrant(ctx context.Context, by *authz.Principal, principal, reason string) (GrantRecord, error) {
	key, err := PrincipalKey(principal)
	if err != nil {
		return GrantRecord{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return GrantRecord{}, errors.New("give a reason for the revocation: it is the record an auditor reads")
	}
	existing, err := a.activeGrants(ctx, key)
	if err != nil {
		return GrantRecord{}, err
	}
	for _, g := range existing {
		if !mayManageOwner(by, g.Owner) {
			continue
		}
		if err := mayChangeGrant(by, g); err != nil {
			return GrantRecord{}, err
		}
		g.Revoked, g.ChangedBy, g.Reason, g.VersionAt = true, by.Subject, reason, a.nextVersion(g.VersionAt)
		if err := a.insertGrant(ctx, g); err != nil {
			return GrantRecord{}, err
		}
		return g, nil
	}
	return GrantRecord{}, fmt.Errorf("%w: %s holds no grant in your scope", ErrNotFound, key)
}

// grantFor is the active grant of the first key that has one (sub before
// email), through the cache; nil when the person has none.
func (a *Access) grantFor(ctx context.Context, keys ...string) (*GrantRecord, error) {
	ck := strings.Join(keys, "\x00")
	if g, ok := getCached(a, a.grants, ck); ok {
		return g, nil
	}
	list, err := a.activeGrants(ctx, keys...)
	if err != nil {
		return nil, err
	}
	var g *GrantRecord
	for _, k := range keys {
		i := slices.IndexFunc(list, func(r GrantRecord) bool { return r.Principal == k })
		if i >= 0 {
			g = &list[i]
			break
		}
	}
	putCached(a, a.grants, ck, g)
	return g, nil
}

// grantPrincipal builds the principal of a person from their grant.
func (a *Access) grantPrincipal(ctx context.Context, g *GrantRecord, subject, name, email, via string) (*authz.Principal, error) {
	p := &authz.Principal{Subject: subject, Name: name, Email: email, Role: authz.Role(g.Role), Via: via, WorkforceIDs: g.WorkforceIDs}
	if p.Name == "" {
		p.Name = g.DisplayName
	}
	if err := a.resolve(ctx, p, g.Scope()); err != nil {
		return nil, err
	}
	return p, nil
}

// TenantGroup is the current version of a named group of tenants.
type TenantGroup struct {
	Name      string    `json:"group_name"`
	Tenants   []string  `json:"tenants"`
	CreatedAt time.Time `json:"created_at"`
	Deleted   bool      `json:"deleted"`
	ChangedBy string    `json:"changed_by"`
	Reason    string    `json:"reason"`
	VersionAt time.Time `json:"version_at"`
}

type groupRow struct {
	TenantGroup
	RetainUntil string `json:"retain_until"`
}

// SetGroup creates or changes a tenant group (msp_admin over all tenants).
func (a *Access) SetGroup(ctx context.Context, by *authz.Principal, name string, tenants []string, reason string) (TenantGroup, error) {
	if !mayManageOwner(by, MSPScope) {
		return TenantGroup{}, fmt.Errorf("%w: tenant groups are managed by an msp_admin over all tenants", ErrForbidden)
	}
	s, err := Scope{Group: name}.normalize(authz.MSPAdmin)
	if err != nil {
		return TenantGroup{}, err
	}
	if len(tenants) == 0 {
		return TenantGroup{}, errors.New("a tenant group needs at least one tenant")
	}
	members, err := Scope{Tenants: tenants}.normalize(authz.Reviewer)
	if err != nil {
		return TenantGroup{}, err
	}
	now := a.now().UTC().Truncate(time.Millisecond)
	g := TenantGroup{Name: s.Group, Tenants: members.Tenants, CreatedAt: now, ChangedBy: by.Subject, Reason: strings.TrimSpace(reason), VersionAt: now}
	old, err := a.ListGroups(ctx)
	if err != nil {
		return TenantGroup{}, err
	}
	for _, o := range old {
		if o.Name == g.Name {
			g.VersionAt = a.nextVersion(o.VersionAt)
			if !o.Deleted {
				g.CreatedAt = o.CreatedAt
			}
		}
	}
	ts, err := a.scoped(MSPScope)
	if err != nil {
		return TenantGroup{}, err
	}
	row := groupRow{TenantGroup: g, RetainUntil: now.Add(a.keep).Format(time.DateOnly)}
	if err := ts.Insert(ctx, "tenant_groups", []groupRow{row}); err != nil {
		return TenantGroup{}, fmt.Errorf("store tenant group %s: %w: %w", g.Name, errStore, err)
	}
	a.forget()
	return g, nil
}

// ListGroups lists the current version of every tenant group, by name.
func (a *Access) ListGroups(ctx context.Context) ([]TenantGroup, error) {
	var out []TenantGroup
	sql := "SELECT group_name, tenants, created_at, deleted, changed_by, reason, version_at FROM " + a.q.Database() +
		".tenant_groups_current WHERE tenant_id = {tenant:String} ORDER BY group_name"
	if err := a.q.Select(ctx, &out, sql, store.Params{"tenant": MSPScope}); err != nil {
		return nil, fmt.Errorf("read tenant groups: %w: %w", errStore, err)
	}
	return out, nil
}

// groupMembers are the tenants of a group (none when it does not exist or
// was deleted: a principal scoped to it then sees nothing).
func (a *Access) groupMembers(ctx context.Context, name string) ([]string, error) {
	if m, ok := getCached(a, a.groups, name); ok {
		return m, nil
	}
	var out []TenantGroup
	sql := "SELECT group_name, tenants, deleted FROM " + a.q.Database() +
		".tenant_groups_current WHERE tenant_id = {tenant:String} AND group_name = {g:String}"
	if err := a.q.Select(ctx, &out, sql, store.Params{"tenant": MSPScope, "g": name}); err != nil {
		return nil, fmt.Errorf("read tenant group %s: %w: %w", name, errStore, err)
	}
	var members []string
	if len(out) == 1 && !out[0].Deleted {
		members = out[0].Tenants
	}
	sort.Strings(members)
	putCached(a, a.groups, name, members)
	return members, nil
}
