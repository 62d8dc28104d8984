package review

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/evidence"
)

// csvHeader is the evidence CSV's columns: one row per item, its current
// state, and who decided it when and why.
var csvHeader = []string{"period", "rank", "item_id", "kind", "ref_id", "actor_id", "actor_name", "rules", "risk_score", "severity",
	"summary", "state", "assignee", "decision", "decision_reason", "decided_by", "decided_at", "incident_id",
	"question", "question_to", "answer", "answered_by", "amended", "last_change_by", "last_change_at"}

// ExportCSV writes the period's items as CSV.
func (s *Service) ExportCSV(ctx context.Context, db DB, period string, w io.Writer) error {
	if _, err := s.Period(ctx, db, period); err != nil {
		return err
	}
	items, err := s.Items(ctx, db, period, ItemFilter{})
	if err != nil {
		return err
	}
	amended, err := s.amendedItems(ctx, db, period)
	if err != nil {
		return err
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		decidedAt := ""
		if it.DecidedAt != nil {
			decidedAt = it.DecidedAt.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{it.Period, strconv.Itoa(int(it.Rank)), it.ItemID, it.Kind, it.RefID, it.ActorID, it.ActorName,
			strings.Join(it.Rules, " "), strconv.FormatFloat(it.RiskScore, 'f', 1, 64), it.Severity, it.Summary, it.State, it.Assignee,
			it.Decision, it.DecisionReason, it.DecidedBy, decidedAt, it.IncidentID, it.Question, it.QuestionTo, it.Answer, it.AnsweredBy,
			strconv.FormatBool(amended[it.ItemID]), it.Actor, it.VersionAt.UTC().Format(time.RFC3339)})
	}
	return evidence.WriteCSV(w, csvHeader, rows)
}

// amendedItems are the items with an amendment among their versions.
func (s *Service) amendedItems(ctx context.Context, db DB, period string) (map[string]bool, error) {
	var rows []struct {
		ItemID string `json:"item_id"`
	}
	err := db.Select(ctx, &rows, fmt.Sprintf(`SELECT DISTINCT item_id FROM %s.review_items
WHERE tenant_id = {tenant:String} AND period = {period:String} AND amendment`, db.Database()), map[string]string{"period": period})
	if err != nil {
		return nil, fmt.Errorf("read amendments of %s: %w", period, err)
	}
	out := map[string]bool{}
	for _, r := range rows {
		out[r.ItemID] = true
	}
	return out, nil
}

// amendmentRows are every amended item version, oldest first.
func (s *Service) amendmentRows(ctx context.Context, db DB, period string) ([]Item, error) {
	var out []Item
	err := db.Select(ctx, &out, fmt.Sprintf(`SELECT * FROM %s.review_items
WHERE tenant_id = {tenant:String} AND period = {period:String} AND amendment ORDER BY version_at`, db.Database()), map[string]string{"period": period})
	if err != nil {
		return nil, fmt.Errorf("read amendments of %s: %w", period, err)
	}
	return out, nil
}

// Report is the period's evidence report.
func (s *Service) Report(ctx context.Context, db DB, period string) (evidence.Report, error) {
	p, err := s.Period(ctx, db, period)
	if err != nil {
		return evidence.Report{}, err
	}
	items, err := s.Items(ctx, db, period, ItemFilter{})
	if err != nil {
		return evidence.Report{}, err
	}
	amendments, err := s.amendmentRows(ctx, db, period)
	if err != nil {
		return evidence.Report{}, err
	}
	now := s.Now()
	return BuildReport(db.Tenant(), p, items, amendments, now), nil
}

// BuildReport lays out the report: counts, who reviewed what and when,
// findings, the sample method and seed, sign-off and amendments.
func BuildReport(tenant string, p Period, items, amendments []Item, now time.Time) evidence.Report {
	pr := ProgressOf(p, items, now)
	status := "open, not signed off"
	if p.Locked() {
		status = "signed off"
	} else if pr.Overdue {
		status = "OVERDUE, not signed off"
	}
	counts := evidence.Section{Heading: "Counts", Facts: []evidence.Fact{
		{Label: "Items in worklist", Value: strconv.Itoa(pr.Total)},
		{Label: "Cases", Value: strconv.Itoa(pr.ByKind[KindCase])},
		{Label: "Alerts outside cases", Value: strconv.Itoa(pr.ByKind[KindAlert])},
		{Label: "Sampled unflagged accesses", Value: strconv.Itoa(pr.ByKind[KindSample])},
		{Label: "Decided", Value: fmt.Sprintf("%d of %d", pr.Decided, pr.Total)},
	}}
	for _, st := range States {
		counts.Facts = append(counts.Facts, evidence.Fact{Label: "State " + st, Value: strconv.Itoa(pr.ByState[st])})
	}
	// Who reviewed what and when.
	type rv struct {
		n           int
		first, last time.Time
		byDecision  map[string]int
	}
	per := map[string]*rv{}
	for _, it := range items {
		if it.DecidedBy == "" || it.DecidedAt == nil {
			continue
		}
		r := per[it.DecidedBy]
		if r == nil {
			r = &rv{byDecision: map[string]int{}}
			per[it.DecidedBy] = r
		}
		r.n++
		r.byDecision[it.Decision]++
		if r.first.IsZero() || it.DecidedAt.Before(r.first) {
			r.first = *it.DecidedAt
		}
		if it.DecidedAt.After(r.last) {
			r.last = *it.DecidedAt
		}
	}
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Strings(names)
	reviewers := &evidence.Table{Header: []string{"Reviewer", "Items decided", "Appropriate", "Inappropriate", "First decision", "Last decision"},
		Widths: []float64{3, 1.2, 1.2, 1.2, 2, 2}}
	for _, n := range names {
		r := per[n]
		reviewers.Rows = append(reviewers.Rows, []string{n, strconv.Itoa(r.n), strconv.Itoa(r.byDecision[DecideAppropriate]),
			strconv.Itoa(r.byDecision[DecideInappropriate]), r.first.UTC().Format(time.RFC3339), r.last.UTC().Format(time.RFC3339)})
	}
	findings := &evidence.Table{Header: []string{"#", "Kind", "Actor", "Rules", "Reason", "Decided by", "Incident"},
		Widths: []float64{0.5, 0.8, 1.6, 2, 3, 1.6, 1.4}}
	for _, it := range items {
		if it.State == StateInappropriate {
			findings.Rows = append(findings.Rows, []string{strconv.Itoa(int(it.Rank)), it.Kind, orName(it.ActorName, it.ActorID),
				strings.Join(it.Rules, ", "), it.DecisionReason, it.DecidedBy, it.IncidentID})
		}
	}
	decisions := &evidence.Table{Header: []string{"#", "Kind", "Actor", "State", "Decided by", "Decided at", "Reason"},
		Widths: []float64{0.5, 0.8, 1.6, 1.4, 1.6, 1.8, 3}}
	for _, it := range items {
		at := ""
		if it.DecidedAt != nil {
			at = it.DecidedAt.UTC().Format("2006-01-02 15:04")
		}
		decisions.Rows = append(decisions.Rows, []string{strconv.Itoa(int(it.Rank)), it.Kind, orName(it.ActorName, it.ActorID), it.State,
			it.DecidedBy, at, it.DecisionReason})
	}
	signoff := evidence.Section{Heading: "Sign-off", Facts: []evidence.Fact{{Label: "Status", Value: status}}}
	if p.Locked() && p.SignedOffAt != nil {
		signoff.Facts = append(signoff.Facts, evidence.Fact{Label: "Signed off by", Value: p.SignedOffBy},
			evidence.Fact{Label: "Signed off at", Value: p.SignedOffAt.UTC().Format(time.RFC3339)},
			evidence.Fact{Label: "Note", Value: p.SignOffNote})
	}
	signoff.Facts = append(signoff.Facts, evidence.Fact{Label: "Amendments after sign-off", Value: strconv.Itoa(len(amendments))})
	amend := &evidence.Table{Header: []string{"When", "By", "Item", "Change", "Reason"}, Widths: []float64{1.8, 1.6, 1.8, 1.6, 3}}
	for _, a := range amendments {
		amend.Rows = append(amend.Rows, []string{a.VersionAt.UTC().Format(time.RFC3339), a.Actor, a.ItemID, a.Action + " -> " + a.State, a.Reason})
	}
	return evidence.Report{
		Title:     fmt.Sprintf("Monthly information system activity review %s", p.Period),
		Subtitle:  fmt.Sprintf("Tenant %s · HIPAA 45 CFR 164.308(a)(1)(ii)(D) · due %s · %s", tenant, p.DueDate, status),
		Generated: now,
		Sections: []evidence.Section{
			{Heading: "Period", Facts: []evidence.Fact{
				{Label: "Month", Value: p.Period}, {Label: "Opened", Value: p.OpenedAt.UTC().Format(time.RFC3339) + " by " + p.OpenedBy},
				{Label: "Due", Value: string(p.DueDate)}}},
			counts,
			{Heading: "Who reviewed what and when", Table: reviewers},
			{Heading: "Findings (inappropriate access)", Table: findings},
			{Heading: "Sample of unflagged accesses", Facts: []evidence.Fact{
				{Label: "Sample size", Value: strconv.Itoa(int(p.SampleSize))},
				{Label: "Seed", Value: p.Seed}}, Paragraphs: []string{"Method: " + p.SampleMethod + ". " +
				"Re-drawing with the same seed over the same month's events gives the same sample."}},
			signoff,
			{Heading: "Amendments", Table: amend},
			{Heading: "Every item", Table: decisions},
		},
	}
}

// ExportPDF writes the period's report as PDF.
func (s *Service) ExportPDF(ctx context.Context, db DB, period string, w io.Writer) error {
	r, err := s.Report(ctx, db, period)
	if err != nil {
		return err
	}
	return evidence.WritePDF(w, r)
}
