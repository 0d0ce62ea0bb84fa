package vaulttest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

func TestShared(t *testing.T) {
	var sh Shared
	t.Cleanup(sh.Stop)
	// Concurrent first uses start one server.
	got := make([]*Server, 4)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = sh.Get(t) })
	}
	wg.Wait()
	for i, s := range got {
		if s == nil || s != got[0] {
			t.Fatalf("Get #%d = %p, want the first server %p", i, s, got[0])
		}
	}
	c := got[0].Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Sys().HealthWithContext(ctx); err != nil {
		t.Fatalf("shared server health: %v", err)
	}
	sh.Stop()
	sh.Stop() // twice is fine
	if _, err := c.Sys().HealthWithContext(ctx); err == nil {
		t.Errorf("shared server still answers after Stop")
	}
}

func TestUnsetVaultEnv(t *testing.T) {
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	t.Setenv("VAULT_TOKEN", "not-a-token")
	t.Setenv("VAULTLY_KEEP", "kept") // not a VAULT_ variable
	UnsetVaultEnv()
	for _, k := range []string{"VAULT_ADDR", "VAULT_TOKEN"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("after UnsetVaultEnv, %s = %q, want unset", k, v)
		}
	}
	if got := os.Getenv("VAULTLY_KEEP"); got != "kept" {
		t.Errorf("VAULTLY_KEEP = %q, want %q", got, "kept")
	}
}
