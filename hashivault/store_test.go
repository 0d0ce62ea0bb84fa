package hashivault_test

import (
	"context"
	"testing"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/retry"
)

// TestStoreSealed: while Vault is sealed, a Store with stale-on-error keeps
// serving what it cached, uncached reads fail within the caller's deadline, and both recover after unseal without a restart.
func TestStoreSealed(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t, nil)
	srv.PutKV(t, "sealed/app", map[string]any{"value": "v1"})
	b := hashivault.NewBackend(t, &hashivault.Options{Address: srv.Addr, Token: srv.Token, KVVersion: 2})
	cached := vaultly.New(b, &vaultly.Options{TTL: 100 * time.Millisecond, StaleOnError: time.Minute, RefreshAhead: -1, KeepBackendOpen: true,
		Retry: &retry.Policy{Budget: 500 * time.Millisecond}})
	defer cached.Close()
	uncached := vaultly.New(b, &vaultly.Options{TTL: vaultly.NoCache, KeepBackendOpen: true})
	defer uncached.Close()

	ctx := t.Context()
	for _, s := range []*vaultly.Store{cached, uncached} {
		if got, err := s.Get(ctx, "sealed/app"); err != nil || got != "v1" {
			t.Fatalf("Get before seal = %q, %v; want v1", got, err)
		}
	}
	srv.Seal(t)
	time.Sleep(150 * time.Millisecond) // let the cached entry expire

	if got, err := cached.Get(ctx, "sealed/app"); err != nil || got != "v1" {
		t.Errorf("cached Get while sealed = %q, %v; want the stale v1", got, err)
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := uncached.Get(dctx, "sealed/app")
	// The default retry goes on until the caller's deadline (the Store's
	// fetch keeps retrying for its other waiters; this caller leaves with
	// its deadline's error).
	if code := vaultly.CodeOf(err); code != vaultly.Unavailable && code != vaultly.DeadlineExceeded {
		t.Errorf("uncached Get while sealed = %v (code %v), want Unavailable or DeadlineExceeded", err, code)
	}
	// Tolerance 500 ms: the caller leaves on its context's Done, so what
	// comes on top of the deadline is only goroutine wake-up, which under
	// -race on a loaded 2-core CI machine took 266 ms once.
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("uncached Get while sealed took %v, want within the 2s deadline (+500ms scheduling tolerance)", d)
	}

	srv.Unseal(t)
	// The fetch the caller above left keeps retrying for its other waiters
	// (its budget is 30 s), and a Get joins a fetch in flight (single
	// flight; Refresh is the call that reads anew): one made while its
	// retry reads v1 gets v1. So first a Get that ends it, then the write:
	// a Get after that starts a read of its own and must see v2.
	if _, err := uncached.Get(ctx, "sealed/app"); err != nil {
		t.Errorf("uncached Get right after unseal: %v", err)
	}
	srv.PutKV(t, "sealed/app", map[string]any{"value": "v2"})
	if got, err := uncached.Get(ctx, "sealed/app"); err != nil || got != "v2" {
		t.Errorf("uncached Get after unseal = %q, %v; want v2", got, err)
	}
	if err := cached.Refresh(ctx, "sealed/app"); err != nil {
		t.Errorf("Refresh after unseal: %v", err)
	}
	if got, err := cached.Get(ctx, "sealed/app"); err != nil || got != "v2" {
		t.Errorf("cached Get after unseal = %q, %v; want v2", got, err)
	}
}
