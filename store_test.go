package vaultly_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/retry"
)

// stPlain hides every optional interface of a backend, so that changes made
// with memsecrets.Set are not announced to the Store.
type stPlain struct{ driver.Backend }

// quiet is the logger of tests that do not look at logs.
var quiet = slog.New(slog.DiscardHandler)

func stNew(t *testing.T, b driver.Backend, opts *vaultly.Options) *vaultly.Store {
	t.Helper()
	o := vaultly.Options{Logger: quiet}
	if opts != nil {
		o = *opts
		if o.Logger == nil {
			o.Logger = quiet
		}
	}
	s := vaultly.New(b, &o)
	t.Cleanup(func() { s.Close() })
	return s
}

func stReads(b *memsecrets.Backend) int {
	n := 0
	for _, c := range b.Calls() {
		if c.Op == memsecrets.OpRead {
			n++
		}
	}
	return n
}

var noRetry = &retry.Policy{MaxAttempts: 1}

func TestStoreGet(t *testing.T) {
	t.Parallel()
	b := memsecrets.New(nil)
	b.Set("myapp/db", map[string]any{"username": "app", "password": "hunter2", "port": 5432, "value": "dflt"})
	b.Set("myapp/db", map[string]any{"username": "app2", "password": "hunter3"})
	s := stNew(t, b, &vaultly.Options{Retry: noRetry})

	tests := []struct {
		ref      string
		want     string
		wantCode vaultly.Code
		wantMsg  string // substring of the error
	}{
		{ref: "myapp/db:password", want: "hunter3"},
		{ref: "/myapp/db:username", want: "app2"},
		{ref: "vault://myapp/db:password", want: "hunter3"},
		{ref: "vault://myapp/db:password?version=1", want: "hunter2"},
		{ref: "vault://myapp/db:port?version=1", want: "5432"},
		{ref: "vault://myapp/db?version=1", want: "dflt"},
		{ref: "myapp/db", wantCode: vaultly.NotFound, wantMsg: `no key "value"`},
		{ref: "myapp/db:nope", wantCode: vaultly.NotFound, wantMsg: `no key "nope"`},
		{ref: "myapp/missing:password", wantCode: vaultly.NotFound, wantMsg: "myapp/missing:password"},
		{ref: "vault://myapp/db:password?version=9", wantCode: vaultly.NotFound},
		{ref: "", wantCode: vaultly.InvalidArgument},
		{ref: "myapp/../etc:x", wantCode: vaultly.InvalidArgument, wantMsg: "myapp/../etc:x"},
		{ref: "myapp//db:x", wantCode: vaultly.InvalidArgument},
		{ref: "myapp/db:", wantCode: vaultly.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			got, err := s.Get(t.Context(), tc.ref)
			if tc.wantCode == vaultly.OK {
				if err != nil || got != tc.want {
					t.Fatalf("Get(%q) = %q, %v; want %q, nil", tc.ref, got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Get(%q) = %q, nil; want error with code %v", tc.ref, got, tc.wantCode)
			}
			if got != "" {
				t.Errorf("Get(%q) value = %q on error, want empty", tc.ref, got)
			}
			if c := vaultly.CodeOf(err); c != tc.wantCode {
				t.Errorf("CodeOf(Get(%q)) = %v (%v), want %v", tc.ref, c, err, tc.wantCode)
			}
			var ve *vaultly.Error
			if !errors.As(err, &ve) {
				t.Fatalf("Get(%q) error %T is not *vaultly.Error", tc.ref, err)
			}
			if ve.Backend != "memory" {
				t.Errorf("Get(%q) error Backend = %q, want %q", tc.ref, ve.Backend, "memory")
			}
			if errors.As(ve.Err, new(*vaultly.Error)) {
				t.Errorf("Get(%q) error wraps a *vaultly.Error twice: %v", tc.ref, err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Get(%q) error = %q, want it to contain %q", tc.ref, err, tc.wantMsg)
			}
			for _, secret := range []string{"hunter2", "hunter3"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Get(%q) error %q contains a secret value", tc.ref, err)
				}
			}
		})
	}
}

func TestStoreOneReadPerEntry(t *testing.T) {
	t.Parallel()
	b := memsecrets.New(nil)
	b.Set("myapp/db", map[string]any{"username": "app", "password": "pw"})
	s := stNew(t, b, nil)
	for _, ref := range []string{"myapp/db:username", "/myapp/db:password", "vault://myapp/db:username", "myapp/db:password"} {
		if _, err := s.Get(t.Context(), ref); err != nil {
			t.Fatalf("Get(%q): %v", ref, err)
		}
	}
	if got := stReads(b); got != 1 {
		t.Errorf("backend reads for 4 keys of one entry = %d, want 1", got)
	}
	st := s.Stats()
	if st.Hits != 3 || st.Misses != 1 || st.BackendCalls != 1 || st.Entries != 1 {
		t.Errorf("Stats() = %+v, want 3 hits, 1 miss, 1 backend call, 1 entry", st)
	}
}

type stKeyed struct {
	*memsecrets.Backend
	key string
}

func (k stKeyed) DefaultKey() string { return k.key }

func TestStoreDefaultKey(t *testing.T) {
	t.Parallel()
	b := memsecrets.New(nil)
	b.Set("p", map[string]any{"value": "v", "data": "d", "custom": "c"})
	tests := []struct {
		name    string
		backend driver.Backend
		opts    *vaultly.Options
		wantKey string
		want    string
	}{
		{"default", b, nil, "value", "v"},
		{"backend DefaultKeyer", stKeyed{b, "data"}, nil, "data", "d"},
		{"option wins", stKeyed{b, "data"}, &vaultly.Options{DefaultKey: "custom"}, "custom", "c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := stNew(t, tc.backend, tc.opts)
			if got := s.DefaultKey(); got != tc.wantKey {
				t.Errorf("DefaultKey() = %q, want %q", got, tc.wantKey)
			}
			if got, err := s.Get(t.Context(), "p"); err != nil || got != tc.want {
				t.Errorf("Get(%q) = %q, %v; want %q", "p", got, err, tc.want)
			}
			if got, err := s.GetRef(t.Context(), vaultly.Ref{Path: "p"}, nil); err != nil || got != tc.want {
				t.Errorf("GetRef(p) = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestStoreTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		ttl       time.Duration // Options.TTL
		readTTL   time.Duration // ReadOptions.TTL
		after     time.Duration // time between two reads
		wantReads int
	}{
		{"default ttl fresh", 0, 0, 4*time.Minute + 59*time.Second, 1},
		{"default ttl expired", 0, 0, 5 * time.Minute, 2},
		{"ttl fresh", time.Minute, 0, 59 * time.Second, 1},
		{"ttl expired", time.Minute, 0, time.Minute, 2},
		{"no cache", vaultly.NoCache, 0, 0, 2},
		{"until refreshed", vaultly.UntilRefreshed, 0, 1000 * time.Hour, 1},
		{"read override shorter", time.Hour, 10 * time.Second, 11 * time.Second, 2},
		{"read override longer", time.Second, time.Hour, time.Minute, 1},
		{"read override no cache", time.Hour, vaultly.NoCache, 0, 2},
		{"read override until refreshed", time.Second, vaultly.UntilRefreshed, 1000 * time.Hour, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := memsecrets.New(nil)
				b.SetValue("app/k", "v")
				s := vaultly.New(b, &vaultly.Options{TTL: tc.ttl, RefreshAhead: -1})
				defer s.Close()
				ref := vaultly.MustParseRef("app/k")
				o := &vaultly.ReadOptions{TTL: tc.readTTL}
				for i := range 2 {
					if i == 1 {
						time.Sleep(tc.after)
						synctest.Wait() // expiry timers run
					}
					if got, err := s.GetRef(t.Context(), ref, o); err != nil || got != "v" {
						t.Fatalf("read %d: GetRef = %q, %v; want %q", i, got, err, "v")
					}
				}
				if got := stReads(b); got != tc.wantReads {
					t.Errorf("backend reads = %d, want %d", got, tc.wantReads)
				}
				// Get uses the Store's TTL: same outcome when there is no per-read override.
				if tc.readTTL == 0 {
					b.ResetCalls()
					s2 := vaultly.New(b, &vaultly.Options{TTL: tc.ttl, RefreshAhead: -1})
					defer s2.Close()
					for i := range 2 {
						if i == 1 {
							time.Sleep(tc.after)
							synctest.Wait()
						}
						if _, err := s2.Get(t.Context(), "app/k"); err != nil {
							t.Fatal(err)
						}
					}
					if got := stReads(b); got != tc.wantReads {
						t.Errorf("Get: backend reads = %d, want %d", got, tc.wantReads)
					}
				}
			})
		})
	}
}

// TestStoreSingleFlight: 100 goroutines on one cold key make one backend call.
func TestStoreSingleFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetValue("cold", "v")
		b.SetHook(func(ctx context.Context, c memsecrets.Call) error {
			time.Sleep(50 * time.Millisecond) // a slow backend
			return nil
		})
		s := vaultly.New(b, nil)
		defer s.Close()
		var wg sync.WaitGroup
		errs := make([]error, 100)
		for i := range 100 {
			wg.Go(func() {
				got, err := s.Get(t.Context(), "cold")
				if err == nil && got != "v" {
					err = fmt.Errorf("got %q, want %q", got, "v")
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		if got := stReads(b); got != 1 {
			t.Errorf("backend reads for 100 goroutines on a cold key = %d, want 1", got)
		}
	})
}

// TestStoreSingleFlightRealTime is the same without a fake clock: the
// backend blocks until every goroutine has asked.
func TestStoreSingleFlightRealTime(t *testing.T) {
	t.Parallel()
	b := memsecrets.New(nil)
	b.SetValue("cold", "v")
	release := make(chan struct{})
	b.SetHook(func(ctx context.Context, c memsecrets.Call) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	s := stNew(t, b, nil)
	var started, wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		started.Add(1)
		wg.Go(func() {
			started.Done()
			if got, err := s.Get(t.Context(), "cold"); err != nil || got != "v" {
				errs <- fmt.Errorf("Get = %q, %v", got, err)
			}
		})
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // let them all reach the flight; more wait only makes it stricter
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := stReads(b); got != 1 {
		t.Errorf("backend reads = %d, want 1", got)
	}
}

// TestStoreCancelledCaller: a caller whose context is cancelled returns at
// once; the fetch goes on for the other waiters.
func TestStoreCancelledCaller(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetValue("k", "v")
		var backendCtxErr error
		b.SetHook(func(ctx context.Context, c memsecrets.Call) error {
			time.Sleep(time.Second)
			backendCtxErr = ctx.Err()
			return nil
		})
		s := vaultly.New(b, nil)
		defer s.Close()

		ctx1, cancel1 := context.WithCancel(t.Context())
		var err1, err2 error
		var got2 string
		done1 := make(chan struct{})
		go func() { _, err1 = s.Get(ctx1, "k"); close(done1) }()
		done2 := make(chan struct{})
		go func() { got2, err2 = s.Get(t.Context(), "k"); close(done2) }()
		synctest.Wait()
		start := time.Now()
		cancel1()
		<-done1
		if d := time.Since(start); d != 0 {
			t.Errorf("cancelled caller returned after %v, want at once", d)
		}
		if vaultly.CodeOf(err1) != vaultly.Canceled || !errors.Is(err1, context.Canceled) {
			t.Errorf("cancelled caller error = %v (code %v), want Canceled wrapping context.Canceled", err1, vaultly.CodeOf(err1))
		}
		<-done2
		if err2 != nil || got2 != "v" {
			t.Errorf("other waiter Get = %q, %v; want %q, nil", got2, err2, "v")
		}
		if backendCtxErr != nil {
			t.Errorf("backend context error = %v, want nil (detached from the cancelled caller)", backendCtxErr)
		}
		if got := stReads(b); got != 1 {
			t.Errorf("backend reads = %d, want 1", got)
		}
		// The fetched value was cached for everyone.
		if _, err := s.Get(t.Context(), "k"); err != nil || stReads(b) != 1 {
			t.Errorf("after the flight: Get err %v, backend reads %d; want cached", err, stReads(b))
		}
	})
}

func TestStoreRefreshAhead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := memsecrets.New(nil)
		mem.SetValue("k", "v1")
		s := vaultly.New(stPlain{mem}, &vaultly.Options{TTL: 100 * time.Second, RefreshAhead: 0.5})
		defer s.Close()
		get := func() string {
			t.Helper()
			v, err := s.Get(t.Context(), "k")
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			return v
		}
		get()
		mem.SetValue("k", "v2")      // not announced: only a refresh can see it
		time.Sleep(39 * time.Second) // before the earliest refresh point (50s − 20% jitter)
		if v := get(); v != "v1" {
			t.Fatalf("at 39s Get = %q, want cached %q", v, "v1")
		}
		synctest.Wait()
		if got := stReads(mem); got != 1 {
			t.Fatalf("at 39s backend reads = %d, want 1 (no refresh yet)", got)
		}
		time.Sleep(11 * time.Second) // 50s: past every entry's refresh point, still fresh
		if v := get(); v != "v1" {
			t.Errorf("at 50s Get = %q, want the cached %q at once", v, "v1")
		}
		synctest.Wait() // the background refresh completes
		if got := stReads(mem); got != 2 {
			t.Errorf("after refresh-ahead backend reads = %d, want 2", got)
		}
		if v := get(); v != "v2" {
			t.Errorf("after refresh-ahead Get = %q, want %q", v, "v2")
		}
		if st := s.Stats(); st.Refreshes != 1 || st.Misses != 1 {
			t.Errorf("Stats() = %+v, want 1 refresh and 1 miss", st)
		}
	})
}

func TestStoreRefreshAheadDisabled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := memsecrets.New(nil)
		mem.SetValue("k", "v1")
		s := vaultly.New(mem, &vaultly.Options{TTL: 100 * time.Second, RefreshAhead: -1})
		defer s.Close()
		s.Get(t.Context(), "k")
		time.Sleep(99 * time.Second)
		s.Get(t.Context(), "k")
		synctest.Wait()
		if got := stReads(mem); got != 1 {
			t.Errorf("backend reads = %d, want 1 with refresh-ahead disabled", got)
		}
	})
}

func TestStoreStaleOnError(t *testing.T) {
	t.Parallel()
	unavailable := driver.NewError(driver.Unavailable, errors.New("sealed"))
	notFound := driver.NewError(driver.NotFound, errors.New("gone"))
	denied := driver.NewError(driver.PermissionDenied, errors.New("policy"))
	tests := []struct {
		name      string
		stale     time.Duration
		err       error
		after     time.Duration // since the first fetch; TTL is 10s
		wantValue string
		wantCode  vaultly.Code
	}{
		{"off", 0, unavailable, 11 * time.Second, "", vaultly.Unavailable},
		{"within max age", 30 * time.Second, unavailable, 39 * time.Second, "v", vaultly.OK},
		{"past max age", 30 * time.Second, unavailable, 40 * time.Second, "", vaultly.Unavailable},
		{"rate limited", 30 * time.Second, driver.NewError(driver.ResourceExhausted, nil), 20 * time.Second, "v", vaultly.OK},
		{"not found is never stale", 30 * time.Second, notFound, 11 * time.Second, "", vaultly.NotFound},
		{"permission denied is never stale", 30 * time.Second, denied, 11 * time.Second, "", vaultly.PermissionDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs bytes.Buffer
				mem := memsecrets.New(nil)
				mem.SetValue("k", "v")
				s := vaultly.New(mem, &vaultly.Options{
					TTL: 10 * time.Second, StaleOnError: tc.stale, Retry: noRetry, RefreshAhead: -1,
					Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				})
				defer s.Close()
				if _, err := s.Get(t.Context(), "k"); err != nil {
					t.Fatal(err)
				}
				mem.SetError("k", tc.err)
				time.Sleep(tc.after)
				got, err := s.Get(t.Context(), "k")
				if got != tc.wantValue || vaultly.CodeOf(err) != tc.wantCode {
					t.Errorf("Get after %v = %q, %v; want %q with code %v", tc.after, got, err, tc.wantValue, tc.wantCode)
				}
				wantStale := uint64(0)
				if tc.wantCode == vaultly.OK {
					wantStale = 1
				}
				if st := s.Stats(); st.StaleServes != wantStale || st.Errors != 1 {
					t.Errorf("Stats() = %+v, want %d stale serves, 1 error", st, wantStale)
				}
				if strings.Contains(logs.String(), `"v"`) || !strings.Contains(logs.String(), `"path":"k"`) {
					t.Errorf("logs = %s; want the path and never the value", logs.String())
				}
			})
		})
	}
}

func TestStoreRetry(t *testing.T) {
	t.Parallel()
	unavailable := driver.NewError(driver.Unavailable, errors.New("503"))
	tests := []struct {
		name      string
		failN     int
		err       error
		policy    *retry.Policy
		wantCalls int
		wantCode  vaultly.Code
	}{
		{"transient then ok", 2, unavailable, nil, 3, vaultly.OK},
		{"default retries past 4 attempts", 10, unavailable, nil, 11, vaultly.OK},
		{"attempts exhausted", 10, unavailable, &retry.Policy{MaxAttempts: 4}, 4, vaultly.Unavailable},
		{"max attempts option", 10, unavailable, &retry.Policy{MaxAttempts: 2}, 2, vaultly.Unavailable},
		{"rate limited", 1, driver.NewError(driver.ResourceExhausted, nil), nil, 2, vaultly.OK},
		{"not found not retried", 10, driver.NewError(driver.NotFound, nil), nil, 1, vaultly.NotFound},
		{"permission denied not retried", 10, driver.NewError(driver.PermissionDenied, nil), nil, 1, vaultly.PermissionDenied},
		{"unclassified not retried", 10, errors.New("boom"), nil, 1, vaultly.Unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mem := memsecrets.New(nil)
				mem.SetValue("k", "v")
				mem.FailNext(tc.failN, tc.err)
				var hooked int
				p := tc.policy
				if p == nil {
					p = &retry.Policy{}
				}
				p.OnRetry = func(int, error, time.Duration) { hooked++ }
				// The retry of one entry alone: the outage breaker, which
				// replaces retries by shared probes, is tested in outage_test.go.
				s := vaultly.New(mem, &vaultly.Options{Retry: p, Outage: &vaultly.OutagePolicy{Threshold: -1}})
				defer s.Close()
				_, err := s.Get(t.Context(), "k")
				if c := vaultly.CodeOf(err); c != tc.wantCode {
					t.Errorf("Get error = %v (code %v), want code %v", err, c, tc.wantCode)
				}
				if got := stReads(mem); got != tc.wantCalls {
					t.Errorf("backend reads = %d, want %d", got, tc.wantCalls)
				}
				st := s.Stats()
				if st.BackendCalls != uint64(tc.wantCalls) || st.Retries != uint64(tc.wantCalls-1) || hooked != tc.wantCalls-1 {
					t.Errorf("Stats() = %+v, OnRetry calls %d; want %d backend calls, %d retries", st, hooked, tc.wantCalls, tc.wantCalls-1)
				}
			})
		})
	}
}

func TestStoreErrorWrappedOnce(t *testing.T) {
	t.Parallel()
	cause := errors.New("upstream said no")
	mem := memsecrets.New(nil)
	mem.SetError("k", &driver.Error{Code: driver.PermissionDenied, Err: cause, Hint: "check the policy"})
	s := stNew(t, mem, nil)
	_, err := s.Get(t.Context(), "k:password")
	var ve *vaultly.Error
	if !errors.As(err, &ve) {
		t.Fatalf("Get error = %T %v, want *vaultly.Error", err, err)
	}
	type fields struct {
		Op, Ref, Backend, Hint string
		Code                   vaultly.Code
		CauseIsOriginal        bool
	}
	got := fields{ve.Op, ve.Ref, ve.Backend, ve.Hint, ve.Code, ve.Err == cause}
	want := fields{"get", "k:password", "memory", "check the policy", vaultly.PermissionDenied, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get error mismatch (-want +got):\n%s", diff)
	}
	if !errors.Is(err, vaultly.ErrPermissionDenied) || !errors.Is(err, cause) {
		t.Errorf("errors.Is(err, ErrPermissionDenied / cause) = false for %v", err)
	}
	if got, want := err.Error(), "vaultly: get k:password (memory): permission denied: upstream said no (check the policy)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestStoreInvalidateAndChanges(t *testing.T) {
	t.Parallel()
	mem := memsecrets.New(nil)
	mem.Set("app/db", map[string]any{"password": "one"})
	s := stNew(t, mem, &vaultly.Options{TTL: vaultly.UntilRefreshed})
	ctx := t.Context()
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"first read", func() error { return nil }, "one"},
		{"backend change announced", func() error { mem.Set("/app/db", map[string]any{"password": "two"}); return nil }, "two"},
		{"Put writes through", func() error { return s.Put(ctx, "app/db", map[string]any{"password": "three"}) }, "three"},
		{"Invalidate", func() error {
			mem.Set("app/db", map[string]any{"password": "four"})
			s.Invalidate("/app/db")
			return nil
		}, "four"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got, err := s.Get(ctx, "app/db:password"); err != nil || got != st.want {
			t.Errorf("%s: Get = %q, %v; want %q", st.name, got, err, st.want)
		}
	}
	if err := s.Delete(ctx, "app/db"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "app/db:password"); !errors.Is(err, vaultly.ErrNotFound) {
		t.Errorf("Get after Delete error = %v, want NotFound", err)
	}
	names, err := s.List(ctx, "/")
	if err != nil || len(names) != 0 {
		t.Errorf("List(/) after Delete = %v, %v; want empty", names, err)
	}
	// A backend that cannot write.
	ro := stNew(t, stPlain{mem}, nil)
	if err := ro.Put(ctx, "x", map[string]any{"a": "b"}); vaultly.CodeOf(err) != vaultly.InvalidArgument {
		t.Errorf("Put on a read-only backend error = %v, want InvalidArgument", err)
	}
	if _, err := ro.List(ctx, "x"); vaultly.CodeOf(err) != vaultly.InvalidArgument {
		t.Errorf("List on a backend without listing error = %v, want InvalidArgument", err)
	}
	if err := s.Put(ctx, "../x", nil); vaultly.CodeOf(err) != vaultly.InvalidArgument {
		t.Errorf("Put(../x) error = %v, want InvalidArgument", err)
	}
}

func TestStoreRefresh(t *testing.T) {
	t.Parallel()
	mem := memsecrets.New(nil)
	mem.SetValue("a", "a1")
	mem.SetValue("b", "b1")
	s := stNew(t, stPlain{mem}, &vaultly.Options{TTL: vaultly.UntilRefreshed, Retry: noRetry})
	ctx := t.Context()
	for _, r := range []string{"a", "b"} {
		if _, err := s.Get(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	mem.SetValue("a", "a2")
	mem.SetValue("b", "b2")
	if err := s.Refresh(ctx, "a:value"); err != nil {
		t.Fatalf("Refresh(a): %v", err)
	}
	check := func(when string, want map[string]string) {
		t.Helper()
		for r, w := range want {
			if got, err := s.Get(ctx, r); err != nil || got != w {
				t.Errorf("%s: Get(%q) = %q, %v; want %q", when, r, got, err, w)
			}
		}
	}
	check("after Refresh(a)", map[string]string{"a": "a2", "b": "b1"})
	if err := s.RefreshAll(ctx); err != nil {
		t.Fatalf("RefreshAll: %v", err)
	}
	check("after RefreshAll", map[string]string{"a": "a2", "b": "b2"})

	// A failed refresh keeps the cached value and reports the error.
	mem.SetValue("a", "a3")
	mem.SetError("a", driver.NewError(driver.Unavailable, nil))
	if err := s.Refresh(ctx, "a"); vaultly.CodeOf(err) != vaultly.Unavailable {
		t.Errorf("failing Refresh error = %v, want Unavailable", err)
	}
	err := s.RefreshAll(ctx)
	if vaultly.CodeOf(err) != vaultly.Unavailable || !strings.Contains(fmt.Sprint(err), "refresh a ") {
		t.Errorf("failing RefreshAll error = %v, want Unavailable naming a", err)
	}
	check("after failed refreshes", map[string]string{"a": "a2", "b": "b2"})
	if err := s.Refresh(ctx, "a/../b"); vaultly.CodeOf(err) != vaultly.InvalidArgument {
		t.Errorf("Refresh(bad ref) error = %v, want InvalidArgument", err)
	}
}

func TestStoreEntry(t *testing.T) {
	t.Parallel()
	mem := memsecrets.New(nil)
	mem.Set("db", map[string]any{"u": "x", "n": 1})
	mem.Set("db", map[string]any{"u": "y"})
	s := stNew(t, mem, nil)
	tests := []struct {
		path     string
		version  int
		want     map[string]string
		wantCode vaultly.Code
	}{
		{"db", 0, map[string]string{"u": "y"}, vaultly.OK},
		{"/db", 1, map[string]string{"u": "x", "n": "1"}, vaultly.OK},
		{"db", 3, nil, vaultly.NotFound},
		{"nope", 0, nil, vaultly.NotFound},
		{"a//b", 0, nil, vaultly.InvalidArgument},
		{"db", -1, nil, vaultly.InvalidArgument},
	}
	for _, tc := range tests {
		e, err := s.Entry(t.Context(), tc.path, tc.version, nil)
		if vaultly.CodeOf(err) != tc.wantCode {
			t.Errorf("Entry(%q, %d) error = %v, want code %v", tc.path, tc.version, err, tc.wantCode)
			continue
		}
		if err == nil && !cmp.Equal(e.Fields, tc.want) {
			t.Errorf("Entry(%q, %d).Fields = %v, want %v", tc.path, tc.version, e.Fields, tc.want)
		}
	}
}

// TestStoreEviction: the Store keeps MaxEntries by a background sweep,
// which has run within a second (on the fake clock).
func TestStoreEviction(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testStoreEviction)
}

func testStoreEviction(t *testing.T) {
	mem := memsecrets.New(nil)
	for i := range 50 {
		mem.SetValue(fmt.Sprint("k", i), fmt.Sprint("v", i))
	}
	s := stNew(t, mem, &vaultly.Options{MaxEntries: 10})
	for i := range 50 {
		if got, err := s.Get(t.Context(), fmt.Sprint("k", i)); err != nil || got != fmt.Sprint("v", i) {
			t.Fatalf("Get(k%d) = %q, %v", i, got, err)
		}
		time.Sleep(time.Second) // the sweeper looks at least once a second
		synctest.Wait()
		if n := s.Stats().Entries; n > 10 {
			t.Fatalf("after %d reads Entries = %d, want <= 10", i+1, n)
		}
	}
	if st := s.Stats(); st.Evictions < 40 {
		t.Errorf("Stats().Evictions = %d, want >= 40", st.Evictions)
	}
	mem.ResetCalls()
	if got, err := s.Get(t.Context(), "k49"); err != nil || got != "v49" || stReads(mem) != 0 {
		t.Errorf("Get(last added k49) = %q, %v with %d backend reads; want v49 from the cache", got, err, stReads(mem))
	}
	if got, err := s.Get(t.Context(), "k0"); err != nil || got != "v0" || stReads(mem) != 1 {
		t.Errorf("Get(evicted k0) = %q, %v with %d backend reads; want v0 after 1 read", got, err, stReads(mem))
	}
}

// TestStoreEvictionKeepsHotEntries: an entry read between every insertion
// survives the sweeps (second chance); entries read once do not.
func TestStoreEvictionKeepsHotEntries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testStoreEvictionKeepsHotEntries)
}

func testStoreEvictionKeepsHotEntries(t *testing.T) {
	mem := memsecrets.New(nil)
	mem.SetValue("hot", "h")
	for i := range 100 {
		mem.SetValue(fmt.Sprint("cold", i), "c")
	}
	s := stNew(t, mem, &vaultly.Options{MaxEntries: 10})
	ctx := t.Context()
	for i := range 100 {
		if _, err := s.Get(ctx, "hot"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, fmt.Sprint("cold", i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // the sweeper looks at least once a second
		synctest.Wait()
	}
	if got := mem.CallCount(memsecrets.OpRead, "hot"); got != 1 {
		t.Errorf("backend reads of the hot entry = %d, want 1 (never evicted)", got)
	}
	if ev := s.Stats().Evictions; ev < 80 {
		t.Errorf("Evictions = %d, want >= 80", ev)
	}
}

func TestStoreClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		keepOpen      bool
		wantBackendUp bool
	}{
		{"closes backend", false, false},
		{"keep backend open", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memsecrets.New(nil)
			mem.SetValue("k", "v")
			s := vaultly.New(mem, &vaultly.Options{KeepBackendOpen: tc.keepOpen})
			if _, err := s.Get(t.Context(), "k"); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if mem.Closed() == tc.wantBackendUp {
				t.Errorf("backend Closed() = %v, want %v", mem.Closed(), !tc.wantBackendUp)
			}
			for _, ref := range []string{"k", "other"} {
				if got, err := s.Get(t.Context(), ref); vaultly.CodeOf(err) != vaultly.Canceled || got != "" {
					t.Errorf("Get(%q) after Close = %q, %v; want Canceled", ref, got, err)
				}
			}
			if n := s.Stats().Entries; n != 0 {
				t.Errorf("Entries after Close = %d, want 0", n)
			}
		})
	}
}

// TestStoreCloseStopsRefresh: Close cancels and waits for a refresh that is
// blocked in the backend.
func TestStoreCloseStopsRefresh(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := memsecrets.New(nil)
		mem.SetValue("k", "v")
		s := vaultly.New(mem, &vaultly.Options{TTL: 10 * time.Second, RefreshAhead: 0.5})
		s.Get(t.Context(), "k")
		var refreshCtxErr error
		mem.SetHook(func(ctx context.Context, _ memsecrets.Call) error {
			<-ctx.Done()
			refreshCtxErr = ctx.Err()
			return ctx.Err()
		})
		time.Sleep(6 * time.Second)
		s.Get(t.Context(), "k") // starts a background refresh, which blocks
		synctest.Wait()
		if got := s.Stats().Refreshes; got != 1 {
			t.Fatalf("Refreshes = %d, want 1", got)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if refreshCtxErr == nil {
			t.Errorf("refresh context not cancelled by Close")
		}
	})
}

// TestStoreConcurrentCachedReads: 20 goroutines × 200,000 cached reads.
func TestStoreConcurrentCachedReads(t *testing.T) {
	t.Parallel()
	mem := memsecrets.New(nil)
	mem.Set("app/db", map[string]any{"username": "u", "password": "p"})
	mem.SetValue("app/key", "k")
	s := stNew(t, mem, &vaultly.Options{TTL: vaultly.UntilRefreshed})
	refs := []struct{ ref, want string }{{"app/db:username", "u"}, {"app/db:password", "p"}, {"app/key", "k"}}
	const goroutines, reads = 20, 200_000
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			ctx := context.Background()
			for i := range reads {
				r := refs[(g+i)%len(refs)]
				got, err := s.Get(ctx, r.ref)
				if err != nil || got != r.want {
					errs <- fmt.Errorf("goroutine %d read %d: Get(%q) = %q, %v; want %q", g, i, r.ref, got, err, r.want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := s.Stats()
	if got := stReads(mem); got != 2 {
		t.Errorf("backend reads = %d, want 2", got)
	}
	if st.Hits+st.Misses != goroutines*reads {
		t.Errorf("hits %d + misses %d = %d, want %d", st.Hits, st.Misses, st.Hits+st.Misses, goroutines*reads)
	}
}

func TestStoreLogsNoValues(t *testing.T) {
	t.Parallel()
	const canary = "canary-7f3e9a"
	var logs bytes.Buffer
	mem := memsecrets.New(nil)
	mem.Set("app/db", map[string]any{"password": canary})
	s := stNew(t, mem, &vaultly.Options{
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Retry:  &retry.Policy{Initial: time.Millisecond},
	})
	mem.FailNext(1, driver.NewError(driver.Unavailable, nil))
	if got, err := s.Get(t.Context(), "app/db:password"); err != nil || got != canary {
		t.Fatalf("Get = %q, %v", got, err)
	}
	s.Get(t.Context(), "app/db:nokey")
	s.Get(t.Context(), "app/missing")
	out := logs.String()
	if strings.Contains(out, canary) {
		t.Errorf("logs contain the secret value:\n%s", out)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if out := fmt.Sprintf(verb, s); strings.Contains(out, canary) || strings.Contains(out, fmt.Sprintf("%x", canary)) {
			t.Errorf("Sprintf(%s, store) = %q reveals the cached value", verb, out)
		}
	}
	if out := fmt.Sprintf("%+v", struct{ S *vaultly.Store }{s}); strings.Contains(out, canary) {
		t.Errorf("Sprintf(%%+v, struct holding the store) reveals the cached value")
	}
	for _, want := range []string{`"path":"app/db"`, `"attempt":1`, `"code":"unavailable"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}

// TestStoreRefreshAheadFailureBacksOff: a failed background refresh is not
// retried at every hit but after a delay; readers keep the cached value.
func TestStoreRefreshAheadFailureBacksOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := memsecrets.New(nil)
		mem.SetValue("k", "v1")
		s := vaultly.New(stPlain{mem}, &vaultly.Options{TTL: 100 * time.Second, RefreshAhead: 0.5, Retry: noRetry})
		defer s.Close()
		get := func(want string) {
			t.Helper()
			if v, err := s.Get(t.Context(), "k"); err != nil || v != want {
				t.Fatalf("Get = %q, %v; want %q", v, err, want)
			}
			synctest.Wait()
		}
		get("v1")
		mem.SetError("k", driver.NewError(driver.Unavailable, nil))
		time.Sleep(50 * time.Second) // past the refresh point
		synctest.Wait()
		for range 5 {
			get("v1")
		}
		if got := stReads(mem); got != 2 {
			t.Errorf("backend reads after 5 hits with a failing refresh = %d, want 2", got)
		}
		mem.SetError("k", nil)
		mem.SetValue("k", "v2")
		time.Sleep(10 * time.Second) // RefreshRetryDelay(100s)
		synctest.Wait()
		get("v1") // starts the second refresh
		get("v2")
		if st := s.Stats(); st.Refreshes != 2 || st.RefreshFailures != 1 || stReads(mem) != 3 {
			t.Errorf("Stats = %+v with %d backend reads; want 2 refreshes, 1 failure, 3 reads", st, stReads(mem))
		}
	})
}
