package ui

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/records"
)

// maxCompletionsUpload bounds an uploaded completions CSV.
const maxCompletionsUpload = 8 << 20

// recordActionRoutes are the actions a field table cannot express.
func (u *UI) recordActionRoutes() []route.Route {
	return []route.Route{
		{Method: "GET", Path: "/compliance/incidents/:id/clock", Perm: authz.ReadRecords, Handle: u.incidentClock},
		{Method: "POST", Path: "/compliance/incidents/:id/timeline", Perm: authz.WriteRecords, Handle: u.incidentTimeline},
		{Method: "POST", Path: "/compliance/incidents/:id/assessment", Perm: authz.WriteRecords, Handle: u.incidentAssessment},
		{Method: "POST", Path: "/compliance/incidents/:id/notice", Perm: authz.WriteRecords, Handle: u.incidentNotice},
		{Method: "POST", Path: "/compliance/policies/:id/acknowledge", Perm: authz.WriteRecords, Handle: u.acknowledgePolicy},
		{Method: "POST", Path: "/compliance/training-completions/import", Perm: authz.WriteRecords, Handle: u.importCompletions},
		{Method: "POST", Path: "/compliance/calendar/generate", Perm: authz.WriteRecords, Handle: u.generateCalendar},
	}
}

func noteExport(c *gin.Context, target string) error {
	return audit.Note(c, audit.ActionEvidenceExport, target, c.Query("reason"))
}

// deadlineView is one notice of the breach clock as the pages show it.
type deadlineView struct {
	records.DeadlineStatus
	Label string
	When  string
}

func deadlineViews(in records.Incident, day records.Date) []deadlineView {
	var out []deadlineView
	for _, d := range in.Deadlines(day) {
		v := deadlineView{DeadlineStatus: d, Label: noticeLabel(d.Notice, d.State)}
		switch d.Status {
		case records.DeadlineMet:
			v.When = "sent " + d.SentOn.String()
		case records.DeadlineLate:
			v.When = "sent late, " + d.SentOn.String()
		default:
			v.When = daysText(d.DaysLeft)
		}
		out = append(out, v)
	}
	return out
}

func noticeLabel(k records.NoticeKind, state string) string {
	var s string
	switch k {
	case records.NoticeIndividual:
		s = "Individuals"
	case records.NoticeHHS:
		s = "HHS (500 or more: at once)"
	case records.NoticeHHSAnnualLog:
		s = "HHS annual log (fewer than 500)"
	case records.NoticeMedia:
		s = "Media"
	case records.NoticeCoveredEntity:
		s = "Covered entity"
	default:
		s = string(k)
	}
	if state != "" {
		s += " in " + state
	}
	return s
}

// incidentExtra is the incident's own section of its view page.
type incidentExtra struct {
	Deadlines     []deadlineView
	Stopped       bool // a determination of no breach stops the clock
	Timeline      []records.TimelineEntry
	Assessment    records.RiskAssessment
	Factors       []factorView
	Suggest       string
	Affected      int
	States        string
	Determination string
	Exception     string
	Rationale     string
	Notices       []records.Notice
	Closed        bool
}

type factorView struct {
	Name, Label, Risk, Notes string
}

func incidentSection(v recordView, day records.Date) incidentExtra {
	in := v.Typed.(records.Incident)
	x := incidentExtra{Deadlines: deadlineViews(in, day), Timeline: in.Timeline, Affected: in.Affected, Determination: in.Determination,
		Exception: in.Exception, Rationale: in.Rationale, Notices: in.Notices, Closed: in.Status == records.IncidentClosed}
	x.Stopped = in.Determination != "" && in.Determination != records.DeterminationBreach
	var a records.RiskAssessment
	if in.Assessment != nil {
		a = *in.Assessment
		x.Suggest = in.Assessment.Suggest()
	}
	x.Assessment = a
	x.Factors = []factorView{
		{"nature_extent", "(i) Nature and extent of the PHI", a.NatureExtent.Risk, a.NatureExtent.Notes},
		{"recipient", "(ii) The unauthorized person who used or received it", a.Recipient.Risk, a.Recipient.Notes},
		{"acquired_viewed", "(iii) Whether it was actually acquired or viewed", a.AcquiredViewed.Risk, a.AcquiredViewed.Notes},
		{"mitigation", "(iv) The extent the risk has been mitigated", a.Mitigation.Risk, a.Mitigation.Notes},
	}
	var states []string
	for st, n := range in.ByState {
		states = append(states, st+"="+strconv.Itoa(n))
	}
	slices.Sort(states)
	x.States = strings.Join(states, ",")
	return x
}

// incidentClock is the breach clock of one incident on ?day= (default
// today): every notice owed, its due day and the days left or overdue.
func (u *UI) incidentClock(c *gin.Context) {
	day := u.today()
	if s := c.Query("day"); s != "" {
		d, err := records.ParseDate(s)
		if err != nil {
			u.fail(c, http.StatusBadRequest, "day: "+err.Error())
			return
		}
		day = d
	}
	v, err := records.Get[records.Incident](c.Request.Context(), route.Store(c), c.Param("id"))
	if err != nil {
		u.recordFail(c, "incident", err)
		return
	}
	in := v.Body
	clockErr := ""
	start := in.Discovered
	ci := records.ClockInput{Discovered: in.Discovered, Affected: in.Affected, ByState: in.ByState, Role: in.Role, BADiscovered: in.BADiscovered, BAIsAgent: in.BAIsAgent}
	if _, err := records.BreachClock(ci); err != nil {
		clockErr = err.Error()
	} else {
		start = ci.ClockStart()
	}
	u.render(c, http.StatusOK, "records_clock", "Breach clock "+v.ID, struct {
		ID            string
		Title         string
		Day           records.Date
		Start         records.Date
		Discovered    records.Date
		Affected      int
		States        string
		Determination string
		Stopped       bool
		Deadlines     []deadlineView
		Error         string
	}{v.ID, v.Body.Title, day, start, in.Discovered, in.Affected, incidentSection(recordView{Typed: in}, day).States, in.Determination,
		in.Determination != "" && in.Determination != records.DeterminationBreach, deadlineViews(in, day), clockErr})
}

func (u *UI) incidentTimeline(c *gin.Context) {
	base, ok := u.baseVersion(c)
	if !ok {
		return
	}
	note := strings.TrimSpace(c.PostForm("note"))
	if note == "" {
		u.fail(c, http.StatusBadRequest, "a timeline entry needs its note")
		return
	}
	v, err := records.AddTimeline(c.Request.Context(), route.Store(c), c.Param("id"),
		records.TimelineEntry{At: u.d.Now().UTC(), Actor: principalID(c), Note: note}, base)
	if err != nil {
		u.recordFail(c, "incident", err)
		return
	}
	u.done(c, u.compliancePath(c, "incidents", v.ID), fmt.Sprintf("timeline entry added (version %d)", v.Version))
}

// incidentAssessment records the four-factor assessment of 164.402(2),
// the individuals affected and the determination.
func (u *UI) incidentAssessment(c *gin.Context) {
	base, ok := u.baseVersion(c)
	if !ok {
		return
	}
	ctx, db, id := c.Request.Context(), route.Store(c), c.Param("id")
	cur, err := records.Get[records.Incident](ctx, db, id)
	if err != nil {
		u.recordFail(c, "incident", err)
		return
	}
	in, who, day := cur.Body, principalID(c), u.today()
	factor := func(name string) records.Factor {
		return records.Factor{Risk: c.PostForm(name + "_risk"), Notes: strings.TrimSpace(c.PostForm(name + "_notes"))}
	}
	a := records.RiskAssessment{NatureExtent: factor("nature_extent"), Recipient: factor("recipient"),
		AcquiredViewed: factor("acquired_viewed"), Mitigation: factor("mitigation"), AssessedBy: who, AssessedOn: day}
	in.Assessment = &a
	if s := strings.TrimSpace(c.PostForm("affected")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			u.fail(c, http.StatusBadRequest, "individuals affected is a whole number, 0 or more")
			return
		}
		in.Affected = n
	}
	states, err := records.ParseStates(strings.TrimSpace(c.PostForm("states")))
	if err != nil {
		u.fail(c, http.StatusBadRequest, "residents by state: "+err.Error())
		return
	}
	in.ByState = states
	det := c.PostForm("determination")
	if det != in.Determination || strings.TrimSpace(c.PostForm("rationale")) != in.Rationale {
		in.DeterminedBy, in.DeterminedOn = who, day
	}
	in.Determination, in.Exception, in.Rationale = det, c.PostForm("exception"), strings.TrimSpace(c.PostForm("rationale"))
	if det == "" {
		in.DeterminedBy, in.DeterminedOn, in.Exception, in.Rationale = "", records.Date{}, "", ""
	}
	if in.Status == records.IncidentOpen {
		in.Status = records.IncidentInvestigating
	}
	reason := strings.TrimSpace(c.PostForm("reason"))
	if reason == "" {
		reason = "four-factor risk assessment"
	}
	v, err := records.Put(ctx, db, id, in, records.Change{Actor: who, Reason: reason, At: u.d.Now(), BaseVersion: base})
	if err != nil {
		u.recordFail(c, "incident", err)
		return
	}
	u.done(c, u.compliancePath(c, "incidents", v.ID), fmt.Sprintf("assessment saved (version %d)", v.Version))
}

// incidentNotice records a breach notice sent.
func (u *UI) incidentNotice(c *gin.Context) {
	base, ok := u.baseVersion(c)
	if !ok {
		return
	}
	ctx, db, id := c.Request.Context(), route.Store(c), c.Param("id")
	cur, err := records.Get[records.Incident](ctx, db, id)
	if err != nil {
		u.recordFail(c, "incident", err)
		return
	}
	sent, err := records.ParseDate(c.PostForm("sent_on"))
	if err != nil {
		u.fail(c, http.StatusBadRequest, "sent on: "+err.Error())
		return
	}
	n := records.Notice{Kind: records.NoticeKind(c.PostForm("kind")), State: strings.ToUpper(strings.TrimSpace(c.PostForm("state"))), SentOn: sent,
		Method: strings.TrimSpace(c.PostForm("method"))}
	if s := strings.TrimSpace(c.PostForm("count")); s != "" {
		if n.Count, err = strconv.Atoi(s); err != nil {
			u.fail(c, http.StatusBadRequest, "count is a whole number")
			return
		}
	}
	in := cur.Body
	in.Notices = append(in.Notices, n)
	reason := strings.TrimSpace(c.PostForm("reason"))
	if reason == "" {
		reason = "notice sent: " + noticeLabel(n.Kind, n.State)
	}
	v, err := records.Put(ctx, db, id, in, records.Change{Actor: principalID(c), Reason: reason, At: u.d.Now(), BaseVersion: base})
	if err != nil {
		u.recordFail(c, "incident", err)
		return
	}
	u.done(c, u.compliancePath(c, "incidents", v.ID), fmt.Sprintf("notice recorded (version %d)", v.Version))
}

// acknowledgePolicy records that the caller has read the policy's current
// version (one acknowledgement per person and version).
func (u *UI) acknowledgePolicy(c *gin.Context) {
	ctx, db, id := c.Request.Context(), route.Store(c), c.Param("id")
	p, err := records.Get[records.Policy](ctx, db, id)
	if err != nil {
		u.recordFail(c, "policy", err)
		return
	}
	if s := c.PostForm("policy_version"); s != "" && s != strconv.FormatUint(uint64(p.Version), 10) {
		u.fail(c, http.StatusConflict, fmt.Sprintf("the policy is now at version %d, not the version %s you read; read it again before acknowledging", p.Version, s))
		return
	}
	who := principalID(c)
	ack := records.PolicyAck{PolicyID: p.ID, PolicyVersion: p.Version, Person: who, AckedOn: u.today()}
	_, err = records.Put(ctx, db, records.AckID(p.ID, p.Version, who), ack,
		records.Change{Actor: who, Reason: fmt.Sprintf("acknowledged %s version %d", p.ID, p.Version), At: u.d.Now()})
	if errors.Is(err, records.ErrConflict) {
		u.done(c, u.compliancePath(c, "policies", p.ID), fmt.Sprintf("you had already acknowledged version %d", p.Version))
		return
	}
	if err != nil {
		u.recordFail(c, "policy acknowledgement", err)
		return
	}
	u.done(c, u.compliancePath(c, "policies", p.ID), fmt.Sprintf("version %d acknowledged", p.Version))
}

// importCompletions reads an uploaded learning-system CSV
// (course_id, person, completed_on[, score]); a file imported twice adds
// nothing.
func (u *UI) importCompletions(c *gin.Context) {
	fh, err := c.FormFile("file")
	if err != nil {
		u.fail(c, http.StatusBadRequest, "choose the CSV file to import")
		return
	}
	if fh.Size > maxCompletionsUpload {
		u.fail(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is larger than %d MiB", maxCompletionsUpload>>20))
		return
	}
	f, err := fh.Open()
	if err != nil {
		u.fail(c, http.StatusBadRequest, "the uploaded file could not be read")
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCompletionsUpload+1))
	if err != nil || len(data) > maxCompletionsUpload {
		u.fail(c, http.StatusBadRequest, "the uploaded file could not be read or is too large")
		return
	}
	source := strings.TrimSpace(c.PostForm("source"))
	if source == "" {
		source = "CSV upload " + fh.Filename
	}
	cs, err := records.ParseCompletionsCSV(bytes.NewReader(data), source)
	if err != nil {
		u.recordFail(c, "completions CSV", err)
		return
	}
	ctx, db, now, who := c.Request.Context(), route.Store(c), u.d.Now(), principalID(c)
	written, already := 0, 0
	for _, x := range cs {
		_, err := records.Put(ctx, db, records.CompletionID(x.CourseID, x.Person, x.CompletedOn), x,
			records.Change{Actor: who, Reason: "completions imported from " + source, At: now})
		switch {
		case errors.Is(err, records.ErrConflict):
			already++
		case err != nil:
			u.recordFail(c, "completion", err)
			return
		default:
			written++
		}
	}
	u.done(c, u.compliancePath(c, "training-completions"), fmt.Sprintf("%d completions imported, %d already recorded", written, already))
}

// generateCalendar writes the year's audit calendar tasks that are not
// there yet, all owned by the given owner (if any).
func (u *UI) generateCalendar(c *gin.Context) {
	year, err := strconv.Atoi(strings.TrimSpace(c.PostForm("year")))
	if err != nil || year < 2000 || year > 2200 {
		u.fail(c, http.StatusBadRequest, "year is a calendar year, e.g. 2027")
		return
	}
	var owners map[string]string
	if o := strings.TrimSpace(c.PostForm("owner")); o != "" {
		owners = map[string]string{}
		for _, t := range records.GenerateCalendar(year, nil) {
			owners[t.Task.Task] = o
		}
	}
	n, err := records.EnsureCalendar(c.Request.Context(), route.Store(c), year, owners, principalID(c), u.d.Now())
	if err != nil {
		u.recordFail(c, "audit calendar", err)
		return
	}
	u.done(c, u.compliancePath(c, "calendar"), fmt.Sprintf("%d tasks of %d created", n, year))
}
