package analyze

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/identity"
	"github.com/phiwatch/phiwatch/internal/store"
)

// maxEvidence caps the event ids an alert carries; EvidenceCount keeps the
// full number.
const maxEvidence = 200

// person is who an account belongs to, as the reasons name them: the
// workforce member when identity resolution links the account, else the
// account itself (with whatever name the source gave).
type person struct {
	key, name, role string
	linked          bool
}

func (p person) String() string { return displayName(p.key, p.name, p.role) }

// account names an account in a reason: "the VPN account JLEE-VPN of Jamie
// Lee (nurse)" when it is linked to someone, else just the account.
func (p person) account(kind, actor string) string {
	what := "the " + strings.TrimSpace(kind+" account") + " " + actor
	if p.key == actor && !p.linked && p.name == "" {
		return what
	}
	return what + " of " + p.String()
}

// humanDur prints 2h, 15m, 1h30m rather than 2h0m0s.
func humanDur(d time.Duration) string {
	s := d.Round(time.Minute).String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// people resolves accounts to persons with the tenant's identity index, the
// same links the identity_links tables are built from, so "jlee" on the
// VPN and "jamie.lee@clinic.example" in email are one person here too.
type people struct{ idx *identity.Index }

func loadPeople(ctx context.Context, q Querier, tenant string) (people, error) {
	idx, err := identity.NewResolver(q).Load(ctx, tenant)
	if err != nil {
		return people{}, fmt.Errorf("load identities: %w", err)
	}
	return people{idx}, nil
}

func (ps people) of(actor, name, role string) person {
	if ps.idx != nil {
		if l := ps.idx.Resolve(actor); l.Linked() {
			if p, ok := ps.idx.Person(l.UserID); ok {
				return person{key: p.UserID, name: p.Name, role: p.Role, linked: true}
			}
		}
	}
	return person{key: actor, name: name, role: role}
}

// vpnRow is one VPN event with the GeoIP attributes ingest set on it.
type vpnRow struct {
	EventID   string    `json:"event_id"`
	Time      time.Time `json:"time"`
	ActorID   string    `json:"actor_id"`
	ActorName string    `json:"actor_name"`
	ActorRole string    `json:"actor_role"`
	Action    string    `json:"action"`
	Outcome   string    `json:"outcome"`
	ClientIP  string    `json:"client_ip"`
	SessionID string    `json:"session_id"`
	Country   string    `json:"country"`
	City      string    `json:"city"`
	Lat       string    `json:"lat"`
	Lon       string    `json:"lon"`

	who      person
	lat, lon float64
	located  bool // has coordinates
}

// place names where an event came from for a reason: "Lagos, NG".
func (r vpnRow) place() string {
	switch {
	case r.City != "" && r.Country != "":
		return r.City + ", " + r.Country
	case r.Country != "":
		return r.Country
	case r.City != "":
		return r.City
	}
	return "an unknown place"
}

// readVPN reads a tenant's VPN events of the given actions in [from, to),
// oldest first, resolving actors and parsing coordinates.
func readVPN(ctx context.Context, q Querier, ps people, tenant string, from, to time.Time, actions []string) ([]vpnRow, error) {
	var rows []vpnRow
	err := q.Select(ctx, &rows, `
SELECT event_id, time, actor_id, actor_name, toString(actor_role) AS actor_role, toString(action) AS action,
       toString(outcome) AS outcome, client_ip, vpn_session_id AS session_id,
       attrs['geo_country'] AS country, attrs['geo_city'] AS city, attrs['geo_lat'] AS lat, attrs['geo_lon'] AS lon
FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND source_kind = 'vpn'
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
  AND action IN {actions:Array(String)} AND actor_id != ''
ORDER BY time, event_id`, store.Params{"tenant": tenant, "from": chTime(from), "to": chTime(to), "actions": chStrings(actions)})
	if err != nil {
		return nil, fmt.Errorf("read VPN events: %w", err)
	}
	for i := range rows {
		r := &rows[i]
		r.who = ps.of(r.ActorID, r.ActorName, r.ActorRole)
		lat, err1 := strconv.ParseFloat(strings.TrimSpace(r.Lat), 64)
		lon, err2 := strconv.ParseFloat(strings.TrimSpace(r.Lon), 64)
		if err1 == nil && err2 == nil && math.Abs(lat) <= 90 && math.Abs(lon) <= 180 {
			r.lat, r.lon, r.located = lat, lon, true
		}
	}
	return rows, nil
}

// cgnat is carrier-grade NAT space (RFC 6598): shared, says nothing of place.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicIP reports whether an address can say where someone is. GeoIP is
// only set for public addresses anyway; this also drops a stale or
// hand-made location on a private one. Documentation ranges count as public
// because the demo and the tests use them that way (docs/geoip.md).
func publicIP(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	a = a.Unmap()
	return !(a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() ||
		a.IsUnspecified() || cgnat.Contains(a))
}

// distanceKm is the great-circle distance (haversine, mean Earth radius).
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

func isVPNSignIn(r vpnRow) bool {
	return r.Outcome == "success" && (r.Action == "vpn_connect" || r.Action == "login")
}

// byPerson groups rows by resolved person, keeping time order, and returns
// the keys sorted so alerts come out in a stable order.
func byPerson(rows []vpnRow, keep func(vpnRow) bool) (map[string][]vpnRow, []string) {
	m := map[string][]vpnRow{}
	var keys []string
	for _, r := range rows {
		if !keep(r) {
			continue
		}
		if _, ok := m[r.who.key]; !ok {
			keys = append(keys, r.who.key)
		}
		m[r.who.key] = append(m[r.who.key], r)
	}
	sort.Strings(keys)
	return m, keys
}

// ImpossibleTravel flags two successful VPN sign-ins of one person from
// places too far apart for the time between them. Only public addresses
// with GeoIP coordinates count; places under MinDistanceKm apart are one
// place as far as GeoIP can tell (its positions are city guesses).
type ImpossibleTravel struct {
	MaxSpeedKmh   float64 // default 900, about an airliner
	MinDistanceKm float64 // default 100
}

// Rule implements Detector.
func (ImpossibleTravel) Rule() string { return "vpn_impossible_travel" }

func (d ImpossibleTravel) withDefaults() ImpossibleTravel {
	if d.MaxSpeedKmh <= 0 {
		d.MaxSpeedKmh = 900
	}
	if d.MinDistanceKm <= 0 {
		d.MinDistanceKm = 100
	}
	return d
}

// Detect implements Detector.
func (d ImpossibleTravel) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	ps, err := loadPeople(ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	// A day before the window so a pair straddling its start is seen; the
	// alert belongs to the window of the second sign-in.
	rows, err := readVPN(ctx, q, ps, t.ID, w.From.Add(-24*time.Hour), w.To, []string{"vpn_connect", "login"})
	if err != nil {
		return nil, err
	}
	groups, keys := byPerson(rows, func(r vpnRow) bool { return isVPNSignIn(r) && r.located && publicIP(r.ClientIP) })
	var alerts []store.AlertRow
	for _, k := range keys {
		evs := groups[k]
		for i := 1; i < len(evs); i++ {
			a, b := evs[i-1], evs[i]
			if b.Time.Before(w.From) {
				continue
			}
			km := distanceKm(a.lat, a.lon, b.lat, b.lon)
			if km < d.MinDistanceKm {
				continue
			}
			hours := b.Time.Sub(a.Time).Hours()
			speed := math.Inf(1)
			if hours > 0 {
				speed = km / hours
			}
			if speed <= d.MaxSpeedKmh {
				continue
			}
			alerts = append(alerts, d.alert(t, a, b, km, speed))
		}
	}
	return alerts, nil
}

func (d ImpossibleTravel) alert(t Tenant, a, b vpnRow, km, speed float64) store.AlertRow {
	loc := t.Location
	gap := b.Time.Sub(a.Time).Round(time.Minute)
	pace := "at the same moment"
	if !math.IsInf(speed, 1) {
		pace = fmt.Sprintf("%s apart, which needs %.0f km/h", humanDur(gap), speed)
	}
	reason := fmt.Sprintf("%s signed in to the VPN from %s (%s) at %s and from %s (%s) at %s: %.0f km %s, faster than the %.0f km/h anyone can travel; the account may be used by someone else.",
		b.who, a.place(), a.ClientIP, a.Time.In(loc).Format("Mon 2 Jan 2006 15:04"),
		b.place(), b.ClientIP, b.Time.In(loc).Format("Mon 2 Jan 2006 15:04 MST"), km, pace, d.MaxSpeedKmh)
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), b.who.key, a.EventID, b.EventID), Rule: d.Rule(),
		Severity: SeverityHigh, Score: 80, ActorID: b.who.key, ActorName: b.who.name, ActorRole: b.who.role,
		FirstSeen: a.Time.UTC(), LastSeen: b.Time.UTC(), Reason: reason,
		EvidenceEventIDs: []string{a.EventID, b.EventID}, EvidenceCount: 2,
		Explanations: []string{
			"locations are GeoIP city guesses for public addresses; places under " + fmt.Sprintf("%.0f km", d.MinDistanceKm) + " apart are treated as one",
			"accounts matched: " + accountsOf(a, b),
			"a corporate proxy or a VPN exit in another country can cause this: check with the person",
		},
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func accountsOf(rows ...vpnRow) string {
	m := map[string]bool{}
	for _, r := range rows {
		m[r.ActorID] = true
	}
	return strings.Join(sortedKeys(m), ", ")
}

// NewCountry flags a successful VPN sign-in from a country the person has
// not connected from in the previous HistoryDays, once they have at least
// MinHistory located sign-ins in that time: without history every country
// is new, and that says nothing.
type NewCountry struct {
	HistoryDays int // default 90
	MinHistory  int // default 5
}

// Rule implements Detector.
func (NewCountry) Rule() string { return "vpn_new_country" }

func (d NewCountry) withDefaults() NewCountry {
	if d.HistoryDays <= 0 {
		d.HistoryDays = 90
	}
	if d.MinHistory <= 0 {
		d.MinHistory = 5
	}
	return d
}

// Detect implements Detector.
func (d NewCountry) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	ps, err := loadPeople(ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	hist := time.Duration(d.HistoryDays) * 24 * time.Hour
	rows, err := readVPN(ctx, q, ps, t.ID, w.From.Add(-hist), w.To, []string{"vpn_connect", "login"})
	if err != nil {
		return nil, err
	}
	groups, keys := byPerson(rows, func(r vpnRow) bool { return isVPNSignIn(r) && r.Country != "" && publicIP(r.ClientIP) })
	var alerts []store.AlertRow
	for _, k := range keys {
		evs := groups[k]
		lo := 0 // first event inside the history span of evs[i]
		for i, e := range evs {
			if e.Time.Before(w.From) {
				continue
			}
			for lo < i && e.Time.Sub(evs[lo].Time) > hist {
				lo++
			}
			seen := map[string]int{}
			for _, h := range evs[lo:i] {
				seen[h.Country]++
			}
			if i-lo < d.MinHistory || seen[e.Country] > 0 {
				continue
			}
			alerts = append(alerts, d.alert(t, e, seen, i-lo))
		}
	}
	return alerts, nil
}

func (d NewCountry) alert(t Tenant, e vpnRow, seen map[string]int, n int) store.AlertRow {
	usual := make([]string, 0, len(seen))
	for c := range seen {
		usual = append(usual, c)
	}
	sort.Slice(usual, func(i, j int) bool {
		if seen[usual[i]] != seen[usual[j]] {
			return seen[usual[i]] > seen[usual[j]]
		}
		return usual[i] < usual[j]
	})
	for i, c := range usual {
		usual[i] = fmt.Sprintf("%s (%d)", c, seen[c])
	}
	day := e.Time.In(t.Location).Format("2006-01-02")
	reason := fmt.Sprintf("%s connected to the VPN from %s (%s) at %s, a country they have not connected from in the previous %d days; their %d earlier connections came from %s.",
		e.who, e.place(), e.ClientIP, e.Time.In(t.Location).Format("Mon 2 Jan 2006 15:04 MST"), d.HistoryDays, n, strings.Join(usual, ", "))
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), e.who.key, e.Country, day), Rule: d.Rule(),
		Severity: SeverityMedium, Score: 55, ActorID: e.who.key, ActorName: e.who.name, ActorRole: e.who.role,
		FirstSeen: e.Time.UTC(), LastSeen: e.Time.UTC(), Reason: reason,
		EvidenceEventIDs: []string{e.EventID}, EvidenceCount: 1,
		Explanations: []string{
			fmt.Sprintf("history: %d located VPN sign-ins in the previous %d days (at least %d needed)", n, d.HistoryDays, d.MinHistory),
			"countries are GeoIP lookups of public addresses; travel, a new home ISP or a proxy can explain this",
		},
	}
}

// BruteForce flags repeated failed VPN sign-ins. Per account: Failures
// within FailWindow are guessing; a success within SuccessWindow after them
// means a guess may have worked (critical), none means it was tried
// (medium). Per source address: failures for SprayAccounts or more distinct
// accounts within SprayWindow are password spraying (high).
type BruteForce struct {
	Failures      int           // default 10
	FailWindow    time.Duration // default 15m
	SuccessWindow time.Duration // default 1h
	SprayAccounts int           // default 20
	SprayWindow   time.Duration // default 1h
}

// Rule implements Detector.
func (BruteForce) Rule() string { return "vpn_brute_force" }

func (d BruteForce) withDefaults() BruteForce {
	if d.Failures <= 0 {
		d.Failures = 10
	}
	if d.FailWindow <= 0 {
		d.FailWindow = 15 * time.Minute
	}
	if d.SuccessWindow <= 0 {
		d.SuccessWindow = time.Hour
	}
	if d.SprayAccounts <= 0 {
		d.SprayAccounts = 20
	}
	if d.SprayWindow <= 0 {
		d.SprayWindow = time.Hour
	}
	return d
}

// Detect implements Detector.
func (d BruteForce) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	ps, err := loadPeople(ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	lead := max(d.FailWindow, d.SprayWindow)
	// Read past the window's end so a success that follows a burst at its
	// end is seen; bursts are only reported when they start in the window.
	rows, err := readVPN(ctx, q, ps, t.ID, w.From.Add(-lead), w.To.Add(d.SuccessWindow), []string{"login_failed", "login", "vpn_connect"})
	if err != nil {
		return nil, err
	}
	fails := map[string][]vpnRow{}
	succ := map[string][]vpnRow{}
	byIP := map[string][]vpnRow{}
	for _, r := range rows {
		switch {
		case r.Action == "login_failed":
			fails[r.ActorID] = append(fails[r.ActorID], r)
			if r.ClientIP != "" {
				byIP[r.ClientIP] = append(byIP[r.ClientIP], r)
			}
		case isVPNSignIn(r):
			succ[r.ActorID] = append(succ[r.ActorID], r)
		}
	}
	var alerts []store.AlertRow
	for _, acct := range sortedKeysOf(fails) {
		for _, burst := range clusters(fails[acct], d.FailWindow) {
			if burst[0].Time.Before(w.From) || !burst[0].Time.Before(w.To) || maxInSpan(burst, d.FailWindow, nil) < d.Failures {
				continue
			}
			last := burst[len(burst)-1].Time
			var ok *vpnRow
			for _, s := range succ[acct] {
				if s.Time.After(burst[0].Time) && !s.Time.After(last.Add(d.SuccessWindow)) {
					ok = &s
					break
				}
			}
			alerts = append(alerts, d.accountAlert(t, burst, ok))
		}
	}
	for _, ip := range sortedKeysOf(byIP) {
		for _, burst := range clusters(byIP[ip], d.SprayWindow) {
			if burst[0].Time.Before(w.From) || !burst[0].Time.Before(w.To) {
				continue
			}
			if maxInSpan(burst, d.SprayWindow, func(r vpnRow) string { return r.ActorID }) < d.SprayAccounts {
				continue
			}
			alerts = append(alerts, d.sprayAlert(t, ip, burst))
		}
	}
	return alerts, nil
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// clusters splits time-ordered rows where the gap between neighbours
// exceeds gap: one cluster is one attack as a reviewer would see it.
func clusters(rows []vpnRow, gap time.Duration) [][]vpnRow {
	var out [][]vpnRow
	start := 0
	for i := 1; i <= len(rows); i++ {
		if i == len(rows) || rows[i].Time.Sub(rows[i-1].Time) > gap {
			out = append(out, rows[start:i])
			start = i
		}
	}
	return out
}

// maxInSpan is the most rows (or, with distinct, distinct keys) inside any
// span of the given length.
func maxInSpan(rows []vpnRow, span time.Duration, distinct func(vpnRow) string) int {
	best, lo := 0, 0
	counts := map[string]int{}
	for hi, r := range rows {
		if distinct != nil {
			counts[distinct(r)]++
		}
		for r.Time.Sub(rows[lo].Time) > span {
			if distinct != nil {
				k := distinct(rows[lo])
				if counts[k]--; counts[k] == 0 {
					delete(counts, k)
				}
			}
			lo++
		}
		n := hi - lo + 1
		if distinct != nil {
			n = len(counts)
		}
		best = max(best, n)
	}
	return best
}

func (d BruteForce) accountAlert(t Tenant, burst []vpnRow, ok *vpnRow) store.AlertRow {
	first, last := burst[0], burst[len(burst)-1]
	who := first.who
	ips := map[string]bool{}
	var eids []string
	for _, r := range burst {
		if r.ClientIP != "" {
			ips[r.ClientIP] = true
		}
		if len(eids) < maxEvidence-1 {
			eids = append(eids, r.EventID)
		}
	}
	loc := t.Location
	from := ""
	if len(ips) > 0 {
		from = " from " + strings.Join(sortedKeys(ips), ", ")
	}
	reason := fmt.Sprintf("%s failed to sign in %d times between %s and %s%s",
		capitalize(who.account("VPN", first.ActorID)), len(burst), first.Time.In(loc).Format("Mon 2 Jan 2006 15:04"), last.Time.In(loc).Format("15:04 MST"), from)
	sev, score, seen := SeverityMedium, float32(55), last.Time
	if ok != nil {
		sev, score, seen = SeverityCritical, 95, ok.Time
		eids = append(eids, ok.EventID)
		reason += fmt.Sprintf(", then signed in successfully at %s from %s (%s): the password may have been guessed.",
			ok.Time.In(loc).Format("15:04"), ok.ClientIP, ok.place())
	} else {
		reason += fmt.Sprintf(", and did not sign in within %s after: someone may be guessing the password.", humanDur(d.SuccessWindow))
	}
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), "account", first.ActorID, first.EventID), Rule: d.Rule(),
		Severity: sev, Score: score, ActorID: who.key, ActorName: who.name, ActorRole: who.role,
		FirstSeen: first.Time.UTC(), LastSeen: seen.UTC(), Reason: reason,
		EvidenceEventIDs: eids, EvidenceCount: uint32(len(burst) + map[bool]int{true: 1}[ok != nil]),
		Explanations: []string{
			fmt.Sprintf("threshold: %d failures within %s; a success within %s after makes it critical", d.Failures, humanDur(d.FailWindow), humanDur(d.SuccessWindow)),
			"a saved old password on a device retries the same way: check with the person",
		},
	}
}

func (d BruteForce) sprayAlert(t Tenant, ip string, burst []vpnRow) store.AlertRow {
	first, last := burst[0], burst[len(burst)-1]
	accts := map[string]bool{}
	var eids []string
	for _, r := range burst {
		accts[r.ActorID] = true
		if len(eids) < maxEvidence {
			eids = append(eids, r.EventID)
		}
	}
	names := sortedKeys(accts)
	shown := names
	if len(shown) > 10 {
		shown = append(shown[:10:10], fmt.Sprintf("and %d more", len(names)-10))
	}
	loc := t.Location
	reason := fmt.Sprintf("%d failed VPN sign-ins for %d different accounts came from %s (%s) between %s and %s: password spraying. Accounts: %s.",
		len(burst), len(names), ip, first.place(), first.Time.In(loc).Format("Mon 2 Jan 2006 15:04"), last.Time.In(loc).Format("15:04 MST"), strings.Join(shown, ", "))
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), "spray", ip, first.EventID), Rule: d.Rule(),
		Severity: SeverityHigh, Score: 80, ActorID: ip, ActorName: "address " + ip,
		FirstSeen: first.Time.UTC(), LastSeen: last.Time.UTC(), Reason: reason,
		EvidenceEventIDs: eids, EvidenceCount: uint32(len(burst)),
		Explanations: []string{
			fmt.Sprintf("threshold: %d distinct accounts failing from one address within %s", d.SprayAccounts, humanDur(d.SprayWindow)),
			"a shared office address (NAT) with many people mistyping is rare at this rate",
		},
	}
}

// ConcurrentSessions flags a person holding two VPN sessions at once from
// places that cannot both be them: public addresses MinDistanceKm or more
// apart, or in different countries. A session is open from its connect to
// its disconnect (matched by session id, else by address), or for at most
// MaxSession when the disconnect never arrived.
type ConcurrentSessions struct {
	MinDistanceKm float64       // default 500
	MaxSession    time.Duration // default 24h
}

// Rule implements Detector.
func (ConcurrentSessions) Rule() string { return "vpn_concurrent_sessions" }

func (d ConcurrentSessions) withDefaults() ConcurrentSessions {
	if d.MinDistanceKm <= 0 {
		d.MinDistanceKm = 500
	}
	if d.MaxSession <= 0 {
		d.MaxSession = 24 * time.Hour
	}
	return d
}

// Detect implements Detector.
func (d ConcurrentSessions) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	ps, err := loadPeople(ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	rows, err := readVPN(ctx, q, ps, t.ID, w.From.Add(-d.MaxSession), w.To, []string{"vpn_connect", "vpn_disconnect"})
	if err != nil {
		return nil, err
	}
	groups, keys := byPerson(rows, func(r vpnRow) bool { return r.Outcome != "failure" })
	var alerts []store.AlertRow
	for _, k := range keys {
		var open []vpnRow
		for _, e := range groups[k] {
			// Sessions past their longest plausible length are over.
			live := open[:0]
			for _, o := range open {
				if e.Time.Sub(o.Time) <= d.MaxSession {
					live = append(live, o)
				}
			}
			open = live
			if e.Action == "vpn_disconnect" {
				open = closeSession(open, e)
				continue
			}
			if publicIP(e.ClientIP) {
				for _, o := range open {
					if why, ok := d.apart(o, e); ok && !e.Time.Before(w.From) {
						alerts = append(alerts, d.alert(t, o, e, why))
						break
					}
				}
			}
			open = append(open, e)
		}
	}
	return alerts, nil
}

// closeSession removes the session a disconnect ends: same session id when
// the source has them, else the same account and address, else nothing
// (an unmatched disconnect must not end another device's session).
func closeSession(open []vpnRow, e vpnRow) []vpnRow {
	for i, o := range open {
		if (e.SessionID != "" && o.SessionID == e.SessionID) ||
			(e.SessionID == "" && o.ActorID == e.ActorID && o.ClientIP == e.ClientIP) {
			return append(open[:i:i], open[i+1:]...)
		}
	}
	return open
}

// apart says why two sessions cannot be one person in one place.
func (d ConcurrentSessions) apart(a, b vpnRow) (string, bool) {
	if !publicIP(a.ClientIP) || a.ClientIP == b.ClientIP {
		return "", false
	}
	if a.located && b.located {
		if km := distanceKm(a.lat, a.lon, b.lat, b.lon); km >= d.MinDistanceKm {
			return fmt.Sprintf("%.0f km apart", km), true
		}
	}
	if a.Country != "" && b.Country != "" && a.Country != b.Country {
		return "in different countries", true
	}
	return "", false
}

func (d ConcurrentSessions) alert(t Tenant, a, b vpnRow, why string) store.AlertRow {
	loc := t.Location
	reason := fmt.Sprintf("%s had two VPN sessions open at once: one from %s (%s) since %s, and another from %s (%s) at %s, %s. One person cannot be in both places; the account may be shared or stolen.",
		b.who, a.place(), a.ClientIP, a.Time.In(loc).Format("Mon 2 Jan 2006 15:04"), b.place(), b.ClientIP,
		b.Time.In(loc).Format("Mon 2 Jan 2006 15:04 MST"), why)
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), b.who.key, a.EventID, b.EventID), Rule: d.Rule(),
		Severity: SeverityHigh, Score: 80, ActorID: b.who.key, ActorName: b.who.name, ActorRole: b.who.role,
		FirstSeen: a.Time.UTC(), LastSeen: b.Time.UTC(), Reason: reason,
		EvidenceEventIDs: []string{a.EventID, b.EventID}, EvidenceCount: 2,
		Explanations: []string{
			fmt.Sprintf("no disconnect of the first session was logged before the second began (sessions older than %s are taken as ended)", humanDur(d.MaxSession)),
			"accounts matched: " + accountsOf(a, b),
			fmt.Sprintf("places are GeoIP lookups; sessions under %.0f km apart in one country are not flagged", d.MinDistanceKm),
		},
	}
}
