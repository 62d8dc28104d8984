package demo

import (
	"fmt"
	"strings"
	"time"
)

// TenantsYAML tunes the demo practice's detectors (phiwatch analyze
// --tenants-file): health information management releases records in bulk
// as its job, so HIM is allow-listed for the volume and bulk rules, with a
// reason and an expiry, and each such alert is recorded as suppressed.
func TenantsYAML(out *Output) string {
	until := out.End.AddDate(0, 6, 0).Format(time.DateOnly)
	return fmt.Sprintf(`tenants:
  %[1]s:
    timezone: %[2]s
    practice_hours: mon-fri 07:00-19:00
    rules:
      volume_distinct_patients:
        allow:
          - roles: [him]
            reason: release of information is health information management's job
            until: %[3]s
            approved_by: Morgan Khan (practice manager)
      bulk_export:
        allow:
          - roles: [him]
            reason: release of information is health information management's job
            until: %[3]s
            approved_by: Morgan Khan (practice manager)
`, Tenant, out.Location, until)
}

// last is the last employed member of a role in roster order: the planted
// volume cases pick people the other cases leave alone.
func (g *gen) last(role string) *Person {
	for i := len(g.out.Staff) - 1; i >= 0; i-- {
		if p := &g.out.Staff[i]; p.Role == role && p.Terminated < 0 {
			return p
		}
	}
	return nil
}

// busyDay is the weekday on which every physician sees about twice their
// usual patients: the hard negative of the volume rule's peer comparison.
func (g *gen) busyDay(start time.Time) int { return g.weekday(start, 3) }

// injectVolume plants the cases of the volume, bulk and cross-source rules
// and their hard negatives.
func (g *gen) injectVolume(start time.Time) {
	day := func(d int) time.Time { return start.AddDate(0, 0, g.weekday(start, d)) }

	// A front-desk clerk opens 70 charts of patients with no appointment
	// in an afternoon, then mails 9 MB to her own Gmail address.
	fd := g.last("front_desk")
	d := day(18)
	for i := range 70 {
		g.ehr(d.Add(10*time.Hour+time.Duration(i*4)*time.Minute), fd, "read", g.patient(), g.wsIP[fd.ID])
	}
	home := strings.ToLower(strings.ReplaceAll(fd.Name, " ", ".")) + ".home@gmail.com"
	g.trace(d.Add(15*time.Hour+30*time.Minute), fd, home, 9<<20)
	g.out.Cases = append(g.out.Cases,
		Case{Name: "a front-desk clerk opens about 85 charts in a day (usually about 15)", Rule: "volume_distinct_patients", ActorID: fd.ID, Day: d},
		Case{Name: "…then mails 9 MB to her personal Gmail", Rule: "email_personal_webmail", ActorID: fd.ID, Day: d},
		Case{Name: "…which joins the bulk reads and the mail within hours", Rule: "bulk_read_then_webmail", ActorID: fd.ID, Day: d})

	// A billing clerk prints 30 patients' records one afternoon.
	bl := g.last("billing")
	d = day(9)
	for i := range 30 {
		g.ehr(d.Add(14*time.Hour+time.Duration(i*2)*time.Minute), bl, "print", g.patient(), g.wsIP[bl.ID])
	}
	g.out.Cases = append(g.out.Cases,
		Case{Name: "a billing clerk prints 30 patients' records in an hour", Rule: "bulk_export", ActorID: bl.ID, Day: d},
		Case{Name: "…far more charts than her or her peers' usual day", Rule: "volume_distinct_patients", ActorID: bl.ID, Day: d})

	// A physician connects from Romania, never used before, on a Wednesday
	// evening and opens four charts through that session.
	doc := g.last("physician")
	dd := g.weekday(start, 15)
	for start.AddDate(0, 0, dd).Weekday() != time.Wednesday {
		dd++
	}
	d = start.AddDate(0, 0, dd)
	g.vpnSessionFrom(doc, "203.0.113.77", d.Add(19*time.Hour+30*time.Minute), 40, 4, g.recent(dd, 7))
	g.out.Cases = append(g.out.Cases,
		Case{Name: "a physician's VPN account connects from Romania for the first time", Rule: "vpn_new_country", ActorID: doc.ID, Day: d},
		Case{Name: "…and opens four charts through that session", Rule: "ehr_during_unusual_vpn", ActorID: doc.ID, Day: d})

	// Hard negative: HIM prints 35 records for a records request; HIM is
	// allow-listed for bulk work in the tenants file (TenantsYAML).
	rosa := g.byID["rmedina"]
	d = day(11)
	for i := range 35 {
		g.ehr(d.Add(13*time.Hour+time.Duration(i*3)*time.Minute), rosa, "print", g.patient(), g.wsIP[rosa.ID])
	}
	g.out.HardNegatives = append(g.out.HardNegatives,
		"HIM prints 35 records for a release of information (allow-listed in the tenants file; recorded as suppressed)",
		fmt.Sprintf("every physician sees about 34 patients on %s, a busy clinic day (usually about 14)", day(3).Format("Mon 2 Jan")))
}

// trace writes one Exchange Online message trace row (Get-MessageTrace |
// Export-Csv): a message p sent to an outside address.
func (g *gen) trace(at time.Time, p *Person, to string, size int) {
	g.seq++
	line := fmt.Sprintf(`"<demo-%07d@riverside.example>","%s","%s","%s","Records","Delivered","142.250.64.27","%s","%d","%08x-0d2e-4f7b-9e61-%012x"`,
		g.seq, at.UTC().Format("1/2/2006 3:04:05 PM"), p.Email, to, g.wsIP[p.ID], size, g.seq, g.seq)
	g.traces = append(g.traces, stamped{at, []byte(line)})
}

// messageTraceHeader is the header of a Get-MessageTrace export.
const messageTraceHeader = `"MessageId","Received","SenderAddress","RecipientAddress","Subject","Status","ToIP","FromIP","Size","MessageTraceId"`
