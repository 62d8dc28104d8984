package analyze

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Robust statistics: the median and the median absolute deviation (MAD)
// are not dragged up by the one wild day being judged, as a mean and a
// standard deviation are. The modified z-score (Iglewicz and Hoaglin)
// 0.6745 × (x − median) / MAD is comparable to a z-score; 3.5 is their
// suggested cut-off for an outlier.

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// mad is the median absolute deviation from med.
func mad(xs []float64, med float64) float64 {
	dev := make([]float64, len(xs))
	for i, x := range xs {
		dev[i] = math.Abs(x - med)
	}
	return median(dev)
}

// robust is a distribution summarised by its median and MAD.
type robust struct {
	n        int // values it was computed from
	med, mad float64
}

func summarize(xs []float64) robust {
	m := median(xs)
	return robust{n: len(xs), med: m, mad: mad(xs, m)}
}

// z is the modified z-score of x. The MAD is floored at 1 (one patient):
// a person who opens exactly 12 charts every day has a MAD of 0, and 13
// must not be an infinite outlier.
func (r robust) z(x float64) float64 { return 0.6745 * (x - r.med) / math.Max(r.mad, 1) }

// outlier tells whether x is far above r: a modified z-score of at least z
// and at least ratio times the median.
func (r robust) outlier(x, z, ratio float64) bool {
	return r.z(x) >= z && x >= ratio*math.Max(r.med, 1)
}

// dailyRow is one person's EHR activity on one local day, aggregated in
// ClickHouse.
type dailyRow struct {
	ActorID   string `json:"actor_id"`
	ActorName string `json:"actor_name"`
	ActorRole string `json:"actor_role"`
	Day       string `json:"day"`
	Patients  uint64 `json:"patients"` // distinct patients whose records they opened
	Bulk      uint64 `json:"bulk"`     // distinct patients printed or exported, plus further patients of multi-patient exports and queries
	Exports   uint64 `json:"exports"`  // print and export events
}

// bulkActions are the actions that take records out of the EHR.
const bulkActions = "('print', 'export')"

// readDaily aggregates each actor's EHR activity per local day over
// [from, to) in ClickHouse: the baseline the volume rules judge against.
func readDaily(ctx context.Context, q Querier, t Tenant, from, to time.Time) ([]dailyRow, error) {
	var rows []dailyRow
	err := q.Select(ctx, &rows, `
SELECT actor_id, any(actor_name) AS actor_name, toString(any(actor_role)) AS actor_role,
       toString(toDate(time, {tz:String})) AS day,
       uniqExactIf(patient_id, patient_id != '') AS patients,
       uniqExactIf(patient_id, patient_id != '' AND action IN `+bulkActions+`)
         + sumIf(toUInt64OrZero(attrs['patient_count']) - if(patient_id != '', 1, 0),
                 action IN ('print', 'export', 'query') AND toUInt64OrZero(attrs['patient_count']) > 1) AS bulk,
       countIf(action IN `+bulkActions+`) AS exports
FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND source_kind = 'ehr' AND actor_id != ''
  AND (patient_id != '' OR action IN ('print', 'export', 'query'))
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
GROUP BY actor_id, day
ORDER BY actor_id, day`, store.Params{"tenant": t.ID, "tz": t.Location.String(), "from": chTime(from), "to": chTime(to)})
	if err != nil {
		return nil, fmt.Errorf("read daily EHR activity: %w", err)
	}
	return rows, nil
}

// personDays is one person's daily activity, their raw accounts merged by
// identity resolution.
type personDays struct {
	who    person
	role   string // normalized; the peer group
	actors []string
	days   map[string]dailyRow // local day → counts (summed over accounts)
}

// byPersonDay merges daily rows of one person's accounts.
func byPersonDay(rows []dailyRow, ps people) (map[string]*personDays, []string) {
	out := map[string]*personDays{}
	var keys []string
	for _, r := range rows {
		who := ps.of(r.ActorID, r.ActorName, r.ActorRole)
		p := out[who.key]
		if p == nil {
			p = &personDays{who: who, role: normRole(who.role), days: map[string]dailyRow{}}
			out[who.key] = p
			keys = append(keys, who.key)
		}
		if !contains(p.actors, r.ActorID) {
			p.actors = append(p.actors, r.ActorID)
		}
		d := p.days[r.Day]
		d.Day = r.Day
		d.Patients += r.Patients
		d.Bulk += r.Bulk
		d.Exports += r.Exports
		p.days[r.Day] = d
	}
	sort.Strings(keys)
	return out, keys
}

// sortedDays lists a person's days in order.
func (p *personDays) sortedDays() []string { return sortedKeysOf(p.days) }

// others are the values of metric on every day but exclude.
func (p *personDays) others(exclude string, metric func(dailyRow) uint64) []float64 {
	var xs []float64
	for day, d := range p.days {
		if day != exclude {
			xs = append(xs, float64(metric(d)))
		}
	}
	return xs
}

// inWindow tells whether a local day lies in w.
func inWindow(day string, t Tenant, w Window) (time.Time, bool) {
	date, err := time.ParseInLocation(time.DateOnly, day, t.Location)
	if err != nil {
		return date, false
	}
	return date, !date.Before(dayStart(w.From, t.Location)) && date.Before(w.To)
}

// VolumeDistinctPatients flags a day on which a person opened far more
// distinct patients' records than usual: against their own other days AND
// against the other members of their role (their peer group). Both must
// find it unusual when they can judge: a busy clinic day that every
// physician has is not flagged, nor is a person who always opens many
// charts. "Unusual" is a modified z-score of at least Z and at least
// MinRatio times the median. A person's own baseline needs MinHistoryDays
// other active days; the peer baseline needs MinHistoryDays peer-days, and
// uses the peers' median of that very day when MinPeers of them worked it.
// Days under MinPatients are never flagged, so a quiet user opening 3
// charts is not an outlier whatever their history; with neither baseline
// the day needs twice MinPatients.
type VolumeDistinctPatients struct {
	BaselineDays   int     // history before the window (default 60)
	MinHistoryDays int     // (default 10)
	MinPatients    int     // (default 20)
	MinPeers       int     // peers active the same day to use their median (default 2)
	Z              float64 // modified z-score cut-off (default 3.5)
	MinRatio       float64 // times the median (default 2.5)
}

// Rule implements Detector.
func (VolumeDistinctPatients) Rule() string { return "volume_distinct_patients" }

func (d VolumeDistinctPatients) withDefaults() VolumeDistinctPatients {
	if d.BaselineDays <= 0 {
		d.BaselineDays = 60
	}
	if d.MinHistoryDays <= 0 {
		d.MinHistoryDays = 10
	}
	if d.MinPatients <= 0 {
		d.MinPatients = 20
	}
	if d.MinPeers <= 0 {
		d.MinPeers = 2
	}
	if d.Z <= 0 {
		d.Z = 3.5
	}
	if d.MinRatio <= 0 {
		d.MinRatio = 2.5
	}
	return d
}

// Detect implements Detector.
func (d VolumeDistinctPatients) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	rows, err := readDaily(ctx, q, t, w.From.AddDate(0, 0, -d.BaselineDays), w.To)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	ps, err := loadPeople(ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	persons, keys := byPersonDay(rows, ps)
	patients := func(r dailyRow) uint64 { return r.Patients }
	var alerts []store.AlertRow
	for _, k := range keys {
		p := persons[k]
		for _, day := range p.sortedDays() {
			n := float64(p.days[day].Patients)
			date, ok := inWindow(day, t, w)
			if !ok || n < float64(d.MinPatients) {
				continue
			}
			own := summarize(p.others(day, patients))
			ownKnown := own.n >= d.MinHistoryDays
			if ownKnown && !own.outlier(n, d.Z, d.MinRatio) {
				continue
			}
			peer := d.peers(persons, keys, p, day)
			if peer.known && !peer.outlier(n, d.Z, d.MinRatio) {
				continue
			}
			if !ownKnown && !peer.known && n < 2*float64(d.MinPatients) {
				continue
			}
			a, err := d.alert(ctx, q, t, p, date, day, own, ownKnown, peer)
			if err != nil {
				return nil, err
			}
			alerts = append(alerts, a)
		}
	}
	return alerts, nil
}

// peerBaseline is a role's distribution of distinct patients per person-day,
// the person being judged left out.
type peerBaseline struct {
	robust
	known   bool
	history robust // over all peer-days
	sameDay robust // the peers who worked that day
}

func (d VolumeDistinctPatients) peers(persons map[string]*personDays, keys []string, self *personDays, day string) peerBaseline {
	var pb peerBaseline
	if self.role == "" {
		return pb
	}
	var hist, same []float64
	for _, k := range keys {
		o := persons[k]
		if o == self || o.role != self.role {
			continue
		}
		for od, r := range o.days {
			hist = append(hist, float64(r.Patients))
			if od == day {
				same = append(same, float64(r.Patients))
			}
		}
	}
	pb.history, pb.sameDay = summarize(hist), summarize(same)
	if pb.history.n < d.MinHistoryDays {
		return pb
	}
	pb.known, pb.robust = true, pb.history
	if pb.sameDay.n >= d.MinPeers && pb.sameDay.med > pb.med {
		pb.med = pb.sameDay.med // a day busy for everyone is the yardstick that day
	}
	return pb
}

func (d VolumeDistinctPatients) alert(ctx context.Context, q Querier, t Tenant, p *personDays, date time.Time, day string, own robust, ownKnown bool, peer peerBaseline) (store.AlertRow, error) {
	ev, err := dayEvents(ctx, q, t, p.actors, date, "patient_id != ''")
	if err != nil {
		return store.AlertRow{}, err
	}
	n := p.days[day].Patients
	role := strings.ReplaceAll(p.role, "_", " ")
	if role == "" {
		role = "unknown role"
	}
	var parts []string
	if ownKnown {
		parts = append(parts, fmt.Sprintf("own median %s/day (MAD %s) over %d other active days", num(own.med), num(own.mad), own.n))
	} else {
		parts = append(parts, fmt.Sprintf("too little history for a personal baseline (%d other active days)", own.n))
	}
	switch {
	case peer.known && peer.sameDay.n >= d.MinPeers:
		parts = append(parts, fmt.Sprintf("%s peers median %s that day (%s), %s over %d peer-days", role, num(peer.sameDay.med),
			plural(peer.sameDay.n, "peer", "peers"), num(peer.history.med), peer.history.n))
	case peer.known:
		parts = append(parts, fmt.Sprintf("%s peers median %s/day (MAD %s) over %d peer-days", role, num(peer.history.med), num(peer.history.mad), peer.history.n))
	default:
		parts = append(parts, fmt.Sprintf("no %s peer group to compare with (%d peer-days)", role, peer.history.n))
	}
	ref := math.Max(1, math.Max(own.med, peer.med))
	ratio := float64(n) / ref
	sev, score := SeverityMedium, float32(55)
	if ratio >= 5 || n >= 100 {
		sev, score = SeverityHigh, 75
	}
	if !ownKnown && !peer.known {
		sev, score = SeverityLow, 35
	}
	reason := fmt.Sprintf("%s opened %s on %s; %s.", p.who, plural(int(n), "distinct patient's chart", "distinct patients' charts"),
		date.Format("Mon 2 Jan 2006"), strings.Join(parts, "; "))
	expl := []string{
		fmt.Sprintf("counted: distinct patients of EHR events per local day (%s); flagged at %d or more and, against each baseline that has enough data, a modified z-score ≥ %.1f and ≥ %.1f× its median", t.Location, d.MinPatients, d.Z, d.MinRatio),
	}
	if ownKnown {
		expl = append(expl, fmt.Sprintf("own baseline: modified z-score %.1f (%.1f× median)", own.z(float64(n)), float64(n)/math.Max(own.med, 1)))
	}
	if peer.known {
		expl = append(expl, fmt.Sprintf("peer baseline (%s): modified z-score %.1f (%.1f× median)", role, peer.z(float64(n)), float64(n)/math.Max(peer.med, 1)))
	}
	expl = append(expl, "a records request, a chart audit or covering for a colleague can explain a busy day; HIM release of information is usually allow-listed in the tenants file")
	return ev.alert(t, d.Rule(), p, day, sev, score, reason, expl), nil
}

// num prints 12 or 12.5.
func num(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}

// evidence is one person's events of one day that an alert points at.
type evidence []struct {
	EventID   string    `json:"event_id"`
	PatientID string    `json:"patient_id"`
	Time      time.Time `json:"time"`
}

// dayEvents reads a person's EHR events of one local day matching cond.
func dayEvents(ctx context.Context, q Querier, t Tenant, actors []string, date time.Time, cond string) (evidence, error) {
	var ev evidence
	err := q.Select(ctx, &ev, `
SELECT event_id, patient_id, time FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND source_kind = 'ehr' AND actor_id IN {actors:Array(String)}
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)} AND (`+cond+`)
ORDER BY time, event_id`, store.Params{"tenant": t.ID, "actors": chStrings(actors),
		"from": chTime(date), "to": chTime(date.AddDate(0, 0, 1))})
	if err != nil {
		return nil, fmt.Errorf("read the evidence of a volume alert: %w", err)
	}
	return ev, nil
}

func (ev evidence) alert(t Tenant, rule string, p *personDays, day, sev string, score float32, reason string, expl []string) store.AlertRow {
	a := store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, rule, p.who.key, day), Rule: rule,
		Severity: sev, Score: score, ActorID: p.who.key, ActorName: p.who.name, ActorRole: p.who.role,
		Reason: reason, EvidenceCount: uint32(len(ev)), Explanations: expl,
	}
	seen := map[string]bool{}
	for _, e := range ev {
		if len(a.EvidenceEventIDs) < maxEvidence {
			a.EvidenceEventIDs = append(a.EvidenceEventIDs, e.EventID)
		}
		if e.PatientID != "" && !seen[e.PatientID] && len(a.PatientIDs) < maxEvidence {
			seen[e.PatientID] = true
			a.PatientIDs = append(a.PatientIDs, e.PatientID)
		}
	}
	if len(ev) > 0 {
		a.FirstSeen, a.LastSeen = ev[0].Time.UTC(), ev[len(ev)-1].Time.UTC()
	} else if date, err := time.ParseInLocation(time.DateOnly, day, t.Location); err == nil {
		a.FirstSeen, a.LastSeen = date.UTC(), date.UTC()
	}
	return a
}

// BulkExport flags a day on which a person printed or exported many
// patients' records: distinct patients of print and export events, plus
// the further patients of an export, print or query event that covered
// several (attrs.patient_count). At least MinPatients, and, when the
// person has MinHistoryDays other active days, an outlier against their own
// days (modified z-score ≥ Z and ≥ MinRatio × their median): someone whose
// job is printing is judged against their usual printing.
type BulkExport struct {
	BaselineDays   int     // (default 60)
	MinHistoryDays int     // (default 10)
	MinPatients    int     // (default 10)
	Z              float64 // (default 3.5)
	MinRatio       float64 // (default 2.5)
}

// Rule implements Detector.
func (BulkExport) Rule() string { return "bulk_export" }

func (d BulkExport) withDefaults() BulkExport {
	if d.BaselineDays <= 0 {
		d.BaselineDays = 60
	}
	if d.MinHistoryDays <= 0 {
		d.MinHistoryDays = 10
	}
	if d.MinPatients <= 0 {
		d.MinPatients = 10
	}
	if d.Z <= 0 {
		d.Z = 3.5
	}
	if d.MinRatio <= 0 {
		d.MinRatio = 2.5
	}
	return d
}

// Detect implements Detector.
func (d BulkExport) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	rows, err := readDaily(ctx, q, t, w.From.AddDate(0, 0, -d.BaselineDays), w.To)
	if err != nil {
		return nil, err
	}
	some := false
	for _, r := range rows {
		if r.Bulk >= uint64(d.MinPatients) {
			some = true
			break
		}
	}
	if !some {
		return nil, nil
	}
	ps, err := loadPeople(ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	persons, keys := byPersonDay(rows, ps)
	bulk := func(r dailyRow) uint64 { return r.Bulk }
	var alerts []store.AlertRow
	for _, k := range keys {
		p := persons[k]
		for _, day := range p.sortedDays() {
			r := p.days[day]
			date, ok := inWindow(day, t, w)
			if !ok || r.Bulk < uint64(d.MinPatients) {
				continue
			}
			own := summarize(p.others(day, bulk))
			ownKnown := own.n >= d.MinHistoryDays
			if ownKnown && !own.outlier(float64(r.Bulk), d.Z, d.MinRatio) {
				continue
			}
			ev, err := dayEvents(ctx, q, t, p.actors, date, "action IN "+bulkActions+" OR (action = 'query' AND toUInt64OrZero(attrs['patient_count']) > 1)")
			if err != nil {
				return nil, err
			}
			base := fmt.Sprintf("their own median is %s/day (MAD %s) over %d other active days", num(own.med), num(own.mad), own.n)
			if !ownKnown {
				base = fmt.Sprintf("too little history for a personal baseline (%d other active days)", own.n)
			}
			sev, score := SeverityHigh, float32(70)
			if r.Bulk >= 5*uint64(d.MinPatients) {
				sev, score = SeverityCritical, 90
			}
			reason := fmt.Sprintf("%s printed or exported the records of %s on %s (%s); %s.", p.who,
				plural(int(r.Bulk), "patient", "patients"), date.Format("Mon 2 Jan 2006"), plural(int(r.Exports), "print/export event", "print/export events"), base)
			expl := []string{
				fmt.Sprintf("counted: distinct patients of print and export events, plus the further patients of multi-patient exports and queries; flagged at %d or more and, with a personal baseline, a modified z-score ≥ %.1f and ≥ %.1f× the median", d.MinPatients, d.Z, d.MinRatio),
				"a release of information, a payer audit or a records transfer can explain it; staff whose job it is belong on the tenants file's allow-list for this rule",
			}
			alerts = append(alerts, ev.alert(t, d.Rule(), p, day, sev, score, reason, expl))
		}
	}
	return alerts, nil
}
