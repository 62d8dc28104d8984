package store

import (
	"encoding/binary"
	"time"
)

// Rows of the reference feeds (docs/reference-feeds.md) and of the identity
// links built from them (docs/identity.md). As everywhere in this package,
// the field order is the INSERT column list and the RowBinary order; every
// row is one version, stamped with imported_at (built_at for links), and the
// *_current views read the latest.

// AccountRow is one account of one system's inventory, as of one import.
type AccountRow struct {
	TenantID    string     `json:"tenant_id" ch:"tenant_id"`
	System      string     `json:"system" ch:"system"`
	AccountID   string     `json:"account_id" ch:"account_id"`
	DisplayName string     `json:"display_name" ch:"display_name"`
	Email       string     `json:"email" ch:"email"`
	Enabled     bool       `json:"enabled" ch:"enabled"`
	Created     *time.Time `json:"created" ch:"created"`
	LastLogin   *time.Time `json:"last_login" ch:"last_login"`
	Roles       []string   `json:"roles" ch:"roles"`
	Groups      []string   `json:"groups" ch:"groups"`
	Privileged  bool       `json:"privileged" ch:"privileged"`
	OwnerUserID string     `json:"owner_user_id" ch:"owner_user_id"`
	ImportedAt  time.Time  `json:"imported_at" ch:"imported_at"`
	ImportedBy  string     `json:"imported_by" ch:"imported_by"`
	Source      string     `json:"source" ch:"source"`
	RetainUntil time.Time  `json:"retain_until" ch:"retain_until"`
}

// PatientRow is one version of a FHIR Patient.
type PatientRow struct {
	TenantID             string     `json:"tenant_id" ch:"tenant_id"`
	PatientID            string     `json:"patient_id" ch:"patient_id"`
	MRN                  string     `json:"mrn" ch:"mrn"`
	Identifiers          []string   `json:"identifiers" ch:"identifiers"`
	Name                 string     `json:"name" ch:"name"`
	FamilyName           string     `json:"family_name" ch:"family_name"`
	GivenNames           string     `json:"given_names" ch:"given_names"`
	BirthDate            *time.Time `json:"birth_date" ch:"birth_date"`
	Gender               string     `json:"gender" ch:"gender"`
	AddressLine          string     `json:"address_line" ch:"address_line"`
	City                 string     `json:"city" ch:"city"`
	State                string     `json:"state" ch:"state"`
	PostalCode           string     `json:"postal_code" ch:"postal_code"`
	Country              string     `json:"country" ch:"country"`
	Phones               []string   `json:"phones" ch:"phones"`
	Emails               []string   `json:"emails" ch:"emails"`
	Deceased             bool       `json:"deceased" ch:"deceased"`
	DeceasedAt           *time.Time `json:"deceased_at" ch:"deceased_at"`
	Active               bool       `json:"active" ch:"active"`
	Restricted           bool       `json:"restricted" ch:"restricted"`
	SecurityLabels       []string   `json:"security_labels" ch:"security_labels"`
	GeneralPractitioners []string   `json:"general_practitioners" ch:"general_practitioners"`
	Linked               []string   `json:"linked" ch:"linked"`
	VersionID            string     `json:"version_id" ch:"version_id"`
	LastUpdated          *time.Time `json:"last_updated" ch:"last_updated"`
	ImportedAt           time.Time  `json:"imported_at" ch:"imported_at"`
	ImportedBy           string     `json:"imported_by" ch:"imported_by"`
	Source               string     `json:"source" ch:"source"`
	RetainUntil          time.Time  `json:"retain_until" ch:"retain_until"`
}

// PractitionerRow is one version of a FHIR Practitioner.
type PractitionerRow struct {
	TenantID       string     `json:"tenant_id" ch:"tenant_id"`
	PractitionerID string     `json:"practitioner_id" ch:"practitioner_id"`
	Identifiers    []string   `json:"identifiers" ch:"identifiers"`
	NPI            string     `json:"npi" ch:"npi"`
	Name           string     `json:"name" ch:"name"`
	FamilyName     string     `json:"family_name" ch:"family_name"`
	GivenNames     string     `json:"given_names" ch:"given_names"`
	Emails         []string   `json:"emails" ch:"emails"`
	Phones         []string   `json:"phones" ch:"phones"`
	Active         bool       `json:"active" ch:"active"`
	VersionID      string     `json:"version_id" ch:"version_id"`
	LastUpdated    *time.Time `json:"last_updated" ch:"last_updated"`
	ImportedAt     time.Time  `json:"imported_at" ch:"imported_at"`
	ImportedBy     string     `json:"imported_by" ch:"imported_by"`
	Source         string     `json:"source" ch:"source"`
	RetainUntil    time.Time  `json:"retain_until" ch:"retain_until"`
}

// PractitionerRoleRow is one version of a FHIR PractitionerRole.
type PractitionerRoleRow struct {
	TenantID       string     `json:"tenant_id" ch:"tenant_id"`
	RoleID         string     `json:"role_id" ch:"role_id"`
	PractitionerID string     `json:"practitioner_id" ch:"practitioner_id"`
	OrganizationID string     `json:"organization_id" ch:"organization_id"`
	Codes          []string   `json:"codes" ch:"codes"`
	Specialties    []string   `json:"specialties" ch:"specialties"`
	LocationIDs    []string   `json:"location_ids" ch:"location_ids"`
	Active         bool       `json:"active" ch:"active"`
	PeriodStart    *time.Time `json:"period_start" ch:"period_start"`
	PeriodEnd      *time.Time `json:"period_end" ch:"period_end"`
	VersionID      string     `json:"version_id" ch:"version_id"`
	LastUpdated    *time.Time `json:"last_updated" ch:"last_updated"`
	ImportedAt     time.Time  `json:"imported_at" ch:"imported_at"`
	ImportedBy     string     `json:"imported_by" ch:"imported_by"`
	Source         string     `json:"source" ch:"source"`
	RetainUntil    time.Time  `json:"retain_until" ch:"retain_until"`
}

// AppointmentRow is one version of a FHIR Appointment.
type AppointmentRow struct {
	TenantID            string     `json:"tenant_id" ch:"tenant_id"`
	AppointmentID       string     `json:"appointment_id" ch:"appointment_id"`
	Status              string     `json:"status" ch:"status"`
	StartTime           *time.Time `json:"start_time" ch:"start_time"`
	EndTime             *time.Time `json:"end_time" ch:"end_time"`
	PatientIDs          []string   `json:"patient_ids" ch:"patient_ids"`
	PractitionerIDs     []string   `json:"practitioner_ids" ch:"practitioner_ids"`
	PractitionerRoleIDs []string   `json:"practitioner_role_ids" ch:"practitioner_role_ids"`
	LocationIDs         []string   `json:"location_ids" ch:"location_ids"`
	ServiceTypes        []string   `json:"service_types" ch:"service_types"`
	AppointmentType     string     `json:"appointment_type" ch:"appointment_type"`
	VersionID           string     `json:"version_id" ch:"version_id"`
	LastUpdated         *time.Time `json:"last_updated" ch:"last_updated"`
	ImportedAt          time.Time  `json:"imported_at" ch:"imported_at"`
	ImportedBy          string     `json:"imported_by" ch:"imported_by"`
	Source              string     `json:"source" ch:"source"`
	RetainUntil         time.Time  `json:"retain_until" ch:"retain_until"`
}

// EncounterRow is one version of a FHIR Encounter.
type EncounterRow struct {
	TenantID            string     `json:"tenant_id" ch:"tenant_id"`
	EncounterID         string     `json:"encounter_id" ch:"encounter_id"`
	Status              string     `json:"status" ch:"status"`
	Class               string     `json:"class" ch:"class"`
	Types               []string   `json:"types" ch:"types"`
	PeriodStart         *time.Time `json:"period_start" ch:"period_start"`
	PeriodEnd           *time.Time `json:"period_end" ch:"period_end"`
	PatientID           string     `json:"patient_id" ch:"patient_id"`
	PractitionerIDs     []string   `json:"practitioner_ids" ch:"practitioner_ids"`
	PractitionerRoleIDs []string   `json:"practitioner_role_ids" ch:"practitioner_role_ids"`
	LocationIDs         []string   `json:"location_ids" ch:"location_ids"`
	AppointmentIDs      []string   `json:"appointment_ids" ch:"appointment_ids"`
	ServiceProvider     string     `json:"service_provider" ch:"service_provider"`
	VersionID           string     `json:"version_id" ch:"version_id"`
	LastUpdated         *time.Time `json:"last_updated" ch:"last_updated"`
	ImportedAt          time.Time  `json:"imported_at" ch:"imported_at"`
	ImportedBy          string     `json:"imported_by" ch:"imported_by"`
	Source              string     `json:"source" ch:"source"`
	RetainUntil         time.Time  `json:"retain_until" ch:"retain_until"`
}

// IdentityLinkRow is one account key of one identity-links build.
type IdentityLinkRow struct {
	TenantID    string    `json:"tenant_id" ch:"tenant_id"`
	AccountKey  string    `json:"account_key" ch:"account_key"`
	UserID      string    `json:"user_id" ch:"user_id"`
	Method      string    `json:"method" ch:"method"`
	Confidence  float32   `json:"confidence" ch:"confidence"`
	Evidence    string    `json:"evidence" ch:"evidence"`
	Candidates  []string  `json:"candidates" ch:"candidates"`
	Origin      string    `json:"origin" ch:"origin"`
	BuiltAt     time.Time `json:"built_at" ch:"built_at"`
	RetainUntil time.Time `json:"retain_until" ch:"retain_until"`
}

// date32 encodes Date32: days since 1970-01-01 as Int32, so birth dates
// before 1970 survive (Date is unsigned and would clamp them to 1970).
func (b rowBinary) date32(t time.Time) rowBinary {
	days := t.Unix() / 86400
	if t.Unix() < 0 && t.Unix()%86400 != 0 {
		days-- // floor, not truncation toward zero
	}
	return binary.LittleEndian.AppendUint32(b, uint32(int32(days)))
}

func (b rowBinary) nullableDate32(t *time.Time) rowBinary {
	if t == nil {
		return append(b, 1)
	}
	return append(b, 0).date32(*t)
}

func (b rowBinary) nullableDateTime64ms(t *time.Time) rowBinary {
	if t == nil {
		return append(b, 1)
	}
	return append(b, 0).dateTime64ms(*t)
}

func (r *AccountRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.System).str(r.AccountID).str(r.DisplayName).str(r.Email).boolean(r.Enabled).
		nullableDateTime64ms(r.Created).nullableDateTime64ms(r.LastLogin).strs(nonNil(r.Roles)).strs(nonNil(r.Groups)).
		boolean(r.Privileged).str(r.OwnerUserID).
		dateTime64ms(r.ImportedAt).str(r.ImportedBy).str(r.Source).date(r.RetainUntil)
}

func (r *PatientRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.PatientID).str(r.MRN).strs(nonNil(r.Identifiers)).
		str(r.Name).str(r.FamilyName).str(r.GivenNames).nullableDate32(r.BirthDate).str(r.Gender).
		str(r.AddressLine).str(r.City).str(r.State).str(r.PostalCode).str(r.Country).
		strs(nonNil(r.Phones)).strs(nonNil(r.Emails)).boolean(r.Deceased).nullableDateTime64ms(r.DeceasedAt).
		boolean(r.Active).boolean(r.Restricted).strs(nonNil(r.SecurityLabels)).
		strs(nonNil(r.GeneralPractitioners)).strs(nonNil(r.Linked)).str(r.VersionID).nullableDateTime64ms(r.LastUpdated).
		dateTime64ms(r.ImportedAt).str(r.ImportedBy).str(r.Source).date(r.RetainUntil)
}

func (r *PractitionerRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.PractitionerID).strs(nonNil(r.Identifiers)).str(r.NPI).
		str(r.Name).str(r.FamilyName).str(r.GivenNames).strs(nonNil(r.Emails)).strs(nonNil(r.Phones)).
		boolean(r.Active).str(r.VersionID).nullableDateTime64ms(r.LastUpdated).
		dateTime64ms(r.ImportedAt).str(r.ImportedBy).str(r.Source).date(r.RetainUntil)
}

func (r *PractitionerRoleRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.RoleID).str(r.PractitionerID).str(r.OrganizationID).
		strs(nonNil(r.Codes)).strs(nonNil(r.Specialties)).strs(nonNil(r.LocationIDs)).boolean(r.Active).
		nullableDateTime64ms(r.PeriodStart).nullableDateTime64ms(r.PeriodEnd).
		str(r.VersionID).nullableDateTime64ms(r.LastUpdated).
		dateTime64ms(r.ImportedAt).str(r.ImportedBy).str(r.Source).date(r.RetainUntil)
}

func (r *AppointmentRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.AppointmentID).str(r.Status).
		nullableDateTime64ms(r.StartTime).nullableDateTime64ms(r.EndTime).
		strs(nonNil(r.PatientIDs)).strs(nonNil(r.PractitionerIDs)).strs(nonNil(r.PractitionerRoleIDs)).
		strs(nonNil(r.LocationIDs)).strs(nonNil(r.ServiceTypes)).str(r.AppointmentType).
		str(r.VersionID).nullableDateTime64ms(r.LastUpdated).
		dateTime64ms(r.ImportedAt).str(r.ImportedBy).str(r.Source).date(r.RetainUntil)
}

func (r *EncounterRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.EncounterID).str(r.Status).str(r.Class).strs(nonNil(r.Types)).
		nullableDateTime64ms(r.PeriodStart).nullableDateTime64ms(r.PeriodEnd).str(r.PatientID).
		strs(nonNil(r.PractitionerIDs)).strs(nonNil(r.PractitionerRoleIDs)).strs(nonNil(r.LocationIDs)).
		strs(nonNil(r.AppointmentIDs)).str(r.ServiceProvider).
		str(r.VersionID).nullableDateTime64ms(r.LastUpdated).
		dateTime64ms(r.ImportedAt).str(r.ImportedBy).str(r.Source).date(r.RetainUntil)
}

func (r *IdentityLinkRow) appendRowBinary(buf []byte) []byte {
	return rowBinary(buf).
		str(r.TenantID).str(r.AccountKey).str(r.UserID).str(r.Method).f32(r.Confidence).
		str(r.Evidence).strs(nonNil(r.Candidates)).str(r.Origin).
		dateTime64ms(r.BuiltAt).date(r.RetainUntil)
}
