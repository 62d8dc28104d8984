package store

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// TestServer runs the store suite against a real ClickHouse server in a
// container. It needs Docker; where there is none (CI here has none) it
// skips with a message, and the same SQL is covered by TestEmbedded, which
// runs the ClickHouse engine itself in-process. PHIWATCH_TEST_CLICKHOUSE
// (a clickhouse:// DSN) points it at an existing server instead.
func TestServer(t *testing.T) {
	dsn := os.Getenv("PHIWATCH_TEST_CLICKHOUSE")
	if dsn == "" {
		dsn = startClickHouse(t)
	}
	open := func(t *testing.T, db string) Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := Open(ctx, Options{DSN: dsn, Database: db})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	for _, c := range suite {
		t.Run(c.name, func(t *testing.T) { c.run(t, open) })
	}
}

func startClickHouse(t *testing.T) string {
	t.Helper()
	testcontainers.SkipIfProviderIsNotHealthy(t)
	ctx := context.Background()
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        "clickhouse/clickhouse-server:25.8",
			ExposedPorts: []string{"9000/tcp"},
			// ClickHouse 25.1.3+ refuses the passwordless default user.
			Env:        map[string]string{"CLICKHOUSE_USER": "phiwatch", "CLICKHOUSE_PASSWORD": "test"},
			WaitingFor: wait.ForListeningPort("9000/tcp").WithStartupTimeout(2 * time.Minute),
		},
		Started: true,
	})
	if err != nil {
		t.Fatalf("start ClickHouse container: %v", err)
	}
	t.Cleanup(func() { _ = c.Terminate(context.Background()) })
	host, err := c.Host(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port, err := c.MappedPort(ctx, "9000/tcp")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("clickhouse://phiwatch:test@%s:%s", host, port.Port())
}
