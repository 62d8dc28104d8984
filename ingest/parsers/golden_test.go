package parsers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files from the parsers' output")

// receivedAt is fixed so golden output does not depend on the clock.
var receivedAt = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// render parses input the way ingest does (the parser's own framing, or a
// line at a time) and renders each record's events and error as text.
func render(p Parser, input []byte) []byte {
	var out bytes.Buffer
	handle := func(data []byte, pos string) error {
		rec := Record{Data: data, Origin: "in:" + pos, Tenant: "clinic-golden", ReceivedAt: receivedAt}
		evs, err := p.Parse(rec)
		if err != nil {
			fmt.Fprintf(&out, "record %s: error: %v\n", pos, err)
		}
		for _, e := range evs {
			if verr := e.Validate(receivedAt); verr != nil {
				fmt.Fprintf(&out, "record %s: invalid: %s\n", pos, strings.ReplaceAll(verr.Error(), "\n", "; "))
				continue
			}
			b, _ := json.MarshalIndent(e, "", "  ")
			fmt.Fprintf(&out, "record %s: %s\n", pos, b)
		}
		return nil
	}
	if f, ok := p.(Framer); ok {
		if err := f.Frame(bytes.NewReader(input), handle); err != nil {
			fmt.Fprintf(&out, "framing error: %v\n", err)
		}
		return out.Bytes()
	}
	sc := bufio.NewScanner(bytes.NewReader(input))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		handle(append([]byte(nil), sc.Bytes()...), fmt.Sprint(line))
	}
	return out.Bytes()
}

// TestGolden runs every parser over testdata/<format>/*.input and compares
// with the .golden file beside it (go test -update rewrites them).
func TestGolden(t *testing.T) {
	for _, p := range All() {
		inputs, _ := filepath.Glob(filepath.Join("testdata", p.Name(), "*.input"))
		if len(inputs) == 0 {
			t.Errorf("parser %s has no golden inputs in testdata/%s", p.Name(), p.Name())
		}
		for _, in := range inputs {
			t.Run(p.Name()+"/"+filepath.Base(in), func(t *testing.T) {
				data, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				got := render(p, data)
				golden := strings.TrimSuffix(in, ".input") + ".golden"
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("output differs from %s (go test -update rewrites it; review the diff)\n--- got\n%s", golden, got)
				}
			})
		}
	}
}

// TestRegistered checks each format is listed with its kind and framing.
func TestRegistered(t *testing.T) {
	for _, c := range []struct {
		name   string
		kind   event.SourceKind
		framer bool
	}{
		{"phiwatch-ndjson", "", false},
		{"fhir-auditevent", event.KindEHR, true},
		{"m365-audit", event.KindEmail, true},
		{"cisco-asa", event.KindVPN, false},
		{"openvpn", event.KindVPN, false},
		{"openvpn-status", event.KindVPN, true},
		{"fortigate", event.KindVPN, false},
		{"globalprotect", event.KindVPN, false},
		{"pfsense", event.KindVPN, false},
		{"m365-audit-csv", event.KindEmail, true},
		{"message-trace", event.KindEmail, true},
		{"google-reports", event.KindEmail, true},
		{"postfix", event.KindEmail, false},
		{"ehr-csv", event.KindEHR, true},
		{"atna", event.KindEHR, true},
	} {
		p, err := Lookup(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, framer := p.(Framer); p.Kind() != c.kind || framer != c.framer {
			t.Errorf("%s: kind %q framer %v, want %q %v", c.name, p.Kind(), framer, c.kind, c.framer)
		}
	}
}

func TestLookup(t *testing.T) {
	if _, err := Lookup("phiwatch-ndjson"); err != nil {
		t.Fatal(err)
	}
	_, err := Lookup("nope")
	if err == nil || !strings.Contains(err.Error(), "phiwatch-ndjson") {
		t.Fatalf("Lookup(nope) = %v, want an error listing the formats", err)
	}
}
