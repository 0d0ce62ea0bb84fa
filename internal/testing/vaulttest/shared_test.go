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

// roundOf is a test of a later round of -count: the same name, another
// *testing.T.
type roundOf struct {
	testing.TB
	name string
}

func (r *roundOf) Name() string { return r.name }

// TestSharedRounds: a test name that asks again as another *testing.T (the
// next round of -count) gets a fresh server, the earlier one is stopped,
// and the other tests of that round get the fresh one too.
func TestSharedRounds(t *testing.T) {
	var sh Shared
	t.Cleanup(sh.Stop)
	a1, b1 := sh.Get(&roundOf{t, "TestA"}), sh.Get(&roundOf{t, "TestB"})
	ta := &roundOf{t, "TestA"}
	again := sh.Get(ta)
	if a1 != b1 {
		t.Fatal("two tests of one round got different servers")
	}
	if sh.Get(ta) != again {
		t.Error("one test asking twice got two servers")
	}
	if again == a1 {
		t.Fatal("the second round got the first round's server")
	}
	if b2 := sh.Get(&roundOf{t, "TestB"}); b2 != again {
		t.Error("another test of the second round started a third server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a1.Client(t).Sys().HealthWithContext(ctx); err == nil {
		t.Error("the first round's server still answers")
	}
	if _, err := again.Client(t).Sys().HealthWithContext(ctx); err != nil {
		t.Errorf("the second round's server: %v", err)
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
