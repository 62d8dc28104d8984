package synth

import (
	"bytes"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/ingest/parsers"
)

func TestEventsAreValidAndDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := New(Options{Seed: 7}).WriteNDJSON(&a, 500); err != nil {
		t.Fatal(err)
	}
	New(Options{Seed: 7}).WriteNDJSON(&b, 500)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed gave different output")
	}
	kinds := map[string]int{}
	for i, line := range bytes.Split(bytes.TrimSpace(a.Bytes()), []byte("\n")) {
		evs, err := parsers.Native{}.Parse(parsers.Record{Data: line})
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if err := evs[0].Validate(time.Now()); err != nil {
			t.Fatalf("line %d invalid: %v", i+1, err)
		}
		kinds[string(evs[0].SourceKind)]++
	}
	if len(kinds) != 3 {
		t.Fatalf("kinds %v, want ehr, email and vpn", kinds)
	}
}
