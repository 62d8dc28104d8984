package pull

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted answers requests in turn with the given handlers; the last one
// repeats.
func scripted(t *testing.T, steps ...http.HandlerFunc) (*httptest.Server, *int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := min(n, len(steps)-1)
		n++
		mu.Unlock()
		steps[i](w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func status(code int, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		w.Write([]byte(`{"error":"test"}`))
	}
}

func ok(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }
}

// TestClientRetries: 429 with Retry-After in seconds and as an HTTP-date,
// 503 and a dropped connection are retried with the right waits; a 4xx is
// not; attempts are bounded.
func TestClientRetries(t *testing.T) {
	hangUp := func(w http.ResponseWriter, r *http.Request) {
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	}
	cases := []struct {
		name      string
		steps     []http.HandlerFunc
		wantErr   string
		wantWaits []time.Duration
		wantCalls int
		reasons   []string
	}{
		{name: "429 Retry-After seconds", steps: []http.HandlerFunc{status(429, "Retry-After", "7"), ok(`{}`)},
			wantWaits: []time.Duration{7 * time.Second}, wantCalls: 2, reasons: []string{"rate_limited"}},
		{name: "429 Retry-After HTTP-date", steps: []http.HandlerFunc{status(429, "Retry-After", testNow.Add(90*time.Second).Format(http.TimeFormat)), ok(`{}`)},
			wantWaits: []time.Duration{90 * time.Second}, wantCalls: 2, reasons: []string{"rate_limited"}},
		{name: "Retry-After is capped", steps: []http.HandlerFunc{status(503, "Retry-After", "86400"), ok(`{}`)},
			wantWaits: []time.Duration{defaultMaxRetryAfter}, wantCalls: 2, reasons: []string{"server_error"}},
		{name: "503 then 502 then success: exponential backoff", steps: []http.HandlerFunc{status(503), status(502), ok(`{}`)},
			wantWaits: []time.Duration{500 * time.Millisecond, time.Second}, wantCalls: 3, reasons: []string{"server_error", "server_error"}},
		{name: "connection dropped", steps: []http.HandlerFunc{hangUp, ok(`{}`)},
			wantWaits: []time.Duration{500 * time.Millisecond}, wantCalls: 2, reasons: []string{"network"}},
		{name: "404 is not retried", steps: []http.HandlerFunc{status(404)}, wantErr: "HTTP 404", wantCalls: 1},
		{name: "attempts are bounded", steps: []http.HandlerFunc{status(500)}, wantErr: "gave up after 4 attempts",
			wantWaits: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}, wantCalls: 4,
			reasons: []string{"server_error", "server_error", "server_error"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := scripted(t, tc.steps...)
			c := newClock()
			var reasons []string
			hc := testClient(c, nil)
			hc.OnRetry = func(r string) { reasons = append(reasons, r) }
			resp, err := hc.Do(context.Background(), &Request{URL: srv.URL + "/x"})
			if tc.wantErr == "" && (err != nil || string(resp.Body) != `{}`) {
				t.Fatalf("err %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if !slices.Equal(c.Sleeps(), tc.wantWaits) || *calls != tc.wantCalls || !slices.Equal(reasons, tc.reasons) {
				t.Fatalf("waits %v calls %d reasons %v; want %v %d %v", c.Sleeps(), *calls, reasons, tc.wantWaits, tc.wantCalls, tc.reasons)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := testNow
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Thursday, 01-Oct-26 00:00:10 GMT", 0, true}, // RFC 850, in the past
		{"-5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestClientJitterStaysInRange(t *testing.T) {
	c := &Client{}
	for attempt := 1; attempt < 12; attempt++ {
		full := min(defaultBaseDelay<<(attempt-1), defaultMaxDelay)
		for range 50 {
			if d := c.backoff(attempt); d < full/2 || d > full {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
}

func TestClientResponseLimitAndTimeout(t *testing.T) {
	srv, _ := scripted(t, ok(strings.Repeat("x", 1000)))
	c := newClock()
	hc := testClient(c, nil)
	hc.MaxBody = 999
	if _, err := hc.Do(context.Background(), &Request{URL: srv.URL}); err == nil || !strings.Contains(err.Error(), "larger than 999 bytes") {
		t.Fatalf("err %v", err)
	}
	// A server that never answers: each attempt times out, then the call
	// gives up (bounded, no real backoff wait).
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	slow, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	hc = testClient(c, nil)
	hc.Timeout, hc.MaxAttempts = 20*time.Millisecond, 2
	_, err := hc.Do(context.Background(), &Request{URL: slow.URL})
	if !errors.Is(err, context.DeadlineExceeded) || Reason(err) != "timeout" {
		t.Fatalf("err %v (reason %s)", err, Reason(err))
	}
}

// TestRedaction: URLs in errors and logs lose signatures, tokens and user
// info; net/http's own error text (which quotes the URL) is rewritten.
func TestRedaction(t *testing.T) {
	u := "https://user:pw@bucket.s3.example/f.ndjson?X-Amz-Signature=abc123&X-Amz-Credential=AKIA&part=2&sig=s3cr3t"
	got := RedactURL(u)
	for _, secret := range []string{"abc123", "AKIA", "s3cr3t", "pw"} {
		if strings.Contains(got, secret) {
			t.Errorf("RedactURL kept %q: %s", secret, got)
		}
	}
	if !strings.Contains(got, "part=2") {
		t.Errorf("RedactURL dropped a harmless parameter: %s", got)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	hc := testClient(newClock(), nil)
	hc.MaxAttempts = 1
	_, err = hc.Do(context.Background(), &Request{URL: "http://" + addr + "/f?sig=s3cr3t"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || Reason(err) != "network" {
		t.Fatalf("err %v (reason %s)", err, Reason(err))
	}
}

func TestSameOrigin(t *testing.T) {
	base := mustURL(t, "https://ehr.example/fhir")
	for _, tc := range []struct {
		ref  string
		ok   bool
		want string
	}{
		{"?page=2", true, "https://ehr.example/fhir?page=2"},
		{"/fhir?page=2", true, "https://ehr.example/fhir?page=2"},
		{"https://ehr.example:443/fhir?page=2", true, "https://ehr.example:443/fhir?page=2"},
		{"http://ehr.example/fhir?page=2", false, ""},
		{"https://ehr.example.evil/fhir", false, ""},
		{"//evil.example/fhir", false, ""},
	} {
		u, err := resolveSameOrigin(base, base, tc.ref, "next link")
		if (err == nil) != tc.ok || (tc.ok && u.String() != tc.want) {
			t.Errorf("%q: %v, %v", tc.ref, u, err)
		}
	}
}
