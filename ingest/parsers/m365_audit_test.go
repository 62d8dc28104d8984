package parsers

import (
	"bufio"
	"bytes"
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

func TestM365Action(t *testing.T) {
	nv := func(kv ...string) []m365NameValue {
		var out []m365NameValue
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, m365NameValue{Name: looseString{kv[i]}, Value: looseString{kv[i+1]}})
		}
		return out
	}
	tests := []struct {
		op     string
		params []m365NameValue
		want   event.Action
	}{
		{"UserLoggedIn", nil, event.ActionLogin},
		{"UserLoginFailed", nil, event.ActionLoginFailed},
		{"MailItemsAccessed", nil, event.ActionMailboxAccess},
		{"MailboxLogin", nil, event.ActionMailboxAccess},
		{"Send", nil, event.ActionSend},
		{"SendAs", nil, event.ActionSend},
		{"SendOnBehalf", nil, event.ActionSend},
		{"New-InboxRule", nv("ForwardTo", "x@evil.example"), event.ActionRuleChange},
		{"Set-InboxRule", nil, event.ActionRuleChange},
		{"UpdateInboxRules", nil, event.ActionRuleChange},
		{"Remove-InboxRule", nil, event.ActionRuleChange},
		{"Set-Mailbox", nv("Identity", "a@b", "ForwardingSmtpAddress", "smtp:x@evil.example"), event.ActionForward},
		{"Set-Mailbox", nv("ForwardingAddress", "Outside Contact"), event.ActionForward},
		{"Set-Mailbox", nv("ForwardingSmtpAddress", ""), event.ActionAdmin},
		{"Set-Mailbox", nv("DeliverToMailboxAndForward", "True"), event.ActionAdmin},
		{"Set-Mailbox", nil, event.ActionAdmin},
		{"SoftDelete", nil, event.ActionDelete},
		{"HardDelete", nil, event.ActionDelete},
		{"MoveToDeletedItems", nil, event.ActionDelete},
		{"Add-MailboxPermission", nil, event.ActionPermission},
		{"Add-RecipientPermission", nil, event.ActionPermission},
		{"AnonymousLinkCreated", nil, event.ActionPermission},
		{"FileDownloaded", nil, event.ActionExport},
		{"FileSyncDownloadedFull", nil, event.ActionExport},
		{"FileAccessed", nil, event.ActionView},
		{"Create", nil, event.ActionCreate},
		{"Update", nil, event.ActionUpdate},
		{"userloggedin", nil, event.ActionLogin}, // case does not matter
		{" Send ", nil, event.ActionSend},
		{"Set-ConditionalAccessPolicy", nil, event.ActionOther},
		{"", nil, event.ActionOther},
	}
	for _, tt := range tests {
		if got := m365Action(tt.op, tt.params); got != tt.want {
			t.Errorf("m365Action(%q, %v) = %q, want %q", tt.op, tt.params, got, tt.want)
		}
	}
}

func TestM365Outcome(t *testing.T) {
	tests := []struct {
		status string
		action event.Action
		want   event.Outcome
	}{
		{"Succeeded", event.ActionLogin, event.OutcomeSuccess},
		{"Success", event.ActionLogin, event.OutcomeSuccess},
		{"True", event.ActionRuleChange, event.OutcomeSuccess},
		{"true", event.ActionRuleChange, event.OutcomeSuccess},
		{"Failed", event.ActionLogin, event.OutcomeFailure},
		{"False", event.ActionRuleChange, event.OutcomeFailure},
		{"Success", event.ActionLoginFailed, event.OutcomeFailure}, // the operation wins
		{"", event.ActionLoginFailed, event.OutcomeFailure},
		{"PartiallySucceeded", event.ActionLogin, event.OutcomeUnknown},
		{"", event.ActionView, event.OutcomeUnknown},
	}
	for _, tt := range tests {
		if got := m365Outcome(tt.status, tt.action); got != tt.want {
			t.Errorf("m365Outcome(%q, %s) = %q, want %q", tt.status, tt.action, got, tt.want)
		}
	}
}

func TestM365Time(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2020-09-29T08:59:26", "2020-09-29T08:59:26Z"},
		{"2020-09-29T08:59:26Z", "2020-09-29T08:59:26Z"},
		{"2020-09-29T08:59:26.1234567Z", "2020-09-29T08:59:26.1234567Z"},
		{"2020-09-29T08:59:26.5", "2020-09-29T08:59:26.5Z"},
		{"2020-09-29T10:59:26+02:00", "2020-09-29T08:59:26Z"},
		{"2020-09-29 08:59:26", "2020-09-29T08:59:26Z"},
		{" 2020-09-29T08:59:26 ", "2020-09-29T08:59:26Z"},
		{"", ""},
		{"29/09/2020 08:59", ""},
		{"2020-09-29", ""},
		{"1601324366", ""},
	}
	for _, tt := range tests {
		got, err := m365Time(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("m365Time(%q) = %v, want an error", tt.in, got)
			} else if !strings.Contains(err.Error(), "CreationTime") {
				t.Errorf("m365Time(%q) error %q does not name the field", tt.in, err)
			}
			continue
		}
		if err != nil || got.UTC().Format(time.RFC3339Nano) != tt.want {
			t.Errorf("m365Time(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestCleanIP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1.2.3.4", "1.2.3.4"},
		{"1.2.3.4:8085", "1.2.3.4"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"2603:1026:c09:834::5", "2603:1026:c09:834::5"},
		{"2001:DB8:0:0:0:0:0:A2", "2001:db8::a2"},
		{"FE80::", "fe80::"},
		{"::ffff:1.2.3.4", "1.2.3.4"},
		{"[::ffff:1.2.3.4]:80", "1.2.3.4"},
		{"fe80::1%eth0", "fe80::1"},
		{" 10.0.0.1 ", "10.0.0.1"},
		{"", ""},
		{"not-an-ip", ""},
		{"1.2.3", ""},
		{"1.2.3.4:port", ""},
		{"<private>", ""},
	}
	for _, tt := range tests {
		got, ok := cleanIP(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("cleanIP(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestM365ForwardTargets(t *testing.T) {
	nv := func(kv ...string) []m365NameValue {
		var out []m365NameValue
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, m365NameValue{Name: looseString{kv[i]}, Value: looseString{kv[i+1]}})
		}
		return out
	}
	tests := []struct {
		name            string
		params, opProps []m365NameValue
		want            []string
	}{
		{"plain", nv("ForwardTo", "bob@example.org"), nil, []string{"bob@example.org"}},
		{"several kinds, repeats dropped", nv("ForwardTo", "a@x.org;b@y.org", "RedirectTo", "a@x.org", "ForwardAsAttachmentTo", `"Bob" [SMTP:bob@z.org]`), nil,
			[]string{"a@x.org", "b@y.org", "bob@z.org"}},
		{"set-mailbox", nv("ForwardingSmtpAddress", "smtp:out@gmail.com", "DeliverToMailboxAndForward", "True"), nil, []string{"out@gmail.com"}},
		{"display name kept", nv("ForwardingAddress", "Outside Contact"), nil, []string{"Outside Contact"}},
		{"rule actions", nil, nv("RuleActions", `[{"ActionType":"Forward","Recipients":["a@x.org","b@y.org"]},{"ActionType":"Redirect","Recipients":["c@z.org"]},{"ActionType":"MoveToFolder"}]`),
			[]string{"a@x.org", "b@y.org", "c@z.org"}},
		{"rule actions that are not JSON", nil, nv("RuleActions", `[{"ActionType":"DeferAction"`), nil},
		{"rule actions of odd shape", nil, nv("RuleActions", `{"ActionType":"Forward","Recipients":"a@x.org"}`), nil},
		{"no forwarding", nv("MarkAsRead", "True", "Name", "r"), nil, nil},
		{"empty value", nv("ForwardTo", " ; "), nil, nil},
	}
	for _, tt := range tests {
		if got := m365ForwardTargets(tt.params, tt.opProps); !slices.Equal(got, tt.want) {
			t.Errorf("%s: m365ForwardTargets = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := emailDomains([]string{"a@X.org", "b@x.org", "Outside Contact", "c@y.org", "broken@"}); !slices.Equal(got, []string{"x.org", "y.org"}) {
		t.Errorf("emailDomains = %q", got)
	}
	if got := m365AttachmentCount("a.png (6438b); b.png (449b); "); got != 2 {
		t.Errorf("m365AttachmentCount = %d, want 2", got)
	}
}

// Numbers arrive as strings and strings as numbers; structures arrive in
// shapes the API never documented. None of it may cost the record.
func TestM365TolerantDecoding(t *testing.T) {
	in := `{"CreationTime":"2026-10-06T15:00:00","Id":12345,"Operation":"Send","UserId":"u@x.org","RecordType":"2","ResultStatus":true,
		"LogonType":"2","ExternalAccess":"True","OperationCount":"3","ClientIP":["1.2.3.4"],"ClientIPAddress":"1.2.3.4:99",
		"Item":"not an object","Parameters":{"Name":"x"},"ExtendedProperties":[{"Name":"UserAgent","Value":42},"junk"],
		"DeviceProperties":null,"Folders":[{"Path":7}],"AffectedItems":5}`
	evs, err := M365Audit{}.Parse(Record{Data: []byte(in), Tenant: "t", ReceivedAt: receivedAt})
	if err != nil || len(evs) != 1 {
		t.Fatalf("Parse: %d events, %v", len(evs), err)
	}
	e := evs[0]
	if err := e.Validate(receivedAt); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"record_type": "2", "result_status": "true", "logon_type": "delegate", "external_access": "true", "items_count": "3", "user_agent": "42", "folder": "7", "source_action": "Send"}
	for k, v := range want {
		if e.Attrs[k] != v {
			t.Errorf("attrs[%s] = %q, want %q", k, e.Attrs[k], v)
		}
	}
	if e.ClientIP != "1.2.3.4" || e.Outcome != event.OutcomeSuccess || e.Email == nil || e.Email.Sender != "u@x.org" {
		t.Errorf("client ip %q, outcome %q, email %+v", e.ClientIP, e.Outcome, e.Email)
	}
	if e.EventID != event.ID("t", "m365-audit", "12345|Send|2026-10-06T15:00:00Z") {
		t.Errorf("event id %s is not keyed by Id, Operation and time", e.EventID)
	}
}

func TestM365Frame(t *testing.T) {
	type rec struct{ pos, data string }
	tests := []struct {
		name string
		in   string
		want []rec
	}{
		{"ndjson", "{\"a\":1}\n{\"b\":2}\n", []rec{{"1", `{"a":1}`}, {"2", `{"b":2}`}}},
		{"content blob", `[{"a":1},{"b":2}]`, []rec{{"[0]", `{"a":1}`}, {"[1]", `{"b":2}`}}},
		{"pretty blob", "[\n  {\n    \"a\": 1\n  },\n  {\"b\": 2}\n]\n", []rec{{"[0]", "{\n    \"a\": 1\n  }"}, {"[1]", `{"b": 2}`}}},
		{"blobs back to back", "[{\"a\":1}]\n[{\"b\":2},{\"c\":3}]\n", []rec{{"[0]", `{"a":1}`}, {"[1]", `{"b":2}`}, {"[2]", `{"c":3}`}}},
		{"truncated inside a record", `[{"a":1},{"b":`, []rec{{"[0]", `{"a":1}`}, {"[1]", `{"b":`}}},
		{"truncated after a comma", `[{"a":1},`, []rec{{"[0]", `{"a":1}`}, {"[1]", ``}}},
		{"unclosed", `[{"a":1}`, []rec{{"[0]", `{"a":1}`}, {"[1]", ``}}},
		{"garbage after a blob", "[{\"a\":1}]\nxyz", []rec{{"[0]", `{"a":1}`}, {"[1]", `xyz`}}},
		{"object after a blob", "[{\"a\":1}]\n{\"b\":2}", []rec{{"[0]", `{"a":1}`}, {"[1]", `{"b":2}`}}},
		{"empty blob", `[]`, nil},
		{"pretty record", "{\n  \"a\": 1\n}\n", []rec{{"1", "{\n  \"a\": 1\n}\n"}}},
	}
	for _, tt := range tests {
		var got []rec
		err := M365Audit{}.Frame(strings.NewReader(tt.in), func(b []byte, pos string) error {
			got = append(got, rec{pos, string(b)})
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: framed %q, want %q", tt.name, got, tt.want)
		}
	}
	if err := frameJSON(strings.NewReader(`[{"a":"`+strings.Repeat("x", 100)+`"}]`), true, 64, func([]byte, string) error { return nil }); err == nil {
		t.Error("an oversized content blob was accepted")
	}
	stop := errors.New("stop")
	if err := (M365Audit{}).Frame(strings.NewReader(`[{},{}]`), func([]byte, string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("emit error: got %v", err)
	}
}

// A content blob that reaches Parse unframed gives one event per element.
func TestM365ParseArray(t *testing.T) {
	good := `{"CreationTime":"2026-10-06T15:00:00","Id":"a","Operation":"Send","UserId":"u"}`
	evs, err := M365Audit{}.Parse(Record{Data: []byte("[" + good + `,7,{"Id":"b"},` + strings.Replace(good, `"a"`, `"c"`, 1) + "]"), Tenant: "t"})
	if len(evs) != 2 {
		t.Errorf("%d events, want 2", len(evs))
	}
	if err == nil || !strings.Contains(err.Error(), "2 of 4 records unreadable: [1]: ") || !strings.Contains(err.Error(), `[2]: M365 audit record (Id "b")`) {
		t.Errorf("error %v does not name the bad elements", err)
	}
}

func TestM365GoldenEventsValid(t *testing.T) {
	checkGoldenEvents(t, M365Audit{}, "malformed.input")
}

// samplesDir finds shared/samples/<sub> in the package directory's
// ancestors: the samples live beside the repository, not in it, and are
// absent from a user's clone.
func samplesDir(t *testing.T, sub string) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "samples", sub)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skipf("shared/samples/%s not found above the package; skipping the real-sample test", sub)
		}
		dir = parent
	}
}

// TestM365RealSamples runs the published, anonymised Unified Audit Log
// records through the parser the way ingest reads a file: every one must
// become one valid event with the action its Operation maps to.
func TestM365RealSamples(t *testing.T) {
	dir := samplesDir(t, "email_m365_ual")
	const name = "sekoia-intake-formats-o365-tests"
	index, err := os.ReadFile(filepath.Join(dir, name+".INDEX.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	// Operation → expected action, for every Operation the samples hold.
	want := map[string]event.Action{
		"UserLoggedIn":      event.ActionLogin,
		"UserLoginFailed":   event.ActionLoginFailed,
		"MailItemsAccessed": event.ActionMailboxAccess,
		"New-InboxRule":     event.ActionRuleChange,
		"UpdateInboxRules":  event.ActionRuleChange,
		"HardDelete":        event.ActionDelete,
		"SoftDelete":        event.ActionDelete,
		"Update":            event.ActionUpdate,
		"Create":            event.ActionCreate,
	}
	ops := map[string]string{} // line → Operation, from the index
	sc := bufio.NewScanner(bytes.NewReader(index))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 4 || f[0] == "line" {
			continue
		}
		ops[f[0]] = f[3]
	}
	if len(ops) != 17 {
		t.Fatalf("index lists %d records, want 17", len(ops))
	}

	data, err := os.ReadFile(filepath.Join(dir, name+".input-messages.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	p := M365Audit{}
	now := time.Now()
	ids := map[string]string{}
	seen := 0
	err = p.Frame(bytes.NewReader(data), func(b []byte, pos string) error {
		seen++
		op, ok := ops[pos]
		if !ok {
			t.Errorf("line %s is not in the index", pos)
			return nil
		}
		evs, err := p.Parse(Record{Data: b, Origin: "sample:" + pos, Tenant: "clinic-samples", ReceivedAt: now})
		if err != nil || len(evs) != 1 {
			t.Errorf("line %s (%s): %d events, %v", pos, op, len(evs), err)
			return nil
		}
		e := evs[0]
		if err := e.Validate(now); err != nil {
			t.Errorf("line %s (%s): invalid event: %v", pos, op, err)
		}
		wantAction, ok := want[op]
		if !ok {
			t.Errorf("line %s: no expectation for Operation %q; add one", pos, op)
		} else if e.Action != wantAction {
			t.Errorf("line %s: %s → %q, want %q", pos, op, e.Action, wantAction)
		}
		if e.Attrs["source_action"] != op {
			t.Errorf("line %s: source_action %q, want %q", pos, e.Attrs["source_action"], op)
		}
		if prev, dup := ids[e.EventID]; dup {
			t.Errorf("lines %s and %s share event id %s: distinct records would collapse", prev, pos, e.EventID)
		}
		ids[e.EventID] = pos
		// The quirks the samples are kept for.
		switch pos {
		case "3":
			if e.ClientIP != "1.2.3.4" {
				t.Errorf("line 3: ip:port gave client_ip %q", e.ClientIP)
			}
		case "5":
			if e.Outcome != event.OutcomeFailure {
				t.Errorf("line 5: UserLoginFailed with ResultStatus Success gave outcome %q", e.Outcome)
			}
		case "7":
			if e.ClientIP != "fe80::" {
				t.Errorf("line 7: ClientIPAddress FE80:: gave client_ip %q", e.ClientIP)
			}
		case "10":
			if e.Email == nil || !slices.Equal(e.Email.Recipients, []string{"bob@example.org", "joe@example.org"}) {
				t.Errorf("line 10: forwarding rule gave email %+v", e.Email)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 17 {
		t.Errorf("framed %d records, want 17", seen)
	}
}

func FuzzM365Audit(f *testing.F) {
	addGoldenSeeds(f, "m365-audit")
	f.Add([]byte(`[{"CreationTime":"2026-10-06T15:00:00","Operation":"Send","UserId":"u","Item":{"Attachments":"a;b"}},`))
	f.Add([]byte(`{"CreationTime":"2026-10-06T15:00:00","Operation":"UpdateInboxRules","UserId":"u","OperationProperties":[{"Name":"RuleActions","Value":"[{\"ActionType\":\"Forward\",\"Recipients\":[\"a@\"]}]"}]}`))
	f.Add([]byte(`{"CreationTime":1,"Id":null,"Operation":["x"],"UserId":{"a":1},"ClientIP":"[::1"}`))
	f.Add([]byte("[]\n[] x"))
	p := M365Audit{}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParser(t, p, data)
		evs, _ := p.Parse(Record{Data: data, Tenant: "fuzz"})
		for _, e := range evs {
			if e.Attrs["source_action"] == "" {
				t.Fatalf("event without attrs.source_action from %q", data)
			}
			if e.ClientIP != "" && e.Attrs["client_ip_raw"] != "" {
				t.Fatalf("both client_ip and client_ip_raw from %q", data)
			}
		}
	})
}

func BenchmarkM365AuditParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "m365-audit", "exchange.input"))
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	rec := Record{Tenant: "t", ReceivedAt: time.Now()}
	b.SetBytes(int64(len(data) / len(lines)))
	for i := 0; b.Loop(); i++ {
		rec.Data = lines[i%len(lines)]
		if _, err := (M365Audit{}).Parse(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
