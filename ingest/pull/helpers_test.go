package pull

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/internal/metrics"
)

// testNow is the tests' "now": the day after the recorded audit events.
var testNow = time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC)

// clock is a settable clock; sleeps advance it instead of waiting.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock() *clock { return &clock{t: testNow} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testClient is an API client that never really waits.
func testClient(c *clock, auth TokenSource) *Client {
	return &Client{Auth: auth, Log: quietLog(), Now: c.Now, Sleep: c.Sleep, Jitter: func(d time.Duration) time.Duration { return d },
		MaxAttempts: 4, Timeout: 10 * time.Second}
}

// flushLog is what a sequence of sinks (one per process "lifetime") saw.
type flushLog struct {
	mu        sync.Mutex
	handled   []parsers.Record // every Handle, in order
	flushed   []parsers.Record // records a Flush acknowledged
	discarded []parsers.Record // handled, then lost in a crash before a flush
}

// testSink stands in for the Pipeline. It can fail its n-th Handle or
// Flush, or cancel the pass's context at its n-th Handle (the process is
// stopped); crash then drops what was not flushed.
type testSink struct {
	log          *flushLog
	pending      []parsers.Record
	handles      int
	flushes      int
	failHandleAt int
	failFlushAt  int
	cancelAt     int
	cancel       context.CancelFunc
}

func (s *testSink) Handle(ctx context.Context, rec parsers.Record) error {
	s.handles++
	if s.handles == s.failHandleAt {
		return errors.New("test: the bus refused the record")
	}
	rec.Data = slices.Clone(rec.Data)
	s.pending = append(s.pending, rec)
	s.log.mu.Lock()
	s.log.handled = append(s.log.handled, rec)
	s.log.mu.Unlock()
	if s.handles == s.cancelAt {
		s.cancel()
	}
	return nil
}

func (s *testSink) Flush(ctx context.Context) error {
	s.flushes++
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.flushes == s.failFlushAt {
		return errors.New("test: the bus is down")
	}
	s.log.mu.Lock()
	s.log.flushed = append(s.log.flushed, s.pending...)
	s.log.mu.Unlock()
	s.pending = nil
	return nil
}

func (s *testSink) crash() {
	s.log.mu.Lock()
	s.log.discarded = append(s.log.discarded, s.pending...)
	s.log.mu.Unlock()
	s.pending = nil
}

func countKeys(recs []parsers.Record, keyOf func([]byte) string) map[string]int {
	m := map[string]int{}
	for _, r := range recs {
		m[keyOf(r.Data)]++
	}
	return m
}

// fhirID, m365ID and googleID key records the way their sources identify them.
func fhirID(b []byte) string {
	var r struct {
		ID string `json:"id"`
	}
	json.Unmarshal(b, &r)
	return r.ID
}

func m365ID(b []byte) string {
	var r struct {
		ID string `json:"Id"`
	}
	json.Unmarshal(b, &r)
	return r.ID
}

func googleID(b []byte) string {
	var r struct {
		ID struct {
			UniqueQualifier string `json:"uniqueQualifier"`
		} `json:"id"`
	}
	json.Unmarshal(b, &r)
	return r.ID.UniqueQualifier
}

// assertExactlyOnce checks that the flushed records are want, each once,
// and that a record was handed more than once only when an earlier handing
// was lost unflushed in a crash (the idempotent re-delivery).
func assertExactlyOnce(t *testing.T, log *flushLog, want []string, keyOf func([]byte) string) {
	t.Helper()
	flushed := countKeys(log.flushed, keyOf)
	for _, id := range want {
		if flushed[id] != 1 {
			t.Errorf("record %s flushed %d times, want exactly once", id, flushed[id])
		}
	}
	for id, n := range flushed {
		if !slices.Contains(want, id) {
			t.Errorf("record %q flushed %d times but the server does not have it", id, n)
		}
	}
	handled, discarded := countKeys(log.handled, keyOf), countKeys(log.discarded, keyOf)
	for id, n := range handled {
		if n-1 != discarded[id] {
			t.Errorf("record %s handed %d times but lost unflushed %d times: a re-delivery of a flushed record", id, n, discarded[id])
		}
	}
}

// crashScenario is one way the first process dies.
type crashScenario struct {
	name                                string
	failHandleAt, failFlushAt, cancelAt int
}

// crashScenarios lists every failure point of a clean run that handed
// handles records and flushed flushes times.
func crashScenarios(handles, flushes int) []crashScenario {
	var sc []crashScenario
	for i := 1; i <= handles; i++ {
		sc = append(sc, crashScenario{name: fmt.Sprintf("handle %d fails", i), failHandleAt: i})
		sc = append(sc, crashScenario{name: fmt.Sprintf("stopped after handle %d", i), cancelAt: i})
	}
	for i := 1; i <= flushes; i++ {
		sc = append(sc, crashScenario{name: fmt.Sprintf("flush %d fails", i), failFlushAt: i})
	}
	return sc
}

// checkRestarts proves the no-loss, no-repeat rule for a puller: for every
// failure point of a clean run, a first process fails there and "crashes"
// (its unflushed records are lost), a second process on the same state
// directory completes, and a third finds nothing new. newPuller makes a
// puller on the given checkpoint store and sink; fresh server state is the
// caller's business (newPuller may reset it).
func checkRestarts(t *testing.T, want []string, keyOf func([]byte) string, newPuller func(t *testing.T, ck Checkpoints, sink Sink) Puller) {
	t.Helper()
	// A clean run counts the handles and flushes to fail at.
	clean := &testSink{log: &flushLog{}}
	if _, err := newPuller(t, mustStore(t), clean).Pull(context.Background()); err != nil {
		t.Fatalf("clean run: %v", err)
	}
	assertExactlyOnce(t, clean.log, want, keyOf)
	if t.Failed() {
		t.FailNow()
	}
	for _, sc := range crashScenarios(clean.handles, clean.flushes) {
		t.Run(sc.name, func(t *testing.T) {
			store := mustStore(t)
			log := &flushLog{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first := &testSink{log: log, failHandleAt: sc.failHandleAt, failFlushAt: sc.failFlushAt, cancelAt: sc.cancelAt, cancel: cancel}
			if _, err := newPuller(t, store, first).Pull(ctx); err == nil {
				t.Fatalf("the first process did not fail")
			}
			first.crash()
			second := &testSink{log: log}
			if _, err := newPuller(t, store, second).Pull(context.Background()); err != nil {
				t.Fatalf("after restart: %v", err)
			}
			second.crash() // nothing may be left unflushed by a completed pass
			if len(log.discarded) > 0 && second.handles == 0 && len(want) > 0 {
				t.Fatalf("records were lost in the crash but the restart handed none")
			}
			assertExactlyOnce(t, log, want, keyOf)
			third := &testSink{log: &flushLog{}}
			if _, err := newPuller(t, store, third).Pull(context.Background()); err != nil {
				t.Fatalf("third pass: %v", err)
			}
			if len(third.log.handled) != 0 {
				t.Fatalf("a pass after completion handed %d records again", len(third.log.handled))
			}
		})
	}
}

func mustStore(t *testing.T) *FileStore {
	t.Helper()
	s, err := NewFileStore(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return testNow }
	return s
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Keys are generated per test run: no private key is checked in.

func rsaKeyFile(t *testing.T, dir string) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "rsa.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return k, f
}

func ecKeyFile(t *testing.T, dir string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "ec.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return k, f
}

// certFile writes a self-signed certificate for k.
func certFile(t *testing.T, dir string, k *rsa.PrivateKey) (string, []byte) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f, der
}

// verifyJWT checks a compact JWS the way a token endpoint does and returns
// its header and claims.
func verifyJWT(token string, pub crypto.PublicKey) (header map[string]any, claims map[string]any, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("not a compact JWS: %d parts", len(parts))
	}
	hb, err1 := b64.DecodeString(parts[0])
	cb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		return nil, nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(cb)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, nil, err
	}
	input := []byte(parts[0] + "." + parts[1])
	switch header["alg"] {
	case "RS256":
		d := sha256.Sum256(input)
		err = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, d[:], sig)
	case "RS384":
		d := sha512.Sum384(input)
		err = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA384, d[:], sig)
	case "ES384":
		d := sha512.Sum384(input)
		if len(sig) != 96 {
			return nil, nil, fmt.Errorf("ES384 signature is %d bytes, want 96", len(sig))
		}
		r, s := new(big.Int).SetBytes(sig[:48]), new(big.Int).SetBytes(sig[48:])
		if !ecdsa.Verify(pub.(*ecdsa.PublicKey), d[:], r, s) {
			err = errors.New("ES384 signature does not verify")
		}
	default:
		err = fmt.Errorf("unexpected alg %v", header["alg"])
	}
	if err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	return header, claims, nil
}

func claimInt(c map[string]any, k string) int64 {
	n, _ := c[k].(json.Number).Int64()
	return n
}

func newMetrics() *metrics.Metrics { return metrics.New() }

func counterValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checkNoLoss is checkRestarts' weaker sibling for servers that break the
// ordering the pullers rely on: at every failure point and restart, every
// record is flushed at least once (repeats collapse by event id).
func checkNoLoss(t *testing.T, want []string, keyOf func([]byte) string, newPuller func(t *testing.T, ck Checkpoints, sink Sink) Puller) {
	t.Helper()
	clean := &testSink{log: &flushLog{}}
	if _, err := newPuller(t, mustStore(t), clean).Pull(context.Background()); err != nil {
		t.Fatalf("clean run: %v", err)
	}
	for _, sc := range crashScenarios(clean.handles, clean.flushes) {
		store := mustStore(t)
		log := &flushLog{}
		ctx, cancel := context.WithCancel(context.Background())
		first := &testSink{log: log, failHandleAt: sc.failHandleAt, failFlushAt: sc.failFlushAt, cancelAt: sc.cancelAt, cancel: cancel}
		newPuller(t, store, first).Pull(ctx)
		cancel()
		first.crash()
		if _, err := newPuller(t, store, &testSink{log: log}).Pull(context.Background()); err != nil {
			t.Fatalf("%s: after restart: %v", sc.name, err)
		}
		flushed := countKeys(log.flushed, keyOf)
		for _, id := range want {
			if flushed[id] == 0 {
				t.Errorf("%s: record %s lost", sc.name, id)
			}
		}
	}
}
