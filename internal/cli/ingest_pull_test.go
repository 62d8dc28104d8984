package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/ingest"
	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/ingest/pull"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

// TestIngestSourcesConfigErrors: mistakes in --sources are reported before
// anything connects to Kafka, in words an operator can act on.
func TestIngestSourcesConfigErrors(t *testing.T) {
	dir := t.TempDir()
	inline := filepath.Join(dir, "inline.yaml")
	os.WriteFile(inline, []byte(`sources:
  - tenant: riverside-family
    name: m365
    type: m365-activity
    auth: {type: client-credentials, azure_tenant_id: 4f1e3a2b-0000-4000-8000-00000000c11a, client_id: app, client_secret: hunter2}
`), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ingest"}, "or pull APIs with --sources"},
		{[]string{"ingest", "--sources", inline}, "--state-dir is required with --sources"},
		{[]string{"ingest", "--sources", filepath.Join(dir, "nope.yaml"), "--state-dir", dir}, "read the sources file"},
		{[]string{"ingest", "--sources", inline, "--state-dir", dir}, "auth.client_secret: secrets are not written into the sources file"},
	} {
		code, _, errOut := run(t, "", append(tc.args, "--kafka-brokers", "127.0.0.1:1")...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "hunter2") {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// fhirEHR is a FHIR server holding AuditEvents made from the recorded
// template, answering searches with one Bundle, behind a bearer token.
type fhirEHR struct {
	mu       sync.Mutex
	events   []json.RawMessage
	requests int
}

func (f *fhirEHR) add(t *testing.T, id string, recorded time.Time) {
	t.Helper()
	b, err := os.ReadFile("../../ingest/pull/testdata/fhir-rest/auditevent-template.json")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	json.Unmarshal(b, &r)
	r["id"], r["recorded"] = id, recorded.UTC().Format(time.RFC3339Nano)
	raw, _ := json.Marshal(r)
	f.mu.Lock()
	f.events = append(f.events, raw)
	f.mu.Unlock()
}

func (f *fhirEHR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer ehr-token" || r.URL.Path != "/fhir/AuditEvent" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	var entries []map[string]any
	for _, e := range f.events {
		entries = append(entries, map[string]any{"resource": e})
	}
	json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": entries})
}

func (f *fhirEHR) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// TestIngestPullsSourcesToKafka runs `phiwatch ingest --sources` against a
// local FHIR server and the real Kafka, stops it, adds AuditEvents and runs
// it again on the same state directory: every AuditEvent is published once
// as an event of the configured tenant and source, none twice.
func TestIngestPullsSourcesToKafka(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ehr := &fhirEHR{}
	srv := httptest.NewServer(ehr)
	defer srv.Close()
	start := time.Now().UTC()
	for i := range 5 {
		ehr.add(t, fmt.Sprintf("ae-%d", i), start.Add(-time.Duration(50-i)*time.Minute))
	}
	dir := t.TempDir()
	sources := filepath.Join(dir, "sources.yaml")
	os.WriteFile(sources, []byte(fmt.Sprintf(`sources:
  - tenant: riverside-family
    name: ehr-prod
    type: fhir-rest
    base_url: %s/fhir
    interval: 1h
    lag: 1s
    auth: {type: bearer, token_env: PHIWATCH_TEST_EHR_TOKEN}
`, srv.URL)), 0o600)
	t.Setenv("PHIWATCH_TEST_EHR_TOKEN", "ehr-token")
	suffix := fmt.Sprint(time.Now().UnixNano())
	evTopic, dlTopic := "pull-ev-"+suffix, "pull-dl-"+suffix
	state := filepath.Join(dir, "state")
	checkpoint := filepath.Join(state, "riverside-family", "ehr-prod.json")
	// The topics exist and take messages before ingest starts: a freshly
	// created topic can refuse writes for a moment, which the puller would
	// ride out by retrying, but only after its retry wait.
	kc := bus.KafkaConfig{Brokers: brokers, Partitions: 1}
	if err := bus.EnsureTopics(ctx, kc, evTopic, dlTopic); err != nil {
		t.Fatal(err)
	}
	probe := bus.NewKafkaProducer(kc)
	for {
		err := probe.Publish(ctx, bus.Message{Topic: evTopic, Key: []byte("probe"), Value: []byte("probe")})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("topic %s never took a message: %v", evTopic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	probe.Close()

	// runUntil runs ingest until the checkpoint's since passes after.
	runUntil := func(after time.Time) time.Time {
		t.Helper()
		ictx, stop := context.WithCancel(ctx)
		var out, errb syncBuf
		exited := make(chan int, 1)
		go func() {
			exited <- Main(ictx, []string{"ingest", "--kafka-brokers", strings.Join(brokers, ","), "--kafka-partitions", "1",
				"--events-topic", evTopic, "--dead-letter-topic", dlTopic, "--listen", "",
				"--sources", sources, "--state-dir", state}, strings.NewReader(""), &out, &errb)
		}()
		var since time.Time
		for since.IsZero() || !since.After(after) {
			select {
			case code := <-exited:
				t.Fatalf("ingest exited early with %d: %s", code, errb.String())
			case <-ctx.Done():
				t.Fatalf("checkpoint never passed %s: %s", after, errb.String())
			case <-time.After(50 * time.Millisecond):
			}
			var ck struct {
				State struct {
					Since time.Time `json:"since"`
				} `json:"state"`
			}
			if b, err := os.ReadFile(checkpoint); err == nil && json.Unmarshal(b, &ck) == nil {
				since = ck.State.Since
			}
		}
		stop()
		if code := <-exited; code != 0 {
			t.Fatalf("ingest exit %d: %s", code, errb.String())
		}
		if !strings.Contains(out.String(), "ingested") {
			t.Errorf("summary missing: %q", out.String())
		}
		return since
	}
	since := runUntil(start.Add(-time.Minute))
	// Two AuditEvents recorded after the first run's window, then a second
	// run once they are older than the lag.
	ehr.add(t, "ae-late-1", since.Add(100*time.Millisecond))
	ehr.add(t, "ae-late-2", since.Add(200*time.Millisecond))
	for time.Now().Before(since.Add(2500 * time.Millisecond)) {
		time.Sleep(50 * time.Millisecond)
	}
	before := ehr.requestCount()
	runUntil(since)
	if ehr.requestCount() <= before {
		t.Fatal("the second run did not query the server")
	}

	c := bus.NewKafkaConsumer(bus.KafkaConfig{Brokers: brokers}, evTopic, "pull-test-"+suffix)
	defer c.Close()
	seen := map[string]int{}
	for len(seen) < 7 {
		fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := c.Fetch(fctx)
		fcancel()
		if err != nil {
			t.Fatalf("after %d events: %v", len(seen), err)
		}
		if string(m.Key) == "probe" {
			continue
		}
		var ev struct {
			Tenant     string            `json:"tenant_id"`
			EventID    string            `json:"event_id"`
			SourceName string            `json:"source_name"`
			System     string            `json:"source_system"`
			Attrs      map[string]string `json:"attrs"`
			ResourceID string            `json:"resource_id"`
			Raw        string            `json:"raw"`
		}
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Tenant != "riverside-family" || ev.SourceName != "ehr-prod" || ev.System != "fhir-auditevent" {
			t.Fatalf("event %s", m.Value)
		}
		var res struct {
			ID string `json:"id"`
		}
		json.Unmarshal([]byte(ev.Raw), &res)
		seen[res.ID]++
	}
	// Nothing more: no AuditEvent was published twice.
	fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
	defer fcancel()
	if m, err := c.Fetch(fctx); err == nil {
		t.Fatalf("an 8th event was published: %s", m.Value)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s published %d times", id, n)
		}
	}
}

// syncBuf collects a command's output while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// flakyProducer refuses its first publish.
type flakyProducer struct {
	calls int
	got   []bus.Message
}

func (p *flakyProducer) Publish(_ context.Context, msgs ...bus.Message) error {
	if p.calls++; p.calls == 1 {
		return fmt.Errorf("test: broker unavailable")
	}
	p.got = append(p.got, msgs...)
	return nil
}

func (p *flakyProducer) Close() error { return nil }

// TestPullSinkDiscard: a batch the bus refused is dropped when the pass
// fails (the puller fetches it again), so it is published once, not twice.
func TestPullSinkDiscard(t *testing.T) {
	prod := &flakyProducer{}
	m := metrics.New()
	log := slog.New(slog.DiscardHandler)
	newPipeline := func() *ingest.Pipeline {
		return &ingest.Pipeline{Parser: parsers.Native{}, Producer: prod, EventsTopic: "ev", DeadLetterTopic: "dl",
			Tenant: "riverside-family", SourceName: "ehr-prod", Metrics: m, Log: log}
	}
	s := &pullSink{newPipeline: newPipeline, pl: newPipeline()}
	rec := parsers.Record{Data: []byte(`{"tenant_id":"riverside-family","source_kind":"ehr","source_system":"s","time":"2026-10-01T10:00:00Z","actor":{"id":"u1"},"action":"view"}`), Origin: "test"}
	ctx := context.Background()
	if err := s.Handle(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err == nil {
		t.Fatal("first flush succeeded")
	}
	var d pull.Discarder = s
	d.Discard()
	if err := s.Handle(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(prod.got) != 1 {
		t.Fatalf("published %d messages, want 1", len(prod.got))
	}
	if st := s.Stats(); st.Records != 2 || st.Events != 2 {
		t.Fatalf("stats %+v", st)
	}
}
