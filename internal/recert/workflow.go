package recert

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

func campaignOf(r campaignRow) Campaign { return r.Campaign }

const campaignCols = `campaign_id, quarter, systems, status, toString(due_date) AS due_date, created_by, created_at,
       signed_off_by, signed_off_at, changed_by, changed_at, reason`

// List returns the tenant's campaigns, newest quarter first.
func List(ctx context.Context, s Store) ([]Campaign, error) {
	var rows []campaignRow
	if err := s.Select(ctx, &rows, `SELECT `+campaignCols+` FROM `+s.Database()+`.recert_campaigns_current
WHERE tenant_id = {tenant:String} ORDER BY quarter DESC, campaign_id`, nil); err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	out := make([]Campaign, len(rows))
	for i, r := range rows {
		out[i] = campaignOf(r)
	}
	return out, nil
}

// Get returns one campaign, or ErrNotFound.
func Get(ctx context.Context, s Store, id string) (Campaign, error) {
	var rows []campaignRow
	if err := s.Select(ctx, &rows, `SELECT `+campaignCols+` FROM `+s.Database()+`.recert_campaigns_current
WHERE tenant_id = {tenant:String} AND campaign_id = {id:String}`, store.Params{"id": id}); err != nil {
		return Campaign{}, fmt.Errorf("read campaign %s: %w", id, err)
	}
	if len(rows) == 0 {
		return Campaign{}, ErrNotFound
	}
	return campaignOf(rows[0]), nil
}

// ItemFilter narrows an item listing.
type ItemFilter struct {
	Assignee  string // workforce id or PracticeAdminQueue; "" = all
	Flag      string
	Undecided bool
}

// Items lists a campaign's items with their current decisions and tasks,
// flagged items first.
func Items(ctx context.Context, s Store, campaign string, f ItemFilter) ([]Item, error) {
	db := s.Database()
	var out []Item
	err := s.Select(ctx, &out, `
SELECT i.campaign_id AS campaign_id, i.item_id AS item_id, i.system AS system, i.account_id AS account_id,
       i.display_name AS display_name, i.email AS email, i.enabled AS enabled, i.privileged AS privileged, i.roles AS roles,
       i.owner_user_id AS owner_user_id, i.owner_name AS owner_name, i.owner_role AS owner_role,
       ifNull(toString(i.owner_terminated), '') AS owner_terminated, i.assignee_id AS assignee_id, i.assignee_name AS assignee_name,
       i.last_login AS last_login, i.last_activity AS last_activity, i.days_dormant AS days_dormant, i.flags AS flags,
       i.notes AS notes, i.created_at AS created_at,
       d.decision AS decision, d.decided_by_name AS decision_by, d.decided_at AS decision_at, d.reason AS decision_reason,
       d.new_roles AS new_roles, d.amendment AS amended,
       t.status AS task_status, t.evidence AS task_evidence, t.checked_at AS task_checked_at
FROM (SELECT * FROM `+db+`.recert_items FINAL WHERE tenant_id = {tenant:String} AND campaign_id = {c:String}) AS i
LEFT JOIN (SELECT * FROM `+db+`.recert_decisions_current WHERE tenant_id = {tenant:String} AND campaign_id = {c:String}) AS d
  ON d.item_id = i.item_id
LEFT JOIN (SELECT * FROM `+db+`.recert_tasks_current WHERE tenant_id = {tenant:String} AND campaign_id = {c:String}) AS t
  ON t.item_id = i.item_id
WHERE ({assignee:String} = '' OR i.assignee_id = {assignee:String})
  AND ({flag:String} = '' OR has(i.flags, {flag:String}))
  AND (NOT {undecided:Bool} OR ifNull(d.decision, '') = '')
ORDER BY length(i.flags) = 0, ifNull(d.decision, '') != '', i.system, i.account_id
SETTINGS join_use_nulls = 1`, store.Params{"c": campaign, "assignee": f.Assignee, "flag": f.Flag, "undecided": boolParam(f.Undecided)})
	if err != nil {
		return nil, fmt.Errorf("list items of %s: %w", campaign, err)
	}
	for i := range out {
		if out[i].NewRoles == nil {
			out[i].NewRoles = []string{}
		}
	}
	return out, nil
}

func boolParam(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// Item returns one item, or ErrNotFound.
func GetItem(ctx context.Context, s Store, campaign, item string) (Item, error) {
	items, err := Items(ctx, s, campaign, ItemFilter{})
	if err != nil {
		return Item{}, err
	}
	for _, it := range items {
		if it.ItemID == item {
			return it, nil
		}
	}
	return Item{}, ErrNotFound
}

// DecideRequest is a decision on one item.
type DecideRequest struct {
	Decision  string   `json:"decision"`
	Reason    string   `json:"reason"`
	NewRoles  []string `json:"new_roles"`
	Amendment bool     `json:"amendment"`
}

// Validate checks the request's shape.
func (d DecideRequest) Validate() error {
	switch d.Decision {
	case Certify, Revoke:
		if len(d.NewRoles) > 0 {
			return fmt.Errorf("%w: new_roles is only for modify", ErrInvalid)
		}
	case Modify:
		if len(d.NewRoles) == 0 {
			return fmt.Errorf("%w: modify needs new_roles (the roles the account should keep)", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: decision must be certify, revoke or modify", ErrInvalid)
	}
	if strings.TrimSpace(d.Reason) == "" {
		return fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	if len(d.Reason) > 2000 {
		return fmt.Errorf("%w: reason is at most 2000 characters", ErrInvalid)
	}
	return nil
}

// MayDecideAny reports whether a role decides items assigned to anyone
// (managers decide only their own staff's).
func MayDecideAny(role string) bool {
	return role == "msp_admin" || role == "practice_admin" || role == "privacy_officer"
}

// Decide records a decision. A revoke or modify opens a remediation task.
func Decide(ctx context.Context, s Store, campaign, item string, d DecideRequest, by Actor, now time.Time) (Item, error) {
	if err := d.Validate(); err != nil {
		return Item{}, err
	}
	c, err := Get(ctx, s, campaign)
	if err != nil {
		return Item{}, err
	}
	switch {
	case c.Status == StatusSignedOff && !d.Amendment:
		return Item{}, ErrLocked
	case c.Status != StatusSignedOff && d.Amendment:
		return Item{}, ErrNotLocked
	}
	it, err := GetItem(ctx, s, campaign, item)
	if err != nil {
		return Item{}, err
	}
	if by.WorkforceID != "" && it.OwnerUserID == by.WorkforceID {
		return Item{}, ErrSelf
	}
	if !MayDecideAny(by.Role) && (by.WorkforceID == "" || it.AssigneeID != by.WorkforceID) {
		return Item{}, ErrNotAssigned
	}
	now = now.UTC()
	roles := d.NewRoles
	if roles == nil {
		roles = []string{}
	}
	row := decisionRow{CampaignID: campaign, ItemID: item, Decision: d.Decision, Reason: strings.TrimSpace(d.Reason), NewRoles: roles,
		DecidedBy: by.ID, DecidedByName: by.Name, DecidedAt: now, Amendment: d.Amendment, RetainUntil: retain(now)}
	if err := s.Insert(ctx, "recert_decisions", []decisionRow{row}); err != nil {
		return Item{}, err
	}
	task := taskRow{CampaignID: campaign, ItemID: item, Action: d.Decision, CheckedAt: now, RetainUntil: retain(now)}
	switch d.Decision {
	case Revoke, Modify:
		task.Status, task.Evidence = TaskOpen, "waiting for the next account inventory of "+it.System
	default:
		// A certify after a revoke (an amendment) closes the task.
		if it.TaskStatus == "" {
			return GetItem(ctx, s, campaign, item)
		}
		task.Status, task.Evidence = TaskConfirmed, "decision changed to certify: nothing to remove"
	}
	if err := s.Insert(ctx, "recert_tasks", []taskRow{task}); err != nil {
		return Item{}, err
	}
	return GetItem(ctx, s, campaign, item)
}

// VerifyResult counts what a verification found.
type VerifyResult struct {
	Checked     int `json:"checked"`
	Confirmed   int `json:"confirmed"`
	StillActive int `json:"still_active"`
	Pending     int `json:"pending"`
}

type verifyRow struct {
	ItemID       string     `json:"item_id"`
	System       string     `json:"system"`
	AccountID    string     `json:"account_id"`
	Email        string     `json:"email"`
	Action       string     `json:"action"`
	NewRoles     []string   `json:"new_roles"`
	DecidedAt    time.Time  `json:"decided_at"`
	Present      bool       `json:"present"`
	Enabled      bool       `json:"enabled"`
	Roles        []string   `json:"roles"`
	ImportedAt   *time.Time `json:"imported_at"`
	LastActivity *time.Time `json:"last_activity"`
}

// Verify checks every open remediation task against the current account
// inventory and the logs: an account gone or disabled in an inventory
// imported after the decision confirms a revoke (roles matching new_roles
// confirm a modify); activity in the logs after the decision, with the
// account still there, flags it still active.
func Verify(ctx context.Context, s Store, campaign string, now time.Time) (VerifyResult, error) {
	db := s.Database()
	rows, err := verifyRows(ctx, s, campaign)
	if err != nil {
		return VerifyResult{}, err
	}
	// The latest inventory import per system, to know whether one came
	// after the decision at all.
	var latest []struct {
		System string    `json:"system"`
		At     time.Time `json:"at"`
	}
	if err := s.Select(ctx, &latest, `SELECT system, max(imported_at) AS at FROM `+db+`.accounts
WHERE tenant_id = {tenant:String} GROUP BY system`, nil); err != nil {
		return VerifyResult{}, fmt.Errorf("read inventory imports: %w", err)
	}
	lastImport := map[string]time.Time{}
	for _, l := range latest {
		lastImport[l.System] = l.At
	}
	now = now.UTC()
	var res VerifyResult
	var out []taskRow
	for _, r := range rows {
		res.Checked++
		t := taskRow{CampaignID: campaign, ItemID: r.ItemID, Action: r.Action, CheckedAt: now, RetainUntil: retain(now)}
		newer := lastImport[r.System].After(r.DecidedAt)
		switch {
		case r.LastActivity != nil && !r.LastActivity.IsZero() && (r.Action == Revoke) && (!newer || r.Present && r.Enabled):
			t.Status = TaskStillActive
			t.Evidence = fmt.Sprintf("account %s was used on %s, after the revoke decision of %s", r.AccountID,
				r.LastActivity.UTC().Format(time.RFC3339), r.DecidedAt.UTC().Format(time.RFC3339))
			res.StillActive++
		case newer && r.Action == Revoke && (!r.Present || !r.Enabled):
			t.Status = TaskConfirmed
			state := "absent from"
			if r.Present {
				state = "disabled in"
			}
			t.Evidence = fmt.Sprintf("account %s is %s the %s inventory imported %s", r.AccountID, state, r.System, lastImport[r.System].UTC().Format(time.RFC3339))
			res.Confirmed++
		case newer && r.Action == Modify && r.Present && sameSet(r.Roles, r.NewRoles):
			t.Status = TaskConfirmed
			t.Evidence = fmt.Sprintf("account %s has roles %s in the %s inventory imported %s", r.AccountID, strings.Join(r.Roles, ", "), r.System, lastImport[r.System].UTC().Format(time.RFC3339))
			res.Confirmed++
		case newer:
			t.Status = TaskStillActive
			t.Evidence = fmt.Sprintf("the %s inventory imported %s still shows account %s enabled with roles %s", r.System,
				lastImport[r.System].UTC().Format(time.RFC3339), r.AccountID, strings.Join(r.Roles, ", "))
			res.StillActive++
		default:
			res.Pending++
			continue
		}
		out = append(out, t)
	}
	if err := s.Insert(ctx, "recert_tasks", out); err != nil {
		return res, err
	}
	return res, nil
}

func verifyRows(ctx context.Context, s Store, campaign string) ([]verifyRow, error) {
	db := s.Database()
	var rows []verifyRow
	if err := s.Select(ctx, &rows, `
SELECT t.item_id AS item_id, i.system AS system, i.account_id AS account_id, i.email AS email, t.action AS action,
       d.new_roles AS new_roles, d.decided_at AS decided_at,
       toBool(ifNull(a.account_id, '') != '') AS present, a.enabled AS enabled, a.roles AS roles, a.imported_at AS imported_at
FROM (SELECT * FROM `+db+`.recert_tasks_current WHERE tenant_id = {tenant:String} AND campaign_id = {c:String} AND status != 'confirmed') AS t
JOIN (SELECT * FROM `+db+`.recert_items FINAL WHERE tenant_id = {tenant:String} AND campaign_id = {c:String}) AS i ON i.item_id = t.item_id
JOIN (SELECT * FROM `+db+`.recert_decisions_current WHERE tenant_id = {tenant:String} AND campaign_id = {c:String}) AS d ON d.item_id = t.item_id
LEFT JOIN (SELECT system, account_id, enabled, roles, imported_at FROM `+db+`.accounts_current WHERE tenant_id = {tenant:String}) AS a
  ON a.system = i.system AND a.account_id = i.account_id
SETTINGS join_use_nulls = 1`, store.Params{"c": campaign}); err != nil {
		return nil, fmt.Errorf("read remediation tasks of %s: %w", campaign, err)
	}
	for i := range rows {
		var act []struct {
			Last *time.Time `json:"last"`
		}
		if err := s.Select(ctx, &act, `SELECT max(time) AS last FROM `+db+`.events
WHERE tenant_id = {tenant:String} AND time > {after:DateTime64(3)} AND lowerUTF8(actor_id) IN ({a:String}, {e:String})
HAVING count() > 0`, store.Params{"after": store.TimeParam(rows[i].DecidedAt), "a": strings.ToLower(rows[i].AccountID), "e": strings.ToLower(rows[i].Email)}); err != nil {
			return nil, fmt.Errorf("read activity of %s: %w", rows[i].AccountID, err)
		}
		if len(act) > 0 {
			rows[i].LastActivity = act[0].Last
		}
	}
	return rows, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// Progress is a campaign's completion.
type Progress struct {
	Campaign     Campaign       `json:"campaign"`
	Items        int            `json:"items"`
	Decided      int            `json:"decided"`
	ByDecision   map[string]int `json:"by_decision"`
	ByAssignee   map[string]int `json:"undecided_by_assignee"`
	Flagged      int            `json:"flagged"`
	TasksOpen    int            `json:"tasks_open"`
	StillActive  int            `json:"tasks_still_active"`
	Confirmed    int            `json:"tasks_confirmed"`
	Overdue      bool           `json:"overdue"`
	PercentDone  float64        `json:"percent_done"`
	DaysLeft     int            `json:"days_left"`
	ReadyForSign bool           `json:"ready_for_sign_off"`
}

// GetProgress counts a campaign's items and decisions.
func GetProgress(ctx context.Context, s Store, campaign string, now time.Time) (Progress, error) {
	c, err := Get(ctx, s, campaign)
	if err != nil {
		return Progress{}, err
	}
	items, err := Items(ctx, s, campaign, ItemFilter{})
	if err != nil {
		return Progress{}, err
	}
	p := Progress{Campaign: c, Items: len(items), ByDecision: map[string]int{}, ByAssignee: map[string]int{}}
	for _, it := range items {
		if len(it.Flags) > 0 {
			p.Flagged++
		}
		if it.Decision == "" {
			p.ByAssignee[it.AssigneeID]++
		} else {
			p.Decided++
			p.ByDecision[it.Decision]++
		}
		switch it.TaskStatus {
		case TaskOpen:
			p.TasksOpen++
		case TaskStillActive:
			p.StillActive++
		case TaskConfirmed:
			p.Confirmed++
		}
	}
	if p.Items > 0 {
		p.PercentDone = float64(int(1000*float64(p.Decided)/float64(p.Items))) / 10
	}
	due, _ := time.Parse("2006-01-02", c.DueDate)
	p.DaysLeft = int(due.AddDate(0, 0, 1).Sub(now.UTC()).Hours() / 24)
	p.Overdue = c.Status != StatusSignedOff && now.UTC().After(due.AddDate(0, 0, 1))
	p.ReadyForSign = c.Status == StatusOpen && p.Decided == p.Items
	return p, nil
}

// SignOff locks a campaign once every item has a decision.
func SignOff(ctx context.Context, s Store, campaign string, by Actor, reason string, now time.Time) (Campaign, error) {
	p, err := GetProgress(ctx, s, campaign, now)
	if err != nil {
		return Campaign{}, err
	}
	if p.Campaign.Status == StatusSignedOff {
		return Campaign{}, ErrLocked
	}
	if p.Decided < p.Items {
		return Campaign{}, fmt.Errorf("%w (%d of %d decided)", ErrIncomplete, p.Decided, p.Items)
	}
	now = now.UTC()
	c := p.Campaign
	if reason == "" {
		reason = "signed off"
	}
	c.Status, c.SignedOffBy, c.SignedOffAt, c.ChangedBy, c.ChangedAt, c.Reason = StatusSignedOff, by.ID, &now, by.ID, now, reason
	row := campaignRow{Campaign: c, RetainUntil: retain(now)}
	if err := s.Insert(ctx, "recert_campaigns", []campaignRow{row}); err != nil {
		return Campaign{}, err
	}
	return campaignOf(row), nil
}
