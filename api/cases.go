package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/analyze"
	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Case is a case as the API shows it (docs/cases.md).
type Case struct {
	CaseID           string    `json:"case_id"`
	ActorID          string    `json:"actor_id"`
	ActorName        string    `json:"actor_name"`
	ActorRole        string    `json:"actor_role"`
	Status           string    `json:"status"`
	RiskScore        float64   `json:"risk_score"`
	MaxSeverity      string    `json:"max_severity"`
	AlertIDs         []string  `json:"alert_ids"`
	Rules            []string  `json:"rules"`
	FirstSeen        time.Time `json:"first_seen"`
	LastSeen         time.Time `json:"last_seen"`
	AlertCount       uint32    `json:"alert_count"`
	DistinctPatients uint32    `json:"distinct_patients"`
	ActorPatientDays uint32    `json:"actor_patient_days"`
	ActiveDays       uint32    `json:"active_days"`
	Summary          string    `json:"summary"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// CaseFilter narrows a case listing: cases active in [From, To).
type CaseFilter struct {
	From, To      time.Time
	Status        string // "" = any
	Limit, Offset int
}

// listCases reads one page of a tenant's current cases, riskiest first, so
// the actor whose alerts add up the most is reviewed first.
func listCases(ctx context.Context, q *store.TenantStore, f CaseFilter) ([]Case, error) {
	p := store.Params{"from": chTime(f.From), "to": chTime(f.To), "status": f.Status,
		"limit": strconv.Itoa(f.Limit), "offset": strconv.Itoa(f.Offset)}
	var out []Case
	err := q.Select(ctx, &out, fmt.Sprintf(`
SELECT case_id, actor_id, actor_name, actor_role, status, risk_score, max_severity, alert_ids, rules, first_seen, last_seen,
       alert_count, distinct_patients, actor_patient_days, active_days, summary, updated_at
FROM %s.cases_current
WHERE tenant_id = {tenant:String} AND last_seen >= {from:DateTime64(3)} AND first_seen < {to:DateTime64(3)}
  AND ({status:String} = '' OR status = {status:String})
ORDER BY risk_score DESC, last_seen DESC, case_id
LIMIT {limit:UInt32} OFFSET {offset:UInt32}`, q.Database()), p)
	return out, err
}

func (s *server) cases(c *gin.Context) {
	l, ok := s.listParams(c)
	if !ok {
		return
	}
	f := CaseFilter{From: l.from, To: l.to, Limit: l.limit, Offset: l.offset, Status: c.Query("status")}
	if f.Status != "" && f.Status != "open" && f.Status != "closed" {
		problem(c, 400, "status must be open or closed")
		return
	}
	items, err := listCases(c.Request.Context(), route.Store(c), f)
	if err != nil {
		s.cfg.Log.Error("list cases", "tenant", l.tenant, "err", err)
		problem(c, 500, "cases could not be read; the error is in the server log")
		return
	}
	respond(c, l.tenant, l.from, l.to, items, l.limit, l.offset)
}

// CaseDetail is one case with everything a reviewer decides it on: its
// alerts (reasons, explanations checked, suppressions; patients masked as
// in lists), who it is assigned to, and what was done with it.
type CaseDetail struct {
	Tenant   string               `json:"tenant"`
	Case     Case                 `json:"case"`
	Assignee string               `json:"assignee"`
	Actions  []analyze.CaseAction `json:"actions"`
	Alerts   []MaskedAlert        `json:"alerts"`
}

// CaseRoutes are the case workflow's routes: read one case, assign it,
// comment on it, close it (docs/cases.md).
func (s *server) caseRoutes() []route.Route {
	return []route.Route{
		{Method: "GET", Path: "/cases/:case", Perm: authz.ReadAlerts, Handle: s.caseDetail},
		{Method: "POST", Path: "/cases/:case/assign", Perm: authz.ManageCases, Handle: s.caseAction(analyze.CaseAssign)},
		{Method: "POST", Path: "/cases/:case/comments", Perm: authz.ManageCases, Handle: s.caseAction(analyze.CaseComment)},
		{Method: "POST", Path: "/cases/:case/close", Perm: authz.ManageCases, Handle: s.caseAction(analyze.CaseClose)},
	}
}

const maxCaseParam = 128

func caseParam(c *gin.Context) (string, bool) {
	id := c.Param("case")
	if id == "" || len(id) > maxCaseParam || !utf8.ValidString(id) {
		problem(c, 400, fmt.Sprintf("case must be a case id of at most %d characters", maxCaseParam))
		return "", false
	}
	return id, true
}

func (s *server) caseDetail(c *gin.Context) {
	id, ok := caseParam(c)
	if !ok {
		return
	}
	ctx, q, tenant := c.Request.Context(), route.Store(c), route.Tenant(c)
	row, err := analyze.GetCase(ctx, q, id)
	if errors.Is(err, analyze.ErrNoCase) {
		problem(c, 404, "no such case")
		return
	}
	if err != nil {
		s.caseFailed(c, "read case", err)
		return
	}
	actions, err := analyze.CaseActions(ctx, q, id)
	if err != nil {
		s.caseFailed(c, "read case history", err)
		return
	}
	var alerts []Alert
	if len(row.AlertIDs) > 0 {
		err = q.Select(ctx, &alerts, fmt.Sprintf(`
SELECT %s FROM %s.alerts_current
WHERE tenant_id = {tenant:String} AND alert_id IN {ids:Array(String)}
ORDER BY first_seen, alert_id`, alertColumns, q.Database()), store.Params{"ids": chStrings(row.AlertIDs)})
		if err == nil {
			err = addSuppressions(ctx, q, alerts)
		}
		if err != nil {
			s.caseFailed(c, "read the case's alerts", err)
			return
		}
	}
	masked, err := maskAlerts(ctx, q, s.cfg.MaskKey, alerts)
	if err != nil {
		s.caseFailed(c, "mask the case's alerts", err)
		return
	}
	if actions == nil {
		actions = []analyze.CaseAction{}
	}
	if masked == nil {
		masked = []MaskedAlert{}
	}
	c.JSON(200, CaseDetail{Tenant: tenant, Case: caseOf(row), Assignee: analyze.Assignee(actions), Actions: actions, Alerts: masked})
}

// CaseActionRequest is the body of assign, comment and close: assign takes
// an assignee (and an optional note), comment a note, close a resolution
// and a reason.
type CaseActionRequest struct {
	Assignee   string `json:"assignee,omitempty"`
	Note       string `json:"note,omitempty"`
	Resolution string `json:"resolution,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

const maxCaseText = 4000

func (s *server) caseAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := caseParam(c)
		if !ok {
			return
		}
		var req CaseActionRequest
		if !decodeJSON(c, &req) {
			return
		}
		if len(req.Note) > maxCaseText || len(req.Reason) > maxCaseText || len(req.Assignee) > maxCaseParam {
			problem(c, 400, fmt.Sprintf("note and reason are at most %d bytes, assignee %d", maxCaseText, maxCaseParam))
			return
		}
		note := req.Note
		if action == analyze.CaseClose {
			note = req.Reason
		}
		p := route.Principal(c)
		by := p.Name
		if by == "" {
			by = p.Subject
		}
		ctx, q := c.Request.Context(), route.Store(c)
		row, err := analyze.ApplyCaseAction(ctx, q, analyze.CaseRequest{CaseID: id, Action: action, By: by,
			Assignee: req.Assignee, Resolution: req.Resolution, Note: note}, s.cfg.Now())
		var refused *analyze.CaseError
		switch {
		case errors.Is(err, analyze.ErrNoCase):
			problem(c, 404, "no such case")
			return
		case errors.As(err, &refused) && refused.Msg == "the case is closed":
			problem(c, 409, "the case is closed")
			return
		case errors.As(err, &refused):
			problem(c, 400, refused.Msg)
			return
		case err != nil:
			s.caseFailed(c, "record the case "+action, err)
			return
		}
		actions, err := analyze.CaseActions(ctx, q, id)
		if err != nil {
			s.caseFailed(c, "read case history", err)
			return
		}
		c.JSON(200, gin.H{"tenant": route.Tenant(c), "case": caseOf(row), "assignee": analyze.Assignee(actions), "actions": actions})
	}
}

func (s *server) caseFailed(c *gin.Context, what string, err error) {
	s.cfg.Log.Error("cases: "+what, "tenant", route.Tenant(c), "err", err)
	problem(c, 500, "the case could not be read or changed; the error is in the server log")
}

// caseOf is the API view of a case version.
func caseOf(r store.CaseRow) Case {
	return Case{CaseID: r.CaseID, ActorID: r.ActorID, ActorName: r.ActorName, ActorRole: r.ActorRole, Status: r.Status,
		RiskScore: float64(r.RiskScore), MaxSeverity: r.MaxSeverity, AlertIDs: r.AlertIDs, Rules: r.Rules,
		FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, AlertCount: r.AlertCount, DistinctPatients: r.DistinctPatients,
		ActorPatientDays: r.ActorPatientDays, ActiveDays: r.ActiveDays, Summary: r.Summary, UpdatedAt: r.UpdatedAt}
}
