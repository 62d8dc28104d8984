package reference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/ingest/parsers"
)

// FHIR R4 reference resources arrive as NDJSON (one resource per line, as
// FHIR Bulk Data exports them), as a Bundle (a searchset, a collection, a
// transaction), or as one resource. Unlike the roster, a FHIR import keeps
// the resources it can read and lists the ones it cannot: each resource is
// an independent version of one id, so a bad line costs only that resource
// (whose previous version stays current), while rejecting a 200,000-line
// bulk export for one bad birth date would leave the whole schedule stale.

// RecordError is one record a FHIR import could not read.
type RecordError struct {
	Position string // "line 12" or "line 1, Bundle entry 3"
	ID       string // "Patient/p1" when the record said
	Reason   string
}

func (e RecordError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("%s: %s: %s", e.Position, e.ID, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.Position, e.Reason)
}

// FHIRReport says what a FHIR read found besides the rows it produced.
type FHIRReport struct {
	Resources  int            // resources of the imported type that were read
	Rejected   []RecordError  // records that could not be read, with the reason
	Skipped    map[string]int // resources of other types, by type: context in a Bundle, not errors
	Duplicates []string       // ids seen more than once; the last one read is kept
}

// fhirConv turns one resource of the wanted type into a row and its id.
type fhirConv[T any] func(data []byte, refs bundleRefs) (row T, id string, err error)

// readFHIR reads every resource of type want from r. It fails only when the
// input itself cannot be read; bad records are reported in the FHIRReport.
func readFHIR[T any](r io.Reader, want string, conv fhirConv[T]) ([]T, FHIRReport, error) {
	rep := FHIRReport{Skipped: map[string]int{}}
	var out []T
	byID := map[string]int{}
	one := func(pos string, data []byte, refs bundleRefs) {
		row, id, err := conv(data, refs)
		if err != nil {
			rep.Rejected = append(rep.Rejected, RecordError{Position: pos, ID: probeID(want, data), Reason: err.Error()})
			return
		}
		rep.Resources++
		if i, dup := byID[id]; dup {
			out[i] = row
			rep.Duplicates = append(rep.Duplicates, want+"/"+id)
			return
		}
		byID[id] = len(out)
		out = append(out, row)
	}
	// The AuditEvent parser's framer is the project's one JSON framer: it
	// tells NDJSON from a single (pretty-printed) document, bounds memory,
	// and hands malformed lines on instead of failing the file.
	err := parsers.FHIRAuditEvent{}.Frame(r, func(data []byte, line string) error {
		pos := "line " + line
		data = bytes.TrimPrefix(data, []byte("\ufeff"))
		var probe struct {
			ResourceType string `json:"resourceType"`
			Entry        []struct {
				FullURL  string          `json:"fullUrl"`
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(data, &probe); err != nil {
			rep.Rejected = append(rep.Rejected, RecordError{Position: pos, Reason: "not a FHIR resource: " + jsonProblem(err)})
			return nil
		}
		switch probe.ResourceType {
		case want:
			one(pos, data, nil)
		case "Bundle":
			refs := bundleRefs{}
			for _, e := range probe.Entry {
				if typ, id := probeResource(e.Resource); e.FullURL != "" && typ != "" && id != "" {
					refs[e.FullURL] = typ + "/" + id
				}
			}
			for i, e := range probe.Entry {
				epos := fmt.Sprintf("%s, Bundle entry %d", pos, i+1)
				switch typ, _ := probeResource(e.Resource); typ {
				case want:
					one(epos, e.Resource, refs)
				case "":
					if len(bytes.TrimSpace(e.Resource)) == 0 {
						rep.Skipped["Bundle entries without a resource"]++
					} else {
						rep.Rejected = append(rep.Rejected, RecordError{Position: epos, Reason: "the entry's resource has no resourceType"})
					}
				default:
					rep.Skipped[typ]++
				}
			}
		case "":
			rep.Rejected = append(rep.Rejected, RecordError{Position: pos, Reason: "not a FHIR resource: resourceType is missing"})
		default:
			rep.Skipped[probe.ResourceType]++
		}
		return nil
	})
	if err != nil {
		return nil, rep, fmt.Errorf("read FHIR %s resources: %w", want, err)
	}
	return out, rep, nil
}

func probeResource(data json.RawMessage) (typ, id string) {
	var p struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	_ = json.Unmarshal(data, &p) // best effort: the full decode reports errors
	return p.ResourceType, p.ID
}

func probeID(typ string, data []byte) string {
	if _, id := probeResource(data); id != "" {
		return typ + "/" + id
	}
	return ""
}

// jsonProblem words a decoding error for an operator.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "the resource"
		}
		return fmt.Sprintf("%s holds a JSON %s, but FHIR wants %s there", field, te.Value, jsonKind(te.Type))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("not valid JSON (at byte %d: %s)", se.Offset, se.Error())
	}
	return err.Error()
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return "a " + t.Kind().String()
	}
}

// ---- FHIR data types (the parts phiwatch reads) ----

type fhirCoding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type fhirConcept struct {
	Coding []fhirCoding `json:"coding"`
	Text   string       `json:"text"`
}

// code is the concept as one string: its first code, else its text.
func (c fhirConcept) code() string {
	for _, cd := range c.Coding {
		if s := strings.TrimSpace(cd.Code); s != "" {
			return s
		}
	}
	return strings.TrimSpace(c.Text)
}

func conceptCodes(cs []fhirConcept) []string {
	var out []string
	for _, c := range cs {
		if s := c.code(); s != "" {
			out = append(out, s)
		}
	}
	return out
}

type fhirIdentifier struct {
	Use    string      `json:"use"`
	Type   fhirConcept `json:"type"`
	System string      `json:"system"`
	Value  string      `json:"value"`
}

// identifierTokens renders identifiers as FHIR search tokens,
// "system|value" ("|value" without a system), so a consumer splits at the
// first '|' (system URIs have none).
func identifierTokens(ids []fhirIdentifier) []string {
	var out []string
	for _, id := range ids {
		if v := strings.TrimSpace(id.Value); v != "" {
			out = append(out, strings.TrimSpace(id.System)+"|"+v)
		}
	}
	return out
}

type fhirReference struct {
	Reference  string         `json:"reference"`
	Type       string         `json:"type"`
	Identifier fhirIdentifier `json:"identifier"`
	Display    string         `json:"display"`
}

type fhirHumanName struct {
	Use    string   `json:"use"`
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

type fhirContactPoint struct {
	System string `json:"system"`
	Value  string `json:"value"`
	Use    string `json:"use"`
}

type fhirAddress struct {
	Use        string   `json:"use"`
	Text       string   `json:"text"`
	Line       []string `json:"line"`
	City       string   `json:"city"`
	State      string   `json:"state"`
	PostalCode string   `json:"postalCode"`
	Country    string   `json:"country"`
}

type fhirPeriod struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type fhirMeta struct {
	VersionID   string       `json:"versionId"`
	LastUpdated string       `json:"lastUpdated"`
	Security    []fhirCoding `json:"security"`
}

// fhirBase is what every resource has.
type fhirBase struct {
	ResourceType string   `json:"resourceType"`
	ID           string   `json:"id"`
	Meta         fhirMeta `json:"meta"`
}

var fhirIDPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// check validates the id and reads meta.lastUpdated.
func (b *fhirBase) check() (*time.Time, error) {
	switch {
	case b.ID == "":
		return nil, errors.New("the resource has no id")
	case !fhirIDPattern.MatchString(b.ID):
		return nil, fmt.Errorf("id %q is not a FHIR id (1-64 letters, digits, '-' or '.')", b.ID)
	}
	return fhirDateTime("meta.lastUpdated", b.Meta.LastUpdated)
}

// bundleRefs maps a Bundle's entry fullUrls (urn:uuid:…, absolute URLs) to
// "Type/id", so references between entries of a transaction resolve.
type bundleRefs map[string]string

// parts splits a reference into resource type and id: relative
// ("Patient/5"), absolute ("https://ehr/fhir/Patient/5/_history/2"), a
// Bundle fullUrl, or a bare id with an explicit type. Contained ("#x") and
// logical (identifier-only) references give "", "".
func (b bundleRefs) parts(r fhirReference) (typ, id string) {
	ref := strings.TrimSpace(r.Reference)
	if v, ok := b[ref]; ok {
		ref = v
	}
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	segs := strings.Split(strings.Trim(ref, "/"), "/")
	for i, s := range segs {
		if s == "_history" {
			segs = segs[:i]
			break
		}
	}
	switch {
	case len(segs) >= 2:
		typ, id = segs[len(segs)-2], segs[len(segs)-1]
	case len(segs) == 1 && r.Type != "":
		typ, id = r.Type, segs[0]
	}
	if typ == "" || typ[0] < 'A' || typ[0] > 'Z' || !fhirIDPattern.MatchString(id) {
		return "", ""
	}
	return typ, id
}

// idOf is the id of a reference to a resource of type want, "" otherwise.
func (b bundleRefs) idOf(r fhirReference, want string) string {
	if typ, id := b.parts(r); typ == want {
		return id
	}
	return ""
}

// refString renders a reference as "Type/id", "" when it has none.
func (b bundleRefs) refString(r fhirReference) string {
	if typ, id := b.parts(r); typ != "" {
		return typ + "/" + id
	}
	return ""
}

// ---- dates ----

var (
	fhirDatePattern     = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2})?)?$`)
	fhirDateTimePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
)

// fhirDate reads a FHIR date. A partial date (YYYY, YYYY-MM) is valid FHIR
// but names no day, so it gives nil rather than an invented one.
func fhirDate(field, v string) (*time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if !fhirDatePattern.MatchString(v) {
		return nil, fmt.Errorf("%s %q is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)", field, v)
	}
	layout := map[int]string{4: "2006", 7: "2006-01", 10: time.DateOnly}[len(v)]
	t, err := time.Parse(layout, v)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a calendar date", field, v)
	}
	if len(v) < 10 {
		return nil, nil
	}
	return &t, nil
}

// fhirDateTime reads a FHIR dateTime or instant. A date alone is taken as
// midnight UTC; a partial date gives nil; a time needs its zone offset, as
// FHIR requires (guessing one would shift every time by hours).
func fhirDateTime(field, v string) (*time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if !strings.Contains(v, "T") {
		return fhirDate(field, v)
	}
	if !fhirDateTimePattern.MatchString(v) {
		_, clock, _ := strings.Cut(v, "T")
		if strings.Contains(clock, ":") && !strings.HasSuffix(clock, "Z") && !strings.ContainsAny(clock, "+-") {
			return nil, fmt.Errorf("%s %q has a time but no time zone (FHIR requires Z or an offset such as -05:00)", field, v)
		}
		return nil, fmt.Errorf("%s %q is not a FHIR dateTime (e.g. 2026-10-01T14:30:00-04:00)", field, v)
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a valid time", field, v)
	}
	t = t.UTC().Truncate(time.Millisecond)
	return &t, nil
}

// ---- names and contacts ----

// pickName prefers the official name, then the usual one, then any current.
func pickName(ns []fhirHumanName) fhirHumanName {
	for _, use := range []string{"official", "usual"} {
		for _, n := range ns {
			if n.Use == use {
				return n
			}
		}
	}
	for _, n := range ns {
		if n.Use != "old" {
			return n
		}
	}
	return fhirHumanName{}
}

func (n fhirHumanName) display() string {
	if t := strings.TrimSpace(n.Text); t != "" {
		return t
	}
	return strings.TrimSpace(strings.Join(n.Given, " ") + " " + n.Family)
}

func telecoms(cps []fhirContactPoint) (phones, emails []string) {
	for _, c := range cps {
		v := strings.TrimSpace(c.Value)
		if v == "" {
			continue
		}
		switch strings.ToLower(c.System) {
		case "phone", "sms":
			phones = append(phones, v)
		case "email":
			emails = append(emails, strings.ToLower(strings.TrimPrefix(v, "mailto:")))
		}
	}
	return phones, emails
}

// decode unmarshals a resource, wording type errors for an operator.
func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return errors.New(jsonProblem(err))
	}
	return nil
}

// oneOf checks a required code against its FHIR value set.
func oneOf(field, v string, allowed []string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("%s is missing (FHIR requires it)", field)
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s %q is not one of %s", field, v, strings.Join(allowed, ", "))
}
