package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/storetest"
)

// apiStore is the package's one embedded store (chDB opens a single data
// directory per process); each test works in tenants of its own.
var apiStore = storetest.New("api")

func TestMain(m *testing.M) {
	code := m.Run()
	apiStore.Close()
	os.Exit(code)
}

// secEnv is an API over the shared store with one token per role for the
// tenant own, and the store to seed and inspect.
type secEnv struct {
	h      http.Handler
	s      store.Store
	own    string
	now    time.Time
	tokens map[authz.Role]string
	// sessions, when set, holds a browser session per role: do then signs
	// requests in with the cookie (and CSRF token) instead of a token.
	sessions map[authz.Role]sessionCred
	batcher  *audit.Batcher // the trail's writer, when the env made it
}

// flush writes the trail's pending request rows.
func (e *secEnv) flush(t testing.TB) {
	t.Helper()
	if e.batcher != nil {
		if err := e.batcher.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// sessionCred is a signed-in browser: its cookie and CSRF token.
type sessionCred struct{ cookie, csrf string }

var testNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// mspAllRole stands for the msp_admin over all tenants among a secEnv's
// tokens (every other token is scoped to the env's tenant).
const mspAllRole authz.Role = "msp_admin(all tenants)"

func roleToken(tenant string, r authz.Role) string { return "tok-" + tenant + "-" + string(r) }

// newSecEnv builds the API as the binary does, with auditor (nil: the
// store-backed default) and a fixed mask key.
func newSecEnv(t testing.TB, s store.Querier, own string, auditor Auditor) *secEnv {
	t.Helper()
	env := &secEnv{own: own, now: testNow, tokens: map[authz.Role]string{}}
	if st, ok := s.(store.Store); ok {
		env.s = st
	}
	if auditor == nil { // the default, kept so tests can flush it
		env.batcher = audit.NewBatcher(audit.NewStoreAuditor(s), slog.New(slog.NewTextHandler(io.Discard, nil)), audit.BatchOptions{})
		auditor = env.batcher
	}
	var toks []Token
	for _, r := range authz.Roles {
		env.tokens[r] = roleToken(own, r)
		toks = append(toks, Token{Name: string(r) + "@" + own, Token: env.tokens[r], Tenants: []string{own}, Role: string(r)})
	}
	env.tokens[mspAllRole] = "tok-msp-all-tenants-" + own
	toks = append(toks, Token{Name: "msp-all@" + own, Token: env.tokens[mspAllRole], Tenants: []string{"*"}, Role: string(authz.MSPAdmin)})
	tokens, err := NewTokens(toks)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Store: s, Tokens: tokens, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry(), Now: func() time.Time { return testNow }, Auditor: auditor,
		Access:  NewAccess(s, AccessOptions{}), // as the binary runs: tokens and grants in the store too
		MaskKey: []byte("test-mask-key-0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	env.h = h
	return env
}

// do sends a request as role (or without a token when role is "") and
// returns the recorder.
func (e *secEnv) do(t testing.TB, method, path string, role authz.Role, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case role == "":
	case e.sessions != nil:
		cred := e.sessions[role]
		req.Header.Set("Cookie", cred.cookie)
		req.Header.Set(CSRFHeader, cred.csrf)
		req.Header.Set("Origin", "http://"+req.Host)
	default:
		req.Header.Set("Authorization", "Bearer "+e.tokens[role])
	}
	req.Header.Set("User-Agent", "phiwatch-test/1")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// testPatient is a seeded patient whose id and MRN differ, so masking by
// MRN (looked up) and by id are both exercised.
type testPatient struct{ id, mrn, given, family, birth string }

var seedPatients = []testPatient{
	{"pat-0001", "MRN004821", "Jane", "Doe", "1980-02-03"},
	{"pat-0002", "MRN007733", "Luis", "Ortega", "1975-11-30"},
}

// seed gives tenant two patients, two alerts that name them in their
// reasons (by MRN and by name) and events about them; marker is written
// into every row so a cross-tenant leak is visible.
func seed(t testing.TB, s store.Store, tenant, marker string) {
	t.Helper()
	ctx := context.Background()
	var pats []store.PatientRow
	for _, p := range seedPatients {
		bd, _ := time.Parse(time.DateOnly, p.birth)
		pats = append(pats, store.PatientRow{TenantID: tenant, PatientID: p.id, MRN: p.mrn, Name: p.given + " " + p.family,
			GivenNames: p.given, FamilyName: p.family, BirthDate: &bd, Active: true, ImportedAt: testNow, ImportedBy: "test",
			RetainUntil: testNow.AddDate(7, 0, 0)})
	}
	if err := s.InsertPatients(ctx, pats); err != nil {
		t.Fatal(err)
	}
	at := testNow.Add(-48 * time.Hour)
	alerts := []store.AlertRow{
		{TenantID: tenant, AlertID: tenant + "-a1", Rule: "no_relationship", Severity: "high", ActorID: "u1", ActorName: "Omar " + marker,
			PatientIDs: []string{"pat-0001"}, FirstSeen: at, LastSeen: at, DetectedAt: testNow, RetainUntil: testNow.AddDate(7, 0, 0),
			Reason:       "Omar (nurse) opened the chart of patient MRN004821 with no appointment; " + marker,
			Explanations: []string{"Jane Doe has no encounter with the nurse's department"}, EvidenceEventIDs: []string{"e1"}},
		{TenantID: tenant, AlertID: tenant + "-a2", Rule: "coworker_lookup", Severity: "medium", ActorID: "u2",
			PatientIDs: []string{"pat-0001", "pat-0002"}, FirstSeen: at, LastSeen: at, DetectedAt: testNow, RetainUntil: testNow.AddDate(7, 0, 0),
			Reason: "opened the charts of Doe, Jane and Luis Ortega (pat-0002)", EvidenceEventIDs: []string{"e2"}},
	}
	if err := s.InsertAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	var evs []store.EventRow
	for i, p := range seedPatients {
		e := event.Event{TenantID: tenant, SourceKind: event.KindEHR, SourceSystem: "t", Time: testNow.Add(-time.Duration(i+1) * time.Hour),
			Actor: event.Actor{ID: "u1", Name: "Omar " + marker}, Action: event.ActionView, Outcome: event.OutcomeSuccess, PatientID: p.id,
			ResourceType: "Patient", ResourceID: "Patient/" + p.id, Raw: tenant + p.id}
		e.EventID = event.ID(tenant, "t", e.Raw)
		evs = append(evs, store.NewEventRow(&e, 0))
	}
	if err := s.InsertEvents(ctx, evs, ""); err != nil {
		t.Fatal(err)
	}
}

// auditRows reads a tenant's audit trail straight from the table.
func auditRows(t testing.TB, s store.Store, tenant string) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	err := s.Select(context.Background(), &out, `
SELECT time, tenant_id AS tenant, subject, actor_name, role, via, action, target, reason, method, route, path, status,
       client_ip, forwarded_for, user_agent, request_id, entry_id
FROM `+s.Database()+`.audit_log WHERE tenant_id = {t:String} ORDER BY time, entry_id`, store.Params{"t": tenant})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuditTrailRecordsRequests(t *testing.T) {
	s := apiStore.Store(t)
	env := newSecEnv(t, s, "audit-req", nil)
	seed(t, s, "audit-req", "m")
	base := "/api/v1/tenants/audit-req"
	steps := []struct {
		method, path string
		role         authz.Role
		body         string
		status       int
	}{
		{"GET", base + "/alerts", authz.Reviewer, "", 200},
		{"GET", base + "/events?actor=u1", authz.Reviewer, "", 200},
		{"GET", base + "/events", authz.Manager, "", 403},
		{"POST", base + "/patients/pat-0001/reveal", authz.PrivacyOfficer, `{"reason":"case 7: checking the appointment"}`, 200},
		{"GET", "/api/v1/tenants/someone-else/alerts", authz.Reviewer, "", 404},
	}
	for _, st := range steps {
		if rec := env.do(t, st.method, st.path, st.role, st.body); rec.Code != st.status {
			t.Fatalf("%s %s: status %d, want %d: %s", st.method, st.path, rec.Code, st.status, rec.Body)
		}
	}
	env.flush(t)
	rows := auditRows(t, s, "audit-req")
	type key struct {
		action, route string
		status        int
		role          string
	}
	got := map[key]audit.Entry{}
	for _, r := range rows {
		got[key{r.Action, r.Route, r.Status, r.Role}] = r
	}
	want := []key{
		{"request", "/api/v1/tenants/:tenant/alerts", 200, "reviewer"},
		{"request", "/api/v1/tenants/:tenant/events", 200, "reviewer"},
		{"events.read", "/api/v1/tenants/:tenant/events", 0, "reviewer"},
		{"request", "/api/v1/tenants/:tenant/events", 403, "manager"},
		{"phi.reveal", "/api/v1/tenants/:tenant/patients/:patient/reveal", 0, "privacy_officer"},
		{"request", "/api/v1/tenants/:tenant/patients/:patient/reveal", 200, "privacy_officer"},
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("no audit row %+v in %d rows", k, len(rows))
		}
	}
	if len(rows) != len(want) {
		t.Errorf("%d audit rows for the tenant, want %d (the other tenant's probe must not be in it)", len(rows), len(want))
	}
	rev := got[key{"phi.reveal", "/api/v1/tenants/:tenant/patients/:patient/reveal", 0, "privacy_officer"}]
	if rev.Target != "pat-0001" || rev.Reason != "case 7: checking the appointment" || rev.Subject != "token:privacy_officer@audit-req" ||
		rev.Via != "token" || rev.UserAgent != "phiwatch-test/1" || rev.RequestID == "" || rev.ClientIP != "192.0.2.1" {
		t.Errorf("reveal entry %+v", rev)
	}
	ev := got[key{"events.read", "/api/v1/tenants/:tenant/events", 0, "reviewer"}]
	if ev.Target != "actor:u1" {
		t.Errorf("events.read target %q", ev.Target)
	}
	// The probe of an unseen tenant is kept outside every tenant.
	var probes []audit.Entry
	if err := s.Select(context.Background(), &probes, `SELECT action, target, status FROM `+s.Database()+
		`.audit_log WHERE tenant_id = '' AND target = 'tenant:someone-else'`, nil); err != nil {
		t.Fatal(err)
	}
	if len(probes) != 1 || probes[0].Status != 404 {
		t.Errorf("probe of another tenant recorded as %+v, want one row with status 404 in tenant ''", probes)
	}
}

func TestAuditRouteAndExport(t *testing.T) {
	s := apiStore.Store(t)
	env := newSecEnv(t, s, "audit-list", nil)
	seed(t, s, "audit-list", "m")
	base := "/api/v1/tenants/audit-list"
	evil := `=HYPERLINK("http://x"); DROP TABLE audit_log; {a_tenant:String} '\` + "\n"
	if rec := env.do(t, "POST", base+"/patients/pat-0002/reveal", authz.Reviewer, `{"reason":`+mustJSON(evil)+`}`); rec.Code != 200 {
		t.Fatalf("reveal: %d %s", rec.Code, rec.Body)
	}
	env.do(t, "GET", base+"/alerts", authz.Auditor, "")
	// The listing defaults to the 90 days before Now (fixed in 2026): ask
	// for the real clock's range the rows were written in.
	rng := "from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"

	env.flush(t)
	rec := env.do(t, "GET", base+"/audit?action=phi.reveal&"+rng, authz.Auditor, "")
	if rec.Code != 200 {
		t.Fatalf("audit list: %d %s", rec.Code, rec.Body)
	}
	var page struct{ Items []audit.Entry }
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Reason != strings.TrimSpace(evil) || page.Items[0].Target != "pat-0002" {
		t.Fatalf("reveal entries %+v, want the one reveal with its reason verbatim", page.Items)
	}
	env.flush(t)
	rec = env.do(t, "GET", base+"/audit?actor=token:auditor@audit-list&"+rng, authz.PrivacyOfficer, "")
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Items {
		if e.Subject != "token:auditor@audit-list" {
			t.Fatalf("actor filter let through %+v", e)
		}
	}
	if len(page.Items) < 2 { // the alerts read and the first audit listing
		t.Fatalf("%d entries of the auditor, want at least 2", len(page.Items))
	}
	if rec := env.do(t, "GET", base+"/audit", authz.Reviewer, ""); rec.Code != 403 {
		t.Fatalf("reviewer reads the audit trail: %d", rec.Code)
	}

	env.flush(t)
	rec = env.do(t, "GET", base+"/audit/export?"+rng, authz.Auditor, "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", rec.Code, rec.Header())
	}
	recs, err := csv.NewReader(bytes.NewReader(rec.Body.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if recs[0][0] != "time" || len(recs) < 4 {
		t.Fatalf("export has %d records, header %v", len(recs), recs[0])
	}
	var defused bool
	for _, r := range recs[1:] {
		if r[6] == "phi.reveal" {
			defused = strings.HasPrefix(r[8], "'=HYPERLINK")
		}
	}
	if !defused {
		t.Errorf("the reveal's formula-like reason is not defused in the CSV")
	}
	// The export is itself in the trail.
	var exports int
	for _, e := range auditRows(t, s, "audit-list") {
		if e.Action == audit.ActionAuditExport {
			exports++
		}
	}
	if exports != 1 {
		t.Fatalf("%d audit.export entries, want 1", exports)
	}
	for _, bad := range []string{"limit=0", "limit=100001", "offset=-1", "from=yesterday"} {
		if rec := env.do(t, "GET", base+"/audit/export?"+bad, authz.Auditor, ""); rec.Code != 400 {
			t.Errorf("export ?%s: %d, want 400", bad, rec.Code)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// failingAuditor stores nothing; it stands for an audit table that is
// down.
type failingAuditor struct {
	mu    sync.Mutex
	tries []string
}

func (f *failingAuditor) Record(_ context.Context, e audit.Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries = append(f.tries, e.Action)
	return errors.New("audit table unavailable")
}

// Reads of patient data fail closed: no audit row, no data.
func TestAuditFailsClosed(t *testing.T) {
	s := apiStore.Store(t)
	seed(t, s, "audit-down", "m")
	fa := &failingAuditor{}
	env := newSecEnv(t, s, "audit-down", fa)
	base := "/api/v1/tenants/audit-down"
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", base + "/patients/pat-0001/reveal", `{"reason":"checking a case"}`, 503},
		{"GET", base + "/events?actor=u1", "", 503},
		{"GET", base + "/events?patient=pat-0001", "", 503},
		{"GET", base + "/audit/export", "", 503},
		// Masked lists carry no patient data: they are served, and the
		// failed request entry is logged.
		{"GET", base + "/alerts", "", 200},
	} {
		rec := env.do(t, c.method, c.path, authz.PrivacyOfficer, c.body)
		if rec.Code != c.status {
			t.Errorf("%s %s with the audit trail down: %d, want %d", c.method, c.path, rec.Code, c.status)
		}
		if c.status == 503 {
			for _, leak := range []string{"MRN004821", "Jane", "1980-02-03"} {
				if strings.Contains(rec.Body.String(), leak) {
					t.Errorf("%s leaked %q with the audit trail down: %s", c.path, leak, rec.Body)
				}
			}
		}
	}
	if len(fa.tries) == 0 {
		t.Fatal("the auditor was never called")
	}
}

// The store auditor writes what it is given, verbatim, whatever the text.
func TestStoreAuditorVerbatim(t *testing.T) {
	s := apiStore.Store(t)
	a := audit.NewStoreAuditor(s)
	weird := "x'); DROP TABLE audit_log; --\\ {tenant:String} \u00e9\U0001F600 \"q\"\n;\n"
	e := audit.Entry{Tenant: "audit-raw", Subject: weird, Action: "test.write", Target: weird, Reason: weird, UserAgent: weird,
		Status: 200, Time: time.Date(2026, 3, 4, 5, 6, 7, 8e6, time.UTC)}
	if err := a.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	e2 := e
	e2.Time, e2.Target = e.Time.Add(time.Second), "second of a batch"
	e3 := e2
	e3.Time, e3.Target = e.Time.Add(2*time.Second), "third of a batch"
	if err := a.RecordBatch(context.Background(), []audit.Entry{e2, e3}); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(context.Background(), audit.Entry{Tenant: "audit-raw"}); err == nil {
		t.Error("an entry without an action was accepted")
	}
	rows := auditRows(t, s, "audit-raw")
	if len(rows) != 3 || rows[1].Target != "second of a batch" || rows[2].Target != "third of a batch" ||
		rows[2].Reason != weird || rows[1].Time.Sub(e.Time) != time.Second {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	r := rows[0]
	if r.Subject != weird || r.Target != weird || r.Reason != weird || r.UserAgent != weird || r.Status != 200 ||
		!r.Time.Equal(e.Time) || r.EntryID == "" {
		t.Fatalf("stored %+v", r)
	}
}

// memAuditor keeps entries in memory: the matrix test's thousands of
// requests need not each wait for an insert.
type memAuditor struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (m *memAuditor) Record(_ context.Context, e audit.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	return nil
}

func (m *memAuditor) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// newSessionEnv is newSecEnv for people signed in through the browser:
// each role is a grant in the store (as an administrator makes it) and a
// session cookie for an OIDC identity matching it, so requests go through
// the session, CSRF and grant lookup the binary uses for people.
func newSessionEnv(t testing.TB, s store.Store, own string, auditor Auditor) *secEnv {
	t.Helper()
	ctx := context.Background()
	sessions, err := NewSessions(SessionConfig{Key: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	access := NewAccess(s, AccessOptions{CacheTTL: time.Minute})
	admin := &authz.Principal{Subject: "test:setup", Name: "setup", Role: authz.MSPAdmin, AllTenants: true, Via: "token"}
	env := &secEnv{own: own, now: testNow, s: s, sessions: map[authz.Role]sessionCred{}}
	for _, r := range append(slices.Clone(authz.Roles), mspAllRole) {
		subject, scope, role := own+"-"+strings.ReplaceAll(string(r), "(all tenants)", "-all"), Scope{Tenants: []string{own}}, r
		if r == mspAllRole {
			scope, role = Scope{AllTenants: true}, authz.MSPAdmin
		}
		if _, err := access.PutGrant(ctx, admin, GrantRequest{Principal: "sub:" + subject, DisplayName: string(r), Role: role,
			Scope: scope, Reason: "matrix test"}); err != nil {
			t.Fatalf("grant %s: %v", r, err)
		}
		sess := session{ID: "sid-" + subject, identity: identity{Issuer: "https://idp.test", Subject: subject, Name: string(r)},
			Expires: time.Now().Add(time.Hour).Unix()}
		name := sessions.cookieName(sessionCookie)
		v, err := sessions.seal(name, sess)
		if err != nil {
			t.Fatal(err)
		}
		env.sessions[r] = sessionCred{cookie: name + "=" + v, csrf: sessions.csrfToken(sess.ID)}
	}
	h, err := New(Config{Store: s, Access: access, Sessions: sessions, TokenLogin: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry(), Now: func() time.Time { return testNow }, Auditor: auditor,
		MaskKey: []byte("test-mask-key-0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	env.h = h
	return env
}

// BenchmarkStoreAuditorRecord is the cost the trail adds to every request
// (one synchronous insert into audit_log).
func BenchmarkStoreAuditorRecord(b *testing.B) {
	s := apiStore.Store(b)
	a := audit.NewStoreAuditor(s)
	e := audit.Entry{Tenant: "bench-audit", Subject: "token:bench", Role: "reviewer", Via: "token", Action: audit.ActionRequest,
		Method: "GET", Route: "/api/v1/tenants/:tenant/alerts", Path: "/api/v1/tenants/bench-audit/alerts", Status: 200,
		ClientIP: "192.0.2.1", UserAgent: "bench/1", RequestID: "r"}
	for b.Loop() {
		if err := a.Record(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreAuditorBatch is the per-row cost of request rows written
// the Batcher's way, 500 to an insert.
func BenchmarkStoreAuditorBatch(b *testing.B) {
	s := apiStore.Store(b)
	a := audit.NewStoreAuditor(s)
	e := audit.Entry{Tenant: "bench-audit", Subject: "token:bench", Role: "reviewer", Via: "token", Action: audit.ActionRequest,
		Method: "GET", Route: "/api/v1/tenants/:tenant/alerts", Path: "/api/v1/tenants/bench-audit/alerts", Status: 200,
		ClientIP: "192.0.2.1", UserAgent: "bench/1", RequestID: "r"}
	batch := make([]audit.Entry, 500)
	for i := range batch {
		batch[i] = e
	}
	for b.Loop() {
		if err := a.RecordBatch(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/row")
}

// newSessionEnvRoutes is the API with browser sessions on an empty store:
// for its routes only.
func newSessionEnvRoutes(t testing.TB) http.Handler {
	t.Helper()
	sessions, err := NewSessions(SessionConfig{Key: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Store: &fakeStore{}, Access: NewAccess(&fakeStore{}, AccessOptions{}), Sessions: sessions, TokenLogin: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(), Auditor: &memAuditor{}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
