package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/ingest/reference"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/demo"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

func TestMaskHelpers(t *testing.T) {
	for _, c := range []struct{ in, id, initials string }{
		{"MRN004821", "••••4821", "M."},
		{"4821", "••••", ""},
		{"", "", ""},
		{"Jane Q. Doe", "•••• Doe", "J. Q. D."},
		{"Doe, Jane", "••••Jane", "D. J."},
		{"Émile Zola", "••••Zola", "É. Z."},
	} {
		if got := maskID(c.in); got != c.id {
			t.Errorf("maskID(%q) = %q, want %q", c.in, got, c.id)
		}
		if c.initials != "" {
			if got := initials(c.in); got != c.initials {
				t.Errorf("initials(%q) = %q, want %q", c.in, got, c.initials)
			}
		}
	}
	key := []byte("k")
	r := patientRef(key, "t1", "pat-1")
	if !isRef(r) || r == patientRef(key, "t2", "pat-1") || r == patientRef([]byte("k2"), "t1", "pat-1") || patientRef(key, "t1", "") != "" {
		t.Errorf("patientRef %q: not a ref, or not keyed by tenant and key", r)
	}
	for _, bad := range []string{"pr_", "pr_zz" + strings.Repeat("0", refHexLen-2), "MRN004821", r + "0"} {
		if isRef(bad) {
			t.Errorf("isRef(%q)", bad)
		}
	}
}

// The Go and the SQL form of a patient reference agree.
func TestPatientRefSQL(t *testing.T) {
	s := apiStore.Store(t)
	key := []byte("test-mask-key")
	var out []struct {
		Ref string `json:"ref"`
	}
	err := s.Select(context.Background(), &out, "SELECT "+refExpr("patient_id")+" AS ref FROM (SELECT 'ref-t' AS tenant_id, 'MRN004821' AS patient_id)",
		store.Params{"mask_key": hex.EncodeToString(key)})
	if err != nil {
		t.Fatal(err)
	}
	if want := patientRef(key, "ref-t", "MRN004821"); len(out) != 1 || out[0].Ref != want {
		t.Fatalf("SQL ref %v, Go ref %s", out, want)
	}
}

// demoPanel loads the demo practice's patient panel into tenant and
// returns every MRN and full name in it.
func demoPanel(t *testing.T, s store.Store, tenant string) (ids []string, secrets []string) {
	t.Helper()
	out, err := demo.Generate(demo.Options{Seed: 1, Patients: 300, Days: 7, End: testNow})
	if err != nil {
		t.Fatal(err)
	}
	res, err := reference.Import(context.Background(), s, bytes.NewReader(out.Patients), reference.Options{
		Tenant: tenant, Kind: reference.KindPatients, Source: "demo", ImportedBy: "test", Now: func() time.Time { return testNow }})
	if err != nil || len(res.Rejected) > 0 {
		t.Fatalf("import the demo panel: %v %v", err, res.Rejected)
	}
	var pats []patientNames
	if err := s.Select(context.Background(), &pats, "SELECT patient_id, mrn, name, given_names, family_name FROM "+s.Database()+
		".patients_current WHERE tenant_id = {t:String}", store.Params{"t": tenant}); err != nil {
		t.Fatal(err)
	}
	if len(pats) < 300 {
		t.Fatalf("%d demo patients loaded", len(pats))
	}
	for _, p := range pats {
		ids = append(ids, p.PatientID)
		secrets = append(secrets, p.PatientID, p.MRN, p.GivenNames+" "+p.FamilyName)
		if p.Name != "" {
			secrets = append(secrets, p.Name)
		}
	}
	return ids, secrets
}

// No list shows a full MRN or name of the demo's patients, even where the
// detectors' reasons name them.
func TestListsMaskDemoPatients(t *testing.T) {
	s := apiStore.Store(t)
	const tenant = "mask-demo"
	ids, secrets := demoPanel(t, s, tenant)
	names := map[string]string{}
	var pats []patientNames
	_ = s.Select(context.Background(), &pats, "SELECT patient_id, mrn, name, given_names, family_name FROM "+s.Database()+
		".patients_current WHERE tenant_id = {t:String}", store.Params{"t": tenant})
	for _, p := range pats {
		names[p.PatientID] = p.GivenNames + " " + p.FamilyName
	}
	at := testNow.Add(-24 * time.Hour)
	var alerts []store.AlertRow
	var evs []store.EventRow
	for i, id := range ids[:60] {
		alerts = append(alerts, store.AlertRow{TenantID: tenant, AlertID: fmt.Sprintf("alert-%03d", i), Rule: "no_relationship", Severity: "high", ActorID: "u1",
			ActorName: "Dana Ortiz", PatientIDs: []string{id}, FirstSeen: at, LastSeen: at, DetectedAt: testNow, RetainUntil: testNow.AddDate(7, 0, 0),
			Reason:       "Dana Ortiz (front desk) opened the chart of patient " + id + " with no appointment or encounter within 14 days.",
			Explanations: []string{"shares a household with " + names[id]}})
		e := event.Event{TenantID: tenant, SourceKind: event.KindEHR, SourceSystem: "t", Time: at.Add(time.Duration(i) * time.Minute),
			Actor: event.Actor{ID: "u1"}, Action: event.ActionView, Outcome: event.OutcomeSuccess, PatientID: id,
			ResourceType: "Patient", ResourceID: "Patient/" + id, Attrs: map[string]string{"subject": names[id]}, Raw: id}
		e.EventID = event.ID(tenant, "t", e.Raw)
		evs = append(evs, store.NewEventRow(&e, 0))
	}
	if err := s.InsertAlerts(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvents(context.Background(), evs, ""); err != nil {
		t.Fatal(err)
	}
	env := newSecEnv(t, s, tenant, nil)
	base := "/api/v1/tenants/" + tenant
	for _, path := range []string{base + "/alerts?limit=500", base + "/events?actor=u1&limit=500", base + "/cases?limit=500",
		base + "/events?patient=" + ids[0]} {
		rec := env.do(t, "GET", path, authz.PrivacyOfficer, "")
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		body := rec.Body.String()
		for _, sec := range secrets {
			if len(sec) >= 4 && strings.Contains(body, sec) {
				i := strings.Index(body, sec)
				t.Fatalf("%s shows %q: …%s…", path, sec, body[max(0, i-300):min(len(body), i+100)])
			}
		}
		if !strings.Contains(path, "/cases") && !strings.Contains(body, "••••") {
			t.Fatalf("%s shows no masked patient at all: %.300s", path, body)
		}
	}
	// The references in a list lead to the right patient through the
	// events filter and the reveal.
	rec := env.do(t, "GET", base+"/alerts?limit=500", authz.Reviewer, "")
	var page struct{ Items []MaskedAlert }
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 60 || len(page.Items[0].PatientRefs) != 1 {
		t.Fatalf("%d alerts", len(page.Items))
	}
	a := page.Items[0]
	if !strings.Contains(a.Reason, "Dana Ortiz") || !strings.Contains(a.Reason, a.PatientIDs[0]) {
		t.Errorf("masking mangled the reason: %q", a.Reason)
	}
	ref := a.PatientRefs[0]
	rec = env.do(t, "GET", base+"/events?patient="+ref, authz.Reviewer, "")
	var evPage struct{ Items []MaskedEvent }
	if err := json.Unmarshal(rec.Body.Bytes(), &evPage); err != nil || len(evPage.Items) != 1 || evPage.Items[0].PatientRef != ref {
		t.Fatalf("events by reference: %v %s", err, rec.Body)
	}
	rec = env.do(t, "POST", base+"/patients/"+ref+"/reveal", authz.Reviewer, `{"reason":"reviewing the no_relationship alert"}`)
	var p RevealedPatient
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != 200 || maskID(p.PatientID) != a.PatientIDs[0] || p.MRN == "" || p.BirthDate == "" {
		t.Fatalf("reveal by reference: %d %s", rec.Code, rec.Body)
	}
}

func TestReveal(t *testing.T) {
	s := apiStore.Store(t)
	seed(t, s, "reveal-a", "m")
	seed(t, s, "reveal-b", "OTHER")
	env := newSecEnv(t, s, "reveal-a", nil)
	base := "/api/v1/tenants/reveal-a/patients/"
	for _, c := range []struct {
		name, patient, body string
		role                authz.Role
		status              int
	}{
		{"no body", "pat-0001", "", authz.Reviewer, 400},
		{"no reason", "pat-0001", `{}`, authz.Reviewer, 400},
		{"blank reason", "pat-0001", `{"reason":"   "}`, authz.Reviewer, 400},
		{"short reason", "pat-0001", `{"reason":"ok"}`, authz.Reviewer, 400},
		{"unknown field", "pat-0001", `{"reason":"looking at case 4","why":1}`, authz.Reviewer, 400},
		{"two values", "pat-0001", `{"reason":"looking at case 4"}{}`, authz.Reviewer, 400},
		{"not json", "pat-0001", `reason=looking`, authz.Reviewer, 400},
		{"reason not a string", "pat-0001", `{"reason":42}`, authz.Reviewer, 400},
		{"too big", "pat-0001", `{"reason":"` + strings.Repeat("a", maxBodyBytes) + `"}`, authz.Reviewer, 413},
		{"unknown patient", "pat-9999", `{"reason":"looking at case 4"}`, authz.Reviewer, 404},
		{"auditor may not", "pat-0001", `{"reason":"looking at case 4"}`, authz.Auditor, 403},
		{"manager may not", "pat-0001", `{"reason":"looking at case 4"}`, authz.Manager, 403},
		{"reviewer", "pat-0001", `{"reason":"looking at case 4"}`, authz.Reviewer, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := env.do(t, "POST", base+c.patient+"/reveal", c.role, c.body)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, c.status, rec.Body)
			}
			if c.status != 200 {
				if strings.Contains(rec.Body.String(), "Jane") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
					t.Fatalf("refusal %s %.300s", rec.Header().Get("Content-Type"), rec.Body)
				}
				return
			}
			var p RevealedPatient
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			want := RevealedPatient{PatientID: "pat-0001", MRN: "MRN004821", Name: "Jane Doe", GivenNames: "Jane", FamilyName: "Doe", BirthDate: "1980-02-03"}
			if p != want || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("revealed %+v, want %+v", p, want)
			}
		})
	}
	// Exactly one reveal reached the trail, with its reason; refusals did
	// not write a reveal entry.
	var reveals []string
	for _, e := range auditRows(t, s, "reveal-a") {
		if e.Action == "phi.reveal" {
			reveals = append(reveals, e.Target+"|"+e.Reason+"|"+e.Role)
		}
	}
	if len(reveals) != 1 || reveals[0] != "pat-0001|looking at case 4|reviewer" {
		t.Fatalf("reveal entries %v", reveals)
	}
}

// maskText, the hook for feature packages' lists, masks by id, MRN and
// name, and by id alone when the lookup fails.
func TestMaskTextHook(t *testing.T) {
	s := apiStore.Store(t)
	seed(t, s, "mask-hook", "m")
	srv := &server{cfg: Config{MaskKey: []byte("k"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	for _, c := range []struct {
		name string
		q    store.Querier
		want string
	}{
		{"with demographics", s, "••••0001 (••••4821, J. D.) and ••••0002"},
		{"lookup fails", &failingStore{}, "••••0001 (MRN004821, Jane Doe) and ••••0002"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts, err := store.ForTenant(c.q, "mask-hook")
			if err != nil {
				t.Fatal(err)
			}
			gc, _ := gin.CreateTestContext(httptest.NewRecorder())
			gc.Request = httptest.NewRequest("GET", "/", nil)
			route.SetStore(gc, ts)
			got := srv.maskText(gc, "pat-0001 (MRN004821, Jane Doe) and pat-0002", []string{"pat-0001", "pat-0002"})
			if got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

// failingStore fails every statement.
type failingStore struct{ fakeStore }

func (*failingStore) Select(context.Context, any, string, store.Params) error {
	return errors.New("store down")
}

// A suppression's reason is masked like the alert's own.
func TestMaskAlertsSuppressionReason(t *testing.T) {
	s := apiStore.Store(t)
	seed(t, s, "mask-sup", "m")
	ts, err := store.ForTenant(s, "mask-sup")
	if err != nil {
		t.Fatal(err)
	}
	in := []Alert{{AlertID: "a", PatientIDs: []string{"pat-0001"}, Reason: "opened MRN004821",
		SuppressedBy: []SuppressedBy{{SuppressionID: "s1", Reason: "Jane Doe is the physician's own patient"}}}}
	out, err := maskAlerts(context.Background(), ts, []byte("k"), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].SuppressedBy[0].Reason; got != "J. D. is the physician's own patient" || out[0].Reason != "opened ••••4821" {
		t.Fatalf("masked %+v", out[0])
	}
	if in[0].SuppressedBy[0].Reason != "Jane Doe is the physician's own patient" {
		t.Fatal("masking changed the caller's alert")
	}
}

// The monthly review's worklist is a list too: its items' summaries and
// patient ids carry no full MRN, patient id or name.
func TestReviewWorklistIsMasked(t *testing.T) {
	s := apiStore.Store(t)
	const tenant = "mask-review"
	seed(t, s, tenant, "REVIEWMARK")
	ts, _ := store.ForTenant(s, tenant)
	svc := review.NewService(review.Config{SampleSize: 2}, nil, func() time.Time { return testNow })
	month := testNow.Add(-48 * time.Hour)
	p, err := svc.EnsurePeriod(context.Background(), ts, review.Month{Year: month.Year(), Month: month.Month()}, "test")
	if err != nil {
		t.Fatal(err)
	}
	env := newSecEnv(t, s, tenant, &memAuditor{})
	rec := env.do(t, "GET", "/api/v1/tenants/"+tenant+"/reviews/"+p.Period+"/items", authz.PrivacyOfficer, "")
	if rec.Code != 200 {
		t.Fatalf("worklist: %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	if !strings.Contains(body, "••••4821") {
		t.Fatalf("the worklist shows no masked MRN (is the alert on it?):\n%s", body)
	}
	for _, p := range seedPatients {
		for _, secret := range []string{p.id, p.mrn, p.given + " " + p.family, p.family + ", " + p.given} {
			if strings.Contains(body, secret) {
				t.Errorf("the worklist shows %q:\n%s", secret, body)
			}
		}
	}
}
