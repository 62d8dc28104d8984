package records

import (
	"bytes"
	"strings"
	"testing"
)

// CSV imports are uploaded by users: no input may panic, and whatever is
// accepted is valid and survives a round trip.
func FuzzReadCSVIncident(f *testing.F) {
	f.Add("record_id,title,source,status,discovered,affected,by_state\ni1,Lost laptop,manual,open,2026-12-31,3,\"{\"\"TX\"\":3}\"\n")
	f.Add("record_id,version\n'=x,1\n")
	f.Add("record_id,assessment\ni2,{\"nature_extent\":{\"risk\":\"low\"}}\n")
	f.Fuzz(func(t *testing.T, in string) {
		recs, _ := ReadCSV[Incident](strings.NewReader(in))
		for _, r := range recs {
			if err := r.Body.Validate(); err != nil {
				t.Fatalf("accepted an invalid incident: %v", err)
			}
		}
		vs := make([]Versioned[Incident], len(recs))
		for i, r := range recs {
			vs[i] = Versioned[Incident]{ID: r.ID, Version: r.Version, Body: r.Body}
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, vs); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCSV[Incident](&buf)
		if err != nil || len(back) != len(recs) {
			t.Fatalf("round trip: %d of %d back, %v", len(back), len(recs), err)
		}
	})
}

func FuzzParseCompletionsCSV(f *testing.F) {
	f.Add("course_id,person,completed_on,score\nsec,ann,2026-11-27,90\n")
	f.Add("\ufeffPerson,Course_ID,Completed_On\nann,sec,2026-01-01\n")
	f.Fuzz(func(t *testing.T, in string) {
		cs, _ := ParseCompletionsCSV(strings.NewReader(in), "fuzz")
		for _, c := range cs {
			if err := c.Validate(); err != nil {
				t.Fatalf("accepted an invalid completion: %v", err)
			}
		}
	})
}

func FuzzParseStates(f *testing.F) {
	f.Add("TX=501,OK=12")
	f.Add("tx:1, ok : 2")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseStates(in)
		if err != nil {
			return
		}
		_, _ = BreachClock(ClockInput{Discovered: NewDate(2026, 1, 1), Affected: 1 << 30, ByState: m})
	})
}
