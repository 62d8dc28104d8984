// Package testenv gives tests the real components they need: the chDB
// engine and a Kafka broker. Where one is missing a test skips with a clear
// message on a developer's machine and fails under CI=true, so CI can never
// pass by skipping integration tests.
package testenv

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/chdb"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

func missing(t testing.TB, what string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required under CI=true but missing", what)
	}
	t.Skipf("SKIP: %s", what)
}

// RequireChdb skips (or fails under CI) when libchdb cannot be loaded.
func RequireChdb(t testing.TB) {
	t.Helper()
	if err := chdb.Available(""); err != nil {
		missing(t, "the embedded ClickHouse engine: "+err.Error())
	}
}

// KafkaBrokers returns the brokers of the test Kafka (PHIWATCH_TEST_KAFKA,
// default 127.0.0.1:19092, as started by deploy/kafka/kafka.sh), skipping or
// failing when none answers.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	addr := os.Getenv("PHIWATCH_TEST_KAFKA")
	if addr == "" {
		addr = "127.0.0.1:19092"
	}
	brokers := strings.Split(addr, ",")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		missing(t, "a Kafka broker at "+addr+" (start one with `make kafka-start`): "+err.Error())
		return nil
	}
	conn.Close()
	return brokers
}
