// Package opsserver serves what every role exposes for operations:
// /metrics for Prometheus, /healthz (the process is alive) and /readyz (its
// dependencies answer).
package opsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phiwatch/phiwatch/internal/metrics"
)

// Check is one readiness check, e.g. "the store answers".
type Check func(ctx context.Context) error

// Server is the operations HTTP server.
type Server struct {
	srv    *http.Server
	checks map[string]Check
	log    *slog.Logger
	ln     net.Listener
}

// New builds the server; checks are run on each /readyz request.
func New(addr string, m *metrics.Metrics, checks map[string]Check, log *slog.Logger) *Server {
	s := &Server{checks: checks, log: log}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", s.ready)
	s.srv = &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	ok := true
	for _, n := range names {
		if err := s.checks[n](ctx); err != nil {
			ok = false
			fmt.Fprintf(&b, "%s: %v\n", n, err)
		} else {
			fmt.Fprintf(&b, "%s: ok\n", n)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprint(w, b.String())
}

// Start listens and serves in the background; an empty address disables it.
func (s *Server) Start() error {
	if s.srv.Addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		return fmt.Errorf("listen for /metrics and health on %s: %w", s.srv.Addr, err)
	}
	s.ln = ln
	s.log.Info("serving /metrics, /healthz, /readyz", "addr", ln.Addr().String())
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ops server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the address actually listened on (useful with port 0).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}
