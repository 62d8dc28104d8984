package analyze

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// CaseGap is how long an actor may go without a new alert before the next
// one opens a new case: a month of silence ends an "open period", so a
// reviewer who cleared someone in the spring is not shown the same case
// grown by an unrelated alert in the autumn.
const CaseGap = 30 * 24 * time.Hour

// CaseStatusOpen is the status of a case the detectors are still feeding.
const CaseStatusOpen = "open"

// caseAlert is what case building reads of an alert.
type caseAlert struct {
	AlertID    string    `json:"alert_id"`
	Rule       string    `json:"rule"`
	Severity   string    `json:"severity"`
	Score      float64   `json:"score"`
	ActorID    string    `json:"actor_id"`
	ActorName  string    `json:"actor_name"`
	ActorRole  string    `json:"actor_role"`
	PatientIDs []string  `json:"patient_ids"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
}

// unsuppressed is the SQL condition that leaves out alerts a live (not
// revoked) suppression matched: they stay stored, but do not feed cases.
func unsuppressed(db string) string {
	return `alert_id NOT IN (SELECT alert_id FROM ` + db + `.alert_suppressions
    WHERE tenant_id = {tenant:String} AND suppression_id IN (
        SELECT suppression_id FROM ` + db + `.suppressions_current WHERE tenant_id = {tenant:String} AND NOT revoked))`
}

// BuildCases groups a tenant's unsuppressed alerts in w, and those of its
// open cases, into cases per actor, and stores a new version of every case
// that changed. Alerts of a case a reviewer closed stay with it. It returns
// how many case versions it wrote.
func BuildCases(ctx context.Context, s store.Store, tenant string, w Window, now time.Time, keep time.Duration) (int, error) {
	db := s.Database()
	p := store.Params{"tenant": tenant, "from": chTime(w.From), "to": chTime(w.To)}
	var open []store.CaseRow
	if err := s.Select(ctx, &open, "SELECT * REPLACE (toDateTime(retain_until) AS retain_until) FROM "+db+".cases_current WHERE tenant_id = {tenant:String} AND status = 'open'", p); err != nil {
		return 0, fmt.Errorf("read open cases of tenant %s: %w", tenant, err)
	}
	var alerts []caseAlert
	err := s.Select(ctx, &alerts, `
SELECT alert_id, rule, severity, score, actor_id, actor_name, actor_role, patient_ids, first_seen, last_seen
FROM `+db+`.alerts_current
WHERE tenant_id = {tenant:String}
  AND ((first_seen >= {from:DateTime64(3)} AND first_seen < {to:DateTime64(3)})
       OR alert_id IN (SELECT arrayJoin(alert_ids) FROM `+db+`.cases_current WHERE tenant_id = {tenant:String} AND status = 'open'))
  AND actor_id != ''
  AND `+unsuppressed(db)+`
  AND alert_id NOT IN (SELECT arrayJoin(alert_ids) FROM `+db+`.cases_current WHERE tenant_id = {tenant:String} AND status = 'closed')
ORDER BY actor_id, first_seen, alert_id`, p)
	if err != nil {
		return 0, fmt.Errorf("read alerts of tenant %s for cases: %w", tenant, err)
	}
	rows := groupCases(tenant, alerts, open, now, keep)
	if err := s.InsertCases(ctx, rows); err != nil {
		return 0, fmt.Errorf("store cases of tenant %s: %w", tenant, err)
	}
	return len(rows), nil
}

// groupCases is BuildCases without the store: it returns the case versions
// that differ from the open cases given.
func groupCases(tenant string, alerts []caseAlert, open []store.CaseRow, now time.Time, keep time.Duration) []store.CaseRow {
	if keep <= 0 {
		keep = store.DefaultRetention
	}
	// Which open case an alert already belongs to: a case keeps its id when
	// a late alert lands before its first one.
	caseOf := map[string]*store.CaseRow{}
	for i := range open {
		for _, id := range open[i].AlertIDs {
			caseOf[id] = &open[i]
		}
	}
	byActor := map[string][]caseAlert{}
	var actors []string
	for _, a := range alerts {
		if _, ok := byActor[a.ActorID]; !ok {
			actors = append(actors, a.ActorID)
		}
		byActor[a.ActorID] = append(byActor[a.ActorID], a)
	}
	sort.Strings(actors)
	at := now.UTC().Truncate(time.Millisecond)
	var out []store.CaseRow
	for _, actor := range actors {
		as := byActor[actor]
		sort.Slice(as, func(i, j int) bool {
			if !as[i].FirstSeen.Equal(as[j].FirstSeen) {
				return as[i].FirstSeen.Before(as[j].FirstSeen)
			}
			return as[i].AlertID < as[j].AlertID
		})
		var group []caseAlert
		var last time.Time
		flush := func() {
			if len(group) == 0 {
				return
			}
			row := caseRow(tenant, group, caseOf, at, keep)
			if prev := previous(row.CaseID, open); prev == nil || !sameCase(*prev, row) {
				out = append(out, row)
			}
			group = nil
		}
		for _, a := range as {
			if len(group) > 0 && a.FirstSeen.Sub(last) > CaseGap {
				flush()
			}
			group = append(group, a)
			if len(group) == 1 || a.LastSeen.After(last) {
				last = a.LastSeen
			}
		}
		flush()
	}
	return out
}

func previous(id string, open []store.CaseRow) *store.CaseRow {
	for i := range open {
		if open[i].CaseID == id {
			return &open[i]
		}
	}
	return nil
}

// sameCase tells whether a new version would say anything new.
func sameCase(a, b store.CaseRow) bool {
	return a.Status == b.Status && slices.Equal(a.AlertIDs, b.AlertIDs) && a.RiskScore == b.RiskScore &&
		a.MaxSeverity == b.MaxSeverity && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen) &&
		a.Summary == b.Summary
}

// caseRow builds one case from an actor's alerts of one open period.
func caseRow(tenant string, group []caseAlert, caseOf map[string]*store.CaseRow, at time.Time, keep time.Duration) store.CaseRow {
	first := group[0]
	id := ""
	for _, a := range group {
		if c := caseOf[a.AlertID]; c != nil {
			id = c.CaseID
			break
		}
	}
	if id == "" {
		id = alertID(tenant, "case", first.ActorID, first.FirstSeen.UTC().Format(time.RFC3339Nano))
	}
	row := store.CaseRow{TenantID: tenant, CaseID: id, ActorID: first.ActorID, Status: CaseStatusOpen,
		FirstSeen: first.FirstSeen, LastSeen: first.LastSeen, UpdatedAt: at, UpdatedBy: "detectors " + Version}
	rules := map[string]bool{}
	patients := map[string]bool{}
	days := map[string]bool{}
	units := map[string]bool{}
	for _, a := range group {
		row.AlertIDs = append(row.AlertIDs, a.AlertID)
		if a.ActorName != "" {
			row.ActorName = a.ActorName
		}
		if a.ActorRole != "" {
			row.ActorRole = a.ActorRole
		}
		if a.LastSeen.After(row.LastSeen) {
			row.LastSeen = a.LastSeen
		}
		if severityIndex(a.Severity) > severityIndex(row.MaxSeverity) {
			row.MaxSeverity = a.Severity
		}
		rules[a.Rule] = true
		days[a.FirstSeen.UTC().Format(time.DateOnly)] = true
		for _, p := range a.PatientIDs {
			patients[p] = true
		}
		for _, u := range alertUnits(a) {
			units[u] = true
		}
	}
	sort.Strings(row.AlertIDs)
	row.Rules = sortedKeys(rules)
	row.AlertCount = uint32(len(group))
	row.DistinctPatients = uint32(len(patients))
	row.ActiveDays = uint32(len(days))
	for u := range units {
		if strings.HasPrefix(u, "p\x00") {
			row.ActorPatientDays++
		}
	}
	row.RiskScore = CaseRisk(group)
	row.Summary = fmt.Sprintf("%s across %s on %s, %s", plural(len(group), "alert", "alerts"),
		plural(len(rules), "rule", "rules"), plural(len(days), "day", "days"), plural(len(patients), "patient", "patients"))
	row.RetainUntil = row.FirstSeen.Add(keep)
	return row
}

// alertUnits are the actor-patient-days an alert is about, or one unit for
// the alert's rule and day when it names no patient (VPN, email).
func alertUnits(a caseAlert) []string {
	day := a.FirstSeen.UTC().Format(time.DateOnly)
	if len(a.PatientIDs) == 0 {
		return []string{"r\x00" + a.Rule + "\x00" + day}
	}
	out := make([]string, 0, len(a.PatientIDs))
	for _, p := range a.PatientIDs {
		out = append(out, "p\x00"+p+"\x00"+day)
	}
	return out
}

// CaseRisk combines an actor's alert scores (0–100) into one 0–100 risk:
//
//	base  = 100 × (1 − Π (1 − sᵢ/100 × fᵢ))
//	bonus = 5 per distinct rule after the first + 2 per distinct day after
//	        the first, at most 20
//	risk  = min(100, base + bonus), rounded to 0.1
//
// fᵢ is the share of alert i's actor-patient-days that no higher-scored
// alert already covers (alerts taken by score, highest first): two rules
// firing on the same chart the same day count that access once, while
// every further patient or day raises the risk. The bonus is what makes a
// serial snooper — many rules, many days, each alert modest — outrank a
// single noisy night.
func CaseRisk(alerts []caseAlert) float32 {
	ordered := slices.Clone(alerts)
	sort.SliceStable(ordered, func(i, j int) bool {
		if ordered[i].Score != ordered[j].Score {
			return ordered[i].Score > ordered[j].Score
		}
		return ordered[i].AlertID < ordered[j].AlertID
	})
	covered := map[string]bool{}
	rules := map[string]bool{}
	days := map[string]bool{}
	keep := 1.0
	for _, a := range ordered {
		units := alertUnits(a)
		fresh := 0
		for _, u := range units {
			if !covered[u] {
				covered[u] = true
				fresh++
			}
		}
		s := math.Min(math.Max(a.Score, 0), 100) / 100
		keep *= 1 - s*float64(fresh)/float64(len(units))
		rules[a.Rule] = true
		days[a.FirstSeen.UTC().Format(time.DateOnly)] = true
	}
	base := 100 * (1 - keep)
	bonus := 0.0
	if len(alerts) > 0 {
		bonus = math.Min(20, 5*float64(len(rules)-1)+2*float64(len(days)-1))
	}
	return float32(math.Round(math.Min(100, base+bonus)*10) / 10)
}

func severityIndex(s string) int { return slices.Index(Severities, s) }

// Case workflow (docs/cases.md): a reviewer assigns a case, comments on it
// and closes it with a resolution and a reason. Every step is a new row in
// case_actions; closing also writes a new version of the case with status
// closed, which the detectors no longer feed.

// CaseStatusClosed is the status of a case a reviewer closed.
const CaseStatusClosed = "closed"

// Case actions.
const (
	CaseAssign  = "assign"
	CaseComment = "comment"
	CaseClose   = "close"
)

// CaseResolutions are the ways a case can be closed.
var CaseResolutions = []string{"no_violation", "violation", "false_positive", "duplicate"}

// CaseAction is one row of case_actions.
type CaseAction struct {
	CaseID      string    `json:"case_id"`
	Action      string    `json:"action"`
	Actor       string    `json:"actor"`
	At          time.Time `json:"at"`
	Assignee    string    `json:"assignee"`
	Resolution  string    `json:"resolution"`
	Note        string    `json:"note"`
	RetainUntil string    `json:"retain_until,omitempty"` // YYYY-MM-DD when written
}

// CaseStore is what the workflow needs: a tenant-scoped store (every SQL
// filters by {tenant:String}; Insert forces the tenant), as the API's
// store.TenantStore is.
type CaseStore interface {
	Select(ctx context.Context, dest any, sql string, params store.Params) error
	Insert(ctx context.Context, table string, rows any) error
	Database() string
}

// ErrNoCase is returned for a case id the tenant does not have.
var ErrNoCase = errors.New("no such case")

// CaseError is a request the workflow refuses, worded for the reviewer.
type CaseError struct{ Msg string }

func (e *CaseError) Error() string { return e.Msg }

// GetCase reads the current version of a case.
func GetCase(ctx context.Context, q CaseStore, caseID string) (store.CaseRow, error) {
	var rows []store.CaseRow
	err := q.Select(ctx, &rows, "SELECT * REPLACE (toDateTime(retain_until) AS retain_until) FROM "+q.Database()+
		".cases_current WHERE tenant_id = {tenant:String} AND case_id = {case:String}", store.Params{"case": caseID})
	if err != nil {
		return store.CaseRow{}, fmt.Errorf("read case %s: %w", caseID, err)
	}
	if len(rows) == 0 {
		return store.CaseRow{}, ErrNoCase
	}
	return rows[0], nil
}

// CaseActions reads what reviewers did with a case, oldest first.
func CaseActions(ctx context.Context, q CaseStore, caseID string) ([]CaseAction, error) {
	var out []CaseAction
	err := q.Select(ctx, &out, "SELECT case_id, action, actor, at, assignee, toString(resolution) AS resolution, note FROM "+q.Database()+
		".case_actions WHERE tenant_id = {tenant:String} AND case_id = {case:String} ORDER BY at, action", store.Params{"case": caseID})
	if err != nil {
		return nil, fmt.Errorf("read the history of case %s: %w", caseID, err)
	}
	return out, nil
}

// Assignee is the current assignee in a case's history ("" = nobody).
func Assignee(actions []CaseAction) string {
	who := ""
	for _, a := range actions {
		if a.Action == CaseAssign {
			who = a.Assignee
		}
	}
	return who
}

// CaseRequest is one reviewer step on a case.
type CaseRequest struct {
	CaseID     string
	Action     string // CaseAssign, CaseComment or CaseClose
	By         string // the reviewer (principal) doing it
	Assignee   string // for assign
	Resolution string // for close: one of CaseResolutions
	Note       string // the comment, or the reason for closing (required for both)
}

// ApplyCaseAction checks a request against the case's current state and
// records it; closing also stores the closed version of the case. It
// returns the case as it now is.
func ApplyCaseAction(ctx context.Context, q CaseStore, r CaseRequest, now time.Time) (store.CaseRow, error) {
	c, err := GetCase(ctx, q, r.CaseID)
	if err != nil {
		return c, err
	}
	r.Note, r.Assignee = strings.TrimSpace(r.Note), strings.TrimSpace(r.Assignee)
	switch {
	case r.By == "":
		return c, &CaseError{"the reviewer is unknown"}
	case c.Status == CaseStatusClosed:
		return c, &CaseError{"the case is closed"}
	case r.Action == CaseAssign && r.Assignee == "":
		return c, &CaseError{"name the reviewer to assign the case to (assignee)"}
	case r.Action == CaseComment && r.Note == "":
		return c, &CaseError{"a comment needs text (note)"}
	case r.Action == CaseClose && !slices.Contains(CaseResolutions, r.Resolution):
		return c, &CaseError{"a case is closed with a resolution: one of " + strings.Join(CaseResolutions, ", ")}
	case r.Action == CaseClose && r.Note == "":
		return c, &CaseError{"a case is closed with a reason (note): it is the record of the decision"}
	case r.Action != CaseAssign && r.Action != CaseComment && r.Action != CaseClose:
		return c, &CaseError{"unknown case action " + r.Action}
	}
	at := now.UTC().Truncate(time.Millisecond)
	// The history is ordered by time: a step recorded after another gets a
	// later time even when the clock says otherwise.
	prev, err := CaseActions(ctx, q, c.CaseID)
	if err != nil {
		return c, err
	}
	if n := len(prev); n > 0 && !at.After(prev[n-1].At) {
		at = prev[n-1].At.Add(time.Millisecond)
	}
	a := CaseAction{CaseID: c.CaseID, Action: r.Action, Actor: r.By, At: at, Note: r.Note,
		RetainUntil: c.RetainUntil.Format(time.DateOnly)}
	switch r.Action {
	case CaseAssign:
		a.Assignee = r.Assignee
	case CaseClose:
		a.Resolution = r.Resolution
	}
	if err := q.Insert(ctx, "case_actions", []CaseAction{a}); err != nil {
		return c, fmt.Errorf("record the %s of case %s: %w", r.Action, c.CaseID, err)
	}
	if r.Action != CaseClose {
		return c, nil
	}
	c.Status, c.UpdatedAt, c.UpdatedBy = CaseStatusClosed, at, r.By
	type version struct {
		store.CaseRow
		RetainUntil string `json:"retain_until"` // a Date column takes YYYY-MM-DD
	}
	if err := q.Insert(ctx, "cases", []version{{c, c.RetainUntil.Format(time.DateOnly)}}); err != nil {
		return c, fmt.Errorf("store the closed version of case %s: %w", c.CaseID, err)
	}
	return c, nil
}
