package analyze

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

// geoPlace is a GeoIP answer as ingest/enrich writes it into attrs.
type geoPlace struct {
	country, city string
	lat, lon      float64
	noCoords      bool
}

var (
	newYork   = geoPlace{country: "US", city: "New York", lat: 40.71, lon: -74.01}
	newark    = geoPlace{country: "US", city: "Newark", lat: 40.74, lon: -74.17}
	boston    = geoPlace{country: "US", city: "Boston", lat: 42.36, lon: -71.06}
	london    = geoPlace{country: "GB", city: "London", lat: 51.51, lon: -0.13}
	bucharest = geoPlace{country: "RO", city: "Bucharest", lat: 44.43, lon: 26.10}
	saoPaulo  = geoPlace{country: "BR", city: "Sao Paulo", lat: -23.55, lon: -46.63}
	nowhere   = geoPlace{}
)

func (p geoPlace) attrs() map[string]string {
	if p.country == "" {
		return nil
	}
	a := map[string]string{"geo_country": p.country, "geo_city": p.city}
	if !p.noCoords {
		a["geo_lat"], a["geo_lon"] = fmt.Sprintf("%.2f", p.lat), fmt.Sprintf("%.2f", p.lon)
	}
	return a
}

// events builds one tenant's test events.
type evBuilder struct {
	tenant string
	rows   []store.EventRow
}

func (b *evBuilder) add(e event.Event) string {
	e.TenantID = b.tenant
	if e.SourceSystem == "" {
		e.SourceSystem = "test"
	}
	if e.Outcome == "" {
		e.Outcome = event.OutcomeSuccess
	}
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	e.ReceivedAt = e.Time
	e.Raw = fmt.Sprint(len(b.rows), e.Actor.ID, e.Time.UnixNano(), e.Action, e.ClientIP)
	e.EventID = event.ID(b.tenant, e.SourceSystem, e.Raw)
	b.rows = append(b.rows, store.NewEventRow(&e, 0))
	return e.EventID
}

func (b *evBuilder) vpn(actor string, action event.Action, outcome event.Outcome, at time.Time, ip string, p geoPlace, session string) string {
	var v *event.VPN
	if session != "" {
		v = &event.VPN{SessionID: session}
	}
	return b.add(event.Event{SourceKind: event.KindVPN, Actor: event.Actor{ID: actor}, Action: action, Outcome: outcome,
		Time: at, ClientIP: ip, Attrs: p.attrs(), VPN: v})
}

func (b *evBuilder) insert(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.InsertEvents(context.Background(), b.rows, ""); err != nil {
		t.Fatal(err)
	}
}

func addPeople(t *testing.T, s store.Store, tenant string, rows ...store.WorkforceRow) {
	t.Helper()
	for i := range rows {
		rows[i].TenantID, rows[i].ImportedAt, rows[i].RetainUntil = tenant, time.Now(), time.Now().AddDate(7, 0, 0)
	}
	if err := s.InsertWorkforce(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
}

func detectAll(t *testing.T, s store.Store, d Detector, tenant string, w Window) map[string][]store.AlertRow {
	t.Helper()
	alerts, err := d.Detect(context.Background(), s, Tenant{ID: tenant, Location: time.UTC, Hours: DefaultPracticeHours()}, w)
	if err != nil {
		t.Fatal(err)
	}
	byActor := map[string][]store.AlertRow{}
	for _, a := range alerts {
		if a.Rule != d.Rule() || a.Reason == "" || len(a.Explanations) == 0 || len(a.EvidenceEventIDs) == 0 || len(a.EvidenceEventIDs) > 200 {
			t.Errorf("malformed alert %+v", a)
		}
		byActor[a.ActorID] = append(byActor[a.ActorID], a)
		t.Logf("%s %s: %s", a.Severity, a.ActorID, a.Reason)
	}
	again, err := d.Detect(context.Background(), s, Tenant{ID: tenant, Location: time.UTC, Hours: DefaultPracticeHours()}, w)
	if err != nil || len(again) != len(alerts) {
		t.Fatalf("second run: %d alerts, %v; first %d", len(again), err, len(alerts))
	}
	for i := range again {
		if again[i].AlertID != alerts[i].AlertID {
			t.Fatal("alert ids are not stable across runs")
		}
	}
	return byActor
}

func octoberUTC() Window {
	return Window{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
}

func oct(day, hour, minute int) time.Time {
	return time.Date(2026, 10, day, hour, minute, 0, 0, time.UTC)
}

const vOK, vFail = event.OutcomeSuccess, event.OutcomeFailure

func TestImpossibleTravel(t *testing.T) {
	s := testStore(t)
	tenant := "vpn-travel"
	addPeople(t, s, tenant, store.WorkforceRow{UserID: "alice", Name: "Alice Ng", Role: "billing", Email: "alice@clinic.example"})
	b := &evBuilder{tenant: tenant}
	// Alice: New York, then London two hours later under her email account.
	b.vpn("alice", event.ActionVPNConnect, vOK, oct(5, 10, 0), "203.0.113.10", newYork, "a1")
	b.vpn("Alice@clinic.example", event.ActionLogin, vOK, oct(5, 12, 0), "198.51.100.20", london, "")
	// Bob: the same city twice from two addresses.
	b.vpn("bob", event.ActionVPNConnect, vOK, oct(5, 10, 0), "203.0.113.11", newYork, "")
	b.vpn("bob", event.ActionVPNConnect, vOK, oct(5, 10, 30), "203.0.113.12", newark, "")
	// Carol: countries but no coordinates.
	b.vpn("carol", event.ActionVPNConnect, vOK, oct(5, 10, 0), "203.0.113.13", geoPlace{country: "US", noCoords: true}, "")
	b.vpn("carol", event.ActionVPNConnect, vOK, oct(5, 10, 5), "198.51.100.13", geoPlace{country: "GB", noCoords: true}, "")
	// Dave: New York to Boston by car.
	b.vpn("dave", event.ActionVPNConnect, vOK, oct(5, 10, 0), "203.0.113.14", newYork, "")
	b.vpn("dave", event.ActionVPNConnect, vOK, oct(5, 14, 0), "203.0.113.15", boston, "")
	// Eve: a private address with a (stale) London position, and a failed sign-in from London.
	b.vpn("eve", event.ActionVPNConnect, vOK, oct(5, 10, 0), "203.0.113.16", newYork, "")
	b.vpn("eve", event.ActionVPNConnect, vOK, oct(5, 10, 10), "10.0.0.5", london, "")
	b.vpn("eve", event.ActionLoginFailed, vFail, oct(5, 10, 20), "198.51.100.16", london, "")
	b.insert(t, s)

	got := detectAll(t, s, ImpossibleTravel{}, tenant, octoberUTC())
	if len(got) != 1 || len(got["alice"]) != 1 {
		t.Fatalf("want one alert for alice, got %v", got)
	}
	a := got["alice"][0]
	if a.Severity != SeverityHigh || a.ActorName != "Alice Ng" || a.EvidenceCount != 2 ||
		!strings.Contains(a.Reason, "New York, US (203.0.113.10)") || !strings.Contains(a.Reason, "London, GB") ||
		!strings.Contains(a.Reason, "km/h") || !strings.Contains(a.Reason, "2h apart") {
		t.Fatalf("alert %+v", a)
	}
	if len(detectAll(t, s, ImpossibleTravel{}, tenant, Window{From: oct(6, 0, 0), To: oct(7, 0, 0)})) != 0 {
		t.Fatal("a window without the data must be silent")
	}
}

func TestNewCountry(t *testing.T) {
	s := testStore(t)
	tenant := "vpn-country"
	b := &evBuilder{tenant: tenant}
	for i := range 6 { // Frank: six connects from the US in August and September
		b.vpn("frank", event.ActionVPNConnect, vOK, oct(1, 9, 0).AddDate(0, 0, -10*(i+1)), "203.0.113.20", newYork, "")
	}
	b.vpn("frank", event.ActionVPNConnect, vOK, oct(3, 9, 0), "198.51.100.21", bucharest, "")
	b.vpn("frank", event.ActionVPNConnect, vOK, oct(3, 11, 0), "198.51.100.21", bucharest, "") // same trip: no second alert
	b.vpn("frank", event.ActionVPNConnect, vOK, oct(4, 9, 0), "203.0.113.20", newYork, "")
	// Gina: first-ever connects, the third from another country.
	b.vpn("gina", event.ActionVPNConnect, vOK, oct(2, 9, 0), "203.0.113.22", newYork, "")
	b.vpn("gina", event.ActionVPNConnect, vOK, oct(3, 9, 0), "203.0.113.22", newYork, "")
	b.vpn("gina", event.ActionVPNConnect, vOK, oct(4, 9, 0), "198.51.100.23", london, "")
	// Hal: a long history, then a failed attempt from abroad.
	for i := range 6 {
		b.vpn("hal", event.ActionVPNConnect, vOK, oct(1, 9, 0).AddDate(0, 0, -5*(i+1)), "203.0.113.24", newYork, "")
	}
	b.vpn("hal", event.ActionVPNConnect, vFail, oct(3, 9, 0), "198.51.100.25", saoPaulo, "")
	b.insert(t, s)

	got := detectAll(t, s, NewCountry{}, tenant, octoberUTC())
	if len(got) != 1 || len(got["frank"]) != 1 {
		t.Fatalf("want one alert for frank, got %v", got)
	}
	a := got["frank"][0]
	if a.Severity != SeverityMedium || !strings.Contains(a.Reason, "from Bucharest, RO") || !strings.Contains(a.Reason, "came from US (6)") {
		t.Fatalf("alert %+v", a)
	}
}

func TestBruteForce(t *testing.T) {
	s := testStore(t)
	tenant := "vpn-brute"
	b := &evBuilder{tenant: tenant}
	// Hank: 12 failures a minute apart, then in.
	for i := range 12 {
		b.vpn("hank", event.ActionLoginFailed, vFail, oct(7, 2, i), "198.51.100.30", london, "")
	}
	b.vpn("hank", event.ActionLogin, vOK, oct(7, 2, 40), "198.51.100.30", london, "")
	// Ivy: 10 failures in 9 minutes, never in.
	for i := range 10 {
		b.vpn("ivy", event.ActionLoginFailed, vFail, oct(8, 3, i), "198.51.100.31", london, "")
	}
	// Jack: three typos, then in.
	for i := range 3 {
		b.vpn("jack", event.ActionLoginFailed, vFail, oct(9, 8, i), "203.0.113.32", newYork, "")
	}
	b.vpn("jack", event.ActionLogin, vOK, oct(9, 8, 4), "203.0.113.32", newYork, "")
	// Kim: ten failures spread over a day are not a burst.
	for i := range 10 {
		b.vpn("kim", event.ActionLoginFailed, vFail, oct(10, 8+i, 0), "203.0.113.33", newYork, "")
	}
	// A spray: 25 accounts, once each, from one address in 25 minutes.
	for i := range 25 {
		b.vpn(fmt.Sprintf("user%02d", i), event.ActionLoginFailed, vFail, oct(11, 4, i), "192.0.2.99", bucharest, "")
	}
	b.insert(t, s)

	got := detectAll(t, s, BruteForce{}, tenant, octoberUTC())
	if len(got) != 3 {
		t.Fatalf("want alerts for hank, ivy and the spray, got %v", got)
	}
	if a := got["hank"]; len(a) != 1 || a[0].Severity != SeverityCritical || a[0].EvidenceCount != 13 ||
		!strings.Contains(a[0].Reason, "failed to sign in 12 times") || !strings.Contains(a[0].Reason, "then signed in successfully at 02:40") {
		t.Fatalf("hank: %+v", a)
	}
	if a := got["ivy"]; len(a) != 1 || a[0].Severity != SeverityMedium {
		t.Fatalf("ivy: %+v", a)
	}
	if a := got["192.0.2.99"]; len(a) != 1 || a[0].Severity != SeverityHigh || !strings.Contains(a[0].Reason, "25 different accounts") {
		t.Fatalf("spray: %+v", a)
	}
}

func TestConcurrentSessions(t *testing.T) {
	s := testStore(t)
	tenant := "vpn-conc"
	b := &evBuilder{tenant: tenant}
	// Kate: New York, and an hour later London, with New York still open.
	b.vpn("kate", event.ActionVPNConnect, vOK, oct(12, 10, 0), "203.0.113.40", newYork, "k1")
	b.vpn("kate", event.ActionVPNConnect, vOK, oct(12, 11, 0), "198.51.100.40", london, "k2")
	// Leo: one session ends before the next begins.
	b.vpn("leo", event.ActionVPNConnect, vOK, oct(12, 10, 0), "203.0.113.41", newYork, "l1")
	b.vpn("leo", event.ActionVPNDisconnect, vOK, oct(12, 11, 0), "203.0.113.41", newYork, "l1")
	b.vpn("leo", event.ActionVPNConnect, vOK, oct(12, 20, 0), "198.51.100.41", london, "l2")
	// Mia: laptop at home and phone on the train, 15 km apart.
	b.vpn("mia", event.ActionVPNConnect, vOK, oct(12, 10, 0), "203.0.113.42", newYork, "m1")
	b.vpn("mia", event.ActionVPNConnect, vOK, oct(12, 10, 30), "203.0.113.43", newark, "m2")
	// Ned: a session left open (no disconnect logged) two days ago.
	b.vpn("ned", event.ActionVPNConnect, vOK, oct(10, 10, 0), "203.0.113.44", newYork, "n1")
	b.vpn("ned", event.ActionVPNConnect, vOK, oct(12, 10, 0), "198.51.100.44", london, "n2")
	b.insert(t, s)

	got := detectAll(t, s, ConcurrentSessions{}, tenant, octoberUTC())
	if len(got) != 1 || len(got["kate"]) != 1 {
		t.Fatalf("want one alert for kate, got %v", got)
	}
	if a := got["kate"][0]; a.Severity != SeverityHigh || !strings.Contains(a.Reason, "two VPN sessions open at once") || !strings.Contains(a.Reason, "km apart") {
		t.Fatalf("kate: %+v", a)
	}
}

func TestGeoHelpers(t *testing.T) {
	if km := distanceKm(newYork.lat, newYork.lon, london.lat, london.lon); km < 5500 || km > 5620 {
		t.Fatalf("New York–London %.0f km", km)
	}
	for ip, want := range map[string]bool{"10.1.2.3": false, "100.64.0.1": false, "127.0.0.1": false, "fe80::1": false,
		"::ffff:192.168.1.1": false, "8.8.8.8": true, "203.0.113.9": true, "2001:db8::1": true, "junk": false} {
		if publicIP(ip) != want {
			t.Errorf("publicIP(%s) != %v", ip, want)
		}
	}
}
