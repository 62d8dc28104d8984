package parsers

import (
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

func TestFortiKV(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]string
		err  string
	}{
		{`date=2026-10-01 time=14:03:07 devname="FGT60F" user="jlee"`, map[string]string{"date": "2026-10-01", "time": "14:03:07", "devname": "FGT60F", "user": "jlee"}, ""},
		{`msg="SSL tunnel established" reason="N/A"`, map[string]string{"msg": "SSL tunnel established", "reason": "N/A"}, ""},
		{`user="Dana \"D\" Ortiz" path="C:\\Users"`, map[string]string{"user": `Dana "D" Ortiz`, "path": `C:\Users`}, ""},
		{`msg="a=b c=d" x=1`, map[string]string{"msg": "a=b c=d", "x": "1"}, ""},
		{`empty="" next=2`, map[string]string{"empty": "", "next": "2"}, ""},
		{`1: date=2026-10-01 type=event`, map[string]string{"date": "2026-10-01", "type": "event"}, ""},
		{`user=a user=b`, map[string]string{"user": "a"}, ""},
		{`sub-type=x under_score=y`, map[string]string{"sub-type": "x", "under_score": "y"}, ""},
		{`trailing=x   `, map[string]string{"trailing": "x"}, ""},
		{`user="jl`, nil, "no closing quote"},
		{`garbage`, nil, "expected key=value"},
		{`a=1 =2`, nil, "expected key=value"},
		{``, nil, "no key=value"},
	}
	for _, c := range cases {
		got, err := fortiKV(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("fortiKV(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("fortiKV(%q): %v", c.in, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("fortiKV(%q) = %v, want %v", c.in, got, c.want)
		}
		for k, v := range c.want {
			if got.get(k) != v {
				t.Errorf("fortiKV(%q)[%s] = %q, want %q", c.in, k, got.get(k), v)
			}
		}
	}
}

func TestFortiTime(t *testing.T) {
	want := time.Date(2026, 10, 1, 18, 3, 7, 0, time.UTC)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		fields string
		loc    *time.Location
		want   time.Time
		source string
	}{
		{`eventtime=1790877787`, time.UTC, want, "eventtime"},
		{`eventtime=1790877787123`, time.UTC, want.Add(123 * time.Millisecond), "eventtime"},
		{`eventtime=1790877787123456`, time.UTC, want.Add(123456 * time.Microsecond), "eventtime"},
		{`eventtime=1790877787123456789`, time.UTC, want.Add(123456789), "eventtime"},
		{`date=2026-10-01 time=23:59:59 eventtime=1790877787`, time.UTC, want, "eventtime"}, // eventtime wins
		{`date=2026-10-01 time=14:03:07 tz="-0400"`, time.UTC, want, "date_time_tz"},
		{`date=2026-10-01 time=14:03:07 tz="-04:00"`, time.UTC, want, "date_time_tz"},
		{`date=2026-10-01 time=18:03:07 tz="UTC"`, ny, want, "date_time_tz"},
		{`date=2026-10-01 time=14:03:07`, ny, want, "date_time_location"},
	}
	for _, c := range cases {
		kv, err := fortiKV(c.fields)
		if err != nil {
			t.Fatal(err)
		}
		got, source, err := fortiTime(kv, c.loc)
		if err != nil || !got.Equal(c.want) || source != c.source {
			t.Errorf("fortiTime(%s) = %v %s %v; want %v %s", c.fields, got, source, err, c.want, c.source)
		}
	}
	for _, bad := range []string{`eventtime=x`, `eventtime=-5`, `date=2026-10-01 time=14:03:07 tz="EST"`, `date=2026-10-01 time=14:03:07 tz="+2500"`, `date=2026-02-30 time=14:03:07`} {
		kv, _ := fortiKV(bad)
		if _, _, err := fortiTime(kv, time.UTC); err == nil {
			t.Errorf("fortiTime(%s) accepted", bad)
		}
	}
}

func TestFortiGateMapping(t *testing.T) {
	const head = `<189>date=2026-10-01 time=14:03:07 devname="FGT60F" devid="FGT60FTK21000001" eventtime=1790877787000000000 tz="-0400" type="event" `
	cases := []struct {
		fields  string
		action  event.Action
		outcome event.Outcome
		actor   string
	}{
		{`subtype="vpn" action="tunnel-up" tunneltype="ssl-tunnel" remip=198.51.100.7 user="jlee"`, event.ActionVPNConnect, event.OutcomeSuccess, "jlee"},
		{`subtype="vpn" action="tunnel-up" tunneltype="ssl-web" remip=198.51.100.7 user="jlee"`, event.ActionLogin, event.OutcomeSuccess, "jlee"},
		{`subtype="vpn" action="tunnel-down" tunneltype="ssl-tunnel" remip=198.51.100.7 user="jlee" duration=60`, event.ActionVPNDisconnect, event.OutcomeSuccess, "jlee"},
		{`subtype="vpn" action="tunnel-down" tunneltype="ssl-web" remip=198.51.100.7 user="jlee"`, event.ActionLogout, event.OutcomeSuccess, "jlee"},
		{`subtype="vpn" action="ssl-web-pass" tunneltype="ssl-web" remip=198.51.100.7 user="jlee"`, event.ActionLogin, event.OutcomeSuccess, "jlee"},
		{`subtype="vpn" action="ssl-login-fail" tunneltype="ssl-web" remip=198.51.100.7 user="N/A"`, event.ActionLoginFailed, event.OutcomeFailure, ""},
		{`subtype="vpn" action="tunnel-up" tunneltype="ipsec" remip=198.51.100.7 user="N/A" xauthuser="mgarcia"`, event.ActionVPNConnect, event.OutcomeSuccess, "mgarcia"},
		{`subtype="vpn" action="tunnel-down" tunneltype="ipsec" remip=192.0.2.250 user="N/A" xauthuser="N/A"`, event.ActionOther, event.OutcomeSuccess, ""},
		{`subtype="user" action="authentication" status="success" srcip=198.51.100.7 user="jlee"`, event.ActionLogin, event.OutcomeSuccess, "jlee"},
		{`subtype="user" action="authentication" status="failure" srcip=198.51.100.7 user="jlee"`, event.ActionLoginFailed, event.OutcomeFailure, "jlee"},
		{`subtype="user" action="auth-logout" srcip=198.51.100.7 user="jlee"`, event.ActionLogout, event.OutcomeSuccess, "jlee"},
		{`subtype="system" action="login" status="success" ui="https(198.51.100.9)" user="admin"`, event.ActionLogin, event.OutcomeSuccess, "admin"},
		{`subtype="system" action="login" status="failed" ui="ssh(198.51.100.9)" user="root"`, event.ActionLoginFailed, event.OutcomeFailure, "root"},
	}
	for _, c := range cases {
		e := vpnOne(t, FortiGate{}, head+c.fields)
		if e.Action != c.action || e.Outcome != c.outcome || e.Actor.ID != c.actor || e.ClientIP == "" {
			t.Errorf("%s: %s %s actor %q ip %q; want %s %s %q", c.fields, e.Action, e.Outcome, e.Actor.ID, e.ClientIP, c.action, c.outcome, c.actor)
		}
	}
	e := vpnOne(t, FortiGate{}, head+`subtype="vpn" action="tunnel-down" tunneltype="ssl-tunnel" tunnelid=7 remip=198.51.100.7 tunnelip=10.212.134.200 user="jlee" group="staff" duration=4054 sentbyte=120000 rcvdbyte=5000`)
	if v := e.VPN; v == nil || *v != (event.VPN{SessionID: "7", BytesIn: 5000, BytesOut: 120000, DurationS: 4054, AssignedIP: "10.212.134.200", Group: "staff"}) {
		t.Errorf("tunnel-down VPN fields: %+v", e.VPN)
	}
	if e.Attrs["time_source"] != "eventtime" || !e.Time.Equal(time.Date(2026, 10, 1, 18, 3, 7, 0, time.UTC)) {
		t.Errorf("time %v from %s", e.Time, e.Attrs["time_source"])
	}
}

func TestFortiGateFilterAdvice(t *testing.T) {
	for _, line := range []string{
		`date=2026-10-01 time=14:03:07 type="traffic" subtype="forward" srcip=10.1.2.3 action="accept"`,
		`date=2026-10-01 time=14:03:07 type="utm" subtype="webfilter" action="blocked"`,
		`date=2026-10-01 time=14:03:07 type="event" subtype="wad" action="x"`,
		`date=2026-10-01 time=14:03:07 type="event" subtype="system" action="perf-stats"`,
	} {
		_, err := FortiGate{}.Parse(Record{Data: []byte(line), Tenant: "t", ReceivedAt: receivedAt})
		if err == nil || !strings.Contains(err.Error(), "set filter") {
			t.Errorf("%s: error %v, want advice on the syslog filter", line, err)
		}
	}
}

func FuzzFortiGate(f *testing.F) {
	for _, l := range vpnGoldenLines(f, "fortigate") {
		f.Add([]byte(l))
	}
	f.Add([]byte(`type=event subtype=vpn action=tunnel-up user="\"" eventtime=99999999999999999999`))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := FortiGate{}.Parse(Record{Data: data, Tenant: "fuzz", ReceivedAt: receivedAt})
		vpnCheckFuzz(t, "fortigate", evs, err)
		if err == nil && len(evs) != 1 {
			t.Fatalf("%d events from one line", len(evs))
		}
	})
}

func BenchmarkFortiGateParse(b *testing.B) { vpnBench(b, FortiGate{}, "fortigate") }
