package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/records"
	"github.com/phiwatch/phiwatch/internal/review"
)

// recordRoutes are the compliance pages (docs/records.md, "UI"): the
// compliance home, and for every record kind a list, a view with the
// version history, create and edit forms and the kind's actions.
func (u *UI) recordRoutes() []route.Route {
	kinds := kindPages()
	rs := []route.Route{
		{Method: "GET", Path: "/compliance", Perm: authz.ReadRecords, Handle: func(c *gin.Context) { u.complianceHome(c, kinds) }},
		{Method: "GET", Path: "/compliance/binder", Perm: authz.ExportEvidence, Handle: u.binder},
	}
	for _, k := range kinds {
		base := "/compliance/" + k.Slug
		rs = append(rs,
			route.Route{Method: "GET", Path: base, Perm: authz.ReadRecords, Handle: func(c *gin.Context) { u.recordList(c, k) }},
			route.Route{Method: "GET", Path: base + "/new", Perm: authz.WriteRecords, Handle: func(c *gin.Context) { u.recordNew(c, k) }},
			route.Route{Method: "POST", Path: base, Perm: authz.WriteRecords, Handle: func(c *gin.Context) { u.recordCreate(c, k) }},
			route.Route{Method: "GET", Path: base + "/:id", Perm: authz.ReadRecords, Handle: func(c *gin.Context) { u.recordView(c, k) }},
			route.Route{Method: "GET", Path: base + "/:id/edit", Perm: authz.WriteRecords, Handle: func(c *gin.Context) { u.recordEdit(c, k) }},
			route.Route{Method: "POST", Path: base + "/:id", Perm: authz.WriteRecords, Handle: func(c *gin.Context) { u.recordUpdate(c, k) }},
		)
		if len(k.Actions) > 0 {
			rs = append(rs, route.Route{Method: "POST", Path: base + "/:id/do/:action", Perm: authz.WriteRecords, Handle: func(c *gin.Context) { u.recordAction(c, k) }})
		}
	}
	return append(rs, u.recordActionRoutes()...)
}

func (u *UI) today() records.Date { return records.DateOf(u.d.Now()) }

func principalID(c *gin.Context) string {
	if p := route.Principal(c); p != nil {
		return p.Subject
	}
	return ""
}

func (u *UI) compliancePath(c *gin.Context, parts ...string) string {
	p := "/ui/t/" + url.PathEscape(route.Tenant(c)) + "/compliance"
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// done redirects after a change, the message shown on the next page.
func (u *UI) done(c *gin.Context, path, msg string) {
	c.Redirect(http.StatusSeeOther, path+"?done="+url.QueryEscape(msg))
}

// recordFail maps the record store's errors to pages as the JSON API does.
func (u *UI) recordFail(c *gin.Context, what string, err error) {
	switch {
	case errors.Is(err, records.ErrNotFound):
		u.fail(c, http.StatusNotFound, "no such "+what)
	case errors.Is(err, records.ErrInvalid):
		u.fail(c, http.StatusBadRequest, err.Error())
	case errors.Is(err, records.ErrConflict):
		u.fail(c, http.StatusConflict, err.Error()+". Someone else saved a new version while you were editing: open the record again, check their change and make yours on the current version.")
	default:
		u.d.Log.Error("ui: compliance records", "tenant", route.Tenant(c), "what", what, "err", err)
		u.fail(c, http.StatusInternalServerError, what+" could not be processed; the error is in the server log")
	}
}

// workflows are the review and recertification facts of the status, as
// the JSON API's default (the review service is only read).
func (u *UI) workflows() records.Workflows {
	return records.Workflows{Review: review.NewService(review.Config{}, nil, u.d.Now), Recert: true}
}

type kindLink struct {
	Slug, Title string
	Count       int
	Overdue     int
}

type dueView struct {
	records.DueItem
	Slug string
	When string
}

func (u *UI) complianceHome(c *gin.Context, kinds []*kindPage) {
	ctx, db, day := c.Request.Context(), route.Store(c), u.today()
	st, err := records.TenantStatusWith(ctx, db, day, u.workflows())
	if err != nil {
		u.recordFail(c, "compliance status", err)
		return
	}
	slug := map[records.Kind]string{}
	overdue := map[records.Kind]int{}
	for _, k := range kinds {
		slug[k.Kind] = k.Slug
	}
	for _, it := range st.Overdue {
		overdue[it.Kind]++
	}
	links := make([]kindLink, 0, len(kinds))
	for _, k := range kinds {
		links = append(links, kindLink{Slug: k.Slug, Title: k.Title, Overdue: overdue[k.Kind]})
	}
	// A patient request's title names the patient: masked as in lists.
	reqs, err := records.List[records.PatientRequest](ctx, db)
	if err != nil {
		u.recordFail(c, "patient requests", err)
		return
	}
	patient := map[string]string{}
	for _, r := range reqs {
		patient[r.ID] = r.Body.PatientID
	}
	dv := func(items []records.DueItem) []dueView {
		out := make([]dueView, 0, len(items))
		for _, it := range items {
			var ids []string
			if p := patient[it.ID]; it.Kind == records.KindPatientRequest && p != "" {
				ids = []string{p}
			}
			it.Title = u.mask(c, it.Title, ids)
			out = append(out, dueView{DueItem: it, Slug: slug[it.Kind], When: daysText(it.DaysLeft)})
		}
		return out
	}
	u.render(c, http.StatusOK, "records", "Compliance", struct {
		Status    records.Status
		Kinds     []kindLink
		Overdue   []dueView
		Next      []dueView
		CanExport bool
		CanWrite  bool
		Year      int
	}{st, links, dv(st.Overdue), dv(st.Next), can(c, authz.ExportEvidence), can(c, authz.WriteRecords), day.Year()})
}

// binder is the evidence binder download (as GET /binder of the API),
// recorded in the audit trail before it is sent.
func (u *UI) binder(c *gin.Context) {
	to := u.today()
	from := records.NewDate(to.Year(), 1, 1)
	for name, dst := range map[string]*records.Date{"from": &from, "to": &to} {
		if v := c.Query(name); v != "" {
			d, err := records.ParseDate(v)
			if err != nil {
				u.fail(c, http.StatusBadRequest, name+": "+err.Error())
				return
			}
			*dst = d
		}
	}
	var buf bytes.Buffer
	if _, err := records.WriteBinder(c.Request.Context(), route.Store(c), &buf, records.BinderPeriod{From: from, To: to, Generated: u.d.Now(),
		Sources:   []records.EvidenceSource{records.ReviewEvidence{Service: review.NewService(review.Config{}, nil, u.d.Now)}, records.RecertEvidence{}},
		Workflows: u.workflows()}); err != nil {
		u.recordFail(c, "evidence binder", err)
		return
	}
	if err := noteExport(c, fmt.Sprintf("binder:%s..%s", from, to)); err != nil {
		u.d.Log.Error("ui: audit evidence export", "tenant", route.Tenant(c), "err", err)
		u.fail(c, http.StatusServiceUnavailable, "the export could not be recorded in the audit trail, so it is refused; try again later")
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("%s-evidence-%s-%s.zip", route.Tenant(c), from, to)))
	c.Data(http.StatusOK, "application/zip", buf.Bytes())
}

type column struct{ Label string }

type listRow struct {
	ID        string
	Version   uint32
	Cells     []string
	Badge     string // overdue, due
	BadgeText string
	Changed   string
}

func (u *UI) recordList(c *gin.Context, k *kindPage) {
	ctx, db, day := c.Request.Context(), route.Store(c), u.today()
	vs, err := k.ops.list(ctx, db)
	if err != nil {
		u.recordFail(c, k.Singular, err)
		return
	}
	overdue, upcoming, err := records.Owed(ctx, db, day, records.StatusWindow)
	if err != nil {
		u.recordFail(c, k.Singular, err)
		return
	}
	due := map[string]records.DueItem{}
	for _, it := range slices.Concat(overdue, upcoming) {
		if it.Kind != k.Kind {
			continue
		}
		// The first (soonest) of a record's items is its badge.
		if _, ok := due[it.ID]; !ok {
			due[it.ID] = it
		}
	}
	var cols []column
	for _, f := range k.Fields {
		if f.InList {
			cols = append(cols, column{f.Label})
		}
	}
	rows := make([]listRow, 0, len(vs))
	for _, v := range vs {
		patients := patientIDs(k, v.Body)
		r := listRow{ID: v.ID, Version: v.Version, Changed: v.ChangedAt.UTC().Format("2006-01-02")}
		for _, f := range k.Fields {
			if f.InList {
				r.Cells = append(r.Cells, u.mask(c, display(v.Body[f.Name]), patients))
			}
		}
		if it, ok := due[v.ID]; ok {
			r.Badge, r.BadgeText = it.Status, u.mask(c, it.Title, patients)+": "+daysText(it.DaysLeft)
		}
		rows = append(rows, r)
	}
	u.render(c, http.StatusOK, "records_list", k.Title, struct {
		Kind     *kindPage
		Columns  []column
		Rows     []listRow
		CanWrite bool
	}{k, cols, rows, can(c, authz.WriteRecords)})
}

// patientIDs are the patient identifiers a record holds, for masking.
func patientIDs(k *kindPage, body map[string]any) []string {
	var out []string
	for _, f := range k.Fields {
		if !f.Patient {
			continue
		}
		switch v := body[f.Name].(type) {
		case string:
			if f.Input != "textarea" && v != "" {
				out = append(out, v)
			}
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok && s != "" {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// display is a body value as text.
func display(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case []any:
		var ss []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				b, _ := json.Marshal(x)
				return string(b)
			}
			ss = append(ss, s)
		}
		return strings.Join(ss, ", ")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

type shownField struct {
	Label, Value string
	Long         bool
}

type versionView struct {
	Version   uint32
	Actor     string
	Reason    string
	ChangedAt string
	Changes   string
}

type formField struct {
	field
	Value   string
	Checked bool
}

type actionForm struct {
	Name, Title string
	Fields      []formField
}

// recordPage is a record's view page: the current version, facts, the
// history and, for writers, the action forms.
type recordPage struct {
	Kind     *kindPage
	Record   recordView
	Fields   []shownField
	Facts    []fact
	History  []versionView
	Actions  []actionForm
	CanWrite bool
	Extra    any // a kind's own section (incident)
}

func (u *UI) recordView(c *gin.Context, k *kindPage) {
	ctx, db := c.Request.Context(), route.Store(c)
	id := c.Param("id")
	hist, err := k.ops.history(ctx, db, id)
	if err != nil {
		u.recordFail(c, k.Singular, err)
		return
	}
	cur := hist[len(hist)-1]
	p := recordPage{Kind: k, Record: cur, CanWrite: can(c, authz.WriteRecords)}
	for _, f := range k.Fields {
		s := display(cur.Body[f.Name])
		if s == "" {
			continue
		}
		p.Fields = append(p.Fields, shownField{Label: f.Label, Value: s, Long: f.Input == "textarea" || f.Input == "json"})
	}
	if k.Facts != nil {
		p.Facts = k.Facts(cur.Typed, u.today())
	}
	for i := len(hist) - 1; i >= 0; i-- {
		v := versionView{Version: hist[i].Version, Actor: hist[i].Actor, Reason: hist[i].Reason, ChangedAt: hist[i].ChangedAt.UTC().Format("2006-01-02 15:04 UTC")}
		if i > 0 {
			v.Changes = changedFields(k, hist[i-1].Body, hist[i].Body)
		}
		p.History = append(p.History, v)
	}
	for _, a := range k.Actions {
		af := actionForm{Name: a.Name, Title: a.Title}
		for _, n := range a.Fields {
			if f, ok := fieldNamed(k, n); ok {
				af.Fields = append(af.Fields, formValue(f, cur.Body[n], ""))
			}
		}
		p.Actions = append(p.Actions, af)
	}
	if k.Kind == records.KindIncident {
		p.Extra = incidentSection(cur, u.today())
	}
	u.render(c, http.StatusOK, "records_view", k.Singular+" "+cur.ID, p)
}

// changedFields names the fields that differ between two versions.
func changedFields(k *kindPage, a, b map[string]any) string {
	var out []string
	seen := map[string]bool{}
	for _, f := range k.Fields {
		seen[f.Name] = true
		if display(a[f.Name]) != display(b[f.Name]) {
			out = append(out, f.Label)
		}
	}
	var other []string
	for n := range b {
		if !seen[n] && display(a[n]) != display(b[n]) {
			other = append(other, strings.ReplaceAll(n, "_", " "))
		}
	}
	for n := range a {
		if _, ok := b[n]; !ok && !seen[n] {
			other = append(other, strings.ReplaceAll(n, "_", " "))
		}
	}
	slices.Sort(other)
	return strings.Join(append(out, other...), ", ")
}

func fieldNamed(k *kindPage, name string) (field, bool) {
	for _, f := range k.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return field{}, false
}

// formValue is a field as a form input shows it; def is used when the
// body has no value.
func formValue(f field, v any, def string) formField {
	ff := formField{field: f}
	if v == nil {
		ff.Value = def
		ff.Checked = def == "true"
		return ff
	}
	switch f.Input {
	case "checkbox":
		b, _ := v.(bool)
		ff.Checked = b
	case "json":
		b, _ := json.MarshalIndent(v, "", "  ")
		ff.Value = string(b)
	default:
		ff.Value = display(v)
	}
	return ff
}

// formPage is the create and edit form.
type formPage struct {
	Kind        *kindPage
	ID          string
	BaseVersion uint32
	Fields      []formField
	Reason      string
	Error       string
}

func (u *UI) recordNew(c *gin.Context, k *kindPage) {
	var defs map[string]string
	if k.Defaults != nil {
		defs = k.Defaults(principalID(c), u.today())
	}
	p := formPage{Kind: k}
	for _, f := range editable(k.Fields) {
		p.Fields = append(p.Fields, formValue(f, nil, defs[f.Name]))
	}
	u.render(c, http.StatusOK, "records_form", "New "+k.Singular, p)
}

func (u *UI) recordEdit(c *gin.Context, k *kindPage) {
	v, err := k.ops.get(c.Request.Context(), route.Store(c), c.Param("id"))
	if err != nil {
		u.recordFail(c, k.Singular, err)
		return
	}
	p := formPage{Kind: k, ID: v.ID, BaseVersion: v.Version}
	for _, f := range editable(k.Fields) {
		p.Fields = append(p.Fields, formValue(f, v.Body[f.Name], ""))
	}
	u.render(c, http.StatusOK, "records_form", "Edit "+k.Singular+" "+v.ID, p)
}

func (u *UI) recordCreate(c *gin.Context, k *kindPage) {
	form, ok := u.form(c)
	if !ok {
		return
	}
	body, err := applyForm(map[string]any{}, editable(k.Fields), form, true)
	if err != nil {
		u.recordFail(c, k.Singular, err)
		return
	}
	now := u.d.Now()
	id := strings.TrimSpace(c.PostForm("record_id"))
	if id == "" {
		id = records.NewID(k.Prefix, now)
	}
	if k.OnCreate != nil {
		if body, err = k.OnCreate(body, principalID(c), now); err != nil {
			u.recordFail(c, k.Singular, err)
			return
		}
	}
	v, err := k.ops.put(c.Request.Context(), route.Store(c), id, body, records.Change{Actor: principalID(c), Reason: c.PostForm("reason"), At: now})
	if errors.Is(err, records.ErrConflict) {
		u.fail(c, http.StatusConflict, fmt.Sprintf("a %s with the id %s already exists: choose another id, or open it and edit it", k.Singular, id))
		return
	}
	if err != nil {
		u.recordFail(c, k.Singular, err)
		return
	}
	u.done(c, u.compliancePath(c, k.Slug, v.ID), fmt.Sprintf("%s %s created (version %d)", k.Singular, v.ID, v.Version))
}

// form is the posted form's values.
func (u *UI) form(c *gin.Context) (url.Values, bool) {
	if err := c.Request.ParseForm(); err != nil {
		u.fail(c, http.StatusBadRequest, "the form could not be read: "+err.Error())
		return nil, false
	}
	return c.Request.PostForm, true
}

// baseVersion reads the hidden field naming the version a change was
// made from.
func (u *UI) baseVersion(c *gin.Context) (uint32, bool) {
	n, err := strconv.ParseUint(c.PostForm("base_version"), 10, 32)
	if err != nil || n == 0 {
		u.fail(c, http.StatusBadRequest, "the form lacks the version it was made from (base_version); open the record again")
		return 0, false
	}
	return uint32(n), true
}

func (u *UI) recordUpdate(c *gin.Context, k *kindPage) {
	u.changeRecord(c, k, editable(k.Fields), nil, "new version")
}

// editable are the fields the create and edit forms show.
func editable(fs []field) []field {
	out := make([]field, 0, len(fs))
	for _, f := range fs {
		if !f.ReadOnly {
			out = append(out, f)
		}
	}
	return out
}

func (u *UI) recordAction(c *gin.Context, k *kindPage) {
	name := c.Param("action")
	for _, a := range k.Actions {
		if a.Name != name {
			continue
		}
		var fs []field
		for _, n := range a.Fields {
			if f, ok := fieldNamed(k, n); ok {
				fs = append(fs, f)
			}
		}
		var set map[string]any
		if a.Set != nil {
			set = a.Set(principalID(c), u.today())
		}
		u.changeRecord(c, k, fs, set, a.Title)
		return
	}
	u.fail(c, http.StatusNotFound, "no such action")
}

// changeRecord writes a new version: the current body with the form's
// fields (and set) applied, based on the version the form was made from.
func (u *UI) changeRecord(c *gin.Context, k *kindPage, fs []field, set map[string]any, what string) {
	base, ok := u.baseVersion(c)
	if !ok {
		return
	}
	ctx, db, id := c.Request.Context(), route.Store(c), c.Param("id")
	cur, err := k.ops.get(ctx, db, id)
	if err != nil {
		u.recordFail(c, k.Singular, err)
		return
	}
	// Fields the form does not show (an incident's timeline, notices) are
	// kept from the current version.
	m := cur.Body
	for n, v := range set {
		m[n] = v
	}
	form, ok := u.form(c)
	if !ok {
		return
	}
	body, err := applyForm(m, fs, form, false)
	if err != nil {
		u.recordFail(c, k.Singular, err)
		return
	}
	v, err := k.ops.put(ctx, db, id, body, records.Change{Actor: principalID(c), Reason: c.PostForm("reason"), At: u.d.Now(), BaseVersion: base})
	if err != nil {
		u.recordFail(c, k.Singular, err)
		return
	}
	u.done(c, u.compliancePath(c, k.Slug, v.ID), fmt.Sprintf("%s: version %d saved", what, v.Version))
}

// applyForm sets the form's values of fields fs in body and encodes it.
// Required fields must be filled on create; the kind's own validation
// (records.Put) has the last word.
func applyForm(body map[string]any, fs []field, form url.Values, create bool) ([]byte, error) {
	for _, f := range fs {
		raw := form.Get(f.Name)
		v := strings.TrimSpace(raw)
		if f.Input == "textarea" || f.Input == "json" {
			v = strings.TrimRight(raw, " \t\r\n")
		}
		if v == "" && f.Input != "checkbox" {
			if create && f.Required {
				return nil, fmt.Errorf("%w: %s is required", records.ErrInvalid, f.Label)
			}
			delete(body, f.Name)
			continue
		}
		switch f.Input {
		case "checkbox":
			body[f.Name] = v == "on" || v == "true"
		case "date":
			if _, err := records.ParseDate(v); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", records.ErrInvalid, f.Label, err)
			}
			body[f.Name] = v
		case "number":
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("%w: %s: %q is not a number", records.ErrInvalid, f.Label, v)
			}
			// Written in JSON's own form ("007" and "1e3" are numbers to
			// strconv, not all to JSON).
			body[f.Name] = json.Number(strconv.FormatFloat(x, 'f', -1, 64))
		case "select":
			if f.Options != nil && !slices.Contains(f.Options, v) {
				return nil, fmt.Errorf("%w: %s: %q is not one of %s", records.ErrInvalid, f.Label, v, strings.Join(f.Options, ", "))
			}
			if n, err := strconv.Atoi(v); err == nil && slices.Equal(f.Options, oneToFive) {
				body[f.Name] = n
			} else {
				body[f.Name] = v
			}
		case "list":
			var xs []string
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					xs = append(xs, s)
				}
			}
			body[f.Name] = xs
		case "json":
			var x any
			if err := json.Unmarshal([]byte(v), &x); err != nil {
				return nil, fmt.Errorf("%w: %s is not valid JSON: %w", records.ErrInvalid, f.Label, err)
			}
			body[f.Name] = x
		default:
			body[f.Name] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode the record: %w", err)
	}
	return b, nil
}
