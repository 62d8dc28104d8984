package analyze

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/identity"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Terminated flags any activity, from any source, by an account of someone
// whose roster termination date has passed: the day after termination and
// later. Which person an account belongs to is identity resolution's call
// (internal/identity: roster user_id, email, per-system user names and
// aliases, account inventories, FHIR practitioners, then the documented
// heuristics), so this detector sees the same links as every other.
// Ambiguous accounts are not guessed: they raise nothing here and are listed
// by phiwatch reference unlinked. One alert per person and day.
type Terminated struct{}

// Rule implements Detector.
func (Terminated) Rule() string { return "terminated_user_activity" }

type terminatedRow struct {
	UserID     string    `json:"-"`
	Name       string    `json:"-"`
	Role       string    `json:"-"`
	Terminated string    `json:"-"`
	Method     string    `json:"-"`
	Day        string    `json:"day"`
	EventID    string    `json:"event_id"`
	Time       time.Time `json:"time"`
	ActorID    string    `json:"actor_id"`
	SourceKind string    `json:"source_kind"`
	Action     string    `json:"action"`
	Outcome    string    `json:"outcome"`
	PatientID  string    `json:"patient_id"`
	ClientIP   string    `json:"client_ip"`
}

// Detect implements Detector.
func (d Terminated) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	idx, err := identity.NewResolver(q).Load(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("load identities: %w", err)
	}
	db := q.Database()
	var actors []struct {
		ActorID string `json:"actor_id"`
	}
	err = q.Select(ctx, &actors, `
SELECT DISTINCT actor_id FROM `+db+`.events
WHERE tenant_id = {tenant:String} AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)} AND actor_id != ''`,
		store.Params{"tenant": t.ID, "from": chTime(w.From), "to": chTime(w.To)})
	if err != nil {
		return nil, fmt.Errorf("list the window's actors: %w", err)
	}
	// Only the accounts of people with a termination date are read back;
	// judgeActivity decides on their events.
	var ids []string
	for _, a := range actors {
		l := idx.Resolve(a.ActorID)
		if p, ok := idx.Person(l.UserID); ok && l.Linked() && p.TerminationDate != "" {
			ids = append(ids, a.ActorID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	sort.Strings(ids)
	var evs []terminatedRow
	err = q.Select(ctx, &evs, `
SELECT toString(toDate(e.time, {tz:String})) AS day,
       e.event_id AS event_id, e.time AS time, e.actor_id AS actor_id, toString(e.source_kind) AS source_kind,
       toString(e.action) AS action, toString(e.outcome) AS outcome, e.patient_id AS patient_id, e.client_ip AS client_ip
FROM `+db+`.events AS e
WHERE e.tenant_id = {tenant:String}
  AND e.time >= {from:DateTime64(3)} AND e.time < {to:DateTime64(3)}
  AND e.actor_id IN {actors:Array(String)}
ORDER BY time, event_id`, store.Params{
		"tenant": t.ID, "tz": t.Location.String(), "from": chTime(w.From), "to": chTime(w.To), "actors": chStrings(ids),
	})
	if err != nil {
		return nil, fmt.Errorf("match activity against terminations: %w", err)
	}
	return d.judgeActivity(t, idx, evs), nil
}

// judgeActivity is the rule's decision over events in time order, each with its
// local day: activity of an account linked to someone after their
// termination day, one alert per person and day. The batch run and the
// stream both call it.
func (d Terminated) judgeActivity(t Tenant, idx *identity.Index, evs []terminatedRow) []store.AlertRow {
	var rows []terminatedRow
	for _, e := range evs {
		l := idx.Resolve(e.ActorID)
		p, ok := idx.Person(l.UserID)
		// Activity on the termination day itself is expected (the last
		// shift); from the next local day on it is not. Dates compare as
		// YYYY-MM-DD strings.
		if !ok || !l.Linked() || p.TerminationDate == "" || e.Day <= p.TerminationDate {
			continue
		}
		e.UserID, e.Name, e.Role, e.Terminated, e.Method = p.UserID, p.Name, p.Role, p.TerminationDate, string(l.Method)
		rows = append(rows, e)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].UserID < rows[j].UserID })
	type key struct{ user, day string }
	groups := map[key][]terminatedRow{}
	var keys []key
	for _, r := range rows {
		k := key{r.UserID, r.Day}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].user != keys[j].user {
			return keys[i].user < keys[j].user
		}
		return keys[i].day < keys[j].day
	})
	alerts := make([]store.AlertRow, 0, len(keys))
	for _, k := range keys {
		alerts = append(alerts, d.alert(t, groups[k]))
	}
	return alerts
}

// chStrings renders a ClickHouse Array(String) parameter value.
func chStrings(ss []string) string {
	q := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = "'" + q.Replace(s) + "'"
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func (d Terminated) alert(t Tenant, evs []terminatedRow) store.AlertRow {
	first := evs[0]
	termDate, _ := time.Parse("2006-01-02", first.Terminated)
	day, _ := time.Parse("2006-01-02", first.Day)
	daysAfter := int(day.Sub(termDate).Hours() / 24)

	var eids, pids []string
	patients := map[string]bool{}
	accounts := map[string]string{} // actor id → how it was linked
	ips := map[string]bool{}
	counts := map[string]int{}
	severity, score := SeverityHigh, float32(75)
	for _, e := range evs {
		if len(eids) < 200 {
			eids = append(eids, e.EventID)
		}
		accounts[e.ActorID] = strings.ReplaceAll(e.Method, "_", " ")
		if e.ClientIP != "" {
			ips[e.ClientIP] = true
		}
		if e.PatientID != "" && !patients[e.PatientID] {
			patients[e.PatientID] = true
			pids = append(pids, e.PatientID)
		}
		counts[describeActivity(e)]++ // "" counts the unnamed ones
		if e.Outcome != "failure" && (e.PatientID != "" || e.SourceKind == "vpn" || e.Action == "login") {
			severity, score = SeverityCritical, 95
		}
	}
	var what []string
	for k, n := range counts {
		if k != "" {
			what = append(what, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	sort.Strings(what)
	if n := counts[""]; n > 0 {
		what = append(what, plural(n, "other event", "other events"))
	}
	from := ""
	if len(ips) > 0 {
		from = " from " + strings.Join(sortedKeys(ips), ", ")
	}
	reason := fmt.Sprintf("%s left on %s, but %s used %s after that, on %s: %s%s.",
		displayName(first.UserID, first.Name, first.Role), termDate.Format("2 Jan 2006"),
		map[bool]string{true: "their account was", false: "their accounts were"}[len(accounts) == 1],
		plural(daysAfter, "day", "days"), day.Format("Mon 2 Jan 2006"), strings.Join(what, ", "), from)
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), first.UserID, first.Day), Rule: d.Rule(),
		Severity: severity, Score: score, ActorID: first.UserID, ActorName: first.Name, ActorRole: first.Role,
		PatientIDs: pids, FirstSeen: evs[0].Time.UTC(), LastSeen: evs[len(evs)-1].Time.UTC(), Reason: reason,
		EvidenceEventIDs: eids, EvidenceCount: uint32(len(evs)),
		Explanations: []string{
			fmt.Sprintf("roster: terminated %s", first.Terminated),
			"accounts matched: " + matchedAccounts(accounts),
		},
	}
}

// matchedAccounts lists the accounts with how each was linked:
// "JLEE-VPN (roster alias), jlee (roster user id)".
func matchedAccounts(m map[string]string) string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for i, id := range ids {
		ids[i] = id + " (" + m[id] + ")"
	}
	return strings.Join(ids, ", ")
}

// describeActivity names an event for the reason text; "" for events that
// only count (address assignments, attribute updates).
func describeActivity(e terminatedRow) string {
	labels := map[string]string{
		"vpn/vpn_connect": "VPN session start", "vpn/vpn_disconnect": "VPN session end",
		"vpn/login": "VPN sign-in", "vpn/login_failed": "failed VPN sign-in",
		"email/login": "Microsoft 365 sign-in", "email/login_failed": "failed Microsoft 365 sign-in",
		"email/mailbox_access": "mailbox access", "email/send": "email sent", "email/rule_change": "mailbox rule change",
		"ehr/login": "EHR sign-in", "ehr/login_failed": "failed EHR sign-in", "ehr/search": "patient search",
	}
	switch {
	case e.PatientID != "":
		return "patient-record " + e.Action
	case e.Action == "other":
		return ""
	}
	if l, ok := labels[e.SourceKind+"/"+e.Action]; ok {
		return l
	}
	return e.SourceKind + " " + strings.ReplaceAll(e.Action, "_", " ")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
