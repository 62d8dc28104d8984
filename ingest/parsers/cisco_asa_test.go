package parsers

import (
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

func TestASADuration(t *testing.T) {
	cases := []struct {
		in   string
		want uint32
		err  string
	}{
		{"0h:00m:05s", 5, ""},
		{"1h:02m:03s", 3723, ""},
		{"7h:32m:15s", 27135, ""},
		{"1d 19h:41m:14s", 86400 + 19*3600 + 41*60 + 14, ""},
		{"2d5h:01m:02s", 2*86400 + 5*3600 + 62, ""},
		{"12m:30s", 750, ""},
		{"45s", 45, ""},
		{"100h:00m:00s", 360000, ""},
		{"", 0, "is empty"},
		{"1h:0", 0, "without a unit"},
		{"1m:2h", 0, "out of order"},
		{"1h:1h", 0, "out of order"},
		{"1x", 0, "out of order or unknown"},
		{"h", 0, "no number"},
		{"-1h", 0, "no number"},
		{"49711d", 0, "too long"}, // 4295030400 s, past 2^32
		{"9999999999s", 0, "too large"},
	}
	for _, c := range cases {
		got, err := asaDuration(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("asaDuration(%q) = %d, %v; want error containing %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("asaDuration(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestASASubject(t *testing.T) {
	cases := []struct {
		in                      string
		group, tunnel, user, ip string
		rest                    string
	}{
		{"Group <GP Remote> User <first.o'last@x.example> IP <81.2.69.144> AnyConnect parent session started.", "GP Remote", "", "first.o'last@x.example", "81.2.69.144", "AnyConnect parent session started."},
		{"Group VPN_USERS User example.user IP 67.43.156.14 AnyConnect parent session started.", "VPN_USERS", "", "example.user", "67.43.156.14", "AnyConnect parent session started."},
		{"Group = staff, Username = jlee, IP = 2001:db8::9, Session disconnected.", "staff", "", "jlee", "2001:db8::9", "Session disconnected."},
		{"TunnelGroup <TG> GroupPolicy <GP> User <u> IP <1.2.3.4> x", "GP", "TG", "u", "1.2.3.4", "x"},
		{"Group <Vendor_User> User IP <10.20.0.1> AnyConnect session resumed", "Vendor_User", "", "", "10.20.0.1", "AnyConnect session resumed"},
		{"Group <GP> User <jl", "GP", "", "", "", "User <jl"},
		{"no subject here", "", "", "", "", "no subject here"},
	}
	for _, c := range cases {
		s, rest := parseASASubject(c.in)
		if s.group != c.group || s.tunnelGroup != c.tunnel || s.user != c.user || s.ip != c.ip || rest != c.rest {
			t.Errorf("parseASASubject(%q) = %+v rest %q", c.in, s, rest)
		}
	}
}

func TestASAAAAFields(t *testing.T) {
	cases := []struct {
		in   string
		want asaAAAList
	}{
		{" : server = 10.1.1.5 : user = jlee", asaAAAList{server: "10.1.1.5", user: "jlee", hasUser: true}},
		{": reason = AAA failure: server = 81.2.69.144 : user = alice: user IP = 172.31.98.44", asaAAAList{reason: "AAA failure", server: "81.2.69.144", user: "alice", userIP: "172.31.98.44", hasUser: true}},
		{": server = 81.2.69.144 , User = alice", asaAAAList{server: "81.2.69.144", user: "alice", hasUser: true}},
		{" : reason = Invalid password : local database : user = a2bcde : user IP = 81.2.69.143", asaAAAList{reason: "Invalid password", localDB: true, user: "a2bcde", userIP: "81.2.69.143", hasUser: true}},
		{" : server =  2001:db8::5 : user = ;;alice-johnson(test user)", asaAAAList{server: "2001:db8::5", user: ";;alice-johnson(test user)", hasUser: true}},
		{" : server = 2001:db8:: : user = bob", asaAAAList{server: "2001:db8::", user: "bob", hasUser: true}},
		{" : reason = Unspecified : server = 10.0.0.70 : user = : user IP = 81.2.69.144", asaAAAList{reason: "Unspecified", server: "10.0.0.70", hasUser: true, userIP: "81.2.69.144"}},
		{" : user = USER_1", asaAAAList{user: "USER_1", hasUser: true}},
	}
	for _, c := range cases {
		if got := asaAAAFields(c.in); got != c.want {
			t.Errorf("asaAAAFields(%q)\n got  %+v\n want %+v", c.in, got, c.want)
		}
	}
}

func asaParse(t *testing.T, p Parser, line string) event.Event {
	t.Helper()
	evs, err := p.Parse(Record{Data: []byte(line), Tenant: "clinic-a", SourceName: "main-asa", ReceivedAt: receivedAt})
	if err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	if err := evs[0].Validate(receivedAt); err != nil {
		t.Fatalf("invalid event: %v", err)
	}
	return evs[0]
}

func TestCiscoASALocationAndIdentity(t *testing.T) {
	line := "<166>Oct 01 2026 09:00:00 asa01 : %ASA-6-113039: Group <GP> User <jlee> IP <203.0.113.9> AnyConnect parent session started."
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Lookup("cisco-asa")
	if err != nil {
		t.Fatal(err)
	}
	ls, ok := p.(LocationSetter)
	if !ok {
		t.Fatal("cisco-asa does not take a location")
	}
	utcEv := asaParse(t, p, line)
	nyEv := asaParse(t, ls.WithLocation(ny), line)
	if want := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC); !utcEv.Time.Equal(want) {
		t.Errorf("default location: time %v, want %v", utcEv.Time, want)
	}
	if want := time.Date(2026, 10, 1, 13, 0, 0, 0, time.UTC); !nyEv.Time.Equal(want) {
		t.Errorf("New York: time %v, want %v (09:00 EDT)", nyEv.Time, want)
	}
	// The event id hashes the line: the same line read from a file (with a
	// newline and CR around it) or received over the network is one event.
	again := asaParse(t, p, line+"\r")
	if utcEv.EventID != again.EventID || utcEv.EventID != event.ID("clinic-a", "cisco-asa", line) || again.Raw != line {
		t.Errorf("event ids differ or are not event.ID of the line: %s %s", utcEv.EventID, again.EventID)
	}
	if utcEv.SourceName != "main-asa" || utcEv.TenantID != "clinic-a" || !utcEv.ReceivedAt.Equal(receivedAt) || utcEv.SourceKind != event.KindVPN {
		t.Errorf("record fields not carried over: %+v", utcEv)
	}
}

func TestCiscoASAUnmappedMessageReason(t *testing.T) {
	_, err := CiscoASA{}.Parse(Record{Data: []byte("<166>Oct 01 2026 09:00:00 asa01 : %ASA-6-302013: Built inbound TCP connection 1"), Tenant: "t", ReceivedAt: receivedAt})
	if err == nil || !strings.Contains(err.Error(), "ASA message 302013 is not a VPN or authentication event") {
		t.Fatalf("error %v", err)
	}
}

func FuzzCiscoASA(f *testing.F) {
	for _, s := range []string{
		"<166>Oct 01 2026 08:59:59 asa01 : %ASA-6-113039: Group <GP> User <jlee> IP <203.0.113.9> AnyConnect parent session started.",
		"<164>Oct 01 2026 10:02:03 asa01 : %ASA-4-113019: Group = GP, Username = jlee, IP = 203.0.113.9, Session disconnected. Session Type: SSL, Duration: 1d 1h:02m:03s, Bytes xmt: 120000, Bytes rcv: 5000, Reason: User Requested",
		"<166>Oct 01 2026 09:00:00 asa01 : %ASA-6-722051: Group <GP> User <jlee> IP <203.0.113.9> IPv4 Address <10.99.0.21> IPv6 address <::> assigned to session",
		"<166>Oct 01 2026 11:15:42 asa01 : %ASA-6-113005: AAA user authentication Rejected : reason = Invalid password : server = 10.20.0.5 : user = ***** : user IP = 198.51.100.77",
		"<166>Oct 03 2026 12:00:05: %ASA-6-113015: AAA user authentication Rejected : reason = x : local database : user = a : user IP = 10.20.0.99",
		"Oct  2 07:45:10 asa01 : %ASA-6-716002: Group GP User dortiz IP 192.0.2.44 WebVPN session terminated: Idle timeout.",
		"<166>2026-10-03T12:01:00Z asa01 : %ASA-6-611101: User authentication succeeded: IP address: 10.20.0.99, Uname: admin2",
		"<166>1 2026-10-04T06:05:00.123Z asa02 - - - [a b=\"\\]\"] %FTD-auth-6-113008: AAA transaction status ACCEPT : user = k",
		"%ASA-6-722022: TunnelGroup <T> GroupPolicy <G> User <u> IP <1.2.3.4> UDP SVC connection established",
		"%ASA-6-302013: Built", "%ASA-", "<1>", "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := CiscoASA{}.Parse(Record{Data: data, Tenant: "fuzz", ReceivedAt: receivedAt})
		if err != nil {
			if len(evs) != 0 {
				t.Fatalf("events with an error: %+v", evs)
			}
			return
		}
		if len(evs) != 1 {
			t.Fatalf("%d events from one line", len(evs))
		}
		e := evs[0]
		if len(e.EventID) != 32 || e.TenantID != "fuzz" || e.SourceSystem != "cisco-asa" || e.Raw != strings.TrimSpace(string(data)) {
			t.Fatalf("event lacks id, tenant, system or raw: %+v", e)
		}
		if !e.Action.Valid() || e.Attrs["asa_msg_id"] == "" || e.Attrs["source_action"] == "" || e.Time.IsZero() {
			t.Fatalf("event without action, message id, source action or time: %+v", e)
		}
		if e.Outcome == event.OutcomeSuccess && e.Action != event.ActionOther && e.Actor.ID == "" {
			t.Fatalf("successful %s without a user: %q", e.Action, data)
		}
		_ = e.Validate(receivedAt) // must not panic
	})
}
