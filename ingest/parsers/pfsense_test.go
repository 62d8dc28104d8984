package parsers

import (
	"testing"

	"github.com/phiwatch/phiwatch/internal/event"
)

// TestPfSenseScriptAuthIsTheVerdict: on pfSense and OPNsense the platform's
// auth script names every verdict, so OpenVPN's own unnamed verdict for the
// same check is "other" there, and login/login_failed in plain OpenVPN.
func TestPfSenseScriptAuthIsTheVerdict(t *testing.T) {
	cases := []struct {
		line            string
		openvpn, pfsens event.Action
	}{
		{"Oct  1 14:40:00 fw openvpn[12345]: 203.0.113.50:1194 TLS Auth Error: Auth Username/Password verification failed for peer",
			event.ActionLoginFailed, event.ActionOther},
		{"Oct  1 14:03:06 fw openvpn[12345]: 198.51.100.7:51234 TLS: Username/Password authentication succeeded for username 'jlee'",
			event.ActionLogin, event.ActionOther},
		// Verdicts of other checks are the same in both.
		{"Oct  1 15:11:00 fw openvpn[12345]: 203.0.113.51:1194 TLS Auth Error: --client-config-dir authentication failed for common name 'retired-laptop' file='x'",
			event.ActionLoginFailed, event.ActionLoginFailed},
		{"Oct  1 14:40:00 fw openvpn: user 'mgarcia' could not authenticate.", event.ActionLoginFailed, event.ActionLoginFailed},
		{"Oct  1 14:03:06 fw openvpn[12345]: user 'jlee' authenticated", event.ActionLogin, event.ActionLogin},
	}
	for _, c := range cases {
		o, p := vpnOne(t, OpenVPN{}, c.line), vpnOne(t, PfSense{}, c.line)
		if o.Action != c.openvpn || p.Action != c.pfsens {
			t.Errorf("%q: openvpn %s, pfsense %s; want %s, %s", c.line, o.Action, p.Action, c.openvpn, c.pfsens)
		}
	}
}

func TestPfSenseOPNsenseHeader(t *testing.T) {
	// OPNsense's local files: RFC 5424 without <PRI>.
	e := vpnOne(t, PfSense{}, `1 2026-10-01T14:03:07-04:00 fw.example openvpn_server1 12345 - [meta sequenceId="12"] user 'dortiz' authenticated using 'Local Database'`)
	if e.Actor.ID != "dortiz" || e.Action != event.ActionLogin || e.Attrs["syslog_program"] != "openvpn_server1" || e.Attrs["syslog_host"] != "fw.example" ||
		e.Time.Hour() != 18 || e.Attrs["auth_detail"] != "using 'Local Database'" {
		t.Errorf("OPNsense line: %+v", e)
	}
	_, err := PfSense{}.Parse(Record{Data: []byte("1 2026-10-01T99:03:08-04:00 fw.example openvpn_server1 12345 - - x"), Tenant: "t", ReceivedAt: receivedAt})
	if err == nil {
		t.Error("an impossible RFC 5424 time was accepted")
	}
}

func FuzzPfSense(f *testing.F) {
	for _, l := range vpnGoldenLines(f, "pfsense") {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := PfSense{}.Parse(Record{Data: data, Tenant: "fuzz", ReceivedAt: receivedAt})
		vpnCheckFuzz(t, "pfsense", evs, err)
		if len(evs) > 1 {
			t.Fatalf("%d events from one line", len(evs))
		}
	})
}

func BenchmarkPfSenseParse(b *testing.B) { vpnBench(b, PfSense{}, "pfsense") }
