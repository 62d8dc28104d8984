package parsers

import (
	"bytes"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/synth"
)

// BenchmarkNativeParse measures parsing alone; events/s is per core (one
// goroutine).
func BenchmarkNativeParse(b *testing.B) {
	var buf bytes.Buffer
	synth.New(synth.Options{Seed: 1}).WriteNDJSON(&buf, 10000)
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	rec := Record{Tenant: "t", ReceivedAt: time.Now()}
	b.SetBytes(int64(buf.Len() / len(lines)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		rec.Data = lines[i%len(lines)]
		if _, err := (Native{}).Parse(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
