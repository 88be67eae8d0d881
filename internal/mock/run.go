package mock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// defaultGrace is how long Run lets requests in flight finish by default.
const defaultGrace = 10 * time.Second

// Run listens on cfg.Bind and serves the mock until ctx is done, then shuts
// down gracefully. It returns nil after a shutdown caused by ctx, and an
// error when it cannot listen or its configuration is invalid.
func Run(ctx context.Context, cfg Config) error {
	ln, err := net.Listen("tcp", cfg.Bind)
	if err != nil {
		return fmt.Errorf("mock %s: %w", cfg.App, err)
	}
	return Serve(ctx, ln, cfg)
}

// Serve is Run on a listener the caller opened (and Serve closes), for
// callers that must know the address before the first request, such as
// tests listening on port 0.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	client, err := NewClient(cfg.HTTPProxy)
	if err != nil {
		ln.Close()
		return err
	}
	defer client.CloseIdleConnections()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           Handler(cfg, client),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("mock listening", "app", cfg.App, "version", cfg.Version, "addr", ln.Addr().String(),
		"upstream", cfg.UpstreamURL, "proxy", cfg.HTTPProxy)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err // Serve never returns nil; ErrServerClosed cannot happen here.
	case <-ctx.Done():
	}
	return shutdown(ctx, srv, served, cfg.Grace, log)
}

// shutdown stops accepting, lets requests in flight finish within grace,
// then closes what is left.
func shutdown(ctx context.Context, srv *http.Server, served <-chan error, grace time.Duration, log *slog.Logger) error {
	if grace <= 0 {
		grace = defaultGrace
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("mock shutdown cut requests short", "err", err)
		srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("mock stopped")
	return nil
}
