// Package recert runs the quarterly access recertification (HIPAA
// 164.308(a)(3)–(4)): a campaign per tenant, quarter and set of systems,
// built from the account inventories and the roster and joined with each
// account's last use in the logs; items assigned to each owner's manager;
// certify / revoke / modify decisions with reasons; revocations tracked until
// the next inventory or the logs confirm them; sign-off locks the campaign.
// Everything is append-only (docs/recertification.md).
package recert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// Store is what recertification needs: a store narrowed to one tenant
// (*store.TenantStore).
type Store interface {
	Select(ctx context.Context, dest any, sql string, params store.Params) error
	Insert(ctx context.Context, table string, rows any) error
	Database() string
	Tenant() string
}

// Errors the API maps to status codes.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("a campaign for this quarter and these systems already exists")
	ErrLocked      = errors.New("the campaign is signed off: changes must be amendments with a reason")
	ErrNotLocked   = errors.New("amendments are for signed-off campaigns; decide the item instead")
	ErrSelf        = errors.New("you may not certify your own access")
	ErrNotAssigned = errors.New("the item is not assigned to you")
	ErrIncomplete  = errors.New("every item needs a decision before sign-off")
	ErrInvalid     = errors.New("invalid request")
)

// Decision kinds.
const (
	Certify = "certify"
	Revoke  = "revoke"
	Modify  = "modify"
)

// Item flags: why an item deserves a second look.
const (
	FlagTerminatedEnabled = "terminated_but_enabled"
	FlagNoOwner           = "no_owner"
	FlagPrivileged        = "privileged"
	FlagDormant           = "dormant"
	FlagNeverUsed         = "never_used"
	FlagRoleDrift         = "role_drift"
	FlagStillActive       = "still_active_after_revoke"
)

// Task states of a revoke or modify decision.
const (
	TaskOpen        = "open"
	TaskConfirmed   = "confirmed"
	TaskStillActive = "still_active"
)

// Statuses of a campaign.
const (
	StatusOpen      = "open"
	StatusSignedOff = "signed_off"
)

// PracticeAdminQueue is the assignee of items whose owner has no manager on
// the roster (or no owner at all): the practice admin decides them.
const PracticeAdminQueue = "role:practice_admin"

// DormantDays is how long without use makes an account dormant.
const DormantDays = 90

// keep is how long records are retained (documentation: 6 years,
// 164.316(b)(2); phiwatch keeps 7).
const keep = 7 * 365 * 24 * time.Hour

// Actor is who does something.
type Actor struct {
	ID          string // principal subject
	Name        string
	Role        string // authz role
	WorkforceID string // the actor's roster user id in this tenant, if any
}

// Quarter is a calendar quarter, e.g. 2026-Q4.
type Quarter struct {
	Year, Q int
}

var quarterRE = regexp.MustCompile(`^(\d{4})-Q([1-4])$`)

// ParseQuarter reads "2026-Q4".
func ParseQuarter(s string) (Quarter, error) {
	m := quarterRE.FindStringSubmatch(s)
	if m == nil {
		return Quarter{}, fmt.Errorf("%w: quarter %q must look like 2026-Q4", ErrInvalid, s)
	}
	y, _ := strconv.Atoi(m[1])
	q, _ := strconv.Atoi(m[2])
	return Quarter{Year: y, Q: q}, nil
}

func (q Quarter) String() string { return fmt.Sprintf("%d-Q%d", q.Year, q.Q) }

// Start is the quarter's first day (UTC).
func (q Quarter) Start() time.Time {
	return time.Date(q.Year, time.Month(3*(q.Q-1)+1), 1, 0, 0, 0, 0, time.UTC)
}

// End is the first day after the quarter.
func (q Quarter) End() time.Time { return q.Start().AddDate(0, 3, 0) }

// Campaign is a campaign's current state.
type Campaign struct {
	CampaignID  string     `json:"campaign_id"`
	Quarter     string     `json:"quarter"`
	Systems     []string   `json:"systems"`
	Status      string     `json:"status"`
	DueDate     string     `json:"due_date"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	SignedOffBy string     `json:"signed_off_by"`
	SignedOffAt *time.Time `json:"signed_off_at"`
	ChangedBy   string     `json:"changed_by"`
	ChangedAt   time.Time  `json:"changed_at"`
	Reason      string     `json:"reason"`
}

// campaignRow is a version of a campaign as stored.
type campaignRow struct {
	Campaign
	RetainUntil string `json:"retain_until"`
}

// Snapshot is an account as the campaign saw it at creation: the
// inventory joined with the roster and its last use in the logs.
type Snapshot struct {
	CampaignID      string     `json:"campaign_id"`
	ItemID          string     `json:"item_id"`
	System          string     `json:"system"`
	AccountID       string     `json:"account_id"`
	DisplayName     string     `json:"display_name"`
	Email           string     `json:"email"`
	Enabled         bool       `json:"enabled"`
	Privileged      bool       `json:"privileged"`
	Roles           []string   `json:"roles"`
	OwnerUserID     string     `json:"owner_user_id"`
	OwnerName       string     `json:"owner_name"`
	OwnerRole       string     `json:"owner_role"`
	OwnerTerminated string     `json:"owner_terminated"` // YYYY-MM-DD, "" when employed
	AssigneeID      string     `json:"assignee_id"`
	AssigneeName    string     `json:"assignee_name"`
	LastLogin       *time.Time `json:"last_login"`
	LastActivity    *time.Time `json:"last_activity"`
	DaysDormant     int32      `json:"days_dormant"`
	Flags           []string   `json:"flags"`
	Notes           []string   `json:"notes"`
	CreatedAt       time.Time  `json:"created_at"`
}

// Item is one account to certify, with its current decision and task.
type Item struct {
	Snapshot

	Decision      string     `json:"decision"`
	DecisionBy    string     `json:"decision_by"`
	DecisionAt    *time.Time `json:"decision_at"`
	DecisionWhy   string     `json:"decision_reason"`
	NewRoles      []string   `json:"new_roles"`
	Amended       bool       `json:"amended"`
	TaskStatus    string     `json:"task_status"`
	TaskEvidence  string     `json:"task_evidence"`
	TaskCheckedAt *time.Time `json:"task_checked_at"`
}

// itemRow is an item as stored: the termination date is a Nullable(Date)
// (this field hides the snapshot's string in JSON).
type itemRow struct {
	Snapshot
	OwnerTerminated *string `json:"owner_terminated"`
	RetainUntil     string  `json:"retain_until"`
}

type decisionRow struct {
	CampaignID    string    `json:"campaign_id"`
	ItemID        string    `json:"item_id"`
	Decision      string    `json:"decision"`
	Reason        string    `json:"reason"`
	NewRoles      []string  `json:"new_roles"`
	DecidedBy     string    `json:"decided_by"`
	DecidedByName string    `json:"decided_by_name"`
	DecidedAt     time.Time `json:"decided_at"`
	Amendment     bool      `json:"amendment"`
	RetainUntil   string    `json:"retain_until"`
}

type taskRow struct {
	CampaignID  string    `json:"campaign_id"`
	ItemID      string    `json:"item_id"`
	Action      string    `json:"action"`
	Status      string    `json:"status"`
	Evidence    string    `json:"evidence"`
	CheckedAt   time.Time `json:"checked_at"`
	RetainUntil string    `json:"retain_until"`
}

func retain(now time.Time) string { return now.Add(keep).UTC().Format("2006-01-02") }

var systemRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// CampaignID names the campaign of a quarter over some systems (all when
// none are given): stable, so creating it twice is refused.
func CampaignID(q Quarter, systems []string) string {
	if len(systems) == 0 {
		return q.String()
	}
	return q.String() + "-" + strings.Join(systems, "+")
}

func itemID(system, account string) string {
	h := sha256.Sum256([]byte(system + "\x00" + account))
	return hex.EncodeToString(h[:8])
}
