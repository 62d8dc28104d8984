package parsers

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/phiwatch/phiwatch/internal/event"
)

// atnaParse parses one record as ingest would.
func atnaParse(t testing.TB, p ATNA, data string) ([]event.Event, error) {
	t.Helper()
	return p.Parse(Record{Data: []byte(data), Tenant: "t", ReceivedAt: receivedAt})
}

// atnaMsg builds a one-line AuditMessage; parts are inserted after
// EventIdentification.
func atnaMsg(eventAttrs, eventBody string, parts ...string) string {
	return `<AuditMessage><EventIdentification ` + eventAttrs + `>` + eventBody + `</EventIdentification>` + strings.Join(parts, "") + `</AuditMessage>`
}

// patientNames are the ParticipantObjectName values in a document, which
// no event field or attribute may hold.
var patientNamesRE = regexp.MustCompile(`<ParticipantObjectName>([^<]+)</ParticipantObjectName>`)

// TestATNARealSamples runs the published dcm4chee audit messages through
// the parser as ingest reads files: each must be one valid event with the
// action its family maps to.
func TestATNARealSamples(t *testing.T) {
	dir := samplesDir(t, filepath.Join("ehr_atna_dicom_audit", "dcm4chee-arc-cs"))
	index, err := os.ReadFile(filepath.Join(dir, "INDEX.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	// Family (the file name without its number) → the actions it may map
	// to; families with several depend on each message's action code or
	// query kind, checked below.
	want := map[string][]event.Action{
		"user-authentication":                {event.ActionLogin, event.ActionLogout, event.ActionLoginFailed},
		"patient-record":                     {event.ActionCreate, event.ActionView, event.ActionUpdate, event.ActionDelete},
		"dicom-instances-accessed":           {event.ActionCreate, event.ActionView, event.ActionUpdate, event.ActionDelete},
		"query":                              {event.ActionQuery, event.ActionSearch},
		"begin-transferring-dicom-instances": {event.ActionExport, event.ActionImport},
		"security-alert":                     {event.ActionOther},
		"data-export":                        {event.ActionExport},
		"application-activity":               {event.ActionOther},
	}
	byCode := map[string]event.Action{"C": event.ActionCreate, "R": event.ActionView, "U": event.ActionUpdate, "D": event.ActionDelete}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) // fixed, so the test does not age
	p := ATNA{}
	ids := map[string]string{}
	files := 0
	sc := bufio.NewScanner(bytes.NewReader(index))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 4 || f[0] == "file" {
			continue
		}
		name := f[0]
		files++
		family := strings.TrimRight(strings.TrimSuffix(name, ".xml"), "0123456789")
		family = strings.TrimSuffix(family, "-")
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var evs []event.Event
		records := 0
		err = p.Frame(bytes.NewReader(data), func(b []byte, pos string) error {
			records++
			got, err := p.Parse(Record{Data: b, Origin: name + ":" + pos, Tenant: "clinic-samples", ReceivedAt: now})
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			evs = append(evs, got...)
			return nil
		})
		if err != nil || records != 1 || len(evs) != 1 {
			t.Errorf("%s: %d records, %d events, %v", name, records, len(evs), err)
			continue
		}
		e := evs[0]
		if err := e.Validate(now); err != nil {
			t.Errorf("%s: invalid event: %v", name, err)
		}
		if err := ehrCheckEvent(p, e); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		allowed, ok := want[family]
		if !ok {
			t.Errorf("%s: no expectation for family %q; add one", name, family)
			continue
		}
		if !containsAction(allowed, e.Action) {
			t.Errorf("%s: action %s, want one of %v", name, e.Action, allowed)
		}
		switch family {
		case "patient-record", "dicom-instances-accessed":
			if w := byCode[e.Attrs["event_action"]]; e.Action != w {
				t.Errorf("%s: action code %s gave %s, want %s", name, e.Attrs["event_action"], e.Action, w)
			}
		case "query":
			// A query that names a patient, or a patient demographics
			// query, is a search for patients.
			if patient := e.PatientID != "" || strings.HasPrefix(e.Attrs["event_type"], "ITI-"); patient != (e.Action == event.ActionSearch) {
				t.Errorf("%s: %s with patient %q type %q", name, e.Action, e.PatientID, e.Attrs["event_type"])
			}
		}
		if e.Attrs["event_id_code"] == "" || e.Attrs["audit_source_id"] != "dcm4chee-arc" {
			t.Errorf("%s: attrs %v lack the EventID or AuditSourceID", name, e.Attrs)
		}
		for _, m := range patientNamesRE.FindAllSubmatch(data, -1) {
			atnaNoName(t, name, e, string(m[1]))
		}
		if prev, dup := ids[e.EventID]; dup {
			t.Errorf("%s and %s share event id %s", prev, name, e.EventID)
		}
		ids[e.EventID] = name
	}
	if files != 30 {
		t.Errorf("index lists %d files, want 30", files)
	}
}

func containsAction(list []event.Action, a event.Action) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// atnaNoName fails when a patient's name made it into the event outside
// raw.
func atnaNoName(t *testing.T, where string, e event.Event, name string) {
	t.Helper()
	for k, v := range e.Attrs {
		if strings.Contains(v, name) {
			t.Errorf("%s: attrs[%s] holds the patient name %q", where, k, name)
		}
	}
	for _, v := range []string{e.Actor.ID, e.Actor.Name, e.PatientID, e.ResourceID, e.ResourceType, e.Device} {
		if strings.Contains(v, name) {
			t.Errorf("%s: an event field holds the patient name %q", where, name)
		}
	}
}

func TestATNAGoldenInvariants(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "atna", "*.input"))
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		names := patientNamesRE.FindAllSubmatch(data, -1)
		ids := map[string]bool{}
		err = ATNA{}.Frame(bytes.NewReader(data), func(b []byte, pos string) error {
			evs, _ := ATNA{}.Parse(Record{Data: b, Tenant: "clinic-golden", ReceivedAt: receivedAt})
			for _, e := range evs {
				if err := ehrCheckEvent(ATNA{}, e); err != nil {
					t.Errorf("%s:%s: %v", in, pos, err)
				}
				if ids[e.EventID] {
					t.Errorf("%s:%s: two events share id %s", in, pos, e.EventID)
				}
				ids[e.EventID] = true
				for _, m := range names {
					atnaNoName(t, in+":"+pos, e, string(m[1]))
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: framing: %v", in, err)
		}
	}
}

func TestATNAAction(t *testing.T) {
	person := `<ActiveParticipant UserID="u" UserIsRequestor="true"/>`
	source := `<ActiveParticipant UserID="modality" UserIsRequestor="true"><RoleIDCode csd-code="110153"/></ActiveParticipant>`
	dest := `<ActiveParticipant UserID="viewer" UserIsRequestor="true"><RoleIDCode code="110152"/></ActiveParticipant>`
	patient := `<ParticipantObjectIdentification ParticipantObjectID="p1" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1"/>`
	queryObj := `<ParticipantObjectIdentification ParticipantObjectID="q" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="24"/>`
	id := func(code string) string { return `<EventID csd-code="` + code + `"/>` }
	typ := func(code string) string { return `<EventTypeCode csd-code="` + code + `"/>` }
	const t0 = `EventDateTime="2026-10-01T10:00:00Z" `
	tests := []struct {
		name, attrs, body string
		parts             []string
		want              event.Action
	}{
		{"login", `EventActionCode="E" EventOutcomeIndicator="0"`, id("110114") + typ("110122"), []string{person}, event.ActionLogin},
		{"login failed", `EventActionCode="E" EventOutcomeIndicator="4"`, id("110114") + typ("110122"), []string{person}, event.ActionLoginFailed},
		{"serious failure", `EventOutcomeIndicator="12"`, id("110114") + typ("110122"), []string{person}, event.ActionLoginFailed},
		{"logout", `EventOutcomeIndicator="0"`, id("110114") + typ("110123"), []string{person}, event.ActionLogout},
		{"failed logout is a logout", `EventOutcomeIndicator="8"`, id("110114") + typ("110123"), []string{person}, event.ActionLogout},
		{"authentication without a type", `EventOutcomeIndicator="0"`, id("110114"), []string{person}, event.ActionLogin},
		{"dcm4chee login as EventID", `EventOutcomeIndicator="0"`, id("110122"), []string{person}, event.ActionLogin},
		{"dcm4chee logout as EventID", `EventOutcomeIndicator="0"`, id("110123"), []string{person}, event.ActionLogout},
		{"rfc3881 code attribute", `EventActionCode="R"`, `<EventID code="110110" displayName="Patient Record"/>`, []string{person}, event.ActionView},
		{"patient record C", `EventActionCode="C"`, id("110110"), []string{person}, event.ActionCreate},
		{"patient record R", `EventActionCode="R"`, id("110110"), []string{person}, event.ActionView},
		{"patient record r", `EventActionCode="r"`, id("110110"), []string{person}, event.ActionView},
		{"patient record U", `EventActionCode="U"`, id("110110"), []string{person}, event.ActionUpdate},
		{"patient record D", `EventActionCode="D"`, id("110110"), []string{person}, event.ActionDelete},
		{"patient record E", `EventActionCode="E"`, id("110110"), []string{person}, event.ActionOther},
		{"patient record E query", `EventActionCode="E"`, id("110110"), []string{person, queryObj}, event.ActionQuery},
		{"order record", `EventActionCode="C"`, id("110109"), []string{person}, event.ActionCreate},
		{"procedure record", `EventActionCode="U"`, id("110111"), []string{person}, event.ActionUpdate},
		{"instances accessed R", `EventActionCode="R"`, id("110103"), []string{person}, event.ActionView},
		{"instances accessed D", `EventActionCode="D"`, id("110103"), []string{person}, event.ActionDelete},
		{"study deleted", `EventActionCode="D"`, id("110105"), []string{person}, event.ActionDelete},
		{"export", `EventActionCode="R"`, id("110106"), []string{person}, event.ActionExport},
		{"import", `EventActionCode="C"`, id("110107"), []string{person}, event.ActionImport},
		{"query", `EventActionCode="E"`, id("110112"), []string{person, queryObj}, event.ActionQuery},
		{"query for a patient", `EventActionCode="E"`, id("110112"), []string{person, queryObj, patient}, event.ActionSearch},
		{"PDQ query", `EventActionCode="E"`, id("110112") + typ("ITI-21"), []string{person, queryObj}, event.ActionSearch},
		{"PIXm query", `EventActionCode="E"`, id("110112") + typ("iti-83"), []string{person}, event.ActionSearch},
		{"registry stored query", `EventActionCode="E"`, id("110112") + typ("ITI-18"), []string{person, queryObj}, event.ActionQuery},
		{"store from a modality", `EventActionCode="C"`, id("110104"), []string{source}, event.ActionImport},
		{"retrieve to a viewer", `EventActionCode="R"`, id("110104"), []string{dest}, event.ActionExport},
		{"move by a third party", `EventActionCode="E"`, id("110102"), []string{person}, event.ActionExport},
		{"security roles changed", `EventActionCode="E"`, id("110113") + typ("110136"), []string{person}, event.ActionPermission},
		{"user security attributes changed", `EventActionCode="E"`, id("110113") + typ("110137"), []string{person}, event.ActionPermission},
		{"node authentication failure", `EventActionCode="E"`, id("110113") + typ("110126"), []string{person}, event.ActionOther},
		{"application start", `EventActionCode="E"`, id("110100") + typ("110120"), []string{person}, event.ActionOther},
		{"audit log used", `EventActionCode="R"`, id("110101"), []string{person}, event.ActionOther},
		{"vendor code", `EventActionCode="R"`, `<EventID csd-code="X-CHART" codeSystemName="99EHR" originalText="Chart opened"/>`, []string{person}, event.ActionOther},
	}
	for _, tt := range tests {
		evs, err := atnaParse(t, ATNA{}, atnaMsg(t0+tt.attrs, tt.body, tt.parts...))
		if err != nil || len(evs) != 1 {
			t.Errorf("%s: %d events, %v", tt.name, len(evs), err)
			continue
		}
		if e := evs[0]; e.Action != tt.want || e.Attrs["source_action"] == "" {
			t.Errorf("%s: %s (source_action %q), want %s", tt.name, e.Action, e.Attrs["source_action"], tt.want)
		}
	}
}

func TestATNATime(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no zoneinfo:", err)
	}
	tests := []struct {
		in, want string // want UTC RFC 3339; "" for an error
		zoned    bool
	}{
		{"2026-10-01T09:03:07Z", "2026-10-01T09:03:07Z", true},
		{"2026-10-01T09:03:07.123+02:00", "2026-10-01T07:03:07.123Z", true},
		{"2017-01-26T17:28:59.553+01:00", "2017-01-26T16:28:59.553Z", true},
		{"2026-10-01T09:03:07.123456789-05:00", "2026-10-01T14:03:07.123456789Z", true},
		{"2026-10-01T09:03:07.1-0500", "2026-10-01T14:03:07.1Z", true},
		{"2026-10-01T09:03:07+01", "2026-10-01T08:03:07Z", true},
		{"2026-10-01 09:03:07Z", "2026-10-01T09:03:07Z", true},
		{"2026-10-01T09:03:07", "2026-10-01T13:03:07Z", false},
		{"2026-10-01T09:03:07.5", "2026-10-01T13:03:07.5Z", false},
		{"2026-10-01T09:03", "2026-10-01T13:03:00Z", false},
		{"10/01/2026 09:03", "", false},
		{"2026-10-01", "", false},
		{"2026-10-01T25:00:00Z", "", false},
	}
	for _, tt := range tests {
		got, zoned, err := atnaTime(tt.in, ny)
		if tt.want == "" {
			if err == nil || !strings.Contains(err.Error(), "EventDateTime") {
				t.Errorf("%q → %v, %v; want an error naming EventDateTime", tt.in, got, err)
			}
			continue
		}
		if err != nil || got.UTC().Format(time.RFC3339Nano) != tt.want || zoned != tt.zoned {
			t.Errorf("%q → %v zoned %v, %v; want %s zoned %v", tt.in, got.UTC(), zoned, err, tt.want, tt.zoned)
		}
	}
}

func TestATNAParse(t *testing.T) {
	login := atnaMsg(`EventActionCode="E" EventOutcomeIndicator="0"`, `<EventID csd-code="110114"/><EventTypeCode csd-code="110122"/>`,
		`<ActiveParticipant UserID="kdoe" UserIsRequestor="true" NetworkAccessPointID="203.0.113.5" NetworkAccessPointTypeCode="2"/>`)
	timed := strings.Replace(login, `EventActionCode="E"`, `EventActionCode="E" EventDateTime="2026-10-01T10:00:00Z"`, 1)

	// The same message by file and by syslog is the same event.
	file, err := atnaParse(t, ATNA{}, timed)
	if err != nil {
		t.Fatal(err)
	}
	sys, err := atnaParse(t, ATNA{}, "<85>1 2026-10-01T10:00:01Z host app - IHE+RFC-3881 - \ufeff"+timed)
	if err != nil {
		t.Fatal(err)
	}
	if file[0].EventID != sys[0].EventID || sys[0].Attrs["syslog_host"] != "host" || !strings.HasPrefix(sys[0].Raw, "<85>1") {
		t.Errorf("file %s, syslog %s (raw %.20q)", file[0].EventID, sys[0].EventID, sys[0].Raw)
	}

	// Times: EventDateTime, else the syslog header, else the receive time.
	ny, _ := time.LoadLocation("America/New_York")
	for _, tt := range []struct {
		p            ATNA
		data, want   string
		source, zone string
	}{
		{ATNA{}, timed, "2026-10-01T10:00:00Z", "", ""},
		{ATNA{}, "<85>1 2026-10-01T10:00:01.250Z host app - - - " + login, "2026-10-01T10:00:01.25Z", "syslog_header", ""},
		{ATNA{Location: ny}, "<85>Oct  1 06:00:02 host atna: " + login, "2026-10-01T10:00:02Z", "syslog_header", ""},
		{ATNA{}, login, receivedAt.Format(time.RFC3339Nano), "received_at", ""},
		{ATNA{Location: ny}, strings.Replace(timed, "10:00:00Z", "06:00:00", 1), "2026-10-01T10:00:00Z", "", "America/New_York"},
	} {
		evs, err := atnaParse(t, tt.p, tt.data)
		if err != nil {
			t.Errorf("%.60q: %v", tt.data, err)
			continue
		}
		e := evs[0]
		if e.Time.Format(time.RFC3339Nano) != tt.want || e.Attrs["time_source"] != tt.source || e.Attrs["time_zone"] != tt.zone {
			t.Errorf("%.60q: time %v source %q zone %q; want %s %q %q", tt.data, e.Time, e.Attrs["time_source"], e.Attrs["time_zone"], tt.want, tt.source, tt.zone)
		}
	}

	// Sender variants that must all read.
	for name, data := range map[string]string{
		"octet count":         "312 <85>1 2026-10-01T10:00:01Z host app - - - " + timed,
		"3164 without a tag":  "<85>Oct  1 10:00:02 host " + timed,
		"text before the XML": "<85>Oct  1 10:00:02 host atna: IHE audit: " + timed,
		"xml declaration":     `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" + timed,
		"namespace":           strings.Replace(timed, "<AuditMessage>", `<AuditMessage xmlns="urn:example:atna" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`, 1),
		"utf-16":              atnaUTF16(`<?xml version="1.0" encoding="UTF-16"?>` + timed),
		"windows-1252":        `<?xml version="1.0" encoding="windows-1252"?>` + strings.Replace(timed, `UserID="kdoe"`, "UserID=\"kdoe\" UserName=\"Ren\xe9e \x93K\x94\"", 1),
		"requestor as 1":      strings.Replace(timed, `UserIsRequestor="true"`, `UserIsRequestor="1"`, 1),
	} {
		evs, err := atnaParse(t, ATNA{}, data)
		if err != nil || len(evs) != 1 || evs[0].Actor.ID != "kdoe" || evs[0].Action != event.ActionLogin {
			t.Errorf("%s: %v, %v", name, evs, err)
		}
		if name == "windows-1252" && evs[0].Actor.Name != "Renée “K”" {
			t.Errorf("windows-1252 name %q", evs[0].Actor.Name)
		}
	}

	// No requestor: a person is taken, and that it was inferred is said.
	evs, err := atnaParse(t, ATNA{}, atnaMsg(`EventActionCode="R"`, `<EventID csd-code="110110"/>`,
		`<ActiveParticipant UserID="app" NetworkAccessPointID="app01"/>`, `<ActiveParticipant UserID="jlee" UserTypeCode="1"/>`))
	if err != nil || evs[0].Actor.ID != "jlee" || evs[0].Attrs["actor_inferred"] != "true" || evs[0].Device != "" {
		t.Errorf("inferred actor: %v, %v", evs, err)
	}
	// Two requestors: the person, and the machine's address as a fallback
	// only through the Source role.
	evs, err = atnaParse(t, ATNA{}, atnaMsg(`EventActionCode="R"`, `<EventID csd-code="110110"/>`,
		`<ActiveParticipant UserID="viewer" UserIsRequestor="true" NetworkAccessPointID="10.9.9.9" NetworkAccessPointTypeCode="2"><RoleIDCode csd-code="110153"/></ActiveParticipant>`,
		`<ActiveParticipant UserID="jlee" UserIsRequestor="true"><UserIDTypeCode csd-code="113871" originalText="Person ID"/></ActiveParticipant>`))
	if err != nil || evs[0].Actor.ID != "jlee" || evs[0].ClientIP != "10.9.9.9" || evs[0].Attrs["actor_type"] != "Person ID" {
		t.Errorf("two requestors: %v, %v", evs, err)
	}
	// A network address said to be an IP that is not one.
	evs, err = atnaParse(t, ATNA{}, atnaMsg(`EventActionCode="R"`, `<EventID csd-code="110110"/>`,
		`<ActiveParticipant UserID="jlee" UserIsRequestor="true" NetworkAccessPointID="ws-12" NetworkAccessPointTypeCode="2"/>`))
	if err != nil || evs[0].ClientIP != "" || evs[0].Device != "ws-12" || evs[0].Attrs["client_ip_raw"] != "ws-12" {
		t.Errorf("bad IP: %v, %v", evs, err)
	}

	for _, tt := range []struct{ name, data, want string }{
		{"empty", "  \n", "empty record"},
		{"not xml", "hello", `not an XML audit message: the record starts with "hello"`},
		{"json", `{"resourceType":"AuditEvent"}`, "not an XML audit message"},
		{"syslog without xml", "<13>Oct  1 10:00:00 host app: started", "holds no XML audit message"},
		{"bad priority", "<300>Oct  1 10:00:00 host app: <AuditMessage/>", "syslog header"},
		{"other root", `<Bundle/>`, "its root is <Bundle>"},
		{"only a declaration", `<?xml version="1.0"?>`, "holds no element"},
		{"doctype", `<!DOCTYPE AuditMessage SYSTEM "http://evil.example/x.dtd"><AuditMessage/>`, "DOCTYPE"},
		{"entity", strings.Replace(timed, `UserID="kdoe"`, `UserID="&xxe;"`, 1), "invalid XML at line 1"},
		{"unknown encoding", `<?xml version="1.0" encoding="EBCDIC-US"?><AuditMessage/>`, `declares encoding "ebcdic-us"`},
		{"truncated", timed[:len(timed)-20], "ends early, at line 1 (truncated?)"},
		{"no participant", atnaMsg(`EventDateTime="2026-10-01T10:00:00Z"`, `<EventID csd-code="110110"/>`), "no ActiveParticipant says who acted"},
		{"no event id", atnaMsg(`EventDateTime="2026-10-01T10:00:00Z"`, ``, `<ActiveParticipant UserID="u"/>`), "has no EventID"},
		{"bad time", atnaMsg(`EventDateTime="yesterday"`, `<EventID csd-code="110110"/>`, `<ActiveParticipant UserID="u"/>`), `EventDateTime "yesterday"`},
		{"deep", strings.Repeat("<a>", maxATNADepth+1) + timed + strings.Repeat("</a>", maxATNADepth+1), "nests elements more than"},
		// Skipped without recursion: harmless, and the message's own problem is what is said.
		{"deep inside", `<AuditMessage>` + strings.Repeat("<a>", 20000) + strings.Repeat("</a>", 20000) + `</AuditMessage>`, "no ActiveParticipant says who acted"},
		{"huge message", `<AuditMessage>` + strings.Repeat("<x/>", maxATNAMessage/4) + `</AuditMessage>`, "more than 1 MiB"},
		{"huge record", "<" + strings.Repeat("a", maxATNARecord), "more than 16 MiB"},
	} {
		_, err := atnaParse(t, ATNA{}, tt.data)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		} else if strings.ContainsAny(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", tt.name, err)
		}
	}

	// Several messages: the good ones kept, the bad one named.
	two := "<Export>" + timed + atnaMsg(`EventDateTime="2026-10-01T10:00:00Z"`, `<EventID csd-code="110110"/>`) + strings.Replace(timed, "kdoe", "jlee", 1) + "</Export>"
	evs, err = atnaParse(t, ATNA{}, two)
	if len(evs) != 2 || err == nil || !strings.Contains(err.Error(), "AuditMessage 2: no ActiveParticipant") {
		t.Errorf("several messages: %d events, %v", len(evs), err)
	}
	for _, e := range evs {
		if !strings.HasPrefix(e.Raw, "<AuditMessage>") || strings.Contains(e.Raw, "<Export>") {
			t.Errorf("raw of one of several messages is %.40q, not the message", e.Raw)
		}
	}
	var _ LocationSetter = ATNA{}
}

func atnaUTF16(s string) string {
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

func TestATNAFrame(t *testing.T) {
	msg := func(user string) string {
		return atnaMsg(`EventDateTime="2026-10-01T10:00:00Z"`, `<EventID csd-code="110110"/>`, `<ActiveParticipant UserID="`+user+`"/>`)
	}
	pretty := "<?xml version=\"1.0\"?>\n<AuditMessage>\n  <EventIdentification/>\n</AuditMessage>"
	type rec struct{ pos, data string }
	tests := []struct {
		name, in string
		want     []rec
	}{
		{"one pretty document", "\ufeff" + pretty + "\n", []rec{{"1", pretty}}},
		{"documents back to back", pretty + "\n" + pretty + "\n\n" + pretty, []rec{{"1", pretty}, {"5", pretty}, {"10", pretty}}},
		{"comments and a trailing comment", "<!-- a -->\n" + msg("a") + "\n<!-- end -->\n", []rec{{"1", "<!-- a -->\n" + msg("a")}}},
		{"one-line messages", msg("a") + "\n\n" + msg("b") + "\n", []rec{{"1", msg("a")}, {"3", msg("b")}}},
		{"syslog lines", "<85>1 - h a - - - " + msg("a") + "\n<85>1 - h a - - - " + msg("b"), []rec{{"1", "<85>1 - h a - - - " + msg("a")}, {"2", "<85>1 - h a - - - " + msg("b")}}},
		{"syslog with octet counts", "10 <85>1 - h a - - - x\n11 <85>1 - h a - - - y", []rec{{"1", "10 <85>1 - h a - - - x"}, {"2", "11 <85>1 - h a - - - y"}}},
		{"syslog spanning lines", "<85>1 - h a - - - <?xml version=\"1.0\"?>\n<AuditMessage>\n</AuditMessage>\n<85>1 - h a - - - " + msg("b"),
			[]rec{{"1", "<85>1 - h a - - - <?xml version=\"1.0\"?>\n<AuditMessage>\n</AuditMessage>"}, {"4", "<85>1 - h a - - - " + msg("b")}}},
		{"syslog garbage line", "<85>1 - h a - - - " + msg("a") + "\ngarbage\n", []rec{{"1", "<85>1 - h a - - - " + msg("a")}, {"2", "garbage"}}},
		{"truncated then good", "<?xml version=\"1.0\"?>\n<AuditMessage>\n  <Event\n" + pretty, []rec{{"1", "<?xml version=\"1.0\"?>\n<AuditMessage>\n  <Event"}, {"4", pretty}}},
		{"truncated at the end", pretty + "\n<AuditMessage><EventIdentification", []rec{{"1", pretty}, {"5", "<AuditMessage><EventIdentification"}}},
		{"wrapper is one record", "<AuditMessages>\n" + msg("a") + "\n" + msg("b") + "\n</AuditMessages>", []rec{{"1", "<AuditMessages>\n" + msg("a") + "\n" + msg("b") + "\n</AuditMessages>"}}},
		{"text is a record", "not xml at all", []rec{{"1", "not xml at all"}}},
		{"stray end tag", "</AuditMessage>" + msg("a"), []rec{{"1", "</AuditMessage>" + msg("a")}}},
		{"blank", " \n\n", nil},
	}
	for _, tt := range tests {
		var got []rec
		err := ATNA{}.Frame(strings.NewReader(tt.in), func(b []byte, pos string) error {
			got = append(got, rec{pos, string(b)})
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s:\n framed %q\n want   %q", tt.name, got, tt.want)
		}
	}
	// An overlong syslog line is handed on cut short, for Parse to reject
	// with the reason, and the lines after it are still read.
	long := "<85>1 - h a - - - <AuditMessage>" + strings.Repeat("x", maxATNARecord+10) + "\n<85>1 - h a - - - " + msg("b") + "\n"
	var sizes []int
	if err := (ATNA{}).Frame(strings.NewReader("<85>1 - h a - - - "+msg("a")+"\n"+long), func(b []byte, _ string) error {
		sizes = append(sizes, len(b))
		_, err := ATNA{}.Parse(Record{Data: b})
		if len(b) > maxATNARecord && (err == nil || !strings.Contains(err.Error(), "more than 16 MiB")) {
			t.Errorf("overlong record: %v", err)
		}
		return nil
	}); err != nil || len(sizes) != 3 || sizes[1] != maxATNARecord+1 {
		t.Errorf("overlong line: %v, sizes %v", err, sizes)
	}
	stop := errors.New("stop")
	if err := (ATNA{}).Frame(strings.NewReader(pretty), func([]byte, string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("emit error: %v", err)
	}
	if err := (ATNA{}).Frame(strings.NewReader(msg("a")+"\n"+msg("b")), func([]byte, string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("emit error in line mode: %v", err)
	}
}

func TestATNAQueryText(t *testing.T) {
	for in, want := range map[string]string{
		"ZmFtaWx5PVNNSVRIJmJpcnRoZGF0ZT0xOTgwLTAxLTAx":                                             "birthdate,family",
		"L2ZoaXIvUGF0aWVudD9pZGVudGlmaWVyPXh8MTIzJl9mb3JtYXQ9anNvbg==":                             "",             // "/fhir/Patient?identifier=x|123&_format=json": a '|' reads as HL7
		"L2ZoaXIvUGF0aWVudD9mYW1pbHk9RE9FJmdpdmVuPUpBTkUmZmFtaWx5PURPRTI=":                         "family,given", // repeats dropped
		"CABQAAQAAABBQ0MqCABSAAYAAABTVFVEWSAIADAQBgAAAERlc2MqIBAAEAAAAAAAEAAgAAAAAAAgAA0AAAAAAA==": "",             // a DICOM dataset
		"not base64!": "",
		"":            "",
	} {
		if got := atnaQueryParams(atnaDecodeText(in)); got != want {
			t.Errorf("%q → %q, want %q (text %q)", in, got, want, atnaDecodeText(in))
		}
	}
	if got := atnaDecodeText("TVNIfF5+XCZ8QXxCDVFQRHxYfFk="); got != `MSH|^~\&|A|B | QPD|X|Y` {
		t.Errorf("HL7 text %q", got)
	}
	if got := cxID("P1^^^SYS&1.2.3&ISO"); got != "P1" {
		t.Errorf("cxID = %q", got)
	}
	if got := cxID("^^^X"); got != "^^^X" {
		t.Errorf("cxID of an empty id = %q", got)
	}
}

func FuzzATNA(f *testing.F) {
	addGoldenSeeds(f, "atna")
	f.Add([]byte(`<AuditMessage><EventIdentification EventDateTime="2026-10-01T10:00:00Z"><EventID csd-code="110112"/></EventIdentification><ActiveParticipant UserID="u" UserIsRequestor="true"/><ParticipantObjectIdentification ParticipantObjectTypeCodeRole="24"><ParticipantObjectQuery>YT0x</ParticipantObjectQuery></ParticipantObjectIdentification></AuditMessage>`))
	f.Add([]byte("12 <13>1 - - - - - - \ufeff<AuditMessage/>\n<AuditMessage>\n"))
	f.Add([]byte("<?xml version=\"1.0\" encoding=\"latin1\"?><AuditMessage><EventIdentification EventActionCode=\"R\"><EventID code=\"110110\"/></EventIdentification><ActiveParticipant AlternativeUserID=\"\xe9\"/></AuditMessage>"))
	f.Add([]byte("\xff\xfe<\x00A\x00"))
	f.Add([]byte("<a><AuditMessage></a></AuditMessage><?xml?><AuditMessage"))
	p := ATNA{}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzATNA(t, p, data)
	})
}

// fuzzATNA checks what must hold for any input: no panic, well-formed
// events, the same input parsing the same way twice, one-line errors, and
// framing that hands on any AuditMessage rather than dropping it.
func fuzzATNA(t *testing.T, p ATNA, data []byte) {
	parse := func(b []byte) []event.Event {
		evs, err := p.Parse(Record{Data: b, Tenant: "fuzz", ReceivedAt: receivedAt})
		for _, e := range evs {
			if err := ehrCheckEvent(p, e); err != nil {
				t.Fatalf("bad event from %q: %v", b, err)
			}
			_ = e.Validate(receivedAt)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Fatalf("error spans lines: %q", err)
		}
		return evs
	}
	first, again := parse(data), parse(data)
	if len(first) != len(again) {
		t.Fatalf("parsed %d then %d events", len(first), len(again))
	}
	for i := range first {
		if first[i].EventID != again[i].EventID {
			t.Fatal("event ids differ between two parses")
		}
	}
	emitted := 0
	err := p.Frame(bytes.NewReader(data), func(b []byte, _ string) error {
		emitted++
		if len(bytes.TrimSpace(b)) == 0 {
			t.Fatalf("framed an empty record from %q", data)
		}
		parse(b)
		return nil
	})
	if err != nil {
		t.Fatalf("framing in-memory input failed: %v", err)
	}
	if emitted == 0 && bytes.Contains(data, []byte("<AuditMessage")) {
		t.Fatalf("framing dropped %q without a record", data)
	}
}

func BenchmarkATNAParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "atna", "syslog.input"))
	if err != nil {
		b.Fatal(err)
	}
	var recs [][]byte
	if err := (ATNA{}).Frame(bytes.NewReader(data), func(d []byte, _ string) error {
		if evs, err := (ATNA{}).Parse(Record{Data: d}); err == nil && len(evs) == 1 {
			recs = append(recs, d) // the good messages only
		}
		return nil
	}); err != nil || len(recs) == 0 {
		b.Fatal(err, len(recs))
	}
	rec := Record{Tenant: "t", ReceivedAt: time.Now()}
	size := 0
	for _, r := range recs {
		size += len(r)
	}
	b.SetBytes(int64(size / len(recs)))
	for i := 0; b.Loop(); i++ {
		rec.Data = recs[i%len(recs)]
		if _, err := (ATNA{}).Parse(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// The sample in docs/formats/atna.md gives what the page says.
func TestATNADocSample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "formats", "atna.md"))
	if err != nil {
		t.Skip("docs not found:", err)
	}
	_, rest, ok := strings.Cut(string(doc), "```xml\n")
	sample, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no xml sample in atna.md")
	}
	evs, err := atnaParse(t, ATNA{}, sample)
	if err != nil || len(evs) != 1 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	e := evs[0]
	if e.Action != event.ActionView || e.Actor.ID != "mpatel@riverside.example" || e.Actor.Name != "Mira Patel" || e.PatientID != "0009917" ||
		e.Time.Format(time.RFC3339Nano) != "2026-10-02T01:14:07.482Z" || e.Device != "viewer01.riverside.local" || e.PurposeOfUse != "ETREAT" || !e.BreakGlass {
		t.Errorf("docs sample gave %+v", e)
	}
}
