package analyze

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// The cross-source rules join what one person did in different systems:
// the EHR, mail and the VPN know them by different accounts, and identity
// resolution (internal/identity, the identity_links tables) makes them one.

// ehrAccess is one EHR patient access, for the cross-source rules.
type ehrAccess struct {
	EventID   string    `json:"event_id"`
	Time      time.Time `json:"time"`
	ActorID   string    `json:"actor_id"`
	ActorName string    `json:"actor_name"`
	ActorRole string    `json:"actor_role"`
	PatientID string    `json:"patient_id"`
}

// ehrAccessesOf reads the EHR patient accesses in [from, to) of the accounts
// that resolve to person key, oldest first.
func ehrAccessesOf(ctx context.Context, q Querier, ps people, tenant, key string, from, to time.Time) ([]ehrAccess, error) {
	var rows []ehrAccess
	err := q.Select(ctx, &rows, `
SELECT event_id, time, actor_id, actor_name, toString(actor_role) AS actor_role, patient_id
FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND source_kind = 'ehr' AND patient_id != ''
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
ORDER BY time, event_id`, store.Params{"tenant": tenant, "from": chTime(from), "to": chTime(to)})
	if err != nil {
		return nil, fmt.Errorf("read EHR accesses: %w", err)
	}
	out := rows[:0]
	for _, r := range rows {
		if ps.of(r.ActorID, r.ActorName, r.ActorRole).key == key {
			out = append(out, r)
		}
	}
	return out, nil
}

func distinctPatients(as []ehrAccess) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range as {
		if !seen[a.PatientID] {
			seen[a.PatientID] = true
			out = append(out, a.PatientID)
		}
	}
	return out
}

// BulkReadThenWebmail flags a person who opened many patients' charts and,
// within Hours after, sent mail with attachments (or of MinSizeBytes or
// more) to a personal webmail address: the shape of records being taken
// home. Many is at least MinPatients distinct patients in the Hours before
// the mail and, when the person has MinHistoryDays active days, at least
// MinRatio times their median distinct patients per day. One alert per
// person and local day of the mail.
type BulkReadThenWebmail struct {
	Hours          int     // (default 8)
	MinPatients    int     // (default 20)
	MinRatio       float64 // (default 2)
	MinSizeBytes   uint64  // (default 5 MB, as email_personal_webmail)
	BaselineDays   int     // (default 60)
	MinHistoryDays int     // (default 10)
}

// Rule implements Detector.
func (BulkReadThenWebmail) Rule() string { return "bulk_read_then_webmail" }

func (d BulkReadThenWebmail) withDefaults() BulkReadThenWebmail {
	if d.Hours <= 0 {
		d.Hours = 8
	}
	if d.MinPatients <= 0 {
		d.MinPatients = 20
	}
	if d.MinRatio <= 0 {
		d.MinRatio = 2
	}
	if d.MinSizeBytes == 0 {
		d.MinSizeBytes = 5 << 20
	}
	if d.BaselineDays <= 0 {
		d.BaselineDays = 60
	}
	if d.MinHistoryDays <= 0 {
		d.MinHistoryDays = 10
	}
	return d
}

// Detect implements Detector.
func (d BulkReadThenWebmail) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	sends, err := substantialSends(ctx, q, t.ID, w, d.MinSizeBytes)
	if err != nil {
		return nil, err
	}
	ps, err := loadPeople(ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	type key struct{ who, day string }
	groups := map[key][]emailRow{}
	var keys []key
	for _, r := range sends {
		var hit []string
		for _, dom := range append(append([]string(nil), r.Domains...), recipientDomains(r.Recipients)...) {
			if isPersonalWebmail(dom) && !contains(hit, strings.ToLower(dom)) {
				hit = append(hit, strings.ToLower(dom))
			}
		}
		if len(hit) == 0 {
			continue
		}
		r.Domains, r.who = hit, ps.of(r.ActorID, r.ActorName, r.ActorRole)
		k := key{r.who.key, r.Time.In(t.Location).Format(time.DateOnly)}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].who != keys[j].who {
			return keys[i].who < keys[j].who
		}
		return keys[i].day < keys[j].day
	})
	span := time.Duration(d.Hours) * time.Hour
	var daily map[string]*personDays
	var alerts []store.AlertRow
	for _, k := range keys {
		mails := groups[k]
		reads, err := ehrAccessesOf(ctx, q, ps, t.ID, k.who, mails[0].Time.Add(-span), mails[len(mails)-1].Time)
		if err != nil {
			return nil, err
		}
		// The reads that precede a mail by at most the span.
		var before []ehrAccess
		for _, r := range reads {
			for _, m := range mails {
				if !r.Time.After(m.Time) && m.Time.Sub(r.Time) <= span {
					before = append(before, r)
					break
				}
			}
		}
		pats := distinctPatients(before)
		if len(pats) < d.MinPatients {
			continue
		}
		if daily == nil {
			rows, err := readDaily(ctx, q, t, w.From.AddDate(0, 0, -d.BaselineDays), w.To)
			if err != nil {
				return nil, err
			}
			daily, _ = byPersonDay(rows, ps)
		}
		base := "too little EHR history for a personal baseline"
		if p := daily[k.who]; p != nil {
			own := summarize(p.others(before[0].Time.In(t.Location).Format(time.DateOnly), func(r dailyRow) uint64 { return r.Patients }))
			if own.n >= d.MinHistoryDays {
				if float64(len(pats)) < d.MinRatio*own.med {
					continue
				}
				base = fmt.Sprintf("their own median is %s distinct patients a day over %d other active days", num(own.med), own.n)
			}
		}
		alerts = append(alerts, d.alert(t, k.day, mails, before, pats, base))
	}
	return alerts, nil
}

func (d BulkReadThenWebmail) alert(t Tenant, day string, mails []emailRow, reads []ehrAccess, pats []string, base string) store.AlertRow {
	who := mails[0].who
	loc := t.Location
	domains := map[string]bool{}
	var total float64
	var attachments int
	var eids []string
	for _, m := range mails {
		for _, dom := range m.Domains {
			domains[dom] = true
		}
		total += m.Size
		attachments += int(m.Attachments)
		eids = append(eids, m.EventID)
	}
	for _, r := range reads {
		if len(eids) < maxEvidence {
			eids = append(eids, r.EventID)
		}
	}
	first, last := reads[0].Time, reads[len(reads)-1].Time
	content := humanBytes(total)
	if attachments > 0 {
		content = plural(attachments, "attachment", "attachments") + ", " + content
	}
	reason := fmt.Sprintf("%s opened %s in the EHR between %s and %s, then at %s sent %s (%s) to personal webmail (%s); %s.",
		who, plural(len(pats), "patient's chart", "distinct patients' charts"), first.In(loc).Format("Mon 2 Jan 15:04"), last.In(loc).Format("15:04"),
		mails[0].Time.In(loc).Format("Mon 2 Jan 15:04"), plural(len(mails), "message", "messages"), content,
		strings.Join(sortedKeys(domains), ", "), base)
	if len(pats) > maxEvidence {
		pats = pats[:maxEvidence]
	}
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), who.key, day), Rule: d.Rule(),
		Severity: SeverityCritical, Score: 90, ActorID: who.key, ActorName: who.name, ActorRole: who.role,
		PatientIDs: pats, FirstSeen: first.UTC(), LastSeen: mails[len(mails)-1].Time.UTC(), Reason: reason,
		EvidenceEventIDs: eids, EvidenceCount: uint32(len(mails) + len(reads)),
		Explanations: []string{
			fmt.Sprintf("joined: EHR reads in the %d hours before mail with attachments or of %s or more to a personal webmail domain; the EHR and mail accounts are one person by identity resolution", d.Hours, humanBytes(float64(d.MinSizeBytes))),
			fmt.Sprintf("flagged at %d or more distinct patients and, with a personal baseline, at least %.1f× their daily median", d.MinPatients, d.MinRatio),
			"mail contents are not stored; a reviewer can check the message in the mail system",
		},
	}
}

// EHRDuringUnusualVPN flags EHR patient access during a VPN session from a
// country unusual for that person: one that made up less than UsualShare
// of their located VPN sign-ins in the previous HistoryDays, once they have
// MinHistory of them. A session runs from a successful sign-in to the
// person's next disconnect, or MaxSession at most. vpn_new_country says
// the connection was odd; this rule says records were opened through it.
type EHRDuringUnusualVPN struct {
	HistoryDays int           // (default 90)
	MinHistory  int           // (default 5)
	UsualShare  float64       // (default 0.1)
	MaxSession  time.Duration // (default 12h)
}

// Rule implements Detector.
func (EHRDuringUnusualVPN) Rule() string { return "ehr_during_unusual_vpn" }

func (d EHRDuringUnusualVPN) withDefaults() EHRDuringUnusualVPN {
	if d.HistoryDays <= 0 {
		d.HistoryDays = 90
	}
	if d.MinHistory <= 0 {
		d.MinHistory = 5
	}
	if d.UsualShare <= 0 {
		d.UsualShare = 0.1
	}
	if d.MaxSession <= 0 {
		d.MaxSession = 12 * time.Hour
	}
	return d
}

// Detect implements Detector.
func (d EHRDuringUnusualVPN) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	ps, err := loadPeople(ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	hist := time.Duration(d.HistoryDays) * 24 * time.Hour
	rows, err := readVPN(ctx, q, ps, t.ID, w.From.Add(-hist), w.To, []string{"vpn_connect", "login", "vpn_disconnect", "logout"})
	if err != nil {
		return nil, err
	}
	groups, keys := byPerson(rows, func(vpnRow) bool { return true })
	var alerts []store.AlertRow
	for _, k := range keys {
		evs := groups[k]
		var signIns []vpnRow
		for _, e := range evs {
			if isVPNSignIn(e) && e.Country != "" && publicIP(e.ClientIP) {
				signIns = append(signIns, e)
			}
		}
		for i, e := range signIns {
			if e.Time.Before(w.From) {
				continue
			}
			seen, n := map[string]int{}, 0
			for _, h := range signIns[:i] {
				if e.Time.Sub(h.Time) <= hist {
					seen[h.Country]++
					n++
				}
			}
			if n < d.MinHistory || float64(seen[e.Country]) >= d.UsualShare*float64(n) {
				continue
			}
			end := d.sessionEnd(evs, e)
			reads, err := ehrAccessesOf(ctx, q, ps, t.ID, k, e.Time, end)
			if err != nil {
				return nil, err
			}
			if len(reads) == 0 {
				continue
			}
			alerts = append(alerts, d.alert(t, e, end, reads, seen, n))
		}
	}
	return alerts, nil
}

// sessionEnd is the person's first disconnect after the sign-in (of the
// same session when both carry an id), capped at MaxSession.
func (d EHRDuringUnusualVPN) sessionEnd(evs []vpnRow, start vpnRow) time.Time {
	limit := start.Time.Add(d.MaxSession)
	for _, e := range evs {
		if !e.Time.After(start.Time) || e.Time.After(limit) {
			continue
		}
		if e.Action != "vpn_disconnect" && e.Action != "logout" {
			continue
		}
		if start.SessionID != "" && e.SessionID != "" && e.SessionID != start.SessionID {
			continue
		}
		return e.Time
	}
	return limit
}

func (d EHRDuringUnusualVPN) alert(t Tenant, e vpnRow, end time.Time, reads []ehrAccess, seen map[string]int, n int) store.AlertRow {
	loc := t.Location
	pats := distinctPatients(reads)
	usual := sortedKeysOf(seen)
	sort.SliceStable(usual, func(i, j int) bool { return seen[usual[i]] > seen[usual[j]] })
	for i, c := range usual {
		usual[i] = fmt.Sprintf("%s (%d)", c, seen[c])
	}
	where := "none"
	if len(usual) > 0 {
		where = strings.Join(usual, ", ")
	}
	sev, score := SeverityHigh, float32(75)
	if len(pats) >= 5 {
		sev, score = SeverityCritical, 90
	}
	reason := fmt.Sprintf("%s opened %s in the EHR during a VPN session from %s (%s) that began %s; %d of their %d VPN sign-ins in the previous %d days came from %s (theirs: %s).",
		e.who, plural(len(pats), "patient's chart", "distinct patients' charts"), e.place(), e.ClientIP, e.Time.In(loc).Format("Mon 2 Jan 2006 15:04 MST"),
		seen[e.Country], n, d.HistoryDays, e.Country, where)
	eids := []string{e.EventID}
	for _, r := range reads {
		if len(eids) < maxEvidence {
			eids = append(eids, r.EventID)
		}
	}
	if len(pats) > maxEvidence {
		pats = pats[:maxEvidence]
	}
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), e.who.key, e.EventID), Rule: d.Rule(),
		Severity: sev, Score: score, ActorID: e.who.key, ActorName: e.who.name, ActorRole: e.who.role,
		PatientIDs: pats, FirstSeen: reads[0].Time.UTC(), LastSeen: reads[len(reads)-1].Time.UTC(), Reason: reason,
		EvidenceEventIDs: eids, EvidenceCount: uint32(1 + len(reads)),
		Explanations: []string{
			fmt.Sprintf("session: sign-in %s to %s (first disconnect after it, at most %s)", e.Time.In(loc).Format("15:04"), end.In(loc).Format("Mon 2 Jan 15:04"), humanDur(d.MaxSession)),
			fmt.Sprintf("unusual: under %.0f%% of at least %d located sign-ins in %d days came from that country", 100*d.UsualShare, d.MinHistory, d.HistoryDays),
			"the EHR and VPN accounts are one person by identity resolution; countries are GeoIP lookups of public addresses, and travel can explain them",
		},
	}
}
