package ui

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/browsertest"
	"github.com/phiwatch/phiwatch/internal/records"
	"github.com/phiwatch/phiwatch/internal/store"
)

var recordsNow = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func recordPeople(tenant string) map[string]*authz.Principal {
	return map[string]*authz.Principal{
		"officer": {Subject: "po@clinic", Name: "Pat Officer", Role: authz.PrivacyOfficer, Tenants: map[string]bool{tenant: true}},
		"auditor": {Subject: "aud@ocr", Name: "Ann Auditor", Role: authz.Auditor, Tenants: map[string]bool{tenant: true}},
		"boss":    {Subject: "boss", Name: "Bo Boss", Role: authz.Manager, Tenants: map[string]bool{tenant: true}},
	}
}

// postForm posts a urlencoded form and checks the status.
func postForm(t *testing.T, h http.Handler, who, path string, form url.Values, want int) *httptest.ResponseRecorder {
	t.Helper()
	form.Set("csrf_token", "tok")
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Who", who)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != want {
		t.Fatalf("POST %s as %s: %d, want %d\n%s", path, who, w.Code, want, w.Body.String())
	}
	return w
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, xs := range v {
		out[k] = append([]string(nil), xs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// TestRecordKindPages works every kind through the generic pages: the
// list, a create (version 1), an edit with a reason (version 2, the
// history shows both), a stale edit (409) and a change without a reason
// (400).
func TestRecordKindPages(t *testing.T) {
	s := shared.Store(t)
	cases := []struct {
		slug      string
		create    url.Values
		edit, to  string // a field changed by the edit
		shown     string // how the view shows the new value
		listShows string
		viewShows string
	}{
		{"incidents", url.Values{"title": {"Lost laptop"}, "status": {"open"}, "discovered": {"2026-11-20"}, "source": {"manual"}, "opened_by": {"po@clinic"}},
			"title", "Lost laptop, encrypted", "Lost laptop, encrypted", "Lost laptop", "Breach clock"},
		{"patient-requests", url.Values{"type": {"access"}, "patient_id": {"P-77"}, "received": {"2026-11-25"}, "status": {"open"}},
			"details", "copy of the chart", "copy of the chart", "access", "2026-12-25"},
		{"disclosures", url.Values{"patient_id": {"P-77"}, "disclosed_on": {"2026-11-02"}, "recipient": {"County health dept"}, "description": {"immunization record"},
			"purpose": {"public health reporting"}, "accountable": {"on"}}, "recipient", "State health dept", "State health dept", "County health dept", "public health reporting"},
		{"calendar", url.Values{"task": {"log_review"}, "period": {"2026-11"}, "title": {"November log review"}, "due": {"2026-12-31"}, "status": {"open"}},
			"owner", "lee@clinic", "lee@clinic", "November log review", "log_review"},
		{"findings", url.Values{"title": {"Shared front-desk login"}, "severity": {"high"}, "owner": {"pm"}, "status": {"open"}},
			"corrective_actions", `[{"action":"individual logins","owner":"it","due":"2027-01-15"}]`, "individual logins", "Shared front-desk login", "high"},
		{"sanctions", url.Values{"person": {"dortiz"}, "violation": {"looked up a relative"}, "sanction": {"written warning"}, "imposed_on": {"2026-11-30"}, "imposed_by": {"pm"}},
			"sanction", "retraining", "retraining", "written warning", "looked up a relative"},
		{"risk-analyses", url.Values{"title": {"2026 risk analysis"}, "performed_on": {"2026-11-01"}, "scope": {"all ePHI systems"},
			"assets": {`[{"name":"EHR","kind":"ehr","ephi":true}]`}, "next_due": {"2027-11-01"}}, "method", "NIST SP 800-30", "NIST SP 800-30", "2026 risk analysis", "EHR"},
		{"risks", url.Values{"asset": {"EHR"}, "threat": {"phishing"}, "vulnerability": {"no MFA"}, "likelihood": {"4"}, "impact": {"4"}, "treatment": {"mitigate"},
			"plan": {"enable MFA"}, "owner": {"it"}, "due": {"2027-02-01"}, "status": {"open"}}, "likelihood", "2", "<th>Likelihood (1–5)</th><td>2</td>", "phishing", "Risk level"},
		{"policies", url.Values{"title": {"Access control"}, "rule": {"164.312(a)(1)"}, "markdown": {"# Access\nUnique logins."}, "status": {"draft"}},
			"title", "Access control policy", "Access control policy", "Access control", "Unique logins."},
		{"policy-acks", url.Values{"policy_id": {"pol-1"}, "policy_version": {"1"}, "person": {"ann"}, "acked_on": {"2026-11-30"}},
			"acked_on", "2026-12-01", "<th>Acknowledged on</th><td>2026-12-01</td>", "ann", "pol-1"},
		{"training-courses", url.Values{"title": {"HIPAA refresher"}, "type": {"annual_refresher"}, "roles": {"nurse, front_desk"}, "due_days": {"30"}},
			"pass_score", "80", "<th>Pass score (0–100; 0: no quiz)</th><td>80</td>", "HIPAA refresher", "nurse, front_desk"},
		{"training-assignments", url.Values{"course_id": {"course-1"}, "person": {"ann"}, "assigned": {"2026-11-01"}, "due": {"2026-12-01"}},
			"due", "2026-12-15", "<th>Due</th><td>2026-12-15</td>", "course-1", "ann"},
		{"training-completions", url.Values{"course_id": {"course-1"}, "person": {"ann"}, "completed_on": {"2026-11-20"}, "score": {"92"}},
			"score", "95", "<th>Quiz score</th><td>95</td>", "course-1", "92"},
		{"vendors", url.Values{"name": {"Acme Billing"}, "services": {"claims"}, "phi": {"claims data"}, "baa_status": {"requested"}, "systems": {"EHR, SFTP"}},
			"baa_status", "none", "<th>BAA status</th><td>none</td>", "Acme Billing", "EHR, SFTP"},
	}
	if len(cases) != len(kindPages()) {
		t.Fatalf("%d kinds tested, %d have pages", len(cases), len(kindPages()))
	}
	for _, tc := range cases {
		t.Run(tc.slug, func(t *testing.T) {
			tenant := "rec-" + tc.slug
			h := harness(t, s, recordsNow, recordPeople(tenant))
			base := "/ui/t/" + tenant + "/compliance/" + tc.slug
			get(t, h, "officer", base, 200)
			mustContain(t, "new form", get(t, h, "officer", base+"/new", 200), `name="reason"`, `name="csrf_token" value="tok"`)

			w := postForm(t, h, "officer", base, with(tc.create, "record_id", "r-1", "reason", "entered from the paper file"), http.StatusSeeOther)
			if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, base+"/r-1?done=") {
				t.Fatalf("create redirects to %q", loc)
			}
			list := get(t, h, "officer", base, 200)
			mustContain(t, "list", list, base+"/r-1", "v1", tc.listShows)
			view := get(t, h, "officer", base+"/r-1", 200)
			mustContain(t, "view", view, "version 1", tc.viewShows, "entered from the paper file", "po@clinic")
			mustContain(t, "edit form", get(t, h, "officer", base+"/r-1/edit", 200), `name="base_version" value="1"`)

			// Creating the same id again is a conflict, not an overwrite.
			w = postForm(t, h, "officer", base, with(tc.create, "record_id", "r-1", "reason", "again"), http.StatusConflict)
			mustContain(t, "409 on create", w.Body.String(), "with the id r-1 already exists")

			edit := with(tc.create, tc.edit, tc.to, "base_version", "1", "reason", "corrected after the call")
			postForm(t, h, "officer", base+"/r-1", edit, http.StatusSeeOther)
			view = get(t, h, "officer", base+"/r-1", 200)
			mustContain(t, "view after the edit", view, "version 2", `data-history-version="1"`, `data-history-version="2"`,
				"entered from the paper file", "corrected after the call")
			if !strings.Contains(view, tc.shown) {
				t.Errorf("view lacks the edited %s %q", tc.edit, tc.shown)
			}

			stale := postForm(t, h, "officer", base+"/r-1", with(edit, "reason", "late edit"), http.StatusConflict)
			mustContain(t, "409 page", stale.Body.String(), "changed by someone else", "version 2", "from version 1")
			noReason := postForm(t, h, "officer", base+"/r-1", with(edit, "base_version", "2", "reason", ""), http.StatusBadRequest)
			mustContain(t, "400 page", noReason.Body.String(), "needs a reason")
			postForm(t, h, "officer", base+"/r-1", with(edit, "base_version", ""), http.StatusBadRequest)
			get(t, h, "officer", base+"/nope", 404)
		})
	}
}

func TestRecordValidationAndPermissions(t *testing.T) {
	s := shared.Store(t)
	tenant := "rec-perm"
	h := harness(t, s, recordsNow, recordPeople(tenant))
	base := "/ui/t/" + tenant + "/compliance"

	// The domain's message comes back with 400.
	w := postForm(t, h, "officer", base+"/risks", url.Values{"asset": {"EHR"}, "threat": {"t"}, "vulnerability": {"v"}, "likelihood": {"3"}, "impact": {"3"},
		"treatment": {"mitigate"}, "owner": {"it"}, "status": {"open"}, "reason": {"r"}}, http.StatusBadRequest)
	mustContain(t, "risk without a plan", w.Body.String(), "needs the plan and its due day")
	w = postForm(t, h, "officer", base+"/sanctions", url.Values{"person": {"x"}, "reason": {"r"}}, http.StatusBadRequest)
	mustContain(t, "missing required field", w.Body.String(), "Violation is required")
	w = postForm(t, h, "officer", base+"/training-completions", url.Values{"course_id": {"c"}, "person": {"p"}, "completed_on": {"30/11/2026"}, "reason": {"r"}}, http.StatusBadRequest)
	mustContain(t, "bad date", w.Body.String(), "want YYYY-MM-DD")

	// HTML in user text is escaped; a patient id in a list is masked.
	postForm(t, h, "officer", base+"/sanctions", url.Values{"record_id": {"s1"}, "person": {"<b>dortiz</b>"}, "violation": {`<script>alert("x")</script>`},
		"sanction": {"warning"}, "imposed_on": {"2026-11-30"}, "imposed_by": {"pm"}, "reason": {"<i>why</i>"}}, http.StatusSeeOther)
	for _, page := range []string{get(t, h, "auditor", base+"/sanctions", 200), get(t, h, "auditor", base+"/sanctions/s1", 200)} {
		if strings.Contains(page, "<script>alert") || strings.Contains(page, "<b>dortiz") || strings.Contains(page, "<i>why") {
			t.Fatalf("user text not escaped:\n%s", page)
		}
		mustContain(t, "escaped page", page, "&lt;b&gt;dortiz&lt;/b&gt;")
	}
	mustContain(t, "escaped view", get(t, h, "auditor", base+"/sanctions/s1", 200), "&lt;script&gt;", "&lt;i&gt;why&lt;/i&gt;")
	postForm(t, h, "officer", base+"/patient-requests", url.Values{"record_id": {"q1"}, "type": {"access"}, "patient_id": {"MRN-1234"}, "received": {"2026-11-01"},
		"status": {"open"}, "reason": {"walk-in"}}, http.StatusSeeOther)
	list := get(t, h, "auditor", base+"/patient-requests", 200)
	if strings.Contains(list, "MRN-1234") || !strings.Contains(list, "••••1234") {
		t.Fatalf("patient id not masked in the list:\n%s", list)
	}
	// Received 1 Nov, access: due 1 Dec, today → badge "due today".
	mustContain(t, "request list badge", list, "badge-due", "due today")
	mustContain(t, "request view", get(t, h, "officer", base+"/patient-requests/q1", 200), "2026-12-01 (45 CFR 164.524(b)(2))")
	if home := get(t, h, "officer", base, 200); strings.Contains(home, "MRN-1234") || !strings.Contains(home, "••••1234") {
		t.Errorf("the home page's due list shows an unmasked patient id:\n%s", home)
	}

	// An auditor reads everything but changes nothing; a manager has no records access.
	home := get(t, h, "auditor", base, 200)
	mustContain(t, "auditor home", home, "data-binder", base+"/incidents")
	view := get(t, h, "auditor", base+"/sanctions/s1", 200)
	if strings.Contains(view, "data-edit") || strings.Contains(get(t, h, "auditor", base+"/sanctions", 200), "data-new") {
		t.Error("the auditor is offered forms")
	}
	get(t, h, "auditor", base+"/sanctions/new", 403)
	get(t, h, "auditor", base+"/sanctions/s1/edit", 403)
	postForm(t, h, "auditor", base+"/sanctions", url.Values{"person": {"x"}, "reason": {"r"}}, 403)
	postForm(t, h, "auditor", base+"/sanctions/s1", url.Values{"base_version": {"1"}, "reason": {"r"}}, 403)
	postForm(t, h, "auditor", base+"/calendar/generate", url.Values{"year": {"2027"}}, 403)
	get(t, h, "boss", base, 403)
	get(t, h, "boss", base+"/incidents", 403)
	// The binder is an audited export: without the audit trail it is refused.
	get(t, h, "officer", base+"/binder", http.StatusServiceUnavailable)
}

// incidentWith creates an incident through the form and records the
// assessment with the given numbers.
func incidentWith(t *testing.T, h http.Handler, base, id, affected, states string) {
	t.Helper()
	postForm(t, h, "officer", base+"/incidents", url.Values{"record_id": {id}, "title": {"Misdirected fax " + id}, "status": {"open"}, "discovered": {"2026-11-20"},
		"source": {"manual"}, "opened_by": {"po@clinic"}, "reason": {"reported by front desk"}}, http.StatusSeeOther)
	form := url.Values{"base_version": {"1"}, "affected": {affected}, "states": {states}, "determination": {"breach"}, "rationale": {"PHI viewed by an outsider"}}
	for _, f := range []string{"nature_extent", "recipient", "acquired_viewed", "mitigation"} {
		form.Set(f+"_risk", "high")
		form.Set(f+"_notes", "see timeline")
	}
	postForm(t, h, "officer", base+"/incidents/"+id+"/assessment", form, http.StatusSeeOther)
}

func TestIncidentPages(t *testing.T) {
	s := shared.Store(t)
	tenant := "rec-incident"
	h := harness(t, s, recordsNow, recordPeople(tenant))
	base := "/ui/t/" + tenant + "/compliance"

	// 501 affected in one state: HHS at once and the media in that state.
	incidentWith(t, h, base, "big", "501", "TX=501")
	clock := get(t, h, "auditor", base+"/incidents/big/clock", 200)
	mustContain(t, "clock of 501", clock, `data-deadline="individual"`, `data-deadline="hhs"`, `data-deadline="media-TX"`,
		"2027-01-19", "49 days left", "Media in TX", "HHS (500 or more: at once)")
	if strings.Contains(clock, "hhs_annual_log") {
		t.Error("501 affected go to HHS at once, not the annual log")
	}
	// 10 affected: the annual log, due 60 days after the year ends; no media.
	incidentWith(t, h, base, "small", "10", "TX=10")
	clock = get(t, h, "auditor", base+"/incidents/small/clock", 200)
	mustContain(t, "clock of 10", clock, `data-deadline="individual"`, `data-deadline="hhs_annual_log"`, "2027-03-01", "HHS annual log")
	if strings.Contains(clock, "media") || strings.Contains(clock, `data-deadline="hhs"`) {
		t.Error("10 affected owe no media notice nor HHS at once")
	}
	// As of a later day the notices are overdue.
	mustContain(t, "overdue clock", get(t, h, "auditor", base+"/incidents/big/clock?day=2027-01-21", 200), "2 days overdue", "badge-overdue")
	get(t, h, "auditor", base+"/incidents/big/clock?day=soon", 400)

	// The view page shows the clock, the assessment and the timeline; a
	// timeline entry and a notice are new versions.
	view := get(t, h, "officer", base+"/incidents/big", 200)
	mustContain(t, "incident view", view, "version 2", `data-deadline="media-TX"`, "Assessed by po@clinic", "reported by front desk", "opened by hand")
	postForm(t, h, "officer", base+"/incidents/big/timeline", url.Values{"base_version": {"2"}, "note": {"called the fax recipient"}}, http.StatusSeeOther)
	postForm(t, h, "officer", base+"/incidents/big/timeline", url.Values{"base_version": {"2"}, "note": {"stale"}}, http.StatusConflict)
	postForm(t, h, "officer", base+"/incidents/big/notice", url.Values{"base_version": {"3"}, "kind": {"individual"}, "sent_on": {"2026-11-30"}, "method": {"mail"}}, http.StatusSeeOther)
	view = get(t, h, "officer", base+"/incidents/big", 200)
	mustContain(t, "incident after the notice", view, "version 4", "called the fax recipient", "sent 2026-11-30", "investigation: called the fax recipient")
	// The generic edit keeps what it does not show (timeline, notices, assessment).
	postForm(t, h, "officer", base+"/incidents/big", url.Values{"base_version": {"4"}, "reason": {"title"}, "title": {"Misdirected fax to a pharmacy"},
		"status": {"investigating"}, "discovered": {"2026-11-20"}, "source": {"manual"}, "determination": {"breach"}}, http.StatusSeeOther)
	ts, _ := store.ForTenant(s, tenant)
	in, err := records.Get[records.Incident](context.Background(), ts, "big")
	if err != nil || in.Version != 5 || len(in.Body.Timeline) != 2 || in.Body.Timeline[0].Note != "opened by hand" || len(in.Body.Notices) != 1 || in.Body.Assessment == nil || in.Body.Affected != 501 {
		t.Fatalf("incident after a generic edit: %+v %v", in, err)
	}
	// Low probability with a factor above low is refused with the rule's words.
	form := url.Values{"base_version": {"5"}, "affected": {"501"}, "states": {"TX=501"}, "determination": {"low_probability"}, "rationale": {"r"},
		"nature_extent_risk": {"high"}, "nature_extent_notes": {"n"}, "recipient_risk": {"low"}, "recipient_notes": {"n"},
		"acquired_viewed_risk": {"low"}, "acquired_viewed_notes": {"n"}, "mitigation_risk": {"low"}, "mitigation_notes": {"n"}}
	w := postForm(t, h, "officer", base+"/incidents/big/assessment", form, http.StatusBadRequest)
	mustContain(t, "refused determination", w.Body.String(), "a breach is presumed")
	w = postForm(t, h, "officer", base+"/incidents/big/assessment", with(form, "states", "Texas=5"), http.StatusBadRequest)
	mustContain(t, "bad state", w.Body.String(), "two-letter code")

	// The compliance home counts the open incidents and lists what is due.
	home := get(t, h, "officer", base, 200)
	mustContain(t, "home", home, `data-incidents>2`, "Download the evidence binder", base+"/incidents\"")
}

func TestRecordActions(t *testing.T) {
	s := shared.Store(t)
	tenant := "rec-actions"
	h := harness(t, s, recordsNow, recordPeople(tenant))
	base := "/ui/t/" + tenant + "/compliance"

	// Patient request: extension, then the outcome.
	postForm(t, h, "officer", base+"/patient-requests", url.Values{"record_id": {"q"}, "type": {"access"}, "patient_id": {"P-1"}, "received": {"2026-11-10"},
		"status": {"open"}, "reason": {"letter"}}, http.StatusSeeOther)
	mustContain(t, "request view", get(t, h, "officer", base+"/patient-requests/q", 200), "2026-12-10", `data-action="extend"`, `data-action="decide"`)
	postForm(t, h, "officer", base+"/patient-requests/q/do/extend", url.Values{"base_version": {"1"}, "reason": {"records offsite"},
		"extension_reason": {"records in storage"}, "extension_notified": {"2026-12-20"}}, http.StatusBadRequest) // after the first 30 days
	postForm(t, h, "officer", base+"/patient-requests/q/do/extend", url.Values{"base_version": {"1"}, "reason": {"records offsite"},
		"extension_reason": {"records in storage"}, "extension_notified": {"2026-11-30"}}, http.StatusSeeOther)
	mustContain(t, "extended request", get(t, h, "officer", base+"/patient-requests/q", 200), "2027-01-09", "version 2")
	w := postForm(t, h, "officer", base+"/patient-requests/q/do/decide", url.Values{"base_version": {"2"}, "reason": {"decided"}, "status": {"denied"},
		"decided_on": {"2026-12-01"}}, http.StatusBadRequest)
	mustContain(t, "denial without basis", w.Body.String(), "a denial needs its basis")
	postForm(t, h, "officer", base+"/patient-requests/q/do/decide", url.Values{"base_version": {"2"}, "reason": {"decided"}, "status": {"granted"},
		"decided_on": {"2026-12-01"}}, http.StatusSeeOther)
	postForm(t, h, "officer", base+"/patient-requests/q/do/nope", url.Values{"base_version": {"3"}, "reason": {"x"}}, http.StatusNotFound)

	// Calendar: generate the year, complete a task with evidence.
	w = postForm(t, h, "officer", base+"/calendar/generate", url.Values{"year": {"2027"}, "owner": {"po@clinic"}}, http.StatusSeeOther)
	if loc := w.Header().Get("Location"); !strings.Contains(loc, "tasks+of+2027") {
		t.Fatalf("generate redirects to %q", loc)
	}
	ts, _ := store.ForTenant(s, tenant)
	ctx := context.Background()
	tasks, err := records.List[records.CalendarTask](ctx, ts)
	if err != nil || len(tasks) < 12 || tasks[0].Body.Owner != "po@clinic" {
		t.Fatalf("generated tasks: %d %v", len(tasks), err)
	}
	id := tasks[0].ID
	mustContain(t, "calendar list", get(t, h, "officer", base+"/calendar", 200), base+"/calendar/"+id)
	postForm(t, h, "officer", base+"/calendar/"+id+"/do/complete", url.Values{"base_version": {"1"}, "reason": {"done"}, "completed_on": {"2027-02-01"}}, http.StatusBadRequest)
	postForm(t, h, "officer", base+"/calendar/"+id+"/do/complete", url.Values{"base_version": {"1"}, "reason": {"done"}, "completed_on": {"2027-02-01"},
		"completed_by": {"po@clinic"}, "evidence": {"sign-off rv-2027-01"}}, http.StatusSeeOther)
	task, err := records.Get[records.CalendarTask](ctx, ts, id)
	if err != nil || task.Body.Status != "done" || task.Body.Evidence != "sign-off rv-2027-01" || task.Version != 2 {
		t.Fatalf("completed task %+v %v", task, err)
	}

	// Policy: acknowledge the current version, once.
	postForm(t, h, "officer", base+"/policies", url.Values{"record_id": {"pol"}, "title": {"Sanctions"}, "rule": {"164.308(a)(1)"}, "markdown": {"text"},
		"status": {"draft"}, "reason": {"new"}}, http.StatusSeeOther)
	w = postForm(t, h, "officer", base+"/policies/pol/acknowledge", url.Values{"policy_version": {"1"}}, http.StatusSeeOther)
	mustContain(t, "ack redirect", w.Header().Get("Location"), "version+1+acknowledged")
	w = postForm(t, h, "officer", base+"/policies/pol/acknowledge", url.Values{"policy_version": {"1"}}, http.StatusSeeOther)
	mustContain(t, "second ack", w.Header().Get("Location"), "already")
	postForm(t, h, "officer", base+"/policies/pol/acknowledge", url.Values{"policy_version": {"7"}}, http.StatusConflict)
	acks, err := records.List[records.PolicyAck](ctx, ts)
	if err != nil || len(acks) != 1 || acks[0].Body.Person != "po@clinic" || acks[0].Body.PolicyVersion != 1 {
		t.Fatalf("acks %+v %v", acks, err)
	}

	// Training: a completions CSV upload; the same file again adds nothing.
	upload := func(csv string, want int) *httptest.ResponseRecorder {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		_ = mw.WriteField("csrf_token", "tok")
		fw, _ := mw.CreateFormFile("file", "lms.csv")
		_, _ = fw.Write([]byte(csv))
		_ = mw.Close()
		req := httptest.NewRequest("POST", base+"/training-completions/import", &b)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("X-Who", "officer")
		rw := httptest.NewRecorder()
		h.ServeHTTP(rw, req)
		if rw.Code != want {
			t.Fatalf("upload: %d, want %d\n%s", rw.Code, want, rw.Body.String())
		}
		return rw
	}
	csv := "course_id,person,completed_on,score\nhipaa,ann,2026-11-20,90\nhipaa,bob,2026-11-21,85\n"
	mustContain(t, "first import", upload(csv, http.StatusSeeOther).Header().Get("Location"), "2+completions+imported%2C+0+already")
	mustContain(t, "second import", upload(csv, http.StatusSeeOther).Header().Get("Location"), "0+completions+imported%2C+2+already")
	upload("nonsense\n", http.StatusBadRequest)
	mustContain(t, "completions list", get(t, h, "officer", base+"/training-completions", 200), "enctype=\"multipart/form-data\"", "ann", "bob")
}

// TestBrowserBreachClock: a privacy officer opens the compliance home in
// headless Chromium, creates an incident through the form, records the
// assessment with 501 affected in one state and reads the breach clock.
func TestBrowserBreachClock(t *testing.T) {
	bctx := browsertest.New(t, 90*time.Second)
	s := shared.Store(t)
	tenant := "rec-browser"
	h := harness(t, s, recordsNow, recordPeople(tenant))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ck, err := r.Cookie("who"); err == nil {
			r.Header.Set("X-Who", ck.Value)
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	if _, err := chromedp.Call(bctx, network.SetCookie, network.SetCookieParams{Name: "who", Value: "officer", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	home := srv.URL + "/ui/t/" + tenant + "/compliance"
	if err := chromedp.Do(bctx,
		chromedp.Navigate(home),
		chromedp.WaitVisible(chromedp.CSS("table[data-status]")),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(bctx, t, "compliance-home")
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`a[href$="/compliance/incidents"]`)),
		chromedp.WaitVisible(chromedp.CSS("a[data-new]")),
		chromedp.Click(chromedp.CSS("a[data-new]")),
		chromedp.WaitVisible(chromedp.CSS("form[data-record-form]")),
		chromedp.SendKeys(chromedp.CSS("#f-title"), "Lab results emailed to the wrong patient"),
		chromedp.SetValue(chromedp.CSS("#f-discovered"), "2026-11-20"),
		chromedp.SendKeys(chromedp.CSS("#f-reason"), "reported by the lab"),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(bctx, t, "incident-form")
	if err := chromedp.Do(bctx,
		chromedp.Submit(chromedp.CSS("#f-reason")),
		chromedp.WaitVisible(chromedp.CSS("form[data-assessment-form]")),
		chromedp.SetValue(chromedp.CSS("#f-nature_extent_risk"), "high"),
		chromedp.SendKeys(chromedp.CSS("#f-nature_extent_notes"), "diagnoses and SSNs"),
		chromedp.SetValue(chromedp.CSS("#f-recipient_risk"), "medium"),
		chromedp.SendKeys(chromedp.CSS("#f-recipient_notes"), "another patient"),
		chromedp.SetValue(chromedp.CSS("#f-acquired_viewed_risk"), "high"),
		chromedp.SendKeys(chromedp.CSS("#f-acquired_viewed_notes"), "opened"),
		chromedp.SetValue(chromedp.CSS("#f-mitigation_risk"), "medium"),
		chromedp.SendKeys(chromedp.CSS("#f-mitigation_notes"), "asked to delete"),
		chromedp.SetValue(chromedp.CSS("#f-affected"), "501"),
		chromedp.SendKeys(chromedp.CSS("#f-states"), "TX=501"),
		chromedp.SetValue(chromedp.CSS("#f-determination"), "breach"),
		chromedp.SendKeys(chromedp.CSS("#f-rationale"), "a breach is presumed and not rebutted"),
		chromedp.Submit(chromedp.CSS("#f-rationale")),
		// Only the page after the save shows who assessed.
		chromedp.WaitVisible(chromedp.CSS("section.assessment p.muted")),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(bctx, t, "incident-assessed")
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`a[href$="/clock"]`)),
		chromedp.WaitVisible(chromedp.CSS("table[data-clock]")),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(bctx, t, "breach-clock")
	for sel, want := range map[string]string{
		`tr[data-deadline="individual"] td:nth-child(2)`: "2027-01-19",
		`tr[data-deadline="hhs"] td:nth-child(3)`:        "49 days left",
		`tr[data-deadline="media-TX"] td:nth-child(1)`:   "Media in TX",
	} {
		got, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", sel, got, err, want)
		}
	}
}

type noteAuditor struct{ entries []audit.Entry }

func (a *noteAuditor) Record(_ context.Context, e audit.Entry) error {
	a.entries = append(a.entries, e)
	return nil
}

// TestBinderDownload: the binder link answers a ZIP once the export is in
// the audit trail.
func TestBinderDownload(t *testing.T) {
	s := shared.Store(t)
	tenant := "rec-binder"
	u, err := New(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return recordsNow },
		CSRFToken: func(*gin.Context) string { return "tok" }})
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := store.ForTenant(s, tenant)
	if err := records.SeedDemo(context.Background(), ts, records.DateOf(recordsNow)); err != nil {
		t.Fatal(err)
	}
	trail := &noteAuditor{}
	r := gin.New()
	r.GET("/ui/t/:tenant/compliance/binder", audit.Middleware(trail, slog.New(slog.NewTextHandler(io.Discard, nil))), func(c *gin.Context) {
		route.SetPrincipal(c, recordPeople(tenant)["auditor"])
		route.SetStore(c, ts)
	}, u.binder)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/ui/t/"+tenant+"/compliance/binder?from=2026-01-01", nil))
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/zip" {
		t.Fatalf("binder: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	zr, err := zip.NewReader(bytes.NewReader(w.Body.Bytes()), int64(w.Body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
	}
	for _, want := range []string{"index.md", "summary.pdf", "records/incident.csv", "calendar/calendar.md"} {
		if !names[want] {
			t.Errorf("binder lacks %s", want)
		}
	}
	noted := false
	for _, e := range trail.entries {
		noted = noted || (e.Action == audit.ActionEvidenceExport && e.Target == "binder:2026-01-01..2026-12-01")
	}
	if !noted {
		t.Errorf("the export is not in the audit trail: %+v", trail.entries)
	}
}

// FuzzApplyForm: whatever a form posts, the record is either refused as
// invalid or encoded as a JSON object holding only the kind's fields.
func FuzzApplyForm(f *testing.F) {
	f.Add("title=x&discovered=2026-11-20&affected=5&patient_ids=a,b&ba_is_agent=on")
	f.Add("corrective_actions=[1,2]&severity=high&likelihood=3")
	f.Add("due_days=1e400&score=-0&assets={}")
	fields := map[string]field{}
	for _, k := range kindPages() {
		for _, fd := range k.Fields {
			fields[fd.Name] = fd
		}
	}
	var all []field
	for _, fd := range fields {
		all = append(all, fd)
	}
	f.Fuzz(func(t *testing.T, q string) {
		form, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		b, err := applyForm(map[string]any{}, all, form, false)
		if err != nil {
			if !errors.Is(err, records.ErrInvalid) {
				t.Fatalf("error not marked invalid: %v", err)
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("not a JSON object: %s: %v", b, err)
		}
		for n := range m {
			if _, ok := fields[n]; !ok {
				t.Fatalf("unknown field %q written", n)
			}
		}
	})
}
