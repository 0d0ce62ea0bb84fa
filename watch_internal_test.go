package vaultly

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/memsecrets"
)

// TestPollDelay: the wait before a poll is within [3/4, 1] of the interval
// for every jitter draw, so a change is seen within one interval, and
// draws spread polls over a quarter of it.
func TestPollDelay(t *testing.T) {
	t.Parallel()
	for _, interval := range []time.Duration{MinWatchInterval, time.Second, 30 * time.Second, time.Hour} {
		lo, hi := interval, time.Duration(0)
		for i := range 1000 {
			r := float64(i) / 1000
			d := pollDelay(interval, r)
			if d < interval*3/4 || d > interval {
				t.Fatalf("pollDelay(%v, %v) = %v, want within [%v, %v]", interval, r, d, interval*3/4, interval)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if spread := hi - lo; spread < interval/5 {
			t.Errorf("pollDelay(%v, ·) spreads over %v, want at least a fifth of the interval", interval, spread)
		}
	}
}

func TestPollTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct{ interval, want time.Duration }{
		{time.Second, 5 * time.Second},
		{10 * time.Second, 10 * time.Second},
		{time.Hour, maxPollTimeout},
	}
	for _, tc := range tests {
		if got := pollTimeout(tc.interval); got != tc.want {
			t.Errorf("pollTimeout(%v) = %v, want %v", tc.interval, got, tc.want)
		}
	}
}

func TestChangedKeys(t *testing.T) {
	t.Parallel()
	e := func(kv ...string) *Entry {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return &Entry{Fields: m}
	}
	tests := []struct {
		name string
		a, b *Entry
		want []string
	}{
		{"same", e("u", "1", "p", "2"), e("u", "1", "p", "2"), nil},
		{"value", e("u", "1", "p", "2"), e("u", "1", "p", "3"), []string{"p"}},
		{"added and removed", e("a", "1"), e("b", "1"), []string{"a", "b"}},
		{"from nothing", nil, e("b", "1", "a", "2"), []string{"a", "b"}},
	}
	for _, tc := range tests {
		if got := changedKeys(tc.a, tc.b); !slicesEqual(got, tc.want) {
			t.Errorf("%s: changedKeys = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHashIgnoresOrderNotContent: the content hash is the same for equal
// fields and differs when a value moves between keys.
func TestHashIgnoresOrderNotContent(t *testing.T) {
	t.Parallel()
	ws := newWatchSet(0)
	a := ws.hash(map[string]string{"u": "app", "p": "pw"})
	b := ws.hash(map[string]string{"p": "pw", "u": "app"})
	c := ws.hash(map[string]string{"u": "pw", "p": "app"})
	d := ws.hash(map[string]string{"u": "app", "p": "pw", "x": ""})
	if a != b {
		t.Errorf("hash of equal fields differs: %x, %x", a, b)
	}
	if a == c || a == d {
		t.Errorf("hash of different fields is the same: %x, %x, %x", a, c, d)
	}
}

// TestObserveJoinsEarlierWatcher: a Subscribe that comes right after a Get
// can set up the entry's watcher, at its own interval and for itself only,
// before the Get's result reaches the watch. When the result arrives the
// watcher takes the Store's shorter Watch interval and stays while the
// entry is cached (TestWatchOnePollerPerEntry failed about 1% of runs
// under -race before: the entry went on being polled every 2 s, not 1 s).
func TestObserveJoinsEarlierWatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		m.SetValue("app/db", "pw")
		s := New(versionsOnly{m}, &Options{Watch: time.Second, TTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
		defer s.Close()
		w := s.watchFor("app/db", 4*time.Second, nil, nil, false) // as Subscribe sets it up
		if _, err := s.Get(t.Context(), "app/db"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := w.interval(); got != time.Second {
			t.Errorf("interval after the Get = %v, want the Store's 1s", got)
		}
		if !w.auto.Load() {
			t.Error("the watcher is not kept for the cached entry (auto = false)")
		}
		if w.slot.Load() == nil {
			t.Error("the watcher does not know the cached slot")
		}
	})
}

// versionsOnly is memsecrets without change notifications: watched by
// polling its versions.
type versionsOnly struct{ m *memsecrets.Backend }

func (p versionsOnly) Read(ctx context.Context, path string, v int) (*driver.Entry, error) {
	return p.m.Read(ctx, path, v)
}
func (p versionsOnly) Name() string { return "versions-only" }
func (p versionsOnly) Close() error { return nil }
func (p versionsOnly) CurrentVersion(ctx context.Context, path string) (driver.VersionState, error) {
	return p.m.CurrentVersion(ctx, path)
}

// TestWatcherIgnoresOlderReads: results reach a watcher in the order the
// reads end, not the order they began; a read that began before the one
// whose result the watcher holds changes nothing. (TestWatchDeletedAndDestroyed
// saw "deleted, updated" twice in about 1 of 200 runs under -race: a Get
// that read the entry before an undelete ended after the poll that saw the
// undelete, and put the deletion back until the next poll.)
func TestWatcherIgnoresOlderReads(t *testing.T) {
	m := memsecrets.New(nil)
	m.SetValue("app/db", "pw")
	s := New(versionsOnly{m}, &Options{TTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	defer s.Close()
	v1 := &Entry{Fields: map[string]string{"value": "pw"}, Version: 1}
	w := s.watchFor("app/db", time.Hour, nil, v1, false)
	before := s.watch.changes.Load()
	w.saw(v1, nil, 5)              // the 5th read: what the watcher holds, no change
	w.lost(ChangeDeleted, 1, 7)    // a poll begun 7th finds it deleted: a change
	w.saw(v1, nil, 6)              // a read begun 6th ends now: older news
	w.saw(nil, errNotFoundTest, 6) // the same for a failed one
	if got := s.watch.changes.Load() - before; got != 1 {
		t.Errorf("%d changes published, want 1 (the deletion)", got)
	}
	w.mu.Lock()
	present := w.present
	w.mu.Unlock()
	if present {
		t.Error("an older read put the deleted entry back")
	}
	w.saw(v1, nil, 8) // a later read finds it again: a change
	if got := s.watch.changes.Load() - before; got != 2 {
		t.Errorf("%d changes published after a newer read, want 2", got)
	}
}

var errNotFoundTest = driver.NewError(driver.NotFound, nil)
