package store

import "time"

// CaseRow is one version of one case: a tenant's alerts for one actor over
// an open period, with a combined risk (docs/cases.md).
type CaseRow struct {
	TenantID         string    `json:"tenant_id" ch:"tenant_id"`
	CaseID           string    `json:"case_id" ch:"case_id"`
	ActorID          string    `json:"actor_id" ch:"actor_id"`
	ActorName        string    `json:"actor_name" ch:"actor_name"`
	ActorRole        string    `json:"actor_role" ch:"actor_role"`
	Status           string    `json:"status" ch:"status"`
	AlertIDs         []string  `json:"alert_ids" ch:"alert_ids"`
	Rules            []string  `json:"rules" ch:"rules"`
	FirstSeen        time.Time `json:"first_seen" ch:"first_seen"`
	LastSeen         time.Time `json:"last_seen" ch:"last_seen"`
	AlertCount       uint32    `json:"alert_count" ch:"alert_count"`
	DistinctPatients uint32    `json:"distinct_patients" ch:"distinct_patients"`
	ActorPatientDays uint32    `json:"actor_patient_days" ch:"actor_patient_days"`
	ActiveDays       uint32    `json:"active_days" ch:"active_days"`
	RiskScore        float32   `json:"risk_score" ch:"risk_score"`
	MaxSeverity      string    `json:"max_severity" ch:"max_severity"`
	Summary          string    `json:"summary" ch:"summary"`
	UpdatedAt        time.Time `json:"updated_at" ch:"updated_at"`
	UpdatedBy        string    `json:"updated_by" ch:"updated_by"`
	RetainUntil      time.Time `json:"retain_until" ch:"retain_until"`
}

// SuppressionRow is one version of one suppression.
type SuppressionRow struct {
	TenantID      string    `json:"tenant_id" ch:"tenant_id"`
	SuppressionID string    `json:"suppression_id" ch:"suppression_id"`
	Rule          string    `json:"rule" ch:"rule"`
	ActorID       string    `json:"actor_id" ch:"actor_id"`
	PatientID     string    `json:"patient_id" ch:"patient_id"`
	Reason        string    `json:"reason" ch:"reason"`
	CreatedBy     string    `json:"created_by" ch:"created_by"`
	CreatedAt     time.Time `json:"created_at" ch:"created_at"`
	ExpiresAt     time.Time `json:"expires_at" ch:"expires_at"`
	Revoked       bool      `json:"revoked" ch:"revoked"`
	RevokedBy     string    `json:"revoked_by" ch:"revoked_by"`
	RevokeReason  string    `json:"revoke_reason" ch:"revoke_reason"`
	VersionAt     time.Time `json:"version_at" ch:"version_at"`
	RetainUntil   time.Time `json:"retain_until" ch:"retain_until"`
}

// AlertSuppressionRow records that a suppression matched an alert.
type AlertSuppressionRow struct {
	TenantID       string    `json:"tenant_id" ch:"tenant_id"`
	AlertID        string    `json:"alert_id" ch:"alert_id"`
	SuppressionID  string    `json:"suppression_id" ch:"suppression_id"`
	Rule           string    `json:"rule" ch:"rule"`
	ActorID        string    `json:"actor_id" ch:"actor_id"`
	AlertFirstSeen time.Time `json:"alert_first_seen" ch:"alert_first_seen"`
	MatchedAt      time.Time `json:"matched_at" ch:"matched_at"`
	RetainUntil    time.Time `json:"retain_until" ch:"retain_until"`
}

func (r *CaseRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.CaseID).str(r.ActorID).str(r.ActorName).str(r.ActorRole).str(r.Status).
		strs(nonNil(r.AlertIDs)).strs(nonNil(r.Rules)).dateTime64ms(r.FirstSeen).dateTime64ms(r.LastSeen).
		u32(r.AlertCount).u32(r.DistinctPatients).u32(r.ActorPatientDays).u32(r.ActiveDays).
		f32(r.RiskScore).str(r.MaxSeverity).str(r.Summary).
		dateTime64ms(r.UpdatedAt).str(r.UpdatedBy).date(r.RetainUntil)
}

func (r *SuppressionRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.SuppressionID).str(r.Rule).str(r.ActorID).str(r.PatientID).
		str(r.Reason).str(r.CreatedBy).dateTime64ms(r.CreatedAt).dateTime64ms(r.ExpiresAt).
		boolean(r.Revoked).str(r.RevokedBy).str(r.RevokeReason).dateTime64ms(r.VersionAt).date(r.RetainUntil)
}

func (r *AlertSuppressionRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.AlertID).str(r.SuppressionID).str(r.Rule).str(r.ActorID).
		dateTime64ms(r.AlertFirstSeen).dateTime64ms(r.MatchedAt).date(r.RetainUntil)
}
