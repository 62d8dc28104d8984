package identity

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Querier is what resolution reads with (a store.Store, or a detector's
// querier).
type Querier interface {
	Select(ctx context.Context, dest any, sql string, params store.Params) error
	Database() string
}

// Resolver resolves actors against the current reference data in the store.
type Resolver struct{ q Querier }

// NewResolver returns a resolver reading through q.
func NewResolver(q Querier) *Resolver { return &Resolver{q: q} }

// Load indexes a tenant's current roster, account inventories,
// practitioners and practitioner roles.
func (r *Resolver) Load(ctx context.Context, tenant string) (*Index, error) {
	db := r.q.Database()
	p := store.Params{"tenant": tenant}
	var src Sources
	if err := r.q.Select(ctx, &src.People, `
SELECT user_id, name, toString(role) AS role, email, aliases, employee_id, npi, ehr_username, m365_upn, vpn_username, google_email,
       ifNull(toString(termination_date), '') AS termination_date
FROM `+db+`.workforce_current WHERE tenant_id = {tenant:String} ORDER BY user_id`, p); err != nil {
		return nil, fmt.Errorf("read the roster of %s: %w", tenant, err)
	}
	if err := r.q.Select(ctx, &src.Accounts, `
SELECT toString(system) AS system, account_id, email, owner_user_id
FROM `+db+`.accounts_current WHERE tenant_id = {tenant:String} ORDER BY system, account_id`, p); err != nil {
		return nil, fmt.Errorf("read the account inventories of %s: %w", tenant, err)
	}
	if err := r.q.Select(ctx, &src.Practitioners, `
SELECT practitioner_id, identifiers, emails
FROM `+db+`.practitioners_current WHERE tenant_id = {tenant:String} ORDER BY practitioner_id`, p); err != nil {
		return nil, fmt.Errorf("read the practitioners of %s: %w", tenant, err)
	}
	if err := r.q.Select(ctx, &src.Roles, `
SELECT role_id, practitioner_id
FROM `+db+`.practitioner_roles_current WHERE tenant_id = {tenant:String} ORDER BY role_id`, p); err != nil {
		return nil, fmt.Errorf("read the practitioner roles of %s: %w", tenant, err)
	}
	return NewIndex(tenant, src), nil
}

// Resolve links each actor id to a workforce member of the tenant, from
// the current reference data. Every id given gets a Link, linked or not.
func (r *Resolver) Resolve(ctx context.Context, tenant string, actorIDs []string) (map[string]Link, error) {
	x, err := r.Load(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Link, len(actorIDs))
	for _, a := range actorIDs {
		out[a] = x.Resolve(a)
	}
	return out, nil
}

// Activity is one actor's events in a window, with what it resolves to.
type Activity struct {
	Link
	Events    uint64            `json:"events"`
	BySource  map[string]uint64 `json:"by_source_kind"`
	FirstSeen time.Time         `json:"first_seen"`
	LastSeen  time.Time         `json:"last_seen"`
}

// UnlinkedReport lists the actors of a window that link to no one.
type UnlinkedReport struct {
	Tenant   string     `json:"tenant_id"`
	From, To time.Time  `json:"-"`
	Actors   int        `json:"actors"` // distinct actors seen
	Linked   int        `json:"linked"`
	Unlinked []Activity `json:"unlinked"` // unlinked and ambiguous, most events first
	// NoActor counts events that carry no actor id at all.
	NoActor uint64 `json:"events_without_actor"`
}

// Unlinked lists the actors seen in the tenant's events in [from, to) that
// link to no workforce member, or could be several (ambiguous), with their
// event counts per source kind and when they were first and last seen.
func (r *Resolver) Unlinked(ctx context.Context, tenant string, from, to time.Time) (UnlinkedReport, error) {
	rep := UnlinkedReport{Tenant: tenant, From: from, To: to}
	x, err := r.Load(ctx, tenant)
	if err != nil {
		return rep, err
	}
	var rows []struct {
		ActorID    string    `json:"actor_id"`
		SourceKind string    `json:"source_kind"`
		Events     uint64    `json:"events"`
		FirstSeen  time.Time `json:"first_seen"`
		LastSeen   time.Time `json:"last_seen"`
	}
	if err := r.q.Select(ctx, &rows, `
SELECT actor_id, toString(source_kind) AS source_kind, count() AS events, min(time) AS first_seen, max(time) AS last_seen
FROM `+r.q.Database()+`.events
WHERE tenant_id = {tenant:String} AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
GROUP BY actor_id, source_kind
ORDER BY actor_id, source_kind`, store.Params{"tenant": tenant, "from": chTime(from), "to": chTime(to)}); err != nil {
		return rep, fmt.Errorf("count the actors of %s: %w", tenant, err)
	}
	byActor := map[string]*Activity{}
	var order []string
	for _, row := range rows {
		if strings.TrimSpace(row.ActorID) == "" {
			rep.NoActor += row.Events
			continue
		}
		a, ok := byActor[row.ActorID]
		if !ok {
			a = &Activity{Link: x.Resolve(row.ActorID), BySource: map[string]uint64{}, FirstSeen: row.FirstSeen, LastSeen: row.LastSeen}
			byActor[row.ActorID] = a
			order = append(order, row.ActorID)
		}
		a.Events += row.Events
		a.BySource[row.SourceKind] += row.Events
		if row.FirstSeen.Before(a.FirstSeen) {
			a.FirstSeen = row.FirstSeen
		}
		if row.LastSeen.After(a.LastSeen) {
			a.LastSeen = row.LastSeen
		}
	}
	rep.Actors = len(order)
	for _, id := range order {
		a := byActor[id]
		if a.Linked() {
			rep.Linked++
			continue
		}
		rep.Unlinked = append(rep.Unlinked, *a)
	}
	sort.SliceStable(rep.Unlinked, func(i, j int) bool { return rep.Unlinked[i].Events > rep.Unlinked[j].Events })
	return rep, nil
}

func chTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }
