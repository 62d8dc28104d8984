package syslog_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/ingest/loader"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/cli"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

// syncBuffer collects a command's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines of one Cisco ASA, stamped in its local time (America/New_York).
const (
	aaaLogin   = "<166>Oct 01 2026 08:59:58 asa01 : %ASA-6-113004: AAA user authentication Successful : server = 10.20.0.5 : user = jlee"
	connect    = "<166>Oct 01 2026 09:00:00 asa01 : %ASA-6-113039: Group <GP-Clinic-Staff> User <jlee> IP <203.0.113.9> AnyConnect parent session started."
	assigned   = "<166>Oct 01 2026 09:00:01 asa01 : %ASA-6-722051: Group <GP-Clinic-Staff> User <jlee> IP <203.0.113.9> IPv4 Address <10.99.0.21> IPv6 address <::> assigned to session"
	garbage    = "hello from a misconfigured sender"
	disconnect = "<164>Oct 01 2026 10:02:03 asa01 : %ASA-4-113019: Group = GP-Clinic-Staff, Username = jlee, IP = 203.0.113.9, Session disconnected. Session Type: AnyConnect-Parent, Duration: 1h:02m:03s, Bytes xmt: 120000, Bytes rcv: 5000, Reason: User Requested"
	failed     = "<166>Oct 01 2026 11:15:50 asa01 : %ASA-6-113005: AAA user authentication Rejected : reason = Invalid password : server = 10.20.0.5 : user = mgarcia : user IP = 198.51.100.77"
	webvpn     = "<166>Oct 02 2026 07:30:00 asa01 : %ASA-6-716001: Group <GP-Portal> User <dortiz> IP <192.0.2.44> WebVPN session started."
	firewall   = "<166>Oct 02 2026 07:31:00 asa01 : %ASA-6-302013: Built inbound TCP connection 1 for outside:198.51.100.1/443 (198.51.100.1/443) to inside:10.0.0.5/51000 (10.0.0.5/51000)"
)

// TestSyslogToClickHouse runs `phiwatch ingest --format cisco-asa` with a
// file and both syslog listeners, against the real Kafka, then the loader
// into the embedded ClickHouse engine, and reads the rows back. It proves:
// messages over UDP and TCP (octet-counted, LF, CRLF, split writes) become
// events with the ASA's own time in --syslog-location; a line read from a
// file and the same line received over UDP are one event; garbage, an
// unmapped message id and an oversize message are dead-lettered with their
// reason and network origin; and a stop signal publishes everything
// received before the command exits 0.
func TestSyslogToClickHouse(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	testenv.RequireChdb(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	suffix := fmt.Sprint(time.Now().UnixNano())
	evTopic, dlTopic := "syslog-e2e-ev-"+suffix, "syslog-e2e-dl-"+suffix
	const tenant = "clinic-e2e"

	file := filepath.Join(t.TempDir(), "asa.log")
	if err := os.WriteFile(file, []byte(aaaLogin+"\n"+connect+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	ingestCtx, stopIngest := context.WithCancel(ctx)
	defer stopIngest()
	exited := make(chan int, 1)
	go func() {
		exited <- cli.Main(ingestCtx, []string{"ingest",
			"--format", "cisco-asa", "--tenant", tenant, "--source-name", "main-asa",
			"--kafka-brokers", strings.Join(brokers, ","), "--kafka-partitions", "2",
			"--events-topic", evTopic, "--dead-letter-topic", dlTopic,
			"--listen", "", "--log-format", "json",
			"--syslog-udp", "127.0.0.1:0", "--syslog-tcp", "127.0.0.1:0", "--syslog-location", "America/New_York",
			file,
		}, strings.NewReader(""), &stdout, &stderr)
	}()
	udpAddr, tcpAddr := waitListening(t, &stderr, exited)

	// UDP: one datagram per message, with and without a trailing newline.
	uc, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	for _, d := range []string{connect + "\n", assigned, garbage} {
		if _, err := uc.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	// TCP: both framings on one connection, split mid-message.
	oversize := "<166>Oct 02 2026 07:32:00 asa01 : %ASA-6-113039: Group <" + strings.Repeat("x", 70000) + "> User <u> IP <192.0.2.1> AnyConnect parent session started."
	stream := fmt.Sprintf("%d %s", len(disconnect), disconnect) + failed + "\n" + webvpn + "\r\n" + firewall + "\n" + oversize + "\n"
	tc, err := net.Dial("tcp", tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	split := len(stream) - len(oversize) - 200
	for _, part := range []string{stream[:split], stream[split:]} {
		if _, err := tc.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tc.Close()

	// Wait until Kafka holds all of it: 7 event messages (the UDP copy of
	// the file's connect line is published too; the store collapses it) and
	// 3 dead letters. Then stop the command as SIGTERM would.
	kc := bus.KafkaConfig{Brokers: brokers, Partitions: 2}
	countMessages(ctx, t, kc, evTopic, 7)
	countMessages(ctx, t, kc, dlTopic, 3)
	stopIngest()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("ingest exited %d\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("ingest did not stop within 30s of the stop signal\nstderr:\n%s", stderr.String())
	}
	if want := "ingested 10 records: 7 events, 3 dead letters"; !strings.Contains(stdout.String(), want) {
		t.Fatalf("stdout %q, want %q", stdout.String(), want)
	}

	// Load both topics into the embedded engine.
	dir := t.TempDir()
	s, err := store.Open(ctx, store.Options{DSN: "chdb:" + dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := store.Migrate(ctx, s, quiet); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	prod := bus.NewKafkaProducer(kc)
	defer prod.Close()
	cfg := loader.Config{BatchRows: 1000, BatchWait: 200 * time.Millisecond, StopWhenIdle: 3 * time.Second}
	ev := bus.NewKafkaConsumer(kc, evTopic, "load-"+suffix)
	defer ev.Close()
	dl := bus.NewKafkaConsumer(kc, dlTopic, "load-dl-"+suffix)
	defer dl.Close()
	if err := loader.New(cfg, evTopic, ev, loader.EventSink{Store: s}, loader.PublishRejects(prod, dlTopic, nil), m, quiet).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := loader.New(cfg, dlTopic, dl, loader.DeadLetterSink{Store: s}, nil, m, quiet).Run(ctx); err != nil {
		t.Fatal(err)
	}

	type row struct {
		Unix       int64  `json:"unix"`
		MsgID      string `json:"msg_id"`
		Action     string `json:"action"`
		Outcome    string `json:"outcome"`
		Actor      string `json:"actor_id"`
		ClientIP   string `json:"client_ip"`
		SourceName string `json:"source_name"`
		Group      string `json:"vpn_group"`
		Assigned   string `json:"vpn_assigned_ip"`
		BytesIn    uint64 `json:"vpn_bytes_in"`
		BytesOut   uint64 `json:"vpn_bytes_out"`
		DurationS  uint32 `json:"vpn_duration_s"`
	}
	var rows []row
	if err := s.Select(ctx, &rows, `SELECT toUnixTimestamp(time) AS unix, attrs['asa_msg_id'] AS msg_id, action, outcome, actor_id, client_ip,
		source_name, vpn_group, vpn_assigned_ip, vpn_bytes_in, vpn_bytes_out, vpn_duration_s
		FROM phiwatch.events WHERE tenant_id = {tenant:String} ORDER BY time, msg_id`, store.Params{"tenant": tenant}); err != nil {
		t.Fatal(err)
	}
	at := func(month time.Month, day, h, m, s int) int64 { // EDT is UTC-4
		return time.Date(2026, month, day, h+4, m, s, 0, time.UTC).Unix()
	}
	want := []row{
		{at(10, 1, 8, 59, 58), "113004", "login", "success", "jlee", "", "main-asa", "", "", 0, 0, 0},
		{at(10, 1, 9, 0, 0), "113039", "vpn_connect", "success", "jlee", "203.0.113.9", "main-asa", "GP-Clinic-Staff", "", 0, 0, 0},
		{at(10, 1, 9, 0, 1), "722051", "other", "success", "jlee", "203.0.113.9", "main-asa", "GP-Clinic-Staff", "10.99.0.21", 0, 0, 0},
		{at(10, 1, 10, 2, 3), "113019", "vpn_disconnect", "success", "jlee", "203.0.113.9", "main-asa", "GP-Clinic-Staff", "", 5000, 120000, 3723},
		{at(10, 1, 11, 15, 50), "113005", "login_failed", "failure", "mgarcia", "198.51.100.77", "main-asa", "", "", 0, 0, 0},
		{at(10, 2, 7, 30, 0), "716001", "vpn_connect", "success", "dortiz", "192.0.2.44", "main-asa", "GP-Portal", "", 0, 0, 0},
	}
	if len(rows) != len(want) {
		t.Fatalf("phiwatch.events holds %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("event %d:\n got  %+v\n want %+v", i, rows[i], want[i])
		}
	}

	type deadRow struct {
		Stage  string `json:"stage"`
		Format string `json:"format"`
		Origin string `json:"origin"`
		Reason string `json:"reason"`
		RawLen uint64 `json:"raw_len"`
	}
	var dead []deadRow
	if err := s.Select(ctx, &dead, `SELECT stage, format, origin, reason, length(raw) AS raw_len
		FROM phiwatch.dead_letters FINAL WHERE tenant_id = {tenant:String} ORDER BY origin`, store.Params{"tenant": tenant}); err != nil {
		t.Fatal(err)
	}
	tcpPeer, udpPeer := tc.LocalAddr().String(), uc.LocalAddr().String()
	wantDead := []deadRow{
		{"parse", "cisco-asa", "tcp " + tcpPeer + "#4", "ASA message 302013 is not a VPN or authentication event", uint64(len(firewall))},
		{"parse", "cisco-asa", "tcp " + tcpPeer + "#5", "syslog message longer than 65536 bytes (kept truncated)", 65536},
		{"parse", "cisco-asa", "udp " + udpPeer, "no %ASA- message id", uint64(len(garbage))},
	}
	if len(dead) != len(wantDead) {
		t.Fatalf("phiwatch.dead_letters holds %d rows, want %d: %+v", len(dead), len(wantDead), dead)
	}
	for i, w := range wantDead {
		d := dead[i]
		if d.Stage != w.Stage || d.Format != w.Format || d.Origin != w.Origin || !strings.Contains(d.Reason, w.Reason) || d.RawLen != w.RawLen {
			t.Errorf("dead letter %d:\n got  %+v\n want %+v (reason containing)", i, d, w)
		}
	}
}

// waitListening reads the command's log until both listeners report their
// addresses.
func waitListening(t *testing.T, stderr *syncBuffer, exited <-chan int) (udp, tcp string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var l struct{ Msg, Transport, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "syslog listening" {
				switch l.Transport {
				case "udp":
					udp = l.Addr
				case "tcp":
					tcp = l.Addr
				}
			}
		}
		if udp != "" && tcp != "" {
			return udp, tcp
		}
		select {
		case code := <-exited:
			t.Fatalf("ingest exited %d before listening\nstderr:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("ingest did not report both listeners within 60s\nstderr:\n%s", stderr.String())
	return "", ""
}

// countMessages reads topic from the start until it has seen n messages,
// failing after a bounded wait.
func countMessages(ctx context.Context, t *testing.T, kc bus.KafkaConfig, topic string, n int) {
	t.Helper()
	c := bus.NewKafkaConsumer(kc, topic, "count-"+topic)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		if _, err := c.Fetch(ctx); err != nil {
			t.Fatalf("topic %s: %d of %d messages arrived: %v", topic, i, n, err)
		}
	}
}
