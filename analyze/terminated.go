package analyze

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Terminated flags any activity, from any source, by an account of someone
// whose roster termination date has passed: the day after termination and
// later. Accounts are matched by the roster's user_id, email and aliases,
// case-insensitively. One alert per person and day.
type Terminated struct{}

// Rule implements Detector.
func (Terminated) Rule() string { return "terminated_user_activity" }

type terminatedRow struct {
	UserID     string    `json:"user_id"`
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	Terminated string    `json:"termination_date"`
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
	db := q.Database()
	var rows []terminatedRow
	err := q.Select(ctx, &rows, `
WITH ids AS (
    SELECT user_id, name, role, termination_date,
           arrayJoin(arrayDistinct(arrayMap(x -> lower(x), arrayFilter(x -> x != '', arrayConcat([user_id, email], aliases))))) AS ident
    FROM `+db+`.workforce_current
    WHERE tenant_id = {tenant:String} AND termination_date IS NOT NULL
)
SELECT ids.user_id AS user_id, ids.name AS name, ids.role AS role,
       toString(ids.termination_date) AS termination_date,
       toString(toDate(e.time, {tz:String})) AS day,
       e.event_id AS event_id, e.time AS time, e.actor_id AS actor_id, toString(e.source_kind) AS source_kind,
       toString(e.action) AS action, toString(e.outcome) AS outcome, e.patient_id AS patient_id, e.client_ip AS client_ip
FROM `+db+`.events AS e
INNER JOIN ids ON lower(e.actor_id) = ids.ident
WHERE e.tenant_id = {tenant:String}
  AND e.time >= {from:DateTime64(3)} AND e.time < {to:DateTime64(3)}
  AND toDate(e.time, {tz:String}) > assumeNotNull(ids.termination_date)
ORDER BY user_id, time, event_id`, store.Params{
		"tenant": t.ID, "tz": t.Location.String(), "from": chTime(w.From), "to": chTime(w.To),
	})
	if err != nil {
		return nil, fmt.Errorf("match activity against terminations: %w", err)
	}
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
	return alerts, nil
}

func (d Terminated) alert(t Tenant, evs []terminatedRow) store.AlertRow {
	first := evs[0]
	termDate, _ := time.Parse("2006-01-02", first.Terminated)
	day, _ := time.Parse("2006-01-02", first.Day)
	daysAfter := int(day.Sub(termDate).Hours() / 24)

	var eids, pids []string
	patients := map[string]bool{}
	accounts := map[string]bool{}
	ips := map[string]bool{}
	counts := map[string]int{}
	severity, score := SeverityHigh, float32(75)
	for _, e := range evs {
		if len(eids) < 200 {
			eids = append(eids, e.EventID)
		}
		accounts[e.ActorID] = true
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
			"accounts matched: " + strings.Join(sortedKeys(accounts), ", "),
		},
	}
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
