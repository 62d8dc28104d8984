// Package storetest gives a package's tests one migrated embedded store.
// chDB opens a single data directory per process, so the tests of a
// package share it, each test in a tenant of its own.
package storetest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/phiwatch/phiwatch/internal/store"
	"github.com/phiwatch/phiwatch/internal/testenv"
)

// Shared is a package's store, opened by the first test that asks for it.
type Shared struct {
	db   string
	once sync.Once
	dir  string
	s    store.Store
	err  error
}

// New names the database the package's tests use.
func New(db string) *Shared { return &Shared{db: db} }

// Store returns the migrated store, skipping (or failing under CI) when the
// engine is missing.
func (sh *Shared) Store(t testing.TB) store.Store {
	t.Helper()
	testenv.RequireChdb(t)
	sh.once.Do(func() {
		if sh.dir, sh.err = os.MkdirTemp("", "phiwatch-"+sh.db); sh.err != nil {
			return
		}
		ctx := context.Background()
		if sh.s, sh.err = store.Open(ctx, store.Options{DSN: "chdb:" + sh.dir, Database: sh.db}); sh.err != nil {
			return
		}
		_, sh.err = store.Migrate(ctx, sh.s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	})
	if sh.err != nil {
		t.Fatal(sh.err)
	}
	return sh.s
}

// Close closes the store and removes its directory; call it from TestMain
// after m.Run.
func (sh *Shared) Close() {
	if sh.s != nil {
		sh.s.Close()
	}
	if sh.dir != "" {
		os.RemoveAll(sh.dir)
	}
}
