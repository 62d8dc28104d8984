package analyze

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

func TestBulkReadThenWebmail(t *testing.T) {
	s := testStore(t)
	tenant := "xsrc-mail"
	var staff []store.WorkforceRow
	for _, id := range []string{"jo", "kim", "lou", "max"} {
		staff = append(staff, store.WorkforceRow{UserID: id, Name: strings.ToUpper(id[:1]) + id[1:] + " Test", Role: "front_desk", Email: id + "@clinic.example"})
	}
	addPeople(t, s, tenant, staff...)
	b := &evBuilder{tenant: tenant}
	ehr := func(actor string, at time.Time, patient string) {
		b.add(event.Event{SourceKind: event.KindEHR, Actor: event.Actor{ID: actor}, Action: event.ActionView, Time: at, PatientID: patient})
	}
	bulk := func(actor string, at time.Time) {
		for i := range 60 {
			ehr(actor, at.Add(time.Duration(i)*2*time.Minute), fmt.Sprintf("%s-bulk-%d", actor, i))
		}
	}
	send := func(actor string, at time.Time, to string, attachments uint32, size uint64) {
		b.mail(actor+"@clinic.example", event.ActionSend, at, &event.Email{Sender: actor + "@clinic.example", Recipients: []string{to},
			RecipientDomains: []string{domainOf(to)}, External: true, AttachmentCount: attachments, SizeBytes: size}, nil)
	}
	for d := 1; d <= 31; d++ {
		day := time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC)
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			continue
		}
		for _, who := range []string{"jo", "kim", "lou", "max"} {
			for k := range 15 {
				ehr(who, day.Add(8*time.Hour+time.Duration(k*25)*time.Minute), fmt.Sprintf("%s-%d-%d", who, d, k))
			}
		}
	}
	// Jo: 60 more charts in the morning, then 8 MB with 2 attachments to Gmail.
	bulk("jo", oct(21, 10, 0))
	send("jo", oct(21, 15, 0), "jo.home@gmail.com", 2, 8<<20)
	// Kim: an ordinary day, then an attachment to Gmail: email_personal_webmail's business alone.
	send("kim", oct(22, 15, 0), "kim@gmail.com", 1, 300_000)
	// Lou: a bulk day, then mail to a partner clinic, not personal webmail.
	bulk("lou", oct(23, 9, 0))
	send("lou", oct(23, 15, 0), "referrals@partner-clinic.example", 3, 9<<20)
	// Max: a bulk morning, and Gmail eleven hours later: outside the 8 hours.
	bulk("max", oct(26, 8, 0))
	send("max", oct(26, 21, 30), "max@yahoo.com", 2, 6<<20)
	b.insert(t, s)

	got := detectAll(t, s, BulkReadThenWebmail{}, tenant, octoberUTC())
	if len(got) != 1 || len(got["jo"]) != 1 {
		t.Fatalf("want one alert, for jo: %v", got)
	}
	a := got["jo"][0]
	for _, want := range []string{"Jo Test (front desk) opened 75 distinct patients' charts in the EHR between Wed 21 Oct 08:00 and 13:50",
		"then at Wed 21 Oct 15:00 sent 1 message (2 attachments, 8.0 MB) to personal webmail (gmail.com)",
		"their own median is 15 distinct patients a day over 21 other active days"} {
		if !strings.Contains(a.Reason, want) {
			t.Errorf("reason %q lacks %q", a.Reason, want)
		}
	}
	if a.Severity != SeverityCritical || len(a.PatientIDs) != 75 || a.EvidenceCount != 76 {
		t.Fatalf("alert %+v", a)
	}
	// A wider span catches Max; a higher bar lets Jo go.
	if got := detectAll(t, s, BulkReadThenWebmail{Hours: 14}, tenant, octoberUTC()); len(got["max"]) != 1 {
		t.Fatalf("14 hours: %v", got)
	}
	if got := detectAll(t, s, BulkReadThenWebmail{MinRatio: 6}, tenant, octoberUTC()); len(got) != 0 {
		t.Fatalf("ratio 6: %v", got)
	}
}

func TestEHRDuringUnusualVPN(t *testing.T) {
	s := testStore(t)
	tenant := "xsrc-vpn"
	addPeople(t, s, tenant,
		store.WorkforceRow{UserID: "vic", Name: "Vic Hale", Role: "physician", Email: "vic@clinic.example", Aliases: []string{"vpn-vic"}},
	)
	b := &evBuilder{tenant: tenant}
	ehr := func(actor string, at time.Time, patient string) {
		b.add(event.Event{SourceKind: event.KindEHR, Actor: event.Actor{ID: actor}, Action: event.ActionView, Time: at, PatientID: patient})
	}
	// Everyone signs in from New York on eight evenings; xia also twice from London.
	for _, who := range []string{"vpn-vic", "wes", "xia"} {
		for i := range 8 {
			at := oct(1+2*i, 19, 0)
			b.vpn(who, event.ActionVPNConnect, vOK, at, "198.51.100.7", newYork, "")
			b.vpn(who, event.ActionVPNDisconnect, vOK, at.Add(time.Hour), "198.51.100.7", newYork, "")
		}
	}
	for _, d := range []int{3, 9} {
		b.vpn("xia", event.ActionVPNConnect, vOK, oct(d, 12, 0), "203.0.113.9", london, "")
	}
	// Vic (EHR account vic, VPN account vpn-vic) connects from Bucharest and
	// opens three charts; a chart after the disconnect is not in the session.
	b.vpn("vpn-vic", event.ActionVPNConnect, vOK, oct(22, 20, 0), "203.0.113.45", bucharest, "")
	ehr("vic", oct(22, 20, 5), "P1")
	ehr("vic", oct(22, 20, 10), "P2")
	ehr("vic", oct(22, 20, 15), "P1")
	ehr("vic", oct(22, 20, 20), "P3")
	b.vpn("vpn-vic", event.ActionVPNDisconnect, vOK, oct(22, 20, 30), "203.0.113.45", bucharest, "")
	ehr("vic", oct(22, 21, 0), "P4")
	// Wes connects from London and opens nothing.
	b.vpn("wes", event.ActionVPNConnect, vOK, oct(23, 20, 0), "203.0.113.46", london, "")
	// Xia connects from London, usual for her (2 of 10), and opens a chart.
	b.vpn("xia", event.ActionVPNConnect, vOK, oct(24, 20, 0), "203.0.113.47", london, "")
	ehr("xia", oct(24, 20, 10), "P9")
	// Yan has two sign-ins of history: too little to call anything unusual.
	b.vpn("yan", event.ActionVPNConnect, vOK, oct(2, 9, 0), "198.51.100.8", newYork, "")
	b.vpn("yan", event.ActionVPNConnect, vOK, oct(3, 9, 0), "198.51.100.8", newYork, "")
	b.vpn("yan", event.ActionVPNConnect, vOK, oct(25, 9, 0), "203.0.113.48", saoPaulo, "")
	ehr("yan", oct(25, 9, 10), "P10")
	b.insert(t, s)

	got := detectAll(t, s, EHRDuringUnusualVPN{}, tenant, octoberUTC())
	if len(got) != 1 || len(got["vic"]) != 1 {
		t.Fatalf("want one alert, for vic: %v", got)
	}
	a := got["vic"][0]
	if a.Severity != SeverityHigh || strings.Join(a.PatientIDs, ",") != "P1,P2,P3" || a.EvidenceCount != 5 ||
		!strings.Contains(a.Reason, "Vic Hale (physician) opened 3 distinct patients' charts in the EHR during a VPN session from Bucharest, RO (203.0.113.45)") ||
		!strings.Contains(a.Reason, "0 of their 8 VPN sign-ins in the previous 90 days came from RO (theirs: US (8))") {
		t.Fatalf("alert %+v", a)
	}
	// A lower bar for history makes Yan's São Paulo session unusual too.
	if got := detectAll(t, s, EHRDuringUnusualVPN{MinHistory: 2}, tenant, octoberUTC()); len(got["yan"]) != 1 {
		t.Fatalf("min history 2: %v", got)
	}
}
