package syslog

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/phiwatch/phiwatch/internal/metrics"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "phiwatch-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// RFC 5425: octet-counted syslog over TLS arrives whole, labelled "tls"; a
// client that does not trust the certificate gets nothing through, and one
// that never handshakes is dropped after the frame timeout.
func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	m := metrics.New()
	l := NewListener(Config{Metrics: m, FrameTimeout: 300 * time.Millisecond}, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.ServeTLS(ctx, ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTLS returned %v", err)
		}
	}()
	addr := ln.Addr().String()

	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []string{
		"<166>Oct 01 2026 21:10:00 asa01 : %ASA-6-113039: Group <staff> User <jlee> IP <203.0.113.9> AnyConnect parent session started.",
		"<14>1 2026-10-01T21:10:01Z host app - - - second message\nwith a newline inside",
	}
	for _, s := range msgs {
		if _, err := conn.Write([]byte(strconv.Itoa(len(s)) + " " + s)); err != nil {
			t.Fatal(err)
		}
	}
	got := c.wait(t, 2)
	conn.Close()
	for i, g := range got {
		if string(g.Data) != msgs[i] || g.Transport != "tls" || g.Seq != uint64(i+1) {
			t.Errorf("message %d = %q over %s #%d", i, g.Data, g.Transport, g.Seq)
		}
	}

	// A client that does not trust the server's certificate fails the
	// handshake; nothing is delivered.
	if bad, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "127.0.0.1"}); err == nil {
		bad.Write([]byte("5 hello"))
		bad.Close()
		t.Fatal("a client without the CA completed the handshake")
	}
	// A plain-TCP client that never handshakes is cut off.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1)
	if _, err := raw.Read(buf); err == nil {
		t.Fatal("server sent data to a client that never said hello")
	}
	raw.Close()
	c.none(t)
	if got := testutil.ToFloat64(m.SyslogErrors.WithLabelValues("tls", "handshake")); got < 1 {
		t.Errorf("handshake failures counted %v, want at least 1", got)
	}
	if err := l.ServeTLS(context.Background(), ln, &tls.Config{}); err == nil {
		t.Error("ServeTLS without a certificate should refuse")
	}
}
