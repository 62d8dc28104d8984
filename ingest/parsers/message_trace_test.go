package parsers

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

func TestMTTime(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
	}{
		{"2026-10-06T15:00:12.8738542Z", time.Date(2026, 10, 6, 15, 0, 12, 873854200, time.UTC)},
		{"2026-10-06T15:00:12Z", time.Date(2026, 10, 6, 15, 0, 12, 0, time.UTC)},
		{"2026-10-06T11:00:12-04:00", time.Date(2026, 10, 6, 15, 0, 12, 0, time.UTC)},
		{"2026-10-06T15:00:12.874", time.Date(2026, 10, 6, 15, 0, 12, 874000000, time.UTC)},
		{"2026-10-06 15:00:12", time.Date(2026, 10, 6, 15, 0, 12, 0, time.UTC)},
		{"10/6/2026 3:00:12 PM", time.Date(2026, 10, 6, 15, 0, 12, 0, time.UTC)},   // en-US
		{"10/06/2026 03:00 AM", time.Date(2026, 10, 6, 3, 0, 0, 0, time.UTC)},      // en-US, no seconds
		{"06/10/2026 15:00:12", time.Date(2026, 10, 6, 15, 0, 12, 0, time.UTC)},    // en-GB: 24-hour, day first
		{"10/13/2026 15:00:12", time.Date(2026, 10, 13, 15, 0, 12, 0, time.UTC)},   // only month-first fits
		{"13/10/2026 3:00:12 PM", time.Date(2026, 10, 13, 15, 0, 12, 0, time.UTC)}, // only day-first fits
		{"2026/10/06 15:00:12", time.Date(2026, 10, 6, 15, 0, 12, 0, time.UTC)},    // ja-JP
		{"06.10.2026 15:00:12", time.Date(2026, 10, 6, 15, 0, 12, 0, time.UTC)},    // de-DE
		{"6.10.2026 15:00", time.Date(2026, 10, 6, 15, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		got, err := mtTime(c.in)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("mtTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01T00:00:00Z", "31/31/2026 10:00", "10/6/26 3:00 PM"} {
		if _, err := mtTime(bad); err == nil {
			t.Errorf("mtTime(%q) accepted", bad)
		}
	}
}

func TestMTRecipients(t *testing.T) {
	cases := []struct {
		list, status string
		want         []mtRecipient
	}{
		{"someone@gmail.com", "", []mtRecipient{{"someone@gmail.com", ""}}},
		{"a@x.org;b@y.org, c@z.org", "", []mtRecipient{{"a@x.org", ""}, {"b@y.org", ""}, {"c@z.org", ""}}},
		{"a@x.org;A@X.org", "", []mtRecipient{{"a@x.org", ""}}},
		// The extended report's recipient_status holds SMTP statuses: the
		// address column wins.
		{"a@x.org", "250 2.1.5 Recipient OK", []mtRecipient{{"a@x.org", ""}}},
		{"", "a@x.org##Receive, Deliver;b@y.org##Receive, Send", []mtRecipient{{"a@x.org", "Receive, Deliver"}, {"b@y.org", "Receive, Send"}}},
		{"", "250 2.1.5 Recipient OK", nil},
		{"", "", nil},
	}
	for _, c := range cases {
		if got := mtRecipients(c.list, c.status); !slices.Equal(got, c.want) {
			t.Errorf("mtRecipients(%q, %q) = %v, want %v", c.list, c.status, got, c.want)
		}
	}
}

func TestMTOutcomes(t *testing.T) {
	for status, want := range map[string]event.Outcome{
		"Delivered": event.OutcomeSuccess, "Expanded": event.OutcomeSuccess, "Resolved": event.OutcomeSuccess,
		"Failed": event.OutcomeFailure, "FilteredAsSpam": event.OutcomeFailure, "Quarantined": event.OutcomeFailure,
		"Pending": event.OutcomeUnknown, "Getting status": event.OutcomeUnknown, "None": event.OutcomeUnknown, "": event.OutcomeUnknown,
	} {
		if got := mtStatusOutcome(status); got != want {
			t.Errorf("mtStatusOutcome(%q) = %q, want %q", status, got, want)
		}
	}
	r := func(steps ...string) []mtRecipient {
		var out []mtRecipient
		for _, s := range steps {
			out = append(out, mtRecipient{"a@x", s})
		}
		return out
	}
	cases := []struct {
		rcpts  []mtRecipient
		want   event.Outcome
		action string
	}{
		{r("Receive, Deliver"), event.OutcomeSuccess, "DELIVER"},
		{r("Receive, Send", "Receive, Deliver"), event.OutcomeSuccess, "SEND,DELIVER"},
		{r("Receive, Fail", "Receive, Deliver"), event.OutcomeSuccess, "FAIL,DELIVER"},
		{r("Receive, Fail"), event.OutcomeFailure, "FAIL"},
		{r("Receive, Drop", "Receive, Fail"), event.OutcomeFailure, "DROP,FAIL"},
		{r("Receive, Defer"), event.OutcomeUnknown, "DEFER"},
		{r(""), event.OutcomeUnknown, "message_trace"},
	}
	for _, c := range cases {
		if got := mtSummaryOutcome(c.rcpts); got != c.want {
			t.Errorf("mtSummaryOutcome(%v) = %q, want %q", c.rcpts, got, c.want)
		}
		if got := mtSummaryAction(c.rcpts); got != c.action {
			t.Errorf("mtSummaryAction(%v) = %q, want %q", c.rcpts, got, c.action)
		}
	}
}

// mtParseFile frames and parses a golden input with p.
func mtParseFile(t *testing.T, p Parser, name string) []event.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "message-trace", name))
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	if err := p.(Framer).Frame(bytes.NewReader(data), func(b []byte, _ string) error {
		got, _ := p.Parse(Record{Data: b, Tenant: "clinic-a", ReceivedAt: receivedAt})
		evs = append(evs, got...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestMessageTraceDirection: without the practice's domains, a
// Get-MessageTrace row is a send only when it went to an outside server
// (ToIP); with them every row has a direction, the actor follows it, and
// Email.External is set.
func TestMessageTraceDirection(t *testing.T) {
	type got struct {
		action   event.Action
		actor    string
		basis    string
		external bool
		clientIP string
	}
	summarize := func(evs []event.Event) []got {
		var out []got
		for _, e := range evs {
			out = append(out, got{e.Action, e.Actor.ID, e.Attrs["direction_basis"], e.Email.External, e.ClientIP})
		}
		return out
	}
	plain := summarize(mtParseFile(t, MessageTrace{}, "get-messagetrace.input"))
	wantPlain := []got{
		{event.ActionSend, "jlee@riverside.example", "to_ip", false, "203.0.113.40"},
		{event.ActionOther, "results@lab.example", "", false, ""},
		{event.ActionOther, "promo@spam.example", "", false, ""},
		{event.ActionOther, "frontdesk@riverside.example", "", false, ""},
		{event.ActionOther, "jlee@riverside.example", "", false, ""},
		{event.ActionOther, "drross@riverside.example", "", false, ""},
	}
	if !slices.Equal(plain, wantPlain) {
		t.Errorf("without internal domains:\n got  %v\n want %v", plain, wantPlain)
	}
	p := MessageTrace{}.WithInternalDomains([]string{"riverside.example"})
	withDomains := summarize(mtParseFile(t, p, "get-messagetrace.input"))
	wantDomains := []got{
		{event.ActionSend, "jlee@riverside.example", "internal_domains", true, "203.0.113.40"},
		// Arriving mail: the recipient is the actor, and the sending
		// server's address is not the recipient's client IP.
		{event.ActionReceive, "drross@riverside.example", "internal_domains", false, ""},
		{event.ActionReceive, "frontdesk@riverside.example", "internal_domains", false, ""},
		{event.ActionSend, "frontdesk@riverside.example", "internal_domains", true, "203.0.113.41"},
		{event.ActionSend, "jlee@riverside.example", "internal_domains", false, ""},
		{event.ActionSend, "drross@riverside.example", "internal_domains", true, "2001:db8:4::17"},
	}
	if !slices.Equal(withDomains, wantDomains) {
		t.Errorf("with internal domains:\n got  %v\n want %v", withDomains, wantDomains)
	}
	// The directionality column outranks the domains; one event per
	// recipient of arriving mail.
	summary := summarize(mtParseFile(t, p, "summary-report-utf16.input"))
	wantSummary := []got{
		{event.ActionSend, "jlee@riverside.example", "directionality", true, "203.0.113.40"},
		{event.ActionReceive, "drross@riverside.example", "directionality", false, ""},
		{event.ActionReceive, "frontdesk@riverside.example", "directionality", false, ""},
		{event.ActionReceive, "nobody@riverside.example", "directionality", false, ""},
		{event.ActionSend, "frontdesk@riverside.example", "directionality", true, "203.0.113.41"},
	}
	if !slices.Equal(summary, wantSummary) {
		t.Errorf("summary report:\n got  %v\n want %v", summary, wantSummary)
	}
}

// TestMessageTraceSubjectNeverStored: the subjects of the golden inputs
// appear nowhere in their events, yet every event with a subject has its
// hash and length.
func TestMessageTraceSubjectNeverStored(t *testing.T) {
	subjects := []string{"Jane Doe", "Referral", "Results ready", "You won", "Appointment", "Claim 12345", "Befund", "Ergebnis"}
	inputs, _ := filepath.Glob(filepath.Join("testdata", "message-trace", "*.input"))
	n := 0
	for _, in := range inputs {
		for _, e := range mtParseFile(t, MessageTrace{}, filepath.Base(in)) {
			n++
			text := e.Raw
			for k, v := range e.Attrs {
				text += "\n" + k + "=" + v
			}
			for _, s := range subjects {
				if strings.Contains(text, s) {
					t.Errorf("%s: event keeps the subject text %q", in, s)
				}
			}
			if strings.Contains(e.Raw, redactedText) != (e.Attrs["subject_sha256"] != "") {
				t.Errorf("%s: raw redacted %v but subject hash %q", in, strings.Contains(e.Raw, redactedText), e.Attrs["subject_sha256"])
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d events from the golden inputs", n)
	}
}

// TestMessageTraceEventIDs: a re-exported row is the same event even when
// its status moved on (Pending, then Delivered), and rows of different
// recipients or messages are different events.
func TestMessageTraceEventIDs(t *testing.T) {
	const hdr = "Received,SenderAddress,RecipientAddress,Subject,Status,ToIP,MessageTraceId\n"
	parse := func(rows string) []event.Event {
		evs, err := MessageTrace{}.Parse(Record{Data: []byte(hdr + rows), Tenant: "clinic-a", ReceivedAt: receivedAt})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	pending := parse("10/6/2026 3:00:12 PM,a@riverside.example,b@gmail.com,s,Pending,1.2.3.4,id-1\n")
	delivered := parse("10/6/2026 3:00:12 PM,a@riverside.example,b@gmail.com,s,Delivered,1.2.3.4,id-1\n")
	other := parse("10/6/2026 3:00:12 PM,a@riverside.example,c@gmail.com,s,Delivered,1.2.3.4,id-1\n")
	noID := parse("10/6/2026 3:00:12 PM,a@riverside.example,b@gmail.com,s,Delivered,1.2.3.4,\n")
	if pending[0].EventID != delivered[0].EventID {
		t.Error("a status update is a new event")
	}
	if other[0].EventID == delivered[0].EventID || noID[0].EventID == delivered[0].EventID {
		t.Error("distinct rows share an event id")
	}
	if again := parse("10/6/2026 3:00:12 PM,a@riverside.example,b@gmail.com,s,Delivered,1.2.3.4,\n"); again[0].EventID != noID[0].EventID {
		t.Error("a re-read row without a trace id is a new event")
	}
	// Each recipient of arriving mail is its own event.
	in := parse("10/6/2026 3:00:12 PM,x@lab.example,a@riverside.example;b@riverside.example,s,Delivered,,\n")
	if len(in) != 1 {
		t.Fatalf("%d events", len(in))
	}
	p := MessageTrace{InternalDomains: []string{"riverside.example"}}
	evs, err := p.Parse(Record{Data: []byte(hdr + "10/6/2026 3:00:12 PM,x@lab.example,a@riverside.example;b@riverside.example,s,Delivered,,\n"), Tenant: "clinic-a", ReceivedAt: receivedAt})
	if err != nil || len(evs) != 2 || evs[0].EventID == evs[1].EventID || evs[0].Actor.ID != "a@riverside.example" || evs[1].Actor.ID != "b@riverside.example" {
		t.Fatalf("arriving mail for two recipients: %d events, %v", len(evs), err)
	}
}

func TestMessageTraceErrors(t *testing.T) {
	const hdr = "date_time_utc,sender_address,recipient_address,event_id,message_subject\n"
	cases := []struct {
		name, input, want string
	}{
		{"not a trace", "a,b\n1,2\n", "no column for a time (Received, origin_timestamp_utc or date_time_utc), a sender"},
		{"json", `{"a":1}`, "the input is JSON, not a CSV export"},
		{"unknown step", hdr + "2026-10-06T15:00:00Z,a@x,b@y,FROB,s\n", `event_id "FROB" is not a message tracking event`},
		{"empty step", hdr + "2026-10-06T15:00:00Z,a@x,b@y,,s\n", "the event_id column is empty"},
		{"bad time", hdr + "noon,a@x,b@y,DELIVER,s\n", `date_time_utc: "noon" is not a time`},
		{"nobody", hdr + "2026-10-06T15:00:00Z,,,DELIVER,s\n", "names neither a sender nor a recipient"},
	}
	for _, c := range cases {
		evs, err := MessageTrace{}.Parse(Record{Data: []byte(c.input), Tenant: "t", ReceivedAt: receivedAt})
		if err == nil || !strings.Contains(err.Error(), c.want) || len(evs) != 0 {
			t.Errorf("%s: %d events, error %v; want %q", c.name, len(evs), err, c.want)
		}
	}
	// A routing step is neither an event nor an error.
	evs, err := MessageTrace{}.Parse(Record{Data: []byte(hdr + "2026-10-06T15:00:00Z,a@x,b@y,AGENTINFO,s\n"), Tenant: "t", ReceivedAt: receivedAt})
	if len(evs) != 0 || err != nil {
		t.Errorf("AGENTINFO: %d events, %v", len(evs), err)
	}
}

func TestMessageTraceGoldenEventsValid(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "message-trace", "*.input"))
	for _, in := range inputs {
		for _, e := range mtParseFile(t, MessageTrace{}, filepath.Base(in)) {
			if err := checkEmailEvent(MessageTrace{}, e); err != nil {
				t.Errorf("%s: %v", in, err)
			}
			if err := e.Validate(receivedAt); err != nil {
				t.Errorf("%s: invalid event: %v", in, err)
			}
		}
	}
}

func FuzzMessageTrace(f *testing.F) {
	addGoldenSeeds(f, "message-trace")
	f.Add([]byte("Received,SenderAddress,RecipientAddress,Subject,Status,ToIP\n10/6/2026 3:00:12 PM,a@x,b@y;c@z,\"s,\"\"t\"\"\",Delivered,1.2.3.4\n"))
	f.Add([]byte("origin_timestamp_utc;sender_address;recipient_status;directionality\n2026-10-06T15:00:00Z;a@x;b@y##Receive, Deliver;c@z##Receive;Incoming\n"))
	f.Add([]byte("date_time_utc,sender_address,recipient_address,event_id\n2026-10-06T15:00:00Z,,b@y,DELIVER\n"))
	parsers := []Parser{MessageTrace{}, MessageTrace{}.WithInternalDomains([]string{"y", "x.example"})}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, p := range parsers {
			fuzzFramed(t, p, data, func(e event.Event) error {
				if e.Email == nil {
					return errors.New("no email")
				}
				if e.Attrs["direction"] == "" || e.Attrs["trace_report"] == "" {
					return errors.New("no direction or report")
				}
				if i == 0 && e.Email.External {
					return errors.New("external without internal domains")
				}
				if strings.Contains(e.Raw, redactedText) != (e.Attrs["subject_sha256"] != "") && !strings.Contains(string(data), redactedText) {
					return errors.New("subject hashed but not redacted, or the reverse")
				}
				return nil
			})
		}
	})
}

func BenchmarkMessageTraceParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "message-trace", "get-messagetrace.input"))
	if err != nil {
		b.Fatal(err)
	}
	var recs [][]byte
	if err := (MessageTrace{}).Frame(bytes.NewReader(data), func(rec []byte, _ string) error {
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
		evs, err := (MessageTrace{}).Parse(rec)
		if err != nil {
			b.Fatal(err)
		}
		events += len(evs)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
