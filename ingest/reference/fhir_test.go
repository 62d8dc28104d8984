package reference

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// rejected finds the rejection at a position.
func rejected(rep FHIRReport, pos string) (RecordError, bool) {
	for _, r := range rep.Rejected {
		if r.Position == pos {
			return r, true
		}
	}
	return RecordError{}, false
}

func TestReadPatients(t *testing.T) {
	rows, rep, err := ReadPatients(open(t, "patients.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]int{}
	for i, r := range rows {
		byID[r.PatientID] = i
	}
	if len(rows) != 4 || rep.Resources != 4 || len(rep.Rejected) != 3 || rep.Skipped["Practitioner"] != 1 {
		t.Fatalf("rows %d, report %+v", len(rows), rep)
	}
	p1 := rows[byID["p1"]]
	if p1.MRN != "MRN001234" || p1.Name != "Rosa Maria Ortiz" || p1.FamilyName != "Ortiz" || p1.Gender != "female" ||
		p1.BirthDate.Format(time.DateOnly) != "1958-07-21" || p1.AddressLine != "48 Oak Avenue, Apt 2" || p1.City != "Riverside" ||
		p1.PostalCode != "02134" || p1.State != "MA" || p1.Emails[0] != "rosa@example.org" || p1.Phones[0] != "+1-555-0199" ||
		!p1.Restricted || !slices.Equal(p1.SecurityLabels, []string{"V", "VIP"}) || p1.Deceased || !p1.Active ||
		p1.GeneralPractitioners[0] != "Practitioner/88" || p1.Linked[0] != "RelatedPerson/rp1" || p1.VersionID != "1" ||
		p1.LastUpdated.Format(time.RFC3339) != "2026-10-01T16:00:00Z" || len(p1.Identifiers) != 2 ||
		p1.Identifiers[0] != "urn:oid:1.2.36.146.595.217.0.1|MRN001234" {
		t.Fatalf("p1 (official name, home address, V+VIP labels): %+v", p1)
	}
	p2 := rows[byID["p2"]]
	if p2.MRN != "MRN005678" || p2.Name != "Sam Q. Public" || !p2.Deceased || p2.DeceasedAt == nil ||
		p2.DeceasedAt.Format(time.RFC3339) != "2026-08-14T07:30:00Z" || !p2.Restricted {
		t.Fatalf("p2 (deceased as a dateTime, R label, MRN by system): %+v", p2)
	}
	p3 := rows[byID["p3"]]
	if p3.BirthDate != nil || p3.Deceased || p3.Active || p3.Restricted {
		t.Fatalf("p3 (partial birth date is NULL, deceasedBoolean false, inactive): %+v", p3)
	}
	if p4 := rows[byID["p4"]]; !p4.Deceased || p4.DeceasedAt != nil {
		t.Fatalf("p4 (a month of death: deceased, no instant): %+v", p4)
	}
	for pos, want := range map[string]string{
		"line 5": `Patient/p5: birthDate "1980-13-01" is not a calendar date`,
		"line 6": "Patient/p6: has both deceasedBoolean and deceasedDateTime",
		"line 7": `Patient/p7: meta.lastUpdated "2026-10-01T12:00:00" has a time but no time zone`,
	} {
		r, ok := rejected(rep, pos)
		if !ok || !strings.Contains(r.Error(), want) {
			t.Errorf("%s: got %v, want %q", pos, r, want)
		}
	}
}

func TestReadPractitioners(t *testing.T) {
	rows, rep, err := ReadPractitioners(open(t, "practitioners.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || len(rep.Rejected) != 3 {
		t.Fatalf("rows %+v, report %+v", rows, rep)
	}
	if p := rows[0]; p.PractitionerID != "77" || p.Name != "Dana Ortiz" || p.Emails[0] != "dana.ortiz@riverside.example" ||
		p.Identifiers[0] != "https://riverside.example/fhir/sid/employee|E1001" || p.VersionID != "3" || !p.Active {
		t.Fatalf("77: %+v", p)
	}
	if p := rows[1]; p.NPI != "1234567893" || p.Name != "Dr. Morgan Khan" {
		t.Fatalf("88: %+v", p)
	}
	if p := rows[2]; p.Emails[0] != "jamie.lee@riverside.example" {
		t.Fatalf("99: mailto: is dropped from emails: %+v", p)
	}
	for pos, want := range map[string]string{
		"line 5": "the resource has no id",
		"line 6": "Practitioner/101: active holds a JSON string, but FHIR wants true or false there",
		"line 7": "not a FHIR resource: not valid JSON",
	} {
		if r, ok := rejected(rep, pos); !ok || !strings.Contains(r.Error(), want) {
			t.Errorf("%s: got %v, want %q", pos, r, want)
		}
	}
}

func TestReadAppointmentsFromBundle(t *testing.T) {
	rows, rep, err := ReadAppointments(open(t, "schedule-bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || len(rep.Rejected) != 2 || rep.Skipped["Practitioner"] != 1 || rep.Skipped["OperationOutcome"] != 1 {
		t.Fatalf("rows %+v, report %+v", rows, rep)
	}
	a := rows[0]
	if a.AppointmentID != "a1" || a.Status != "booked" || a.StartTime.Format(time.RFC3339) != "2026-10-14T13:00:00Z" ||
		a.EndTime.Sub(*a.StartTime) != 20*time.Minute || !slices.Equal(a.PatientIDs, []string{"p1"}) ||
		!slices.Equal(a.PractitionerIDs, []string{"88"}) || !slices.Equal(a.PractitionerRoleIDs, []string{"r1"}) ||
		!slices.Equal(a.LocationIDs, []string{"main"}) || a.ServiceTypes[0] != "124" || a.AppointmentType != "ROUTINE" {
		t.Fatalf("a1 (the urn:uuid participant resolves through the Bundle's fullUrl): %+v", a)
	}
	if r, ok := rejected(rep, "line 1, Bundle entry 3"); !ok || !strings.Contains(r.Error(), `Appointment/a2: status "maybe" is not one of proposed`) {
		t.Errorf("a2: %v", r)
	}
	if r, ok := rejected(rep, "line 1, Bundle entry 4"); !ok || !strings.Contains(r.Error(), "end 2026-10-16T09:00:00Z is before start") {
		t.Errorf("a3: %v", r)
	}
}

func TestReadPractitionerRoles(t *testing.T) {
	rows, rep, err := ReadPractitionerRoles(open(t, "practitioner-roles.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || len(rep.Rejected) != 1 {
		t.Fatalf("rows %+v, report %+v", rows, rep)
	}
	r := rows[0]
	if r.RoleID != "r1" || r.PractitionerID != "88" || r.OrganizationID != "riverside" || r.Codes[0] != "doctor" ||
		r.Specialties[0] != "419772000" || r.LocationIDs[0] != "main" || r.PeriodStart.Format(time.RFC3339) != "2015-09-01T00:00:00Z" ||
		r.PeriodEnd.Year() != 2027 || !r.Active {
		t.Fatalf("r1: %+v", r)
	}
	if e, ok := rejected(rep, "line 2"); !ok || !strings.Contains(e.Error(), "PractitionerRole/r2: period.start") {
		t.Fatalf("r2 (a time without a zone): %v", e)
	}
}

func TestReadEncounters(t *testing.T) {
	rows, rep, err := ReadEncounters(open(t, "encounters.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(rep.Rejected) != 2 {
		t.Fatalf("rows %+v, report %+v", rows, rep)
	}
	e1 := rows[0]
	if e1.Status != "finished" || e1.Class != "AMB" || e1.PatientID != "p1" || !slices.Equal(e1.PractitionerIDs, []string{"88"}) ||
		!slices.Equal(e1.PractitionerRoleIDs, []string{"r1"}) || e1.AppointmentIDs[0] != "a1" || e1.LocationIDs[0] != "main" ||
		e1.ServiceProvider != "riverside" || e1.PeriodStart.Format(time.RFC3339) != "2026-10-14T13:02:00Z" || e1.Types[0] != "185349003" {
		t.Fatalf("e1 (R4): %+v", e1)
	}
	e2 := rows[1]
	if e2.Status != "completed" || e2.Class != "VR" || e2.PatientID != "p2" || e2.PractitionerIDs[0] != "77" || e2.PeriodStart == nil || e2.PeriodEnd != nil {
		t.Fatalf("e2 (R5 shapes: class list, participant.actor, actualPeriod): %+v", e2)
	}
	if r, _ := rejected(rep, "line 3"); !strings.Contains(r.Error(), "status is missing") {
		t.Errorf("e3: %v", r)
	}
	if r, _ := rejected(rep, "line 4"); !strings.Contains(r.Error(), "class: the resource holds a JSON string") {
		t.Errorf("e4: %v", r)
	}
}

func TestReadFHIREdges(t *testing.T) {
	cases := []struct {
		name, in   string
		rows       int
		rejected   []string // substrings, in order
		skippedKey string
	}{
		{name: "empty input", in: ""},
		{name: "BOM and CRLF NDJSON", in: "\ufeff{\"resourceType\":\"Patient\",\"id\":\"a\"}\r\n{\"resourceType\":\"Patient\",\"id\":\"b\"}\r\n", rows: 2},
		{name: "one pretty resource", in: "{\n  \"resourceType\": \"Patient\",\n  \"id\": \"a\"\n}\n", rows: 1},
		{name: "no resourceType", in: `{"id":"a"}`, rejected: []string{"line 1: not a FHIR resource: resourceType is missing"}},
		{name: "a JSON array", in: `[{"resourceType":"Patient","id":"a"}]`, rejected: []string{"line 1: not a FHIR resource: the resource holds a JSON array"}},
		{name: "bad id", in: `{"resourceType":"Patient","id":"a b"}`, rejected: []string{`id "a b" is not a FHIR id`}},
		{name: "entry without resource", in: `{"resourceType":"Bundle","entry":[{"request":{"method":"DELETE","url":"Patient/x"}}]}`, skippedKey: "Bundle entries without a resource"},
		{name: "entry resource without type", in: `{"resourceType":"Bundle","entry":[{"resource":{"id":"x"}}]}`, rejected: []string{"line 1, Bundle entry 1: the entry's resource has no resourceType"}},
		{name: "partial dates are valid", in: `{"resourceType":"Patient","id":"a","birthDate":"1970-01"}`, rows: 1},
		{name: "bad partial date", in: `{"resourceType":"Patient","id":"a","birthDate":"70"}`, rejected: []string{"is not a FHIR date"}},
		{name: "deceasedDateTime with a bad zone", in: `{"resourceType":"Patient","id":"a","deceasedDateTime":"2020-01-01T10:00:00+0100"}`, rejected: []string{"is not a FHIR dateTime"}},
		{name: "a bad line between good ones", in: "{\"resourceType\":\"Patient\",\"id\":\"a\"}\n{\"resourceType\":\"Patient\",\"id\":\n{\"resourceType\":\"Patient\",\"id\":\"c\"}\n", rows: 2, rejected: []string{"line 2: not a FHIR resource"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows, rep, err := ReadPatients(strings.NewReader(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != c.rows || len(rep.Rejected) != len(c.rejected) {
				t.Fatalf("rows %+v, rejected %v; want %d rows, %d rejected", rows, rep.Rejected, c.rows, len(c.rejected))
			}
			for i, want := range c.rejected {
				if !strings.Contains(rep.Rejected[i].Error(), want) {
					t.Errorf("rejection %d: %q, want %q", i, rep.Rejected[i].Error(), want)
				}
			}
			if c.skippedKey != "" && rep.Skipped[c.skippedKey] != 1 {
				t.Errorf("skipped %v, want %q", rep.Skipped, c.skippedKey)
			}
		})
	}
	// The same id twice: the later version in the file is kept, and said.
	rows, rep, err := ReadPatients(strings.NewReader(`{"resourceType":"Patient","id":"a","gender":"male"}` + "\n" + `{"resourceType":"Patient","id":"a","gender":"female"}`))
	if err != nil || len(rows) != 1 || rows[0].Gender != "female" || len(rep.Duplicates) != 1 {
		t.Fatalf("duplicate ids: %+v %+v %v", rows, rep, err)
	}
}
