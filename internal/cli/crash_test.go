package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/ingest"
	"github.com/phiwatch/phiwatch/ingest/parsers"
	"github.com/phiwatch/phiwatch/internal/bus"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/synth"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

// buildBinary builds phiwatch once per test run.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "phiwatch")
	cmd := exec.Command("go", "build", "-o", bin, "../..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// metricValue reads one sample from a /metrics page.
func metricValue(addr, series string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, nil
}

// The loader is killed with SIGKILL in the middle of a stream and started
// again: the product then reads exactly the events produced, each once.
func TestLoaderSurvivesSIGKILL(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	testenv.RequireChdb(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	const total = 120000
	suffix := fmt.Sprint(time.Now().UnixNano())
	evTopic, dlTopic, group := "crash-ev-"+suffix, "crash-dl-"+suffix, "crash-"+suffix
	kc := bus.KafkaConfig{Brokers: brokers, Partitions: 4}
	if err := bus.EnsureTopics(ctx, kc, evTopic, dlTopic); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "chdb")
	ops := freePort(t)
	loadArgs := []string{"load", "--store", "chdb:" + dataDir, "--kafka-brokers", strings.Join(brokers, ","),
		"--events-topic", evTopic, "--dead-letter-topic", dlTopic, "--consumer-group", group,
		"--batch-rows", "4000", "--batch-wait", "300ms", "--listen", ops}

	// Produce the stream while the loaders run.
	produced := make(chan error, 1)
	go func() {
		prod := bus.NewKafkaProducer(kc)
		defer prod.Close()
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(synth.New(synth.Options{Seed: 42}).WriteNDJSON(pw, total)) }()
		p := &ingest.Pipeline{Parser: parsers.Native{}, Producer: prod, EventsTopic: evTopic, DeadLetterTopic: dlTopic,
			Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), BatchSize: 2000}
		produced <- p.ReadLines(ctx, pr, "synth")
	}()

	// Kill a loader three times, each while a batch is in flight: fetched
	// (consumed counted) and being inserted, its offsets not committed yet.
	inserted := `phiwatch_loader_inserted_rows_total{table="access_events"}`
	consumed := fmt.Sprintf(`phiwatch_loader_consumed_total{topic=%q}`, evTopic)
	for kill := 1; kill <= 3; kill++ {
		var logb bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, loadArgs...)
		cmd.Stdout, cmd.Stderr = &logb, &logb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var atKill, inFlight float64
		for {
			ins, _ := metricValue(ops, inserted)
			con, _ := metricValue(ops, consumed)
			if ins >= total/6 && con > ins {
				atKill, inFlight = ins, con-ins
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("loader never got going; log:\n%s", logb.String())
			}
			time.Sleep(time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("loader %d did not die of SIGKILL: %v", kill, err)
		}
		t.Logf("kill %d: SIGKILL after this loader inserted %.0f rows, with %.0f more in flight", kill, atKill, inFlight)
	}
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}

	// Start again; it resumes from the committed offsets and stops when idle.
	// Idle limit above the group's 10 s session timeout, which the group
	// waits out for the killed member before it assigns partitions.
	second := exec.CommandContext(ctx, bin, append(loadArgs, "--stop-when-idle", "15s")...)
	var log2 bytes.Buffer
	second.Stdout, second.Stderr = &log2, &log2
	if err := second.Run(); err != nil {
		t.Fatalf("second loader: %v\n%s", err, log2.String())
	}

	out, err := exec.CommandContext(ctx, bin, "query", "--store", "chdb:"+dataDir,
		"SELECT (SELECT count() FROM phiwatch.events) AS read, (SELECT uniqExact(event_id) FROM phiwatch.events) AS distinct_ids, (SELECT count() FROM phiwatch.access_events) AS stored").CombinedOutput()
	if err != nil {
		t.Fatalf("query: %v\n%s", err, out)
	}
	var c struct{ Read, DistinctIDs, Stored float64 }
	if err := json.Unmarshal(bytes.TrimSpace(out), &struct {
		Read        *float64 `json:"read"`
		DistinctIDs *float64 `json:"distinct_ids"`
		Stored      *float64 `json:"stored"`
	}{&c.Read, &c.DistinctIDs, &c.Stored}); err != nil {
		t.Fatalf("query output %q: %v", out, err)
	}
	t.Logf("produced %d; product reads %.0f rows, %.0f distinct; %.0f rows physically stored", total, c.Read, c.DistinctIDs, c.Stored)
	if c.Read != total || c.DistinctIDs != total {
		t.Fatalf("product reads %.0f rows / %.0f distinct events, want exactly %d", c.Read, c.DistinctIDs, total)
	}
}
