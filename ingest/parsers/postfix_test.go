package parsers

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

func pfParse(t *testing.T, p Parser, line string) ([]event.Event, error) {
	t.Helper()
	evs, err := p.Parse(Record{Data: []byte(line), Tenant: "clinic-a", SourceName: "mx1", ReceivedAt: receivedAt})
	for _, e := range evs {
		if cerr := checkEmailEvent(p, e); cerr != nil {
			t.Errorf("%q: %v", line, cerr)
		}
		if verr := e.Validate(receivedAt); verr != nil {
			t.Errorf("%q: invalid event: %v", line, verr)
		}
	}
	if err != nil && len(evs) > 0 {
		t.Errorf("%q: events with an error", line)
	}
	return evs, err
}

// TestPostfixSamples runs the published postfix-grok-patterns test
// messages (bodies without a syslog prefix; INDEX.tsv names the program)
// with a synthetic "postfix/<program>[123]: " tag, and bare: each is an
// event of the expected action and outcome, or noise (no event, no error),
// and never an error. The bare lines must map the same way, since a
// message's content says what it is when the tag is missing.
func TestPostfixSamples(t *testing.T) {
	dir := samplesDir(t, "email_postfix")
	const name = "postfix-grok-patterns-test-messages"
	index, err := os.ReadFile(filepath.Join(dir, name+".INDEX.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	programs := map[int]string{}
	sc := bufio.NewScanner(bytes.NewReader(index))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 3 || f[0] == "line" {
			continue
		}
		var n int
		for _, c := range f[0] {
			n = n*10 + int(c-'0')
		}
		// "^%{POSTFIX_SMTPD}$" → smtpd
		programs[n] = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(f[2], "^%{POSTFIX_"), "}$"))
	}
	if len(programs) != 40 {
		t.Fatalf("index lists %d messages, want 40", len(programs))
	}
	data, err := os.ReadFile(filepath.Join(dir, name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		action  event.Action // "" for noise
		outcome event.Outcome
		source  string // attrs.source_action
	}
	other := func(o event.Outcome, src string) want { return want{event.ActionOther, o, src} }
	// Connection chatter: connect, disconnect, lost connection, timeout,
	// TLS, EHLO and DNS warnings.
	noise := []int{7, 8, 11, 12, 13, 16, 17, 18, 19, 20, 21, 29, 33, 34, 35, 36, 37, 38, 40}
	expect := map[int]want{
		1:  other(event.OutcomeSuccess, "message_id"),
		2:  other(event.OutcomeSuccess, "queued"),
		3:  other(event.OutcomeSuccess, "delivery_sent"), // to a content filter on 127.0.0.1
		4:  {event.ActionSend, event.OutcomeSuccess, "delivery_sent"},
		5:  {event.ActionSend, event.OutcomeFailure, "delivery_bounced"},
		6:  {event.ActionSend, event.OutcomeFailure, "delivery_deferred"},
		9:  other(event.OutcomeSuccess, "client"),
		10: other(event.OutcomeFailure, "reject"),
		14: other(event.OutcomeFailure, "reject"),
		15: other(event.OutcomeFailure, "reject"),
		22: other(event.OutcomeFailure, "reject"),
		23: other(event.OutcomeFailure, "reject"),
		24: other(event.OutcomeSuccess, "proxy-accept"),
		25: other(event.OutcomeFailure, "proxy-reject"),
		26: other(event.OutcomeFailure, "proxy-reject"),
		27: other(event.OutcomeFailure, "discard"),
		28: other(event.OutcomeSuccess, "filter"),
		30: {event.ActionLoginFailed, event.OutcomeFailure, "sasl_auth_failed"},
		31: other(event.OutcomeFailure, "reject"),
		32: other(event.OutcomeSuccess, "reject_warning"),
		39: other(event.OutcomeFailure, "milter-reject"),
	}
	for _, n := range noise {
		expect[n] = want{}
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) != 40 {
		t.Fatalf("%d messages, want 40", len(lines))
	}
	byLine := map[int]event.Event{}
	for i, msg := range lines {
		n := i + 1
		w, ok := expect[n]
		if !ok {
			t.Fatalf("no expectation for message %d", n)
		}
		for _, line := range []string{"postfix/" + programs[n] + "[123]: " + msg, msg} {
			evs, err := pfParse(t, Postfix{}, line)
			switch {
			case err != nil:
				t.Errorf("message %d (%s): %v", n, programs[n], err)
			case w.action == "" && len(evs) != 0:
				t.Errorf("message %d (%s): noise gave %s", n, programs[n], evs[0].Action)
			case w.action != "" && len(evs) != 1:
				t.Errorf("message %d (%s): %d events, want one %s", n, programs[n], len(evs), w.action)
			case w.action != "":
				e := evs[0]
				if e.Action != w.action || e.Outcome != w.outcome || e.Attrs["source_action"] != w.source {
					t.Errorf("message %d (%s): %s/%s [%s], want %s/%s [%s]", n, programs[n], e.Action, e.Outcome, e.Attrs["source_action"], w.action, w.outcome, w.source)
				}
				if strings.HasPrefix(line, "postfix/") {
					byLine[n] = e
					if e.Attrs["program"] != programs[n] || e.Attrs["time_source"] != "received_at" {
						t.Errorf("message %d: attrs %v", n, e.Attrs)
					}
				}
			}
		}
	}
	// The fields the grok patterns exist to pull out.
	checks := []struct {
		n          int
		actor, ip  string
		rcpt       string
		attr, val  string
		queueIDSet bool
	}{
		{1, "", "", "", "queue_id", "0F5383D", true},
		{2, "owner-postfix-users@postfix.org", "", "", "nrcpt", "1", true},
		{3, "", "", "admin@example.com", "next_queue_id", "153053D", true},
		{4, "", "", "jos@example.com", "orig_to", "bestuur@example.com", true},
		{5, "", "", "redacted@gmail.com", "dsn", "5.7.1", true},
		{9, "", "61.238.241.86", "", "client_host", "061238241086.static.ctinets.com", true},
		{10, "wumt5@cchfdc.com", "61.238.241.86", "toernooicommissie@example.com", "reason", "<toernooicommissie@example.com>: Recipient address rejected: User unknown in virtual mailbox table", false},
		{14, "aap@henk", "2001:980:cfb1:1:82f:f74e:a45c:3033", "user@example.com", "smtp_code", "504", false},
		{22, "", "2001:968:9999:20:88b:9b7d:2a54:2bd2", "aap@henk.com", "stage", "VRFY", false},
		{24, "user1@test.example.com", "", "user2@example2.com", "stage", "END-OF-MESSAGE", false},
		{30, "", "3.84.57.208", "", "user_unknown", "true", false},
		{32, "sender@example.com", "93.184.216.34", "recipient@example.com", "reason", "<sender@example.com>: Sender address rejected: not owned by user ph123", false},
		{39, "support@example.com", "8.8.8.8", "example@example.org", "dsn", "4.7.1", false},
	}
	for _, c := range checks {
		e := byLine[c.n]
		var rcpt string
		if e.Email != nil && len(e.Email.Recipients) > 0 {
			rcpt = e.Email.Recipients[0]
		}
		if e.Actor.ID != c.actor || e.ClientIP != c.ip || rcpt != c.rcpt || e.Attrs[c.attr] != c.val || (e.Attrs["queue_id"] != "") != c.queueIDSet {
			t.Errorf("message %d: actor %q ip %q recipient %q attrs %v", c.n, e.Actor.ID, e.ClientIP, rcpt, e.Attrs)
		}
	}
}

func TestPostfixQueueID(t *testing.T) {
	cases := []struct{ in, qid, rest string }{
		{"0F5383D: message-id=<a@b>", "0F5383D", "message-id=<a@b>"},
		{"3yQ1Kq1fRcz2Y3rA: to=<a@b>", "3yQ1Kq1fRcz2Y3rA", "to=<a@b>"},
		{"NOQUEUE: reject: RCPT", "NOQUEUE", "reject: RCPT"},
		{"4F3A2B1C0D:", "4F3A2B1C0D", ""},
		{"statistics: max connection rate", "", "statistics: max connection rate"}, // no digit: a word
		{"warning: x", "", "warning: x"},
		{"ABCDE: x", "ABCDE", "x"},
		{"ABCD: x", "", "ABCD: x"},     // too short
		{"abcdef: x", "", "abcdef: x"}, // lower-case hex is not a short id
		{"connect from x[1.2.3.4]", "", "connect from x[1.2.3.4]"},
	}
	for _, c := range cases {
		if q, r := postfixQueueID(c.in); q != c.qid || r != c.rest {
			t.Errorf("postfixQueueID(%q) = %q, %q; want %q, %q", c.in, q, r, c.qid, c.rest)
		}
	}
}

func TestPostfixFields(t *testing.T) {
	kv, tail := postfixCommaFields("to=<a, b@x.org>, orig_to=<c@x.org>, relay=h[1.2.3.4]:25, delay=1, dsn=2.0.0, status=sent (250 2.0.0 Ok, queued as X)")
	if kv["to"] != "<a, b@x.org>" || kv["orig_to"] != "<c@x.org>" || kv["relay"] != "h[1.2.3.4]:25" || kv["status"] != "sent" || tail != "(250 2.0.0 Ok, queued as X)" {
		t.Errorf("comma fields %v tail %q", kv, tail)
	}
	kv, tail = postfixCommaFields("from=<>, size=10, nrcpt=1 (queue active)")
	if v, ok := kv["from"]; !ok || v != "<>" || kv["nrcpt"] != "1" || tail != "(queue active)" {
		t.Errorf("qmgr fields %v tail %q", kv, tail)
	}
	kv, tail = postfixSpaceFields("from=<a b@x> to=<c@y> proto=ESMTP helo=<[127.0.0.1]>: 5.7.1 no")
	if kv["from"] != "<a b@x>" || kv["to"] != "<c@y>" || kv["proto"] != "ESMTP" || kv["helo"] != "<[127.0.0.1]>" || tail != ": 5.7.1 no" {
		t.Errorf("space fields %v tail %q", kv, tail)
	}
	kv, _ = postfixSpaceFields("from=<a@x>, to=<b@y>, proto=ESMTP, helo=<h>") // postscreen
	if kv["to"] != "<b@y>" || kv["helo"] != "<h>" {
		t.Errorf("postscreen fields %v", kv)
	}
	for _, c := range []struct{ in, host, ip string }{
		{"mail.x.org[198.51.100.25]", "mail.x.org", "198.51.100.25"},
		{"mail.x.org[198.51.100.25]:25", "mail.x.org", "198.51.100.25"},
		{"[192.0.2.67]:52311", "", "192.0.2.67"},
		{"unknown[2001:db8::1]", "unknown", "2001:db8::1"},
		{"unknown[unknown]", "unknown", ""},
		{"mail.x.org[private/dovecot-lmtp]", "mail.x.org", ""},
		{"none", "none", ""},
		{"x]y[", "x]y[", ""},
	} {
		if h, ip := postfixClient(c.in); h != c.host || ip != c.ip {
			t.Errorf("postfixClient(%q) = %q, %q", c.in, h, ip)
		}
	}
	for _, c := range []struct{ in, code, dsn, text string }{
		{"550 5.1.1 <a@b>: Recipient address rejected", "550", "5.1.1", "<a@b>: Recipient address rejected"},
		{"5.7.1 Message content rejected", "", "5.7.1", "Message content rejected"},
		{"250 2.0.0 from MTA(smtp:[127.0.0.1]:10013): 250 2.0.0 Ok", "250", "2.0.0", "from MTA(smtp:[127.0.0.1]:10013): 250 2.0.0 Ok"},
		{"", "", "", ""},
		{"Service unavailable", "", "", "Service unavailable"},
	} {
		if code, dsn, text := postfixReply(c.in); code != c.code || dsn != c.dsn || text != c.text {
			t.Errorf("postfixReply(%q) = %q, %q, %q", c.in, code, dsn, text)
		}
	}
}

func TestPostfixDeliveryDirection(t *testing.T) {
	cases := []struct {
		program, relay, to string
		internal           []string
		action             event.Action
		basis              string
	}{
		{"smtp", "gmail-smtp-in.l.google.com[142.250.64.27]:25", "a@gmail.com", nil, event.ActionSend, "smtp_relay"},
		{"smtp", "none", "a@gmial.com", nil, event.ActionSend, "smtp_relay"},
		{"smtp", "127.0.0.1[127.0.0.1]:10024", "a@riverside.example", nil, event.ActionOther, "loopback_relay"},
		{"smtp", "localhost[::1]:10024", "a@riverside.example", nil, event.ActionOther, "loopback_relay"},
		{"lmtp", "mail[127.0.0.1]:24", "a@riverside.example", nil, event.ActionReceive, "delivery_agent"},
		{"local", "local", "jlee", nil, event.ActionReceive, "delivery_agent"},
		{"virtual", "virtual", "a@riverside.example", nil, event.ActionReceive, "delivery_agent"},
		{"pipe", "dovecot", "a@riverside.example", nil, event.ActionReceive, "delivery_agent"},
		{"", "mail.x[private/dovecot-lmtp]", "a@riverside.example", nil, event.ActionReceive, "local_relay"},
		{"", "local", "jlee", nil, event.ActionReceive, "local_relay"},
		// Relaying to the practice's own mail store is delivery in.
		{"smtp", "exch.riverside.example[10.0.0.5]:25", "a@riverside.example", []string{"riverside.example"}, event.ActionReceive, "internal_domains"},
		{"smtp", "gmail-smtp-in.l.google.com[142.250.64.27]:25", "a@gmail.com", []string{"riverside.example"}, event.ActionSend, "smtp_relay"},
	}
	for _, c := range cases {
		a, basis := Postfix{InternalDomains: c.internal}.deliveryAction(c.program, c.relay, c.to)
		if a != c.action || basis != c.basis {
			t.Errorf("deliveryAction(%q, %q, %q) = %s, %s; want %s, %s", c.program, c.relay, c.to, a, basis, c.action, c.basis)
		}
	}
	// External follows the domains.
	line := "Oct  6 15:05:13 mx1 postfix/smtp[4202]: 5B6C7D8E9F: to=<someone@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.64.27]:25, delay=2.3, dsn=2.0.0, status=sent (250 OK)"
	plain, _ := pfParse(t, Postfix{}, line)
	withDomains, _ := pfParse(t, Postfix{}.WithInternalDomains([]string{"riverside.example"}), line)
	if plain[0].Email.External || !withDomains[0].Email.External {
		t.Errorf("external: %v without domains, %v with", plain[0].Email.External, withDomains[0].Email.External)
	}
}

func TestPostfixLocationAndIdentity(t *testing.T) {
	line := "Oct  6 15:05:13 mx1 postfix/smtp[4202]: 5B6C7D8E9F: to=<someone@gmail.com>, relay=none, delay=2.3, dsn=4.4.1, status=deferred (connect to x: Connection timed out)"
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Lookup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	ls, ok := p.(LocationSetter)
	if !ok {
		t.Fatal("postfix does not take a location")
	}
	utc, _ := pfParse(t, p, line)
	local, _ := pfParse(t, ls.WithLocation(ny), line)
	if !utc[0].Time.Equal(time.Date(2026, 10, 6, 15, 5, 13, 0, time.UTC)) || !local[0].Time.Equal(time.Date(2026, 10, 6, 19, 5, 13, 0, time.UTC)) {
		t.Errorf("times %v and %v", utc[0].Time, local[0].Time)
	}
	again, _ := pfParse(t, p, line+"\r\n")
	if again[0].EventID != utc[0].EventID || utc[0].EventID != event.ID("clinic-a", "postfix", line) || utc[0].SourceName != "mx1" {
		t.Error("the event id is not the hash of the line")
	}
}

func TestPostfixRedaction(t *testing.T) {
	cases := []struct{ line, kept string }{
		{"Oct  6 15:00:02 mx1 postfix/cleanup[4102]: 4F3A2B1C0E: reject: header Subject: Jane Doe labs from x[192.0.2.1]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: 5.7.1 no",
			"reject: header Subject: [redacted] from x[192.0.2.1]; from=<a@b>"},
		{"postfix/cleanup[1]: 4F3A2B1C0E: discard: body DOB of Jane Doe from x[192.0.2.1]; from=<a@b> to=<c@d> proto=SMTP helo=<x>",
			"discard: body [redacted] from x[192.0.2.1]"},
		// The matched text may contain " from " and "; ": the last ones end it.
		{"postfix/cleanup[1]: 4F3A2B1C0E: hold: header Subject: from Jane; to Doe from x[192.0.2.1]; from=<a@b> to=<c@d> proto=SMTP helo=<x>",
			"hold: header Subject: [redacted] from x[192.0.2.1]"},
	}
	for _, c := range cases {
		evs, err := pfParse(t, Postfix{}, c.line)
		if err != nil || len(evs) != 1 {
			t.Fatalf("%q: %d events, %v", c.line, len(evs), err)
		}
		e := evs[0]
		if strings.Contains(e.Raw, "Jane") || !strings.Contains(e.Raw, c.kept) || e.Actor.ID != "a@b" || e.ClientIP != "192.0.2.1" {
			t.Errorf("raw %q actor %q ip %q", e.Raw, e.Actor.ID, e.ClientIP)
		}
		for _, v := range e.Attrs {
			if strings.Contains(v, "Jane") {
				t.Errorf("attrs keep the matched text: %v", e.Attrs)
			}
		}
	}
	// A header warning is noise: nothing of it is kept.
	if evs, err := pfParse(t, Postfix{}, "postfix/cleanup[1]: 4F3A2B1C0E: warning: header Subject: Jane Doe from x[192.0.2.1]; from=<a@b> to=<c@d>"); len(evs) != 0 || err != nil {
		t.Errorf("header warning: %d events, %v", len(evs), err)
	}
}

func TestPostfixErrors(t *testing.T) {
	cases := []struct{ line, want string }{
		{"", "empty line"},
		{"Oct  6 15:10:00 mx1 dovecot: imap-login: Login: user=<a>", `not a Postfix line: the program is "dovecot"`},
		{"Oct  6 15:10:00 mx1 amavis[123]: (123-01) Passed CLEAN", `the program is "amavis"`},
		{"hello world", "not a Postfix log line"},
		{"<200>Oct  6 15:10:00 mx1 postfix/smtp[1]: x", "syslog priority"},
		{"postfix/smtp[1]: 4F3A2B1C0D: to=<a@b>, relay=none", "no status="},
		{"postfix/smtp[1]: 4F3A2B1C0D: did something new", `a line about queue 4F3A2B1C0D that phiwatch does not recognize: "did something new"`},
		{"postfix/qmgr[1]: 4F3A2B1C0D: from=<a@b>, size=-1, nrcpt=1", `size "-1" is not a number`},
	}
	for _, c := range cases {
		evs, err := pfParse(t, Postfix{}, c.line)
		if err == nil || !strings.Contains(err.Error(), c.want) || len(evs) != 0 {
			t.Errorf("%q: %d events, %v; want %q", c.line, len(evs), err, c.want)
		}
	}
	for _, noise := range []string{
		"Oct  6 15:09:00 mx1 postfix/anvil[882]: statistics: max connection rate 2/60s",
		"Oct  6 15:09:00 mx1 postfix/master[1]: daemon started -- version 3.8.5",
		"postfix/smtpd[1]: something new about a connection",
		"postfix/qmgr[1]: 4F3A2B1C0D: removed",
		"postfix/smtpd[1]: warning: TLS library problem",
		"postfix/bounce[1]: 4F3A2B1C0D: sender non-delivery notification: 5B6C7D8E9F",
		"postfix/smtpd[1]:",
	} {
		if evs, err := pfParse(t, Postfix{}, noise); len(evs) != 0 || err != nil {
			t.Errorf("%q: %d events, %v; want noise", noise, len(evs), err)
		}
	}
}

func FuzzPostfix(f *testing.F) {
	addGoldenSeeds(f, "postfix")
	for _, s := range []string{
		"postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[::1]: 550 5.1.1 <a>: x; from=<> to=<a> proto=ESMTP helo=<h>",
		"postfix/cleanup[1]: 4F3A2B1C0E: reject: header Subject: x from y[1.2.3.4]; from=<a> to=<b>: 5.7.1 z",
		"postfix/smtpd[1]: warning: h[1.2.3.4]: SASL PLAIN authentication failed: , sasl_username=",
		"postfix/smtp[1]: ABCDE: to=<a>, relay=[/x]:1, status=sent (queued as ABCDEF)",
		"postfix/cleanup[1]: ABCDE: reject: body",
		"\xff postfix/x/y[1]: ABCDE: uid=1 from=<\xff>",
	} {
		f.Add([]byte(s))
	}
	parsers := []Parser{Postfix{}, Postfix{}.WithInternalDomains([]string{"example.com"})}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, p := range parsers {
			evs, err := p.Parse(Record{Data: data, Tenant: "fuzz", ReceivedAt: receivedAt})
			if err != nil && len(evs) != 0 {
				t.Fatalf("events with an error from %q", data)
			}
			if len(evs) > 1 {
				t.Fatalf("%d events from one line", len(evs))
			}
			again, err2 := p.Parse(Record{Data: data, Tenant: "fuzz", ReceivedAt: receivedAt})
			if len(again) != len(evs) || (err == nil) != (err2 == nil) {
				t.Fatalf("two parses differ on %q", data)
			}
			for _, e := range evs {
				if err := checkEmailEvent(p, e); err != nil {
					t.Fatalf("bad event from %q: %v", data, err)
				}
				if e.EventID != again[0].EventID || strings.ContainsAny(e.Raw, "\n") {
					t.Fatalf("unstable id or a multi-line raw from %q", data)
				}
				if i == 0 && e.Email != nil && e.Email.External {
					t.Fatalf("external without internal domains from %q", data)
				}
				_ = e.Validate(receivedAt)
			}
		}
	})
}

func BenchmarkPostfixParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "postfix", "maillog.input"))
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	rec := Record{Tenant: "t", ReceivedAt: time.Now()}
	b.SetBytes(int64(len(data) / len(lines)))
	events := 0
	for i := 0; b.Loop(); i++ {
		rec.Data = lines[i%len(lines)]
		evs, _ := (Postfix{}).Parse(rec) // the sample holds a dovecot line, an error by design
		events += len(evs)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// TestPostfixGoldenCoverage: the golden inputs exercise every kind of line
// the parser maps.
func TestPostfixGoldenCoverage(t *testing.T) {
	seen := map[string]bool{}
	inputs, _ := filepath.Glob(filepath.Join("testdata", "postfix", "*.input"))
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		for l := range bytes.Lines(data) {
			evs, _ := Postfix{}.Parse(Record{Data: l, Tenant: "t", ReceivedAt: receivedAt})
			for _, e := range evs {
				seen[e.Attrs["source_action"]] = true
			}
		}
	}
	for _, want := range []string{"delivery_sent", "delivery_bounced", "delivery_deferred", "address_verification", "sasl_login", "client",
		"sasl_auth_failed", "reject", "hold", "queued", "expired", "message_id", "pickup"} {
		if !seen[want] {
			t.Errorf("no golden line maps to %s", want)
		}
	}
}
