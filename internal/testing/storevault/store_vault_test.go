// Package storevault_test proves the Store's mechanisms end to end against a
// real Vault server (internal/vaulttest) through the real Vault backend, with
// faults injected by a proxy in front of the server. The unit tests of the
// same mechanisms, with a fake clock, are in the module root (store_test.go).
package storevault_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/retry"
)

func TestMain(m *testing.M) {
	// Each test waits on its own Vault server and the Store's timers:
	// outside the soak tier run up to 4 at once.
	if !vaulttest.Soak() {
		vaulttest.ParallelWaiting(4)
	}
	goleak.VerifyTestMain(m)
}

// setup starts Vault and a fault proxy in front of it, and returns a
// backend that talks to Vault through the proxy.
func setup(t *testing.T) (*vaulttest.Server, *faultproxy.Proxy, *hashivault.Backend) {
	t.Helper()
	srv := vaulttest.Start(t, nil)
	px := faultproxy.Start(t, srv.Addr, nil)
	b, err := hashivault.New(t.Context(), &hashivault.Options{Address: px.URL, Token: srv.Token, KVVersion: 2, ConfigFile: "-"})
	if err != nil {
		t.Fatalf("hashivault.New: %v", err)
	}
	return srv, px, b
}

const dataPath = "/v1/secret/data/"

// TestColdKeyOneRequest: 100 goroutines on a cold key make one Vault request.
func TestColdKeyOneRequest(t *testing.T) {
	t.Parallel()
	srv, px, b := setup(t)
	srv.PutKV(t, "cold/db", map[string]any{"username": "app", "password": "pw"})
	s := vaultly.New(b, nil)
	defer s.Close()
	// A slow Vault, so that all 100 goroutines ask while the read is in flight.
	px.Inject(faultproxy.Fault{Match: faultproxy.Path(dataPath + "cold/db"), Stall: 300 * time.Millisecond, Times: 1})
	px.ResetCounts()

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		key := []string{"username", "password"}[i%2]
		wg.Go(func() {
			if _, err := s.Get(t.Context(), "cold/db:"+key); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := px.Count(dataPath + "cold/db"); got != 1 {
		t.Errorf("Vault requests for 100 goroutines on a cold key = %d, want 1", got)
	}
}

// TestCancelledCallerAgainstVault: a caller that gives up does not fail the
// read the others wait for.
func TestCancelledCallerAgainstVault(t *testing.T) {
	t.Parallel()
	srv, px, b := setup(t)
	srv.PutKV(t, "slow/api", map[string]any{"value": "k"})
	s := vaultly.New(b, nil)
	defer s.Close()
	px.Inject(faultproxy.Fault{Match: faultproxy.Path(dataPath + "slow/api"), Stall: 500 * time.Millisecond, Times: 1})

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	other := make(chan error, 1)
	go func() {
		v, err := s.Get(t.Context(), "slow/api")
		if err == nil && v != "k" {
			err = fmt.Errorf("got %q", v)
		}
		other <- err
	}()
	start := time.Now()
	_, err := s.Get(ctx, "slow/api")
	if vaultly.CodeOf(err) != vaultly.DeadlineExceeded || time.Since(start) > 400*time.Millisecond {
		t.Errorf("impatient Get = %v after %v, want DeadlineExceeded at its deadline", err, time.Since(start))
	}
	if err := <-other; err != nil {
		t.Errorf("patient Get: %v", err)
	}
	if got := px.Count(dataPath + "slow/api"); got != 1 {
		t.Errorf("Vault requests = %d, want 1", got)
	}
}

// TestRetryAgainstVault: 503s and a 429 with Retry-After from the proxy are
// retried; a 403 is not.
func TestRetryAgainstVault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		fault        faultproxy.Fault
		wantRequests int
		wantCode     vaultly.Code
		minWait      time.Duration
	}{
		{"503 twice", faultproxy.Fault{Status: http.StatusServiceUnavailable, Times: 2}, 3, vaultly.OK, 0},
		{"429 with Retry-After", faultproxy.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1", Times: 1}, 2, vaultly.OK, time.Second},
		{"403 not retried", faultproxy.Fault{Status: http.StatusForbidden, Times: 5}, 1, vaultly.PermissionDenied, 0},
		{"503 until attempts run out", faultproxy.Fault{Status: http.StatusServiceUnavailable}, 3, vaultly.Unavailable, 0},
	}
	srv, px, b := setup(t)
	srv.PutKV(t, "retry/x", map[string]any{"value": "v"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := vaultly.New(b, &vaultly.Options{TTL: vaultly.NoCache, KeepBackendOpen: true,
				Retry: &retry.Policy{MaxAttempts: 3, Initial: 20 * time.Millisecond, Budget: 5 * time.Second}})
			defer s.Close()
			px.Clear()
			px.ResetCounts()
			f := tc.fault
			f.Match = faultproxy.Path(dataPath + "retry/x")
			px.Inject(f)
			start := time.Now()
			v, err := s.Get(t.Context(), "retry/x")
			if vaultly.CodeOf(err) != tc.wantCode || (err == nil && v != "v") {
				t.Errorf("Get = %q, %v; want code %v", v, err, tc.wantCode)
			}
			if got := px.Count(dataPath + "retry/x"); got != tc.wantRequests {
				t.Errorf("Vault requests = %d, want %d", got, tc.wantRequests)
			}
			if d := time.Since(start); d < tc.minWait {
				t.Errorf("Get took %v, want at least the Retry-After %v", d, tc.minWait)
			}
		})
	}
	px.Clear()
	b.Close()
}

// TestRefreshAheadAgainstVault (real time, 4s TTL): a value rotated in Vault
// behind the Store's back is picked up by the background refresh before the
// cached entry expires, and no reader ever waits for Vault after the first.
func TestRefreshAheadAgainstVault(t *testing.T) {
	t.Parallel()
	srv, px, b := setup(t)
	srv.PutKV(t, "rotating/api", map[string]any{"value": "v1"})
	const ttl = 4 * time.Second
	s := vaultly.New(b, &vaultly.Options{TTL: ttl, RefreshAhead: 0.5})
	defer s.Close()
	start := time.Now()
	if v, err := s.Get(t.Context(), "rotating/api"); err != nil || v != "v1" {
		t.Fatalf("first Get = %q, %v", v, err)
	}
	srv.PutKV(t, "rotating/api", map[string]any{"value": "v2"}) // not announced to the Store

	// Read every 100ms until v2 shows up; it must before the TTL ends.
	var sawV2 time.Duration
	for time.Since(start) < ttl-200*time.Millisecond {
		v, err := s.Get(t.Context(), "rotating/api")
		if err != nil {
			t.Fatalf("Get at %v: %v", time.Since(start), err)
		}
		if v == "v2" {
			sawV2 = time.Since(start)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if sawV2 == 0 {
		t.Fatalf("v2 not seen before the TTL ended; Stats = %+v", s.Stats())
	}
	// Refresh point: 50% of 4s, minus up to 20% jitter: 1.6s–2s.
	if sawV2 < 1600*time.Millisecond {
		t.Errorf("v2 seen at %v, before the earliest refresh point 1.6s", sawV2)
	}
	st := s.Stats()
	if st.Misses != 1 || st.Refreshes != 1 {
		t.Errorf("Stats = %+v, want 1 miss (the first read) and 1 background refresh", st)
	}
	if got := px.Count(dataPath + "rotating/api"); got != 2 {
		t.Errorf("Vault reads = %d, want 2", got)
	}
}

// TestStaleWhileSealed (real time): with stale-on-error the last value is
// served while Vault is sealed, up to the maximum age, then the error.
func TestStaleWhileSealed(t *testing.T) {
	t.Parallel()
	srv, _, b := setup(t)
	srv.PutKV(t, "stale/db", map[string]any{"password": "pw"})
	s := vaultly.New(b, &vaultly.Options{TTL: time.Second, StaleOnError: 2 * time.Second, RefreshAhead: -1,
		Retry: &retry.Policy{MaxAttempts: 1}})
	defer s.Close()
	if _, err := s.Get(t.Context(), "stale/db:password"); err != nil {
		t.Fatal(err)
	}
	srv.Seal(t)
	defer srv.Unseal(t)
	time.Sleep(1500 * time.Millisecond) // expired, within the stale window
	if v, err := s.Get(t.Context(), "stale/db:password"); err != nil || v != "pw" {
		t.Errorf("Get while sealed, 0.5s past expiry = %q, %v; want the stale value", v, err)
	}
	time.Sleep(2 * time.Second) // past TTL + StaleOnError
	if _, err := s.Get(t.Context(), "stale/db:password"); vaultly.CodeOf(err) != vaultly.Unavailable {
		t.Errorf("Get while sealed, past the stale window = %v, want Unavailable", err)
	}
	if st := s.Stats(); st.StaleServes != 1 {
		t.Errorf("StaleServes = %d, want 1", st.StaleServes)
	}
}

// heldRead wraps the real Vault backend: the next read of a path returns
// what Vault answered only when released, like a slow network answer sent
// before a rotation.
type heldRead struct {
	driver.Backend
	mu      sync.Mutex
	path    string
	read    chan struct{}
	release chan struct{}
}

func (h *heldRead) holdNext(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.path, h.read, h.release = path, make(chan struct{}), make(chan struct{})
}

func (h *heldRead) Read(ctx context.Context, path string, version int) (*driver.Entry, error) {
	e, err := h.Backend.Read(ctx, path, version)
	h.mu.Lock()
	held := h.path == path
	read, release := h.read, h.release
	if held {
		h.path = ""
	}
	h.mu.Unlock()
	if held {
		close(read)
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	return e, err
}

// TestRefreshAfterRotationAgainstVault: a Refresh made right after a new
// version is written to Vault returns the new value while an older read,
// which got the old version from Vault, is still on its way; when that
// older read ends, it does not overwrite the new value.
func TestRefreshAfterRotationAgainstVault(t *testing.T) {
	t.Parallel()
	srv, px, b := setup(t)
	srv.PutKV(t, "rotate/token", map[string]any{"value": "v1"})
	h := &heldRead{Backend: b}
	s := vaultly.New(h, &vaultly.Options{TTL: vaultly.UntilRefreshed})
	defer s.Close()
	ctx := t.Context()

	h.holdNext("rotate/token")
	oldDone := make(chan string, 1)
	go func() {
		v, err := s.Get(ctx, "rotate/token")
		if err != nil {
			t.Errorf("older Get: %v", err)
		}
		oldDone <- v
	}()
	<-h.read // Vault answered v1; the answer is held
	srv.PutKV(t, "rotate/token", map[string]any{"value": "v2"})

	refreshed := make(chan error, 1)
	go func() { refreshed <- s.Refresh(ctx, "rotate/token") }()
	select {
	case err := <-refreshed:
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
	case <-time.After(10 * time.Second): // a Vault read takes ~1 ms; 10 s is only a hang guard
		close(h.release)
		t.Fatal("Refresh waited for the older read in flight")
	}
	if got, err := s.Get(ctx, "rotate/token"); err != nil || got != "v2" {
		t.Errorf("Get after Refresh = %q, %v; want v2", got, err)
	}
	close(h.release)
	if got := <-oldDone; got != "v1" {
		t.Errorf("older reader got %q, want v1 (what its read saw)", got)
	}
	if got, err := s.Get(ctx, "rotate/token"); err != nil || got != "v2" {
		t.Errorf("Get after the older read ended = %q, %v; want v2", got, err)
	}
	if got := px.Count(dataPath + "rotate/token"); got != 2 {
		t.Errorf("Vault reads = %d, want 2", got)
	}
}
