package analyze

import (
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

func TestRelationshipRules(t *testing.T) {
	f := clinic(t, "clinic-rel")
	bd := time.Date(1980, 3, 4, 0, 0, 0, 0, time.UTC)
	cbd := time.Date(1975, 6, 7, 0, 0, 0, 0, time.UTC)
	died := relDay.AddDate(0, 0, -5)
	f.workforce(
		store.WorkforceRow{UserID: "sam", Name: "Sam Lee", FirstName: "Sam", LastName: "Lee", Role: "nurse", Department: "pediatrics",
			BirthDate: &bd, Phone: "+1 (555) 010-2030", HomeStreet: "12 Oak Street", HomePostalCode: "02139-1234"},
		store.WorkforceRow{UserID: "cora", Name: "Cora Diaz", FirstName: "Cora", LastName: "Diaz", Role: "medical_assistant", BirthDate: &cbd},
	)
	f.patients(
		store.PatientRow{PatientID: "self", MRN: "MRN1", FamilyName: "Lee", GivenNames: "Sam", BirthDate: &bd},
		store.PatientRow{PatientID: "kin", MRN: "MRN2", FamilyName: "Lee", GivenNames: "Ann", AddressLine: "12 oak st", PostalCode: "02139"},
		store.PatientRow{PatientID: "namesake", MRN: "MRN3", FamilyName: "Lee", GivenNames: "Bo", AddressLine: "9 Elm St", PostalCode: "02140", Phones: []string{"555-999-0000"}},
		store.PatientRow{PatientID: "cow", MRN: "MRN4", FamilyName: "Diaz", GivenNames: "Cora", BirthDate: &cbd},
		store.PatientRow{PatientID: "vip", MRN: "MRN5", SecurityLabels: []string{"http://terminology.hl7.org/CodeSystem/v3-ActCode|VIP"}, Restricted: true},
		store.PatientRow{PatientID: "dead", MRN: "MRN6", Deceased: true, DeceasedAt: &died},
	)
	f.appointment("a-cow", "cow", relDay, "77")
	f.encounter("e-vip", "vip", relDay, "77")
	f.access("sam", "self", relDay, nil)
	f.access("sam", "kin", relDay, nil)
	f.access("sam", "namesake", relDay, nil)
	f.access("omar", "cow", relDay, nil)  // coworker, unexplained: alert
	f.access("priya", "cow", relDay, nil) // coworker, explained by her department: no alert
	f.access("omar", "vip", relDay, nil)  // VIP, unexplained: alert
	f.access("kim", "vip", relDay, nil)   // VIP, explained by the encounter: no alert
	f.access("omar", "dead", relDay, nil) // after death: alert
	f.access("bill", "dead", relDay, nil) // billing after death: no alert
	f.flush()

	cases := []struct {
		d       Detector
		want    [][2]string // actor, patient
		sev     string
		contain string
	}{
		{SelfLookup{}, [][2]string{{"sam", "self"}}, SeverityMedium, "opened their own chart (patient MRN1): the patient record has their name and birth date"},
		{FamilyMemberLookup{}, [][2]string{{"sam", "kin"}}, SeverityHigh, "shares their last name and home address (street and postal code)"},
		{CoworkerLookup{}, [][2]string{{"omar", "cow"}}, SeverityHigh, "a coworker"},
		{RestrictedPatientAccess{}, [][2]string{{"omar", "vip"}}, SeverityHigh, "restricted chart of patient MRN5 (security label VIP)"},
		{DeceasedPatientAccess{}, [][2]string{{"omar", "dead"}}, SeverityMedium, "5 days after the patient's recorded death"},
	}
	for _, c := range cases {
		t.Run(c.d.Rule(), func(t *testing.T) {
			alerts := f.detect(c.d)
			if len(alerts) != len(c.want) {
				t.Fatalf("%d alerts, want %v", len(alerts), c.want)
			}
			for _, w := range c.want {
				a := alertsFor(alerts, w[0], w[1])
				if len(a) != 1 || a[0].Severity != c.sev || !strings.Contains(a[0].Reason, c.contain) || len(a[0].EvidenceEventIDs) != 1 {
					t.Fatalf("%v: %+v", w, a)
				}
				if strings.Contains(a[0].Reason, "Cora Diaz") || strings.Contains(a[0].Reason, "Ann") {
					t.Fatalf("reason names the patient: %s", a[0].Reason)
				}
			}
		})
	}
}

func TestNormalizers(t *testing.T) {
	if normStreet("12 Oak Street, Apt. 3") != normStreet("12 oak st apt 3") || normPostal("02139-1234") != "02139" ||
		normPhone("+1 (555) 010-2030") != "5550102030" || normPhone("123") != "" {
		t.Fatal("normalizers")
	}
}
