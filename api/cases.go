package api

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
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
