package analyze

import (
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

func TestDormantReuse(t *testing.T) {
	s := testStore(t)
	tenant := "dormant"
	addPeople(t, s, tenant, store.WorkforceRow{UserID: "walt", Name: "Walt Kim", Role: "physician", Email: "walt@clinic.example"})
	b := &evBuilder{tenant: tenant}
	ehr := func(actor string, tm time.Time, patient string) {
		b.add(event.Event{SourceKind: event.KindEHR, Actor: event.Actor{ID: actor}, Action: event.ActionView, Time: tm, PatientID: patient})
	}
	june := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	// Walt: last seen in June, back in October opening charts.
	ehr("walt", june, "P0")
	ehr("walt", oct(15, 10, 0), "P1")
	ehr("walt", oct(15, 10, 5), "P2")
	// Xena: VPN from the US in May, back in October from Brazil.
	b.vpn("xena", event.ActionVPNConnect, vOK, time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), "203.0.113.50", newYork, "")
	b.vpn("xena", event.ActionVPNConnect, vOK, oct(10, 9, 0), "198.51.100.50", saoPaulo, "")
	// Yara: mail in June, mail in October: dormant, nothing sensitive.
	b.mail("yara@clinic.example", event.ActionLogin, june, nil, nil)
	b.mail("yara@clinic.example", event.ActionSend, oct(12, 9, 0), &event.Email{Recipients: []string{"a@clinic.example"}}, nil)
	// Zack: active 30 days before.
	ehr("zack", time.Date(2026, 9, 15, 10, 0, 0, 0, time.UTC), "P3")
	ehr("zack", oct(15, 10, 0), "P4")
	// Newbie: never seen before October.
	ehr("newbie", oct(15, 10, 0), "P5")
	b.insert(t, s)

	got := detectAll(t, s, DormantReuse{}, tenant, octoberUTC())
	if len(got) != 3 {
		t.Fatalf("want alerts for walt, xena and yara, got %v", got)
	}
	if a := got["walt"]; len(a) != 1 || a[0].Severity != SeverityHigh || a[0].ActorName != "Walt Kim" || len(a[0].PatientIDs) != 2 ||
		!strings.Contains(a[0].Reason, "after 136 days without any activity (last used 1 Jun 2026)") ||
		!strings.Contains(a[0].Reason, "it opened patient records (2 patients)") {
		t.Fatalf("walt: %+v", a)
	}
	if a := got["xena"]; len(a) != 1 || a[0].Severity != SeverityHigh || !strings.Contains(a[0].Reason, "from BR, a country it had not used before") {
		t.Fatalf("xena: %+v", a)
	}
	if a := got["yara@clinic.example"]; len(a) != 1 || a[0].Severity != SeverityMedium {
		t.Fatalf("yara: %+v", a)
	}
	// A gap wholly inside a long window (Walt: June to October) is found too.
	long := Window{From: time.Date(2026, 5, 15, 0, 0, 0, 0, time.UTC), To: octoberUTC().To}
	if got := detectAll(t, s, DormantReuse{}, tenant, long); len(got["walt"]) != 1 || len(got["xena"]) != 1 {
		t.Fatalf("long window: %v", got)
	}
}
