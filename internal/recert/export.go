package recert

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/evidence"
)

func lastUse(it Item) string {
	t := it.LastActivity
	if it.LastLogin != nil && (t == nil || it.LastLogin.After(*t)) {
		t = it.LastLogin
	}
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// WriteCSV writes a campaign's evidence: one row per item with its flags,
// decision, decider and remediation state.
func WriteCSV(w io.Writer, c Campaign, items []Item) error {
	header := []string{"campaign", "quarter", "system", "account_id", "display_name", "owner_user_id", "owner_name", "owner_role",
		"enabled", "privileged", "roles", "last_use", "days_dormant", "flags", "assignee", "decision", "reason", "new_roles",
		"decided_by", "decided_at", "amendment", "remediation", "remediation_evidence"}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		rows = append(rows, []string{c.CampaignID, c.Quarter, it.System, it.AccountID, it.DisplayName, it.OwnerUserID, it.OwnerName, it.OwnerRole,
			fmt.Sprint(it.Enabled), fmt.Sprint(it.Privileged), strings.Join(it.Roles, ";"), lastUse(it), fmt.Sprint(it.DaysDormant),
			strings.Join(it.Flags, ";"), it.AssigneeName, it.Decision, it.DecisionWhy, strings.Join(it.NewRoles, ";"),
			it.DecisionBy, stamp(it.DecisionAt), fmt.Sprint(it.Amended), it.TaskStatus, it.TaskEvidence})
	}
	return evidence.WriteCSV(w, header, rows)
}

// WritePDF writes the campaign's report for an auditor: counts, who
// decided what and when, the findings (flags), remediation and sign-off.
func WritePDF(w io.Writer, tenant string, p Progress, items []Item, generated time.Time) error {
	c := p.Campaign
	signed := "not signed off"
	if c.SignedOffAt != nil {
		signed = fmt.Sprintf("%s on %s (%s)", c.SignedOffBy, c.SignedOffAt.UTC().Format(time.RFC3339), c.Reason)
	}
	systems := "all systems with an inventory"
	if len(c.Systems) > 0 {
		systems = strings.Join(c.Systems, ", ")
	}
	flags := map[string]int{}
	deciders := map[string]int{}
	amended := 0
	for _, it := range items {
		for _, f := range it.Flags {
			flags[f]++
		}
		if it.Decision != "" {
			deciders[it.DecisionBy]++
		}
		if it.Amended {
			amended++
		}
	}
	summary := evidence.Section{Heading: "Summary", Facts: []evidence.Fact{
		{Label: "Practice", Value: tenant},
		{Label: "Quarter", Value: c.Quarter},
		{Label: "Systems", Value: systems},
		{Label: "Created", Value: c.CreatedAt.UTC().Format(time.RFC3339) + " by " + c.CreatedBy},
		{Label: "Due", Value: c.DueDate},
		{Label: "Accounts reviewed", Value: fmt.Sprint(p.Items)},
		{Label: "Decided", Value: fmt.Sprintf("%d of %d", p.Decided, p.Items)},
		{Label: "Certified", Value: fmt.Sprint(p.ByDecision[Certify])},
		{Label: "Revoked", Value: fmt.Sprint(p.ByDecision[Revoke])},
		{Label: "Modified", Value: fmt.Sprint(p.ByDecision[Modify])},
		{Label: "Amendments", Value: fmt.Sprint(amended)},
		{Label: "Remediation", Value: fmt.Sprintf("%d confirmed, %d open, %d still active", p.Confirmed, p.TasksOpen, p.StillActive)},
		{Label: "Sign-off", Value: signed},
	}}
	var fl []string
	for f := range flags {
		fl = append(fl, f)
	}
	sort.Strings(fl)
	findings := evidence.Section{Heading: "Findings", Paragraphs: []string{
		"Flags raised when the campaign was built from the account inventories, the roster and the logs (docs/recertification.md)."},
		Table: &evidence.Table{Header: []string{"Flag", "Accounts"}, Widths: []float64{3, 1}}}
	for _, f := range fl {
		findings.Table.Rows = append(findings.Table.Rows, []string{strings.ReplaceAll(f, "_", " "), fmt.Sprint(flags[f])})
	}
	var names []string
	for n := range deciders {
		names = append(names, n)
	}
	sort.Strings(names)
	who := evidence.Section{Heading: "Who decided", Table: &evidence.Table{Header: []string{"Decided by", "Items"}, Widths: []float64{3, 1}}}
	for _, n := range names {
		who.Table.Rows = append(who.Table.Rows, []string{n, fmt.Sprint(deciders[n])})
	}
	detail := evidence.Section{Heading: "Decisions", Table: &evidence.Table{
		Header: []string{"System", "Account", "Owner", "Flags", "Decision", "Reason", "By", "When", "Remediation"},
		Widths: []float64{1, 1.5, 1.5, 2, 1, 2.5, 1.3, 1.7, 1.3}}}
	for _, it := range items {
		d := it.Decision
		if it.Amended {
			d += " (amended)"
		}
		detail.Table.Rows = append(detail.Table.Rows, []string{it.System, it.AccountID, it.OwnerName, strings.Join(it.Flags, ", "),
			d, it.DecisionWhy, it.DecisionBy, stamp(it.DecisionAt), it.TaskStatus})
	}
	return evidence.WritePDF(w, evidence.Report{Title: "Access recertification " + c.CampaignID,
		Subtitle: "HIPAA 164.308(a)(3)-(4): review of workforce access to ePHI", Generated: generated,
		Sections: []evidence.Section{summary, findings, who, detail}})
}
