package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The same seed gives the same practice and another seed another one, and
// every planted patient reaches the patients feed.
func TestGenerateSeeds(t *testing.T) {
	end := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	a, err := Generate(Options{Seed: 1, End: end})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(Options{Seed: 1, End: end})
	c, _ := Generate(Options{Seed: 2, End: end})
	if !bytes.Equal(a.FHIR, b.FHIR) || !bytes.Equal(a.Appointments, b.Appointments) {
		t.Error("seed 1 twice gave different practices")
	}
	if bytes.Equal(a.FHIR, c.FHIR) {
		t.Error("seeds 1 and 2 gave the same EHR log")
	}
	for _, id := range []string{ptVIP, ptRestricted, ptDeceased, ptFamily, ptCoworker, ptOrtizA, ptOrtizB, ptBreakGlass, ptOnCall} {
		if !strings.Contains(string(a.Patients), `"id":"`+id+`"`) {
			t.Errorf("patient %s is not in the patients feed", id)
		}
	}
	t.Logf("seed 1: %v %v; seed 2: %v %v", a.Records, a.References, c.Records, c.References)
}
