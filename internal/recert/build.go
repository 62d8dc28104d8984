package recert

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// CreateRequest opens a campaign.
type CreateRequest struct {
	Quarter Quarter
	Systems []string // empty: every system with an inventory
	DueDate time.Time
	By      Actor
	Now     time.Time
}

type accountRow struct {
	System      string     `json:"system"`
	AccountID   string     `json:"account_id"`
	DisplayName string     `json:"display_name"`
	Email       string     `json:"email"`
	Enabled     bool       `json:"enabled"`
	Privileged  bool       `json:"privileged"`
	Roles       []string   `json:"roles"`
	LastLogin   *time.Time `json:"last_login"`
	Created     *time.Time `json:"created"`
	Owner       string     `json:"owner_user_id"`
}

type person struct {
	UserID     string `json:"user_id"`
	Name       string `json:"name"`
	Role       string `json:"role"`
	ManagerID  string `json:"manager_id"`
	Terminated string `json:"terminated"`
}

type link struct {
	Key    string `json:"account_key"`
	UserID string `json:"user_id"`
}

type activity struct {
	Key  string    `json:"k"`
	Last time.Time `json:"last"`
}

// Create builds a campaign: one item per account of the current inventories
// of the chosen systems, with owner, assignee, last use and flags.
func Create(ctx context.Context, s Store, r CreateRequest) (Campaign, []Item, error) {
	for _, sys := range r.Systems {
		if !systemRE.MatchString(sys) {
			return Campaign{}, nil, fmt.Errorf("%w: system %q (lower-case letters, digits, . _ -)", ErrInvalid, sys)
		}
	}
	systems := slices.Clone(r.Systems)
	sort.Strings(systems)
	systems = slices.Compact(systems)
	id := CampaignID(r.Quarter, systems)
	if _, err := Get(ctx, s, id); err == nil {
		return Campaign{}, nil, ErrExists
	} else if err != ErrNotFound {
		return Campaign{}, nil, err
	}
	now := r.Now.UTC()
	due := r.DueDate
	if due.IsZero() {
		due = r.Quarter.End().AddDate(0, 0, 30)
	}
	db := s.Database()
	var accounts []accountRow
	if err := s.Select(ctx, &accounts, `
SELECT system, account_id, display_name, email, enabled, privileged, roles, last_login, created, owner_user_id
FROM `+db+`.accounts_current
WHERE tenant_id = {tenant:String} AND (empty({systems:Array(String)}) OR has({systems:Array(String)}, system))
ORDER BY system, account_id`, store.Params{"systems": store.ArrayParam(systems)}); err != nil {
		return Campaign{}, nil, fmt.Errorf("read account inventories: %w", err)
	}
	if len(accounts) == 0 {
		return Campaign{}, nil, fmt.Errorf("%w: no account inventory loaded for %s (import one with phiwatch reference import --kind accounts)", ErrInvalid, strings.Join(orAll(systems), ", "))
	}
	var people []person
	if err := s.Select(ctx, &people, `
SELECT user_id, name, role, manager_id, ifNull(toString(termination_date), '') AS terminated
FROM `+db+`.workforce_current WHERE tenant_id = {tenant:String}`, nil); err != nil {
		return Campaign{}, nil, fmt.Errorf("read roster: %w", err)
	}
	var links []link
	if err := s.Select(ctx, &links, `
SELECT account_key, user_id FROM `+db+`.identity_links_current
WHERE tenant_id = {tenant:String} AND user_id != ''`, nil); err != nil {
		return Campaign{}, nil, fmt.Errorf("read identity links: %w", err)
	}
	var acts []activity
	if err := s.Select(ctx, &acts, `
SELECT lowerUTF8(actor_id) AS k, max(time) AS last FROM `+db+`.events
WHERE tenant_id = {tenant:String} AND time >= {since:DateTime64(3)} AND time < {now:DateTime64(3)}
GROUP BY k`, store.Params{"since": store.TimeParam(now.AddDate(-1, 0, 0)), "now": store.TimeParam(now)}); err != nil {
		return Campaign{}, nil, fmt.Errorf("read last activity from the logs: %w", err)
	}
	rows := buildItems(id, accounts, people, links, acts, now)
	c := campaignRow{Campaign: Campaign{CampaignID: id, Quarter: r.Quarter.String(), Systems: systems, Status: StatusOpen,
		DueDate: due.Format("2006-01-02"), CreatedBy: r.By.ID, CreatedAt: now, ChangedBy: r.By.ID, ChangedAt: now,
		Reason: "campaign created"}, RetainUntil: retain(now)}
	if systems == nil {
		c.Systems = []string{}
	}
	if err := s.Insert(ctx, "recert_items", rows); err != nil {
		return Campaign{}, nil, err
	}
	if err := s.Insert(ctx, "recert_campaigns", []campaignRow{c}); err != nil {
		return Campaign{}, nil, err
	}
	items := make([]Item, len(rows))
	for i, r := range rows {
		items[i] = r.item()
	}
	return campaignOf(c), items, nil
}

func orAll(systems []string) []string {
	if len(systems) == 0 {
		return []string{"any system"}
	}
	return systems
}

// buildItems joins accounts to people and activity; pure, so it is tested
// without a store.
func buildItems(campaign string, accounts []accountRow, people []person, links []link, acts []activity, now time.Time) []itemRow {
	byID := map[string]person{}
	for _, p := range people {
		byID[p.UserID] = p
	}
	byKey := map[string]string{}
	for _, l := range links {
		byKey[strings.ToLower(l.Key)] = l.UserID
	}
	last := map[string]time.Time{}
	for _, a := range acts {
		last[a.Key] = a.Last
	}
	rows := make([]itemRow, 0, len(accounts))
	for _, a := range accounts {
		r := itemRow{Snapshot: Snapshot{CampaignID: campaign, ItemID: itemID(a.System, a.AccountID), System: a.System, AccountID: a.AccountID,
			DisplayName: a.DisplayName, Email: a.Email, Enabled: a.Enabled, Privileged: a.Privileged, Roles: a.Roles,
			LastLogin: a.LastLogin, CreatedAt: now, Flags: []string{}, Notes: []string{}}, RetainUntil: retain(now)}
		if r.Roles == nil {
			r.Roles = []string{}
		}
		owner := a.Owner
		if owner == "" {
			owner = byKey[strings.ToLower(a.AccountID)]
		}
		if owner == "" && a.Email != "" {
			owner = byKey[strings.ToLower(a.Email)]
		}
		p, known := byID[owner]
		if owner != "" && known {
			r.OwnerUserID, r.OwnerName, r.OwnerRole = p.UserID, p.Name, p.Role
			if p.Terminated != "" {
				t := p.Terminated
				r.OwnerTerminated = &t
			}
		}
		// The owner's manager certifies; without one (or without an owner)
		// the practice admin does. A terminated manager cannot.
		r.AssigneeID, r.AssigneeName = PracticeAdminQueue, "practice admin"
		if m, ok := byID[p.ManagerID]; known && ok && m.Terminated == "" {
			r.AssigneeID, r.AssigneeName = m.UserID, m.Name
		}
		var used time.Time
		for _, k := range []string{strings.ToLower(a.AccountID), strings.ToLower(a.Email)} {
			if t, ok := last[k]; ok && k != "" && t.After(used) {
				used = t
			}
		}
		if !used.IsZero() {
			u := used.UTC()
			r.LastActivity = &u
		}
		if a.LastLogin != nil && a.LastLogin.After(used) {
			used = *a.LastLogin
		}
		switch {
		case !used.IsZero():
			r.DaysDormant = int32(now.Sub(used).Hours() / 24)
		case a.Created != nil:
			r.DaysDormant = int32(now.Sub(*a.Created).Hours() / 24)
		default:
			r.DaysDormant = -1 // unknown: never seen in use, no creation date
		}
		if r.OwnerTerminated != nil && a.Enabled {
			r.Flags = append(r.Flags, FlagTerminatedEnabled)
			r.Notes = append(r.Notes, fmt.Sprintf("owner %s was terminated on %s; the account is still enabled", r.OwnerName, *r.OwnerTerminated))
		}
		if r.OwnerUserID == "" {
			r.Flags = append(r.Flags, FlagNoOwner)
			r.Notes = append(r.Notes, "no workforce member owns this account (not on the roster, no identity link)")
		}
		if a.Privileged {
			r.Flags = append(r.Flags, FlagPrivileged)
		}
		switch {
		case used.IsZero() && a.Enabled:
			r.Flags = append(r.Flags, FlagNeverUsed)
			r.Notes = append(r.Notes, "no login or activity seen in the last year")
		case r.DaysDormant >= DormantDays && a.Enabled:
			r.Flags = append(r.Flags, FlagDormant)
			r.Notes = append(r.Notes, fmt.Sprintf("last used %s, %d days ago", used.UTC().Format("2006-01-02"), r.DaysDormant))
		}
		rows = append(rows, r)
	}
	flagRoleDrift(rows)
	return rows
}

// flagRoleDrift marks an entitlement that few of the owner's role peers in
// the same system hold (a quarter or fewer of at least three peers): access
// that crept in with a past job.
func flagRoleDrift(rows []itemRow) {
	type group struct{ system, role string }
	members := map[group][]int{}
	for i, r := range rows {
		if r.OwnerRole != "" {
			g := group{r.System, r.OwnerRole}
			members[g] = append(members[g], i)
		}
	}
	for g, idx := range members {
		if len(idx) < 3 {
			continue
		}
		held := map[string]int{}
		for _, i := range idx {
			for _, e := range rows[i].Roles {
				held[e]++
			}
		}
		for _, i := range idx {
			var rare []string
			for _, e := range rows[i].Roles {
				if 4*held[e] <= len(idx) {
					rare = append(rare, fmt.Sprintf("%s (held by %d of %d %s peers)", e, held[e], len(idx), g.role))
				}
			}
			if len(rare) > 0 {
				rows[i].Flags = append(rows[i].Flags, FlagRoleDrift)
				rows[i].Notes = append(rows[i].Notes, "unusual for the role in "+g.system+": "+strings.Join(rare, ", "))
			}
		}
	}
}

func (r itemRow) item() Item {
	it := Item{Snapshot: r.Snapshot}
	if r.OwnerTerminated != nil {
		it.OwnerTerminated = *r.OwnerTerminated
	}
	return it
}
