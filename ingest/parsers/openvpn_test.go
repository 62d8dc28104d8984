package parsers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// vpnParse parses one line and returns its events, failing the test on an
// error or an invalid event.
func vpnParse(t *testing.T, p Parser, line string) []event.Event {
	t.Helper()
	evs, err := p.Parse(Record{Data: []byte(line), Tenant: "clinic-a", SourceName: "vpn", ReceivedAt: receivedAt})
	if err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	for _, e := range evs {
		if err := e.Validate(receivedAt); err != nil {
			t.Fatalf("invalid event from %q: %v", line, err)
		}
	}
	return evs
}

func vpnOne(t *testing.T, p Parser, line string) event.Event {
	t.Helper()
	evs := vpnParse(t, p, line)
	if len(evs) != 1 {
		t.Fatalf("%q: %d events, want 1", line, len(evs))
	}
	return evs[0]
}

// vpnCheckFuzz holds what every VPN parser promises for any input: no
// events with an error, and events that carry the record's identity, an
// action from the vocabulary, a time and JSON that encodes.
func vpnCheckFuzz(t *testing.T, system string, evs []event.Event, err error) {
	t.Helper()
	if err != nil {
		if len(evs) != 0 {
			t.Fatalf("events with an error: %+v", evs)
		}
		return
	}
	for _, e := range evs {
		if len(e.EventID) != 32 || e.TenantID != "fuzz" || e.SourceSystem != system || e.SourceKind != event.KindVPN || e.Raw == "" {
			t.Fatalf("event lacks id, tenant, system, kind or raw: %+v", e)
		}
		if !e.Action.Valid() || e.Attrs["source_action"] == "" || e.Time.IsZero() {
			t.Fatalf("event without action, source action or time: %+v", e)
		}
		if e.ClientIP != "" {
			if _, perr := netip.ParseAddr(e.ClientIP); perr != nil {
				t.Fatalf("client_ip %q does not parse", e.ClientIP)
			}
		}
		if e.VPN != nil && e.VPN.AssignedIP != "" {
			if _, perr := netip.ParseAddr(e.VPN.AssignedIP); perr != nil {
				t.Fatalf("assigned_ip %q does not parse", e.VPN.AssignedIP)
			}
		}
		if _, jerr := json.Marshal(e); jerr != nil {
			t.Fatalf("event does not encode: %v", jerr)
		}
		_ = e.Validate(receivedAt) // must not panic
	}
}

// vpnGoldenLines returns the non-blank lines of a format's golden inputs, as
// fuzz seeds and benchmark input.
func vpnGoldenLines(tb testing.TB, format string) []string {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", format, "*.input"))
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				out = append(out, l)
			}
		}
	}
	if len(out) == 0 {
		tb.Fatalf("no golden input lines for %s", format)
	}
	return out
}

// vpnBench measures one line parser over the golden lines that yield an
// event; events/s is per core.
func vpnBench(b *testing.B, p Parser, format string) {
	var lines [][]byte
	size := 0
	for _, l := range vpnGoldenLines(b, format) {
		evs, err := p.Parse(Record{Data: []byte(l), Tenant: "t", ReceivedAt: receivedAt})
		if err == nil && len(evs) == 1 {
			lines = append(lines, []byte(l))
			size += len(l)
		}
	}
	if len(lines) == 0 {
		b.Fatal("no parseable lines")
	}
	rec := Record{Tenant: "t", ReceivedAt: receivedAt}
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	events := 0
	for i := 0; b.Loop(); i++ {
		rec.Data = lines[i%len(lines)]
		evs, err := p.Parse(rec)
		if err != nil {
			b.Fatal(err)
		}
		events += len(evs)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

func TestOpenVPNMapping(t *testing.T) {
	cases := []struct {
		line           string
		action         event.Action
		outcome        event.Outcome
		actor, ip      string
		session        string
		assigned, attr string // attr: "key=value" that must be set
	}{
		{"2026-10-01 14:03:07 198.51.100.7:51234 [jlee] Peer Connection Initiated with [AF_INET]198.51.100.7:51234",
			event.ActionVPNConnect, event.OutcomeSuccess, "jlee", "198.51.100.7", "198.51.100.7:51234", "", "source_action=peer_connection_initiated"},
		{"2026-10-01 14:03:07 198.51.100.7:51234 [UNDEF] Peer Connection Initiated with [AF_INET]198.51.100.7:51234",
			event.ActionVPNConnect, event.OutcomeSuccess, "", "198.51.100.7", "198.51.100.7:51234", "", ""},
		{"2026-10-01 14:03:07 Dana Ortiz/203.0.113.45:1194 MULTI_sva: pool returned IPv4=10.8.0.10, IPv6=fd00:8::1000",
			event.ActionOther, event.OutcomeSuccess, "Dana Ortiz", "203.0.113.45", "203.0.113.45:1194", "10.8.0.10", "assigned_ipv6=fd00:8::1000"},
		{"2026-10-01 14:03:07 a/b/198.51.100.7:1 MULTI_sva: pool returned IPv4=10.8.0.6, IPv6=(Not enabled)",
			event.ActionOther, event.OutcomeSuccess, "a/b", "198.51.100.7", "198.51.100.7:1", "10.8.0.6", ""},
		{"2026-10-01 14:03:07 jlee/::ffff:198.51.100.7:51234 SIGTERM[soft,remote-exit] received, client-instance exiting",
			event.ActionVPNDisconnect, event.OutcomeSuccess, "jlee", "198.51.100.7", "198.51.100.7:51234", "", "reason=remote-exit"},
		{"2026-10-01 14:03:07 jlee/198.51.100.7:51234 SIGTERM[soft,delayed-exit] received, client-instance exiting",
			event.ActionOther, event.OutcomeFailure, "jlee", "198.51.100.7", "198.51.100.7:51234", "", "reason=delayed-exit"},
		{"2026-10-01 14:03:07 jlee/198.51.100.7:51234 SIGUSR1[soft,connection-reset] received, client-instance restarting",
			event.ActionVPNDisconnect, event.OutcomeSuccess, "jlee", "198.51.100.7", "198.51.100.7:51234", "", "source_action=client_instance_restarting"},
		{"2026-10-01 14:03:07 198.51.100.7:51234 TLS Auth Error: Auth Username/Password verification failed for peer",
			event.ActionLoginFailed, event.OutcomeFailure, "", "198.51.100.7", "198.51.100.7:51234", "", "source_action=tls_auth_error"},
		{"2026-10-01 14:03:07 198.51.100.7:51234 TLS Auth Error: username attempted to change from 'a' to 'b' -- tunnel disabled",
			event.ActionLoginFailed, event.OutcomeFailure, "", "198.51.100.7", "198.51.100.7:51234", "", ""},
		{"2026-10-01 14:03:07 203.0.113.9:60000 VERIFY ERROR: depth=0, error=certificate has expired: CN=old-laptop, serialNumber=0A",
			event.ActionLoginFailed, event.OutcomeFailure, "old-laptop", "203.0.113.9", "203.0.113.9:60000", "", "source_action=verify_error"},
		{"2026-10-01 14:03:07 203.0.113.9:60000 VERIFY ERROR: depth=1, error=unable to get local issuer certificate: CN=Other CA",
			event.ActionLoginFailed, event.OutcomeFailure, "", "203.0.113.9", "203.0.113.9:60000", "", ""},
		{"2026-10-01 14:03:07 203.0.113.9:60000 VERIFY X509NAME ERROR: CN=intruder, must be vpn-users",
			event.ActionLoginFailed, event.OutcomeFailure, "intruder", "203.0.113.9", "203.0.113.9:60000", "", "source_action=verify_x509name_error"},
		{"2026-10-01 14:03:07 user 'jlee' authenticated",
			event.ActionLogin, event.OutcomeSuccess, "jlee", "", "", "", "source_action=user_authenticated"},
		{"2026-10-01 14:03:07 user 'o'brien' could not authenticate.",
			event.ActionLoginFailed, event.OutcomeFailure, "o'brien", "", "", "", ""},
		{"2026-10-01 14:03:07 AUTH-PAM: BACKGROUND: user 'rnguyen' failed to authenticate: Authentication failure",
			event.ActionLoginFailed, event.OutcomeFailure, "rnguyen", "", "", "", "reason=Authentication failure"},
		{"2026-10-01 14:03:07 openvpn-disconnect: common_name=laptop-7 username=dortiz untrusted_ip=198.51.100.30 untrusted_port=50123 bytes_received=1 bytes_sent=2",
			event.ActionVPNDisconnect, event.OutcomeSuccess, "dortiz", "198.51.100.30", "198.51.100.30:50123", "", "common_name=laptop-7"},
	}
	for _, c := range cases {
		e := vpnOne(t, OpenVPN{}, c.line)
		var session, assigned string
		if e.VPN != nil {
			session, assigned = e.VPN.SessionID, e.VPN.AssignedIP
		}
		if e.Action != c.action || e.Outcome != c.outcome || e.Actor.ID != c.actor || e.ClientIP != c.ip || session != c.session || assigned != c.assigned {
			t.Errorf("%q\n got  %s %s actor %q ip %q session %q assigned %q\n want %s %s actor %q ip %q session %q assigned %q",
				c.line, e.Action, e.Outcome, e.Actor.ID, e.ClientIP, session, assigned, c.action, c.outcome, c.actor, c.ip, c.session, c.assigned)
		}
		if k, v, ok := strings.Cut(c.attr, "="); ok && e.Attrs[k] != v {
			t.Errorf("%q: attrs[%s] = %q, want %q", c.line, k, e.Attrs[k], v)
		}
	}
}

// TestOpenVPNNoise holds the documented noise: no event, no error.
func TestOpenVPNNoise(t *testing.T) {
	for _, line := range []string{
		"2026-10-01 14:03:06 198.51.100.7:51234 TLS: Initial packet from [AF_INET]198.51.100.7:51234, sid=8e2c1f0a 6d3b9e41",
		"2026-10-01 14:03:06 198.51.100.7:51234 VERIFY OK: depth=0, CN=jlee",
		"2026-10-01 14:03:06 198.51.100.7:51234 VERIFY EKU OK",
		"2026-10-01 14:03:06 198.51.100.7:51234 peer info: IV_VER=2.6.8",
		"2026-10-01 14:03:06 198.51.100.7:51234 Control Channel: TLSv1.3, cipher TLSv1.3 TLS_AES_256_GCM_SHA384",
		"2026-10-01 14:03:07 jlee/198.51.100.7:51234 MULTI: Learn: 10.8.0.6 -> jlee/198.51.100.7:51234",
		"2026-10-01 14:03:08 jlee/198.51.100.7:51234 PUSH: Received control message: 'PUSH_REQUEST'",
		"2026-10-01 14:03:08 jlee/198.51.100.7:51234 SENT CONTROL [jlee]: 'PUSH_REPLY,route-gateway 10.8.0.1' (status=1)",
		"2026-10-01 14:03:08 jlee/198.51.100.7:51234 Data Channel: cipher 'AES-256-GCM', peer-id: 0",
		"2026-10-01 16:01:00 192.0.2.200:40001 TLS Error: TLS handshake failed",
		"2026-10-01 16:01:00 192.0.2.200:40001 SIGUSR1[soft,tls-error] received, client-instance restarting",
		"2026-10-01 16:01:00 192.0.2.200:40001 Connection reset, restarting [0]",
		"2026-10-01 13:59:58 Initialization Sequence Completed",
		"2026-10-01 13:59:58 MULTI: multi_init called, r=256 v=256",
		"2026-10-01 17:00:00 SIGTERM[hard,] received, process exiting",
		"<29>Oct  1 14:03:07 vpn01 openvpn[2231]: TUN/TAP device tun0 opened",
		"Thu Oct  1 14:03:07 2026   config = 'server.conf'",
	} {
		evs, err := OpenVPN{}.Parse(Record{Data: []byte(line), Tenant: "t", ReceivedAt: receivedAt})
		if err != nil || len(evs) != 0 {
			t.Errorf("%q: %d events, error %v; want noise (none, nil)", line, len(evs), err)
		}
	}
}

func TestOpenVPNAddrPort(t *testing.T) {
	cases := []struct {
		in, want string // want "" for not an address with a port
	}{
		{"198.51.100.7:51234", "198.51.100.7:51234"},
		{"[AF_INET]198.51.100.7:51234", "198.51.100.7:51234"},
		{"[AF_INET6]2001:db8::7:51234", "[2001:db8::7]:51234"},
		{"2001:db8:5::7:51999", "[2001:db8:5::7]:51999"},
		{"[2001:db8::7]:443", "[2001:db8::7]:443"},
		{"::ffff:198.51.100.8:40000", "198.51.100.8:40000"},
		{"198.51.100.7", ""},
		{"198.51.100.7:99999", ""},
		{"198.51.100.7:", ""},
		{"2001:db8::1", ""}, // the last group is not a port here: "2001:db8:" is no address
		{"jlee", ""},
		{"", ""},
		{"1.2.3.4:+5", ""},
	}
	for _, c := range cases {
		ap, ok := ovpnAddrPort(c.in)
		got := ""
		if ok {
			got = ap.String()
		}
		if got != c.want {
			t.Errorf("ovpnAddrPort(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestOpenVPNStamps(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 10, 1, 18, 3, 7, 0, time.UTC) // 14:03:07 EDT
	for _, line := range []string{
		"2026-10-01 14:03:07 198.51.100.7:51234 [jlee] Peer Connection Initiated with [AF_INET]198.51.100.7:51234",
		"Thu Oct  1 14:03:07 2026 198.51.100.7:51234 [jlee] Peer Connection Initiated with [AF_INET]198.51.100.7:51234",
		"<29>Oct  1 14:03:07 vpn01 openvpn[1]: 198.51.100.7:51234 [jlee] Peer Connection Initiated with [AF_INET]198.51.100.7:51234",
	} {
		e := vpnOne(t, OpenVPN{}.WithLocation(ny), line)
		if !e.Time.Equal(want) {
			t.Errorf("%q in New York: time %v, want %v", line, e.Time, want)
		}
	}
	// --machine-readable-output stamps are Unix times: no zone applies.
	e := vpnOne(t, OpenVPN{}.WithLocation(ny), "1790863387.250000 2 jlee/198.51.100.7:51234 SIGTERM[soft,remote-exit] received, client-instance exiting")
	if w := time.Date(2026, 10, 1, 14, 3, 7, 250e6, time.UTC); !e.Time.Equal(w) {
		t.Errorf("machine-readable stamp: %v, want %v", e.Time, w)
	}
	// An OpenVPN stamp behind a relay's syslog header wins over the header.
	e = vpnOne(t, OpenVPN{}, "<30>Oct  1 14:09:00 relay01 openvpn: 2026-10-01 14:03:07 kpatel/203.0.113.77:50000 MULTI_sva: pool returned IPv4=10.8.0.7, IPv6=(Not enabled)")
	if !e.Time.Equal(time.Date(2026, 10, 1, 14, 3, 7, 0, time.UTC)) || e.Attrs["time_source"] != "openvpn_timestamp" || e.Attrs["syslog_host"] != "relay01" {
		t.Errorf("relayed line: time %v attrs %v", e.Time, e.Attrs)
	}
	// No stamp at all: the receive time, and the event says so.
	e = vpnOne(t, OpenVPN{}, "jlee/198.51.100.7:51234 SIGTERM[soft,remote-exit] received, client-instance exiting")
	if !e.Time.Equal(receivedAt) || e.Attrs["time_source"] != "received_at" {
		t.Errorf("unstamped line: time %v attrs %v", e.Time, e.Attrs)
	}
}

func TestOpenVPNIdentity(t *testing.T) {
	line := "2026-10-01 14:03:07 198.51.100.7:51234 [jlee] Peer Connection Initiated with [AF_INET]198.51.100.7:51234"
	a := vpnOne(t, OpenVPN{}, line)
	b := vpnOne(t, OpenVPN{}, line+"\r\n")
	if a.EventID != b.EventID || a.EventID != event.ID("clinic-a", "openvpn", line) || b.Raw != line {
		t.Errorf("event id not event.ID of the trimmed line: %s %s", a.EventID, b.EventID)
	}
	if a.SourceName != "vpn" || a.TenantID != "clinic-a" || a.SourceKind != event.KindVPN || !a.ReceivedAt.Equal(receivedAt) {
		t.Errorf("record fields not carried over: %+v", a)
	}
	// The same line through the pfsense format is a different source system.
	if p := vpnOne(t, PfSense{}, line); p.EventID == a.EventID || p.SourceSystem != "pfsense" {
		t.Errorf("pfsense event shares the openvpn id or system: %+v", p)
	}
}

func TestOpenVPNErrorsNameTheProblem(t *testing.T) {
	for line, want := range map[string]string{
		"":                      "empty line",
		"just some garbage":     "neither one phiwatch maps",
		"2026-13-01 14:03:07 x": "not a valid time",
		"<38>Oct  1 14:03:07 h sshd[1]: Accepted publickey for root":        `syslog program "sshd": OpenVPN message "Accepted publickey for root" is neither`,
		"2026-10-01 14:03:07 client-disconnect: common_name=a bytes_sent=x": `bytes_sent "x" is not a byte count`,
	} {
		_, err := OpenVPN{}.Parse(Record{Data: []byte(line), Tenant: "t", ReceivedAt: receivedAt})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", line, err, want)
		}
	}
}

func FuzzOpenVPN(f *testing.F) {
	for _, l := range vpnGoldenLines(f, "openvpn") {
		f.Add([]byte(l))
	}
	for _, s := range []string{"", "a/1.2.3.4:5 ", "1 2026-10-01T00:00:00Z h a 1 - - x", "user '' authenticated", "bytes_sent=", "\xff/1.2.3.4:5 SIG[] received, client-instance "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := OpenVPN{}.Parse(Record{Data: data, Tenant: "fuzz", ReceivedAt: receivedAt})
		vpnCheckFuzz(t, "openvpn", evs, err)
		if len(evs) > 1 {
			t.Fatalf("%d events from one line", len(evs))
		}
	})
}

func BenchmarkOpenVPNParse(b *testing.B) { vpnBench(b, OpenVPN{}, "openvpn") }
