package parsers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

func TestFHIRAction(t *testing.T) {
	dcm := func(code string) []fhirCoding { return []fhirCoding{{Code: code}} }
	rest := dcm("rest")
	sub := func(codes ...string) []fhirCoding {
		var out []fhirCoding
		for _, c := range codes {
			out = append(out, fhirCoding{Code: c})
		}
		return out
	}
	tests := []struct {
		name     string
		types    []fhirCoding
		subtypes []fhirCoding
		action   string
		query    bool
		failed   bool
		want     event.Action
	}{
		{"read", rest, sub("read"), "R", false, false, event.ActionView},
		{"vread", rest, sub("vread"), "R", false, false, event.ActionView},
		{"history of one resource", rest, sub("history-instance"), "R", false, false, event.ActionView},
		{"search-type", rest, sub("search-type"), "E", false, false, event.ActionSearch},
		{"search-system", rest, sub("search-system"), "E", false, false, event.ActionSearch},
		{"search", rest, sub("search"), "E", false, false, event.ActionSearch},
		{"history-type", rest, sub("history-type"), "R", false, false, event.ActionSearch},
		{"create", rest, sub("create"), "C", false, false, event.ActionCreate},
		{"update", rest, sub("update"), "U", false, false, event.ActionUpdate},
		{"patch", rest, sub("patch"), "U", false, false, event.ActionUpdate},
		{"delete", rest, sub("delete"), "D", false, false, event.ActionDelete},
		{"failed read stays a read", rest, sub("read"), "R", false, true, event.ActionView},
		{"bulk $export", rest, sub("operation", "$export"), "E", false, false, event.ActionExport},
		{"DICOM export", dcm("110106"), nil, "R", false, false, event.ActionExport},
		{"DICOM import", dcm("110107"), nil, "C", false, false, event.ActionImport},
		{"export type wins over a read subtype", dcm("110106"), sub("read"), "R", false, false, event.ActionExport},
		{"DICOM query", dcm("110112"), sub("ITI-21"), "E", false, false, event.ActionQuery},
		{"patient record read", dcm("110110"), nil, "R", false, false, event.ActionView},
		{"patient record update", dcm("110110"), nil, "U", false, false, event.ActionUpdate},
		{"study deleted", dcm("110105"), nil, "D", false, false, event.ActionDelete},
		{"login", dcm("110114"), sub("110122"), "E", false, false, event.ActionLogin},
		{"failed login", dcm("110114"), sub("110122"), "E", false, true, event.ActionLoginFailed},
		{"authentication without subtype", dcm("110114"), nil, "E", false, false, event.ActionLogin},
		{"logout", dcm("110114"), sub("110123"), "E", false, false, event.ActionLogout},
		{"login subtype alone", nil, sub("110122"), "", false, false, event.ActionLogin},
		{"print by code", dcm("110110"), sub("print"), "R", false, false, event.ActionPrint},
		{"print by display", dcm("110110"), []fhirCoding{{Code: "PRN-01", Display: "Print"}}, "R", false, false, event.ActionPrint},
		{"execute with a query entity", dcm("110110"), nil, "E", true, false, event.ActionQuery},
		{"execute otherwise", dcm("110100"), sub("110120"), "E", false, false, event.ActionOther},
		{"operation", rest, sub("operation"), "E", false, false, event.ActionOther},
		{"bare action C", nil, nil, "C", false, false, event.ActionCreate},
		{"nothing at all", nil, nil, "", false, false, event.ActionOther},
		{"unknown action code", nil, nil, "X", false, false, event.ActionOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fhirAction(tt.types, tt.subtypes, tt.action, tt.query, tt.failed); got != tt.want {
				t.Errorf("fhirAction = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFHIROutcome(t *testing.T) {
	tests := []struct {
		raw  string
		want event.Outcome
		code string
	}{
		{`"0"`, event.OutcomeSuccess, "0"},
		{`"4"`, event.OutcomeFailure, "4"},
		{`"8"`, event.OutcomeFailure, "8"},
		{`"12"`, event.OutcomeFailure, "12"},
		{`12`, event.OutcomeFailure, "12"},
		{`{"code":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-outcome","code":"0"}}`, event.OutcomeSuccess, "0"},
		{`{"code":{"coding":[{"code":"8"}]}}`, event.OutcomeFailure, "8"},
		{`"2"`, event.OutcomeUnknown, "2"},
		{``, event.OutcomeUnknown, ""},
		{`null`, event.OutcomeUnknown, ""},
		{`{"code":"nope"}`, event.OutcomeUnknown, "nope"},
		{`[1]`, event.OutcomeUnknown, ""},
	}
	for _, tt := range tests {
		code := fhirOutcomeCode(json.RawMessage(tt.raw))
		if code != tt.code || fhirOutcome(code) != tt.want {
			t.Errorf("outcome %s: code %q → %q, want %q → %q", tt.raw, code, fhirOutcome(code), tt.code, tt.want)
		}
	}
}

func TestFHIRInstant(t *testing.T) {
	tests := []struct {
		in      string
		want    string // UTC RFC3339Nano; "" for an error
		errPart string
	}{
		{"2026-10-01T14:03:07Z", "2026-10-01T14:03:07Z", ""},
		{"2026-10-01T14:03:07.123+02:00", "2026-10-01T12:03:07.123Z", ""},
		{"2026-10-01T14:03:07.123456789-05:00", "2026-10-01T19:03:07.123456789Z", ""},
		{"2026-10-01T14:03:07.5Z", "2026-10-01T14:03:07.5Z", ""},
		{"", "", "recorded is missing"},
		{"2026-10-01T14:03:07", "", "has no time zone"},
		{"2026-10-01T14:03:07.123", "", "has no time zone"},
		{"2026-10-01", "", "is not a FHIR instant"},
		{"1 Oct 2026", "", "is not a FHIR instant"},
		{"2026-13-01T00:00:00Z", "", "is not a FHIR instant"},
	}
	for _, tt := range tests {
		got, err := fhirInstant(tt.in)
		if tt.want == "" {
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("fhirInstant(%q) error = %v, want one containing %q", tt.in, err, tt.errPart)
			}
			continue
		}
		if err != nil || got.UTC().Format(time.RFC3339Nano) != tt.want {
			t.Errorf("fhirInstant(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestFHIRRefParts(t *testing.T) {
	tests := []struct{ ref, typ, id string }{
		{"Patient/123", "Patient", "123"},
		{"Observation/5/_history/2", "Observation", "5"},
		{"https://ehr.example/fhir/Patient/MRN1/_history/3", "Patient", "MRN1"},
		{"https://ehr.example/fhir/Patient/MRN1?x=1", "Patient", "MRN1"},
		{"Patient/", "", ""},
		{"urn:uuid:6f2b1c3e-0000", "", ""},
		{"#contained-1", "", ""},
		{"patient/1", "", ""}, // resource types are capitalised; this is a path, not a reference
		{"", "", ""},
	}
	for _, tt := range tests {
		if typ, id := fhirRefParts(tt.ref); typ != tt.typ || id != tt.id {
			t.Errorf("fhirRefParts(%q) = %q, %q; want %q, %q", tt.ref, typ, id, tt.typ, tt.id)
		}
	}
}

func TestFHIRActorChoice(t *testing.T) {
	person := fhirAgent{Who: fhirReference{Reference: "Practitioner/1"}}
	device := fhirAgent{Who: fhirReference{Reference: "Device/server"}}
	app := fhirAgent{Type: fhirConcept{fhirCoding: fhirCoding{Code: "110150"}}, Who: fhirReference{Display: "app", Identifier: struct {
		Value string `json:"value"`
	}{"app-1"}}}
	flagged := fhirAgent{Requestor: true, AltID: "dortiz"}
	anonymous := fhirAgent{Requestor: true, Name: "somebody"}
	tests := []struct {
		name   string
		agents []fhirAgent
		want   int
	}{
		{"requestor wins", []fhirAgent{person, flagged}, 1},
		{"a requestor without identity is passed over", []fhirAgent{anonymous, person}, 1},
		{"a person before a device", []fhirAgent{device, app, person}, 2},
		{"a machine when nothing else", []fhirAgent{anonymous, device}, 1},
		{"nobody", []fhirAgent{anonymous}, -1},
		{"no agents", nil, -1},
	}
	for _, tt := range tests {
		if got := fhirPickActor(tt.agents); got != tt.want {
			t.Errorf("%s: fhirPickActor = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestFHIRBreakGlass(t *testing.T) {
	for code, want := range map[string]bool{"ETREAT": true, "BTG": true, "ERTREAT": true, "btg": true, "TREAT": false, "HPAYMT": false, "": false} {
		if got := fhirBreakGlass(code); got != want {
			t.Errorf("fhirBreakGlass(%q) = %v, want %v", code, got, want)
		}
	}
}

// A resource's event id is the same whichever way it arrives (a line, a
// pretty document, a Bundle entry), so re-reads collapse in the store.
func TestFHIREventIDStable(t *testing.T) {
	p := FHIRAuditEvent{}
	withID := `{"resourceType":"AuditEvent","id":"x1","type":{"code":"rest"},"subtype":[{"code":"read"}],"action":"R","recorded":"2026-10-01T10:00:00Z","agent":[{"who":{"identifier":{"value":"u"}},"requestor":true}],"entity":[{"what":{"reference":"Patient/1"}}]}`
	noID := strings.Replace(withID, `"id":"x1",`, "", 1)
	for _, res := range []string{withID, noID} {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, []byte(res), "", "  "); err != nil {
			t.Fatal(err)
		}
		bundle := `{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + pretty.String() + `}]}`
		var ids []string
		for _, in := range []string{res, pretty.String(), bundle} {
			evs, err := p.Parse(Record{Data: []byte(in), Tenant: "t1", ReceivedAt: receivedAt})
			if err != nil || len(evs) != 1 {
				t.Fatalf("Parse: %d events, %v", len(evs), err)
			}
			if evs[0].Raw != res {
				t.Errorf("raw = %s, want the compact resource", evs[0].Raw)
			}
			ids = append(ids, evs[0].EventID)
		}
		if ids[0] != ids[1] || ids[0] != ids[2] {
			t.Errorf("event ids differ by framing: %v", ids)
		}
		evs, _ := p.Parse(Record{Data: []byte(res), Tenant: "t2", ReceivedAt: receivedAt})
		if evs[0].EventID == ids[0] {
			t.Error("two tenants share an event id")
		}
	}
	// The same id at another instant is another record (a second server
	// counting from 1), not a duplicate.
	a, _ := p.Parse(Record{Data: []byte(withID), Tenant: "t1"})
	b, _ := p.Parse(Record{Data: []byte(strings.Replace(withID, "10:00:00Z", "10:00:01Z", 1)), Tenant: "t1"})
	if a[0].EventID == b[0].EventID {
		t.Error("same id at different instants collapsed")
	}
}

// A Bundle with bad entries returns the good events and an error naming
// every bad entry, capped so the reason stays readable.
func TestFHIRBundlePartial(t *testing.T) {
	good := `{"resource":{"resourceType":"AuditEvent","recorded":"2026-10-01T10:00:00Z","agent":[{"altId":"u","requestor":true}]}}`
	bad := `{"resource":{"resourceType":"AuditEvent","agent":[{"altId":"u","requestor":true}]}}`
	entries := []string{good}
	for range 12 {
		entries = append(entries, bad)
	}
	entries = append(entries, good, `{"resource":{"resourceType":"Patient","id":"p"}}`)
	data := `{"resourceType":"Bundle","id":"b1","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}`
	evs, err := FHIRAuditEvent{}.Parse(Record{Data: []byte(data), Tenant: "t"})
	if len(evs) != 2 {
		t.Errorf("%d events, want the 2 good ones", len(evs))
	}
	var be *bundleErrors
	if !errors.As(err, &be) || len(be.errs) != 12 {
		t.Fatalf("error %v, want 12 entry errors", err)
	}
	msg := err.Error()
	for _, want := range []string{`Bundle (id "b1"): 12 of 14 AuditEvent entries unreadable`, "AuditEvent entry 1: recorded is missing", "AuditEvent entry 10:", "and 2 more"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "entry 11:") || strings.Contains(msg, "\n") {
		t.Errorf("error %q lists more than %d entries or spans lines", msg, maxListedProblems)
	}
}

// TestFHIRFrame covers how input is told apart: NDJSON, one document, a
// Bundle written an entry per line, a broken first line, and the bounds.
func TestFHIRFrame(t *testing.T) {
	type rec struct{ pos, data string }
	frame := func(in string, limit int) ([]rec, error) {
		var got []rec
		err := frameJSON(strings.NewReader(in), false, limit, func(b []byte, pos string) error {
			got = append(got, rec{pos, string(b)})
			return nil
		})
		return got, err
	}
	tests := []struct {
		name string
		in   string
		want []rec
	}{
		{"ndjson", "{\"a\":1}\n\n{\"b\":2}\r\n  {\"c\":3}", []rec{{"1", `{"a":1}`}, {"3", `{"b":2}`}, {"4", `{"c":3}`}}},
		{"ndjson after blank lines and a BOM", "\xEF\xBB\xBF\n\n{\"a\":1}\n{\"b\":2}\n", []rec{{"3", `{"a":1}`}, {"4", `{"b":2}`}}},
		{"one line", `{"a":1}`, []rec{{"1", `{"a":1}`}}},
		{"pretty document", "{\n  \"a\": [\n    {\"b\": 1}\n  ]\n}\n", []rec{{"1", "{\n  \"a\": [\n    {\"b\": 1}\n  ]\n}\n"}}},
		{"bundle an entry per line", "{\"entry\":[\n{\"resource\":{}},\n{\"resource\":{}}\n]}", []rec{{"1", "{\"entry\":[\n{\"resource\":{}},\n{\"resource\":{}}\n]}"}}},
		{"broken first line of ndjson", "{\"a\":\n{\"b\":2}\n{\"c\":3}\n", []rec{{"1", `{"a":`}, {"2", `{"b":2}`}, {"3", `{"c":3}`}}},
		{"truncated document", "{\n  \"a\": 1,\n", []rec{{"1", "{\n  \"a\": 1,\n"}}},
		{"garbage", "hello\nworld\n", []rec{{"1", "hello\nworld\n"}}},
		{"array for fhir is one record", "[{\"a\":1},\n{\"b\":2}]\n", []rec{{"1", "[{\"a\":1},\n{\"b\":2}]\n"}}},
		{"empty", "", nil},
		{"blank", " \n\t\n", nil},
	}
	for _, tt := range tests {
		got, err := frame(tt.in, 1<<20)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: framed %q, want %q", tt.name, got, tt.want)
		}
	}

	// A document beyond the bound is refused with a reason; NDJSON of any
	// length is not, only a line beyond it.
	doc := "{\n\"a\": \"" + strings.Repeat("x", 100) + "\"\n}\n"
	if _, err := frame(doc, 64); err == nil || !strings.Contains(err.Error(), "larger than 64 bytes") || !strings.Contains(err.Error(), "NDJSON") {
		t.Errorf("oversized document: %v, want an error that suggests NDJSON", err)
	}
	lines := strings.Repeat("{\"a\":\"0123456789\"}\n", 50)
	if got, err := frame(lines, 64); err != nil || len(got) != 50 {
		t.Errorf("long NDJSON: %d records, %v", len(got), err)
	}
	if _, err := frame(lines+"{\"a\":\""+strings.Repeat("x", 100)+"\"}\n", 64); err == nil || !strings.Contains(err.Error(), "line 51") {
		t.Errorf("overlong line: %v, want an error naming line 51", err)
	}

	// An emit error stops framing and comes back unchanged.
	stop := errors.New("stop")
	if err := frameJSON(strings.NewReader("{}\n{}\n"), false, 1<<20, func([]byte, string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("emit error: got %v", err)
	}
}

// TestFHIRGoldenEventsValid holds every event the golden inputs produce to
// event.Validate and the per-event invariants, so a golden file can't
// quietly bless an event the pipeline would reject.
func TestFHIRGoldenEventsValid(t *testing.T) {
	checkGoldenEvents(t, FHIRAuditEvent{}, "malformed.input")
}

// checkGoldenEvents parses every golden input of p except the skipped ones
// and checks each event.
func checkGoldenEvents(t *testing.T, p Parser, skip ...string) {
	t.Helper()
	inputs, _ := filepath.Glob(filepath.Join("testdata", p.Name(), "*.input"))
	if len(inputs) == 0 {
		t.Fatalf("no golden inputs for %s", p.Name())
	}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		skipped := false
		for _, s := range skip {
			skipped = skipped || filepath.Base(in) == s
		}
		err = p.(Framer).Frame(bytes.NewReader(data), func(b []byte, pos string) error {
			evs, _ := p.Parse(Record{Data: b, Tenant: "clinic-golden", ReceivedAt: receivedAt})
			for _, e := range evs {
				if verr := checkEvent(p, e); verr != nil {
					t.Errorf("%s:%s: %v", in, pos, verr)
				}
				if verr := e.Validate(receivedAt); verr != nil && !skipped {
					t.Errorf("%s:%s: invalid event: %v", in, pos, verr)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: framing: %v", in, err)
		}
	}
}

// checkEvent holds an event to what every parsed event must be, valid or
// not: identified, in the vocabulary, with its raw record.
func checkEvent(p Parser, e event.Event) error {
	switch {
	case len(e.EventID) != 32:
		return fmt.Errorf("event id %q", e.EventID)
	case e.SourceSystem != p.Name() || e.SourceKind != p.Kind():
		return fmt.Errorf("source %s/%s", e.SourceSystem, e.SourceKind)
	case !e.Action.Valid():
		return fmt.Errorf("action %q not in the vocabulary", e.Action)
	case e.Outcome != event.OutcomeSuccess && e.Outcome != event.OutcomeFailure && e.Outcome != event.OutcomeUnknown:
		return fmt.Errorf("outcome %q", e.Outcome)
	case e.Actor.ID == "":
		return errors.New("no actor")
	case e.Time.IsZero():
		return errors.New("no time")
	case !json.Valid([]byte(e.Raw)):
		return fmt.Errorf("raw is not JSON: %q", e.Raw)
	case e.Attrs["source_action"] == "" && e.Action == event.ActionOther:
		return errors.New("action other without attrs.source_action")
	}
	return nil
}

func FuzzFHIRAuditEvent(f *testing.F) {
	addGoldenSeeds(f, "fhir-auditevent")
	f.Add([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"AuditEvent","recorded":"2026-10-01T10:00:00Z","agent":[{"altId":"u"}]}},{"resource":null},{}]}`))
	f.Add([]byte(`{"resourceType":"AuditEvent","type":"rest","outcome":{"code":"8"},"agent":[{"who":{"reference":"Device/x"},"network":{"address":"[::1]:80","type":2}}],"recorded":"2026-10-01T10:00:00+14:00"}`))
	f.Add([]byte("{\n\"resourceType\": \"AuditEvent\",\n"))
	f.Add([]byte("\xEF\xBB\xBF{}\n{}"))
	// Found by fuzzing: a blank action left an "other" event without
	// source_action.
	f.Add([]byte(`{"resourCeTYpe":"AuditEvent","ACtion":" ","reCorded":"0000-10-01T0:00:00Z","Agent":[{"AltId":"0"}]}` + "\n0000000000000000000000000000000000"))
	p := FHIRAuditEvent{}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParser(t, p, data)
	})
}

// fuzzParser checks what must hold for any input: no panic, every event
// well-formed, the same input parsing the same way twice, and framing that
// hands on every non-blank input rather than dropping it.
func fuzzParser(t *testing.T, p Parser, data []byte) {
	parse := func(b []byte) []event.Event {
		evs, _ := p.Parse(Record{Data: b, Tenant: "fuzz", ReceivedAt: receivedAt})
		for _, e := range evs {
			if err := checkEvent(p, e); err != nil {
				t.Fatalf("bad event from %q: %v", b, err)
			}
			_ = e.Validate(receivedAt)
		}
		return evs
	}
	first := parse(data)
	again := parse(data)
	if len(first) != len(again) {
		t.Fatalf("parsed %d then %d events", len(first), len(again))
	}
	for i := range first {
		if first[i].EventID != again[i].EventID {
			t.Fatalf("event ids differ between two parses")
		}
	}
	emitted := 0
	err := p.(Framer).Frame(bytes.NewReader(data), func(b []byte, pos string) error {
		emitted++
		parse(b)
		return nil
	})
	if err != nil {
		t.Fatalf("framing in-memory input failed: %v", err)
	}
	if emitted == 0 && len(bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))) > 0 && !isEmptyJSONArrays(data) {
		t.Fatalf("framing dropped %q without a record", data)
	}
}

// isEmptyJSONArrays reports whether data is only empty JSON arrays, which
// hold no records to hand on.
func isEmptyJSONArrays(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var v []json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return errors.Is(err, io.EOF)
		}
		if len(v) > 0 {
			return false
		}
	}
}

// addGoldenSeeds seeds a fuzz target with each golden input whole and line
// by line.
func addGoldenSeeds(f *testing.F, format string) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", format, "*.input"))
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for l := range bytes.Lines(data) {
			f.Add(bytes.TrimSpace(l))
		}
	}
}

func BenchmarkFHIRAuditEventParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "fhir-auditevent", "balp-rest.input"))
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	rec := Record{Tenant: "t", ReceivedAt: time.Now()}
	b.SetBytes(int64(len(data) / len(lines)))
	for i := 0; b.Loop(); i++ {
		rec.Data = lines[i%len(lines)]
		if _, err := (FHIRAuditEvent{}).Parse(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
