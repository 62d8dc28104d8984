package store

import (
	"context"
	"testing"

	"github.com/phiwatch/phiwatch/internal/synth"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

// BenchmarkEmbeddedInsert50k inserts batches of 50,000 events into the
// embedded engine; events/s is the store's share of the loader's cost.
func BenchmarkEmbeddedInsert50k(b *testing.B) {
	testenv.RequireChdb(b)
	s, err := openEmbeddedShared("b_insert")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := Migrate(ctx, s, quiet()); err != nil {
		b.Fatal(err)
	}
	g := synth.New(synth.Options{Seed: 1})
	rows := make([]EventRow, 50000)
	for i := range rows {
		e := g.Next()
		rows[i] = NewEventRow(&e, 0)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.InsertEvents(ctx, rows, string(rune('a'+i))+"-token"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rows)*b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkEncodeRows50k(b *testing.B) {
	// RowBinary encoding alone, on one core.
	g := synth.New(synth.Options{Seed: 1})
	rows := make([]EventRow, 50000)
	for i := range rows {
		e := g.Next()
		rows[i] = NewEventRow(&e, 0)
	}
	var buf []byte
	for b.Loop() {
		buf = buf[:0]
		for i := range rows {
			buf = rows[i].appendRowBinary(buf)
		}
	}
	b.ReportMetric(float64(len(rows)*b.N)/b.Elapsed().Seconds(), "events/s")
}
