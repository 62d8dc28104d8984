package records

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Record kinds of the risk analysis (164.308(a)(1)(ii)(A), (B)).
const (
	KindRiskAnalysis Kind = "risk_analysis"
	KindRisk         Kind = "risk"
)

// RiskAnalysis is one version of the practice's risk analysis: its scope
// and asset inventory, approved, with the day the next one is due (at
// least yearly, and after a material change).
type RiskAnalysis struct {
	Title          string  `json:"title"`
	PerformedOn    Date    `json:"performed_on"`
	Scope          string  `json:"scope"`
	Method         string  `json:"method,omitempty"`
	Assets         []Asset `json:"assets"`
	Approver       string  `json:"approver,omitempty"`
	ApprovedOn     Date    `json:"approved_on,omitzero"`
	NextDue        Date    `json:"next_due"`
	MaterialChange string  `json:"material_change,omitempty"` // why this version, if not the yearly one
}

// Asset is a system that creates, receives, keeps or sends ePHI.
type Asset struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"` // ehr, email, vpn, server, workstation, mobile, paper, cloud, other
	Location string `json:"location,omitempty"`
	EPHI     bool   `json:"ephi"`
	Flows    string `json:"flows,omitempty"` // where its PHI comes from and goes
	Owner    string `json:"owner,omitempty"`
}

// Kind implements Body.
func (RiskAnalysis) Kind() Kind { return KindRiskAnalysis }

// Validate implements Body.
func (r RiskAnalysis) Validate() error {
	if strings.TrimSpace(r.Title) == "" || r.PerformedOn.IsZero() || strings.TrimSpace(r.Scope) == "" {
		return errors.New("a risk analysis needs a title, the day it was performed and its scope")
	}
	if len(r.Assets) == 0 {
		return errors.New("a risk analysis needs its inventory of systems holding ePHI")
	}
	for i, a := range r.Assets {
		if strings.TrimSpace(a.Name) == "" || a.Kind == "" {
			return fmt.Errorf("asset %d needs a name and a kind", i+1)
		}
	}
	if r.NextDue.IsZero() || r.NextDue.After(r.PerformedOn.AddYears(1)) {
		return fmt.Errorf("the next risk analysis is due within a year, by %s", r.PerformedOn.AddYears(1))
	}
	if !r.ApprovedOn.IsZero() && r.Approver == "" {
		return errors.New("an approval needs the approver")
	}
	return nil
}

// SeedAssets lists the log sources the practice's events came from as
// assets for a first risk analysis: every configured source that sends
// events holds or touches ePHI.
func SeedAssets(ctx context.Context, db DB) ([]Asset, error) {
	var rows []struct {
		Kind   string `json:"source_kind"`
		System string `json:"source_system"`
		Name   string `json:"source_name"`
	}
	err := db.Select(ctx, &rows, `SELECT DISTINCT source_kind, source_system, source_name FROM `+db.Database()+
		`.access_events WHERE tenant_id = {tenant:String} ORDER BY source_kind, source_name, source_system LIMIT 1000`, nil)
	if err != nil {
		return nil, fmt.Errorf("read the practice's log sources: %w", err)
	}
	out := make([]Asset, 0, len(rows))
	for _, r := range rows {
		name := r.Name
		if name == "" {
			name = r.System
		}
		out = append(out, Asset{Name: name, Kind: r.Kind, EPHI: true, Flows: "audit log: " + r.System})
	}
	return out, nil
}

// Risk is one risk of the analysis and its treatment.
type Risk struct {
	Asset         string `json:"asset"`
	Threat        string `json:"threat"`
	Vulnerability string `json:"vulnerability"`
	Controls      string `json:"controls,omitempty"` // existing
	Likelihood    int    `json:"likelihood"`         // 1 (rare) … 5 (almost certain)
	Impact        int    `json:"impact"`             // 1 (negligible) … 5 (severe)
	Treatment     string `json:"treatment"`          // mitigate, accept, transfer, avoid
	Plan          string `json:"plan,omitempty"`
	Owner         string `json:"owner"`
	Due           Date   `json:"due,omitzero"`
	// Residual risk once treated.
	ResidualLikelihood int    `json:"residual_likelihood,omitempty"`
	ResidualImpact     int    `json:"residual_impact,omitempty"`
	Status             string `json:"status"` // open, treated, accepted, closed
	// Acceptance of the (residual) risk, for a limited time.
	AcceptedBy    string `json:"accepted_by,omitempty"`
	AcceptedOn    Date   `json:"accepted_on,omitzero"`
	AcceptExpires Date   `json:"accept_expires,omitzero"`
}

// Kind implements Body.
func (Risk) Kind() Kind { return KindRisk }

// RiskLevel is likelihood × impact on a 5 × 5 grid: low (1–4), medium
// (5–9), high (10–16), critical (17–25).
func RiskLevel(likelihood, impact int) string {
	switch s := likelihood * impact; {
	case s <= 0:
		return ""
	case s <= 4:
		return "low"
	case s <= 9:
		return "medium"
	case s <= 16:
		return "high"
	default:
		return "critical"
	}
}

// Level is the inherent risk level.
func (r Risk) Level() string { return RiskLevel(r.Likelihood, r.Impact) }

// ResidualLevel is the level once treated ("" when not assessed).
func (r Risk) ResidualLevel() string { return RiskLevel(r.ResidualLikelihood, r.ResidualImpact) }

// Validate implements Body.
func (r Risk) Validate() error {
	if r.Asset == "" || strings.TrimSpace(r.Threat) == "" || strings.TrimSpace(r.Vulnerability) == "" {
		return errors.New("a risk needs the asset, the threat and the vulnerability")
	}
	if r.Likelihood < 1 || r.Likelihood > 5 || r.Impact < 1 || r.Impact > 5 {
		return errors.New("likelihood and impact are rated 1 to 5")
	}
	if (r.ResidualLikelihood != 0 || r.ResidualImpact != 0) &&
		(r.ResidualLikelihood < 1 || r.ResidualLikelihood > 5 || r.ResidualImpact < 1 || r.ResidualImpact > 5) {
		return errors.New("residual likelihood and impact are rated 1 to 5, both or neither")
	}
	switch r.Treatment {
	case "mitigate", "transfer", "avoid":
		if strings.TrimSpace(r.Plan) == "" || r.Due.IsZero() {
			return fmt.Errorf("a risk to %s needs the plan and its due day", r.Treatment)
		}
	case "accept":
	default:
		return fmt.Errorf("treatment %q: want mitigate, accept, transfer or avoid", r.Treatment)
	}
	if r.Owner == "" {
		return errors.New("a risk needs an owner")
	}
	switch r.Status {
	case "open", "treated", "closed":
	case "accepted":
		if r.AcceptedBy == "" || r.AcceptedOn.IsZero() || r.AcceptExpires.IsZero() {
			return errors.New("an accepted risk needs the approver, the day and when the acceptance expires")
		}
		if r.AcceptExpires.After(r.AcceptedOn.AddYears(1)) {
			return errors.New("a risk acceptance lasts at most a year: it is reviewed with the next analysis")
		}
	default:
		return fmt.Errorf("status %q: want open, treated, accepted or closed", r.Status)
	}
	return nil
}

// RisksDue lists the risks whose treatment or acceptance is owed.
func RisksDue(risks []Versioned[Risk], day Date) []DueItem {
	var out []DueItem
	for _, v := range risks {
		r := v.Body
		title := r.Asset + ": " + r.Threat
		switch {
		case r.Status == "open" && !r.Due.IsZero():
			out = append(out, dueItem(KindRisk, v.ID, title, r.Owner, r.Due, day))
		case r.Status == "accepted":
			out = append(out, dueItem(KindRisk, v.ID, title+" (acceptance expires)", r.AcceptedBy, r.AcceptExpires, day))
		}
	}
	return out
}

// AnalysisDue is the next risk analysis as a due item, or one due today
// when there has never been one.
func AnalysisDue(as []Versioned[RiskAnalysis], day Date) DueItem {
	var latest *Versioned[RiskAnalysis]
	for i := range as {
		if latest == nil || as[i].Body.PerformedOn.After(latest.Body.PerformedOn) {
			latest = &as[i]
		}
	}
	if latest == nil {
		return dueItem(KindRiskAnalysis, "", "No risk analysis on record", "", day, day)
	}
	return dueItem(KindRiskAnalysis, latest.ID, "Next risk analysis after "+latest.Body.Title, latest.Body.Approver, latest.Body.NextDue, day)
}
