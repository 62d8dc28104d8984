package parsers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// gActivityJSON builds one login activity with the given events.
func gActivityJSON(events ...string) string {
	return `{"kind":"admin#reports#activity","id":{"time":"2026-10-06T14:00:00.123Z","uniqueQualifier":"-42","applicationName":"login","customerId":"C03"},` +
		`"actor":{"callerType":"USER","email":"jlee@riverside.example","profileId":"1047"},"ipAddress":"203.0.113.40","events":[` + strings.Join(events, ",") + `]}`
}

func gParse(t *testing.T, p Parser, data string) []event.Event {
	t.Helper()
	evs, err := p.Parse(Record{Data: []byte(data), Tenant: "clinic-a", ReceivedAt: receivedAt})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return evs
}

func TestGoogleLoginMapping(t *testing.T) {
	cases := []struct {
		event   string
		action  event.Action
		outcome event.Outcome
		attrs   map[string]string
	}{
		{`{"type":"login","name":"login_success","parameters":[{"name":"login_type","value":"google_password"},{"name":"is_suspicious","boolValue":false}]}`,
			event.ActionLogin, event.OutcomeSuccess, map[string]string{"login_type": "google_password"}},
		{`{"type":"login","name":"login_success","parameters":[{"name":"is_suspicious","boolValue":true},{"name":"login_challenge_method","multiValue":["password","security_key"]}]}`,
			event.ActionLogin, event.OutcomeSuccess, map[string]string{"suspicious": "true", "login_challenge_method": "password,security_key"}},
		{`{"type":"login","name":"login_failure","parameters":[{"name":"login_failure_type","value":"login_failure_invalid_password"}]}`,
			event.ActionLoginFailed, event.OutcomeFailure, map[string]string{"login_failure_type": "login_failure_invalid_password"}},
		{`{"type":"logout","name":"logout"}`, event.ActionLogout, event.OutcomeSuccess, nil},
		{`{"type":"login","name":"login_challenge","parameters":[{"name":"login_challenge_status","value":"Challenge Failed"},{"name":"is_second_factor","boolValue":"true"}]}`,
			event.ActionLoginFailed, event.OutcomeFailure, map[string]string{"second_factor": "true"}},
		{`{"type":"login","name":"login_verification","parameters":[{"name":"login_challenge_status","value":"Challenge Passed"}]}`,
			event.ActionOther, event.OutcomeSuccess, nil},
		{`{"type":"login","name":"login_challenge"}`, event.ActionOther, event.OutcomeUnknown, nil},
		{`{"type":"account_warning","name":"suspicious_login_less_secure_app"}`, event.ActionLogin, event.OutcomeUnknown, map[string]string{"suspicious": "true"}},
		{`{"type":"account_warning","name":"suspicious_programmatic_login"}`, event.ActionLogin, event.OutcomeUnknown, map[string]string{"suspicious": "true"}},
		{`{"type":"login","name":"risky_sensitive_action_blocked"}`, event.ActionOther, event.OutcomeFailure, nil},
		{`{"type":"attack_warning","name":"gov_attack_warning"}`, event.ActionOther, event.OutcomeUnknown, nil},
		{`{"type":"account_warning","name":"account_disabled_hijacked","parameters":[{"name":"affected_email_address","value":"dortiz@riverside.example"}]}`,
			event.ActionOther, event.OutcomeUnknown, map[string]string{"affected_email_address": "dortiz@riverside.example"}},
	}
	for _, c := range cases {
		evs := gParse(t, GoogleReports{}, gActivityJSON(c.event))
		e := evs[0]
		if e.Action != c.action || e.Outcome != c.outcome {
			t.Errorf("%s: %s/%s, want %s/%s", c.event, e.Action, e.Outcome, c.action, c.outcome)
		}
		for k, v := range c.attrs {
			if e.Attrs[k] != v {
				t.Errorf("%s: attrs[%s] = %q, want %q", c.event, k, e.Attrs[k], v)
			}
		}
		if e.Actor.ID != "jlee@riverside.example" || e.ClientIP != "203.0.113.40" || e.Attrs["application"] != "login" {
			t.Errorf("%s: actor %q ip %q attrs %v", c.event, e.Actor.ID, e.ClientIP, e.Attrs)
		}
	}
}

func TestGmailEvents(t *testing.T) {
	for typ := 0; typ <= 34; typ++ {
		ge, ok := gmailEvents[typ]
		if !ok || !ge.action.Valid() || ge.name == "" {
			t.Errorf("mail_event_type %d: %+v", typ, ge)
		}
	}
	want := map[int]event.Action{1: event.ActionSend, 2: event.ActionReceive, 7: event.ActionMailboxAccess, 10: event.ActionForward,
		11: event.ActionForward, 13: event.ActionDelete, 17: event.ActionExport, 27: event.ActionDelete, 31: event.ActionMailboxAccess,
		32: event.ActionExport, 33: event.ActionMailboxAccess, 34: event.ActionPermission}
	for typ, a := range want {
		if gmailEvents[typ].action != a {
			t.Errorf("mail_event_type %d is %s, want %s", typ, gmailEvents[typ].action, a)
		}
	}
}

// gmailActivity builds one gmail delivery activity.
func gmailActivity(typ int, message string, info ...string) string {
	ps := append([]string{fmt.Sprintf(`{"name":"mail_event_type","intValue":"%d"}`, typ)}, info...)
	return `{"kind":"admin#reports#activity","id":{"time":"2026-10-06T15:00:00Z","uniqueQualifier":"7","applicationName":"gmail"},` +
		`"actor":{"callerType":"USER","email":"drross@riverside.example"},"ipAddress":"198.51.100.25","events":[{"type":"delivery_type","name":"delivery","parameters":[` +
		`{"name":"event_info","messageValue":{"parameter":[` + strings.Join(ps, ",") + `]}},` +
		`{"name":"message_info","messageValue":{"parameter":[` + message + `]}}]}]}`
}

func TestGmailMapping(t *testing.T) {
	const msg = `{"name":"rfc2822_message_id","value":"<m1@x>"},{"name":"subject","value":"Jane Doe labs"},{"name":"payload_size","intValue":"2048"},` +
		`{"name":"source","messageValue":{"parameter":[{"name":"address","value":"results@lab.example"}]}},` +
		`{"name":"destination","multiMessageValue":[{"parameter":[{"name":"address","value":"drross@riverside.example"}]},{"parameter":[{"name":"address","value":"ext@gmail.com"}]}]},` +
		`{"name":"attachment","multiMessageValue":[{"parameter":[{"name":"file_name","value":"jane.pdf"}]}]},` +
		`{"name":"connection_info","messageValue":{"parameter":[{"name":"client_ip","value":"198.51.100.25"}]}}`
	p := GoogleReports{}.WithInternalDomains([]string{"riverside.example"})

	received := gParse(t, p, gmailActivity(2, msg))[0]
	if received.Action != event.ActionReceive || received.ClientIP != "" || received.Attrs["smtp_client_ip"] != "198.51.100.25" {
		t.Errorf("received: %s ip %q attrs %v", received.Action, received.ClientIP, received.Attrs)
	}
	em := received.Email
	if em == nil || em.Sender != "results@lab.example" || !slices.Equal(em.Recipients, []string{"drross@riverside.example", "ext@gmail.com"}) ||
		!em.External || em.SizeBytes != 2048 || em.AttachmentCount != 1 || em.MessageID != "<m1@x>" {
		t.Errorf("received email %+v", em)
	}
	if received.Attrs["subject_len"] != "13" || strings.Contains(received.Raw, "Jane") || strings.Contains(received.Raw, "jane.pdf") {
		t.Errorf("subject or file name kept: attrs %v raw %s", received.Attrs, received.Raw)
	}

	// A delegate opening the owner's message is the delegate's access.
	viewed := gParse(t, p, gmailActivity(31, msg, `{"name":"client_context","messageValue":{"parameter":[{"name":"client_type","value":"WEB"},`+
		`{"name":"session_context","messageValue":{"parameter":[{"name":"delegate_user_email","value":"jlee@riverside.example"}]}}]}}`))[0]
	if viewed.Action != event.ActionMailboxAccess || viewed.Actor.ID != "jlee@riverside.example" || viewed.Attrs["mailbox_owner"] != "drross@riverside.example" ||
		viewed.Attrs["client_type"] != "WEB" || viewed.ClientIP != "198.51.100.25" {
		t.Errorf("viewed by delegate: actor %q ip %q attrs %v", viewed.Actor.ID, viewed.ClientIP, viewed.Attrs)
	}
	// Without the owner's email, a sent message's actor is its sender.
	noActor := strings.Replace(gmailActivity(1, msg), `"actor":{"callerType":"USER","email":"drross@riverside.example"},`, "", 1)
	if sent := gParse(t, GoogleReports{}, noActor)[0]; sent.Actor.ID != "results@lab.example" || sent.Email.External {
		t.Errorf("sent without actor: actor %q external %v", sent.Actor.ID, sent.Email.External)
	}
	// flattened_destinations when there are no destination messages.
	flat := gParse(t, p, gmailActivity(11, `{"name":"flattened_destinations","value":"gmail-for-work-catchall::a@riverside.example,smtp-outbound::b@gmail.com"}`))[0]
	if flat.Action != event.ActionForward || !slices.Equal(flat.Email.Recipients, []string{"a@riverside.example", "b@gmail.com"}) || !flat.Email.External {
		t.Errorf("auto-forward: %s %+v", flat.Action, flat.Email)
	}
	bounced := gParse(t, p, gmailActivity(30, msg, `{"name":"success","boolValue":true}`))[0]
	if bounced.Action != event.ActionSend || bounced.Outcome != event.OutcomeFailure {
		t.Errorf("bounced: %s/%s", bounced.Action, bounced.Outcome)
	}
	unknown := gParse(t, p, gmailActivity(999, ""))[0]
	if unknown.Action != event.ActionOther || unknown.Attrs["source_action"] != "mail_event_type_unknown" || unknown.Attrs["mail_event_type"] != "999" {
		t.Errorf("unknown type: %s %v", unknown.Action, unknown.Attrs)
	}
}

// TestGoogleRedaction: PHI-bearing parameters are replaced in the raw
// record however their names are spelled, and an activity without them is
// kept as received.
func TestGoogleRedaction(t *testing.T) {
	cases := []string{
		`{"name":"subject","value":"Jane Doe"}`,
		`{"Name":"Subject","VALUE":"Jane Doe"}`,
		`{"name":"x","Name":"subject","value":"Jane Doe"}`,
		`{"name":"subject","multiValue":["Jane Doe","x"]}`,
		`{"name":"subject","intValue":"Jane Doe"}`,
		`{"name":"file_name","value":"Jane Doe.pdf"}`,
		`{"name":"string_match","multiMessageValue":[{"parameter":[{"name":"matched_string","value":"Jane Doe"}]}]}`,
	}
	for _, c := range cases {
		data := []byte(`{"a":[{"b":` + c + `}],"n":12345678901234567890}`)
		tree, err := googleTree(data)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := googleRaw(data, tree)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw, "Jane") || !strings.Contains(raw, redactedText) || !strings.Contains(raw, "12345678901234567890") {
			t.Errorf("%s: raw %s", c, raw)
		}
	}
	const plain = "{\"kind\": \"admin#reports#activity\", \"z\": 1, \"a\": \"<b>\"}"
	tree, _ := googleTree([]byte(plain))
	if raw, _ := googleRaw([]byte(plain), tree); raw != `{"kind":"admin#reports#activity","z":1,"a":"<b>"}` {
		t.Errorf("unredacted raw re-ordered or escaped: %s", raw)
	}
}

// TestGoogleEventIDs: the events of one activity differ; re-reading the
// activity gives the same ids; the same activity id in the other
// application is another event.
func TestGoogleEventIDs(t *testing.T) {
	two := gActivityJSON(`{"name":"login_challenge"}`, `{"name":"login_success"}`)
	a := gParse(t, GoogleReports{}, two)
	b := gParse(t, GoogleReports{}, two)
	if len(a) != 2 || a[0].EventID == a[1].EventID || a[0].EventID != b[0].EventID || a[1].EventID != b[1].EventID {
		t.Fatalf("ids %v %v", a, b)
	}
	reindented, _ := json.MarshalIndent(json.RawMessage(two), "", "  ")
	if c := gParse(t, GoogleReports{}, string(reindented)); c[0].EventID != a[0].EventID {
		t.Error("the id depends on the JSON's layout")
	}
	if d := gParse(t, GoogleReports{}, strings.Replace(two, `"applicationName":"login"`, `"applicationName":"gmail"`, 1)); d[0].EventID == a[0].EventID {
		t.Error("the application is not part of the id")
	}
}

func TestGoogleFramePositions(t *testing.T) {
	act := func(uq string) string {
		return strings.Replace(gActivityJSON(`{"name":"logout"}`), `"-42"`, `"`+uq+`"`, 1)
	}
	cases := []struct {
		name  string
		input string
		pos   []string
	}{
		{"ndjson", act("1") + "\n\n" + act("2") + "\n", []string{"1", "3"}},
		{"array", "[\n" + act("1") + ",\n" + act("2") + "\n]", []string{"[0]", "[1]"}},
		{"page", `{"kind":"admin#reports#activities","items":[` + act("1") + "," + act("2") + `],"nextPageToken":"x"}`, []string{"1.items[0]", "1.items[1]"}},
		{"pretty page", "{\n \"kind\": \"admin#reports#activities\",\n \"items\": [\n" + act("1") + "\n ]\n}\n", []string{"1.items[0]"}},
		{"empty page", `{"kind":"admin#reports#activities","etag":"e"}`, nil},
		{"pages one after another", "{\n\"items\": [" + act("1") + "]\n}\n{\n\"items\": [" + act("2") + "]\n}\n", []string{"1#1.items[0]", "1#2.items[0]"}},
		{"an array on an ndjson line", act("1") + "\n[" + act("2") + "," + act("3") + "]\n", []string{"1", "2[0]", "2[1]"}},
		{"broken first lines", "not json\n" + act("1") + "\n" + act("2") + "\n{\"broken\n" + act("3") + "\n", []string{"1", "2", "3", "4", "5"}},
		{"a cut pretty document stays whole", "{\n \"kind\": \"admin#reports#activities\",\n \"items\": [\n", []string{"1"}},
	}
	for _, c := range cases {
		var pos []string
		err := GoogleReports{}.Frame(strings.NewReader(c.input), func(_ []byte, p string) error {
			pos = append(pos, p)
			return nil
		})
		if err != nil || !slices.Equal(pos, c.pos) {
			t.Errorf("%s: positions %v, %v; want %v", c.name, pos, err, c.pos)
		}
	}
}

func TestGoogleGoldenEventsValid(t *testing.T) {
	checkGoldenEvents(t, GoogleReports{}, "malformed.input")
}

func FuzzGoogleReports(f *testing.F) {
	addGoldenSeeds(f, "google-reports")
	f.Add([]byte(gmailActivity(2, `{"name":"destination","messageValue":{"parameter":[{"name":"address","value":"a@b"}]}}`)))
	f.Add([]byte(`{"items":[{"items":[]}]}` + "\n" + `[{"kind":"admin#reports#activities"}]`))
	f.Add([]byte(`{"id":{"time":"2026-10-06T15:00:00Z","applicationName":"LOGIN"},"actor":{"profileId":7},"events":[{"name":"x","parameters":[{"name":"subject","messageValue":{"parameter":[{"name":"subject","value":"s"}]}}]}]}`))
	parsers := []Parser{GoogleReports{}, GoogleReports{}.WithInternalDomains([]string{"riverside.example"})}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, p := range parsers {
			fuzzFramed(t, p, data, func(e event.Event) error {
				if !json.Valid([]byte(e.Raw)) {
					return errors.New("raw is not JSON")
				}
				if e.Actor.ID == "" {
					return errors.New("no actor")
				}
				if i == 0 && e.Email != nil && e.Email.External {
					return errors.New("external without internal domains")
				}
				if e.Attrs["subject_sha256"] != "" && !strings.Contains(e.Raw, redactedText) {
					return errors.New("a subject was hashed but not redacted from raw")
				}
				return nil
			})
		}
	})
}

func BenchmarkGoogleReportsParse(b *testing.B) {
	for _, name := range []string{"login.input", "gmail-page.input"} {
		b.Run(strings.TrimSuffix(name, ".input"), func(b *testing.B) {
			data, err := os.ReadFile(filepath.Join("testdata", "google-reports", name))
			if err != nil {
				b.Fatal(err)
			}
			var recs [][]byte
			if err := (GoogleReports{}).Frame(bytes.NewReader(data), func(rec []byte, _ string) error {
				recs = append(recs, rec)
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			rec := Record{Tenant: "t", ReceivedAt: time.Now()}
			b.SetBytes(int64(len(data) / len(recs)))
			events := 0
			for i := 0; b.Loop(); i++ {
				rec.Data = recs[i%len(recs)]
				evs, err := (GoogleReports{}).Parse(rec)
				if err != nil {
					b.Fatal(err)
				}
				events += len(evs)
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
