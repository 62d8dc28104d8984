package parsers

import (
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// gpLine builds a GLOBALPROTECT log with the given fields set by position
// (PAN-OS 10.1 layout, 49 fields).
func gpLine(set map[int]string) string {
	f := make([]string, 49)
	for i := range f {
		f[i] = ""
	}
	f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7] = "1", "2026/10/01 14:03:07", "013201001234", "GLOBALPROTECT", "0", "2817", "2026/10/01 14:03:07", "vsys1"
	f[gpStatus], f[gpSeqno] = "success", "1001"
	for i, v := range set {
		f[i] = v
	}
	return "<14>Oct  1 14:03:07 PA-3220 " + strings.Join(f, ",")
}

func TestGlobalProtectMapping(t *testing.T) {
	cases := []struct {
		id, status string
		action     event.Action
		outcome    event.Outcome
	}{
		{"portal-auth", "success", event.ActionLogin, event.OutcomeSuccess},
		{"portal-auth", "failure", event.ActionLoginFailed, event.OutcomeFailure},
		{"gateway-auth", "failure", event.ActionLoginFailed, event.OutcomeFailure},
		{"gateway-register", "success", event.ActionVPNConnect, event.OutcomeSuccess},
		{"gateway-connected", "success", event.ActionVPNConnect, event.OutcomeSuccess},
		{"gateway-connected", "failure", event.ActionOther, event.OutcomeFailure},
		{"gateway-logout", "success", event.ActionVPNDisconnect, event.OutcomeSuccess},
		{"portal-logout", "success", event.ActionLogout, event.OutcomeSuccess},
		{"gateway-hip-report", "success", event.ActionOther, event.OutcomeSuccess},
		{"gateway-tunnel-latency", "", event.ActionOther, event.OutcomeUnknown},
	}
	for _, c := range cases {
		e := vpnOne(t, GlobalProtect{}, gpLine(map[int]string{gpEventID: c.id, gpStatus: c.status, gpUser: "jlee", gpPublicIP: "198.51.100.7", gpPrivateIP: "10.30.0.8"}))
		if e.Action != c.action || e.Outcome != c.outcome || e.Attrs["source_action"] != c.id {
			t.Errorf("%s/%s: %s %s, want %s %s", c.id, c.status, e.Action, e.Outcome, c.action, c.outcome)
		}
	}
}

func TestGlobalProtectFields(t *testing.T) {
	line := gpLine(map[int]string{
		gpEventID: "gateway-logout", gpUser: `RIVERSIDE\jlee`, gpMachine: "JLEE-LAPTOP", gpPublicIP: "0.0.0.0", gpPublicIPv6: "2001:db8:44::9",
		gpPrivateIP: "10.30.0.8", gpPrivateIPv6: "fd00:30::8", gpLoginDur: "4055", gpClientOSVer: `"Microsoft Windows 10 Enterprise , 64-bit"`,
		gpHiResTime: "2026-10-01T14:03:07.250-04:00",
	})
	e := vpnOne(t, GlobalProtect{}, line)
	if e.Actor.ID != `RIVERSIDE\jlee` || e.Device != "JLEE-LAPTOP" || e.ClientIP != "2001:db8:44::9" || e.VPN.AssignedIP != "10.30.0.8" ||
		e.Attrs["assigned_ipv6"] != "fd00:30::8" || e.VPN.DurationS != 4055 || e.Attrs["client_os_version"] != "Microsoft Windows 10 Enterprise , 64-bit" {
		t.Errorf("fields: %+v %+v", e, e.VPN)
	}
	if want := time.Date(2026, 10, 1, 18, 3, 7, 250e6, time.UTC); !e.Time.Equal(want) || e.Attrs["time_source"] != "high_res_timestamp" {
		t.Errorf("time %v from %s, want %v", e.Time, e.Attrs["time_source"], want)
	}
	// The id is the firewall's: serial, type, sequence number. The same log
	// relayed with another syslog header is the same event.
	relayed := strings.Replace(line, "<14>Oct  1 14:03:07 PA-3220 ", "<14>1 2026-10-01T18:03:09Z panorama01 - - - - ", 1)
	if r := vpnOne(t, GlobalProtect{}, relayed); r.EventID != e.EventID || e.EventID != event.ID("clinic-a", "globalprotect", "013201001234/GLOBALPROTECT/1001") {
		t.Errorf("relayed log id %s, direct %s", r.EventID, e.EventID)
	}
	// Without a High Res Timestamp (PAN-OS 9.1) Generated Time is read in Location.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	old := vpnOne(t, GlobalProtect{}.WithLocation(ny), gpLine(map[int]string{gpEventID: "portal-auth", gpUser: "jlee"}))
	if want := time.Date(2026, 10, 1, 18, 3, 7, 0, time.UTC); !old.Time.Equal(want) || old.Attrs["time_source"] != "generated_time" {
		t.Errorf("9.1 time %v from %s, want %v", old.Time, old.Attrs["time_source"], want)
	}
}

func TestGPDescriptionFields(t *testing.T) {
	d := gpDescriptionFields("GlobalProtect gateway client configuration generated. User name: jlee, Private IP: 10.30.0.8, Client version: 5.2.5-84, Device name: JLEE-LAPTOP, Client OS version: Microsoft Windows 10 Enterprise , 64-bit, VPN type: Device Level VPN.")
	want := map[string]string{"User name": "jlee", "Private IP": "10.30.0.8", "Client version": "5.2.5-84", "Device name": "JLEE-LAPTOP",
		"Client OS version": "Microsoft Windows 10 Enterprise , 64-bit", "VPN type": "Device Level VPN"}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %q, want %q", k, d[k], v)
		}
	}
	d = gpDescriptionFields("GlobalProtect portal user authentication failed. Login from: 203.0.113.66, Source region: US, User name: a, Reason: Authentication failed: User name: is not valid.")
	if d["User name"] != "a" || d["Reason"] != "Authentication failed: User name: is not valid" {
		t.Errorf("a label inside a value: %v", d)
	}
	if len(gpDescriptionFields("")) != 0 || len(gpDescriptionFields("no labels here")) != 0 {
		t.Error("labels found where there are none")
	}
}

func TestGlobalProtectRebase(t *testing.T) {
	// A relay that puts fields between the serial and the type.
	f, err := gpFields("1,2026/10/01 16:40:00,013201001234,11,0x0,GLOBALPROTECT,0,2817,2026/10/01 16:40:00,vsys1,portal-auth")
	if err != nil || f.at(gpSerial) != "013201001234" || f.at(gpType) != "GLOBALPROTECT" || f.at(gpEventID) != "portal-auth" {
		t.Errorf("rebased row %q, %v", f, err)
	}
}

func TestGPSplitCSV(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  string
	}{
		{"a,b,c", []string{"a", "b", "c"}, ""},
		{"a,,c,", []string{"a", "", "c", ""}, ""},
		{`a,"b, c",d`, []string{"a", "b, c", "d"}, ""},
		{`a,"say ""hi""",d`, []string{"a", `say "hi"`, "d"}, ""},
		{`a,"x "quoted" y",d`, []string{"a", `x "quoted" y`, "d"}, ""},
		{`a,b"c,d`, []string{"a", `b"c`, "d"}, ""},
		{`a,"",b`, []string{"a", "", "b"}, ""},
		{`a,"end"`, []string{"a", "end"}, ""},
		{"", []string{""}, ""},
		{`a,"open,b`, nil, "field 2 has no closing quote"},
	}
	for _, c := range cases {
		got, err := gpSplitCSV(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("gpSplitCSV(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("gpSplitCSV(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func FuzzGlobalProtect(f *testing.F) {
	for _, l := range vpnGoldenLines(f, "globalprotect") {
		f.Add([]byte(l))
	}
	f.Add([]byte(`1,2,3,SYSTEM,globalprotect,5,6,7,globalprotectgateway-regist-succ,9,10,11,12,13,"User name: x, Login from: ::1"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := GlobalProtect{}.Parse(Record{Data: data, Tenant: "fuzz", ReceivedAt: receivedAt})
		vpnCheckFuzz(t, "globalprotect", evs, err)
		if err == nil && len(evs) != 1 {
			t.Fatalf("%d events from one line", len(evs))
		}
	})
}

func BenchmarkGlobalProtectParse(b *testing.B) { vpnBench(b, GlobalProtect{}, "globalprotect") }
