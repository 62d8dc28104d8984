package store

import "time"

// WorkforceRow is one version of one person on a practice's roster.
type WorkforceRow struct {
	TenantID        string     `json:"tenant_id" ch:"tenant_id"`
	UserID          string     `json:"user_id" ch:"user_id"`
	Name            string     `json:"name" ch:"name"`
	Role            string     `json:"role" ch:"role"`
	Department      string     `json:"department" ch:"department"`
	ManagerID       string     `json:"manager_id" ch:"manager_id"`
	Email           string     `json:"email" ch:"email"`
	Aliases         []string   `json:"aliases" ch:"aliases"`
	HireDate        *time.Time `json:"hire_date" ch:"hire_date"`
	TerminationDate *time.Time `json:"termination_date" ch:"termination_date"`
	// The widened roster (migration 0005, docs/roster.md).
	EmployeeID     string `json:"employee_id" ch:"employee_id"`
	FirstName      string `json:"first_name" ch:"first_name"`
	LastName       string `json:"last_name" ch:"last_name"`
	JobTitle       string `json:"job_title" ch:"job_title"`
	NPI            string `json:"npi" ch:"npi"`
	EHRUsername    string `json:"ehr_username" ch:"ehr_username"`
	M365UPN        string `json:"m365_upn" ch:"m365_upn"`
	VPNUsername    string `json:"vpn_username" ch:"vpn_username"`
	GoogleEmail    string `json:"google_email" ch:"google_email"`
	Phone          string `json:"phone" ch:"phone"`
	HomeStreet     string `json:"home_street" ch:"home_street"`
	HomeCity       string `json:"home_city" ch:"home_city"`
	HomePostalCode string `json:"home_postal_code" ch:"home_postal_code"`
	// BirthDate is Date32 in ClickHouse: most birth dates precede 1970.
	BirthDate   *time.Time `json:"birth_date" ch:"birth_date"`
	ImportedAt  time.Time  `json:"imported_at" ch:"imported_at"`
	ImportedBy  string     `json:"imported_by" ch:"imported_by"`
	Source      string     `json:"source" ch:"source"`
	RetainUntil time.Time  `json:"retain_until" ch:"retain_until"`
}

// AlertRow is one version of one alert.
type AlertRow struct {
	TenantID         string    `json:"tenant_id" ch:"tenant_id"`
	AlertID          string    `json:"alert_id" ch:"alert_id"`
	Rule             string    `json:"rule" ch:"rule"`
	Severity         string    `json:"severity" ch:"severity"`
	Score            float32   `json:"score" ch:"score"`
	ActorID          string    `json:"actor_id" ch:"actor_id"`
	ActorName        string    `json:"actor_name" ch:"actor_name"`
	ActorRole        string    `json:"actor_role" ch:"actor_role"`
	PatientIDs       []string  `json:"patient_ids" ch:"patient_ids"`
	FirstSeen        time.Time `json:"first_seen" ch:"first_seen"`
	LastSeen         time.Time `json:"last_seen" ch:"last_seen"`
	Reason           string    `json:"reason" ch:"reason"`
	EvidenceEventIDs []string  `json:"evidence_event_ids" ch:"evidence_event_ids"`
	EvidenceCount    uint32    `json:"evidence_count" ch:"evidence_count"`
	Explanations     []string  `json:"explanations" ch:"explanations"`
	DetectorVersion  string    `json:"detector_version" ch:"detector_version"`
	DetectedAt       time.Time `json:"detected_at" ch:"detected_at"`
	RetainUntil      time.Time `json:"retain_until" ch:"retain_until"`
}

func (b rowBinary) nullableDate(t *time.Time) rowBinary {
	if t == nil {
		return append(b, 1)
	}
	return append(b, 0).date(*t)
}

func (b rowBinary) f32(v float32) rowBinary { return b.u32(float32bits(v)) }

func (r *WorkforceRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.UserID).str(r.Name).str(r.Role).str(r.Department).str(r.ManagerID).str(r.Email).
		strs(nonNil(r.Aliases)).nullableDate(r.HireDate).nullableDate(r.TerminationDate).
		str(r.EmployeeID).str(r.FirstName).str(r.LastName).str(r.JobTitle).str(r.NPI).
		str(r.EHRUsername).str(r.M365UPN).str(r.VPNUsername).str(r.GoogleEmail).
		str(r.Phone).str(r.HomeStreet).str(r.HomeCity).str(r.HomePostalCode).nullableDate32(r.BirthDate).
		dateTime64ms(r.ImportedAt).str(r.ImportedBy).str(r.Source).date(r.RetainUntil)
}

func (r *AlertRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.AlertID).str(r.Rule).str(r.Severity).f32(r.Score).
		str(r.ActorID).str(r.ActorName).str(r.ActorRole).strs(nonNil(r.PatientIDs)).
		dateTime64ms(r.FirstSeen).dateTime64ms(r.LastSeen).str(r.Reason).
		strs(nonNil(r.EvidenceEventIDs)).u32(r.EvidenceCount).strs(nonNil(r.Explanations)).
		str(r.DetectorVersion).dateTime64ms(r.DetectedAt).date(r.RetainUntil)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
