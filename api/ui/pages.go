package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/recert"
	"github.com/phiwatch/phiwatch/internal/store"
)

type caseRow struct {
	CaseID      string    `json:"case_id"`
	ActorID     string    `json:"actor_id"`
	ActorName   string    `json:"actor_name"`
	ActorRole   string    `json:"actor_role"`
	Status      string    `json:"status"`
	RiskScore   float64   `json:"risk_score"`
	MaxSeverity string    `json:"max_severity"`
	AlertIDs    []string  `json:"alert_ids"`
	Rules       []string  `json:"rules"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	AlertCount  uint32    `json:"alert_count"`
	Summary     string    `json:"summary"`
}

const caseCols = `case_id, actor_id, actor_name, actor_role, status, risk_score, max_severity, alert_ids, rules,
       first_seen, last_seen, alert_count, summary`

// home lists the tenant's cases, riskiest first.
func (u *UI) home(c *gin.Context) {
	s := route.Store(c)
	status := c.DefaultQuery("status", "open")
	if status != "open" && status != "closed" && status != "all" {
		u.fail(c, http.StatusBadRequest, "status must be open, closed or all")
		return
	}
	var cases []caseRow
	if err := s.Select(c.Request.Context(), &cases, `SELECT `+caseCols+` FROM `+s.Database()+`.cases_current
WHERE tenant_id = {tenant:String} AND ({status:String} = 'all' OR status = {status:String})
ORDER BY risk_score DESC, last_seen DESC LIMIT 200`, store.Params{"status": status}); err != nil {
		u.d.Log.Error("ui: list cases", "tenant", s.Tenant(), "err", err)
		u.fail(c, http.StatusInternalServerError, "cases could not be read; the error is in the server log")
		return
	}
	for i := range cases {
		cases[i].Summary = u.mask(c, cases[i].Summary, nil)
	}
	u.render(c, http.StatusOK, "home", "Cases", struct {
		Status string
		Cases  []caseRow
	}{status, cases})
}

type alertRow struct {
	AlertID          string    `json:"alert_id"`
	Rule             string    `json:"rule"`
	Severity         string    `json:"severity"`
	Score            float64   `json:"score"`
	PatientIDs       []string  `json:"patient_ids"`
	FirstSeen        time.Time `json:"first_seen"`
	Reason           string    `json:"reason"`
	Explanations     []string  `json:"explanations"`
	EvidenceEventIDs []string  `json:"evidence_event_ids"`
}

type evidenceRow struct {
	EventID      string    `json:"event_id"`
	Time         time.Time `json:"time"`
	SourceKind   string    `json:"source_kind"`
	SourceSystem string    `json:"source_system"`
	Action       string    `json:"action"`
	Outcome      string    `json:"outcome"`
	PatientID    string    `json:"patient_id"`
	ClientIP     string    `json:"client_ip"`
}

// casePage shows one case: its alerts with reasons and the explanations
// checked, and the evidence events in time order.
func (u *UI) casePage(c *gin.Context) {
	s := route.Store(c)
	ctx := c.Request.Context()
	var cs []caseRow
	if err := s.Select(ctx, &cs, `SELECT `+caseCols+` FROM `+s.Database()+`.cases_current
WHERE tenant_id = {tenant:String} AND case_id = {id:String}`, store.Params{"id": c.Param("case")}); err != nil {
		u.d.Log.Error("ui: read case", "tenant", s.Tenant(), "err", err)
		u.fail(c, http.StatusInternalServerError, "the case could not be read; the error is in the server log")
		return
	}
	if len(cs) == 0 {
		u.fail(c, http.StatusNotFound, "no such case")
		return
	}
	var alerts []alertRow
	if err := s.Select(ctx, &alerts, `SELECT alert_id, rule, severity, score, patient_ids, first_seen, reason, explanations, evidence_event_ids
FROM `+s.Database()+`.alerts_current WHERE tenant_id = {tenant:String} AND has({ids:Array(String)}, alert_id)
ORDER BY first_seen`, store.Params{"ids": store.ArrayParam(cs[0].AlertIDs)}); err != nil {
		u.d.Log.Error("ui: read alerts", "tenant", s.Tenant(), "err", err)
		u.fail(c, http.StatusInternalServerError, "the case's alerts could not be read; the error is in the server log")
		return
	}
	var ids []string
	for i := range alerts {
		alerts[i].Reason = u.mask(c, alerts[i].Reason, alerts[i].PatientIDs)
		for j, e := range alerts[i].Explanations {
			alerts[i].Explanations[j] = u.mask(c, e, alerts[i].PatientIDs)
		}
		for j, p := range alerts[i].PatientIDs {
			alerts[i].PatientIDs[j] = u.mask(c, p, []string{p})
		}
		ids = append(ids, alerts[i].EvidenceEventIDs...)
	}
	if len(ids) > 500 {
		ids = ids[:500]
	}
	var timeline []evidenceRow
	if err := s.Select(ctx, &timeline, `SELECT event_id, time, source_kind, source_system, action, outcome, patient_id, client_ip
FROM `+s.Database()+`.events WHERE tenant_id = {tenant:String} AND has({ids:Array(String)}, event_id)
ORDER BY time LIMIT 500`, store.Params{"ids": store.ArrayParam(ids)}); err != nil {
		u.d.Log.Error("ui: read evidence", "tenant", s.Tenant(), "err", err)
		u.fail(c, http.StatusInternalServerError, "the evidence could not be read; the error is in the server log")
		return
	}
	for i := range timeline {
		timeline[i].PatientID = u.mask(c, timeline[i].PatientID, []string{timeline[i].PatientID})
	}
	cs[0].Summary = u.mask(c, cs[0].Summary, nil)
	u.render(c, http.StatusOK, "case", "Case "+cs[0].ActorName, struct {
		Case     caseRow
		Alerts   []alertRow
		Timeline []evidenceRow
	}{cs[0], alerts, timeline})
}

func (u *UI) mask(c *gin.Context, text string, patients []string) string {
	if u.d.Mask == nil {
		return text
	}
	return u.d.Mask(c, text, patients)
}

func actor(c *gin.Context) recert.Actor {
	p := route.Principal(c)
	return recert.Actor{ID: p.Subject, Name: p.Name, Role: string(p.Role), WorkforceID: p.WorkforceIDs[route.Tenant(c)]}
}

func (u *UI) campaigns(c *gin.Context) {
	list, err := recert.List(c.Request.Context(), route.Store(c))
	if err != nil {
		u.d.Log.Error("ui: list campaigns", "tenant", route.Tenant(c), "err", err)
		u.fail(c, http.StatusInternalServerError, "campaigns could not be read; the error is in the server log")
		return
	}
	u.render(c, http.StatusOK, "campaigns", "Access recertification", list)
}

// campaignPage is a manager's worklist: their staff's accounts (everyone's
// for the practice admin and privacy officer), flagged first.
func (u *UI) campaignPage(c *gin.Context) {
	ctx := c.Request.Context()
	a := actor(c)
	p, err := recert.GetProgress(ctx, route.Store(c), c.Param("campaign"), u.d.Now())
	if errors.Is(err, recert.ErrNotFound) {
		u.fail(c, http.StatusNotFound, "no such campaign")
		return
	}
	if err != nil {
		u.d.Log.Error("ui: read campaign", "tenant", route.Tenant(c), "err", err)
		u.fail(c, http.StatusInternalServerError, "the campaign could not be read; the error is in the server log")
		return
	}
	f := recert.ItemFilter{Undecided: c.Query("show") != "all"}
	mine := !recert.MayDecideAny(a.Role) && a.Role != "auditor"
	if mine {
		f.Assignee = a.WorkforceID
	}
	var items []recert.Item
	if !mine || a.WorkforceID != "" {
		if items, err = recert.Items(ctx, route.Store(c), p.Campaign.CampaignID, f); err != nil {
			u.d.Log.Error("ui: list items", "tenant", route.Tenant(c), "err", err)
			u.fail(c, http.StatusInternalServerError, "the items could not be read; the error is in the server log")
			return
		}
	}
	u.render(c, http.StatusOK, "campaign", "Recertification "+p.Campaign.CampaignID, struct {
		Progress recert.Progress
		Items    []recert.Item
		ShowAll  bool
		Locked   bool
		CanSign  bool
	}{p, items, !f.Undecided, p.Campaign.Status == recert.StatusSignedOff, recert.MayDecideAny(a.Role)})
}

// decideItem takes the decision form and goes back to the worklist.
func (u *UI) decideItem(c *gin.Context) {
	d := recert.DecideRequest{Decision: c.PostForm("decision"), Reason: c.PostForm("reason"), Amendment: c.PostForm("amendment") == "on"}
	if roles := strings.TrimSpace(c.PostForm("new_roles")); roles != "" {
		for _, r := range strings.Split(roles, ",") {
			if r = strings.TrimSpace(r); r != "" {
				d.NewRoles = append(d.NewRoles, r)
			}
		}
	}
	campaign := c.Param("campaign")
	_, err := recert.Decide(c.Request.Context(), route.Store(c), campaign, c.Param("item"), d, actor(c), u.d.Now())
	if u.recertFailed(c, err) {
		return
	}
	c.Redirect(http.StatusSeeOther, campaignURL(c, campaign)+"?done="+url.QueryEscape(d.Decision+" saved"))
}

// signOffCampaign locks a campaign with the signer's statement.
func (u *UI) signOffCampaign(c *gin.Context) {
	campaign := c.Param("campaign")
	_, err := recert.SignOff(c.Request.Context(), route.Store(c), campaign, actor(c), strings.TrimSpace(c.PostForm("statement")), u.d.Now())
	if u.recertFailed(c, err) {
		return
	}
	c.Redirect(http.StatusSeeOther, campaignURL(c, campaign)+"?show=all&done="+url.QueryEscape("campaign signed off"))
}

// verifyCampaign checks the open remediation tasks.
func (u *UI) verifyCampaign(c *gin.Context) {
	campaign := c.Param("campaign")
	if _, err := recert.Get(c.Request.Context(), route.Store(c), campaign); u.recertFailed(c, err) {
		return
	}
	res, err := recert.Verify(c.Request.Context(), route.Store(c), campaign, u.d.Now())
	if u.recertFailed(c, err) {
		return
	}
	msg := fmt.Sprintf("remediation checked: %d confirmed, %d still active, %d waiting for an inventory", res.Confirmed, res.StillActive, res.Pending)
	c.Redirect(http.StatusSeeOther, campaignURL(c, campaign)+"?show=all&done="+url.QueryEscape(msg))
}

func campaignURL(c *gin.Context, campaign string) string {
	return "/ui/t/" + url.PathEscape(route.Tenant(c)) + "/recert/" + url.PathEscape(campaign)
}

// recertFailed renders a domain error; it reports whether there was one.
func (u *UI) recertFailed(c *gin.Context, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, recert.ErrNotFound):
		u.fail(c, http.StatusNotFound, "no such campaign or item")
	case errors.Is(err, recert.ErrInvalid):
		u.fail(c, http.StatusBadRequest, err.Error())
	case errors.Is(err, recert.ErrSelf), errors.Is(err, recert.ErrNotAssigned):
		u.fail(c, http.StatusForbidden, err.Error())
	case errors.Is(err, recert.ErrLocked), errors.Is(err, recert.ErrNotLocked), errors.Is(err, recert.ErrIncomplete), errors.Is(err, recert.ErrExists):
		u.fail(c, http.StatusConflict, err.Error())
	default:
		u.d.Log.Error("ui: recertification", "tenant", route.Tenant(c), "err", err)
		u.fail(c, http.StatusInternalServerError, "the change could not be saved; the error is in the server log")
	}
	return true
}
