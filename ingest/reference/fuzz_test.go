package reference

import (
	"bytes"
	"os"
	"testing"
)

// The readers take files from practices' exports: whatever the bytes, they
// return rows or errors, never panic, and every rejection says where.

func addTestdata(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzReadFHIR(f *testing.F) {
	addTestdata(f, "patients.ndjson", "practitioners.ndjson", "schedule-bundle.json", "practitioner-roles.ndjson", "encounters.ndjson")
	f.Add([]byte(`{"resourceType":"Patient","id":"a","deceasedDateTime":"2020T1:"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(rep FHIRReport, err error) {
			if err != nil {
				return
			}
			for _, r := range rep.Rejected {
				if r.Position == "" || r.Reason == "" {
					t.Fatalf("a rejection without position or reason: %+v", r)
				}
			}
		}
		_, rep, err := ReadPatients(bytes.NewReader(data))
		check(rep, err)
		_, rep, err = ReadPractitioners(bytes.NewReader(data))
		check(rep, err)
		_, rep, err = ReadPractitionerRoles(bytes.NewReader(data))
		check(rep, err)
		_, rep, err = ReadAppointments(bytes.NewReader(data))
		check(rep, err)
		_, rep, err = ReadEncounters(bytes.NewReader(data))
		check(rep, err)
	})
}

func FuzzParseCSV(f *testing.F) {
	addTestdata(f, "roster.csv", "roster-bom-crlf.csv", "roster-legacy.csv", "accounts.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		if people, err := ParseRoster(bytes.NewReader(data), "clinic-a"); err == nil {
			for _, p := range people {
				if p.UserID == "" {
					t.Fatal("a person without a user_id was accepted")
				}
			}
		}
		if rows, err := ParseAccounts(bytes.NewReader(data), "clinic-a", "vpn"); err == nil {
			for _, r := range rows {
				if r.AccountID == "" || r.System == "" {
					t.Fatalf("an account without id or system was accepted: %+v", r)
				}
			}
		}
	})
}
