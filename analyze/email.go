package analyze

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// personalWebmail are consumer mail domains: mail sent or forwarded there
// leaves the practice's control, whatever the practice's domains are.
var personalWebmail = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "yahoo.com": true, "ymail.com": true, "rocketmail.com": true,
	"outlook.com": true, "hotmail.com": true, "live.com": true, "msn.com": true, "icloud.com": true,
	"me.com": true, "mac.com": true, "aol.com": true, "proton.me": true, "protonmail.com": true,
	"pm.me": true, "mail.com": true, "zoho.com": true, "zohomail.com": true, "tutanota.com": true,
	"tuta.io": true, "fastmail.com": true, "hushmail.com": true, "comcast.net": true,
	"verizon.net": true, "att.net": true, "sbcglobal.net": true, "web.de": true, "mail.ru": true,
}

// personalWebmailFamilies are providers with a domain per country
// (gmx.de, yahoo.co.uk, hotmail.fr): the first label decides.
var personalWebmailFamilies = map[string]bool{"gmx": true, "yahoo": true, "hotmail": true, "yandex": true, "outlook": true}

// isPersonalWebmail reports whether a recipient domain is a consumer
// mailbox provider.
func isPersonalWebmail(domain string) bool {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	if personalWebmail[d] {
		return true
	}
	first, rest, ok := strings.Cut(d, ".")
	return ok && rest != "" && personalWebmailFamilies[first]
}

// domainOf is the part after the last @, lowercased; "" when there is none.
func domainOf(addr string) string {
	a := strings.Trim(strings.TrimSpace(addr), "<>")
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(a[i+1:], ">"))
}

type emailRow struct {
	EventID     string    `json:"event_id"`
	Time        time.Time `json:"time"`
	ActorID     string    `json:"actor_id"`
	ActorName   string    `json:"actor_name"`
	ActorRole   string    `json:"actor_role"`
	Action      string    `json:"action"`
	Recipients  []string  `json:"recipients"`
	Domains     []string  `json:"domains"`
	External    bool      `json:"external"`
	Attachments uint32    `json:"attachments"`
	Size        float64   `json:"size"`
	ForwardTo   string    `json:"forward_to"`
	RuleName    string    `json:"rule_name"`
	Source      string    `json:"source_action"`

	who person
}

const emailColumns = `event_id, time, actor_id, actor_name, toString(actor_role) AS actor_role, toString(action) AS action,
       email_recipients AS recipients, arrayMap(x -> toString(x), email_recipient_domains) AS domains,
       email_external AS external, email_attachment_count AS attachments, toFloat64(email_size_bytes) AS size,
       attrs['forward_to'] AS forward_to, attrs['rule_name'] AS rule_name, attrs['source_action'] AS source_action`

// ExternalForwarding flags forwarding set up to outside the practice: a
// mailbox forward or an inbox rule whose targets (the event's recipients,
// or attrs.forward_to) are outside it. A target is outside when the source
// marked the event external or its domain is a personal webmail provider.
// Silent forwarding to a private mailbox is how PHI leaves unnoticed.
type ExternalForwarding struct{}

// Rule implements Detector.
func (ExternalForwarding) Rule() string { return "email_external_forwarding" }

// Detect implements Detector.
func (d ExternalForwarding) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	var rows []emailRow
	err := q.Select(ctx, &rows, `
SELECT `+emailColumns+`
FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND source_kind = 'email'
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
  AND action IN ('forward', 'rule_change') AND outcome != 'failure'
  AND (notEmpty(email_recipients) OR attrs['forward_to'] != '')
ORDER BY time, event_id`, store.Params{"tenant": t.ID, "from": chTime(w.From), "to": chTime(w.To)})
	if err != nil {
		return nil, fmt.Errorf("read forwarding changes: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	ps, err := loadPeople(ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	var alerts []store.AlertRow
	for _, r := range rows {
		r.who = ps.of(r.ActorID, r.ActorName, r.ActorRole)
		var outside []string
		seen := map[string]bool{}
		// External marks the whole event; a target in the actor's own
		// domain is still inside, whatever else the rule forwards to.
		own := domainOf(r.ActorID)
		for _, target := range forwardTargets(r) {
			dom := domainOf(target)
			if seen[target] || dom == "" {
				continue
			}
			seen[target] = true
			if isPersonalWebmail(dom) {
				outside = append(outside, target+" (personal webmail)")
			} else if r.External && dom != own {
				outside = append(outside, target)
			}
		}
		if len(outside) > 0 {
			alerts = append(alerts, d.alert(t, r, outside))
		}
	}
	return alerts, nil
}

// forwardTargets are the addresses a forward or rule sends mail to.
func forwardTargets(r emailRow) []string {
	out := append([]string(nil), r.Recipients...)
	for _, f := range strings.FieldsFunc(r.ForwardTo, func(c rune) bool { return c == ',' || c == ';' }) {
		f = strings.TrimPrefix(strings.TrimSpace(f), "smtp:")
		f = strings.TrimPrefix(f, "SMTP:")
		if f != "" {
			out = append(out, f)
		}
	}
	for i, a := range out {
		out[i] = strings.ToLower(strings.Trim(strings.TrimSpace(a), "<>"))
	}
	return out
}

func (d ExternalForwarding) alert(t Tenant, r emailRow, outside []string) store.AlertRow {
	what := "set mailbox forwarding"
	if r.Action == "rule_change" {
		what = "changed an inbox rule"
		if r.RuleName != "" {
			what += fmt.Sprintf(" (%q)", r.RuleName)
		}
	}
	reason := fmt.Sprintf("%s %s at %s that sends mail to %s, outside the practice: everything it matches, patient mail included, would leave without anyone seeing it.",
		r.who, what, r.Time.In(t.Location).Format("Mon 2 Jan 2006 15:04 MST"), strings.Join(outside, ", "))
	expl := []string{"targets from the event's recipients and the forwarding address (forward_to)"}
	if r.Source != "" {
		expl = append(expl, "operation: "+r.Source)
	}
	expl = append(expl, "outside: marked external by the source (the practice's domains) or a personal webmail domain")
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), r.EventID), Rule: d.Rule(),
		Severity: SeverityHigh, Score: 80, ActorID: r.who.key, ActorName: r.who.name, ActorRole: r.who.role,
		FirstSeen: r.Time.UTC(), LastSeen: r.Time.UTC(), Reason: reason,
		EvidenceEventIDs: []string{r.EventID}, EvidenceCount: 1, Explanations: expl,
	}
}

// PersonalWebmail flags mail sent to personal webmail with attachments or of
// MinSizeBytes or more: the usual way records are taken home. One alert per
// person and day; HighCount such messages in a day make it high.
type PersonalWebmail struct {
	MinSizeBytes uint64 // default 5 MB
	HighCount    int    // default 3
}

// Rule implements Detector.
func (PersonalWebmail) Rule() string { return "email_personal_webmail" }

func (d PersonalWebmail) withDefaults() PersonalWebmail {
	if d.MinSizeBytes == 0 {
		d.MinSizeBytes = 5 << 20
	}
	if d.HighCount <= 0 {
		d.HighCount = 3
	}
	return d
}

// Detect implements Detector.
func (d PersonalWebmail) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	// The domain list is checked in Go (it has per-country families); SQL
	// narrows to sends that carry something first.
	rows, err := substantialSends(ctx, q, t.ID, w, d.MinSizeBytes)
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
	type key struct{ who, day string }
	groups := map[key][]emailRow{}
	var keys []key
	for _, r := range rows {
		var hit []string
		for _, dom := range append(append([]string(nil), r.Domains...), recipientDomains(r.Recipients)...) {
			if isPersonalWebmail(dom) && !contains(hit, strings.ToLower(dom)) {
				hit = append(hit, strings.ToLower(dom))
			}
		}
		if len(hit) == 0 {
			continue
		}
		r.Domains = hit
		r.who = ps.of(r.ActorID, r.ActorName, r.ActorRole)
		k := key{r.who.key, r.Time.In(t.Location).Format("2006-01-02")}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].who != keys[j].who {
			return keys[i].who < keys[j].who
		}
		return keys[i].day < keys[j].day
	})
	alerts := make([]store.AlertRow, 0, len(keys))
	for _, k := range keys {
		alerts = append(alerts, d.alert(t, k.day, groups[k]))
	}
	return alerts, nil
}

func recipientDomains(rs []string) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		if d := domainOf(r); d != "" {
			out = append(out, d)
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (d PersonalWebmail) alert(t Tenant, day string, rs []emailRow) store.AlertRow {
	who := rs[0].who
	domains := map[string]bool{}
	var eids, msgs []string
	var total float64
	for _, r := range rs {
		for _, dom := range r.Domains {
			domains[dom] = true
		}
		total += r.Size
		if len(eids) < maxEvidence {
			eids = append(eids, r.EventID)
		}
		if len(msgs) < 5 {
			msgs = append(msgs, fmt.Sprintf("%s to %s, %s, %s", r.Time.In(t.Location).Format("15:04"),
				strings.Join(r.Domains, "/"), humanBytes(r.Size), plural(int(r.Attachments), "attachment", "attachments")))
		}
	}
	if len(rs) > len(msgs) {
		msgs = append(msgs, fmt.Sprintf("and %d more", len(rs)-len(msgs)))
	}
	sev, score := SeverityMedium, float32(55)
	if len(rs) >= d.HighCount {
		sev, score = SeverityHigh, 75
	}
	date, _ := time.ParseInLocation("2006-01-02", day, t.Location)
	reason := fmt.Sprintf("%s sent %s to personal webmail (%s) on %s, %s in all: %s. Patient information must not go to private mailboxes.",
		who, plural(len(rs), "message with content", "messages with content"), strings.Join(sortedKeys(domains), ", "),
		date.Format("Mon 2 Jan 2006"), humanBytes(total), strings.Join(msgs, "; "))
	return store.AlertRow{
		TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), who.key, day), Rule: d.Rule(),
		Severity: sev, Score: score, ActorID: who.key, ActorName: who.name, ActorRole: who.role,
		FirstSeen: rs[0].Time.UTC(), LastSeen: rs[len(rs)-1].Time.UTC(), Reason: reason,
		EvidenceEventIDs: eids, EvidenceCount: uint32(len(rs)),
		Explanations: []string{
			fmt.Sprintf("counted: sends with an attachment or of %s or more to a personal webmail domain; %d in a day make it high", humanBytes(float64(d.MinSizeBytes)), d.HighCount),
			"subjects are not stored or shown; a reviewer can ask the person or check the message in the mail system",
			"sending to one's own private address is still disclosure outside the practice",
		},
	}
}

func humanBytes(n float64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f bytes", n)
}

// MassMailboxAccess flags one actor opening mail in bulk within an hour:
// more than MaxEvents mailbox accesses, or other people's mailboxes
// (attrs.mailbox_owner) beyond MaxOwners. An actor's own mailbox is not
// counted as another owner: mail clients sync it all day.
type MassMailboxAccess struct {
	MaxEvents int // default 500
	MaxOwners int // default 3
}

// Rule implements Detector.
func (MassMailboxAccess) Rule() string { return "email_mass_mailbox_access" }

func (d MassMailboxAccess) withDefaults() MassMailboxAccess {
	if d.MaxEvents <= 0 {
		d.MaxEvents = 500
	}
	if d.MaxOwners <= 0 {
		d.MaxOwners = 3
	}
	return d
}

// Detect implements Detector.
func (d MassMailboxAccess) Detect(ctx context.Context, q Querier, t Tenant, w Window) ([]store.AlertRow, error) {
	d = d.withDefaults()
	var rows []struct {
		ActorID   string    `json:"actor_id"`
		ActorName string    `json:"actor_name"`
		ActorRole string    `json:"actor_role"`
		Hour      time.Time `json:"hour"`
		First     time.Time `json:"first"`
		Last      time.Time `json:"last"`
		N         uint32    `json:"n"`
		Owners    []string  `json:"owners"`
		EventIDs  []string  `json:"event_ids"`
	}
	err := q.Select(ctx, &rows, `
SELECT actor_id, any(actor_name) AS actor_name, toString(any(actor_role)) AS actor_role,
       toStartOfHour(time) AS hour, min(time) AS first, max(time) AS last, toUInt32(count()) AS n,
       groupUniqArrayIf(lowerUTF8(attrs['mailbox_owner']),
                        attrs['mailbox_owner'] != '' AND lowerUTF8(attrs['mailbox_owner']) != lowerUTF8(actor_id)) AS owners,
       groupArray(`+fmt.Sprint(maxEvidence)+`)(event_id) AS event_ids
FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND source_kind = 'email'
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
  AND action = 'mailbox_access' AND outcome != 'failure' AND actor_id != ''
GROUP BY actor_id, hour
HAVING n > {max:UInt32} OR length(owners) > {owners:UInt32}
ORDER BY actor_id, hour`, store.Params{"tenant": t.ID, "from": chTime(w.From), "to": chTime(w.To),
		"max": fmt.Sprint(d.MaxEvents), "owners": fmt.Sprint(d.MaxOwners)})
	if err != nil {
		return nil, fmt.Errorf("read mailbox access per hour: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	ps, err := loadPeople(ctx, q, t.ID)
	if err != nil {
		return nil, err
	}
	alerts := make([]store.AlertRow, 0, len(rows))
	for _, r := range rows {
		who := ps.of(r.ActorID, r.ActorName, r.ActorRole)
		sort.Strings(r.Owners)
		loc := t.Location
		reason := fmt.Sprintf("%s accessed mailboxes %d times between %s and %s",
			who, r.N, r.First.In(loc).Format("Mon 2 Jan 2006 15:04"), r.Last.In(loc).Format("15:04 MST"))
		if len(r.Owners) > 0 {
			shown := r.Owners
			if len(shown) > 10 {
				shown = append(shown[:10:10], fmt.Sprintf("and %d more", len(r.Owners)-10))
			}
			reason += fmt.Sprintf(", in %s of other people (%s)", plural(len(r.Owners), "mailbox", "mailboxes"), strings.Join(shown, ", "))
		}
		reason += ": far more than reading one's own mail; mail may be being searched or copied in bulk."
		alerts = append(alerts, store.AlertRow{
			TenantID: t.ID, AlertID: alertID(t.ID, d.Rule(), r.ActorID, r.Hour.UTC().Format(time.RFC3339)), Rule: d.Rule(),
			Severity: SeverityHigh, Score: 75, ActorID: who.key, ActorName: who.name, ActorRole: who.role,
			FirstSeen: r.First.UTC(), LastSeen: r.Last.UTC(), Reason: reason,
			EvidenceEventIDs: r.EventIDs, EvidenceCount: r.N,
			Explanations: []string{
				fmt.Sprintf("thresholds per clock hour: more than %d accesses or more than %d other people's mailboxes", d.MaxEvents, d.MaxOwners),
				"the account's own mailbox is not counted as another's",
				"delegates (assistants) and migration or backup tools also do this: check the account's purpose",
			},
		})
	}
	return alerts, nil
}

// substantialSends are the window's successful sends with attachments or of
// at least minSize bytes, in time order: what could carry patient data out.
func substantialSends(ctx context.Context, q Querier, tenant string, w Window, minSize uint64) ([]emailRow, error) {
	var rows []emailRow
	err := q.Select(ctx, &rows, `
SELECT `+emailColumns+`
FROM `+q.Database()+`.events
WHERE tenant_id = {tenant:String} AND source_kind = 'email'
  AND time >= {from:DateTime64(3)} AND time < {to:DateTime64(3)}
  AND action = 'send' AND outcome != 'failure'
  AND (email_attachment_count > 0 OR email_size_bytes >= {min:UInt64})
ORDER BY time, event_id`, store.Params{"tenant": tenant, "from": chTime(w.From), "to": chTime(w.To), "min": fmt.Sprint(minSize)})
	if err != nil {
		return nil, fmt.Errorf("read sends: %w", err)
	}
	return rows, nil
}
