package syslog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/phiwatch/phiwatch/internal/metrics"
)

// Message is one received syslog message.
type Message struct {
	// Data is the whole message, header included, without its framing
	// (octet count, trailing LF, CR or NUL): the same bytes a file line holds.
	Data      []byte
	Transport string // "udp", "tcp" or "tls"
	Peer      net.Addr
	// Seq numbers the messages of one TCP connection from 1; 0 for UDP.
	Seq        uint64
	ReceivedAt time.Time
	// Truncated is set when Data is not the whole message: it was longer
	// than the limit, or the connection ended or went idle mid-message.
	// Such a message is still delivered so it can be dead-lettered with
	// TruncatedReason; nothing is dropped silently.
	Truncated       bool
	TruncatedReason string
}

// Origin says where the message came from, for records and dead letters:
// "udp 10.1.2.3:514" or "tcp 10.1.2.3:40001#17" (the 17th message of that
// connection).
func (m Message) Origin() string {
	peer := "unknown"
	if m.Peer != nil {
		peer = m.Peer.String()
	}
	if m.Seq > 0 {
		return fmt.Sprintf("%s %s#%d", m.Transport, peer, m.Seq)
	}
	return m.Transport + " " + peer
}

// Handler takes received messages. It is called concurrently, from the UDP
// reader and from every TCP connection; it may block to push back (TCP
// senders then slow down). An error means the message was not taken: a TCP
// connection is then closed, so the sender notices and reconnects; for UDP
// it is counted and logged.
type Handler interface {
	HandleSyslog(ctx context.Context, m Message) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, m Message) error

// HandleSyslog implements Handler.
func (f HandlerFunc) HandleSyslog(ctx context.Context, m Message) error { return f(ctx, m) }

// Config bounds what a Listener accepts. Zero values take the defaults.
type Config struct {
	// MaxMessageBytes is the longest message kept whole (default 64 KiB);
	// longer ones are delivered truncated and flagged.
	MaxMessageBytes int
	// MaxConnections bounds concurrent TCP connections (default 512);
	// connections beyond it are closed at once and counted.
	MaxConnections int
	// IdleTimeout closes a TCP connection that sends nothing for this long
	// (default 1 hour); senders reconnect when they next have something.
	// It is long on purpose: a VPN-only feed can be silent for hours, and a
	// Cisco ASA whose TCP syslog host drops it blocks new traffic through
	// the firewall unless "logging permit-hostdown" is set. Dead peers are
	// found sooner by TCP keepalive, which Go enables on accepted connections.
	IdleTimeout time.Duration
	// FrameTimeout bounds one message once its first byte has arrived
	// (default 30 s): a sender that trickles a message, or never ends its
	// last line, cannot hold a connection slot forever.
	FrameTimeout time.Duration
	// UDPReadBuffer is the socket receive buffer asked for (default 4 MiB,
	// best effort: the kernel may cap it) so bursts are not dropped while
	// the handler catches up.
	UDPReadBuffer int
	Metrics       *metrics.Metrics // default: a private set nobody scrapes
	Log           *slog.Logger     // default: discard
	Now           func() time.Time // default time.Now
}

// Defaults.
const (
	DefaultMaxMessageBytes = 64 << 10
	DefaultMaxConnections  = 512
	DefaultIdleTimeout     = time.Hour
	DefaultFrameTimeout    = 30 * time.Second
	DefaultUDPReadBuffer   = 4 << 20
)

func (c Config) withDefaults() Config {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.FrameTimeout <= 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	if c.UDPReadBuffer <= 0 {
		c.UDPReadBuffer = DefaultUDPReadBuffer
	}
	if c.Metrics == nil {
		c.Metrics = metrics.New()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Listener receives syslog over UDP (RFC 5426: one datagram, one message)
// and TCP (RFC 6587: octet counting or LF/CRLF/NUL-terminated, detected per
// message, so one connection may mix them) and hands each message to a
// Handler.
//
// It serves sockets it is given rather than opening its own: callers choose
// addresses and options, tests bind port 0, and TLS (RFC 5425, a later
// issue) is a tls.NewListener around the TCP listener, with no change here.
type Listener struct {
	cfg Config
	h   Handler
}

// NewListener makes a Listener that hands messages to h.
func NewListener(cfg Config, h Handler) *Listener {
	return &Listener{cfg: cfg.withDefaults(), h: h}
}

// ServeUDP reads datagrams from pc until ctx ends (then it returns nil) or
// reading fails. It closes pc when it returns.
func (l *Listener) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	defer pc.Close()
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	if u, ok := pc.(interface{ SetReadBuffer(int) error }); ok {
		if err := u.SetReadBuffer(l.cfg.UDPReadBuffer); err != nil {
			l.cfg.Log.Warn("syslog: cannot enlarge the UDP receive buffer; bursts may be dropped by the kernel", "err", err)
		}
	}
	limit := l.cfg.MaxMessageBytes
	// One byte more than the limit tells a datagram that was too long from
	// one that was exactly the limit.
	buf := make([]byte, limit+1)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			l.cfg.Metrics.SyslogErrors.WithLabelValues("udp", "read").Inc()
			return fmt.Errorf("syslog: read UDP on %s: %w", pc.LocalAddr(), err)
		}
		m := Message{Transport: "udp", Peer: addr, ReceivedAt: l.cfg.Now()}
		data := buf[:n]
		if n > limit {
			data = data[:limit]
			m.Truncated = true
			m.TruncatedReason = fmt.Sprintf("syslog datagram longer than %d bytes (kept truncated)", limit)
		} else {
			data = trimTrailer(data)
		}
		if len(data) == 0 {
			continue // an empty datagram carries nothing to keep
		}
		m.Data = bytes.Clone(data)
		if err := l.deliver(ctx, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			l.cfg.Metrics.SyslogErrors.WithLabelValues("udp", "handler").Inc()
			l.cfg.Log.Warn("syslog: message not taken", "origin", m.Origin(), "err", err)
		}
	}
}

// ServeTCP accepts connections on ln until ctx ends (then it returns nil,
// once every connection is closed) or accepting fails for good. It closes
// ln and its connections when it returns.
func (l *Listener) ServeTCP(ctx context.Context, ln net.Listener) error {
	return l.serveStream(ctx, ln, "tcp")
}

// ServeTLS is ServeTCP over TLS (RFC 5425: syslog over TLS, octet-counted
// framing, port 6514 by convention). tc holds the server certificate and,
// for mutual TLS, the client CAs. Messages say transport "tls".
func (l *Listener) ServeTLS(ctx context.Context, ln net.Listener, tc *tls.Config) error {
	if tc == nil || (len(tc.Certificates) == 0 && tc.GetCertificate == nil) {
		return errors.New("syslog: TLS needs a server certificate")
	}
	return l.serveStream(ctx, tls.NewListener(ln, tc), "tls")
}

func (l *Listener) serveStream(ctx context.Context, ln net.Listener, transport string) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // runs before wg.Wait: closes the connections
	defer ln.Close()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	slots := make(chan struct{}, l.cfg.MaxConnections)
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("syslog: %s listener %s closed: %w", transport, ln.Addr(), err)
			}
			// Out of file descriptors and the like pass; back off as
			// net/http does rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.cfg.Metrics.SyslogErrors.WithLabelValues(transport, "accept").Inc()
			l.cfg.Log.Warn("syslog: accept failed; retrying", "addr", ln.Addr(), "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		backoff = 0
		select {
		case slots <- struct{}{}:
		default:
			l.cfg.Metrics.SyslogErrors.WithLabelValues(transport, "connection_limit").Inc()
			l.cfg.Log.Warn("syslog: too many TCP connections; closing the new one", "peer", conn.RemoteAddr(), "limit", l.cfg.MaxConnections)
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			l.serveConn(ctx, conn, transport)
		}()
	}
}

func (l *Listener) serveConn(ctx context.Context, conn net.Conn, transport string) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	l.cfg.Metrics.SyslogConnections.Inc()
	defer l.cfg.Metrics.SyslogConnections.Dec()
	peer := conn.RemoteAddr()
	log := l.cfg.Log.With("peer", peer.String(), "transport", transport)
	log.Debug("syslog: connection opened")
	if tc, ok := conn.(*tls.Conn); ok {
		// A peer that connects and never completes the handshake would
		// otherwise hold a connection slot for the whole idle timeout.
		hctx, cancel := context.WithTimeout(ctx, l.cfg.FrameTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			l.cfg.Metrics.SyslogErrors.WithLabelValues(transport, "handshake").Inc()
			log.Warn("syslog: TLS handshake failed", "err", err)
			return
		}
	}
	fr := &frameReader{br: bufio.NewReaderSize(conn, 32<<10), max: l.cfg.MaxMessageBytes}
	var seq uint64
	deadline := func(d time.Duration) {
		if err := conn.SetReadDeadline(l.cfg.Now().Add(d)); err != nil && ctx.Err() == nil {
			log.Debug("syslog: cannot set read deadline", "err", err)
		}
	}
	for {
		// Wait up to IdleTimeout for the next message to begin, then give
		// it FrameTimeout to arrive whole.
		deadline(l.cfg.IdleTimeout)
		var data []byte
		var cut string
		_, err := fr.br.Peek(1)
		if err == nil {
			deadline(l.cfg.FrameTimeout)
			data, cut, err = fr.next()
		}
		if ctx.Err() != nil {
			// Shutting down: the connection was closed under the reader, so
			// what it returned may be a fragment. Plain TCP syslog has no
			// acknowledgements: what was in flight is the sender's to resend
			// when it reconnects, as with any receiver that stops.
			return
		}
		if len(data) > 0 || cut != "" {
			seq++
			m := Message{Data: data, Transport: transport, Peer: peer, Seq: seq, ReceivedAt: l.cfg.Now(), Truncated: cut != "", TruncatedReason: cut}
			if herr := l.deliver(ctx, m); herr != nil {
				if ctx.Err() == nil {
					l.cfg.Metrics.SyslogErrors.WithLabelValues(transport, "handler").Inc()
					log.Warn("syslog: message not taken; closing the connection so the sender notices", "origin", m.Origin(), "err", herr)
				}
				return
			}
		}
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, io.EOF):
				log.Debug("syslog: TCP connection closed by the sender", "messages", seq)
			case errors.As(err, &ne) && ne.Timeout():
				log.Debug("syslog: TCP connection timed out; closing", "messages", seq, "mid_message", cut != "",
					"idle_timeout", l.cfg.IdleTimeout, "frame_timeout", l.cfg.FrameTimeout)
			default:
				l.cfg.Metrics.SyslogErrors.WithLabelValues(transport, "read").Inc()
				log.Warn("syslog: TCP connection failed", "messages", seq, "err", err)
			}
			return
		}
	}
}

func (l *Listener) deliver(ctx context.Context, m Message) error {
	l.cfg.Metrics.SyslogMessages.WithLabelValues(m.Transport).Inc()
	if m.Truncated {
		l.cfg.Metrics.SyslogTruncated.WithLabelValues(m.Transport).Inc()
	}
	return l.h.HandleSyslog(ctx, m)
}

// frameReader splits a TCP stream into messages (RFC 6587). Each message is
// framed either by octet counting ("LEN SP MSG", what RFC 5425 TLS senders
// and rsyslog's octet-counted mode use) or by a trailing LF (also CRLF or
// NUL: traditional senders, Cisco ASA among them), told apart by its first
// bytes: a syslog message starts with '<', never with a digit.
type frameReader struct {
	br  *bufio.Reader
	max int
}

// next returns the next message (empty for an empty frame, which callers
// skip), cut says why it is incomplete ("" when whole), and err ends the
// stream (io.EOF at a clean end; data may accompany it).
func (r *frameReader) next() (data []byte, cut string, err error) {
	n, counted, err := r.octetCount()
	if err != nil {
		return nil, "", err
	}
	if counted {
		return r.readCounted(n)
	}
	return r.readLine()
}

// maxCountDigits bounds MSG-LEN: nine digits is just under 1 GB, far past
// any limit; a longer digit run is not a count but a message.
const maxCountDigits = 9

// octetCount recognizes "LEN SP" at the start of the next message without
// waiting for more bytes than it needs (a short message must not hang
// waiting for a count's worth of input).
func (r *frameReader) octetCount() (n int, counted bool, err error) {
	for i := 1; i <= maxCountDigits+1; i++ {
		b, err := r.br.Peek(i)
		if len(b) < i {
			if len(b) == 0 && err != nil {
				return 0, false, err
			}
			return 0, false, nil // the stream ended or stalled: read what is there as a line
		}
		c := b[i-1]
		switch {
		case isDigit(c) && !(i == 1 && c == '0'):
			n = n*10 + int(c-'0')
		case c == ' ' && i > 1:
			r.br.Discard(i)
			return n, true, nil
		default:
			return 0, false, nil
		}
	}
	return 0, false, nil
}

func (r *frameReader) readCounted(n int) ([]byte, string, error) {
	if n == 0 {
		return nil, "", nil
	}
	keep := min(n, r.max)
	buf := make([]byte, keep)
	got, err := io.ReadFull(r.br, buf)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return trimTrailer(buf[:got]), fmt.Sprintf("syslog frame incomplete: %d of %d bytes arrived before the connection %s", got, n, ended(err)), err
	}
	cut := ""
	if n > keep {
		cut = fmt.Sprintf("syslog message of %d bytes is longer than %d (kept truncated)", n, r.max)
		if _, err := r.br.Discard(n - keep); err != nil {
			return trimTrailer(buf), cut, err
		}
	}
	return trimTrailer(buf), cut, nil
}

// readLine reads up to LF or NUL. A line longer than max is kept to max
// bytes and the rest skipped; a line ended by the sender closing the
// connection is whole (many senders do not terminate their last line), one
// ended by a read error or timeout is not.
func (r *frameReader) readLine() ([]byte, string, error) {
	var line []byte
	cut := ""
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					return trimTrailer(line), cut, err
				}
				if len(line) > 0 && cut == "" {
					cut = fmt.Sprintf("syslog message incomplete: no end of line before the connection %s", ended(err))
				}
				return trimTrailer(line), cut, err
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		end := bytes.IndexAny(buf, "\n\x00")
		take := buf
		if end >= 0 {
			take = buf[:end]
		}
		if room := r.max - len(line); len(take) > room {
			line = append(line, take[:room]...)
			if cut == "" {
				cut = fmt.Sprintf("syslog message longer than %d bytes (kept truncated)", r.max)
			}
		} else {
			line = append(line, take...)
		}
		if end >= 0 {
			r.br.Discard(end + 1)
			return trimTrailer(line), cut, nil
		}
		r.br.Discard(len(buf))
	}
}

// ended words why a stream stopped, for a dead letter's reason.
func ended(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return "closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "stalled"
	default:
		return "failed (" + err.Error() + ")"
	}
}

// trimTrailer drops what senders put after a message: LF, CRLF, NUL.
func trimTrailer(b []byte) []byte {
	return bytes.TrimRight(b, "\r\n\x00")
}
