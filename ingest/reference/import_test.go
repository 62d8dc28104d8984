package reference

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/storetest"
)

var shared = storetest.New("reference_test")

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

func testStore(t *testing.T) store.Store { return shared.Store(t) }

// importFile imports a testdata file (or text) at a fixed time.
func importFile(t *testing.T, s store.Store, tenant string, kind Kind, in io.Reader, at time.Time) (Result, error) {
	t.Helper()
	return Import(context.Background(), s, in, Options{Tenant: tenant, Kind: kind, Source: string(kind), ImportedBy: "test",
		Now: func() time.Time { return at }})
}

func mustImport(t *testing.T, s store.Store, tenant string, kind Kind, file string, at time.Time) Result {
	t.Helper()
	res, err := importFile(t, s, tenant, kind, open(t, file), at)
	if err != nil {
		t.Fatalf("import %s: %v", file, err)
	}
	if res.LinksErr != nil {
		t.Fatalf("import %s: %v", file, res.LinksErr)
	}
	return res
}

func count(t *testing.T, s store.Store, table, tenant string) uint64 {
	t.Helper()
	var n []struct {
		N uint64 `json:"n"`
	}
	if err := s.Select(context.Background(), &n, "SELECT count() AS n FROM "+s.Database()+"."+table+" WHERE tenant_id = {t:String}", store.Params{"t": tenant}); err != nil {
		t.Fatal(err)
	}
	return n[0].N
}

func TestImportEveryFeed(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	const tenant = "clinic-import"
	t1 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

	res := mustImport(t, s, tenant, KindRoster, "roster.csv", t1)
	if res.Imported != 5 || res.Summary(tenant) != "imported 5 people (2 terminated) into the roster of clinic-import" {
		t.Fatalf("roster: %+v / %s", res, res.Summary(tenant))
	}
	if res.Links.People != 5 || len(res.Links.Ambiguous) != 1 || res.Links.Ambiguous[0].Actor != "asmith" {
		t.Fatalf("the roster import rebuilt identity links: %+v", res.Links)
	}
	res = mustImport(t, s, tenant, KindAccounts, "accounts.csv", t1)
	if res.Imported != 6 || res.Detail != "ehr 1, m365 2, vpn 3" {
		t.Fatalf("accounts: %+v", res)
	}
	res = mustImport(t, s, tenant, KindPractitioners, "practitioners.ndjson", t1)
	if res.Imported != 4 || res.Read != 7 || len(res.Rejected) != 3 || !strings.Contains(res.Summary(tenant), "3 of 7 records rejected") {
		t.Fatalf("practitioners: %+v", res)
	}
	res = mustImport(t, s, tenant, KindPractitionerRoles, "practitioner-roles.ndjson", t1)
	if res.Imported != 1 {
		t.Fatalf("practitioner roles: %+v", res)
	}
	res = mustImport(t, s, tenant, KindPatients, "patients.ndjson", t1)
	if res.Imported != 4 || res.Detail != "2 restricted" || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "Practitioner ×1") {
		t.Fatalf("patients: %+v", res)
	}
	res = mustImport(t, s, tenant, KindAppointments, "schedule-bundle.json", t1)
	if res.Imported != 1 || len(res.Rejected) != 2 {
		t.Fatalf("appointments: %+v", res)
	}
	res = mustImport(t, s, tenant, KindEncounters, "encounters.ndjson", t1)
	if res.Imported != 2 {
		t.Fatalf("encounters: %+v", res)
	}
	for table, want := range map[string]uint64{"workforce_current": 5, "accounts_current": 6, "practitioners_current": 4,
		"practitioner_roles_current": 1, "patients_current": 4, "appointments_current": 1, "encounters_current": 2} {
		if n := count(t, s, table, tenant); n != want {
			t.Errorf("%s holds %d rows of %s, want %d", table, n, tenant, want)
		}
	}

	// What the views read back, typed as stored.
	var w []struct {
		Name  string   `json:"name"`
		VPN   string   `json:"vpn_username"`
		Birth string   `json:"birth"`
		Term  *string  `json:"termination_date"`
		Alias []string `json:"aliases"`
	}
	if err := s.Select(ctx, &w, "SELECT name, vpn_username, toString(birth_date) AS birth, termination_date, aliases FROM "+s.Database()+
		".workforce_current WHERE tenant_id = {t:String} AND user_id = 'jlee'", store.Params{"t": tenant}); err != nil {
		t.Fatal(err)
	}
	if len(w) != 1 || w[0].Name != "Jamie Lee" || w[0].VPN != "vpn-jlee" || w[0].Birth != "1990-11-03" || w[0].Term == nil || *w[0].Term != "2026-10-12" {
		t.Fatalf("jlee in workforce_current: %+v", w)
	}
	var p []struct {
		MRN        string   `json:"mrn"`
		Restricted bool     `json:"restricted"`
		Labels     []string `json:"security_labels"`
		Birth      string   `json:"birth"`
		Source     string   `json:"source"`
	}
	patient := "SELECT mrn, restricted, security_labels, toString(birth_date) AS birth, " +
		"(SELECT argMax(source, imported_at) FROM " + s.Database() + ".patients WHERE tenant_id = {t:String} AND patient_id = 'p1') AS source " +
		"FROM " + s.Database() + ".patients_current WHERE tenant_id = {t:String} AND patient_id = 'p1'"
	if err := s.Select(ctx, &p, patient, store.Params{"t": tenant}); err != nil {
		t.Fatal(err)
	}
	if len(p) != 1 || p[0].MRN != "MRN001234" || !p[0].Restricted || len(p[0].Labels) != 2 || p[0].Birth != "1958-07-21" || p[0].Source != "patients" {
		t.Fatalf("p1 in patients_current: %+v", p)
	}

	// A later export changes p1 (no longer VIP) and adds p8: the new
	// version wins, the old one stays in the table as history.
	t2 := t1.Add(24 * time.Hour)
	later := `{"resourceType":"Patient","id":"p1","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"MRN001234"}],"birthDate":"1958-07-21"}` + "\n" +
		`{"resourceType":"Patient","id":"p8","meta":{"security":[{"code":"EMP"}]}}` + "\n"
	if res, err := importFile(t, s, tenant, KindPatients, strings.NewReader(later), t2); err != nil || res.Imported != 2 {
		t.Fatalf("second patients import: %+v, %v", res, err)
	}
	if err := s.Select(ctx, &p, patient, store.Params{"t": tenant}); err != nil {
		t.Fatal(err)
	}
	if len(p) != 1 || p[0].Restricted || len(p[0].Labels) != 0 {
		t.Fatalf("p1 after the second import: %+v", p)
	}
	if n := count(t, s, "patients", tenant); n != 6 {
		t.Errorf("patients holds %d versions, want 6 (4 + 2: history is kept)", n)
	}
	if n := count(t, s, "patients_current", tenant); n != 5 {
		t.Errorf("patients_current holds %d, want 5", n)
	}

	// A new VPN inventory without vpn-jlee: it is gone from the VPN; the
	// other systems' accounts are untouched.
	vpn := "account_id,owner_user_id\nvpn-dortiz,dortiz\nvpn-admin,\n"
	if _, err := Import(ctx, s, strings.NewReader(vpn), Options{Tenant: tenant, Kind: KindAccounts, System: "vpn", Now: func() time.Time { return t2 }}); err != nil {
		t.Fatal(err)
	}
	var a []struct {
		ID string `json:"account_id"`
	}
	if err := s.Select(ctx, &a, "SELECT account_id FROM "+s.Database()+".accounts_current WHERE tenant_id = {t:String} ORDER BY system, account_id", store.Params{"t": tenant}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(a); got != "[{mkhan} {dortiz@riverside.example} {frontdesk@riverside.example} {vpn-admin} {vpn-dortiz}]" {
		t.Fatalf("accounts_current after the second VPN snapshot: %s", got)
	}
}

// The roster and account inventories are all or nothing: a bad line stores
// nothing. A FHIR file with no readable resource stores nothing either.
func TestImportRejects(t *testing.T) {
	s := testStore(t)
	const tenant = "clinic-rejects"
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		kind Kind
		in   string
		want string
	}{
		{"roster with a bad line", KindRoster, "user_id,hire_date\nok,2020-01-01\nbad,01/02/2020\n", "roster rejected, nothing imported:\nline 3: hire_date"},
		{"accounts with a bad line", KindAccounts, "system,account_id\nvpn,a\nldap,b\n", "account inventory rejected, nothing imported"},
		{"no readable patient", KindPatients, "{\"resourceType\":\"Patient\"}\nnot json\n", "no Patient resource could be read, nothing imported:\nline 1: the resource has no id\nline 2: not a FHIR resource"},
		{"the wrong resource type", KindEncounters, `{"resourceType":"Patient","id":"p"}`, "no Encounter resources in the file (skipped resources of other types (this import reads Encounter): Patient ×1)"},
		{"unknown kind", Kind("schedules"), "", `unknown reference feed "schedules"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := importFile(t, s, tenant, c.kind, strings.NewReader(c.in), at)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	for _, table := range []string{"workforce", "accounts", "patients", "encounters", "identity_links"} {
		if n := count(t, s, table, tenant); n != 0 {
			t.Errorf("%s holds %d rows after rejected imports", table, n)
		}
	}
	if _, err := importFile(t, s, "Bad Tenant", KindRoster, strings.NewReader("user_id\nx\n"), at); err == nil || !strings.Contains(err.Error(), "tenant") {
		t.Fatalf("bad tenant: %v", err)
	}
}
