package records

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/records"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/storetest"
)

var shared = storetest.New("recordsapi")

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

// auditor keeps entries, or fails when told to.
type auditor struct {
	mu      sync.Mutex
	entries []audit.Entry
	fail    bool
}

func (a *auditor) Record(_ context.Context, e audit.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail && e.Action != audit.ActionRequest {
		return errors.New("audit store down")
	}
	a.entries = append(a.entries, e)
	return nil
}

func (a *auditor) actions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		if e.Action != audit.ActionRequest {
			out = append(out, e.Action+" "+e.Target)
		}
	}
	return out
}

// harness mounts the routes the way the API server does (audit, principal,
// tenant store, permission), the principal chosen by a header.
func harness(t *testing.T, s store.Querier, now time.Time, people map[string]*authz.Principal, a *auditor) http.Handler {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	g := r.Group("/api/v1/tenants/:tenant", audit.Middleware(a, slog.New(slog.NewTextHandler(io.Discard, nil))))
	for _, rt := range Routes(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}) {
		perm := rt.Perm
		g.Handle(rt.Method, rt.Path, func(c *gin.Context) {
			p := people[c.GetHeader("X-Who")]
			if p == nil || !p.Can(c.Param("tenant"), perm) {
				route.Problem(c, 403, "no")
				return
			}
			route.SetPrincipal(c, p)
			ts, _ := store.ForTenant(s, c.Param("tenant"))
			route.SetStore(c, ts)
		}, rt.Handle)
	}
	return r
}

func call(t *testing.T, h http.Handler, who, method, path, body string, want int) []byte {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("X-Who", who)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != want {
		t.Fatalf("%s %s as %s: %d %s, want %d", method, path, who, w.Code, w.Body.String(), want)
	}
	return w.Body.Bytes()
}

func TestRoutesDeclarePermissions(t *testing.T) {
	seen := map[string]bool{}
	for _, rt := range Routes(Deps{}) {
		k := rt.Method + " " + rt.Path
		if seen[k] {
			t.Errorf("%s declared twice", k)
		}
		seen[k] = true
		if rt.Perm == "" || rt.Handle == nil {
			t.Errorf("%s has no permission or handler", k)
		}
		// Writes need the write permission; the patient reports show PHI.
		switch {
		case strings.Contains(rt.Path, "/patients/"):
			if rt.Perm != authz.ReadEvents {
				t.Errorf("%s shows patient data but requires %s", k, rt.Perm)
			}
		case rt.Method != "GET" && rt.Perm != authz.WriteRecords:
			t.Errorf("%s changes records but requires %s", k, rt.Perm)
		}
	}
}

func TestIncidentsThroughAPI(t *testing.T) {
	s := shared.Store(t)
	const tenant = "clinic-rec"
	now := time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC)
	people := map[string]*authz.Principal{
		"officer":  {Subject: "po", Role: authz.PrivacyOfficer, Tenants: map[string]bool{tenant: true}},
		"auditor":  {Subject: "aud", Role: authz.Auditor, Tenants: map[string]bool{tenant: true}},
		"reviewer": {Subject: "rev", Role: authz.Reviewer, Tenants: map[string]bool{tenant: true}},
		"other":    {Subject: "x", Role: authz.PrivacyOfficer, Tenants: map[string]bool{"elsewhere": true}},
	}
	a := &auditor{}
	h := harness(t, s, now, people, a)
	base := "/api/v1/tenants/" + tenant

	var v struct {
		ID      string `json:"record_id"`
		Version uint32 `json:"version"`
		Actor   string `json:"actor"`
		Body    struct {
			Status     string `json:"status"`
			Discovered string `json:"discovered"`
		} `json:"body"`
	}
	b := call(t, h, "officer", "POST", base+"/incidents/intake", `{"source":"case","source_id":"c-9","summary":"Chart snooping","patient_ids":["p1"]}`, 201)
	if err := json.Unmarshal(b, &v); err != nil || v.ID != "inc-case-c-9" || v.Version != 1 || v.Actor != "po" || v.Body.Discovered != "2026-12-31" {
		t.Fatalf("intake = %s", b)
	}
	call(t, h, "auditor", "POST", base+"/incidents/intake", `{"summary":"x"}`, 403)
	call(t, h, "other", "GET", base+"/incidents", "", 403)
	call(t, h, "officer", "POST", base+"/incidents/intake", `{"source":"review","source_id":"x","summary":"x"}`, 400)

	call(t, h, "officer", "POST", base+"/incidents/"+v.ID+"/timeline", `{"base_version":1,"note":"called the clerk"}`, 200)
	call(t, h, "officer", "POST", base+"/incidents/"+v.ID+"/timeline", `{"base_version":1,"note":"stale"}`, 409)

	// A new version by PUT: the determination needs its rationale (400), then goes in.
	var cur struct {
		Version uint32          `json:"version"`
		Body    json.RawMessage `json:"body"`
	}
	_ = json.Unmarshal(call(t, h, "auditor", "GET", base+"/incidents/"+v.ID, "", 200), &cur)
	var body map[string]any
	_ = json.Unmarshal(cur.Body, &body)
	body["determination"], body["affected"], body["by_state"] = "breach", 813, map[string]int{"TX": 501, "OK": 300}
	put := func(want int) {
		pb, _ := json.Marshal(map[string]any{"base_version": cur.Version, "reason": "determined", "body": body})
		call(t, h, "officer", "PUT", base+"/incidents/"+v.ID, string(pb), want)
	}
	put(400)
	body["rationale"], body["determined_by"], body["determined_on"] = "viewed without need", "po", "2027-01-04"
	put(200)

	var clock struct {
		Deadlines []struct {
			Notice, State, Due, Status string
		} `json:"deadlines"`
	}
	_ = json.Unmarshal(call(t, h, "auditor", "GET", base+"/incidents/"+v.ID+"/clock?day=2027-01-05", "", 200), &clock)
	var got []string
	for _, d := range clock.Deadlines {
		got = append(got, d.Notice+"/"+d.State+"@"+d.Due+":"+d.Status)
	}
	if want := "individual/@2027-03-01:due hhs/@2027-03-01:due media/TX@2027-03-01:due"; strings.Join(got, " ") != want {
		t.Fatalf("clock = %v, want %s", got, want)
	}
	var hist struct {
		Items []struct {
			Version uint32 `json:"version"`
			Reason  string `json:"reason"`
		} `json:"items"`
	}
	_ = json.Unmarshal(call(t, h, "auditor", "GET", base+"/incidents/"+v.ID+"/history", "", 200), &hist)
	if len(hist.Items) != 3 || hist.Items[2].Reason != "determined" {
		t.Fatalf("history = %+v", hist)
	}
	call(t, h, "auditor", "GET", base+"/incidents/nope", "", 404)

	// The clock without a record.
	b = call(t, h, "reviewer", "GET", base+"/breaches/clock?discovered=2026-12-31&affected=813&states=TX=501,OK=300", "", 403)
	b = call(t, h, "auditor", "GET", base+"/breaches/clock?discovered=2026-12-31&affected=813&states=TX=501,OK=300", "", 200)
	if !strings.Contains(string(b), `"notice":"media","state":"TX","due":"2027-03-01"`) || strings.Contains(string(b), `"state":"OK"`) {
		t.Fatalf("clock = %s", b)
	}
	call(t, h, "auditor", "GET", base+"/breaches/clock?discovered=31/12/2026", "", 400)
	b = call(t, h, "auditor", "GET", base+"/breaches/deadlines?day=2027-02-20&window=14", "", 200)
	if !strings.Contains(string(b), `"incident_id":"inc-case-c-9"`) {
		t.Fatalf("deadlines = %s", b)
	}
}

func TestPatientReportsAreAudited(t *testing.T) {
	s := shared.Store(t)
	const tenant = "clinic-pt"
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	at := time.Date(2026, 10, 2, 9, 0, 0, 0, time.UTC)
	if err := s.InsertEvents(context.Background(), []store.EventRow{{TenantID: tenant, EventID: "ev1", SourceKind: "ehr", SourceSystem: "fhir-auditevent",
		Time: at, ReceivedAt: at, ActorID: "dortiz", Action: "view", Outcome: "success", PatientID: "p1", Attrs: map[string]string{},
		RetainUntil: at.AddDate(7, 0, 0)}}, "pt-1"); err != nil {
		t.Fatal(err)
	}
	people := map[string]*authz.Principal{
		"reviewer": {Subject: "rev", Role: authz.Reviewer, Tenants: map[string]bool{tenant: true}},
		"auditor":  {Subject: "aud", Role: authz.Auditor, Tenants: map[string]bool{tenant: true}},
	}
	a := &auditor{}
	h := harness(t, s, now, people, a)
	base := "/api/v1/tenants/" + tenant
	call(t, h, "auditor", "GET", base+"/patients/p1/access-report", "", 403)
	b := call(t, h, "reviewer", "GET", base+"/patients/p1/access-report?from=2026-10-01T00:00:00Z", "", 200)
	if !strings.Contains(string(b), `"event_id":"ev1"`) {
		t.Fatalf("access report = %s", b)
	}
	call(t, h, "reviewer", "GET", base+"/patients/p1/accounting", "", 200)
	if got := strings.Join(a.actions(), ","); got != "events.read access-report:patient:p1,events.read accounting:patient:p1" {
		t.Fatalf("audit entries = %s", got)
	}
	a.fail = true
	call(t, h, "reviewer", "GET", base+"/patients/p1/access-report", "", 503)
}

func TestBinderAndCSVThroughAPI(t *testing.T) {
	s := shared.Store(t)
	const tenant = "clinic-binder"
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	people := map[string]*authz.Principal{
		"officer": {Subject: "po", Role: authz.PrivacyOfficer, Tenants: map[string]bool{tenant: true}},
		"auditor": {Subject: "aud", Role: authz.Auditor, Tenants: map[string]bool{tenant: true}},
		"manager": {Subject: "mgr", Role: authz.Manager, Tenants: map[string]bool{tenant: true}},
	}
	a := &auditor{}
	h := harness(t, s, now, people, a)
	base := "/api/v1/tenants/" + tenant
	call(t, h, "officer", "POST", base+"/vendors", `{"record_id":"v-acme","reason":"new vendor","body":{"name":"Acme","services":"hosting","phi":"charts","baa_status":"signed","baa_signed":"2026-01-01","baa_expires":"2026-12-15"}}`, 201)
	call(t, h, "officer", "POST", base+"/vendors", `{"reason":"x","body":{"name":"Bad","services":"x","phi":"y","baa_status":"terminated"}}`, 400)
	call(t, h, "manager", "GET", base+"/vendors", "", 403)
	csvOut := call(t, h, "auditor", "GET", base+"/vendors?format=csv", "", 200)
	if !strings.HasPrefix(string(csvOut), "record_id,version,changed_at,actor,reason,name,") {
		t.Fatalf("csv = %s", csvOut)
	}
	// Unchanged round trip writes nothing; an edited cell writes a version.
	b := call(t, h, "officer", "POST", base+"/vendors/import?reason=annual+review", string(csvOut), 200)
	if counts(b) != "written=0 unchanged=1" {
		t.Fatalf("import = %s", b)
	}
	edited := strings.Replace(string(csvOut), "hosting", "hosting and backup", 1)
	b = call(t, h, "officer", "POST", base+"/vendors/import?reason=annual+review", edited, 200)
	if counts(b) != "written=1 unchanged=0" {
		t.Fatalf("import = %s", b)
	}
	call(t, h, "officer", "POST", base+"/vendors/import", edited, 400)

	call(t, h, "officer", "POST", base+"/training/courses", `{"record_id":"sec","reason":"x","body":{"title":"Security","type":"security_awareness","due_days":30}}`, 201)
	call(t, h, "officer", "POST", base+"/training/assign", `{"people":{"ann":"nurse","bob":"front_desk"}}`, 200)
	call(t, h, "officer", "POST", base+"/training/completions/import-lms", "{}", 400)
	call(t, h, "officer", "POST", base+"/vendors/import?reason=x", "", 400)
	lms := "course_id,person,completed_on,score\nsec,ann,2026-11-28,90\nsec,bob,28/11/2026,90\n"
	call(t, h, "officer", "POST", base+"/training/completions/import-lms", lms, 400)
	lms = "course_id,person,completed_on,score\nsec,ann,2026-11-27,90\n"
	b = call(t, h, "officer", "POST", base+"/training/completions/import-lms", lms, 200)
	if counts(b) != "written=1 already=0" {
		t.Fatalf("lms import = %s", b)
	}
	b = call(t, h, "officer", "POST", base+"/training/completions/import-lms", lms, 200)
	if counts(b) != "written=0 already=1" {
		t.Fatalf("second lms import = %s", b)
	}
	b = call(t, h, "auditor", "GET", base+"/training/status?day=2027-01-15", "", 200)
	if !strings.Contains(string(b), `"percent_complete":50`) {
		t.Fatalf("training status = %s", b)
	}
	call(t, h, "officer", "POST", base+"/calendar/generate", `{"year":2026,"owners":{"log_review":"po"}}`, 200)
	b = call(t, h, "auditor", "GET", base+"/compliance/reminders?window=30", "", 200)
	if !strings.Contains(string(b), "BAA renewal: Acme") || !strings.Contains(string(b), "cal-log_review-2026-09") {
		t.Fatalf("reminders = %s", b)
	}

	zb := call(t, h, "auditor", "GET", base+"/binder?from=2026-01-01&to=2026-11-27", "", 200)
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
	}
	for _, want := range []string{"index.md", "summary.pdf", "records/vendor.csv", "history/vendor.csv", "breach/hhs-annual-log-2026.csv", "calendar/calendar.md", "review/periods.csv", "recert/campaigns.csv"} {
		if !names[want] {
			t.Errorf("binder lacks %s", want)
		}
	}
	if got := strings.Join(a.actions(), ","); !strings.Contains(got, "evidence.export binder:2026-01-01..2026-11-27") {
		t.Fatalf("binder export not audited: %s", got)
	}
}

// counts summarizes an import's answer.
func counts(b []byte) string {
	var r struct {
		Written   *int `json:"written"`
		Unchanged *int `json:"unchanged"`
		Already   *int `json:"already_recorded"`
	}
	if json.Unmarshal(b, &r) != nil || r.Written == nil {
		return string(b)
	}
	out := fmt.Sprintf("written=%d", *r.Written)
	if r.Unchanged != nil {
		out += fmt.Sprintf(" unchanged=%d", *r.Unchanged)
	}
	if r.Already != nil {
		out += fmt.Sprintf(" already=%d", *r.Already)
	}
	return out
}

func TestFleetHandler(t *testing.T) {
	s := shared.Store(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	calm, _ := store.ForTenant(s, "fleet-calm")
	busy, _ := store.ForTenant(s, "fleet-busy")
	ctx := context.Background()
	if _, err := records.OpenIncident(ctx, busy, records.IncidentRequest{Source: records.SourceManual, Summary: "lost laptop", Actor: "po",
		Discovered: records.NewDate(2026, 8, 1)}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := records.Put(ctx, calm, "v1", records.Vendor{Name: "A", Services: "s", PHI: "p", BAAStatus: "signed", BAASigned: records.NewDate(2026, 1, 1)},
		records.Change{Actor: "po", Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/fleet", FleetHandler(Deps{Now: func() time.Time { return now }}, s, func(*gin.Context) ([]string, error) {
		return []string{"fleet-calm", "fleet-busy"}, nil
	}))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/fleet", nil))
	var got struct {
		Tenants []struct {
			Tenant         string `json:"tenant"`
			OpenIncidents  int    `json:"open_incidents"`
			NoticesOverdue int    `json:"notices_overdue"`
		} `json:"tenants"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &got) != nil || len(got.Tenants) != 2 {
		t.Fatalf("fleet: %d %s", w.Code, w.Body)
	}
	// The lost laptop's individual notice was due 30 September: the busy practice comes first.
	if got.Tenants[0].Tenant != "fleet-busy" || got.Tenants[0].NoticesOverdue != 1 || got.Tenants[1].OpenIncidents != 0 {
		t.Fatalf("fleet = %+v", got.Tenants)
	}
}
