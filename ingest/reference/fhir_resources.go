package reference

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/phiwatch/phiwatch/internal/store"
)

// NPISystem is the FHIR identifier system of US National Provider
// Identifiers.
const NPISystem = "http://hl7.org/fhir/sid/us-npi"

// RestrictedLabels are the Patient meta.security codes that make a patient
// restricted: HL7 confidentiality R (restricted) and V (very restricted),
// and the sensitivity policies for VIPs, celebrities (CEL) and the
// practice's own employees (EMP), whose charts are what coworkers snoop on.
// Other labels (HIV, PSY, ETH, …) are kept in security_labels but describe
// parts of the record, not the patient.
var RestrictedLabels = []string{"R", "V", "VIP", "CEL", "EMP"}

func isRestricted(code string) bool {
	for _, r := range RestrictedLabels {
		if strings.EqualFold(code, r) {
			return true
		}
	}
	return false
}

type fhirPatient struct {
	fhirBase
	Active              *bool              `json:"active"`
	Identifier          []fhirIdentifier   `json:"identifier"`
	Name                []fhirHumanName    `json:"name"`
	Telecom             []fhirContactPoint `json:"telecom"`
	Gender              string             `json:"gender"`
	BirthDate           string             `json:"birthDate"`
	DeceasedBoolean     *bool              `json:"deceasedBoolean"`
	DeceasedDateTime    *string            `json:"deceasedDateTime"`
	Address             []fhirAddress      `json:"address"`
	GeneralPractitioner []fhirReference    `json:"generalPractitioner"`
	Link                []struct {
		Other fhirReference `json:"other"`
		Type  string        `json:"type"`
	} `json:"link"`
}

// ReadPatients reads FHIR Patient resources.
func ReadPatients(r io.Reader) ([]store.PatientRow, FHIRReport, error) {
	return readFHIR(r, "Patient", patientRow)
}

func patientRow(data []byte, refs bundleRefs) (store.PatientRow, string, error) {
	var p fhirPatient
	if err := decode(data, &p); err != nil {
		return store.PatientRow{}, "", err
	}
	updated, err := p.check()
	if err != nil {
		return store.PatientRow{}, "", err
	}
	row := store.PatientRow{PatientID: p.ID, VersionID: p.Meta.VersionID, LastUpdated: updated,
		Identifiers: identifierTokens(p.Identifier), MRN: mrn(p.Identifier),
		Gender: strings.ToLower(strings.TrimSpace(p.Gender)), Active: p.Active == nil || *p.Active}
	n := pickName(p.Name)
	row.Name, row.FamilyName, row.GivenNames = n.display(), strings.TrimSpace(n.Family), strings.Join(n.Given, " ")
	row.Phones, row.Emails = telecoms(p.Telecom)
	if row.BirthDate, err = fhirDate("birthDate", p.BirthDate); err != nil {
		return row, "", err
	}
	switch {
	case p.DeceasedBoolean != nil && p.DeceasedDateTime != nil:
		return row, "", errors.New("has both deceasedBoolean and deceasedDateTime; FHIR allows one")
	case p.DeceasedBoolean != nil:
		row.Deceased = *p.DeceasedBoolean
	case p.DeceasedDateTime != nil:
		// A date of death, even a partial one, says the patient died.
		row.Deceased = true
		if row.DeceasedAt, err = fhirDateTime("deceasedDateTime", *p.DeceasedDateTime); err != nil {
			return row, "", err
		}
	}
	if a, ok := homeAddress(p.Address); ok {
		row.AddressLine, row.City, row.State, row.PostalCode, row.Country =
			strings.Join(a.Line, ", "), a.City, a.State, a.PostalCode, a.Country
		if row.AddressLine == "" && row.City == "" {
			row.AddressLine = a.Text
		}
	}
	for _, s := range p.Meta.Security {
		if c := strings.TrimSpace(s.Code); c != "" {
			row.SecurityLabels = append(row.SecurityLabels, c)
			row.Restricted = row.Restricted || isRestricted(c)
		}
	}
	for _, gp := range p.GeneralPractitioner {
		if s := refs.refString(gp); s != "" {
			row.GeneralPractitioners = append(row.GeneralPractitioners, s)
		}
	}
	for _, l := range p.Link {
		if s := refs.refString(l.Other); s != "" {
			row.Linked = append(row.Linked, s)
		}
	}
	return row, p.ID, nil
}

// mrn is the medical record number: the identifier typed MR (HL7 v2
// table 0203), else one whose system names an MRN.
func mrn(ids []fhirIdentifier) string {
	for _, id := range ids {
		for _, c := range id.Type.Coding {
			if c.Code == "MR" && strings.TrimSpace(id.Value) != "" {
				return strings.TrimSpace(id.Value)
			}
		}
	}
	for _, id := range ids {
		if strings.Contains(strings.ToLower(id.System), "mrn") && strings.TrimSpace(id.Value) != "" {
			return strings.TrimSpace(id.Value)
		}
	}
	return ""
}

// homeAddress prefers the home address, then any current one.
func homeAddress(as []fhirAddress) (fhirAddress, bool) {
	for _, a := range as {
		if a.Use == "home" {
			return a, true
		}
	}
	for _, a := range as {
		if a.Use != "old" {
			return a, true
		}
	}
	return fhirAddress{}, false
}

type fhirPractitioner struct {
	fhirBase
	Active     *bool              `json:"active"`
	Identifier []fhirIdentifier   `json:"identifier"`
	Name       []fhirHumanName    `json:"name"`
	Telecom    []fhirContactPoint `json:"telecom"`
}

// ReadPractitioners reads FHIR Practitioner resources.
func ReadPractitioners(r io.Reader) ([]store.PractitionerRow, FHIRReport, error) {
	return readFHIR(r, "Practitioner", practitionerRow)
}

func practitionerRow(data []byte, _ bundleRefs) (store.PractitionerRow, string, error) {
	var p fhirPractitioner
	if err := decode(data, &p); err != nil {
		return store.PractitionerRow{}, "", err
	}
	updated, err := p.check()
	if err != nil {
		return store.PractitionerRow{}, "", err
	}
	row := store.PractitionerRow{PractitionerID: p.ID, VersionID: p.Meta.VersionID, LastUpdated: updated,
		Identifiers: identifierTokens(p.Identifier), Active: p.Active == nil || *p.Active}
	for _, id := range p.Identifier {
		if id.System == NPISystem && row.NPI == "" {
			row.NPI = strings.TrimSpace(id.Value)
		}
	}
	n := pickName(p.Name)
	row.Name, row.FamilyName, row.GivenNames = n.display(), strings.TrimSpace(n.Family), strings.Join(n.Given, " ")
	row.Phones, row.Emails = telecoms(p.Telecom)
	return row, p.ID, nil
}

type fhirPractitionerRole struct {
	fhirBase
	Active       *bool           `json:"active"`
	Period       fhirPeriod      `json:"period"`
	Practitioner fhirReference   `json:"practitioner"`
	Organization fhirReference   `json:"organization"`
	Code         []fhirConcept   `json:"code"`
	Specialty    []fhirConcept   `json:"specialty"`
	Location     []fhirReference `json:"location"`
}

// ReadPractitionerRoles reads FHIR PractitionerRole resources.
func ReadPractitionerRoles(r io.Reader) ([]store.PractitionerRoleRow, FHIRReport, error) {
	return readFHIR(r, "PractitionerRole", practitionerRoleRow)
}

func practitionerRoleRow(data []byte, refs bundleRefs) (store.PractitionerRoleRow, string, error) {
	var p fhirPractitionerRole
	if err := decode(data, &p); err != nil {
		return store.PractitionerRoleRow{}, "", err
	}
	updated, err := p.check()
	if err != nil {
		return store.PractitionerRoleRow{}, "", err
	}
	row := store.PractitionerRoleRow{RoleID: p.ID, VersionID: p.Meta.VersionID, LastUpdated: updated,
		PractitionerID: refs.idOf(p.Practitioner, "Practitioner"), OrganizationID: refs.idOf(p.Organization, "Organization"),
		Codes: conceptCodes(p.Code), Specialties: conceptCodes(p.Specialty), Active: p.Active == nil || *p.Active}
	for _, l := range p.Location {
		if id := refs.idOf(l, "Location"); id != "" {
			row.LocationIDs = append(row.LocationIDs, id)
		}
	}
	if row.PeriodStart, err = fhirDateTime("period.start", p.Period.Start); err != nil {
		return row, "", err
	}
	if row.PeriodEnd, err = fhirDateTime("period.end", p.Period.End); err != nil {
		return row, "", err
	}
	return row, p.ID, nil
}

// AppointmentStatuses is FHIR R4's appointmentstatus value set.
var AppointmentStatuses = []string{"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow", "entered-in-error", "checked-in", "waitlist"}

type fhirAppointment struct {
	fhirBase
	Status          string        `json:"status"`
	ServiceType     []fhirConcept `json:"serviceType"`
	AppointmentType fhirConcept   `json:"appointmentType"`
	Start           string        `json:"start"`
	End             string        `json:"end"`
	Participant     []struct {
		Actor fhirReference `json:"actor"`
	} `json:"participant"`
}

// ReadAppointments reads FHIR Appointment resources.
func ReadAppointments(r io.Reader) ([]store.AppointmentRow, FHIRReport, error) {
	return readFHIR(r, "Appointment", appointmentRow)
}

func appointmentRow(data []byte, refs bundleRefs) (store.AppointmentRow, string, error) {
	var a fhirAppointment
	if err := decode(data, &a); err != nil {
		return store.AppointmentRow{}, "", err
	}
	updated, err := a.check()
	if err != nil {
		return store.AppointmentRow{}, "", err
	}
	row := store.AppointmentRow{AppointmentID: a.ID, VersionID: a.Meta.VersionID, LastUpdated: updated,
		ServiceTypes: conceptCodes(a.ServiceType), AppointmentType: a.AppointmentType.code()}
	if row.Status, err = oneOf("status", a.Status, AppointmentStatuses); err != nil {
		return row, "", err
	}
	if row.StartTime, err = fhirDateTime("start", a.Start); err != nil {
		return row, "", err
	}
	if row.EndTime, err = fhirDateTime("end", a.End); err != nil {
		return row, "", err
	}
	if row.StartTime != nil && row.EndTime != nil && row.EndTime.Before(*row.StartTime) {
		return row, "", fmt.Errorf("end %s is before start %s", a.End, a.Start)
	}
	for _, p := range a.Participant {
		sortParticipant(refs, p.Actor, &row.PatientIDs, &row.PractitionerIDs, &row.PractitionerRoleIDs, &row.LocationIDs)
	}
	return row, a.ID, nil
}

// sortParticipant files a participant reference under its resource type;
// other participants (RelatedPerson, Device, HealthcareService) are not
// needed to explain an access and are left out.
func sortParticipant(refs bundleRefs, r fhirReference, patients, practitioners, roles, locations *[]string) {
	typ, id := refs.parts(r)
	switch typ {
	case "Patient":
		*patients = append(*patients, id)
	case "Practitioner":
		*practitioners = append(*practitioners, id)
	case "PractitionerRole":
		*roles = append(*roles, id)
	case "Location":
		*locations = append(*locations, id)
	}
}

// EncounterStatuses is the union of FHIR R4's and R5's encounter statuses,
// so exports of either version import.
var EncounterStatuses = []string{"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error", "unknown",
	"on-hold", "discharged", "completed", "discontinued"}

type fhirEncounter struct {
	fhirBase
	Status          string          `json:"status"`
	Class           json.RawMessage `json:"class"` // R4: Coding; R5: CodeableConcept[]
	Type            []fhirConcept   `json:"type"`
	Subject         fhirReference   `json:"subject"`
	Period          fhirPeriod      `json:"period"`
	ActualPeriod    fhirPeriod      `json:"actualPeriod"` // R5
	ServiceProvider fhirReference   `json:"serviceProvider"`
	Appointment     []fhirReference `json:"appointment"`
	Participant     []struct {
		Individual fhirReference `json:"individual"` // R4
		Actor      fhirReference `json:"actor"`      // R5
	} `json:"participant"`
	Location []struct {
		Location fhirReference `json:"location"`
	} `json:"location"`
}

// ReadEncounters reads FHIR Encounter resources (R4, and R5's renamed
// fields).
func ReadEncounters(r io.Reader) ([]store.EncounterRow, FHIRReport, error) {
	return readFHIR(r, "Encounter", encounterRow)
}

func encounterRow(data []byte, refs bundleRefs) (store.EncounterRow, string, error) {
	var e fhirEncounter
	if err := decode(data, &e); err != nil {
		return store.EncounterRow{}, "", err
	}
	updated, err := e.check()
	if err != nil {
		return store.EncounterRow{}, "", err
	}
	row := store.EncounterRow{EncounterID: e.ID, VersionID: e.Meta.VersionID, LastUpdated: updated,
		Types: conceptCodes(e.Type), PatientID: refs.idOf(e.Subject, "Patient"),
		ServiceProvider: refs.idOf(e.ServiceProvider, "Organization")}
	if row.Status, err = oneOf("status", e.Status, EncounterStatuses); err != nil {
		return row, "", err
	}
	if row.Class, err = encounterClass(e.Class); err != nil {
		return row, "", err
	}
	period := e.Period
	if period.Start == "" && period.End == "" {
		period = e.ActualPeriod
	}
	if row.PeriodStart, err = fhirDateTime("period.start", period.Start); err != nil {
		return row, "", err
	}
	if row.PeriodEnd, err = fhirDateTime("period.end", period.End); err != nil {
		return row, "", err
	}
	var patients []string
	for _, p := range e.Participant {
		ref := p.Individual
		if ref.Reference == "" {
			ref = p.Actor
		}
		sortParticipant(refs, ref, &patients, &row.PractitionerIDs, &row.PractitionerRoleIDs, &row.LocationIDs)
	}
	for _, a := range e.Appointment {
		if id := refs.idOf(a, "Appointment"); id != "" {
			row.AppointmentIDs = append(row.AppointmentIDs, id)
		}
	}
	for _, l := range e.Location {
		if id := refs.idOf(l.Location, "Location"); id != "" {
			row.LocationIDs = append(row.LocationIDs, id)
		}
	}
	return row, e.ID, nil
}

// encounterClass reads R4's class Coding or R5's list of concepts.
func encounterClass(raw json.RawMessage) (string, error) {
	raw = json.RawMessage(strings.TrimSpace(string(raw)))
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '[' {
		var cs []fhirConcept
		if err := json.Unmarshal(raw, &cs); err != nil {
			return "", fmt.Errorf("class: %s", jsonProblem(err))
		}
		if codes := conceptCodes(cs); len(codes) > 0 {
			return codes[0], nil
		}
		return "", nil
	}
	var c fhirCoding
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", fmt.Errorf("class: %s", jsonProblem(err))
	}
	return strings.TrimSpace(c.Code), nil
}
