package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Options shape the generated month.
type Options struct {
	Seed     uint64
	Days     int            // default 28 (four whole weeks)
	End      time.Time      // exclusive; default today's local midnight
	Location *time.Location // default America/New_York
	Patients int            // default 1200
}

// Output is the generated practice: its roster and its logs in the sources'
// own formats, ready for phiwatch's parsers.
type Output struct {
	Start, End time.Time
	Location   *time.Location
	Staff      []Person
	Roster     string
	FHIR       []byte // fhir-auditevent NDJSON (EHR)
	M365       []byte // m365-audit NDJSON (email)
	ASA        []byte // cisco-asa syslog lines (VPN)
	// MessageTrace is an Exchange Online message trace export
	// (message-trace CSV): the outside mail the audit log does not address.
	MessageTrace []byte
	// Tenants is the practice's tenants file (TenantsYAML): its time zone,
	// hours and allow-list.
	Tenants string
	// GeoCSV places the documentation-range addresses the logs use, in
	// phiwatch's CIDR CSV format (docs/geoip.md): staff homes in
	// Cambridge, MA, and one range abroad.
	GeoCSV string
	// FHIR R4 reference feeds (NDJSON): the patient panel, the physicians,
	// the schedule that drives the chart access and the visits it became.
	Patients, Practitioners, Appointments, Encounters []byte
	Cases                                             []Case
	Records                                           map[string]int // log records by format
	References                                        map[string]int // FHIR reference resources by kind
	// HardNegatives describes the planted activity that looks suspicious
	// but is explained and must raise nothing.
	HardNegatives []string
}

type gen struct {
	o    Options
	r    *rand.Rand
	out  *Output
	byID map[string]*Person
	fhir []stamped
	m365 []stamped
	asa  []stamped
	// traces are message trace rows.
	traces []stamped
	seq    int
	wsIP   map[string]string
	vpnIP  int

	pats, pracs, appts, encs [][]byte
	visits                   []visit        // arrived visits, in day order
	forced                   map[int][]slot // day → slots booked for special patients
}

// visit is one arrived appointment.
type visit struct {
	day int
	at  time.Time
	pt  string
}

// slot books a special patient into the first physician's schedule,
// optionally with a named front-desk clerk checking them in.
type slot struct{ pt, desk string }

// stamped records are sorted by time before writing, as a source emits them.
type stamped struct {
	at   time.Time
	line []byte
}

// Generate builds the practice's month.
func Generate(o Options) (*Output, error) {
	if o.Days <= 0 {
		o.Days = 28
	}
	if o.Location == nil {
		loc, err := time.LoadLocation("America/New_York")
		if err != nil {
			return nil, fmt.Errorf("load time zone: %w", err)
		}
		o.Location = loc
	}
	if o.End.IsZero() {
		n := time.Now().In(o.Location)
		o.End = time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, o.Location)
	}
	if o.Patients <= 0 {
		o.Patients = 1200
	}
	end := o.End.In(o.Location)
	start := time.Date(end.Year(), end.Month(), end.Day()-o.Days, 0, 0, 0, 0, o.Location)
	g := &gen{o: o, r: rand.New(rand.NewPCG(o.Seed, 0xdecafbad)), byID: map[string]*Person{}, wsIP: map[string]string{}, forced: map[int][]slot{}}
	g.out = &Output{Start: start, End: end, Location: o.Location, Records: map[string]int{}}
	g.out.Staff = staff(g.r)
	for i := range g.out.Staff {
		p := &g.out.Staff[i]
		g.byID[p.ID] = p
		g.wsIP[p.ID] = fmt.Sprintf("10.20.1.%d", 20+i)
	}
	g.out.Roster = RosterCSV(g.out.Staff, start)
	g.out.GeoCSV = geoCSV
	g.patients()
	g.practitioners()
	g.plan(start)
	for d := range o.Days {
		g.day(d, start.AddDate(0, 0, d))
	}
	g.inject(start)
	g.out.FHIR = flush(g.fhir)
	g.out.M365 = flush(g.m365)
	g.out.ASA = flush(g.asa)
	g.out.MessageTrace = append([]byte(messageTraceHeader+"\n"), flush(g.traces)...)
	g.out.Records["message-trace"] = len(g.traces)
	g.out.Tenants = TenantsYAML(g.out)
	g.out.Records["fhir-auditevent"], g.out.Records["m365-audit"], g.out.Records["cisco-asa"] = len(g.fhir), len(g.m365), len(g.asa)
	g.out.Patients, g.out.Practitioners, g.out.Appointments, g.out.Encounters = lines(g.pats), lines(g.pracs), lines(g.appts), lines(g.encs)
	g.out.References = map[string]int{"patients": len(g.pats), "practitioners": len(g.pracs), "appointments": len(g.appts), "encounters": len(g.encs)}
	return g.out, nil
}

func flush(recs []stamped) []byte {
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].at.Before(recs[j].at) })
	var b bytes.Buffer
	for _, r := range recs {
		b.Write(r.line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func lines(recs [][]byte) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		b.Write(r)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func (g *gen) working(p *Person, d int) bool { return p.Terminated < 0 || d <= p.Terminated }

func (g *gen) pick(role string, d int) *Person {
	var c []*Person
	for i := range g.out.Staff {
		p := &g.out.Staff[i]
		if p.Role == role && g.working(p, d) {
			c = append(c, p)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[g.r.IntN(len(c))]
}

func (g *gen) patient() string { return fmt.Sprintf("MRN%06d", 1000+g.r.IntN(g.o.Patients)) }

func (g *gen) jitter(at time.Time, minutes int) time.Time {
	return at.Add(time.Duration(g.r.IntN(minutes*60)) * time.Second)
}

// day writes one day of ordinary work.
func (g *gen) day(d int, date time.Time) {
	if wd := date.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return
	}
	// Everyone signs in to Microsoft 365 and works their mail.
	for i := range g.out.Staff {
		p := &g.out.Staff[i]
		if !g.working(p, d) {
			continue
		}
		in := g.jitter(date.Add(time.Duration(p.Start)*time.Hour), 20)
		g.m365Rec(in, "UserLoggedIn", p.Email, g.wsIP[p.ID], nil)
		for range 3 + g.r.IntN(4) {
			at := g.jitter(date.Add(time.Duration(p.Start)*time.Hour+30*time.Minute), (p.End-p.Start-1)*60)
			g.m365Rec(at, "MailItemsAccessed", p.Email, g.wsIP[p.ID], map[string]any{"MailboxOwnerUPN": p.Email, "LogonType": 0})
		}
		for range g.r.IntN(4) {
			at := g.jitter(date.Add(time.Duration(p.Start)*time.Hour+time.Hour), (p.End-p.Start-2)*60)
			g.m365Rec(at, "Send", p.Email, g.wsIP[p.ID], map[string]any{"Item": map[string]any{"Subject": "Re: schedule", "SizeInBytes": 2000 + g.r.IntN(90000)}})
		}
	}
	// The schedule drives the chart access: each slot is an Appointment;
	// one in twenty patients does not show, the rest become Encounters.
	var seen []visit
	forced := g.forced[d]
	for i := range g.out.Staff {
		doc := &g.out.Staff[i]
		if doc.Role != "physician" {
			continue
		}
		slots, step := 17, 30*time.Minute
		busy := d == g.busyDay(g.out.Start)
		if busy {
			slots, step = 34, 15*time.Minute
		}
		for sl := 0; sl < slots; sl++ {
			var special *slot
			if doc == g.first("physician") && len(forced) > 0 {
				special, forced = &forced[0], forced[1:]
			}
			if special == nil && !busy && g.r.IntN(100) >= 85 {
				continue
			}
			at := date.Add(8*time.Hour + time.Duration(sl)*step)
			pt := g.patient()
			if special != nil {
				pt = special.pt
			}
			apptID := fmt.Sprintf("appt-%s-%s-%02d", date.Format("20060102"), doc.ID, sl)
			noShow := special == nil && g.r.IntN(20) == 0
			status := "fulfilled"
			if noShow {
				status = "noshow"
			}
			g.appointment(apptID, pt, doc, at, status)
			fd := g.pick("front_desk", d)
			if special != nil && special.desk != "" {
				fd = g.byID[special.desk]
			}
			if fd != nil {
				g.ehr(at.Add(-12*time.Minute), fd, "search-type", "", g.wsIP[fd.ID])
				g.ehr(at.Add(-10*time.Minute), fd, "read", pt, g.wsIP[fd.ID])
			}
			if noShow {
				continue
			}
			g.encounter("enc-"+strings.TrimPrefix(apptID, "appt-"), apptID, pt, doc, at.Add(2*time.Minute), at.Add(28*time.Minute), "AMB")
			v := visit{d, at, pt}
			g.visits = append(g.visits, v)
			if special == nil {
				// Billing never codes a special patient's visit: one of
				// them is the billing clerk herself.
				seen = append(seen, v)
			}
			if ma := g.pick("medical_assistant", d); ma != nil {
				g.ehr(g.jitter(at, 3), ma, "read", pt, g.wsIP[ma.ID])
				g.ehr(g.jitter(at.Add(5*time.Minute), 3), ma, "update", pt, g.wsIP[ma.ID])
			}
			if g.r.IntN(10) < 3 {
				if rn := g.pick("nurse", d); rn != nil {
					g.ehr(g.jitter(at.Add(12*time.Minute), 5), rn, "read", pt, g.wsIP[rn.ID])
				}
			}
			g.ehr(g.jitter(at.Add(8*time.Minute), 4), doc, "read", pt, g.wsIP[doc.ID])
			g.ehr(g.jitter(at.Add(24*time.Minute), 4), doc, "update", pt, g.wsIP[doc.ID])
		}
		// Physicians finish their notes from home three evenings a week.
		if doc.Evenings && (date.Weekday() == time.Monday || date.Weekday() == time.Tuesday || date.Weekday() == time.Thursday) {
			var pts []string
			for _, v := range seen {
				pts = append(pts, v.pt)
			}
			g.vpnSession(doc, g.jitter(date.Add(19*time.Hour), 15), 80, 4+g.r.IntN(3), pts)
		}
	}
	// Billing codes the day's visits once they happened, before going home.
	for _, v := range seen {
		if b := g.pick("billing", d); b != nil && g.r.IntN(3) == 0 {
			from := v.at.Add(40 * time.Minute)
			g.ehr(g.jitter(from, max(1, int(date.Add(time.Duration(b.End)*time.Hour).Sub(from).Minutes()))), b, "read", v.pt, g.wsIP[b.ID])
		}
	}
}

// vpnSession connects p from home, opens n charts from a list, disconnects.
func (g *gen) vpnSession(p *Person, at time.Time, minutes, n int, charts []string) []string {
	return g.vpnSessionFrom(p, fmt.Sprintf("198.51.100.%d", 10+len(p.ID)*3%200), at, minutes, n, charts)
}

// vpnSessionFrom is vpnSession from a given public address.
func (g *gen) vpnSessionFrom(p *Person, home string, at time.Time, minutes, n int, charts []string) []string {
	user := p.ID
	if p.VPNUser != "" {
		user = p.VPNUser
	}
	g.vpnIP++
	assigned := fmt.Sprintf("10.20.99.%d", 10+g.vpnIP%200)
	g.asaRec(at, 6, 113004, fmt.Sprintf("AAA user authentication Successful : server =  10.20.0.5 : user = %s", user))
	g.asaRec(at.Add(2*time.Second), 4, 113039, fmt.Sprintf("Group <RemoteStaff> User <%s> IP <%s> AnyConnect parent session started.", user, home))
	g.asaRec(at.Add(3*time.Second), 5, 722051, fmt.Sprintf("Group <RemoteStaff> User <%s> IP <%s> IPv4 Address <%s> IPv6 address <::> assigned to session", user, home, assigned))
	var opened []string
	for i := range n {
		pt := g.patient()
		if len(charts) > 0 {
			pt = charts[g.r.IntN(len(charts))]
		}
		g.ehr(at.Add(time.Duration(2+i*(minutes-5)/max(n, 1))*time.Minute), p, "read", pt, assigned)
		opened = append(opened, pt)
	}
	dur := time.Duration(minutes) * time.Minute
	g.asaRec(at.Add(dur), 4, 113019, fmt.Sprintf("Group = RemoteStaff, Username = %s, IP = %s, Session disconnected. Session Type: AnyConnect-Parent, Duration: %dh:%02dm:%02ds, Bytes xmt: %d, Bytes rcv: %d, Reason: User Requested",
		user, home, int(dur.Hours()), int(dur.Minutes())%60, 0, 2_000_000+g.r.IntN(9_000_000), 300_000+g.r.IntN(900_000)))
	return opened
}

// inject adds the suspicious cases.
func (g *gen) inject(start time.Time) {
	// 1. A front-desk clerk opens thirty charts at 1 a.m. on a Saturday.
	sat := start.AddDate(0, 0, 7)
	for sat.Weekday() != time.Saturday {
		sat = sat.AddDate(0, 0, 1)
	}
	g.vpnSession(g.byID["dortiz"], sat.Add(55*time.Minute), 95, 30, nil)
	g.out.Cases = append(g.out.Cases, Case{Name: "front desk opens 30 charts at 1 a.m. on a Saturday", Rule: "after_hours_access", ActorID: "dortiz", Day: sat})

	// 2. A nurse who left on day 12 comes back over the VPN on day 15, late.
	d15 := start.AddDate(0, 0, 15)
	// She opens charts of patients seen the week before she left, which a
	// colleague of her department treated: no clinical-relationship alert.
	g.vpnSession(g.byID["jlee"], d15.Add(23*time.Hour+10*time.Minute), 40, 6, g.recent(12, 7))
	g.out.Cases = append(g.out.Cases,
		Case{Name: "terminated nurse uses her VPN and EHR accounts three days after leaving", Rule: "terminated_user_activity", ActorID: "jlee", Day: d15},
		Case{Name: "…and does it at 11 p.m.", Rule: "after_hours_access", ActorID: "jlee", Day: d15})

	// 3. A billing clerk browses charts at 21:30 on a weekday, in the office.
	wed := start.AddDate(0, 0, 14)
	for wed.Weekday() != time.Wednesday {
		wed = wed.AddDate(0, 0, 1)
	}
	sam := g.byID["sreyes"]
	for i := range 8 {
		g.ehr(wed.Add(21*time.Hour+30*time.Minute+time.Duration(i*3)*time.Minute), sam, "read", g.patient(), g.wsIP[sam.ID])
	}
	g.out.Cases = append(g.out.Cases, Case{Name: "billing clerk opens 8 charts at 21:30", Rule: "after_hours_access", ActorID: "sreyes", Day: wed})

	// 4. A medical assistant who left on day 5 has her mailbox read on day 20.
	d20 := start.AddDate(0, 0, 20).Add(2*time.Hour + 14*time.Minute)
	av := g.byID["aweber"]
	for i := range 3 {
		g.m365Rec(d20.Add(time.Duration(i)*time.Minute), "MailItemsAccessed", av.Email, "192.0.2.200", map[string]any{"MailboxOwnerUPN": av.Email, "LogonType": 0})
	}
	g.out.Cases = append(g.out.Cases, Case{Name: "a former medical assistant's mailbox is read two weeks after she left", Rule: "terminated_user_activity", ActorID: "aweber", Day: d20})

	g.injectRelationships(start)
	g.injectVolume(start)
}

// first is the first employed member of a role in roster order, so the
// planted cases name the same person for every seed.
func (g *gen) first(role string) *Person {
	for i := range g.out.Staff {
		if p := &g.out.Staff[i]; p.Role == role && p.Terminated < 0 {
			return p
		}
	}
	return nil
}

// recent lists the patients of visits in the n days up to day d.
func (g *gen) recent(d, n int) []string {
	var out []string
	for _, v := range g.visits {
		if v.day <= d && v.day > d-n && !strings.HasPrefix(v.pt, specialPrefix) {
			out = append(out, v.pt)
		}
	}
	return out
}

var interactions = map[string]string{"read": "R", "update": "U", "search-type": "E", "create": "C", "print": "R"}

// ehr writes one FHIR R4 AuditEvent in the IHE BALP style.
func (g *gen) ehr(at time.Time, p *Person, interaction, patient, ip string) {
	g.ehrFor(at, p, interaction, patient, ip, "TREAT")
}

// ehrFor writes an AuditEvent with a purpose of use: ETREAT is break-glass.
func (g *gen) ehrFor(at time.Time, p *Person, interaction, patient, ip, purpose string) {
	g.seq++
	ev := map[string]any{
		"resourceType": "AuditEvent",
		"id":           fmt.Sprintf("ae-%s-%07d", at.Format("20060102"), g.seq),
		"type":         map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "Restful Operation"},
		"subtype":      []any{map[string]any{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}},
		"action":       interactions[interaction],
		"recorded":     at.In(g.o.Location).Format("2006-01-02T15:04:05.000-07:00"),
		"outcome":      "0",
		"purposeOfEvent": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose}}}},
		"agent": []any{
			map[string]any{
				"type":      map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}}},
				"role":      []any{map[string]any{"coding": []any{map[string]any{"system": "urn:phiwatch:demo:role", "code": p.Role}}}},
				"who":       map[string]any{"identifier": map[string]any{"system": "urn:phiwatch:demo:user", "value": p.ID}, "display": p.Name},
				"requestor": true,
				"network":   map[string]any{"address": ip, "type": "2"},
			},
			map[string]any{
				"type":      map[string]any{"coding": []any{map[string]any{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110150", "display": "Application"}}},
				"who":       map[string]any{"display": "Riverside EHR"},
				"requestor": false,
			},
		},
		"source": map[string]any{"observer": map[string]any{"display": "Riverside EHR"}},
	}
	if patient != "" {
		ev["entity"] = []any{map[string]any{
			"what": map[string]any{"reference": "Patient/" + patient},
			"type": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
			"role": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"},
		}}
	}
	b, _ := json.Marshal(ev)
	g.fhir = append(g.fhir, stamped{at, b})
}

// m365Rec writes one Office 365 Management Activity API record.
func (g *gen) m365Rec(at time.Time, op, upn, ip string, extra map[string]any) {
	g.seq++
	rec := map[string]any{
		"CreationTime":   at.UTC().Format("2006-01-02T15:04:05"),
		"Id":             fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", g.seq, g.seq%65536, g.seq%4096, g.seq%4096, g.seq),
		"Operation":      op,
		"OrganizationId": "5b3c1a9e-riverside",
		"UserId":         upn,
		"UserKey":        upn,
		"ClientIP":       ip,
	}
	switch op {
	case "UserLoggedIn", "UserLoginFailed":
		rec["RecordType"], rec["Workload"], rec["ResultStatus"] = 15, "AzureActiveDirectory", "Success"
	default:
		rec["RecordType"], rec["Workload"], rec["ResultStatus"] = 2, "Exchange", "Succeeded"
		if op == "MailItemsAccessed" {
			rec["RecordType"] = 50
		}
	}
	for k, v := range extra {
		rec[k] = v
	}
	b, _ := json.Marshal(rec)
	g.m365 = append(g.m365, stamped{at, b})
}

// asaRec writes one Cisco ASA syslog line (UTC timestamps, with year).
func (g *gen) asaRec(at time.Time, sev, id int, msg string) {
	pri := 20*8 + sev // facility local4
	line := fmt.Sprintf("<%d>%s riverside-asa : %%ASA-%d-%d: %s", pri, at.UTC().Format("Jan 02 2006 15:04:05"), sev, id, msg)
	g.asa = append(g.asa, stamped{at, []byte(line)})
}
