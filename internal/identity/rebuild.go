package identity

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Writer is what a rebuild needs: reads, and the identity_links insert.
type Writer interface {
	Querier
	InsertIdentityLinks(ctx context.Context, rows []store.IdentityLinkRow) error
}

// Origins of identity_links rows.
const (
	// OriginReference rows are keys the reference data names.
	OriginReference = "reference"
	// OriginObserved rows are actor ids seen in events, linked by a
	// heuristic (or found ambiguous) at build time.
	OriginObserved = "observed"
)

// BuildSummary says what a rebuild wrote.
type BuildSummary struct {
	BuiltAt   time.Time
	People    int    // workforce members indexed
	Keys      int    // account keys the reference data names
	Observed  int    // actor ids from events linked by a heuristic
	Unlinked  int    // actor ids from events that link to no one (not written)
	Ambiguous []Link // keys that could be several people (written with user_id '')
	Problems  []string
}

// Rebuild writes a new build of the tenant's identity links: every key the
// current roster, account inventories and practitioners name, plus every
// actor id in the tenant's events that a heuristic links (or finds
// ambiguous), lower-cased, one row each. Detectors join them on
// l.account_key = lowerUTF8(e.actor_id). identity_links_current then shows
// this build whole. Unlinked actors are not written: junk user names from
// failed VPN logins would swamp the table; `phiwatch reference unlinked`
// lists them. A tenant without a roster gets no build.
func Rebuild(ctx context.Context, w Writer, tenant string, at time.Time, retention time.Duration) (BuildSummary, error) {
	if retention <= 0 {
		retention = store.DefaultRetention
	}
	at = at.UTC().Truncate(time.Millisecond)
	sum := BuildSummary{BuiltAt: at}
	x, err := NewResolver(w).Load(ctx, tenant)
	if err != nil {
		return sum, err
	}
	sum.People, sum.Problems = x.People(), x.Problems()
	if x.People() == 0 {
		return sum, nil
	}
	rows := map[string]store.IdentityLinkRow{}
	put := func(key string, l Link, origin string) {
		rows[key] = store.IdentityLinkRow{TenantID: tenant, AccountKey: key, UserID: l.UserID, Method: string(l.Method),
			Confidence: l.Confidence, Evidence: l.Evidence, Candidates: l.Candidates, Origin: origin,
			BuiltAt: at, RetainUntil: at.Add(retention)}
		if l.Method == Ambiguous {
			sum.Ambiguous = append(sum.Ambiguous, l)
		}
	}
	for key := range x.keys {
		put(key, x.Resolve(key), OriginReference)
	}
	for id := range x.practitioners {
		key := "practitioner/" + id
		if _, dup := rows[key]; !dup {
			if l := x.Resolve("Practitioner/" + id); l.Method != Unlinked {
				put(key, l, OriginReference)
			}
		}
	}
	for id := range x.roles {
		key := "practitionerrole/" + id
		if _, dup := rows[key]; !dup {
			if l := x.Resolve("PractitionerRole/" + id); l.Method != Unlinked {
				put(key, l, OriginReference)
			}
		}
	}
	sum.Keys = len(rows)
	// Every actor ever seen: access_events rather than the FINAL view, as
	// duplicates cannot change a DISTINCT.
	var actors []struct {
		ActorID string `json:"actor_id"`
	}
	if err := w.Select(ctx, &actors, "SELECT DISTINCT actor_id FROM "+w.Database()+".access_events WHERE tenant_id = {tenant:String} AND actor_id != ''",
		store.Params{"tenant": tenant}); err != nil {
		return sum, fmt.Errorf("list the actors of %s: %w", tenant, err)
	}
	for _, a := range actors {
		// Not trimmed, unlike reference keys: the row must match what a
		// detector's lowerUTF8(actor_id) gives for this very actor.
		key := strings.ToLower(a.ActorID)
		if _, done := rows[key]; done || strings.TrimSpace(key) == "" {
			continue
		}
		l := x.Resolve(a.ActorID)
		if l.Method == Unlinked {
			sum.Unlinked++
			continue
		}
		put(key, l, OriginObserved)
		if l.Linked() {
			sum.Observed++
		}
	}
	out := make([]store.IdentityLinkRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AccountKey < out[j].AccountKey })
	sort.Slice(sum.Ambiguous, func(i, j int) bool { return sum.Ambiguous[i].Actor < sum.Ambiguous[j].Actor })
	if err := w.InsertIdentityLinks(ctx, out); err != nil {
		return sum, fmt.Errorf("store the identity links of %s: %w", tenant, err)
	}
	return sum, nil
}

// String is the summary's one line for an operator.
func (s BuildSummary) String() string {
	if s.People == 0 {
		return "no roster yet, so no identity links were built"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "identity links rebuilt: %s from the reference data", plural(s.Keys, "account name", "account names"))
	if s.Observed > 0 {
		fmt.Fprintf(&b, ", %s seen in the events linked by a heuristic", plural(s.Observed, "more actor", "more actors"))
	}
	if n := len(s.Ambiguous); n > 0 {
		fmt.Fprintf(&b, ", %d ambiguous (not linked)", n)
	}
	if s.Unlinked > 0 {
		fmt.Fprintf(&b, "; %s in the events %s to no one (phiwatch reference unlinked lists them)",
			plural(s.Unlinked, "actor", "actors"), map[bool]string{true: "links", false: "link"}[s.Unlinked == 1])
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
