// Package records serves the compliance records (internal/records) under
// /api/v1/tenants/:tenant: every record kind with list, read, history,
// create, new version, CSV export and import; incident intake, timeline and
// breach clock; patient rights with the accounting of disclosures and the
// access report; the audit calendar; training status; the compliance
// status and the evidence binder.
package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/records"
	"github.com/phiwatch/phiwatch/internal/review"
)

// Deps is what the routes need.
type Deps struct {
	Log *slog.Logger
	Now func() time.Time
	// Evidence is what the binder adds from the other workflows (default:
	// the monthly log reviews and the recertification campaigns).
	Evidence []records.EvidenceSource
	// Workflows feed the compliance status (default: the review periods
	// and recertification campaigns, when a tenant has any).
	Workflows *records.Workflows
}

type handlers struct{ d Deps }

// Routes lists the compliance-record endpoints.
func Routes(d Deps) []route.Route {
	d = d.withDefaults()
	h := handlers{d}
	var rs []route.Route
	rs = append(rs, kindRoutes[records.Incident](h, "/incidents", "inc")...)
	rs = append(rs, kindRoutes[records.PatientRequest](h, "/patient-requests", "req")...)
	rs = append(rs, kindRoutes[records.Disclosure](h, "/disclosures", "disc")...)
	rs = append(rs, kindRoutes[records.CalendarTask](h, "/calendar", "cal")...)
	rs = append(rs, kindRoutes[records.Finding](h, "/findings", "fnd")...)
	rs = append(rs, kindRoutes[records.Sanction](h, "/sanctions", "snc")...)
	rs = append(rs, kindRoutes[records.RiskAnalysis](h, "/risk-analyses", "ra")...)
	rs = append(rs, kindRoutes[records.Risk](h, "/risks", "risk")...)
	rs = append(rs, kindRoutes[records.Policy](h, "/policies", "pol")...)
	rs = append(rs, kindRoutes[records.PolicyAck](h, "/policy-acks", "ack")...)
	rs = append(rs, kindRoutes[records.Course](h, "/training/courses", "course")...)
	rs = append(rs, kindRoutes[records.Assignment](h, "/training/assignments", "asg")...)
	rs = append(rs, kindRoutes[records.Completion](h, "/training/completions", "cmp")...)
	rs = append(rs, kindRoutes[records.Vendor](h, "/vendors", "vendor")...)
	rs = append(rs,
		route.Route{Method: "POST", Path: "/incidents/intake", Perm: authz.WriteRecords, Handle: h.intake},
		route.Route{Method: "POST", Path: "/incidents/:id/timeline", Perm: authz.WriteRecords, Handle: h.timeline},
		route.Route{Method: "GET", Path: "/incidents/:id/clock", Perm: authz.ReadRecords, Handle: h.incidentClock},
		route.Route{Method: "GET", Path: "/breaches/clock", Perm: authz.ReadRecords, Handle: h.clock},
		route.Route{Method: "GET", Path: "/breaches/deadlines", Perm: authz.ReadRecords, Handle: h.deadlines},
		route.Route{Method: "GET", Path: "/breaches/hhs-log", Perm: authz.ExportEvidence, Handle: h.hhsLog},
		route.Route{Method: "GET", Path: "/patients/:patient/accounting", Perm: authz.ReadEvents, Handle: h.accounting},
		route.Route{Method: "GET", Path: "/patients/:patient/access-report", Perm: authz.ReadEvents, Handle: h.accessReport},
		route.Route{Method: "POST", Path: "/calendar/generate", Perm: authz.WriteRecords, Handle: h.generateCalendar},
		route.Route{Method: "GET", Path: "/risk-analyses/seed-assets", Perm: authz.ReadRecords, Handle: h.seedAssets},
		route.Route{Method: "GET", Path: "/policies/:id/acks", Perm: authz.ReadRecords, Handle: h.acks},
		route.Route{Method: "GET", Path: "/training/status", Perm: authz.ReadRecords, Handle: h.trainingStatus},
		route.Route{Method: "POST", Path: "/training/assign", Perm: authz.WriteRecords, Handle: h.assign},
		route.Route{Method: "POST", Path: "/training/completions/import-lms", Perm: authz.WriteRecords, Handle: h.importLMS},
		route.Route{Method: "GET", Path: "/compliance/status", Perm: authz.ReadRecords, Handle: h.status},
		route.Route{Method: "GET", Path: "/compliance/reminders", Perm: authz.ReadRecords, Handle: h.reminders},
		route.Route{Method: "GET", Path: "/binder", Perm: authz.ExportEvidence, Handle: h.binder},
	)
	return rs
}

func (d Deps) withDefaults() Deps {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	// The review service is only read here (periods and their exports), so
	// its configuration does not matter.
	svc := review.NewService(review.Config{}, nil, d.Now)
	if d.Evidence == nil {
		d.Evidence = []records.EvidenceSource{records.ReviewEvidence{Service: svc}, records.RecertEvidence{}}
	}
	if d.Workflows == nil {
		d.Workflows = &records.Workflows{Review: svc, Recert: true}
	}
	return d
}

// fail maps domain errors to problems; anything else is logged and hidden.
func (h handlers) fail(c *gin.Context, what string, err error) {
	switch {
	case errors.Is(err, records.ErrNotFound):
		route.Problem(c, http.StatusNotFound, "no such "+what)
	case errors.Is(err, records.ErrInvalid):
		route.Problem(c, http.StatusBadRequest, err.Error())
	case errors.Is(err, records.ErrConflict):
		route.Problem(c, http.StatusConflict, err.Error()+"; read it again and base the change on the current version")
	default:
		h.d.Log.Error("compliance records", "tenant", route.Tenant(c), "what", what, "err", err)
		route.Problem(c, http.StatusInternalServerError, what+" could not be processed; the error is in the server log")
	}
}

func actor(c *gin.Context) string {
	p := route.Principal(c)
	if p == nil {
		return ""
	}
	return p.Subject
}

func (h handlers) today() records.Date { return records.DateOf(h.d.Now()) }

// day reads ?name=YYYY-MM-DD, defaulting to today.
func (h handlers) day(c *gin.Context, name string) (records.Date, bool) {
	v := c.Query(name)
	if v == "" {
		return h.today(), true
	}
	d, err := records.ParseDate(v)
	if err != nil {
		route.Problem(c, http.StatusBadRequest, name+": "+err.Error())
		return d, false
	}
	return d, true
}

type listBody[T any] struct {
	Tenant string `json:"tenant"`
	Items  []T    `json:"items"`
}

func list[T any](c *gin.Context, items []T) {
	if items == nil {
		items = []T{}
	}
	c.JSON(http.StatusOK, listBody[T]{Tenant: route.Tenant(c), Items: items})
}

// createRequest is the body of a create: the record, why, and optionally its id.
type createRequest[T records.Body] struct {
	RecordID string `json:"record_id"`
	Reason   string `json:"reason"`
	Body     *T     `json:"body"`
}

// updateRequest is the body of a new version: the version it was made
// from, why, and the whole record as it should now be.
type updateRequest[T records.Body] struct {
	BaseVersion uint32 `json:"base_version"`
	Reason      string `json:"reason"`
	Body        *T     `json:"body"`
}

func decodeJSON(c *gin.Context, v any) bool {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		route.Problem(c, http.StatusBadRequest, "the body is not the JSON expected: "+err.Error())
		return false
	}
	return true
}

// kindRoutes are the endpoints every record kind has.
func kindRoutes[T records.Body](h handlers, path, prefix string) []route.Route {
	var zero T
	what := strings.ReplaceAll(string(zero.Kind()), "_", " ")
	return []route.Route{
		{Method: "GET", Path: path, Perm: authz.ReadRecords, Handle: func(c *gin.Context) {
			rs, err := records.List[T](c.Request.Context(), route.Store(c))
			if err != nil {
				h.fail(c, what, err)
				return
			}
			if c.Query("format") == "csv" {
				var buf bytes.Buffer
				if err := records.WriteCSV(&buf, rs); err != nil {
					h.fail(c, what, err)
					return
				}
				c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q", route.Tenant(c)+"-"+string(zero.Kind())+".csv"))
				c.Data(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
				return
			}
			list(c, rs)
		}},
		{Method: "POST", Path: path, Perm: authz.WriteRecords, Handle: func(c *gin.Context) {
			var req createRequest[T]
			if !decodeJSON(c, &req) {
				return
			}
			if req.Body == nil {
				route.Problem(c, http.StatusBadRequest, "the body needs the record in \"body\" and the reason in \"reason\"")
				return
			}
			now := h.d.Now()
			id := req.RecordID
			if id == "" {
				id = records.NewID(prefix, now)
			}
			v, err := records.Put(c.Request.Context(), route.Store(c), id, *req.Body, records.Change{Actor: actor(c), Reason: req.Reason, At: now})
			if err != nil {
				h.fail(c, what, err)
				return
			}
			c.JSON(http.StatusCreated, v)
		}},
		{Method: "POST", Path: path + "/import", Perm: authz.WriteRecords, Handle: func(c *gin.Context) {
			importCSV[T](h, c, what)
		}},
		{Method: "GET", Path: path + "/:id", Perm: authz.ReadRecords, Handle: func(c *gin.Context) {
			v, err := records.Get[T](c.Request.Context(), route.Store(c), c.Param("id"))
			if err != nil {
				h.fail(c, what, err)
				return
			}
			c.JSON(http.StatusOK, v)
		}},
		{Method: "PUT", Path: path + "/:id", Perm: authz.WriteRecords, Handle: func(c *gin.Context) {
			var req updateRequest[T]
			if !decodeJSON(c, &req) {
				return
			}
			if req.Body == nil || req.BaseVersion == 0 {
				route.Problem(c, http.StatusBadRequest, "the body needs the whole record in \"body\", the version it was made from in \"base_version\" and the reason in \"reason\"")
				return
			}
			v, err := records.Put(c.Request.Context(), route.Store(c), c.Param("id"), *req.Body,
				records.Change{Actor: actor(c), Reason: req.Reason, At: h.d.Now(), BaseVersion: req.BaseVersion})
			if err != nil {
				h.fail(c, what, err)
				return
			}
			c.JSON(http.StatusOK, v)
		}},
		{Method: "GET", Path: path + "/:id/history", Perm: authz.ReadRecords, Handle: func(c *gin.Context) {
			vs, err := records.History[T](c.Request.Context(), route.Store(c), c.Param("id"))
			if err != nil {
				h.fail(c, what, err)
				return
			}
			list(c, vs)
		}},
	}
}

// maxImport bounds a CSV import.
const maxImport = 8 << 20

// importCSV stores each record of a CSV export (records.WriteCSV's format)
// whose body differs from the current version as a new version; a file
// exported and imported unchanged changes nothing. ?reason= is required.
func importCSV[T records.Body](h handlers, c *gin.Context, what string) {
	reason := c.Query("reason")
	if strings.TrimSpace(reason) == "" {
		route.Problem(c, http.StatusBadRequest, "an import needs ?reason=, recorded on every version it writes")
		return
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxImport+1))
	if err != nil || len(body) > maxImport {
		route.Problem(c, http.StatusBadRequest, fmt.Sprintf("the CSV could not be read or is larger than %d bytes", maxImport))
		return
	}
	recs, err := records.ReadCSV[T](bytes.NewReader(body))
	if err != nil {
		h.fail(c, what+" CSV", err)
		return
	}
	ctx, db, now := c.Request.Context(), route.Store(c), h.d.Now()
	written, unchanged := 0, 0
	for _, r := range recs {
		cur, err := records.Get[T](ctx, db, r.ID)
		base := uint32(0)
		switch {
		case errors.Is(err, records.ErrNotFound):
		case err != nil:
			h.fail(c, what, err)
			return
		default:
			a, _ := json.Marshal(cur.Body)
			b, _ := json.Marshal(r.Body)
			if bytes.Equal(a, b) {
				unchanged++
				continue
			}
			base = cur.Version
		}
		if _, err := records.Put(ctx, db, r.ID, r.Body, records.Change{Actor: actor(c), Reason: "CSV import: " + reason, At: now, BaseVersion: base}); err != nil {
			h.fail(c, what+" "+r.ID, err)
			return
		}
		written++
	}
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "written": written, "unchanged": unchanged})
}

// intakeRequest opens an incident by hand or from a detector case.
type intakeRequest struct {
	Source     string       `json:"source"`
	SourceID   string       `json:"source_id"`
	Summary    string       `json:"summary"`
	PatientIDs []string     `json:"patient_ids"`
	Discovered records.Date `json:"discovered"`
}

func (h handlers) intake(c *gin.Context) {
	var req intakeRequest
	if !decodeJSON(c, &req) {
		return
	}
	if req.Source == "" {
		req.Source = records.SourceManual
	}
	if req.Source != records.SourceManual && req.Source != records.SourceCase {
		route.Problem(c, http.StatusBadRequest, "source is manual or case; review decisions open incidents through the review workflow")
		return
	}
	if strings.TrimSpace(req.Summary) == "" {
		route.Problem(c, http.StatusBadRequest, "an incident needs a summary")
		return
	}
	id, err := records.OpenIncident(c.Request.Context(), route.Store(c), records.IncidentRequest{Source: req.Source, SourceID: req.SourceID,
		Summary: req.Summary, Actor: actor(c), PatientIDs: req.PatientIDs, Discovered: req.Discovered}, h.d.Now())
	if err != nil {
		h.fail(c, "incident", err)
		return
	}
	v, err := records.Get[records.Incident](c.Request.Context(), route.Store(c), id)
	if err != nil {
		h.fail(c, "incident", err)
		return
	}
	c.JSON(http.StatusCreated, v)
}

func (h handlers) timeline(c *gin.Context) {
	var req struct {
		BaseVersion uint32 `json:"base_version"`
		Note        string `json:"note"`
	}
	if !decodeJSON(c, &req) {
		return
	}
	if strings.TrimSpace(req.Note) == "" || req.BaseVersion == 0 {
		route.Problem(c, http.StatusBadRequest, "a timeline entry needs its note and the incident version it adds to (base_version)")
		return
	}
	v, err := records.AddTimeline(c.Request.Context(), route.Store(c), c.Param("id"),
		records.TimelineEntry{At: h.d.Now().UTC(), Actor: actor(c), Note: req.Note}, req.BaseVersion)
	if err != nil {
		h.fail(c, "incident", err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (h handlers) incidentClock(c *gin.Context) {
	day, ok := h.day(c, "day")
	if !ok {
		return
	}
	v, err := records.Get[records.Incident](c.Request.Context(), route.Store(c), c.Param("id"))
	if err != nil {
		h.fail(c, "incident", err)
		return
	}
	dl := v.Body.Deadlines(day)
	if dl == nil {
		dl = []records.DeadlineStatus{}
	}
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "incident_id": v.ID, "day": day, "determination": v.Body.Determination, "deadlines": dl})
}

// clock computes a breach clock from query parameters, without a record:
// discovered, affected, states (TX=501,OK=12), role, ba_discovered, ba_agent.
func (h handlers) clock(c *gin.Context) {
	var in records.ClockInput
	var err error
	if in.Discovered, err = records.ParseDate(c.Query("discovered")); err != nil {
		route.Problem(c, http.StatusBadRequest, "discovered: "+err.Error())
		return
	}
	if in.Affected, err = strconv.Atoi(c.DefaultQuery("affected", "0")); err != nil {
		route.Problem(c, http.StatusBadRequest, "affected must be a whole number")
		return
	}
	if in.ByState, err = records.ParseStates(c.Query("states")); err != nil {
		route.Problem(c, http.StatusBadRequest, err.Error())
		return
	}
	in.Role = records.Role(c.Query("role"))
	if v := c.Query("ba_discovered"); v != "" {
		if in.BADiscovered, err = records.ParseDate(v); err != nil {
			route.Problem(c, http.StatusBadRequest, "ba_discovered: "+err.Error())
			return
		}
	}
	in.BAIsAgent = c.Query("ba_agent") == "true"
	dl, err := records.BreachClock(in)
	if err != nil {
		route.Problem(c, http.StatusBadRequest, err.Error())
		return
	}
	c.JSON(http.StatusOK, gin.H{"clock_start": in.ClockStart(), "deadlines": dl})
}

func window(c *gin.Context) (int, bool) {
	w, err := strconv.Atoi(c.DefaultQuery("window", "30"))
	if err != nil || w < 0 || w > 366 {
		route.Problem(c, http.StatusBadRequest, "window is a number of days from 0 to 366")
		return 0, false
	}
	return w, true
}

func (h handlers) deadlines(c *gin.Context) {
	day, ok := h.day(c, "day")
	if !ok {
		return
	}
	w, ok := window(c)
	if !ok {
		return
	}
	incidents, err := records.List[records.Incident](c.Request.Context(), route.Store(c))
	if err != nil {
		h.fail(c, "incidents", err)
		return
	}
	overdue, upcoming := records.Reminders(incidents, day, w)
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "day": day, "overdue": orEmpty(overdue), "upcoming": orEmpty(upcoming)})
}

func orEmpty[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

// evidenceNote records an export before it is sent: no record, no export.
func (h handlers) evidenceNote(c *gin.Context, target string) bool {
	if err := audit.Note(c, audit.ActionEvidenceExport, target, c.Query("reason")); err != nil {
		h.d.Log.Error("audit evidence export", "tenant", route.Tenant(c), "err", err)
		route.Problem(c, http.StatusServiceUnavailable, "the export could not be recorded in the audit trail, so it is refused; try again later")
		return false
	}
	return true
}

func (h handlers) hhsLog(c *gin.Context) {
	year, err := strconv.Atoi(c.DefaultQuery("year", strconv.Itoa(h.today().Year()-1)))
	if err != nil || year < 2009 || year > 2200 {
		route.Problem(c, http.StatusBadRequest, "year is a calendar year from 2009 (the Breach Notification Rule) on")
		return
	}
	incidents, err := records.List[records.Incident](c.Request.Context(), route.Store(c))
	if err != nil {
		h.fail(c, "incidents", err)
		return
	}
	var buf bytes.Buffer
	if err := records.WriteHHSLogCSV(&buf, incidents, year); err != nil {
		h.fail(c, "HHS breach log", err)
		return
	}
	if !h.evidenceNote(c, fmt.Sprintf("hhs-log:%d", year)) {
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("%s-hhs-breach-log-%d.csv", route.Tenant(c), year)))
	c.Data(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

// phiNote records a read of a patient's data before it is answered.
func (h handlers) phiNote(c *gin.Context, target string) bool {
	if err := audit.Note(c, audit.ActionReadEvents, target, c.Query("reason")); err != nil {
		h.d.Log.Error("audit patient read", "tenant", route.Tenant(c), "err", err)
		route.Problem(c, http.StatusServiceUnavailable, "the read could not be recorded in the audit trail, so it is refused; try again later")
		return false
	}
	return true
}

func (h handlers) accounting(c *gin.Context) {
	asOf, ok := h.day(c, "as_of")
	if !ok {
		return
	}
	years, err := strconv.Atoi(c.DefaultQuery("years", strconv.Itoa(records.AccountingMaxYears)))
	if err != nil || years < 1 || years > records.AccountingMaxYears {
		route.Problem(c, http.StatusBadRequest, "years is from 1 to 6 (45 CFR 164.528(a))")
		return
	}
	patient := c.Param("patient")
	out, err := records.Accounting(c.Request.Context(), route.Store(c), patient, asOf, years)
	if err != nil {
		h.fail(c, "accounting of disclosures", err)
		return
	}
	if !h.phiNote(c, "accounting:patient:"+patient) {
		return
	}
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "patient_id": patient, "as_of": asOf, "years": years, "items": orEmpty(out)})
}

func (h handlers) accessReport(c *gin.Context) {
	to := h.d.Now()
	from := to.AddDate(-1, 0, 0)
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				route.Problem(c, http.StatusBadRequest, name+" must be an RFC 3339 time, e.g. 2026-10-01T00:00:00Z")
				return
			}
			*dst = t
		}
	}
	if !from.Before(to) || to.Sub(from) > 7*366*24*time.Hour {
		route.Problem(c, http.StatusBadRequest, "from must be before to, and the period at most 7 years")
		return
	}
	patient := c.Param("patient")
	out, err := records.AccessReport(c.Request.Context(), route.Store(c), patient, from, to)
	if err != nil {
		h.fail(c, "access report", err)
		return
	}
	if !h.phiNote(c, "access-report:patient:"+patient) {
		return
	}
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "patient_id": patient, "from": from.UTC(), "to": to.UTC(),
		"truncated": len(out) == records.AccessReportLimit, "items": orEmpty(out)})
}

func (h handlers) generateCalendar(c *gin.Context) {
	var req struct {
		Year   int               `json:"year"`
		Owners map[string]string `json:"owners"`
	}
	if !decodeJSON(c, &req) {
		return
	}
	n, err := records.EnsureCalendar(c.Request.Context(), route.Store(c), req.Year, req.Owners, actor(c), h.d.Now())
	if err != nil {
		h.fail(c, "audit calendar", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "year": req.Year, "created": n})
}

func (h handlers) seedAssets(c *gin.Context) {
	out, err := records.SeedAssets(c.Request.Context(), route.Store(c))
	if err != nil {
		h.fail(c, "assets", err)
		return
	}
	list(c, out)
}

func (h handlers) acks(c *gin.Context) {
	ctx, db := c.Request.Context(), route.Store(c)
	p, err := records.Get[records.Policy](ctx, db, c.Param("id"))
	if err != nil {
		h.fail(c, "policy", err)
		return
	}
	acks, err := records.List[records.PolicyAck](ctx, db)
	if err != nil {
		h.fail(c, "acknowledgements", err)
		return
	}
	var people []string
	for _, s := range strings.Split(c.Query("people"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			people = append(people, s)
		}
	}
	var all []string
	for _, a := range acks {
		if a.Body.PolicyID == p.ID && a.Body.PolicyVersion == p.Version {
			all = append(all, a.Body.Person)
		}
	}
	acked, missing := records.AckCoverage(p, acks, people)
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "policy_id": p.ID, "version": p.Version,
		"acknowledged_by": orEmpty(all), "of_people_acked": orEmpty(acked), "of_people_missing": orEmpty(missing)})
}

func (h handlers) trainingStatus(c *gin.Context) {
	day, ok := h.day(c, "day")
	if !ok {
		return
	}
	ctx, db := c.Request.Context(), route.Store(c)
	courses, err := records.List[records.Course](ctx, db)
	if err != nil {
		h.fail(c, "courses", err)
		return
	}
	as, err := records.List[records.Assignment](ctx, db)
	if err != nil {
		h.fail(c, "assignments", err)
		return
	}
	cs, err := records.List[records.Completion](ctx, db)
	if err != nil {
		h.fail(c, "completions", err)
		return
	}
	st := records.Training(courses, as, cs, day)
	var overdue []records.TrainingStatus
	for _, s := range st {
		if s.Status == records.DeadlineOverdue {
			overdue = append(overdue, s)
		}
	}
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "day": day, "percent_complete": records.TrainingPercent(st, day),
		"items": orEmpty(st), "overdue": orEmpty(overdue)})
}

// assign gives each person (id → role) the courses of their role.
func (h handlers) assign(c *gin.Context) {
	var req struct {
		People map[string]string `json:"people"`
		Reason string            `json:"reason"`
	}
	if !decodeJSON(c, &req) {
		return
	}
	if len(req.People) == 0 {
		route.Problem(c, http.StatusBadRequest, "people maps each person to their role")
		return
	}
	ctx, db, now := c.Request.Context(), route.Store(c), h.d.Now()
	courses, err := records.List[records.Course](ctx, db)
	if err != nil {
		h.fail(c, "courses", err)
		return
	}
	have, err := records.List[records.Assignment](ctx, db)
	if err != nil {
		h.fail(c, "assignments", err)
		return
	}
	reason := req.Reason
	if reason == "" {
		reason = "assigned by role"
	}
	created := 0
	for id, a := range records.AssignmentsFor(courses, req.People, have, records.DateOf(now)) {
		if _, err := records.Put(ctx, db, id, a, records.Change{Actor: actor(c), Reason: reason, At: now}); err != nil {
			h.fail(c, "assignment", err)
			return
		}
		created++
	}
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "created": created})
}

// importLMS imports completions in a learning system's CSV
// (course_id, person, completed_on, score); one record per course, person
// and day, so a file imported twice adds nothing.
func (h handlers) importLMS(c *gin.Context) {
	source := c.DefaultQuery("source", "csv import")
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxImport+1))
	if err != nil || len(body) > maxImport {
		route.Problem(c, http.StatusBadRequest, fmt.Sprintf("the CSV could not be read or is larger than %d bytes", maxImport))
		return
	}
	cs, err := records.ParseCompletionsCSV(bytes.NewReader(body), source)
	if err != nil {
		h.fail(c, "completions CSV", err)
		return
	}
	ctx, db, now := c.Request.Context(), route.Store(c), h.d.Now()
	written, already := 0, 0
	for _, x := range cs {
		_, err := records.Put(ctx, db, records.CompletionID(x.CourseID, x.Person, x.CompletedOn), x,
			records.Change{Actor: actor(c), Reason: "completions imported from " + source, At: now})
		switch {
		case errors.Is(err, records.ErrConflict):
			already++
		case err != nil:
			h.fail(c, "completion", err)
			return
		default:
			written++
		}
	}
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "written": written, "already_recorded": already})
}

func (h handlers) status(c *gin.Context) {
	day, ok := h.day(c, "day")
	if !ok {
		return
	}
	st, err := records.TenantStatusWith(c.Request.Context(), route.Store(c), day, *h.d.Workflows)
	if err != nil {
		h.fail(c, "compliance status", err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// reminders lists everything owed — notices, requests, tasks, renewals,
// training, treatments — overdue and due within ?window= days.
func (h handlers) reminders(c *gin.Context) {
	day, ok := h.day(c, "day")
	if !ok {
		return
	}
	w, ok := window(c)
	if !ok {
		return
	}
	overdue, upcoming, err := records.Owed(c.Request.Context(), route.Store(c), day, w)
	if err != nil {
		h.fail(c, "reminders", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"tenant": route.Tenant(c), "day": day, "window": w, "overdue": orEmpty(overdue), "upcoming": orEmpty(upcoming)})
}

func (h handlers) binder(c *gin.Context) {
	to, ok := h.day(c, "to")
	if !ok {
		return
	}
	from := records.NewDate(to.Year(), time.January, 1)
	if v := c.Query("from"); v != "" {
		var err error
		if from, err = records.ParseDate(v); err != nil {
			route.Problem(c, http.StatusBadRequest, "from: "+err.Error())
			return
		}
	}
	var buf bytes.Buffer
	if _, err := records.WriteBinder(c.Request.Context(), route.Store(c), &buf, records.BinderPeriod{From: from, To: to, Generated: h.d.Now(), Sources: h.d.Evidence, Workflows: *h.d.Workflows}); err != nil {
		h.fail(c, "evidence binder", err)
		return
	}
	if !h.evidenceNote(c, fmt.Sprintf("binder:%s..%s", from, to)) {
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("%s-evidence-%s-%s.zip", route.Tenant(c), from, to)))
	c.Data(http.StatusOK, "application/zip", buf.Bytes())
}
