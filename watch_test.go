package vaultly_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/filesecrets"
	"github.com/vaultly/vaultly/memsecrets"
)

// polled is a memsecrets backend that announces nothing (no
// ChangeNotifier): the Store sees changes only by polling its Versioner.
type polled struct{ m *memsecrets.Backend }

func (p polled) Read(ctx context.Context, path string, v int) (*driver.Entry, error) {
	return p.m.Read(ctx, path, v)
}
func (p polled) Name() string { return "polled" }
func (p polled) Close() error { return nil }
func (p polled) CurrentVersion(ctx context.Context, path string) (driver.VersionState, error) {
	return p.m.CurrentVersion(ctx, path)
}

// contentOnly has neither ChangeNotifier nor Versioner nor versions:
// polled by reading and comparing content.
type contentOnly struct{ m *memsecrets.Backend }

func (p contentOnly) Read(ctx context.Context, path string, v int) (*driver.Entry, error) {
	e, err := p.m.Read(ctx, path, v)
	if e != nil {
		e.Version = 0 // no versions, like a KV v1 mount
	}
	return e, err
}
func (p contentOnly) Name() string { return "readonly" }
func (p contentOnly) Close() error { return nil }

// recorder collects changes delivered to a subscriber.
type recorder struct {
	mu sync.Mutex
	ch []vaultly.Change
}

func (r *recorder) add(c vaultly.Change) {
	r.mu.Lock()
	r.ch = append(r.ch, c)
	r.mu.Unlock()
}

// got returns the changes as (kind old->new keys) lines.
func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.ch {
		out = append(out, fmt.Sprintf("%s %d->%d %v", c.Kind, c.OldVersion, c.NewVersion, c.Keys))
	}
	return out
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func mustGet(t *testing.T, s *vaultly.Store, ref string) string {
	t.Helper()
	v, err := s.Get(t.Context(), ref)
	if err != nil {
		t.Fatalf("Get(%q): %v", ref, err)
	}
	return v
}

// TestWatchSeesRotationWithinOneInterval: with Options.Watch, a new
// version written behind the Store's back is served by Get, by a Live and
// told to a subscriber within one interval, even with a TTL that never
// ends.
func TestWatchSeesRotationWithinOneInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		m.Set("app/db", map[string]any{"user": "app", "password": "pw-1"})
		s := vaultly.New(polled{m}, &vaultly.Options{Watch: time.Second, TTL: vaultly.UntilRefreshed, Logger: discard()})
		defer s.Close()
		live, err := vaultly.NewLive[string](s, "app/db:password", nil)
		if err != nil {
			t.Fatal(err)
		}
		if v := mustGet(t, s, "app/db:password"); v != "pw-1" {
			t.Fatalf("Get = %q, want pw-1", v)
		}
		var rec recorder
		stop, err := s.Subscribe(t.Context(), "app/db", rec.add, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()

		m.Set("app/db", map[string]any{"user": "app", "password": "pw-2"})
		time.Sleep(time.Second) // one interval: at least one poll has run
		synctest.Wait()
		if v := mustGet(t, s, "app/db:password"); v != "pw-2" {
			t.Errorf("Get one interval after the rotation = %q, want pw-2", v)
		}
		if v, err := live.Get(t.Context()); err != nil || v != "pw-2" {
			t.Errorf("Live.Get one interval after the rotation = %q, %v; want pw-2", v, err)
		}
		if diff := cmp.Diff([]string{"updated 1->2 [password]"}, rec.got()); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		st := s.Stats()
		if st.Watches != 1 || st.Changes != 1 {
			t.Errorf("Stats: Watches %d, Changes %d; want 1, 1", st.Watches, st.Changes)
		}
		if n := m.CallCount(memsecrets.OpRead, "app/db"); n != 2 {
			t.Errorf("backend reads = %d, want 2 (the first, then one after the version moved)", n)
		}
	})
}

// TestWatchOnePollerPerEntry: however many subscribers, fields and Lives
// use an entry, one poller polls it once per interval.
func TestWatchOnePollerPerEntry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		m.Set("app/db", map[string]any{"user": "app", "password": "pw-1", "host": "db"})
		m.SetValue("app/other", "x")
		s := vaultly.New(polled{m}, &vaultly.Options{Watch: time.Second, TTL: time.Hour, Logger: discard()})
		defer s.Close()
		for _, ref := range []string{"app/db:user", "app/db:password", "app/db:host", "app/other"} {
			mustGet(t, s, ref)
		}
		recs := make([]*recorder, 100)
		for i := range recs {
			recs[i] = &recorder{}
			stop, err := s.Subscribe(t.Context(), "app/db", recs[i].add, &vaultly.ReadOptions{Watch: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
		}
		// The automatic watch of an entry starts just after the Get that
		// cached it returns; a Subscribe may come before or after it.
		synctest.Wait()
		if got := s.Stats().Watches; got != 2 {
			t.Fatalf("Stats().Watches with 100 subscribers and 3 fields of one entry and another entry = %d, want 2", got)
		}
		synctest.Wait()
		m.ResetCalls()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		// Each poll waits [0.75, 1] interval: 10 to 13 polls in 10 s.
		if n := m.CallCount(memsecrets.OpVersion, "app/db"); n < 10 || n > 14 {
			t.Errorf("version polls of app/db in 10 intervals = %d, want 10..14 (one poller)", n)
		}
		m.Set("app/db", map[string]any{"user": "app", "password": "pw-2", "host": "db"})
		time.Sleep(time.Second)
		synctest.Wait()
		for i, r := range recs {
			if got := r.got(); !cmp.Equal(got, []string{"updated 1->2 [password]"}) {
				t.Fatalf("subscriber %d got %q, want one update", i, got)
			}
		}
		if n := m.CallCount(memsecrets.OpRead, "app/db"); n != 1 {
			t.Errorf("reads of app/db after one rotation = %d, want 1 for 100 subscribers", n)
		}
	})
}

// TestWatchDeletedAndDestroyed: a soft-deleted, undeleted and destroyed
// latest version, and a removed entry, are changes; Get stops serving a
// version that is gone.
func TestWatchDeletedAndDestroyed(t *testing.T) {
	for _, name := range []string{"polled", "notifier"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := memsecrets.New(nil)
				var b driver.Backend = polled{m}
				if name == "notifier" {
					b = m // announces every change: no wait for a poll
				}
				m.Set("app/k", map[string]any{"value": "v1"})
				s := vaultly.New(b, &vaultly.Options{TTL: vaultly.UntilRefreshed, Logger: discard(), KeepBackendOpen: true})
				defer s.Close()
				var rec recorder
				stop, err := s.Subscribe(t.Context(), "app/k", rec.add, &vaultly.ReadOptions{Watch: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				defer stop()
				step := func() {
					time.Sleep(time.Second)
					synctest.Wait()
				}
				m.DeleteVersion("app/k", 0)
				step()
				if _, err := s.Get(t.Context(), "app/k"); !errors.Is(err, vaultly.ErrNotFound) {
					t.Errorf("Get after the latest version was deleted: %v, want NotFound", err)
				}
				m.UndeleteVersion("app/k", 0)
				step()
				if v := mustGet(t, s, "app/k"); v != "v1" {
					t.Errorf("Get after undelete = %q, want v1", v)
				}
				m.SetValue("app/k", "v2")
				step()
				m.DestroyVersion("app/k", 0)
				step()
				m.Remove("app/k")
				step()
				m.SetValue("app/k", "v-new")
				step()
				want := []string{
					"deleted 1->1 [value]",
					"updated 1->1 [value]",
					"updated 1->2 [value]",
					"destroyed 2->2 [value]",
					"updated 2->1 [value]", // the path's history started again
				}
				if diff := cmp.Diff(want, rec.got()); diff != "" {
					t.Errorf("changes (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestWatchByContent: a backend without versions is polled by reading;
// only a change of content is a change.
func TestWatchByContent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		m.Set("app/k", map[string]any{"a": "1"})
		s := vaultly.New(contentOnly{m}, &vaultly.Options{Watch: time.Second, Logger: discard()})
		defer s.Close()
		var rec recorder
		stop, err := s.Subscribe(t.Context(), "app/k", rec.add, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		m.Set("app/k", map[string]any{"a": "1"}) // same content, new version
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := rec.got(); len(got) != 0 {
			t.Errorf("changes after a write of the same content = %q, want none", got)
		}
		m.Set("app/k", map[string]any{"a": "1", "b": "2"})
		time.Sleep(time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]string{"updated 0->0 [b]"}, rec.got()); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		if v := mustGet(t, s, "app/k:b"); v != "2" {
			t.Errorf("Get(app/k:b) = %q, want 2", v)
		}
		if n := m.CallCount(memsecrets.OpVersion, "app/k"); n != 0 {
			t.Errorf("version calls = %d, want 0 (not a Versioner)", n)
		}
	})
}

// deniedVersions answers every version check PermissionDenied, as Vault
// does for a token without read on <mount>/metadata/<path>.
type deniedVersions struct{ polled }

func (deniedVersions) CurrentVersion(context.Context, string) (driver.VersionState, error) {
	return driver.VersionState{}, driver.NewError(driver.PermissionDenied, errors.New("permission denied"))
}

// TestWatchFallsBackToReading: a token that may not read versions is
// watched by reading the entry; a warning says so once.
func TestWatchFallsBackToReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		m.SetValue("app/k", "v1")
		var logs bytes.Buffer
		s := vaultly.New(deniedVersions{polled{m}}, &vaultly.Options{Watch: time.Second,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		defer s.Close()
		mustGet(t, s, "app/k")
		m.SetValue("app/k", "v2")
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if v := mustGet(t, s, "app/k"); v != "v2" {
			t.Errorf("Get after a rotation = %q, want v2", v)
		}
		if n := strings.Count(logs.String(), "may not read the entry's version"); n != 1 {
			t.Errorf("fallback warnings = %d, want 1:\n%s", n, logs.String())
		}
		if st := s.Stats(); st.PollFailures != 0 {
			t.Errorf("PollFailures = %d, want 0", st.PollFailures)
		}
	})
}

// TestWatchStopsWhenEntryLeavesCache: a watch of Options.Watch stops when
// its entry is evicted or found gone; a subscription's does not; the last
// stop of a subscription-only watch stops it.
func TestWatchStopsWhenEntryLeavesCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		for i := range 30 {
			m.SetValue(fmt.Sprintf("app/k%02d", i), "v")
		}
		s := vaultly.New(polled{m}, &vaultly.Options{Watch: time.Second, MaxEntries: 10, Logger: discard()})
		defer s.Close()
		var rec recorder
		stop, err := s.Subscribe(t.Context(), "app/k00", rec.add, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			mustGet(t, s, fmt.Sprintf("app/k%02d", i))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		st := s.Stats()
		if st.Watches > 11 || st.Watches < 1 {
			t.Errorf("Watches after caching 30 entries with MaxEntries 10 = %d, want at most 11 (one per cached entry + the subscription)", st.Watches)
		}
		if st.Entries > 10 {
			t.Errorf("Entries = %d, want <= 10", st.Entries)
		}
		// The subscription's entry is watched whether cached or not.
		m.SetValue("app/k00", "v2")
		time.Sleep(time.Second)
		synctest.Wait()
		if got := rec.got(); len(got) != 1 {
			t.Errorf("subscriber changes = %q, want one update", got)
		}
		// A watched entry deleted and then read (NotFound) leaves the cache.
		m.Remove("app/k29")
		time.Sleep(time.Second)
		synctest.Wait()
		if _, err := s.Get(t.Context(), "app/k29"); !errors.Is(err, vaultly.ErrNotFound) {
			t.Fatalf("Get of a removed entry: %v, want NotFound", err)
		}
		if f, _ := s.Freshness("app/k29"); f.Watched {
			t.Errorf("app/k29 still watched after it left the cache")
		}
		stop()
		time.Sleep(time.Second)
		synctest.Wait()
		m.ResetCalls()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		perPath := map[string]int{}
		for _, c := range m.Calls() {
			if c.Op == memsecrets.OpVersion {
				perPath[c.Path]++
			}
		}
		w := s.Stats().Watches
		if len(perPath) != w || w > 10 {
			t.Errorf("paths polled in 5 s = %d, Watches = %d; want the same, at most MaxEntries (10)", len(perPath), w)
		}
		for p, n := range perPath {
			if n > 7 { // waits of at least 0.75 s
				t.Errorf("%s polled %d times in 5 s at a 1 s interval, want at most 7", p, n)
			}
		}
	})
}

// TestSubscribeMissingEntry: subscribing to an entry that does not exist
// yet works; its creation is the first change.
func TestSubscribeMissingEntry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		s := vaultly.New(polled{m}, &vaultly.Options{Logger: discard()})
		defer s.Close()
		var rec recorder
		stop, err := s.Subscribe(t.Context(), "app/new", rec.add, &vaultly.ReadOptions{Watch: time.Second})
		if err != nil {
			t.Fatalf("Subscribe to a missing entry: %v", err)
		}
		defer stop()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		m.SetValue("app/new", "hello")
		time.Sleep(time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]string{"updated 0->1 [value]"}, rec.got()); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
	})
}

func TestSubscribeErrors(t *testing.T) {
	t.Parallel()
	m := memsecrets.New(nil)
	m.SetValue("app/k", "v")
	s := vaultly.New(m, &vaultly.Options{KeepBackendOpen: true})
	tests := []struct {
		name string
		path string
		fn   func(vaultly.Change)
		want vaultly.Code
	}{
		{"bad path", "app/../x", func(vaultly.Change) {}, vaultly.InvalidArgument},
		{"nil fn", "app/k", nil, vaultly.InvalidArgument},
	}
	for _, tc := range tests {
		if _, err := s.Subscribe(t.Context(), tc.path, tc.fn, nil); vaultly.CodeOf(err) != tc.want {
			t.Errorf("%s: Subscribe error %v, want code %v", tc.name, err, tc.want)
		}
	}
	m.SetError("app/denied", driver.NewError(driver.PermissionDenied, errors.New("denied")))
	if _, err := s.Subscribe(t.Context(), "app/denied", func(vaultly.Change) {}, nil); !errors.Is(err, vaultly.ErrPermissionDenied) {
		t.Errorf("Subscribe to a denied path: %v, want PermissionDenied", err)
	}
	s.Close()
	if _, err := s.Subscribe(t.Context(), "app/k", func(vaultly.Change) {}, nil); !errors.Is(err, vaultly.ErrCanceled) {
		t.Errorf("Subscribe after Close: %v, want Canceled", err)
	}
}

// TestSubscriberStopAndPanic: stop waits for the call in progress and
// drops what is queued; a panicking fn does not end the deliveries.
func TestSubscriberStopAndPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		m.SetValue("app/k", "v0")
		s := vaultly.New(m, &vaultly.Options{Logger: discard()})
		defer s.Close()
		var rec recorder
		calls := 0
		stop, err := s.Subscribe(t.Context(), "app/k", func(c vaultly.Change) {
			calls++
			if calls == 1 {
				panic("subscriber bug")
			}
			rec.add(c)
		}, &vaultly.ReadOptions{Watch: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		m.SetValue("app/k", "v1") // the notifier makes it poll now
		synctest.Wait()
		m.SetValue("app/k", "v2")
		synctest.Wait()
		if diff := cmp.Diff([]string{"updated 2->3 [value]"}, rec.got()); diff != "" {
			t.Errorf("changes after a panic in the first call (-want +got):\n%s", diff)
		}
		stop()
		stop() // twice is fine
		if w := s.Stats().Watches; w != 0 {
			t.Errorf("Watches after the only subscription stopped = %d, want 0", w)
		}
		m.SetValue("app/k", "v3")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := rec.got(); len(got) != 1 {
			t.Errorf("changes after stop = %q, want none more", got)
		}
	})
}

// TestWatchCloseStopsEverything: Close stops every poller and subscriber
// goroutine (synctest fails the test if any is left) and stop after Close
// returns at once.
func TestWatchCloseStopsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		for i := range 20 {
			m.SetValue(fmt.Sprintf("app/k%d", i), "v")
		}
		s := vaultly.New(polled{m}, &vaultly.Options{Watch: time.Second, Logger: discard()})
		var stops []func()
		for i := range 20 {
			mustGet(t, s, fmt.Sprintf("app/k%d", i))
			stop, err := s.Subscribe(t.Context(), fmt.Sprintf("app/k%d", i), func(vaultly.Change) {}, nil)
			if err != nil {
				t.Fatal(err)
			}
			stops = append(stops, stop)
		}
		time.Sleep(3 * time.Second)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if w := s.Stats().Watches; w != 0 {
			t.Errorf("Watches after Close = %d, want 0", w)
		}
		for _, stop := range stops {
			stop()
		}
	})
}

// TestChangePrintsNoValue: a Change shows kind, path, versions and field
// names in every printed form, never a value.
func TestChangePrintsNoValue(t *testing.T) {
	t.Parallel()
	e := &vaultly.Entry{Path: "app/db", Version: 2, Fields: map[string]string{"password": "hunter2-secret"}}
	old := &vaultly.Entry{Path: "app/db", Version: 1, Fields: map[string]string{"password": "old-secret"}}
	c := vaultly.NewChange(vaultly.ChangeUpdated, "app/db", 1, 2, []string{"password"}, e, old)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "change", c, "ptr", &c)
	j, _ := json.Marshal(map[string]any{"c": c, "p": &c})
	forms := []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q %x", c, c, c, c, c, c), fmt.Sprintf("%+v", &c), logs.String(), string(j)}
	for _, f := range forms {
		if strings.Contains(f, "secret") {
			t.Errorf("printed form shows a value: %s", f)
		}
	}
	if want := `vaultly.Change{updated "app/db" version 1->2 keys [password]}`; c.String() != want {
		t.Errorf("String() = %s, want %s", c.String(), want)
	}
	if c.Entry() != e || c.Previous() != old || (vaultly.Change{}).Entry() != nil {
		t.Errorf("Entry, Previous = %p, %p; want %p, %p", c.Entry(), c.Previous(), e, old)
	}
	if !c.Changed("password") || c.Changed("user") {
		t.Errorf("Changed(password), Changed(user) = %v, %v; want true, false", c.Changed("password"), c.Changed("user"))
	}
}

// TestFreshness: read time, last confirmation by a poll, stale since, watch
// state.
func TestFreshness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		m.SetValue("app/k", "v1")
		s := vaultly.New(polled{m}, &vaultly.Options{TTL: 10 * time.Second, StaleOnError: time.Hour, Logger: discard()})
		defer s.Close()
		if f, err := s.Freshness("app/k"); err != nil || f.Cached || f.Watched {
			t.Fatalf("Freshness before a read = %+v, %v; want not cached, not watched", f, err)
		}
		if _, err := s.Freshness("app/../k"); vaultly.CodeOf(err) != vaultly.InvalidArgument {
			t.Errorf("Freshness(bad ref) error %v, want InvalidArgument", err)
		}
		t0 := time.Now()
		if _, err := s.GetRef(t.Context(), vaultly.MustParseRef("app/k"), &vaultly.ReadOptions{Watch: 2 * time.Second}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		f, _ := s.Freshness("app/k")
		want := vaultly.Freshness{Path: "app/k", Cached: true, ReadAt: t0, EntryVersion: 1, Watched: true, Interval: 2 * time.Second}
		if diff := cmp.Diff(want, f, cmpopts.IgnoreFields(vaultly.Freshness{}, "ConfirmedAt", "LastPoll")); diff != "" {
			t.Errorf("Freshness after a watched read (-want +got):\n%s", diff)
		}
		if f.ConfirmedAt.Before(t0.Add(1500*time.Millisecond)) || f.LastPoll.IsZero() {
			t.Errorf("ConfirmedAt = %v, LastPoll = %v; want a confirmation by the poll 1.5..2 s after the read", f.ConfirmedAt.Sub(t0), f.LastPoll.Sub(t0))
		}
		if got := f.Age(time.Now()); got > 2*time.Second {
			t.Errorf("Age = %v, want at most one interval", got)
		}
		// The backend fails: after the TTL the entry is served stale, and
		// the watch's polls fail.
		m.SetError("", driver.NewError(driver.Unavailable, errors.New("down")))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		stale0 := time.Now()
		if _, err := s.GetRef(ctx, vaultly.MustParseRef("app/k"), &vaultly.ReadOptions{}); err != nil {
			t.Fatalf("Get while the backend is down: %v, want the stale value", err)
		}
		f, _ = s.Freshness("app/k")
		if f.StaleSince.Before(stale0) || f.PollFailures == 0 || vaultly.CodeOf(f.LastError) != vaultly.Unavailable {
			t.Errorf("Freshness while down: StaleSince %v (want >= %v), PollFailures %d, LastError %v", f.StaleSince, stale0, f.PollFailures, f.LastError)
		}
		h := s.Health(t.Context())
		if h.OK() || h.Stale != 1 || h.WatchesFailing != 1 || vaultly.CodeOf(h.Err()) != vaultly.Unavailable {
			t.Errorf("Health while down = %+v, err %v; want 1 stale, 1 failing watch, Unavailable", h, h.Err())
		}
		m.SetError("", nil)
		// The outage breaker's probe closes it within 0.5 s; a poll before
		// that still counts as failed (it sends nothing while the breaker is
		// open), and the next comes up to one interval (2 s) later: 3 s
		// covers both. (2 s failed once in CI: a poll just before the probe.)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if h := s.Health(t.Context()); !h.OK() || h.Err() != nil {
			t.Errorf("Health after recovery = %+v, want OK", h)
		}
	})
}

// TestWatchFile: a secrets file edited by hand is seen by a watching
// Store within one interval: the poll's read finds the file changed, the
// backend announces every changed path, and their watchers publish.
func TestWatchFile(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		file := dir + "/secrets.json"
		write := func(content string, at time.Time) {
			if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(file, at, at); err != nil {
				t.Fatal(err)
			}
		}
		base := time.Unix(1_700_000_000, 0)
		write(`{"app/a": "a1", "app/b": {"k": "b1"}}`, base)
		b, err := filesecrets.New(file, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := vaultly.New(b, &vaultly.Options{Watch: time.Second, TTL: vaultly.UntilRefreshed, Logger: discard()})
		defer s.Close()
		var ra, rb recorder
		for p, r := range map[string]*recorder{"app/a": &ra, "app/b": &rb} {
			stop, err := s.Subscribe(t.Context(), p, r.add, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
		}
		write(`{"app/a": "a2", "app/b": {"k": "b2"}}`, base.Add(time.Minute))
		time.Sleep(time.Second)
		synctest.Wait()
		if v := mustGet(t, s, "app/a"); v != "a2" {
			t.Errorf("Get(app/a) one interval after the edit = %q, want a2", v)
		}
		if v := mustGet(t, s, "app/b:k"); v != "b2" {
			t.Errorf("Get(app/b:k) one interval after the edit = %q, want b2", v)
		}
		if a, b := ra.got(), rb.got(); !cmp.Equal(a, []string{"updated 0->0 [value]"}) || !cmp.Equal(b, []string{"updated 0->0 [k]"}) {
			t.Errorf("changes: app/a %q, app/b %q; want one update each", a, b)
		}
	})
}

// TestLoadWatchTag: watch= on a Live field watches its entry, so the Live
// follows a rotation within the interval whatever the TTL; on a plain
// field or with version= it is a tag error found before any I/O.
func TestLoadWatchTag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		m.Set("app/db", map[string]any{"password": "pw-1"})
		s := vaultly.New(polled{m}, &vaultly.Options{TTL: vaultly.UntilRefreshed, Logger: discard()})
		defer s.Close()
		var cfg struct {
			Password vaultly.Live[string] `secret:"app/db:password,watch=2s"`
		}
		if err := s.Load(t.Context(), &cfg, nil); err != nil {
			t.Fatal(err)
		}
		if f, _ := s.Freshness("app/db"); !f.Watched || f.Interval != 2*time.Second {
			t.Errorf("after Load: Freshness = %+v, want watched every 2s", f)
		}
		m.Set("app/db", map[string]any{"password": "pw-2"})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if v, err := cfg.Password.Get(t.Context()); err != nil || v != "pw-2" {
			t.Errorf("Live.Get one interval after the rotation = %q, %v; want pw-2", v, err)
		}
	})
	m := memsecrets.New(nil)
	s := vaultly.New(m, nil)
	defer s.Close()
	bad := []struct {
		name string
		dst  any
	}{
		{"plain field", &struct {
			P string `secret:"app/db:password,watch=1s"`
		}{}},
		{"with version", &struct {
			P vaultly.Live[string] `secret:"app/db:password,version=2,watch=1s"`
		}{}},
		{"not a duration", &struct {
			P vaultly.Live[string] `secret:"app/db:password,watch=often"`
		}{}},
	}
	for _, tc := range bad {
		err := s.Load(t.Context(), tc.dst, nil)
		if !errors.Is(err, vaultly.ErrInvalidTagOption) {
			t.Errorf("%s: Load error %v, want ErrInvalidTagOption", tc.name, err)
		}
	}
	if n := len(m.Calls()); n != 0 {
		t.Errorf("backend calls for bad tags = %d, want 0", n)
	}
}

// TestDeletionNotServedToSubscriber: a subscriber that reads the entry
// when it hears of a deletion gets NotFound, never the deleted value from
// the cache (the cached entry is dropped before the change is published).
// Many rounds, since the two goroutines race.
func TestDeletionNotServedToSubscriber(t *testing.T) {
	for _, name := range []string{"by version", "by reading"} {
		t.Run(name, func(t *testing.T) { deletionNotServed(t, name == "by reading") })
	}
}

func deletionNotServed(t *testing.T, byReading bool) {
	synctest.Test(t, func(t *testing.T) {
		m := memsecrets.New(nil)
		var b driver.Backend = polled{m}
		if byReading {
			b = contentOnly{m}
		}
		s := vaultly.New(b, &vaultly.Options{TTL: vaultly.UntilRefreshed, Logger: discard(), KeepBackendOpen: true})
		defer s.Close()
		for round := range 500 {
			path := fmt.Sprintf("app/k%d", round)
			m.Set(path, map[string]any{"value": "v1"})
			if v := mustGet(t, s, path); v != "v1" {
				t.Fatalf("round %d: Get = %q, want v1", round, v)
			}
			got := make(chan error, 1)
			stop, err := s.Subscribe(t.Context(), path, func(c vaultly.Change) {
				if c.Kind == vaultly.ChangeDeleted {
					_, err := s.Get(context.Background(), path)
					got <- err
				}
			}, &vaultly.ReadOptions{Watch: vaultly.MinWatchInterval})
			if err != nil {
				t.Fatal(err)
			}
			m.DeleteVersion(path, 0)
			if err := <-got; !errors.Is(err, vaultly.ErrNotFound) {
				t.Fatalf("round %d: Get on hearing of the deletion = %v, want NotFound (not the deleted value)", round, err)
			}
			if _, err := s.Get(t.Context(), path); !errors.Is(err, vaultly.ErrNotFound) {
				t.Fatalf("round %d: Get after the deletion = %v, want NotFound", round, err)
			}
			stop()
		}
	})
}
