// Package authz is phiwatch's authorization model: roles, the permissions
// each role holds, and the principal (who is calling, in which role, for
// which tenants). The permission table is documented in docs/security.md;
// a test keeps the two in step.
package authz

import (
	"slices"
	"sort"
)

// Role is what a principal does for the tenants it may see.
type Role string

// The roles. An msp_admin sees all tenants or a named group of them; every
// other role is granted per tenant.
const (
	MSPAdmin       Role = "msp_admin"
	PracticeAdmin  Role = "practice_admin"
	PrivacyOfficer Role = "privacy_officer"
	Reviewer       Role = "reviewer"
	Manager        Role = "manager" // their own staff only, for recertification
	Auditor        Role = "auditor" // read-only
)

// Roles lists every role, most powerful first.
var Roles = []Role{MSPAdmin, PracticeAdmin, PrivacyOfficer, Reviewer, Manager, Auditor}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Permission is one thing a route lets its caller do.
type Permission string

// The permissions. A route declares exactly one.
const (
	ReadAlerts     Permission = "alerts:read"    // alerts and cases (patients masked)
	ManageCases    Permission = "cases:write"    // assign, comment, close cases
	ReadEvents     Permission = "events:read"    // raw access events: patient data, self-audited
	RevealPHI      Permission = "phi:reveal"     // unmask one patient's name/MRN, with a reason
	ReadReview     Permission = "review:read"    // monthly log review: periods, worklists, progress
	DecideReview   Permission = "review:decide"  // decide worklist items, comment
	SignOffReview  Permission = "review:signoff" // sign off / amend a review period
	ReadRecert     Permission = "recert:read"    // access recertification campaigns
	DecideRecert   Permission = "recert:decide"  // certify / revoke / modify items assigned to the caller
	ManageRecert   Permission = "recert:manage"  // create campaigns, reassign, sign off
	ReadRecords    Permission = "records:read"   // compliance records (risk, policies, training, BAAs, incidents)
	WriteRecords   Permission = "records:write"  // change compliance records
	ReadAudit      Permission = "audit:read"     // phiwatch's own audit trail
	ManageAccess   Permission = "access:manage"  // API tokens and role grants
	ReadFleet      Permission = "fleet:read"     // MSP overview across the caller's tenants
	ExportEvidence Permission = "evidence:export"
)

// grants is the permission table. It is never modified after init.
var grants = map[Role][]Permission{
	MSPAdmin: {ReadAlerts, ManageCases, ReadEvents, RevealPHI, ReadReview, DecideReview, SignOffReview,
		ReadRecert, DecideRecert, ManageRecert, ReadRecords, WriteRecords, ReadAudit, ManageAccess, ReadFleet, ExportEvidence},
	PracticeAdmin: {ReadAlerts, ReadReview, ReadRecert, DecideRecert, ManageRecert, ReadRecords, WriteRecords,
		ManageAccess, ExportEvidence},
	PrivacyOfficer: {ReadAlerts, ManageCases, ReadEvents, RevealPHI, ReadReview, DecideReview, SignOffReview,
		ReadRecert, DecideRecert, ManageRecert, ReadRecords, WriteRecords, ReadAudit, ExportEvidence},
	Reviewer: {ReadAlerts, ManageCases, ReadEvents, RevealPHI, ReadReview, DecideReview},
	Manager:  {ReadRecert, DecideRecert},
	Auditor:  {ReadAlerts, ReadReview, ReadRecert, ReadRecords, ReadAudit, ExportEvidence},
}

// Can reports whether the role holds the permission.
func (r Role) Can(p Permission) bool { return slices.Contains(grants[r], p) }

// Permissions lists every permission, sorted.
func Permissions() []Permission {
	seen := map[Permission]bool{}
	for _, ps := range grants {
		for _, p := range ps {
			seen[p] = true
		}
	}
	out := make([]Permission, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Principal is an authenticated caller.
type Principal struct {
	Subject string // stable id: token id or OIDC "iss|sub"
	Name    string // for people: display name or email; for tokens: token name
	Email   string // OIDC email, empty for machine tokens
	Role    Role
	Via     string // "token" or "oidc"
	// AllTenants is set for an msp_admin over every tenant; otherwise
	// Tenants holds the tenants the principal may see.
	AllTenants bool
	Tenants    map[string]bool
	// WorkforceIDs are the caller's own workforce ids per tenant (roster
	// user_id), so they never review their own activity or certify their own
	// access. Empty for machines.
	WorkforceIDs map[string]string
}

// CanSee reports whether the principal may read the tenant's data.
func (p *Principal) CanSee(tenant string) bool {
	return p != nil && (p.AllTenants || p.Tenants[tenant])
}

// Can reports whether the principal may do p in tenant.
func (p *Principal) Can(tenant string, perm Permission) bool {
	return p.CanSee(tenant) && p.Role.Can(perm)
}

// TenantList is the sorted list of tenants a principal is scoped to (nil
// when AllTenants).
func (p *Principal) TenantList() []string {
	if p.AllTenants {
		return nil
	}
	out := make([]string, 0, len(p.Tenants))
	for t := range p.Tenants {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
