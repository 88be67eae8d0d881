package controlplane

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/lanemesh/lanemesh/api"
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
	return Watch(ctx, store, WatchOptions{Paths: paths, Interval: interval, Logger: log, Load: opt})
}

// WatchOptions configures Watch.
type WatchOptions struct {
	Paths    []string
	Interval time.Duration // how often the files are polled
	Logger   *slog.Logger
	Load     config.Options
	// OnConflict, if set, is told of each file edit that overwrites an
	// object someone else (lanemesh apply, scale) changed since the file
	// last set it; the conflict is logged either way.
	OnConflict func(Conflict)
	// OnReject, if set, is told of a reload that was rejected, with its
	// errors (the last good configuration stays in force); they are logged
	// either way.
	OnReject func(config.Diagnostics)
}

// Conflict is a watched file's edit of an object that was changed through
// another way since the file last set it. The file's edit is newer, so it
// wins, as the last writer does in Kubernetes; it is reported so that the
// earlier change is not lost silently.
type Conflict struct {
	Kind, Namespace, Name string
	File                  string // the file whose edit won
	// Overridden is who made the change the edit replaced, and when.
	Overridden Meta
}

func (c Conflict) String() string {
	return fmt.Sprintf("%s %s/%s: the edit of %s replaces the change made by %s at %s; apply that change to the file too, or it is gone",
		c.Kind, c.Namespace, c.Name, c.File, c.Overridden.By, c.Overridden.Updated.Format(time.RFC3339))
}

// Watch is WatchFiles with options.
func Watch(ctx context.Context, store *Store, o WatchOptions) (config.Diagnostics, error) {
	w := &fileWatch{store: store, paths: o.Paths, log: o.Logger, last: &config.Config{}, opt: o.Load, onConflict: o.OnConflict}
	interval := o.Interval
	diags, err := w.sync()
	if err != nil {
		return diags, err
	}
	w.onReject = o.OnReject // the first load's errors went to the caller
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
	store      *Store
	paths      []string
	log        *slog.Logger
	hash       [32]byte
	last       *config.Config
	opt        config.Options
	onConflict func(Conflict)
	onReject   func(config.Diagnostics)
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
	var conflicts []Conflict
	found, err := w.store.UpdateBy("file "+strings.Join(w.paths, ", "), func(next *config.Config) {
		conflicts = w.merge(next, c)
	})
	if err != nil {
		w.report(found)
		return found, err
	}
	w.last = c
	for _, cf := range conflicts {
		w.log.Warn("configuration conflict", "conflict", cf.String())
		if w.onConflict != nil {
			w.onConflict(cf)
		}
	}
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
	if w.onReject != nil {
		w.onReject(diags.Errors())
	}
}

// merge brings next in step with the files' new content c: it puts the
// objects whose content in the files changed (or that are new there) and
// removes those that left the files. An object the files did not change
// stays as it is in force, so that reloading after an edit elsewhere in
// the files never reverts a lanemesh apply or scale of it. It returns the
// conflicts: objects the files changed that had been changed by another
// writer since the files last set them.
func (w *fileWatch) merge(next, c *config.Config) []Conflict {
	var conflicts []Conflict
	for _, obj := range w.last.Objects() {
		if c.Find(obj) == nil {
			if cur := next.Find(obj); cur != nil && !config.SameObject(cur, obj) {
				conflicts = append(conflicts, w.conflict(obj, metaOf(obj)))
			}
			next.Remove(obj)
		}
	}
	for _, obj := range c.Objects() {
		prev := w.last.Find(obj)
		if prev != nil && config.SameObject(prev, obj) {
			continue // unchanged in the files: keep what is in force
		}
		cur := next.Find(obj)
		if cur != nil && !config.SameObject(cur, obj) && (prev == nil || !config.SameObject(cur, prev)) {
			conflicts = append(conflicts, w.conflict(obj, metaOf(obj)))
		}
		next.Put(obj)
	}
	return conflicts
}

func (w *fileWatch) conflict(obj any, file string) Conflict {
	kind, ns, name := config.Identify(obj)
	m, _ := w.store.metaLocked(kind, ns, name)
	return Conflict{Kind: kind, Namespace: ns, Name: name, File: file, Overridden: m}
}

// metaOf is the file an object was read from (its metadata's Source).
func metaOf(obj any) string {
	m, _ := reflect.ValueOf(obj).Elem().FieldByName("Metadata").Interface().(api.ObjectMeta)
	return m.Source.File
}
