package identity_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/analyze"
	"github.com/phiwatch/phiwatch/ingest/reference"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/identity"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/storetest"
)

var shared = storetest.New("identity_test")

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

func testStore(t *testing.T) store.Store { return shared.Store(t) }

func importTestdata(t *testing.T, s store.Store, tenant string, kind reference.Kind, file string, at time.Time) reference.Result {
	t.Helper()
	f, err := os.Open("../../ingest/reference/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := reference.Import(context.Background(), s, f, reference.Options{Tenant: tenant, Kind: kind, Source: file, Now: func() time.Time { return at }})
	if err != nil || res.LinksErr != nil {
		t.Fatalf("import %s: %v %v", file, err, res.LinksErr)
	}
	return res
}

// events inserts one event per actor and source kind, n times each, an
// hour apart from start.
func events(t *testing.T, s store.Store, tenant string, start time.Time, n int, byKind map[event.SourceKind][]string) {
	t.Helper()
	var rows []store.EventRow
	for kind, actors := range byKind {
		action := map[event.SourceKind]event.Action{event.KindEHR: event.ActionView, event.KindEmail: event.ActionSend, event.KindVPN: event.ActionVPNConnect}[kind]
		for _, a := range actors {
			for i := range n {
				at := start.Add(time.Duration(i) * time.Hour)
				e := event.Event{TenantID: tenant, SourceKind: kind, SourceSystem: "test", Time: at, ReceivedAt: at,
					Actor: event.Actor{ID: a}, Action: action, Outcome: event.OutcomeSuccess, Raw: fmt.Sprint(kind, a, i)}
				e.EventID = event.ID(tenant, "test", e.Raw)
				rows = append(rows, store.NewEventRow(&e, 0))
			}
		}
	}
	if err := s.InsertEvents(context.Background(), rows, ""); err != nil {
		t.Fatal(err)
	}
}

// One person, five account names across the EHR, Microsoft 365 and the
// VPN, each linked by its own rule; an unknown actor listed, not linked; a
// recycled user name reported as ambiguous, not guessed. Checked through
// the Go API, the SQL mapping detectors join, and the unlinked listing.
func TestIdentityAcrossSourceKinds(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	const tenant = "riverside-family"
	oct := time.Date(2026, 10, 5, 9, 0, 0, 0, time.UTC)
	events(t, s, tenant, oct, 3, map[event.SourceKind][]string{
		event.KindEHR:   {"dortiz", "Practitioner/77", "asmith"},
		event.KindEmail: {"Dana.Ortiz@Riverside.example"},
		event.KindVPN:   {"vpn-dortiz", `RIVERSIDE\dortiz`, "mallory"},
	})
	events(t, s, tenant, oct.Add(48*time.Hour), 2, map[event.SourceKind][]string{event.KindVPN: {"mallory"}, event.KindEHR: {""}})
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	importTestdata(t, s, tenant, reference.KindRoster, "roster.csv", at)
	importTestdata(t, s, tenant, reference.KindAccounts, "accounts.csv", at.Add(time.Minute))
	res := importTestdata(t, s, tenant, reference.KindPractitioners, "practitioners.ndjson", at.Add(2*time.Minute))
	// Practitioner/77 is a key of the practitioners feed itself; only
	// RIVERSIDE\dortiz needs a heuristic on an actor seen in the events.
	if res.Links.Observed != 1 || res.Links.Unlinked != 1 || len(res.Links.Ambiguous) != 1 {
		t.Fatalf("the last import's rebuild: %s (want RIVERSIDE\\dortiz linked from the events, mallory unlinked, asmith ambiguous)", res.Links)
	}

	want := map[string]struct {
		method identity.Method
		conf   float32
	}{
		"dortiz":                       {identity.RosterUserID, 1},
		"Practitioner/77":              {identity.PractitionerIdentifier, 0.9},
		"Dana.Ortiz@Riverside.example": {identity.RosterEmail, 1},
		"vpn-dortiz":                   {identity.AccountOwner, 1},
		`RIVERSIDE\dortiz`:             {identity.DomainUser, 0.9},
	}
	actors := []string{"mallory", "asmith"}
	for a := range want {
		actors = append(actors, a)
	}
	links, err := identity.NewResolver(s).Resolve(ctx, tenant, actors)
	if err != nil {
		t.Fatal(err)
	}
	for a, w := range want {
		if l := links[a]; l.UserID != "dortiz" || l.Method != w.method || l.Confidence != w.conf || l.Evidence == "" {
			t.Errorf("Resolve(%q) = %+v, want dortiz by %s (%v)", a, l, w.method, w.conf)
		}
	}
	if l := links["mallory"]; l.Linked() || l.Method != identity.Unlinked {
		t.Errorf("mallory: %+v", l)
	}
	if l := links["asmith"]; l.Linked() || l.Method != identity.Ambiguous || !slices.Equal(l.Candidates, []string{"asmith", "asmith2"}) {
		t.Errorf("asmith: %+v", l)
	}

	// The SQL mapping: what a detector's join sees, for every event.
	var joined []struct {
		Actor  string  `json:"actor_id"`
		Kind   string  `json:"source_kind"`
		User   string  `json:"user_id"`
		Method string  `json:"method"`
		Conf   float32 `json:"confidence"`
		Cands  []string
	}
	db := s.Database()
	if err := s.Select(ctx, &joined, `
SELECT DISTINCT e.actor_id AS actor_id, toString(e.source_kind) AS source_kind, l.user_id AS user_id, toString(l.method) AS method, l.confidence AS confidence
FROM `+db+`.events AS e
LEFT JOIN (SELECT * FROM `+db+`.identity_links_current WHERE tenant_id = {t:String}) AS l ON lower(e.actor_id) = l.account_key
WHERE e.tenant_id = {t:String} AND e.actor_id != ''
ORDER BY actor_id`, store.Params{"t": tenant}); err != nil {
		t.Fatal(err)
	}
	if len(joined) != 7 {
		t.Fatalf("joined %d actors, want 7: %+v", len(joined), joined)
	}
	for _, j := range joined {
		switch w, ok := want[j.Actor]; {
		case ok:
			if j.User != "dortiz" || j.Method != string(w.method) || j.Conf != w.conf {
				t.Errorf("identity_links_current for %s (%s): %+v, want dortiz by %s", j.Actor, j.Kind, j, w.method)
			}
		case j.Actor == "asmith":
			if j.User != "" || j.Method != "ambiguous" {
				t.Errorf("asmith in SQL: %+v (want no user, method ambiguous)", j)
			}
		case j.Actor == "mallory":
			if j.User != "" || j.Method != "" {
				t.Errorf("mallory in SQL: %+v (want no link row)", j)
			}
		}
	}

	// The unlinked listing: mallory with its counts, asmith as ambiguous,
	// nothing of dortiz's.
	rep, err := identity.NewResolver(s).Unlinked(ctx, tenant, oct.Add(-time.Hour), oct.Add(7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Actors != 7 || rep.Linked != 5 || len(rep.Unlinked) != 2 || rep.NoActor != 2 {
		t.Fatalf("unlinked report: %+v", rep)
	}
	m, amb := rep.Unlinked[0], rep.Unlinked[1]
	if m.Actor != "mallory" || m.Method != identity.Unlinked || m.Events != 5 || m.BySource["vpn"] != 5 ||
		!m.FirstSeen.Equal(oct) || !m.LastSeen.Equal(oct.Add(49*time.Hour)) {
		t.Errorf("mallory: %+v", m)
	}
	if amb.Actor != "asmith" || amb.Method != identity.Ambiguous || amb.Events != 3 || amb.BySource["ehr"] != 3 || !strings.Contains(amb.Evidence, "not guessed") {
		t.Errorf("asmith: %+v", amb)
	}
	// A window without mallory's first days still lists it, with fewer
	// events; one before all events lists nothing.
	if rep, err = identity.NewResolver(s).Unlinked(ctx, tenant, oct.Add(47*time.Hour), oct.Add(72*time.Hour)); err != nil || len(rep.Unlinked) != 1 || rep.Unlinked[0].Events != 2 {
		t.Fatalf("narrow window: %+v, %v", rep, err)
	}
	if rep, err = identity.NewResolver(s).Unlinked(ctx, tenant, oct.AddDate(0, -1, 0), oct.Add(-time.Hour)); err != nil || rep.Actors != 0 {
		t.Fatalf("empty window: %+v, %v", rep, err)
	}

	// The roster is fixed: Avery Smith gets her own EHR user name. The
	// next import's rebuild links asmith to Alex, and the old build is
	// no longer current.
	fixed := "user_id,name,ehr_username,termination_date\nasmith,Alex Smith,asmith,2024-03-31\nasmith2,Avery Smith,avsmith,\n"
	res, err = reference.Import(ctx, s, strings.NewReader(fixed), reference.Options{Tenant: tenant, Kind: reference.KindRoster,
		Now: func() time.Time { return at.Add(time.Hour) }})
	if err != nil || res.LinksErr != nil || len(res.Links.Ambiguous) != 0 {
		t.Fatalf("fixed roster: %+v %v", res, err)
	}
	var cur []struct {
		User   string `json:"user_id"`
		Method string `json:"method"`
		Builds uint64 `json:"builds"`
	}
	if err := s.Select(ctx, &cur, "SELECT user_id, toString(method) AS method, (SELECT uniqExact(built_at) FROM "+db+".identity_links_current WHERE tenant_id = {t:String}) AS builds FROM "+db+
		".identity_links_current WHERE tenant_id = {t:String} AND account_key = 'asmith'", store.Params{"t": tenant}); err != nil {
		t.Fatal(err)
	}
	if len(cur) != 1 || cur[0].User != "asmith" || cur[0].Method != "roster_user_id" || cur[0].Builds != 1 {
		t.Fatalf("asmith after the fix: %+v", cur)
	}
}

// Tenants never share identities: the same account name belongs to
// different people in two practices.
func TestIdentityIsPerTenant(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	for tenant, roster := range map[string]string{
		"clinic-north": "user_id,name,vpn_username\nkpark,Kim Park,kp\n",
		"clinic-south": "user_id,name,vpn_username\nkpatel,Kiran Patel,kp\n",
	} {
		if _, err := reference.Import(ctx, s, strings.NewReader(roster), reference.Options{Tenant: tenant, Kind: reference.KindRoster, Now: func() time.Time { return at }}); err != nil {
			t.Fatal(err)
		}
	}
	for tenant, user := range map[string]string{"clinic-north": "kpark", "clinic-south": "kpatel", "clinic-west": ""} {
		links, err := identity.NewResolver(s).Resolve(ctx, tenant, []string{"KP"})
		if err != nil {
			t.Fatal(err)
		}
		if l := links["KP"]; l.UserID != user {
			t.Errorf("%s: KP → %+v, want %q", tenant, l, user)
		}
	}
	// A tenant without a roster gets no build at all.
	sum, err := identity.Rebuild(ctx, s, "clinic-west", at, 0)
	if err != nil || sum.People != 0 || !strings.Contains(sum.String(), "no roster yet") {
		t.Fatalf("rebuild without a roster: %+v, %v", sum, err)
	}
}

// The terminated-activity detector sees what identity resolution links: a
// leaver's VPN login in DOMAIN\user form and her EHR session as a FHIR
// Practitioner both count, an ambiguous recycled user name does not.
func TestTerminatedUsesIdentityLinks(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	const tenant = "riverside-terminated"
	after := time.Date(2026, 10, 15, 1, 0, 0, 0, time.UTC) // jlee left on 12 Oct; asmith in 2024
	events(t, s, tenant, after, 1, map[event.SourceKind][]string{
		event.KindVPN: {`RIVERSIDE\jlee`},
		event.KindEHR: {"Practitioner/99", "asmith"},
	})
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	importTestdata(t, s, tenant, reference.KindRoster, "roster.csv", at)
	importTestdata(t, s, tenant, reference.KindPractitioners, "practitioners.ndjson", at)
	w := analyze.Window{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	alerts, err := analyze.Terminated{}.Detect(ctx, s, analyze.Tenant{ID: tenant, Location: time.UTC, Hours: analyze.DefaultPracticeHours()}, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].ActorID != "jlee" || alerts[0].EvidenceCount != 2 ||
		alerts[0].Explanations[1] != `accounts matched: Practitioner/99 (practitioner email), RIVERSIDE\jlee (domain user)` {
		t.Fatalf("alerts: %+v", alerts)
	}
}
