package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	reviewapi "github.com/phiwatch/phiwatch/api/review"
	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	rv "github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

// The monthly log review pages (docs/review.md, "Reviewer UI"): the
// tenant's periods, a period's worklist with its decision, bulk, comment,
// assignment, answer, sign-off and amendment forms. The rules are
// internal/review's; these handlers map forms to them and back to pages.

// reviewRoutes lists the review pages and forms. Permissions match the
// JSON API (api/review): assignment is review:decide, sign-off and
// amendments review:signoff.
func (u *UI) reviewRoutes() []route.Route {
	const p, item = "/reviews/:period", "/reviews/:period/items/:item"
	return []route.Route{
		{Method: "GET", Path: "/reviews", Perm: authz.ReadReview, Handle: u.reviewPeriods},
		{Method: "GET", Path: p, Perm: authz.ReadReview, Handle: u.reviewWorklist},
		{Method: "POST", Path: item, Perm: authz.DecideReview, Handle: u.reviewDecide},
		{Method: "POST", Path: item + "/comments", Perm: authz.DecideReview, Handle: u.reviewComment},
		{Method: "POST", Path: item + "/assignment", Perm: authz.DecideReview, Handle: u.reviewAssign},
		{Method: "POST", Path: item + "/answer", Perm: authz.DecideReview, Handle: u.reviewAnswer},
		{Method: "POST", Path: item + "/amendment", Perm: authz.SignOffReview, Handle: u.reviewAmend},
		{Method: "POST", Path: p + "/bulk", Perm: authz.DecideReview, Handle: u.reviewBulk},
		{Method: "POST", Path: p + "/assignments", Perm: authz.DecideReview, Handle: u.reviewAutoAssign},
		{Method: "POST", Path: p + "/signoff", Perm: authz.SignOffReview, Handle: u.reviewSignOff},
	}
}

// reviewService is the review's rules over the request's tenant store. It
// holds no state but its clock, so one per request costs nothing; the
// incident opener is the default (review.StoreIncidents), as in the JSON
// API the server mounts.
func (u *UI) reviewService() *rv.Service {
	if u.d.Review != nil {
		return u.d.Review
	}
	return rv.NewService(rv.Config{}, nil, u.d.Now)
}

// reviewer is the caller as the review knows them.
func reviewer(c *gin.Context) rv.Reviewer { return reviewapi.Caller(c) }

func can(c *gin.Context, perm authz.Permission) bool {
	p := route.Principal(c)
	return p != nil && p.Can(route.Tenant(c), perm)
}

// reviewFail shows the review's own errors with their status and message,
// anything else as 500 with the detail in the log.
func (u *UI) reviewFail(c *gin.Context, what string, err error) {
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
	if status == 0 {
		u.d.Log.Error("ui: review: "+what, "tenant", route.Tenant(c), "err", err)
		u.fail(c, http.StatusInternalServerError, what+" failed; the error is in the server log")
		return
	}
	msg := err.Error()
	for _, sentinel := range []error{rv.ErrInvalid, rv.ErrNotFound, rv.ErrConflict} {
		msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
	}
	u.fail(c, status, msg)
}

// periodRow is one line of the periods page.
type periodRow struct {
	rv.Period
	Total, Decided int
	Percent        int
	Overdue        bool
}

// reviewPeriods lists the tenant's review periods, newest first, with
// their progress.
func (u *UI) reviewPeriods(c *gin.Context) {
	ctx, db := c.Request.Context(), route.Store(c)
	svc := u.reviewService()
	ps, err := svc.Periods(ctx, db)
	if err != nil {
		u.reviewFail(c, "listing the review periods", err)
		return
	}
	var counts []struct {
		Period  string `json:"period"`
		Total   uint64 `json:"total"`
		Decided uint64 `json:"decided"`
	}
	if err := db.Select(ctx, &counts, `SELECT period, count() AS total,
       countIf(state IN ('`+rv.StateAppropriate+`', '`+rv.StateInappropriate+`')) AS decided
FROM `+db.Database()+`.review_items_current WHERE tenant_id = {tenant:String} GROUP BY period`, nil); err != nil {
		u.reviewFail(c, "counting the review items", err)
		return
	}
	rows := make([]periodRow, 0, len(ps))
	for _, p := range ps {
		r := periodRow{Period: p, Overdue: p.Overdue(svc.Now())}
		for _, n := range counts {
			if n.Period == p.Period {
				r.Total, r.Decided = int(n.Total), int(n.Decided)
			}
		}
		if r.Total > 0 {
			r.Percent = r.Decided * 100 / r.Total
		}
		rows = append(rows, r)
	}
	u.render(c, http.StatusOK, "reviews", "Log review", rows)
}

// Worklist filters (?show=).
const (
	showUndecided  = "undecided"
	showMine       = "mine"
	showUnassigned = "unassigned"
	showAll        = "all"
)

var shows = []string{showUndecided, showMine, showUnassigned, showAll}

// maxShown bounds the items one page renders; filters narrow the rest.
const maxShown = 300

// itemAlert is what an item's alert says: why it fired and what was
// checked before it did.
type itemAlert struct {
	AlertID      string   `json:"alert_id"`
	Rule         string   `json:"rule"`
	Severity     string   `json:"severity"`
	PatientIDs   []string `json:"patient_ids"`
	Reason       string   `json:"reason"`
	Explanations []string `json:"explanations"`
}

// itemView is a worklist item as the page shows it: texts masked, the
// forms the caller may use.
type itemView struct {
	rv.Item
	Text     string // the summary, patients masked
	Patients []string
	Alerts   []itemAlert
	Comments []rv.Comment
	CaseHref string
	Own      bool // about the caller's own activity: no forms
	Decide   bool // the decision, answer, comment and assignment forms
	Amend    bool // the amendment form (signed-off period)
	Take     bool // "assign to me"
}

// reviewerLine is one reviewer's share of the period.
type reviewerLine struct {
	Reviewer       string
	Total, Decided int
}

// ruleLine is a rule with its undecided items, for the bulk forms.
type ruleLine struct {
	Rule      string
	Undecided int
}

// worklistPage is the worklist template's data.
type worklistPage struct {
	Period    rv.Period
	Progress  rv.Progress
	Reviewers []reviewerLine
	Show      string
	Shows     []string
	Rule      string
	Rules     []ruleLine
	Items     []itemView
	Matching  int // items the filter matches (Items holds at most maxShown)
	Locked    bool
	CanDecide bool
	CanSign   bool
	CanExport bool
	Me        string
	Assignees string // the auto-assign form's starting text
	Statement string // the sign-off form's starting text
	History   []rv.Period
	ExportCSV string
	ExportPDF string
}

// reviewWorklist shows a period: progress, filters, the items riskiest
// first with their forms, bulk decisions, assignment and sign-off.
func (u *UI) reviewWorklist(c *gin.Context) {
	ctx, db, period := c.Request.Context(), route.Store(c), c.Param("period")
	svc := u.reviewService()
	p, err := svc.Period(ctx, db, period)
	if err != nil {
		u.reviewFail(c, "reading the review period", err)
		return
	}
	// A signed-off period has nothing undecided: show it whole.
	show := showUndecided
	if p.Locked() {
		show = showAll
	}
	show = c.DefaultQuery("show", show)
	if !slices.Contains(shows, show) {
		u.fail(c, http.StatusBadRequest, "show must be one of "+strings.Join(shows, ", "))
		return
	}
	rule := c.Query("rule")
	all, err := svc.Items(ctx, db, period, rv.ItemFilter{})
	if err != nil {
		u.reviewFail(c, "reading the worklist", err)
		return
	}
	me := reviewer(c)
	data := worklistPage{Period: p, Progress: rv.ProgressOf(p, all, svc.Now()), Show: show, Shows: shows, Rule: rule,
		Locked: p.Locked(), CanDecide: can(c, authz.DecideReview), CanSign: can(c, authz.SignOffReview),
		CanExport: can(c, authz.ExportEvidence), Me: me.ID}
	data.Reviewers = reviewerLines(data.Progress)
	data.Rules = ruleLines(all)
	data.Assignees = strings.Join([]string{me.ID, me.WorkforceID, me.Email}, ", ")
	data.Statement = fmt.Sprintf("I have reviewed the information system activity of %s: every item of this worklist was examined and decided, and the findings were acted on.", p.Period)
	if data.CanExport {
		base := "/api/v1/tenants/" + url.PathEscape(db.Tenant()) + "/reviews/" + url.PathEscape(p.Period)
		data.ExportCSV, data.ExportPDF = base+"/export.csv", base+"/export.pdf"
	}
	var shown []rv.Item
	for _, it := range all {
		if rule != "" && !slices.Contains(it.Rules, rule) {
			continue
		}
		switch show {
		case showUndecided:
			if it.Decided() {
				continue
			}
		case showMine:
			if it.Assignee != me.ID {
				continue
			}
		case showUnassigned:
			if it.Assignee != "" {
				continue
			}
		}
		data.Matching++
		if len(shown) < maxShown {
			shown = append(shown, it)
		}
	}
	if data.Items, err = u.itemViews(c, shown, me, data); err != nil {
		u.reviewFail(c, "reading the worklist's alerts and comments", err)
		return
	}
	hist, err := svc.PeriodHistory(ctx, db, period)
	if err != nil {
		u.reviewFail(c, "reading the period's history", err)
		return
	}
	for _, h := range hist {
		if h.Action == "signed_off" || h.Action == "amended" {
			data.History = append(data.History, h)
		}
	}
	u.render(c, http.StatusOK, "review", "Log review "+p.Period, data)
}

// itemViews adds each item's alerts (reason and explanations) and
// comments, masks patients, and decides which forms the caller gets.
func (u *UI) itemViews(c *gin.Context, items []rv.Item, me rv.Reviewer, pg worklistPage) ([]itemView, error) {
	ctx, db := c.Request.Context(), route.Store(c)
	var ids []string
	for _, it := range items {
		ids = append(ids, it.AlertIDs...)
	}
	alerts := map[string]itemAlert{}
	if len(ids) > 0 {
		var rows []itemAlert
		if err := db.Select(ctx, &rows, `SELECT alert_id, rule, severity, patient_ids, reason, explanations
FROM `+db.Database()+`.alerts_current WHERE tenant_id = {tenant:String} AND has({ids:Array(String)}, alert_id)`,
			store.Params{"ids": store.ArrayParam(ids)}); err != nil {
			return nil, err
		}
		for _, a := range rows {
			alerts[a.AlertID] = a
		}
	}
	var comments []rv.Comment
	if len(items) > 0 {
		if err := db.Select(ctx, &comments, `SELECT period, month_start, item_id, comment_id, author, body, amendment, created_at, retain_until
FROM `+db.Database()+`.review_comments WHERE tenant_id = {tenant:String} AND period = {period:String}
ORDER BY created_at, comment_id`, store.Params{"period": pg.Period.Period}); err != nil {
			return nil, err
		}
	}
	// One set of patients for the whole page: the server's mask looks the
	// patients up once per set, and masking a text with more patients than
	// it names only masks more.
	var pids []string
	for _, it := range items {
		pids = append(pids, it.PatientIDs...)
	}
	for _, a := range alerts {
		pids = append(pids, a.PatientIDs...)
	}
	pids = slices.Compact(slices.Sorted(slices.Values(pids)))
	out := make([]itemView, 0, len(items))
	for _, it := range items {
		v := itemView{Item: it, Text: u.mask(c, it.Summary, pids)}
		for _, pid := range it.PatientIDs {
			v.Patients = append(v.Patients, u.patient(c, pid, pids))
		}
		for _, id := range it.AlertIDs {
			a, ok := alerts[id]
			if !ok {
				continue
			}
			a.Reason = u.mask(c, a.Reason, pids)
			a.Explanations = slices.Clone(a.Explanations)
			for i, e := range a.Explanations {
				a.Explanations[i] = u.mask(c, e, pids)
			}
			v.Alerts = append(v.Alerts, a)
		}
		for _, cm := range comments {
			if cm.ItemID == it.ItemID {
				v.Comments = append(v.Comments, cm)
			}
		}
		if it.Kind == rv.KindCase {
			v.CaseHref = "/ui/t/" + url.PathEscape(db.Tenant()) + "/cases/" + url.PathEscape(it.RefID)
		}
		v.Own = me.WorkforceID != "" && me.WorkforceID == it.ActorID
		if !v.Own {
			v.Decide = pg.CanDecide && !pg.Locked
			v.Amend = pg.CanSign && pg.Locked
			v.Take = v.Decide && !it.Decided() && it.Assignee != me.ID
		}
		out = append(out, v)
	}
	return out, nil
}

// patient masks a patient id (one of the page's patients): the server's
// mask, or the last four characters when the UI was built without one
// (minimum necessary).
func (u *UI) patient(c *gin.Context, id string, page []string) string {
	if u.d.Mask != nil {
		return u.d.Mask(c, id, page)
	}
	r := []rune(id)
	if len(r) <= 4 {
		return "••••"
	}
	return "••••" + string(r[len(r)-4:])
}

func reviewerLines(pr rv.Progress) []reviewerLine {
	out := make([]reviewerLine, 0, len(pr.ByReviewer))
	for who, states := range pr.ByReviewer {
		l := reviewerLine{Reviewer: who}
		for st, n := range states {
			l.Total += n
			if st == rv.StateAppropriate || st == rv.StateInappropriate {
				l.Decided += n
			}
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reviewer < out[j].Reviewer })
	return out
}

// ruleLines counts the undecided items of each rule, most first.
func ruleLines(items []rv.Item) []ruleLine {
	n := map[string]int{}
	for _, it := range items {
		for _, r := range it.Rules {
			if _, ok := n[r]; !ok {
				n[r] = 0
			}
			if !it.Decided() {
				n[r]++
			}
		}
	}
	out := make([]ruleLine, 0, len(n))
	for r, k := range n {
		out = append(out, ruleLine{Rule: r, Undecided: k})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Undecided != out[j].Undecided {
			return out[i].Undecided > out[j].Undecided
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

// back sends the browser to the worklist it came from (the filter travels
// in the form's show and rule fields) with a message for the flash.
func back(c *gin.Context, done string) {
	q := url.Values{"done": {done}}
	if s := c.PostForm("show"); slices.Contains(shows, s) {
		q.Set("show", s)
	}
	if r := c.PostForm("rule"); r != "" && len(r) <= 200 {
		q.Set("rule", r)
	}
	c.Redirect(http.StatusSeeOther, "/ui/t/"+url.PathEscape(route.Tenant(c))+"/reviews/"+url.PathEscape(c.Param("period"))+"?"+q.Encode())
}

// formDecision reads the decision form. One text field serves as the
// reason and, for needs_information, as the question (so the keyboard
// flow is: type, press a, i or n).
func formDecision(c *gin.Context) rv.Decision {
	d := rv.Decision{Decision: c.PostForm("decision"), Reason: c.PostForm("reason")}
	if d.Decision == rv.DecideNeedsInfo {
		d.Question = c.PostForm("question")
		if strings.TrimSpace(d.Question) == "" {
			d.Question = d.Reason
		}
		d.QuestionTo = c.DefaultPostForm("question_to", "user")
	}
	return d
}

var decisionDone = map[string]string{
	rv.DecideAppropriate:   "marked appropriate",
	rv.DecideInappropriate: "marked inappropriate; an incident was opened",
	rv.DecideNeedsInfo:     "question sent",
}

func (u *UI) reviewDecide(c *gin.Context) {
	d := formDecision(c)
	it, err := u.reviewService().DecideItem(c.Request.Context(), route.Store(c), c.Param("period"), c.Param("item"),
		d, rv.Change{By: reviewer(c)})
	if err != nil {
		u.reviewFail(c, "recording the decision", err)
		return
	}
	back(c, fmt.Sprintf("Item #%d %s.", it.Rank, decisionDone[d.Decision]))
}

// reviewAmend changes a decision of a signed-off period: a new version
// marked as an amendment, its reason required.
func (u *UI) reviewAmend(c *gin.Context) {
	d := formDecision(c)
	ch := rv.Change{By: reviewer(c), Amendment: true, Reason: d.Reason}
	it, err := u.reviewService().DecideItem(c.Request.Context(), route.Store(c), c.Param("period"), c.Param("item"), d, ch)
	if err != nil {
		u.reviewFail(c, "recording the amendment", err)
		return
	}
	back(c, fmt.Sprintf("Amendment recorded: item #%d %s.", it.Rank, strings.ReplaceAll(it.State, "_", " ")))
}

// reviewBulk decides the ticked items, or every undecided item of a rule,
// with one decision and one reason.
func (u *UI) reviewBulk(c *gin.Context) {
	d := rv.Decision{Decision: c.PostForm("decision"), Reason: c.PostForm("reason")}
	ids := c.PostFormArray("item_ids")
	rule := ""
	if len(ids) == 0 {
		rule = c.PostForm("bulk_rule")
	}
	if len(ids) == 0 && rule == "" {
		u.fail(c, http.StatusBadRequest, "Tick the items to decide, or choose a rule.")
		return
	}
	decided, skipped, err := u.reviewService().BulkDecide(c.Request.Context(), route.Store(c), c.Param("period"), ids, rule, d,
		rv.Change{By: reviewer(c)})
	if err != nil {
		u.reviewFail(c, "recording the bulk decision", err)
		return
	}
	msg := fmt.Sprintf("%d item(s) marked %s.", len(decided), d.Decision)
	if len(skipped) > 0 {
		msg += fmt.Sprintf(" %d item(s) about your own activity were left for another reviewer.", len(skipped))
	}
	back(c, msg)
}

func (u *UI) reviewComment(c *gin.Context) {
	cm, err := u.reviewService().AddComment(c.Request.Context(), route.Store(c), c.Param("period"), c.Param("item"),
		c.PostForm("body"), rv.Change{By: reviewer(c)})
	if err != nil {
		u.reviewFail(c, "storing the comment", err)
		return
	}
	back(c, "Comment "+cm.CommentID+" added.")
}

func (u *UI) reviewAnswer(c *gin.Context) {
	it, err := u.reviewService().Answer(c.Request.Context(), route.Store(c), c.Param("period"), c.Param("item"),
		c.PostForm("answer"), c.PostForm("answered_by"), rv.Change{By: reviewer(c)})
	if err != nil {
		u.reviewFail(c, "storing the answer", err)
		return
	}
	back(c, fmt.Sprintf("Answer to item #%d recorded; it now waits for a decision.", it.Rank))
}

// reviewAssign gives one item to the caller ("to" = "me") or to the
// reviewer named in the form.
func (u *UI) reviewAssign(c *gin.Context) {
	to := reviewer(c)
	if c.PostForm("to") != "me" {
		to = rv.Reviewer{ID: strings.TrimSpace(c.PostForm("reviewer_id")), WorkforceID: strings.TrimSpace(c.PostForm("reviewer_workforce_id")),
			Email: strings.TrimSpace(c.PostForm("reviewer_email"))}
	}
	it, err := u.reviewService().AssignItem(c.Request.Context(), route.Store(c), c.Param("period"), c.Param("item"), to,
		rv.Change{By: reviewer(c), Reason: c.PostForm("reason")})
	if err != nil {
		u.reviewFail(c, "assigning the item", err)
		return
	}
	back(c, fmt.Sprintf("Item #%d assigned to %s.", it.Rank, it.Assignee))
}

// parseReviewers reads the auto-assign list: one reviewer a line, "id,
// workforce id, e-mail" (the last two may be empty).
func parseReviewers(text string) ([]rv.Reviewer, error) {
	var out []rv.Reviewer
	for n, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) > 3 {
			return nil, fmt.Errorf("%w: line %d: want id, workforce id, e-mail", rv.ErrInvalid, n+1)
		}
		for len(f) < 3 {
			f = append(f, "")
		}
		out = append(out, rv.Reviewer{ID: strings.TrimSpace(f[0]), WorkforceID: strings.TrimSpace(f[1]), Email: strings.TrimSpace(f[2])})
		if len(out) > 100 {
			return nil, fmt.Errorf("%w: at most 100 reviewers", rv.ErrInvalid)
		}
	}
	return out, nil
}

func (u *UI) reviewAutoAssign(c *gin.Context) {
	rs, err := parseReviewers(c.PostForm("reviewers"))
	if err != nil {
		u.reviewFail(c, "reading the reviewers", err)
		return
	}
	res, err := u.reviewService().AutoAssign(c.Request.Context(), route.Store(c), c.Param("period"), rs,
		rv.Change{By: reviewer(c), Reason: "auto-assignment"})
	if err != nil {
		u.reviewFail(c, "assigning the worklist", err)
		return
	}
	n := 0
	for _, k := range res.Assigned {
		n += k
	}
	msg := fmt.Sprintf("%d item(s) assigned over %d reviewer(s).", n, len(rs))
	if len(res.Unassigned) > 0 {
		msg += fmt.Sprintf(" %d item(s) are about every listed reviewer's own activity and stay unassigned.", len(res.Unassigned))
	}
	back(c, msg)
}

// reviewSignOff certifies and locks the period. The statement is what the
// privacy officer attests to; the UI requires one.
func (u *UI) reviewSignOff(c *gin.Context) {
	st := strings.TrimSpace(c.PostForm("statement"))
	if st == "" {
		u.fail(c, http.StatusBadRequest, "The sign-off needs a statement of what you certify.")
		return
	}
	p, err := u.reviewService().SignOffPeriod(c.Request.Context(), route.Store(c), c.Param("period"), reviewer(c), st)
	if err != nil {
		u.reviewFail(c, "signing off", err)
		return
	}
	back(c, "Review "+p.Period+" signed off and locked.")
}
