package ingest

import (
	"bytes"
	"context"
	"testing"

	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/synth"
)

type discard struct{}

func (discard) Publish(context.Context, ...bus.Message) error { return nil }
func (discard) Close() error                                  { return nil }

// BenchmarkPipeline1M reads 1M generated events through ingest (read lines,
// parse, validate, encode for the bus) into a discarding bus: ingest's CPU
// cost per event, on one core.
func BenchmarkPipeline1M(b *testing.B) {
	const n = 1_000_000
	var buf bytes.Buffer
	synth.New(synth.Options{Seed: 1}).WriteNDJSON(&buf, n)
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		p := &Pipeline{Parser: parsers.Native{}, Producer: discard{}, EventsTopic: "e", DeadLetterTopic: "d", Metrics: metrics.New(), Log: quiet()}
		if err := p.ReadLines(context.Background(), bytes.NewReader(data), "bench"); err != nil {
			b.Fatal(err)
		}
		if p.Stats().Events != n {
			b.Fatalf("%d events", p.Stats().Events)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
