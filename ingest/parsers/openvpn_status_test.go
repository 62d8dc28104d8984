package parsers

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// ovpnStatusEvents frames and parses a status file as ingest does and returns
// the events and the records (data) they came from.
func ovpnStatusEvents(t testing.TB, p OpenVPNStatus, input string) ([]event.Event, []string) {
	t.Helper()
	var evs []event.Event
	var recs []string
	err := p.Frame(strings.NewReader(input), func(data []byte, pos string) error {
		out, err := p.Parse(Record{Data: data, Origin: "status:" + pos, Tenant: "clinic-a", ReceivedAt: receivedAt})
		if err != nil {
			return err
		}
		evs = append(evs, out...)
		recs = append(recs, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs, recs
}

func ovpnReadStatus(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "openvpn-status", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOpenVPNStatusIdempotent: re-reading a snapshot, reading the next
// snapshot of the same session, or the same session in another
// status-version gives the same event id.
func TestOpenVPNStatusIdempotent(t *testing.T) {
	v2 := ovpnReadStatus(t, "v2.input")
	first, _ := ovpnStatusEvents(t, OpenVPNStatus{}, v2)
	again, _ := ovpnStatusEvents(t, OpenVPNStatus{}, v2)
	if len(first) != 3 || len(again) != 3 {
		t.Fatalf("%d and %d events, want 3 (two clients, then one in the next snapshot)", len(first), len(again))
	}
	for i := range first {
		if first[i].EventID != again[i].EventID {
			t.Errorf("event %d: id %s then %s", i, first[i].EventID, again[i].EventID)
		}
	}
	if first[0].EventID != first[2].EventID || first[2].VPN.BytesOut <= first[0].VPN.BytesOut {
		t.Errorf("the next snapshot of jlee's session is a new event or did not update bytes: %+v / %+v", first[0].VPN, first[2].VPN)
	}
	v1, _ := ovpnStatusEvents(t, OpenVPNStatus{}, ovpnReadStatus(t, "v1.input"))
	if v1[0].EventID != first[0].EventID {
		t.Errorf("jlee's session has id %s in status-version 1 and %s in 2", v1[0].EventID, first[0].EventID)
	}
	want := event.ID("clinic-a", "openvpn-status", "jlee\x00198.51.100.7:51234\x00"+"1790859600")
	if first[0].EventID != want {
		t.Errorf("id %s, want event.ID(tenant, format, cn, real address, connected since) = %s", first[0].EventID, want)
	}
}

// TestOpenVPNStatusRecordsStandAlone: each framed record parses alone to
// the same event, so a dead letter can be replayed by itself.
func TestOpenVPNStatusRecordsStandAlone(t *testing.T) {
	for _, name := range []string{"v1.input", "v2.input", "v3.input"} {
		evs, recs := ovpnStatusEvents(t, OpenVPNStatus{}, ovpnReadStatus(t, name))
		if len(evs) == 0 {
			t.Fatalf("%s: no events", name)
		}
		i := 0
		for _, rec := range recs {
			out, err := OpenVPNStatus{}.Parse(Record{Data: []byte(rec), Tenant: "clinic-a", ReceivedAt: receivedAt})
			if err != nil {
				t.Fatalf("%s: record alone: %v\n%s", name, err, rec)
			}
			for _, e := range out {
				if e.EventID != evs[i].EventID || e.VPN.AssignedIP != evs[i].VPN.AssignedIP || e.Raw != rec {
					t.Errorf("%s: record alone gives %+v, framed %+v", name, e, evs[i])
				}
				i++
			}
		}
	}
}

func TestOpenVPNStatusFields(t *testing.T) {
	evs, _ := ovpnStatusEvents(t, OpenVPNStatus{}, ovpnReadStatus(t, "v3.input"))
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	e := evs[0] // Username UNDEF: the common name is the actor
	if e.Actor.ID != "Dana Ortiz" || e.ClientIP != "198.51.100.30" || e.VPN.AssignedIP != "10.8.0.14" || e.VPN.BytesIn != 22000 || e.VPN.BytesOut != 910000 ||
		e.Action != event.ActionVPNConnect || e.Attrs["observed"] != "status-snapshot" || !e.Time.Equal(time.Unix(1790855110, 0)) {
		t.Errorf("v3 row: %+v", e)
	}
	if e.Attrs["status_updated"] != "2026-10-01T14:03:07Z" || e.Attrs["status_version"] != "3" {
		t.Errorf("v3 attrs: %v", e.Attrs)
	}
	// Version 1 "Connected Since" is local time: Location applies.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := ovpnStatusEvents(t, OpenVPNStatus{}.WithLocation(ny).(OpenVPNStatus), ovpnReadStatus(t, "v1.input"))
	if want := time.Date(2026, 10, 1, 17, 0, 0, 0, time.UTC); !v1[0].Time.Equal(want) {
		t.Errorf("v1 in New York: %v, want %v", v1[0].Time, want)
	}
}

func TestOpenVPNStatusRowWithoutHeader(t *testing.T) {
	// A CLIENT_LIST row alone: columns named by count (2.3: 8, 2.4: 11, 2.5+: 12).
	for _, row := range []string{
		"CLIENT_LIST,jlee,198.51.100.7:51234,10.8.0.6,5000,120000,Thu Oct  1 13:00:00 2026,1790859600,jlee",
		"CLIENT_LIST,jlee,198.51.100.7:51234,10.8.0.6,,5000,120000,Thu Oct  1 13:00:00 2026,1790859600,jlee,0,0",
		"CLIENT_LIST,jlee,198.51.100.7:51234,10.8.0.6,,5000,120000,2026-10-01 13:00:00,1790859600,jlee,0,0,AES-256-GCM",
	} {
		e := vpnOne(t, OpenVPNStatus{}, row)
		if e.VPN.AssignedIP != "10.8.0.6" || e.VPN.BytesIn != 5000 || e.VPN.BytesOut != 120000 || e.Actor.ID != "jlee" {
			t.Errorf("%q: %+v %+v", row, e, e.VPN)
		}
	}
	if _, err := (OpenVPNStatus{}).Parse(Record{Data: []byte("CLIENT_LIST,a,b,c"), Tenant: "t", ReceivedAt: receivedAt}); err == nil || !strings.Contains(err.Error(), "no HEADER") {
		t.Errorf("short row without header: %v", err)
	}
}

func TestOpenVPNStatusPendingClientIsNoise(t *testing.T) {
	evs, err := OpenVPNStatus{}.Parse(Record{Data: []byte("CLIENT_LIST,UNDEF,192.0.2.77:40000,,,0,0,2026-10-01 14:03:05,1790863385,UNDEF,4,2,AES-256-GCM"), Tenant: "t", ReceivedAt: receivedAt})
	if err != nil || len(evs) != 0 {
		t.Errorf("a client still authenticating: %d events, %v; want none", len(evs), err)
	}
}

func TestOpenVPNStatusFrameLimits(t *testing.T) {
	big := bytes.Repeat([]byte("x"), maxStatusFile/1024+1)
	var input bytes.Buffer
	for input.Len() <= maxStatusFile {
		input.Write(big[:1023])
		input.WriteByte('\n')
	}
	err := OpenVPNStatus{}.Frame(&input, func([]byte, string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversize input: %v", err)
	}
	stop := errors.New("stop")
	err = OpenVPNStatus{}.Frame(strings.NewReader(ovpnReadStatus(t, "v2.input")), func([]byte, string) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("emit's error not returned: %v", err)
	}
}

func FuzzOpenVPNStatus(f *testing.F) {
	for _, name := range []string{"v1.input", "v2.input", "v3.input", "malformed.input"} {
		f.Add([]byte(ovpnReadStatus(f, name)))
	}
	f.Add([]byte("CLIENT_LIST,jlee,198.51.100.7:51234,10.8.0.6,5000,120000,Thu Oct  1 13:00:00 2026,1790859600,jlee"))
	f.Add([]byte("OpenVPN CLIENT LIST\nCommon Name\nx\nROUTING TABLE\nx"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Every framed record, and the input taken as one record, must
		// parse without panicking and keep the promises.
		err := OpenVPNStatus{}.Frame(bytes.NewReader(data), func(rec []byte, pos string) error {
			evs, err := OpenVPNStatus{}.Parse(Record{Data: rec, Tenant: "fuzz", ReceivedAt: receivedAt})
			vpnCheckFuzz(t, "openvpn-status", evs, err)
			if len(evs) > 1 {
				t.Fatalf("%d events from one record", len(evs))
			}
			return nil
		})
		if err != nil && !strings.Contains(err.Error(), "line") && !strings.Contains(err.Error(), "larger") {
			t.Fatalf("framing failed on in-memory input: %v", err)
		}
		evs, err := OpenVPNStatus{}.Parse(Record{Data: data, Tenant: "fuzz", ReceivedAt: receivedAt})
		vpnCheckFuzz(t, "openvpn-status", evs, err)
	})
}

// BenchmarkOpenVPNStatusParse frames and parses a 500-client status file;
// events/s is per core.
func BenchmarkOpenVPNStatusParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("TITLE,OpenVPN 2.6.8\nTIME,2026-10-01 14:03:07,1790863387\n")
	sb.WriteString("HEADER,CLIENT_LIST,Common Name,Real Address,Virtual Address,Virtual IPv6 Address,Bytes Received,Bytes Sent,Connected Since,Connected Since (time_t),Username,Client ID,Peer ID,Data Channel Cipher\n")
	for i := range 500 {
		sb.WriteString("CLIENT_LIST,user" + strconv.Itoa(i) + ",198.51.100." + strconv.Itoa(i%250) + ":" + strconv.Itoa(40000+i) + ",10.8." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+2) +
			",,5000,120000,2026-10-01 13:00:00,1790859600,user" + strconv.Itoa(i) + "," + strconv.Itoa(i) + "," + strconv.Itoa(i) + ",AES-256-GCM\n")
	}
	sb.WriteString("END\n")
	input := sb.String()
	p := OpenVPNStatus{}
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		err := p.Frame(strings.NewReader(input), func(data []byte, pos string) error {
			evs, err := p.Parse(Record{Data: data, Tenant: "t", ReceivedAt: receivedAt})
			events += len(evs)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
