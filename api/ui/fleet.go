package ui

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/store"
)

// TenantStatus is one practice's line in the MSP overview.
type TenantStatus struct {
	Tenant         string     `json:"tenant"`
	Events30d      uint64     `json:"events_30d"`
	LastEvent      *time.Time `json:"last_event"`
	OpenCases      uint64     `json:"open_cases"`
	TopRisk        float64    `json:"top_risk"`
	Campaign       string     `json:"recert_campaign"`
	CampaignStatus string     `json:"recert_status"`
	CampaignDue    string     `json:"recert_due"`
	RecertOverdue  bool       `json:"recert_overdue"`
	Review         string     `json:"review_period"`
	ReviewState    string     `json:"review_state"`
	ReviewDue      string     `json:"review_due"`
	ReviewOverdue  bool       `json:"review_overdue"`
	Attention      int        `json:"attention"` // higher: look here first
	Reasons        []string   `json:"attention_reasons"`
}

// FleetStatus computes the overview for the tenants of f, most in need of
// attention first. Each part is one query over all the tenants.
func FleetStatus(ctx context.Context, f *store.FleetStore, now time.Time) ([]TenantStatus, error) {
	db := f.Database()
	by := map[string]*TenantStatus{}
	for _, t := range f.Tenants() {
		by[t] = &TenantStatus{Tenant: t}
	}
	var ev []struct {
		T    string    `json:"t"`
		N    uint64    `json:"n"`
		Last time.Time `json:"last"`
	}
	if err := f.Select(ctx, &ev, `SELECT tenant_id AS t, count() AS n, max(time) AS last FROM `+db+`.access_events
WHERE has({tenants:Array(String)}, tenant_id) AND time >= {since:DateTime64(3)} GROUP BY t`,
		store.Params{"since": store.TimeParam(now.AddDate(0, 0, -30))}); err != nil {
		return nil, err
	}
	for _, r := range ev {
		if s := by[r.T]; s != nil {
			last := r.Last
			s.Events30d, s.LastEvent = r.N, &last
		}
	}
	var cs []struct {
		T    string  `json:"t"`
		N    uint64  `json:"n"`
		Risk float64 `json:"risk"`
	}
	if err := f.Select(ctx, &cs, `SELECT tenant_id AS t, count() AS n, max(risk_score) AS risk FROM `+db+`.cases_current
WHERE has({tenants:Array(String)}, tenant_id) AND status = 'open' GROUP BY t`, nil); err != nil {
		return nil, err
	}
	for _, r := range cs {
		if s := by[r.T]; s != nil {
			s.OpenCases, s.TopRisk = r.N, r.Risk
		}
	}
	var rc []struct {
		T      string `json:"t"`
		ID     string `json:"id"`
		Status string `json:"status"`
		Due    string `json:"due"`
	}
	if err := f.Select(ctx, &rc, `SELECT tenant_id AS t, argMax(campaign_id, quarter) AS id, argMax(status, quarter) AS status,
       toString(argMax(due_date, quarter)) AS due
FROM `+db+`.recert_campaigns_current WHERE has({tenants:Array(String)}, tenant_id) GROUP BY t`, nil); err != nil {
		return nil, err
	}
	for _, r := range rc {
		if s := by[r.T]; s != nil {
			s.Campaign, s.CampaignStatus, s.CampaignDue = r.ID, r.Status, r.Due
			if due, err := time.Parse("2006-01-02", r.Due); err == nil && r.Status != "signed_off" && now.After(due.AddDate(0, 0, 1)) {
				s.RecertOverdue = true
			}
		}
	}
	var rv []struct {
		T      string `json:"t"`
		Period string `json:"latest"`
		State  string `json:"state"`
		Due    string `json:"due"`
	}
	if err := f.Select(ctx, &rv, `SELECT tenant_id AS t, max(period) AS latest, argMax(state, period) AS state,
       toString(argMax(due_date, period)) AS due
FROM `+db+`.review_periods_current WHERE has({tenants:Array(String)}, tenant_id) GROUP BY t`, nil); err != nil {
		return nil, err
	}
	for _, r := range rv {
		if s := by[r.T]; s != nil {
			s.Review, s.ReviewState, s.ReviewDue = r.Period, r.State, r.Due
			if due, err := time.Parse("2006-01-02", r.Due); err == nil && r.State != "signed_off" && now.After(due.AddDate(0, 0, 1)) {
				s.ReviewOverdue = true
			}
		}
	}
	out := make([]TenantStatus, 0, len(by))
	for _, s := range by {
		if s.OpenCases > 0 {
			s.Attention += int(s.OpenCases) + int(s.TopRisk/10)
			s.Reasons = append(s.Reasons, "open cases")
		}
		if s.RecertOverdue {
			s.Attention += 20
			s.Reasons = append(s.Reasons, "recertification overdue")
		}
		if s.ReviewOverdue {
			s.Attention += 20
			s.Reasons = append(s.Reasons, "log review overdue")
		}
		if s.Campaign == "" {
			s.Attention += 5
			s.Reasons = append(s.Reasons, "no recertification campaign")
		}
		if s.LastEvent == nil || now.Sub(*s.LastEvent) > 48*time.Hour {
			s.Attention += 10
			s.Reasons = append(s.Reasons, "no events in 48 hours")
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Attention != out[j].Attention {
			return out[i].Attention > out[j].Attention
		}
		return out[i].Tenant < out[j].Tenant
	})
	return out, nil
}

// FleetPage is the start page: the caller's tenants, most in need of
// attention first. fleet resolves the caller's tenants into a store.
func (u *UI) FleetPage(fleet func(c *gin.Context) (*store.FleetStore, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, err := fleet(c)
		if err != nil {
			u.d.Log.Error("ui: fleet scope", "err", err)
			u.fail(c, http.StatusInternalServerError, "your practices could not be listed; the error is in the server log")
			return
		}
		st, err := FleetStatus(c.Request.Context(), f, u.d.Now())
		if err != nil {
			u.d.Log.Error("ui: fleet status", "err", err)
			u.fail(c, http.StatusInternalServerError, "the overview could not be computed; the error is in the server log")
			return
		}
		p := route.Principal(c)
		u.render(c, http.StatusOK, "fleet", "Practices", struct {
			Tenants []TenantStatus
			Cases   bool
		}{st, p != nil && p.Role.Can(authz.ReadAlerts)})
	}
}
