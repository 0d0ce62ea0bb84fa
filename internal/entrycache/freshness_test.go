package entrycache_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly/internal/entrycache"
)

// TestItemTimestamps: an item knows when it was confirmed and since when it
// is served stale; a new item starts with neither.
func TestItemTimestamps(t *testing.T) {
	t.Parallel()
	c := newCache(entrycache.UntilRefreshed, 10)
	s := c.Slot("app/a", 0)
	call, _ := s.Join(false)
	c.Finish(s, call, val("v1"), nil, true)
	it := s.Item()
	if !it.Confirmed().IsZero() || !it.StaleSince().IsZero() {
		t.Fatalf("new item: Confirmed = %v, StaleSince = %v; want zero times", it.Confirmed(), it.StaleSince())
	}
	t0 := time.Unix(1000, 0)
	it.Confirm(t0.Add(2 * time.Second))
	it.Confirm(t0.Add(time.Second)) // older: ignored
	if got, want := it.Confirmed(), t0.Add(2*time.Second); !got.Equal(want) {
		t.Errorf("Confirmed = %v, want %v (the newest)", got, want)
	}
	if got := it.MarkStale(t0.Add(5 * time.Second)); !got.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("first MarkStale = %v, want its own time", got)
	}
	if got := it.MarkStale(t0.Add(9 * time.Second)); !got.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("second MarkStale = %v, want the first call's time", got)
	}
	call, _ = s.Join(true)
	c.Finish(s, call, val("v2"), nil, true)
	if n := s.Item(); n == it || !n.StaleSince().IsZero() || !n.Confirmed().IsZero() {
		t.Errorf("replacing item: StaleSince = %v, Confirmed = %v; want a new item with zero times", n.StaleSince(), n.Confirmed())
	}
}

// TestOnRemove: the hook sees each slot once when it leaves the cache, by
// eviction, by a failed read that left it empty, or by Clear; never for
// Invalidate.
func TestOnRemove(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		removed []string
	)
	newC := func(max int) *entrycache.Cache[map[string]string] {
		return entrycache.New(entrycache.Options[map[string]string]{
			TTL: entrycache.UntilRefreshed, MaxEntries: max,
			Field: func(m map[string]string, k string) (string, bool) { v, ok := m[k]; return v, ok },
			OnRemove: func(s *entrycache.Slot[map[string]string]) {
				if !s.Removed() {
					t.Errorf("OnRemove(%s): Removed() = false", s.Path())
				}
				mu.Lock()
				removed = append(removed, s.Path())
				mu.Unlock()
			},
		})
	}
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := removed
		removed = nil
		return out
	}
	fill := func(c *entrycache.Cache[map[string]string], paths ...string) {
		for _, p := range paths {
			s := c.Slot(p, 0)
			call, _ := s.Join(false)
			c.Finish(s, call, val(p), nil, true)
		}
	}

	t.Run("invalidate keeps the slot", func(t *testing.T) {
		c := newC(10)
		fill(c, "a")
		c.Invalidate("a")
		if got := take(); len(got) != 0 {
			t.Errorf("removed after Invalidate = %v, want none", got)
		}
		c.Close()
		if got, want := take(), []string{"a"}; !cmp.Equal(got, want) {
			t.Errorf("removed by Close = %v, want %v", got, want)
		}
	})
	t.Run("failed read of an empty slot", func(t *testing.T) {
		c := newC(10)
		s := c.Slot("gone", 0)
		call, _ := s.Join(false)
		c.Finish(s, call, nil, errors.New("not found"), true)
		if got, want := take(), []string{"gone"}; !cmp.Equal(got, want) {
			t.Errorf("removed = %v, want %v", got, want)
		}
		c.Close()
		if got := take(); len(got) != 0 {
			t.Errorf("removed again by Close = %v, want none (once per slot)", got)
		}
	})
	t.Run("eviction", func(t *testing.T) {
		c := newC(10)
		defer c.Close()
		var paths []string
		for i := range 20 {
			paths = append(paths, fmt.Sprintf("p%02d", i))
		}
		fill(c, paths...)
		c.Sweep()
		got := take()
		if len(got) != 20-9 {
			t.Errorf("removed by a sweep of 20 slots over 10 = %d slots, want %d", len(got), 20-9)
		}
		if n := c.Evictions(); n != uint64(len(got)) {
			t.Errorf("Evictions = %d, hook calls = %d; want the same", n, len(got))
		}
	})
}
