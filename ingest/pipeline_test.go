package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/phiwatch/phiwatch/ingest/loader"
	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/deadletter"
	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/synth"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// malformed are records that must each become a dead letter with a reason
// containing the given text.
var malformed = []struct{ line, reason string }{
	{`not json at all`, "not a phiwatch event"},
	{`{"tenant_id":"clinic-01","event_id":"x"`, "not a phiwatch event"},
	{`{"tenant_id":"clinic-01","source_kind":"ehr","source_system":"s","time":"2026-10-01T10:00:00Z","actor":{"id":"u1"},"action":"peek","outcome":"success"}`, `action "peek" is not in the vocabulary`},
	{`{"tenant_id":"Clinic A","source_kind":"ehr","source_system":"s","time":"2026-10-01T10:00:00Z","actor":{"id":"u1"},"action":"view"}`, "tenant_id"},
	{`{"tenant_id":"clinic-01","source_kind":"ehr","source_system":"s","time":"1970-01-01T00:00:00Z","actor":{"id":"u1"},"action":"view"}`, "outside"},
	{`{"tenant_id":"clinic-01","source_kind":"fax","source_system":"s","time":"2026-10-01T10:00:00Z","actor":{"id":"u1"},"action":"view","client_ip":"999.1.1.1"}`, "client_ip"},
	{`{"tenant_id":"clinic-01","unknown_field":1}`, "unknown field"},
}

func mixedInput(t *testing.T, good int) (string, int) {
	t.Helper()
	var b bytes.Buffer
	g := synth.New(synth.Options{Seed: 11})
	per := good / (len(malformed) + 1)
	for _, m := range malformed {
		g.WriteNDJSON(&b, per)
		b.WriteString(m.line + "\n")
	}
	g.WriteNDJSON(&b, good-per*len(malformed))
	b.WriteString("\n   \n") // blank lines are not records
	return b.String(), good
}

func TestPipelineWithoutBus(t *testing.T) {
	input, good := mixedInput(t, 80)
	mem := bus.NewMemory(1000)
	m := metrics.New()
	p := &Pipeline{Parser: parsers.Native{}, Producer: mem, EventsTopic: "ev", DeadLetterTopic: "dl", Metrics: m, Log: quiet(), BatchSize: 7}
	if err := p.ReadLines(context.Background(), strings.NewReader(input), "in.ndjson"); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Events != int64(good) || st.DeadLetters != int64(len(malformed)) || st.Records != int64(good+len(malformed)) {
		t.Fatalf("stats %+v, want %d events and %d dead letters", st, good, len(malformed))
	}
	mem.CloseTopic("dl")
	c := mem.Consumer("dl")
	for i, want := range malformed {
		msg, err := c.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var d deadletter.Record
		json.Unmarshal(msg.Value, &d)
		if !strings.Contains(d.Reason, want.reason) || d.Raw != want.line || !strings.HasPrefix(d.Origin, "in.ndjson:") {
			t.Errorf("dead letter %d = %+v, want reason containing %q and the raw line", i, d, want.reason)
		}
	}
}

func TestReadLinesKeepsOverlongLines(t *testing.T) {
	long := strings.Repeat("x", event.MaxRawBytes+10)
	mem := bus.NewMemory(10)
	p := &Pipeline{Parser: parsers.Native{}, Producer: mem, EventsTopic: "ev", DeadLetterTopic: "dl", Metrics: metrics.New(), Log: quiet()}
	if err := p.ReadLines(context.Background(), strings.NewReader(long+"\nnext\n"), "f"); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.DeadLetters != 2 || st.Records != 2 {
		t.Fatalf("stats %+v, want both lines dead-lettered", st)
	}
	msg, _ := mem.Consumer("dl").Fetch(context.Background())
	var d deadletter.Record
	json.Unmarshal(msg.Value, &d)
	if !strings.Contains(d.Reason, "longer than") || len(d.Raw) != event.MaxRawBytes || d.Origin != "f:1" {
		t.Fatalf("overlong line dead letter: reason %q, raw %d bytes, origin %s", d.Reason, len(d.Raw), d.Origin)
	}
}

// Malformed records fed through real Kafka: each lands on the dead-letter
// topic with its reason, the metric counts them, and the good records around
// them reach the ClickHouse engine, as do the dead letters.
func TestDeadLettersThroughKafkaAndStore(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	testenv.RequireChdb(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	suffix := fmt.Sprint(time.Now().UnixNano())
	evTopic, dlTopic := "ingest-test-ev-"+suffix, "ingest-test-dl-"+suffix
	kc := bus.KafkaConfig{Brokers: brokers, Partitions: 2}
	if err := bus.EnsureTopics(ctx, kc, evTopic, dlTopic); err != nil {
		t.Fatal(err)
	}
	prod := bus.NewKafkaProducer(kc)
	defer prod.Close()
	m := metrics.New()
	input, good := mixedInput(t, 3000)
	p := &Pipeline{Parser: parsers.Native{}, Producer: prod, EventsTopic: evTopic, DeadLetterTopic: dlTopic, Metrics: m, Log: quiet()}
	if err := p.ReadLines(ctx, strings.NewReader(input), "mixed.ndjson"); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.DeadLettered.WithLabelValues("parse")) + testutil.ToFloat64(m.DeadLettered.WithLabelValues("validate")); got != float64(len(malformed)) {
		t.Fatalf("dead-letter metric = %v, want %d", got, len(malformed))
	}

	// The dead-letter topic holds each one with its reason.
	dc := bus.NewKafkaConsumer(kc, dlTopic, "inspect-"+suffix)
	reasons := map[string]string{}
	for len(reasons) < len(malformed) {
		msg, err := dc.Fetch(ctx)
		if err != nil {
			t.Fatalf("dead-letter topic: %d of %d read: %v", len(reasons), len(malformed), err)
		}
		var d deadletter.Record
		if err := json.Unmarshal(msg.Value, &d); err != nil {
			t.Fatal(err)
		}
		if msg.Headers["stage"] == "" || msg.Headers["origin"] != d.Origin {
			t.Fatalf("dead letter headers %v", msg.Headers)
		}
		reasons[d.Raw] = d.Reason
	}
	dc.Close()
	for _, mf := range malformed {
		if !strings.Contains(reasons[mf.line], mf.reason) {
			t.Errorf("record %q: reason %q, want it to contain %q", mf.line, reasons[mf.line], mf.reason)
		}
	}

	// The loader stores the good events and the dead letters.
	dir, _ := os.MkdirTemp("", "phiwatch-ingest-test")
	defer os.RemoveAll(dir)
	s, err := store.Open(ctx, store.Options{DSN: "chdb:" + dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := store.Migrate(ctx, s, quiet()); err != nil {
		t.Fatal(err)
	}
	cfg := loader.Config{BatchRows: 1000, BatchWait: 200 * time.Millisecond, StopWhenIdle: 3 * time.Second}
	ev := bus.NewKafkaConsumer(kc, evTopic, "load-"+suffix)
	defer ev.Close()
	dl := bus.NewKafkaConsumer(kc, dlTopic, "load-dl-"+suffix)
	defer dl.Close()
	if err := loader.New(cfg, evTopic, ev, loader.EventSink{Store: s}, loader.PublishRejects(prod, dlTopic, nil), m, quiet()).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := loader.New(cfg, dlTopic, dl, loader.DeadLetterSink{Store: s}, nil, m, quiet()).Run(ctx); err != nil {
		t.Fatal(err)
	}
	var n []struct {
		Events uint64 `json:"events"`
		Dead   uint64 `json:"dead"`
	}
	if err := s.Select(ctx, &n, "SELECT (SELECT count() FROM phiwatch.events) AS events, (SELECT count() FROM phiwatch.dead_letters FINAL) AS dead", nil); err != nil {
		t.Fatal(err)
	}
	if n[0].Events != uint64(good) || n[0].Dead != uint64(len(malformed)) {
		t.Fatalf("store holds %d events and %d dead letters, want %d and %d", n[0].Events, n[0].Dead, good, len(malformed))
	}
}
