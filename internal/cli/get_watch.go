package cli

import (
	"context"
	"errors"
	"io"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/lanemesh/lanemesh/internal/admin"
)

// watchWait is how long one long poll of the admin API's watch may wait;
// under the client's own timeout, so that an idle mesh is no error.
const watchWait = "20s"

// watchListings waits on the admin API's watch and prints, after each
// change, the rows that changed since the last print: added, modified (its
// row or object differs) or deleted, kubectl get -w's output. It returns
// when ctx is done.
func watchListings(ctx context.Context, c *client, w io.Writer, f getFlags, shown []listing, gen uint64, now func() time.Time) error {
	for {
		var wt admin.Watched
		if _, err := c.doContext(ctx, "GET", "/v1/watch", url.Values{"since": {strconv.FormatUint(gen, 10)}, "timeout": {watchWait}}, nil, &wt); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if wt.Generation == gen {
			continue // the long poll ended without a change
		}
		gen = wt.Generation
		for i, old := range shown {
			cur, err := fetch(c, f, old.req)
			if err != nil && !errors.Is(err, errNotFound) {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if err := printChanges(w, f, old, cur, now()); err != nil {
				return err
			}
			shown[i] = cur
		}
	}
}

// printChanges prints the items of cur that are new or differ from old,
// then those of old that are gone.
func printChanges(w io.Writer, f getFlags, old, cur listing, now time.Time) error {
	before := map[string]item{}
	for _, it := range old.items {
		before[it.key()] = it
	}
	type change struct {
		it    item
		event string
	}
	var changes []change
	for _, it := range cur.items {
		prev, ok := before[it.key()]
		delete(before, it.key())
		switch {
		case !ok:
			changes = append(changes, change{it, "ADDED"})
		case !sameItem(prev, it):
			changes = append(changes, change{it, "MODIFIED"})
		}
	}
	for _, it := range old.items {
		if _, gone := before[it.key()]; gone {
			changes = append(changes, change{it, "DELETED"})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	if f.output == "yaml" || f.output == "json" {
		for _, ch := range changes {
			if f.output == "yaml" {
				io.WriteString(w, "---\n")
			}
			if err := printObjects(w, f.output, []item{ch.it}, true); err != nil {
				return err
			}
		}
		return nil
	}
	if f.output == "name" {
		for _, ch := range changes {
			io.WriteString(w, nameOf(ch.it)+"\n")
		}
		return nil
	}
	t := newTable(w, cur, f, false)
	for _, ch := range changes {
		ev := ""
		if f.watchEvents {
			ev = ch.event
		}
		t.row(ch.it, now, ev)
	}
	return t.flush()
}

func sameItem(a, b item) bool {
	return string(a.object) == string(b.object) && slices.Equal(a.cells, b.cells)
}
