package analyze

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// AfterHours flags patient-record access at hours a person does not usually
// work. Their own history is the baseline: an hour is usual when they were
// active in it (or the hour either side) on at least UsualShare of their
// other active days, and weekends are usual when they worked at least two
// other weekend days. The day being judged is left out of its own baseline,
// so one night of snooping cannot make itself look normal. People with fewer
// than MinHistoryDays active days are judged against the practice's hours.
type AfterHours struct {
	BaselineDays   int     // history before the window to learn from (default 60)
	MinHistoryDays int     // active days needed for a personal baseline (default 10)
	UsualShare     float64 // share of active days that makes an hour usual (default 0.1)
	MinPatients    int     // distinct patients needed for an alert (default 2)
}

// Rule implements Detector.
func (AfterHours) Rule() string { return "after_hours_access" }

func (d AfterHours) withDefaults() AfterHours {
	if d.BaselineDays <= 0 {
		d.BaselineDays = 60
	}
	if d.MinHistoryDays <= 0 {
		d.MinHistoryDays = 10
	}
	if d.UsualShare <= 0 {
		d.UsualShare = 0.1
	}
	if d.MinPatients <= 0 {
		d.MinPatients = 2
	}
	return d
}

type actorHourRow struct {
	ActorID   string `json:"actor_id"`
	ActorName string `json:"actor_name"`
	ActorRole string `json:"actor_role"`
	Day       string `json:"day"`
	Hour      int    `json:"hour"`
	N         uint64 `json:"n"`
}

type actorHistory struct {
	name, role string
	days       map[string][24]uint64 // local day → accesses per hour
}

// Detect implements Detector.
func (d AfterHours) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	tz := t.Location.String()
	var rows []actorHourRow
	err := q.Select(ctx, &rows, `
SELECT actor_id, any(actor_name) AS actor_name, any(actor_role) AS actor_role,
       toString(toDate(time, {tz:String})) AS day, toHour(time, {tz:String}) AS hour, count() AS n
FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND source_kind = 'ehr' AND patient_id != ''
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
GROUP BY actor_id, day, hour`, store.Params{
		"tz": tz, "tenant": t.ID,
		"from": chTime(w.From.AddDate(0, 0, -d.BaselineDays)), "to": chTime(w.To),
	})
	if err != nil {
		return nil, fmt.Errorf("read access hours: %w", err)
	}
	actors := map[string]*actorHistory{}
	for _, r := range rows {
		a := actors[r.ActorID]
		if a == nil {
			a = &actorHistory{name: r.ActorName, role: r.ActorRole, days: map[string][24]uint64{}}
			actors[r.ActorID] = a
		}
		h := a.days[r.Day]
		h[r.Hour%24] += r.N
		a.days[r.Day] = h
	}
	ids := make([]string, 0, len(actors))
	for id := range actors {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var alerts []store.AlertRow
	for _, id := range ids {
		a := actors[id]
		days := make([]string, 0, len(a.days))
		for day := range a.days {
			days = append(days, day)
		}
		sort.Strings(days)
		for _, day := range days {
			date, err := time.ParseInLocation("2006-01-02", day, t.Location)
			if err != nil {
				return nil, fmt.Errorf("day %q from the store: %w", day, err)
			}
			if date.Before(dayStart(w.From, t.Location)) || !date.Before(w.To) {
				continue // history only
			}
			b := d.baseline(a, day, t.Location)
			unusual := d.unusualHours(a.days[day], date, b, t.Hours)
			if len(unusual) == 0 {
				continue
			}
			alert, ok, err := d.alert(ctx, q, t, id, a, date, unusual, b)
			if err != nil {
				return nil, err
			}
			if ok {
				alerts = append(alerts, alert)
			}
		}
	}
	return alerts, nil
}

func dayStart(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}

// baseline is a person's usual pattern, learnt from their other days.
type baseline struct {
	personal     bool
	days         int      // other active days
	accesses     uint64   // accesses on them
	usualHour    [24]bool // hour (±1) worked on enough days
	weekendUsual bool
}

func (d AfterHours) baseline(a *actorHistory, exclude string, loc *time.Location) baseline {
	var b baseline
	var hourDays [24]int
	weekendDays := 0
	for day, hours := range a.days {
		if day == exclude {
			continue
		}
		b.days++
		for h, n := range hours {
			if n > 0 {
				hourDays[h]++
				b.accesses += n
			}
		}
		if dt, err := time.ParseInLocation("2006-01-02", day, loc); err == nil {
			if wd := dt.Weekday(); wd == time.Saturday || wd == time.Sunday {
				weekendDays++
			}
		}
	}
	if b.days < d.MinHistoryDays {
		return b
	}
	b.personal = true
	need := max(2, int(d.UsualShare*float64(b.days)+0.999))
	for h := range 24 {
		for _, n := range []int{(h + 23) % 24, h, (h + 1) % 24} {
			if hourDays[n] >= need {
				b.usualHour[h] = true
			}
		}
	}
	b.weekendUsual = weekendDays >= 2
	return b
}

func (d AfterHours) unusualHours(hours [24]uint64, date time.Time, b baseline, practice PracticeHours) []int {
	weekend := date.Weekday() == time.Saturday || date.Weekday() == time.Sunday
	var out []int
	for h, n := range hours {
		if n == 0 {
			continue
		}
		local := date.Add(time.Duration(h) * time.Hour)
		usual := practice.Contains(local)
		if b.personal {
			usual = b.usualHour[h] && (!weekend || b.weekendUsual)
		}
		if !usual {
			out = append(out, h)
		}
	}
	return out
}

func (d AfterHours) alert(ctx context.Context, q Querier, t Tenant, actor string, a *actorHistory, date time.Time, hours []int, b baseline) (store.AlertRow, bool, error) {
	var ev []struct {
		EventID   string    `json:"event_id"`
		PatientID string    `json:"patient_id"`
		Time      time.Time `json:"time"`
	}
	hs := make([]string, len(hours))
	for i, h := range hours {
		hs[i] = fmt.Sprint(h)
	}
	err := q.Select(ctx, &ev, `
SELECT event_id, patient_id, time FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND actor_id = {actor:String} AND source_kind = 'ehr' AND patient_id != ''
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
  AND toHour(time, {tz:String}) IN {hours:Array(UInt8)}
ORDER BY time, event_id`, store.Params{
		"tenant": t.ID, "actor": actor, "tz": t.Location.String(),
		"from": chTime(date), "to": chTime(date.AddDate(0, 0, 1)), "hours": "[" + strings.Join(hs, ",") + "]",
	})
	if err != nil {
		return store.AlertRow{}, false, fmt.Errorf("read after-hours evidence: %w", err)
	}
	patients := map[string]bool{}
	var pids, eids []string
	for _, e := range ev {
		if !patients[e.PatientID] {
			patients[e.PatientID] = true
			pids = append(pids, e.PatientID)
		}
		if len(eids) < 200 {
			eids = append(eids, e.EventID)
		}
	}
	if len(patients) < d.MinPatients || len(ev) == 0 {
		return store.AlertRow{}, false, nil
	}
	first, last := ev[0].Time, ev[len(ev)-1].Time
	sev, score := SeverityLow, float32(30)
	switch n := len(patients); {
	case n >= 20:
		sev, score = SeverityHigh, 80
	case n >= 5:
		sev, score = SeverityMedium, 55
	}
	loc := t.Location
	reason := fmt.Sprintf("%s opened %s between %s and %s on %s (%s); %s.",
		displayName(actor, a.name, a.role), plural(len(patients), "patient's record", "patients' records"),
		first.In(loc).Format("15:04"), last.In(loc).Format("15:04"), date.Format("Mon 2 Jan 2006"), loc,
		b.describe(t.Hours))
	explanations := []string{"no clinical-relationship explanations are loaded yet (schedule feed)"}
	if b.personal {
		explanations = append([]string{fmt.Sprintf("own working pattern: %d other active days, %d accesses", b.days, b.accesses)}, explanations...)
	} else {
		explanations = append([]string{fmt.Sprintf("practice hours %s (only %d other active days of history)", t.Hours, b.days)}, explanations...)
	}
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), actor, date.Format("2006-01-02")), Rule: d.Rule(),
		Severity: sev, Score: score, ActorID: actor, ActorName: a.name, ActorRole: a.role,
		PatientIDs: pids, FirstSeen: first.UTC(), LastSeen: last.UTC(), Reason: reason,
		EvidenceEventIDs: eids, EvidenceCount: uint32(len(ev)), Explanations: explanations,
	}, true, nil
}

// describe says what was usual, for the reason text.
func (b baseline) describe(practice PracticeHours) string {
	if !b.personal {
		return fmt.Sprintf("outside practice hours %s; too little history (%d other active days) for a personal pattern", practice, b.days)
	}
	var ranges []string
	for h := 0; h < 24; {
		if !b.usualHour[h] {
			h++
			continue
		}
		start := h
		for h < 24 && b.usualHour[h] {
			h++
		}
		ranges = append(ranges, fmt.Sprintf("%02d:00-%02d:00", start, h))
	}
	when := "weekdays"
	if b.weekendUsual {
		when = "any day"
	}
	hours := strings.Join(ranges, ", ")
	if hours == "" {
		hours = "no regular hours"
	}
	return fmt.Sprintf("their usual hours are %s, %s (from %d accesses on %d other days)", hours, when, b.accesses, b.days)
}
