package reference

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseRoster(t *testing.T) {
	good := "User_ID,name,role,termination_date,aliases\n" +
		"dortiz,Dana Ortiz,front_desk,,dana.ortiz@clinic.example;DORTIZ\n" +
		"jlee,Jamie Lee,nurse,2026-10-12,\n"
	people, err := ParseRoster(strings.NewReader(good), "clinic-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(people) != 2 || people[0].Aliases[1] != "DORTIZ" || people[1].TerminationDate == nil || people[1].TerminationDate.Day() != 12 || people[0].TerminationDate != nil {
		t.Fatalf("parsed %+v", people)
	}
	bad := []struct{ name, csv, want string }{
		{"no user_id column", "name,role\nx,y\n", "no user_id column"},
		{"unknown column", "user_id,salary\nx,1\n", `unknown column "salary"`},
		{"empty id", "user_id,name\n,Nobody\n", "line 2: user_id is empty"},
		{"duplicate", "user_id\nx\nX\n", "already on line 2"},
		{"bad date", "user_id,termination_date\nx,12/10/2026\n", "line 2: termination_date"},
		{"other tenant", "user_id,tenant_id\nx,clinic-b\n", "importing into"},
		{"empty", "user_id\n", "no people"},
		{"empty file", "", "the file is empty"},
		{"column twice", "user_id,name,full_name\nx,a,b\n", `column "name" appears twice`},
		{"bad email", "user_id,email\nx,dana.ortiz.example\n", `line 2: email "dana.ortiz.example" is not an email address`},
		{"bad upn", "user_id,m365_upn\nx,a@b@c\n", "m365_upn"},
		{"bad npi", "user_id,npi\nx,1234567890\n", "not a 10-digit NPI"},
		{"fired before hired", "user_id,hire_date,termination_date\nx,2026-01-02,2025-01-01\n", "termination_date 2025-01-01 is before hire_date 2026-01-02"},
		{"born in the future", "user_id,birth_date\nx,2999-01-01\n", "not a plausible birth date"},
		{"bad quote", "user_id,name\nx,\"Dana \"D\" Ortiz\"\ny,ok\n", "line 2:"},
		{"every problem listed", "user_id,email,birth_date\n,x,1800-01-01\n", "user_id is empty; email \"x\" is not an email address; birth_date 1800-01-01"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseRoster(strings.NewReader(c.csv), "clinic-a")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestParseRosterWide(t *testing.T) {
	f, err := os.Open("testdata/roster.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	people, err := ParseRoster(f, "riverside-family")
	if err != nil {
		t.Fatal(err)
	}
	if len(people) != 5 {
		t.Fatalf("%d people, want 5", len(people))
	}
	m := people[0]
	if m.Name != "Morgan Khan" || m.FirstName != "Morgan" || m.LastName != "Khan" || m.JobTitle != "Medical Director" || m.NPI != "1234567893" ||
		m.EHRUsername != "mkhan" || m.M365UPN != "morgan.khan@riverside.example" || m.VPNUsername != "mkhan" || m.EmployeeID != "E1000" ||
		m.HomeStreet != "12 Elm Street" || m.HomeCity != "Riverside" || m.HomePostalCode != "02134" || m.Phone != "+1-555-0100" ||
		m.BirthDate == nil || m.BirthDate.Format(time.DateOnly) != "1968-02-29" {
		t.Fatalf("name built from first and last, every column read: %+v", m)
	}
	if j := people[2]; j.TerminationDate == nil || j.VPNUsername != "vpn-jlee" || len(j.Aliases) != 1 {
		t.Fatalf("jlee: %+v", j)
	}
}

// Files from spreadsheets: a byte order mark, CRLF line ends, short lines,
// rows that are only commas, header aliases.
func TestParseRosterSpreadsheetQuirks(t *testing.T) {
	f, err := os.Open("testdata/roster-bom-crlf.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	people, err := ParseRoster(f, "clinic-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(people) != 2 || people[0].UserID != "sreyes" || people[1].Email != "ben.ward@riverside.example" || people[1].TerminationDate == nil {
		t.Fatalf("BOM/CRLF roster: %+v", people)
	}
	quirky := "USER_ID , Full_Name,DOB,home_zip,manager,\n" +
		"kim,Kim Park,1950-01-31\n" + // short line
		",,,,\n" + // an all-blank row, as spreadsheets leave
		"lee,Lee Chan,,02134,kim\n"
	people, err = ParseRoster(strings.NewReader(quirky), "clinic-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(people) != 2 || people[0].Name != "Kim Park" || people[0].BirthDate.Year() != 1950 || people[1].HomePostalCode != "02134" || people[1].ManagerID != "kim" {
		t.Fatalf("quirky roster: %+v", people)
	}
	legacy, err := os.Open("testdata/roster-legacy.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer legacy.Close()
	if people, err = ParseRoster(legacy, "clinic-a"); err != nil || len(people) != 2 || people[1].Aliases[1] != "vpn-jlee" {
		t.Fatalf("the original roster format still reads: %+v, %v", people, err)
	}
}

func TestValidNPI(t *testing.T) {
	for npi, want := range map[string]bool{"1234567893": true, "1245319599": true, "1234567890": false, "123456789": false, "12345678a3": false} {
		if got := validNPI(npi); got != want {
			t.Errorf("validNPI(%s) = %v, want %v", npi, got, want)
		}
	}
}

func TestRosterRows(t *testing.T) {
	people, err := ParseRoster(strings.NewReader("user_id,birth_date,vpn_username\nx,1950-06-01,vpn-x\n"), "clinic-a")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 10, 1, 9, 0, 0, 123456789, time.UTC)
	rows, err := RosterRows("clinic-a", people, "ops", "roster.csv", at, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	if r.VPNUsername != "vpn-x" || r.BirthDate.Year() != 1950 || !r.ImportedAt.Equal(at.Truncate(time.Millisecond)) || r.RetainUntil.Year() != 2033 {
		t.Fatalf("row %+v", r)
	}
	if _, err := RosterRows("Clinic A", people, "", "", at, 0); err == nil {
		t.Fatal("an invalid tenant was accepted")
	}
}
