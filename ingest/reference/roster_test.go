package reference

import (
	"strings"
	"testing"
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
