// Package review serves the monthly log review (docs/review.md) under
// /api/v1/tenants/:tenant/reviews: periods and their progress, the
// worklist, decisions (single and bulk), comments, assignment,
// questionnaire answers, sign-off, amendments and the evidence exports.
// The rules live in internal/review; this package maps HTTP to them.
package review

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	rv "github.com/phiwatch/phiwatch/internal/review"
)

// Deps is what the routes need. Service may be nil: one is built with the
// defaults, Incidents (nil: recorded as requests, review.StoreIncidents)
// and Now.
type Deps struct {
	Service   *rv.Service
	Incidents rv.IncidentOpener
	Log       *slog.Logger
	Now       func() time.Time
	// Mask hides the given patients' ids, MRNs and names in free text
	// (minimum necessary; the API server's hook). nil masks ids only.
	Mask func(c *gin.Context, text string, patientIDs []string) string
}

type handlers struct {
	svc  *rv.Service
	log  *slog.Logger
	mask func(c *gin.Context, text string, patientIDs []string) string
}

// Routes declares the review endpoints.
func Routes(d Deps) []route.Route {
	h := handlers{svc: d.Service, log: d.Log, mask: d.Mask}
	if h.svc == nil {
		h.svc = rv.NewService(rv.Config{}, d.Incidents, d.Now)
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	const p, item = "/reviews/:period", "/reviews/:period/items/:item"
	return []route.Route{
		{Method: "GET", Path: "/reviews", Perm: authz.ReadReview, Handle: h.periods},
		{Method: "GET", Path: p, Perm: authz.ReadReview, Handle: h.period},
		{Method: "GET", Path: p + "/items", Perm: authz.ReadReview, Handle: h.items},
		{Method: "GET", Path: item, Perm: authz.ReadReview, Handle: h.item},
		{Method: "POST", Path: item + "/decision", Perm: authz.DecideReview, Handle: h.decide},
		{Method: "POST", Path: p + "/decisions", Perm: authz.DecideReview, Handle: h.bulkDecide},
		{Method: "POST", Path: item + "/comments", Perm: authz.DecideReview, Handle: h.comment},
		{Method: "POST", Path: item + "/assignment", Perm: authz.DecideReview, Handle: h.assign},
		{Method: "POST", Path: p + "/assignments", Perm: authz.DecideReview, Handle: h.autoAssign},
		{Method: "POST", Path: item + "/answer", Perm: authz.DecideReview, Handle: h.answer},
		{Method: "POST", Path: p + "/sign-off", Perm: authz.SignOffReview, Handle: h.signOff},
		{Method: "POST", Path: item + "/amendment", Perm: authz.SignOffReview, Handle: h.amend},
		{Method: "GET", Path: p + "/export.csv", Perm: authz.ExportEvidence, Handle: h.exportCSV},
		{Method: "GET", Path: p + "/export.pdf", Perm: authz.ExportEvidence, Handle: h.exportPDF},
	}
}

// Caller is the request's principal as a reviewer (the UI uses it too).
func Caller(c *gin.Context) rv.Reviewer {
	p := route.Principal(c)
	if p == nil {
		return rv.Reviewer{}
	}
	return rv.Reviewer{ID: p.Subject, WorkforceID: p.WorkforceIDs[route.Tenant(c)], Email: p.Email}
}

// fail answers an error: the review's own errors with their message and
// status, anything else as 500 with the detail in the log.
func (h handlers) fail(c *gin.Context, what string, err error) {
	status := 0
	switch {
	case errors.Is(err, rv.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, rv.ErrSelf):
		status = http.StatusForbidden
	case errors.Is(err, rv.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, rv.ErrLocked), errors.Is(err, rv.ErrConflict):
		status = http.StatusConflict
	}
	if status != 0 {
		msg := err.Error()
		for _, sentinel := range []error{rv.ErrInvalid, rv.ErrNotFound, rv.ErrConflict} {
			msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
		}
		route.Problem(c, status, msg)
		return
	}
	h.log.Error("review: "+what, "tenant", route.Tenant(c), "err", err)
	route.Problem(c, http.StatusInternalServerError, what+" failed; the error is in the server log")
}

// bind reads a JSON body, answering 400 itself.
func bind(c *gin.Context, dst any) bool {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)
	if err := c.ShouldBindJSON(dst); err != nil {
		route.Problem(c, http.StatusBadRequest, "the body must be a JSON object: "+err.Error())
		return false
	}
	return true
}

// change is who changes what, with an amendment when the body names an
// amendment reason; amending needs the sign-off permission.
func change(c *gin.Context, amendmentReason string) (rv.Change, bool) {
	ch := rv.Change{By: Caller(c)}
	if strings.TrimSpace(amendmentReason) != "" {
		if !route.Principal(c).Can(route.Tenant(c), authz.SignOffReview) {
			route.Problem(c, http.StatusForbidden, fmt.Sprintf("your role (%s) may not amend a signed-off review", route.Principal(c).Role))
			return ch, false
		}
		ch.Amendment, ch.Reason = true, amendmentReason
	}
	return ch, true
}

type periodView struct {
	rv.Period
	Overdue  bool         `json:"overdue"`
	Progress *rv.Progress `json:"progress,omitempty"`
	History  []rv.Period  `json:"history,omitempty"`
}

func (h handlers) periods(c *gin.Context) {
	ctx, db := c.Request.Context(), route.Store(c)
	ps, err := h.svc.Periods(ctx, db)
	if err != nil {
		h.fail(c, "listing review periods", err)
		return
	}
	out := make([]periodView, 0, len(ps))
	for _, p := range ps {
		out = append(out, periodView{Period: p, Overdue: p.Overdue(h.svc.Now())})
	}
	c.JSON(http.StatusOK, gin.H{"tenant": db.Tenant(), "items": out})
}

func (h handlers) period(c *gin.Context) {
	ctx, db, period := c.Request.Context(), route.Store(c), c.Param("period")
	p, err := h.svc.Period(ctx, db, period)
	if err != nil {
		h.fail(c, "reading the review period", err)
		return
	}
	items, err := h.svc.Items(ctx, db, period, rv.ItemFilter{})
	if err != nil {
		h.fail(c, "reading the worklist", err)
		return
	}
	hist, err := h.svc.PeriodHistory(ctx, db, period)
	if err != nil {
		h.fail(c, "reading the period history", err)
		return
	}
	pr := rv.ProgressOf(p, items, h.svc.Now())
	c.JSON(http.StatusOK, periodView{Period: p, Overdue: pr.Overdue, Progress: &pr, History: hist})
}

func (h handlers) items(c *gin.Context) {
	ctx, db, period := c.Request.Context(), route.Store(c), c.Param("period")
	f := rv.ItemFilter{State: c.Query("state"), Kind: c.Query("kind"), Assignee: c.Query("assignee"), Rule: c.Query("rule"), Limit: 50}
	if c.Query("mine") == "true" {
		f.Assignee = Caller(c).ID
	}
	if f.State != "" && !contains(rv.States, f.State) {
		route.Problem(c, 400, fmt.Sprintf("state must be one of %v", rv.States))
		return
	}
	if f.Kind != "" && f.Kind != rv.KindCase && f.Kind != rv.KindAlert && f.Kind != rv.KindSample {
		route.Problem(c, 400, "kind must be case, alert or sample")
		return
	}
	var ok bool
	if f.Limit, f.Offset, ok = page(c); !ok {
		return
	}
	if _, err := h.svc.Period(ctx, db, period); err != nil {
		h.fail(c, "reading the review period", err)
		return
	}
	items, err := h.svc.Items(ctx, db, period, f)
	if err != nil {
		h.fail(c, "reading the worklist", err)
		return
	}
	if items == nil {
		items = []rv.Item{}
	}
	resp := gin.H{"tenant": db.Tenant(), "period": period, "items": h.masked(c, items), "next_offset": nil}
	if len(items) == f.Limit {
		resp["next_offset"] = f.Offset + f.Limit
	}
	c.JSON(http.StatusOK, resp)
}

func (h handlers) item(c *gin.Context) {
	ctx, db, period, id := c.Request.Context(), route.Store(c), c.Param("period"), c.Param("item")
	it, err := h.svc.Item(ctx, db, period, id)
	if err != nil {
		h.fail(c, "reading the item", err)
		return
	}
	hist, err := h.svc.ItemHistory(ctx, db, period, id)
	if err != nil {
		h.fail(c, "reading the item history", err)
		return
	}
	comments, err := h.svc.Comments(ctx, db, period, id)
	if err != nil {
		h.fail(c, "reading the comments", err)
		return
	}
	if comments == nil {
		comments = []rv.Comment{}
	}
	c.JSON(http.StatusOK, gin.H{"item": h.maskItem(c, it), "history": h.masked(c, hist), "comments": comments})
}

type decisionBody struct {
	rv.Decision
	AmendmentReason string `json:"amendment_reason"`
}

func (h handlers) decide(c *gin.Context) {
	var b decisionBody
	if !bind(c, &b) {
		return
	}
	ch, ok := change(c, b.AmendmentReason)
	if !ok {
		return
	}
	it, err := h.svc.DecideItem(c.Request.Context(), route.Store(c), c.Param("period"), c.Param("item"), b.Decision, ch)
	if err != nil {
		h.fail(c, "recording the decision", err)
		return
	}
	c.JSON(http.StatusOK, h.maskItem(c, it))
}

func (h handlers) amend(c *gin.Context) {
	var b rv.Decision
	if !bind(c, &b) {
		return
	}
	ch := rv.Change{By: Caller(c), Amendment: true, Reason: b.Reason}
	it, err := h.svc.DecideItem(c.Request.Context(), route.Store(c), c.Param("period"), c.Param("item"), b, ch)
	if err != nil {
		h.fail(c, "recording the amendment", err)
		return
	}
	c.JSON(http.StatusOK, h.maskItem(c, it))
}

func (h handlers) bulkDecide(c *gin.Context) {
	var b struct {
		decisionBody
		ItemIDs []string `json:"item_ids"`
		Rule    string   `json:"rule"`
	}
	if !bind(c, &b) {
		return
	}
	ch, ok := change(c, b.AmendmentReason)
	if !ok {
		return
	}
	items, skipped, err := h.svc.BulkDecide(c.Request.Context(), route.Store(c), c.Param("period"), b.ItemIDs, b.Rule, b.Decision, ch)
	if err != nil {
		h.fail(c, "recording the bulk decision", err)
		return
	}
	if items == nil {
		items = []rv.Item{}
	}
	if skipped == nil {
		skipped = []string{}
	}
	c.JSON(http.StatusOK, gin.H{"decided": len(items), "items": h.masked(c, items), "skipped_own_activity": skipped})
}

func (h handlers) comment(c *gin.Context) {
	var b struct {
		Body            string `json:"body"`
		AmendmentReason string `json:"amendment_reason"`
	}
	if !bind(c, &b) {
		return
	}
	ch, ok := change(c, b.AmendmentReason)
	if !ok {
		return
	}
	cm, err := h.svc.AddComment(c.Request.Context(), route.Store(c), c.Param("period"), c.Param("item"), b.Body, ch)
	if err != nil {
		h.fail(c, "storing the comment", err)
		return
	}
	c.JSON(http.StatusCreated, cm)
}

func (h handlers) assign(c *gin.Context) {
	var b struct {
		Reviewer        rv.Reviewer `json:"reviewer"`
		Reason          string      `json:"reason"`
		AmendmentReason string      `json:"amendment_reason"`
	}
	if !bind(c, &b) {
		return
	}
	ch, ok := change(c, b.AmendmentReason)
	if !ok {
		return
	}
	if !ch.Amendment {
		ch.Reason = b.Reason
	}
	it, err := h.svc.AssignItem(c.Request.Context(), route.Store(c), c.Param("period"), c.Param("item"), b.Reviewer, ch)
	if err != nil {
		h.fail(c, "assigning the item", err)
		return
	}
	c.JSON(http.StatusOK, h.maskItem(c, it))
}

func (h handlers) autoAssign(c *gin.Context) {
	var b struct {
		Reviewers []rv.Reviewer `json:"reviewers"`
	}
	if !bind(c, &b) {
		return
	}
	ch := rv.Change{By: Caller(c), Reason: "auto-assignment"}
	res, err := h.svc.AutoAssign(c.Request.Context(), route.Store(c), c.Param("period"), b.Reviewers, ch)
	if err != nil {
		h.fail(c, "assigning the worklist", err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (h handlers) answer(c *gin.Context) {
	var b struct {
		Answer          string `json:"answer"`
		AnsweredBy      string `json:"answered_by"`
		AmendmentReason string `json:"amendment_reason"`
	}
	if !bind(c, &b) {
		return
	}
	ch, ok := change(c, b.AmendmentReason)
	if !ok {
		return
	}
	it, err := h.svc.Answer(c.Request.Context(), route.Store(c), c.Param("period"), c.Param("item"), b.Answer, b.AnsweredBy, ch)
	if err != nil {
		h.fail(c, "storing the answer", err)
		return
	}
	c.JSON(http.StatusOK, h.maskItem(c, it))
}

func (h handlers) signOff(c *gin.Context) {
	var b struct {
		Note string `json:"note"`
	}
	if !bind(c, &b) {
		return
	}
	p, err := h.svc.SignOffPeriod(c.Request.Context(), route.Store(c), c.Param("period"), Caller(c), b.Note)
	if err != nil {
		h.fail(c, "signing off", err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (h handlers) exportCSV(c *gin.Context) {
	var buf bytes.Buffer
	period := c.Param("period")
	if err := h.svc.ExportCSV(c.Request.Context(), route.Store(c), period, &buf); err != nil {
		h.fail(c, "exporting the CSV", err)
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="review-%s-%s.csv"`, route.Tenant(c), period))
	c.Data(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

func (h handlers) exportPDF(c *gin.Context) {
	var buf bytes.Buffer
	period := c.Param("period")
	if err := h.svc.ExportPDF(c.Request.Context(), route.Store(c), period, &buf); err != nil {
		h.fail(c, "exporting the PDF", err)
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="review-%s-%s.pdf"`, route.Tenant(c), period))
	c.Data(http.StatusOK, "application/pdf", buf.Bytes())
}

func page(c *gin.Context) (limit, offset int, ok bool) {
	limit = 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			route.Problem(c, 400, "limit must be a number from 1 to 500")
			return 0, 0, false
		}
		limit = n
	}
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			route.Problem(c, 400, "offset must be a number from 0 to 1000000")
			return 0, 0, false
		}
		offset = n
	}
	return limit, offset, true
}

// masked hides patient ids in responses (minimum necessary,
// docs/security.md): the last four characters show; the full id is
// revealed through the audited reveal endpoint.
// masked hides patients in the items' free text and ids: lists show no
// full patient id, MRN or name.
func (h handlers) masked(c *gin.Context, items []rv.Item) []rv.Item {
	out := make([]rv.Item, len(items))
	for i, it := range items {
		if h.mask != nil {
			it.Summary = h.mask(c, it.Summary, it.PatientIDs)
			it.Question = h.mask(c, it.Question, it.PatientIDs)
			it.Answer = h.mask(c, it.Answer, it.PatientIDs)
			it.DecisionReason = h.mask(c, it.DecisionReason, it.PatientIDs)
		}
		ids := make([]string, len(it.PatientIDs))
		for j, id := range it.PatientIDs {
			ids[j] = maskID(id)
		}
		it.PatientIDs = ids
		out[i] = it
	}
	return out
}

func (h handlers) maskItem(c *gin.Context, it rv.Item) rv.Item { return h.masked(c, []rv.Item{it})[0] }

func maskID(s string) string {
	r := []rune(s)
	if len(r) <= 4 {
		return "••••"
	}
	return "••••" + string(r[len(r)-4:])
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
