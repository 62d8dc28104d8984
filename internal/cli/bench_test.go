package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/synth"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

// BenchmarkEndToEnd pushes PHIWATCH_BENCH_EVENTS (default 1M) generated
// events from a file through real processes: `phiwatch ingest` (parse →
// Kafka) and `phiwatch load` (Kafka → the embedded ClickHouse engine), then
// checks the product reads every event once. It reports the wall-clock rate
// on this machine, the rate per CPU-second the phiwatch processes used
// (events/s per core), and the loader's peak RSS.
func BenchmarkEndToEnd(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	testenv.RequireChdb(b)
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("PHIWATCH_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	bin := buildBinary(b)
	dir := b.TempDir()
	input := filepath.Join(dir, "events.ndjson")
	f, err := os.Create(input)
	if err != nil {
		b.Fatal(err)
	}
	if err := synth.New(synth.Options{Seed: 9}).WriteNDJSON(f, n); err != nil {
		b.Fatal(err)
	}
	f.Close()
	for i := 0; b.Loop(); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		suffix := fmt.Sprintf("%d-%d", time.Now().UnixNano(), i)
		common := []string{"--kafka-brokers", strings.Join(brokers, ","), "--events-topic", "bench-ev-" + suffix,
			"--dead-letter-topic", "bench-dl-" + suffix, "--listen", "", "--log-level", "warn"}
		store := "chdb:" + filepath.Join(dir, "chdb-"+suffix)
		const idle = 5 * time.Second
		load := exec.CommandContext(ctx, bin, append([]string{"load", "--store", store, "--consumer-group", "bench-" + suffix,
			"--stop-when-idle", idle.String(), "--batch-rows", "50000", "--batch-wait", "500ms"}, common...)...)
		var loadLog bytes.Buffer
		load.Stdout, load.Stderr = &loadLog, &loadLog
		if err := load.Start(); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		ingest := exec.CommandContext(ctx, bin, append([]string{"ingest", "--format", "phiwatch-ndjson"}, append(common, input)...)...)
		if out, err := ingest.CombinedOutput(); err != nil {
			b.Fatalf("ingest: %v\n%s", err, out)
		}
		ingestDone := time.Since(start)
		if err := load.Wait(); err != nil {
			b.Fatalf("load: %v\n%s", err, loadLog.String())
		}
		wall := time.Since(start) - idle
		cancel()

		out, err := exec.Command(bin, "query", "--store", store, "SELECT count() AS n FROM phiwatch.events").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != fmt.Sprintf(`{"n":%d}`, n) {
			b.Fatalf("store holds %s, want %d events (err %v)", out, n, err)
		}
		cpu := func(p *os.ProcessState) float64 { return (p.UserTime() + p.SystemTime()).Seconds() }
		ru := load.ProcessState.SysUsage().(*syscall.Rusage)
		ingestCPU, loadCPU := cpu(ingest.ProcessState), cpu(load.ProcessState)
		b.ReportMetric(float64(n)/wall.Seconds(), "events/s_wall")
		b.ReportMetric(float64(n)/wall.Seconds()/float64(runtime.NumCPU()), "events/s/core_wall")
		b.ReportMetric(float64(n)/(ingestCPU+loadCPU), "events/cpu-s")
		b.ReportMetric(float64(n)/ingestCPU, "ingest_events/cpu-s")
		b.ReportMetric(float64(n)/loadCPU, "load_events/cpu-s")
		b.ReportMetric(float64(ru.Maxrss)/1024, "loader_peak_rss_MiB")
		b.Logf("%d events: ingest finished in %s, all stored in %s on %d cores; CPU s: ingest %.1f, load %.1f",
			n, ingestDone.Round(time.Millisecond), wall.Round(time.Millisecond), runtime.NumCPU(), ingestCPU, loadCPU)
	}
}
