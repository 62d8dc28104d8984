package syslog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/phiwatch/phiwatch/internal/metrics"
)

type frame struct {
	data string
	cut  bool
}

// TestFrameReader runs the TCP framing over streams read one byte at a time
// (the worst split a network can produce) and whole.
func TestFrameReader(t *testing.T) {
	long := strings.Repeat("x", 40)
	cases := []struct {
		name   string
		stream string
		want   []frame
	}{
		{"lf", "<13>a\n<13>b\n", []frame{{"<13>a", false}, {"<13>b", false}}},
		{"crlf", "<13>a\r\n<13>b\r\n", []frame{{"<13>a", false}, {"<13>b", false}}},
		{"nul", "<13>a\x00<13>b\x00", []frame{{"<13>a", false}, {"<13>b", false}}},
		{"last line without newline is whole", "<13>a\n<13>b", []frame{{"<13>a", false}, {"<13>b", false}}},
		{"blank lines skipped", "\n\r\n<13>a\n\n", []frame{{"<13>a", false}}},
		{"octet counting", "5 <13>a5 <13>b", []frame{{"<13>a", false}, {"<13>b", false}}},
		{"octet counting with LF after each frame", "5 <13>a\n5 <13>b\n", []frame{{"<13>a", false}, {"<13>b", false}}},
		{"mixed framings on one connection", "5 <13>a<13>b c\n7 <13>d e<13>f\r\n", []frame{{"<13>a", false}, {"<13>b c", false}, {"<13>d e", false}, {"<13>f", false}}},
		{"count includes spaces and newlines inside", "11 <13>a\nb c d", []frame{{"<13>a\nb c d", false}}},
		{"digits without a space are a line", "2026-10-01T09:00:00Z h : m\n", []frame{{"2026-10-01T09:00:00Z h : m", false}}},
		{"zero-led digits are a line", "0123 x\n", []frame{{"0123 x", false}}},
		{"oversize line kept truncated, next line whole", long + "\n<13>ok\n", []frame{{long[:32], true}, {"<13>ok", false}}},
		{"oversize counted frame kept truncated, next frame whole", "40 " + long + "6 <13>ok", []frame{{long[:32], true}, {"<13>ok", false}}},
		{"counted frame cut off by the close", "50 <13>short", []frame{{"<13>short", true}}},
		{"zero-led count is no count (RFC 6587 MSG-LEN starts non-zero)", "0 5 <13>a", []frame{{"0 5 <13>a", false}}},
	}
	for _, c := range cases {
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/split=%v", c.name, split), func(t *testing.T) {
				var r io.Reader = strings.NewReader(c.stream)
				if split {
					r = iotest.OneByteReader(r)
				}
				fr := &frameReader{br: bufio.NewReaderSize(r, 16), max: 32}
				var got []frame
				for i := 0; i < 100; i++ {
					data, cut, err := fr.next()
					if len(data) > 0 || cut != "" {
						got = append(got, frame{string(data), cut != ""})
					}
					if err != nil {
						if !errors.Is(err, io.EOF) {
							t.Fatalf("error %v", err)
						}
						break
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Fatalf("frames %+v, want %+v", got, c.want)
				}
			})
		}
	}
}

// collector is a Handler that passes messages to the test.
type collector struct {
	ch  chan Message
	err error // returned for every message when set
}

func newCollector() *collector { return &collector{ch: make(chan Message, 1000)} }

func (c *collector) HandleSyslog(ctx context.Context, m Message) error {
	select {
	case c.ch <- m:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.err
}

// wait returns the next n messages, failing the test after a bounded wait.
func (c *collector) wait(t *testing.T, n int) []Message {
	t.Helper()
	var out []Message
	deadline := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case m := <-c.ch:
			out = append(out, m)
		case <-deadline:
			t.Fatalf("received %d of %d messages: %v", len(out), n, out)
		}
	}
	return out
}

// none checks nothing more arrives for a short while.
func (c *collector) none(t *testing.T) {
	t.Helper()
	select {
	case m := <-c.ch:
		t.Fatalf("unexpected message %q", m.Data)
	case <-time.After(100 * time.Millisecond):
	}
}

type served struct {
	udp, tcp string
	m        *metrics.Metrics
	cancel   context.CancelFunc
	done     chan error // one result per transport
}

// serve starts a Listener on 127.0.0.1 ports chosen by the kernel and stops
// it when the test ends.
func serve(t *testing.T, cfg Config, h Handler) *served {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics = metrics.New()
	l := NewListener(cfg, h)
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{udp: pc.LocalAddr().String(), tcp: ln.Addr().String(), m: cfg.Metrics, cancel: cancel, done: make(chan error, 2)}
	go func() { s.done <- l.ServeUDP(ctx, pc) }()
	go func() { s.done <- l.ServeTCP(ctx, ln) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels the listener and checks both transports return nil promptly.
func (s *served) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	for range 2 {
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("serve returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("listener did not stop within 5s of cancel")
		}
	}
}

func TestUDP(t *testing.T) {
	c := newCollector()
	s := serve(t, Config{MaxMessageBytes: 64}, c)
	conn, err := net.Dial("udp", s.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	long := "<13>" + strings.Repeat("y", 100)
	for _, d := range []string{"<13>one", "<13>two\n", "", "<13>three\r\n\x00", long} {
		if _, err := conn.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	got := c.wait(t, 4)
	c.none(t)
	for i, want := range []string{"<13>one", "<13>two", "<13>three", long[:64]} {
		m := got[i]
		if string(m.Data) != want || m.Transport != "udp" || m.Seq != 0 || m.ReceivedAt.IsZero() {
			t.Errorf("message %d = %q %+v, want %q", i, m.Data, m, want)
		}
		if m.Origin() != "udp "+conn.LocalAddr().String() {
			t.Errorf("origin %q, want udp %s", m.Origin(), conn.LocalAddr())
		}
		if wantCut := i == 3; m.Truncated != wantCut || (wantCut && !strings.Contains(m.TruncatedReason, "longer than 64 bytes")) {
			t.Errorf("message %d truncated=%v reason %q", i, m.Truncated, m.TruncatedReason)
		}
	}
	if n := testutil.ToFloat64(s.m.SyslogMessages.WithLabelValues("udp")); n != 4 {
		t.Errorf("udp messages metric %v, want 4", n)
	}
	if n := testutil.ToFloat64(s.m.SyslogTruncated.WithLabelValues("udp")); n != 1 {
		t.Errorf("udp truncated metric %v, want 1", n)
	}
}

func TestTCP(t *testing.T) {
	c := newCollector()
	s := serve(t, Config{MaxMessageBytes: 64}, c)
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	long := strings.Repeat("z", 100)
	// Several messages in mixed framings, one of them split across writes
	// with pauses so the server sees partial frames, and two oversize ones.
	writes := []string{
		"<13>lf\n<13>crlf\r\n",
		"11 <13>counted",
		"<13>sp", "lit", " write\n",
		"1", "5 <13>split co", "unt",
		long + "\n",
		"100 " + long,
		"<13>after\x00",
	}
	for _, w := range writes {
		if _, err := conn.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := c.wait(t, 7)
	want := []frame{{"<13>lf", false}, {"<13>crlf", false}, {"<13>counted", false}, {"<13>split write", false},
		{"<13>split count", false}, {long[:64], true}, {long[:64], true}}
	for i, w := range want {
		m := got[i]
		if string(m.Data) != w.data || m.Truncated != w.cut || m.Transport != "tcp" || m.Seq != uint64(i+1) {
			t.Errorf("message %d = %q truncated=%v seq=%d, want %q truncated=%v seq=%d", i, m.Data, m.Truncated, m.Seq, w.data, w.cut, i+1)
		}
		if wantOrigin := fmt.Sprintf("tcp %s#%d", conn.LocalAddr(), i+1); m.Origin() != wantOrigin {
			t.Errorf("origin %q, want %q", m.Origin(), wantOrigin)
		}
	}
	if last := c.wait(t, 1)[0]; string(last.Data) != "<13>after" || last.Truncated {
		t.Errorf("message after the oversize ones: %q truncated=%v", last.Data, last.Truncated)
	}

	// A second connection is numbered on its own, and a frame cut off by
	// the sender closing arrives flagged rather than lost.
	conn2, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	conn2.Write([]byte("<13>first\n30 <13>cut off"))
	conn2.Close()
	got = c.wait(t, 2)
	if string(got[0].Data) != "<13>first" || got[0].Seq != 1 || got[0].Truncated {
		t.Errorf("second connection first message %+v", got[0])
	}
	if string(got[1].Data) != "<13>cut off" || !got[1].Truncated || !strings.Contains(got[1].TruncatedReason, "11 of 30 bytes") {
		t.Errorf("cut-off frame %q truncated=%v reason %q", got[1].Data, got[1].Truncated, got[1].TruncatedReason)
	}
	if n := testutil.ToFloat64(s.m.SyslogTruncated.WithLabelValues("tcp")); n != 3 {
		t.Errorf("tcp truncated metric %v, want 3", n)
	}
}

func TestTCPTimeouts(t *testing.T) {
	c := newCollector()
	s := serve(t, Config{IdleTimeout: 300 * time.Millisecond, FrameTimeout: 100 * time.Millisecond}, c)

	// A message that starts but never ends is delivered, flagged, once it
	// has had FrameTimeout to finish; then the connection is closed.
	stalled, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	stalled.Write([]byte("<13>hello\n<13>never fin"))
	if m := c.wait(t, 1)[0]; string(m.Data) != "<13>hello" {
		t.Fatalf("got %q", m.Data)
	}
	if m := c.wait(t, 1)[0]; string(m.Data) != "<13>never fin" || !strings.Contains(m.TruncatedReason, "stalled") {
		t.Fatalf("stalled partial line %q reason %q", m.Data, m.TruncatedReason)
	}
	stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stalled.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read after a stalled message: %v, want EOF (server closed)", err)
	}

	// A connection that sends nothing is closed after IdleTimeout, not
	// FrameTimeout, and yields no message.
	idle, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	start := time.Now()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read on an idle connection: %v, want EOF (server closed)", err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("idle connection closed after %v, before the idle timeout", waited)
	}
	c.none(t)
}

func TestTCPConnectionLimit(t *testing.T) {
	c := newCollector()
	s := serve(t, Config{MaxConnections: 1}, c)
	first, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.Write([]byte("<13>in\n"))
	c.wait(t, 1) // the first connection holds the only slot
	second, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err == nil {
		t.Fatal("second connection was served beyond the limit")
	}
	if n := testutil.ToFloat64(s.m.SyslogErrors.WithLabelValues("tcp", "connection_limit")); n != 1 {
		t.Fatalf("connection_limit metric %v, want 1", n)
	}
	// The first one still works.
	first.Write([]byte("<13>still\n"))
	if m := c.wait(t, 1)[0]; string(m.Data) != "<13>still" {
		t.Fatalf("got %q", m.Data)
	}
}

func TestHandlerErrorClosesTCPConnection(t *testing.T) {
	c := newCollector()
	c.err = errors.New("bus unavailable")
	s := serve(t, Config{}, c)
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("<13>a\n"))
	c.wait(t, 1)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read after a handler error: %v, want EOF", err)
	}
	if n := testutil.ToFloat64(s.m.SyslogErrors.WithLabelValues("tcp", "handler")); n != 1 {
		t.Fatalf("handler error metric %v, want 1", n)
	}
}

func TestShutdownClosesConnections(t *testing.T) {
	c := newCollector()
	s := serve(t, Config{}, c)
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("<13>a\n"))
	c.wait(t, 1)
	if g := testutil.ToFloat64(s.m.SyslogConnections); g != 1 {
		t.Fatalf("open connections gauge %v, want 1", g)
	}
	s.stop(t) // fails unless both serve loops return nil within 5s
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read after shutdown: %v, want EOF", err)
	}
	if g := testutil.ToFloat64(s.m.SyslogConnections); g != 0 {
		t.Fatalf("open connections gauge %v after shutdown, want 0", g)
	}
	if _, err := net.DialTimeout("tcp", s.tcp, time.Second); err == nil {
		t.Fatal("listener still accepts after shutdown")
	}
}

func TestOrigin(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40001}
	if got := (Message{Transport: "tcp", Peer: addr, Seq: 17}).Origin(); got != "tcp 10.1.2.3:40001#17" {
		t.Fatalf("origin %q", got)
	}
	if got := (Message{Transport: "udp"}).Origin(); got != "udp unknown" {
		t.Fatalf("origin without peer %q", got)
	}
}
