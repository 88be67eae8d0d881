package controlplane

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
)

// WatchFiles keeps the store in step with files and directories: it loads
// them now and again whenever their content changes (polled every
// interval), replacing the objects they define and deleting the ones that
// disappeared from them. A load with errors is logged with every message
// and changes nothing: the last good configuration stays in force. It
// returns the first load's findings, then watches until ctx is done.
func WatchFiles(ctx context.Context, store *Store, paths []string, interval time.Duration, log *slog.Logger) (config.Diagnostics, error) {
	return WatchFilesWith(ctx, store, paths, interval, log, config.Options{})
}

// WatchFilesWith is WatchFiles with the loader's options (e.g. to skip
// kinds lanemesh does not enforce, each skip logged as a warning).
func WatchFilesWith(ctx context.Context, store *Store, paths []string, interval time.Duration, log *slog.Logger, opt config.Options) (config.Diagnostics, error) {
	w := &fileWatch{store: store, paths: paths, log: log, last: &config.Config{}, opt: opt}
	diags, err := w.sync()
	if err != nil {
		return diags, err
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.sync()
			}
		}
	}()
	return diags, nil
}

// fileWatch remembers what the files held at the last good load.
type fileWatch struct {
	store *Store
	paths []string
	log   *slog.Logger
	hash  [32]byte
	last  *config.Config
	opt   config.Options
}

// sync reloads the files if their content changed.
func (w *fileWatch) sync() (config.Diagnostics, error) {
	h := sha256.New()
	for _, p := range w.paths {
		files, _ := config.ReadFiles(p, nil)
		for _, f := range files {
			h.Write([]byte(f.Name))
			h.Write(f.Data)
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if sum == w.hash {
		return nil, nil
	}
	w.hash = sum
	c, diags := config.LoadWith(w.paths, nil, w.opt)
	if diags.HasErrors() {
		w.report(diags)
		return diags, diags.Err()
	}
	found, err := w.store.Update(func(next *config.Config) {
		for _, obj := range w.last.Objects() {
			if c.Find(obj) == nil {
				next.Remove(obj)
			}
		}
		next.Replace(c)
	})
	if err != nil {
		w.report(found)
		return found, err
	}
	w.last = c
	for _, d := range diags {
		if d.Level == config.Warning && d.Code == config.CodeUnknownKind {
			w.log.Warn("object left out", "warning", d.String())
		}
	}
	w.log.Info("configuration loaded", "paths", w.paths, "objects", len(c.Objects()))
	return append(diags, found...), nil
}

func (w *fileWatch) report(diags config.Diagnostics) {
	for _, line := range diags.Errors().Render(config.PerGroup) {
		w.log.Warn("configuration rejected; the last good one stays in force", "error", line)
	}
}
