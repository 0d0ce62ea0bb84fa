package vaultly_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/retry"
)

// slowAfterRead is a memsecrets backend (hidden behind driver.Backend, so
// that its changes are not announced to the Store) whose next held read
// returns what it read only when released: it plays a slow network answer
// that was read on the server before a rotation.
type slowAfterRead struct {
	*memsecrets.Backend
	mu      sync.Mutex
	hold    map[string]bool          // path -> hold its next read
	read    map[string]chan struct{} // closed once the held read has read
	release map[string]chan struct{} // close to let the held read return
}

func newSlowAfterRead() *slowAfterRead {
	return &slowAfterRead{Backend: memsecrets.New(nil), hold: map[string]bool{},
		read: map[string]chan struct{}{}, release: map[string]chan struct{}{}}
}

// holdNext makes the next read of path wait after reading; it returns a
// channel closed when that read has read, and a function that releases it.
func (b *slowAfterRead) holdNext(path string) (read <-chan struct{}, release func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hold[path] = true
	b.read[path] = make(chan struct{})
	b.release[path] = make(chan struct{})
	rel := b.release[path]
	return b.read[path], sync.OnceFunc(func() { close(rel) })
}

func (b *slowAfterRead) Read(ctx context.Context, path string, version int) (*driver.Entry, error) {
	e, err := b.Backend.Read(ctx, path, version)
	b.mu.Lock()
	held := b.hold[path]
	delete(b.hold, path)
	read, rel := b.read[path], b.release[path]
	b.mu.Unlock()
	if held {
		close(read)
		<-rel
	}
	return e, err
}

// Only Read, Name and Close: no Writer, no ChangeNotifier.
type readOnly struct{ b *slowAfterRead }

func (r readOnly) Read(ctx context.Context, path string, version int) (*driver.Entry, error) {
	return r.b.Read(ctx, path, version)
}
func (r readOnly) Name() string { return r.b.Name() }
func (r readOnly) Close() error { return nil }

// TestStoreRefreshAfterRotation: a Refresh made right after a rotation
// returns (through Get) and caches the new value although an older, slow
// read of the same entry is still in flight; that older read, when it
// ends, does not overwrite the newer value.
func TestStoreRefreshAfterRotation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newSlowAfterRead()
		b.SetValue("app/token", "v1")
		s := vaultly.New(readOnly{b}, &vaultly.Options{TTL: vaultly.UntilRefreshed, Retry: noRetry})
		defer s.Close()
		ctx := t.Context()

		read, release := b.holdNext("app/token")
		defer release()
		var oldGot string
		var oldErr error
		oldDone := make(chan struct{})
		go func() { oldGot, oldErr = s.Get(ctx, "app/token"); close(oldDone) }()
		<-read // the old read has read v1 and is slow to answer

		b.SetValue("app/token", "v2") // the rotation
		refreshDone := make(chan error, 1)
		go func() { refreshDone <- s.Refresh(ctx, "app/token") }()
		synctest.Wait()
		select {
		case err := <-refreshDone:
			if err != nil {
				t.Fatalf("Refresh after rotation: %v", err)
			}
		default:
			t.Fatal("Refresh after rotation waits for a read that began before it (it joined the older flight)")
		}
		if got, err := s.Get(ctx, "app/token"); err != nil || got != "v2" {
			t.Errorf("Get after Refresh = %q, %v; want %q", got, err, "v2")
		}

		release()
		<-oldDone
		if oldErr != nil || oldGot != "v1" {
			t.Errorf("the older reader got %q, %v; want %q (what its read saw)", oldGot, oldErr, "v1")
		}
		synctest.Wait()
		if got, err := s.Get(ctx, "app/token"); err != nil || got != "v2" {
			t.Errorf("Get after the older read ended = %q, %v; want %q (an older read must not overwrite a newer one)", got, err, "v2")
		}
		if got, want := b.CallCount(memsecrets.OpRead, "app/token"), 2; got != want {
			t.Errorf("backend reads = %d, want %d", got, want)
		}
	})
}

// TestStoreInvalidateSparesOtherFlights: invalidating one path does not
// stop a read of another path, in flight at the same time, from being
// cached.
func TestStoreInvalidateSparesOtherFlights(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newSlowAfterRead()
		b.SetValue("app/a", "a1")
		b.SetValue("app/b", "b1")
		s := vaultly.New(readOnly{b}, &vaultly.Options{TTL: vaultly.UntilRefreshed, Retry: noRetry})
		defer s.Close()
		ctx := t.Context()

		read, release := b.holdNext("app/b")
		done := make(chan struct{})
		go func() { _, _ = s.Get(ctx, "app/b"); close(done) }()
		<-read
		s.Invalidate("app/a")
		release()
		<-done
		if got, err := s.Get(ctx, "app/b"); err != nil || got != "b1" {
			t.Fatalf("Get(app/b) = %q, %v; want %q", got, err, "b1")
		}
		if got := b.CallCount(memsecrets.OpRead, "app/b"); got != 1 {
			t.Errorf("backend reads of app/b = %d, want 1 (the read in flight during Invalidate(app/a) is cached)", got)
		}
	})
}

// TestStoreInvalidateDropsOlderFlight: a read that began before an
// invalidation of its path is neither joined by later readers nor cached.
func TestStoreInvalidateDropsOlderFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newSlowAfterRead()
		b.SetValue("app/a", "a1")
		s := vaultly.New(readOnly{b}, &vaultly.Options{TTL: vaultly.UntilRefreshed, Retry: noRetry})
		defer s.Close()
		ctx := t.Context()

		read, release := b.holdNext("app/a")
		defer release()
		oldDone := make(chan struct{})
		go func() { _, _ = s.Get(ctx, "app/a"); close(oldDone) }()
		<-read
		b.SetValue("app/a", "a2")
		s.Invalidate("app/a")
		if got, err := s.Get(ctx, "app/a"); err != nil || got != "a2" {
			t.Errorf("Get after Invalidate = %q, %v; want %q", got, err, "a2")
		}
		release()
		<-oldDone
		synctest.Wait()
		if got, err := s.Get(ctx, "app/a"); err != nil || got != "a2" {
			t.Errorf("Get after the older read ended = %q, %v; want %q", got, err, "a2")
		}
	})
}

// TestStoreStatsEntries: Entries counts cached entries, not the places
// made for paths that were not found or that failed.
func TestStoreStatsEntries(t *testing.T) {
	t.Parallel()
	mem := memsecrets.New(nil)
	mem.SetValue("app/a", "a")
	mem.SetValue("app/b", "b")
	mem.SetError("app/down", driver.NewError(driver.Unavailable, nil))
	s := stNew(t, mem, &vaultly.Options{Retry: noRetry})
	ctx := t.Context()
	steps := []struct {
		ref  string
		want int
	}{
		{"app/a", 1},
		{"app/missing", 1},
		{"app/a:nokey", 1},
		{"app/down", 1},
		{"app/b", 2},
		{"app/b", 2},
	}
	for _, st := range steps {
		_, _ = s.Get(ctx, st.ref)
		if got := s.Stats().Entries; got != st.want {
			t.Errorf("after Get(%q): Stats().Entries = %d, want %d", st.ref, got, st.want)
		}
	}
	s.Invalidate("app/a")
	if got := s.Stats().Entries; got != 1 {
		t.Errorf("after Invalidate(app/a): Stats().Entries = %d, want 1", got)
	}
}

// TestStoreRetryHookPanics: a retry hook that panics on a Store goroutine,
// where no caller could recover it, is recovered and logged as a warning,
// and the read goes on.
func TestStoreRetryHookPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy retry.Policy
		hook   string
	}{
		{"OnRetry", retry.Policy{MaxAttempts: 3, OnRetry: func(int, error, time.Duration) { panic("hook bug") }}, "OnRetry"},
		{"Retryable", retry.Policy{MaxAttempts: 3, Retryable: func(error) bool { panic("hook bug") }}, "Retryable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				mem := memsecrets.New(nil)
				mem.SetValue("app/a", "v")
				mem.FailNext(1, driver.NewError(driver.Unavailable, nil))
				var logs bytes.Buffer
				s := vaultly.New(mem, &vaultly.Options{Retry: &tc.policy, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
				defer s.Close()
				if got, err := s.Get(t.Context(), "app/a"); err != nil || got != "v" {
					t.Errorf("Get = %q, %v; want %q after one retry", got, err, "v")
				}
				if want := "level=WARN msg=\"vaultly: recovered a panic in retry.Policy." + tc.hook + "\""; !strings.Contains(logs.String(), want) {
					t.Errorf("log = %q, want it to contain %q", logs.String(), want)
				}
			})
		})
	}
}
