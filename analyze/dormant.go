package analyze

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// DormantReuse flags an account that comes back after a long silence: it is
// active in the window, and its previous activity, from any source, was
// MinGapDays or more before (looking back LookbackDays). Forgotten accounts
// are what attackers and departed staff use. It is high when the first day
// back opens patient records or signs in to the VPN from a country the
// account has not used before. Accounts with no earlier activity at all are
// new, not dormant, and raise nothing here.
type DormantReuse struct {
	MinGapDays   int // default 90
	LookbackDays int // default 400
}

// Rule implements Detector.
func (DormantReuse) Rule() string { return "dormant_account_reuse" }

func (d DormantReuse) withDefaults() DormantReuse {
	if d.MinGapDays <= 0 {
		d.MinGapDays = 90
	}
	if d.LookbackDays <= d.MinGapDays {
		d.LookbackDays = max(400, d.MinGapDays+1)
	}
	return d
}

// Detect implements Detector.
func (d DormantReuse) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	db := q.Database()
	tz := t.Location.String()
	from := w.From.AddDate(0, 0, -d.LookbackDays)
	// Active days per account: small (accounts × days) whatever the event
	// volume, and it finds a gap anywhere in the window, not only at its
	// start. Only accounts active in the window are read.
	var days []struct {
		ActorID string   `json:"actor_id"`
		Days    []string `json:"days"`
	}
	err := q.Select(ctx, &days, `
SELECT actor_id, arraySort(groupUniqArray(toString(toDate(time, {tz:String})))) AS days
FROM `+db+`.events
WHERE tenant_id = {tenant:String} AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
  AND actor_id IN (
    SELECT DISTINCT actor_id FROM `+db+`.events
    WHERE tenant_id = {tenant:String} AND time >= {wfrom:DateTime64(3)} AND time < {to:DateTime64(3)} AND actor_id != '')
GROUP BY actor_id
ORDER BY actor_id`, store.Params{"tenant": t.ID, "tz": tz, "from": chTime(from), "wfrom": chTime(w.From), "to": chTime(w.To)})
	if err != nil {
		return nil, fmt.Errorf("read active days per account: %w", err)
	}
	type comeback struct {
		actor, prev, day string
		gap              int
	}
	var backs []comeback
	windowDay := dayStart(w.From, t.Location).Format("2006-01-02")
	for _, a := range days {
		for i := 1; i < len(a.Days); i++ {
			if a.Days[i] < windowDay {
				continue
			}
			prev, err1 := time.Parse("2006-01-02", a.Days[i-1])
			cur, err2 := time.Parse("2006-01-02", a.Days[i])
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("active days of %s from the store: %q, %q", a.ActorID, a.Days[i-1], a.Days[i])
			}
			if gap := int(cur.Sub(prev).Hours() / 24); gap >= d.MinGapDays {
				backs = append(backs, comeback{a.ActorID, a.Days[i-1], a.Days[i], gap})
			}
		}
	}
	if len(backs) == 0 {
		return nil, nil
	}
	ps, err := loadPeople(ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	alerts := make([]store.AlertRow, 0, len(backs))
	for _, b := range backs {
		a, err := d.alert(ctx, q, t, ps, b.actor, b.prev, b.day, b.gap, from)
		if err != nil {
			return nil, err
		}
		alerts = append(alerts, a)
	}
	return alerts, nil
}

type dormantEvent struct {
	EventID    string    `json:"event_id"`
	Time       time.Time `json:"time"`
	ActorName  string    `json:"actor_name"`
	ActorRole  string    `json:"actor_role"`
	SourceKind string    `json:"source_kind"`
	Action     string    `json:"action"`
	Outcome    string    `json:"outcome"`
	PatientID  string    `json:"patient_id"`
	ClientIP   string    `json:"client_ip"`
	Country    string    `json:"country"`
}

func (d DormantReuse) alert(ctx context.Context, q Querier, t Tenant, ps people, actor, prevDay, day string, gap int, lookFrom time.Time) (store.AlertRow, error) {
	date, err := time.ParseInLocation("2006-01-02", day, t.Location)
	if err != nil {
		return store.AlertRow{}, fmt.Errorf("day %q: %w", day, err)
	}
	var evs []dormantEvent
	err = q.Select(ctx, &evs, `
SELECT event_id, time, actor_name, toString(actor_role) AS actor_role, toString(source_kind) AS source_kind,
       toString(action) AS action, toString(outcome) AS outcome, patient_id, client_ip, attrs['geo_country'] AS country
FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)} AND actor_id = {actor:String}
ORDER BY time, event_id`, store.Params{"tenant": t.ID, "actor": actor, "from": chTime(date), "to": chTime(date.AddDate(0, 0, 1))})
	if err != nil {
		return store.AlertRow{}, fmt.Errorf("read the day %s of %s: %w", day, actor, err)
	}
	if len(evs) == 0 {
		// Days come from the same table; this only happens if events
		// expired between the two reads.
		return store.AlertRow{}, fmt.Errorf("no events of %s on %s on the second read", actor, day)
	}
	// Countries the account signed in to the VPN from before the gap.
	var known []struct {
		Country string `json:"country"`
	}
	err = q.Select(ctx, &known, `
SELECT DISTINCT attrs['geo_country'] AS country
FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND source_kind = 'vpn' AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
  AND actor_id = {actor:String} AND attrs['geo_country'] != ''`, store.Params{"tenant": t.ID, "actor": actor, "from": chTime(lookFrom), "to": chTime(date)})
	if err != nil {
		return store.AlertRow{}, fmt.Errorf("read earlier VPN countries of %s: %w", actor, err)
	}
	knownC := map[string]bool{}
	for _, k := range known {
		knownC[k.Country] = true
	}
	who := ps.of(actor, evs[0].ActorName, evs[0].ActorRole)
	patients := map[string]bool{}
	var pids, eids, newCountries []string
	counts := map[string]int{}
	for _, e := range evs {
		if len(eids) < maxEvidence {
			eids = append(eids, e.EventID)
		}
		if e.PatientID != "" && !patients[e.PatientID] {
			patients[e.PatientID] = true
			pids = append(pids, e.PatientID)
		}
		if e.SourceKind == "vpn" && e.Outcome == "success" && (e.Action == "vpn_connect" || e.Action == "login") &&
			e.Country != "" && !knownC[e.Country] && !contains(newCountries, e.Country) {
			newCountries = append(newCountries, e.Country)
		}
		counts[describeActivity(terminatedRow{SourceKind: e.SourceKind, Action: e.Action, PatientID: e.PatientID})]++
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
	prev, _ := time.Parse("2006-01-02", prevDay)
	sev, score := SeverityMedium, float32(55)
	var why []string
	if len(patients) > 0 {
		why = append(why, "it opened patient records ("+plural(len(patients), "patient", "patients")+")")
	}
	if len(newCountries) > 0 {
		why = append(why, "it signed in to the VPN from "+strings.Join(newCountries, ", ")+", a country it had not used before")
	}
	if len(why) > 0 {
		sev, score = SeverityHigh, 75
	}
	reason := fmt.Sprintf("%s was used on %s after %d days without any activity (last used %s): %s.",
		capitalize(who.account("", actor)), date.Format("Mon 2 Jan 2006"), gap, prev.Format("2 Jan 2006"), strings.Join(what, ", "))
	if len(why) > 0 {
		reason += " On its first day back " + strings.Join(why, " and ") + "."
	}
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), actor, day), Rule: d.Rule(),
		Severity: sev, Score: score, ActorID: who.key, ActorName: who.name, ActorRole: who.role,
		PatientIDs: pids, FirstSeen: evs[0].Time.UTC(), LastSeen: evs[len(evs)-1].Time.UTC(), Reason: reason,
		EvidenceEventIDs: eids, EvidenceCount: uint32(len(evs)),
		Explanations: []string{
			fmt.Sprintf("activity from every source (EHR, email, VPN) over the previous %d days was checked; a gap of %d days or more counts", d.LookbackDays, d.MinGapDays),
			"leave, sabbaticals and seasonal staff explain some returns: check the roster",
			"an account with no earlier activity at all is new, not dormant, and is not flagged",
		},
	}, nil
}
