package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phiwatch/phiwatch/api"
	"github.com/phiwatch/phiwatch/internal/metrics"
	"github.com/phiwatch/phiwatch/internal/store"
)

// apiServer serves the API with /metrics and health on the same listener.
type apiServer struct {
	srv *http.Server
	ln  net.Listener
}

func startAPI(addr string, s store.Store, tokens *api.Tokens, m *metrics.Metrics, log *slog.Logger) (*apiServer, error) {
	h, err := api.New(api.Config{Store: s, Tokens: tokens, Log: log, Registry: m.Registry})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", h)
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Ping(r.Context()); err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "store: ok")
	})
	mux.Handle("/", h) // problem+json 404s for everything else
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("API listen on %s: %w", addr, err)
	}
	a := &apiServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10}}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("API server stopped", "err", err)
		}
	}()
	log.Info("API listening", "url", "http://"+ln.Addr().String())
	return a, nil
}

func (a *apiServer) URL() string { return "http://" + a.ln.Addr().String() }

func (a *apiServer) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.srv.Shutdown(ctx)
}

func setupAPI(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg, listen, tokensFile string
		lg                      logFlags
		sf                      storeFlags
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lg.register(fs)
	sf.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "API address (also serves /metrics, /healthz, /readyz)")
	fs.StringVar(&tokensFile, "tokens-file", "", "YAML file of API tokens and the tenants each may see (required)")
	return func(ctx context.Context, args []string) error {
		log, err := lg.logger(e.stderr)
		if err != nil {
			return err
		}
		if tokensFile == "" {
			return fmt.Errorf("--tokens-file is required: the API serves nothing without authentication")
		}
		tokens, err := api.LoadTokens(tokensFile)
		if err != nil {
			return err
		}
		s, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := store.Migrate(ctx, s, log); err != nil {
			return err
		}
		a, err := startAPI(listen, s, tokens, metrics.New(), log)
		if err != nil {
			return err
		}
		<-ctx.Done()
		a.Shutdown()
		return nil
	}
}
