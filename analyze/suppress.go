package analyze

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// MaxSuppression is the longest a suppression may last: an exception to
// monitoring is re-decided at least yearly, like the access it covers.
const MaxSuppression = 366 * 24 * time.Hour

// SuppressionRequest is what an operator gives to suppress alerts.
type SuppressionRequest struct {
	Tenant    string
	Rule      string // "" = every rule
	ActorID   string // "" = any actor
	PatientID string // "" = any patient
	Reason    string
	CreatedBy string
	ExpiresAt time.Time
}

// NewSuppression checks a request and returns the first version of the
// suppression it asks for.
func NewSuppression(r SuppressionRequest, now time.Time, keep time.Duration) (store.SuppressionRow, error) {
	now = now.UTC().Truncate(time.Millisecond)
	switch {
	case r.Tenant == "":
		return store.SuppressionRow{}, errors.New("a suppression needs a tenant")
	case strings.TrimSpace(r.Reason) == "":
		return store.SuppressionRow{}, errors.New("a suppression needs a reason: it is the record of why these alerts are expected")
	case r.ExpiresAt.IsZero():
		return store.SuppressionRow{}, errors.New("a suppression needs an expiry date")
	case !r.ExpiresAt.After(now):
		return store.SuppressionRow{}, fmt.Errorf("expiry %s is not in the future", r.ExpiresAt.UTC().Format(time.DateOnly))
	case r.ExpiresAt.Sub(now) > MaxSuppression:
		return store.SuppressionRow{}, fmt.Errorf("expiry %s is more than a year away: suppressions are re-decided at least yearly", r.ExpiresAt.UTC().Format(time.DateOnly))
	case r.Rule == "" && r.ActorID == "" && r.PatientID == "":
		return store.SuppressionRow{}, errors.New("a suppression must name a rule, an actor or a patient: one that matches everything would switch monitoring off")
	}
	if keep <= 0 {
		keep = store.DefaultRetention
	}
	return store.SuppressionRow{
		TenantID:      r.Tenant,
		SuppressionID: alertID(r.Tenant, "suppression", r.Rule, r.ActorID, r.PatientID, now.Format(time.RFC3339Nano)),
		Rule:          r.Rule, ActorID: r.ActorID, PatientID: r.PatientID,
		Reason: strings.TrimSpace(r.Reason), CreatedBy: r.CreatedBy,
		CreatedAt: now, ExpiresAt: r.ExpiresAt.UTC().Truncate(time.Millisecond), VersionAt: now,
		RetainUntil: now.Add(keep),
	}, nil
}

// Revoke returns the version of s that ends it.
func Revoke(s store.SuppressionRow, by, reason string, now time.Time) store.SuppressionRow {
	s.Revoked, s.RevokedBy, s.RevokeReason = true, by, reason
	s.VersionAt = now.UTC().Truncate(time.Millisecond)
	return s
}

// Matches tells whether s covers an alert.
func Matches(s store.SuppressionRow, rule, actor string, patients []string) bool {
	return (s.Rule == "" || s.Rule == rule) &&
		(s.ActorID == "" || s.ActorID == actor) &&
		(s.PatientID == "" || slices.Contains(patients, s.PatientID))
}

// ListSuppressions reads the current version of a tenant's suppressions,
// newest first.
func ListSuppressions(ctx context.Context, q Querier, tenant string) ([]store.SuppressionRow, error) {
	var out []store.SuppressionRow
	err := q.Select(ctx, &out, "SELECT * REPLACE (toDateTime(retain_until) AS retain_until) FROM "+q.Database()+".suppressions_current WHERE tenant_id = {tenant:String} ORDER BY created_at DESC, suppression_id",
		store.Params{"tenant": tenant})
	if err != nil {
		return nil, fmt.Errorf("read suppressions of tenant %s: %w", tenant, err)
	}
	return out, nil
}

// ApplySuppressions records, for every alert of the tenant first seen in w,
// each suppression in force at now that covers it. The alerts themselves are
// left as they are. It returns how many matches it recorded.
func ApplySuppressions(ctx context.Context, s store.Store, tenant string, w Window, now time.Time) (int, error) {
	all, err := ListSuppressions(ctx, s, tenant)
	if err != nil {
		return 0, err
	}
	var live []store.SuppressionRow
	for _, sp := range all {
		if !sp.Revoked && sp.ExpiresAt.After(now) {
			live = append(live, sp)
		}
	}
	if len(live) == 0 {
		return 0, nil
	}
	var alerts []struct {
		caseAlert
		RetainUntil time.Time `json:"retain_until"`
	}
	err = s.Select(ctx, &alerts, `
SELECT alert_id, rule, actor_id, patient_ids, first_seen, toDateTime(retain_until) AS retain_until
FROM `+s.Database()+`.alerts_current
WHERE tenant_id = {tenant:String} AND first_seen >= {from:DateTime64(3)} AND first_seen < {to:DateTime64(3)}`,
		store.Params{"tenant": tenant, "from": chTime(w.From), "to": chTime(w.To)})
	if err != nil {
		return 0, fmt.Errorf("read alerts of tenant %s to apply suppressions: %w", tenant, err)
	}
	at := now.UTC().Truncate(time.Millisecond)
	var rows []store.AlertSuppressionRow
	for _, a := range alerts {
		for _, sp := range live {
			if Matches(sp, a.Rule, a.ActorID, a.PatientIDs) {
				rows = append(rows, store.AlertSuppressionRow{TenantID: tenant, AlertID: a.AlertID, SuppressionID: sp.SuppressionID,
					Rule: a.Rule, ActorID: a.ActorID, AlertFirstSeen: a.FirstSeen, MatchedAt: at, RetainUntil: a.RetainUntil})
			}
		}
	}
	if err := s.InsertAlertSuppressions(ctx, rows); err != nil {
		return 0, fmt.Errorf("record suppressed alerts of tenant %s: %w", tenant, err)
	}
	return len(rows), nil
}
