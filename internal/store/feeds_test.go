package store

import (
	"context"
	"os"
	"testing"
	"time"
)

// The reference-feed tables on both drivers: what goes in reads back
// through the *_current views, pre-1970 birth dates survive (Date32), and a
// later version that clears a nullable value wins (argMax skips NULLs, so
// the views go through tuples).
var feedsSuite = []struct {
	name string
	run  func(t *testing.T, open openFunc)
}{
	{"WorkforceWidenedAndNullsWin", testWorkforceWidened},
	{"AccountsSnapshotPerSystem", testAccountsSnapshot},
	{"PatientsCurrent", testPatientsCurrent},
	{"IdentityLinksLatestBuild", testIdentityLinksLatestBuild},
}

func TestEmbeddedFeeds(t *testing.T) {
	for _, c := range feedsSuite {
		t.Run(c.name, func(t *testing.T) { c.run(t, openTestEmbedded) })
	}
}

// TestServerFeeds runs the same cases on a ClickHouse server; like
// TestServer it needs Docker or PHIWATCH_TEST_CLICKHOUSE and skips without.
func TestServerFeeds(t *testing.T) {
	dsn := os.Getenv("PHIWATCH_TEST_CLICKHOUSE")
	if dsn == "" {
		dsn = startClickHouse(t)
	}
	open := func(t *testing.T, db string) Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := Open(ctx, Options{DSN: dsn, Database: db})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	for _, c := range feedsSuite {
		t.Run(c.name, func(t *testing.T) { c.run(t, open) })
	}
}

func migrated(t *testing.T, open openFunc, db string) Store {
	t.Helper()
	s := open(t, db)
	if _, err := Migrate(context.Background(), s, quiet()); err != nil {
		t.Fatal(err)
	}
	return s
}

func day(s string) *time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func testWorkforceWidened(t *testing.T, open openFunc) {
	s := migrated(t, open, "t_feeds_workforce")
	ctx := context.Background()
	t1 := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	keep := t1.AddDate(7, 0, 0)
	v1 := WorkforceRow{TenantID: "clinic-a", UserID: "jlee", Name: "Jamie Lee", Email: "jamie.lee@clinic.example",
		TerminationDate: day("2026-10-12"), VPNUsername: "vpn-jlee", EHRUsername: "jlee", NPI: "1234567893",
		HomeStreet: "7 Birch Road", HomePostalCode: "02135", BirthDate: day("1948-11-03"), ImportedAt: t1, RetainUntil: keep}
	v2 := v1
	v2.TerminationDate, v2.ImportedAt = nil, t1.Add(time.Hour) // rehired: the date is cleared
	if err := s.InsertWorkforce(ctx, []WorkforceRow{v1}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertWorkforce(ctx, []WorkforceRow{v2}); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Term   *string `json:"termination_date"`
		Birth  string  `json:"birth"`
		VPN    string  `json:"vpn_username"`
		NPI    string  `json:"npi"`
		Street string  `json:"home_street"`
	}
	if err := s.Select(ctx, &got, "SELECT termination_date, toString(birth_date) AS birth, vpn_username, npi, home_street FROM "+s.Database()+".workforce_current WHERE tenant_id = 'clinic-a'", nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Term != nil || got[0].Birth != "1948-11-03" || got[0].VPN != "vpn-jlee" || got[0].NPI != "1234567893" || got[0].Street != "7 Birch Road" {
		t.Fatalf("workforce_current: %+v (want the rehire's NULL termination date and a 1948 birth date)", got)
	}
}

func testAccountsSnapshot(t *testing.T, open openFunc) {
	s := migrated(t, open, "t_feeds_accounts")
	ctx := context.Background()
	t1 := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	row := func(system, id string, at time.Time) AccountRow {
		return AccountRow{TenantID: "clinic-a", System: system, AccountID: id, Enabled: true, ImportedAt: at, RetainUntil: at.AddDate(7, 0, 0),
			LastLogin: &at, Roles: []string{"r"}}
	}
	if err := s.InsertAccounts(ctx, []AccountRow{row("vpn", "a", t1), row("vpn", "b", t1), row("ehr", "a", t1)}); err != nil {
		t.Fatal(err)
	}
	// The next VPN snapshot no longer has b: deleted in the VPN. The EHR
	// inventory was not re-imported and stays as it was.
	if err := s.InsertAccounts(ctx, []AccountRow{row("vpn", "a", t1.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		System string    `json:"system"`
		ID     string    `json:"account_id"`
		Last   time.Time `json:"last_login"`
	}
	if err := s.Select(ctx, &got, "SELECT system, account_id, last_login FROM "+s.Database()+".accounts_current ORDER BY system, account_id", nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].System != "ehr" || got[1].ID != "a" || !got[1].Last.Equal(t1.Add(time.Hour)) {
		t.Fatalf("accounts_current: %+v", got)
	}
}

func testPatientsCurrent(t *testing.T, open openFunc) {
	s := migrated(t, open, "t_feeds_patients")
	ctx := context.Background()
	t1 := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	died := time.Date(2026, 8, 14, 7, 30, 0, 0, time.UTC)
	keep := t1.AddDate(7, 0, 0) // a past retain_until would be dropped by TTL at insert
	p := PatientRow{TenantID: "clinic-a", PatientID: "p1", MRN: "MRN1", Name: "Rosa Ortiz", BirthDate: day("1931-07-21"),
		Restricted: true, SecurityLabels: []string{"VIP"}, ImportedAt: t1, RetainUntil: t1.AddDate(7, 0, 0)}
	p2 := p
	p2.Restricted, p2.SecurityLabels, p2.Deceased, p2.DeceasedAt, p2.ImportedAt = false, nil, true, &died, t1.Add(time.Hour)
	if err := s.InsertPatients(ctx, []PatientRow{p}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertPatients(ctx, []PatientRow{p2}); err != nil {
		t.Fatal(err)
	}
	for _, insert := range []func() error{
		func() error {
			return s.InsertPractitioners(ctx, []PractitionerRow{{TenantID: "clinic-a", PractitionerID: "77", ImportedAt: t1, RetainUntil: keep}})
		},
		func() error {
			return s.InsertPractitionerRoles(ctx, []PractitionerRoleRow{{TenantID: "clinic-a", RoleID: "r1", PeriodStart: &t1, ImportedAt: t1, RetainUntil: keep}})
		},
		func() error {
			return s.InsertAppointments(ctx, []AppointmentRow{{TenantID: "clinic-a", AppointmentID: "a1", Status: "booked", StartTime: &t1, ImportedAt: t1, RetainUntil: keep}})
		},
		func() error {
			return s.InsertEncounters(ctx, []EncounterRow{{TenantID: "clinic-a", EncounterID: "e1", Status: "finished", PatientID: "p1", ImportedAt: t1, RetainUntil: keep}})
		},
	} {
		if err := insert(); err != nil {
			t.Fatal(err)
		}
	}
	var got []struct {
		Birth      string     `json:"birth"`
		Restricted bool       `json:"restricted"`
		Labels     []string   `json:"security_labels"`
		DeceasedAt *time.Time `json:"deceased_at"`
		N          uint64     `json:"n"`
	}
	q := "SELECT toString(birth_date) AS birth, restricted, security_labels, deceased_at, " +
		"(SELECT count() FROM " + s.Database() + ".appointments_current) + (SELECT count() FROM " + s.Database() + ".encounters_current) + " +
		"(SELECT count() FROM " + s.Database() + ".practitioners_current) + (SELECT count() FROM " + s.Database() + ".practitioner_roles_current) AS n " +
		"FROM " + s.Database() + ".patients_current"
	if err := s.Select(ctx, &got, q, nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Birth != "1931-07-21" || got[0].Restricted || len(got[0].Labels) != 0 || got[0].DeceasedAt == nil || !got[0].DeceasedAt.Equal(died) || got[0].N != 4 {
		t.Fatalf("patients_current: %+v", got)
	}
}

func testIdentityLinksLatestBuild(t *testing.T, open openFunc) {
	s := migrated(t, open, "t_feeds_links")
	ctx := context.Background()
	t1 := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	link := func(tenant, key, user string, at time.Time) IdentityLinkRow {
		return IdentityLinkRow{TenantID: tenant, AccountKey: key, UserID: user, Method: "roster_alias", Confidence: 1, Origin: "reference", BuiltAt: at, RetainUntil: at.AddDate(7, 0, 0)}
	}
	if err := s.InsertIdentityLinks(ctx, []IdentityLinkRow{link("a", "x", "u1", t1), link("a", "old", "u1", t1), link("b", "x", "u9", t1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertIdentityLinks(ctx, []IdentityLinkRow{link("a", "x", "u2", t1.Add(time.Minute))}); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Tenant string  `json:"tenant_id"`
		Key    string  `json:"account_key"`
		User   string  `json:"user_id"`
		Conf   float32 `json:"confidence"`
	}
	if err := s.Select(ctx, &got, "SELECT tenant_id, account_key, user_id, confidence FROM "+s.Database()+".identity_links_current ORDER BY tenant_id, account_key", nil); err != nil {
		t.Fatal(err)
	}
	// Tenant a's latest build is whole: "old" is gone; tenant b's build is
	// untouched by a's.
	if len(got) != 2 || got[0].User != "u2" || got[1].Tenant != "b" || got[1].User != "u9" || got[0].Conf != 1 {
		t.Fatalf("identity_links_current: %+v", got)
	}
}
