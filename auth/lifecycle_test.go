package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/hashivault"
)

// TestConcurrentLogin runs logins of one Method from many goroutines
// (run with -race): methods hold no mutable state.
func TestConcurrentLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roleID, sid := e.appRole(t, "approle")
	m, err := approle.New(&approle.Options{RoleID: auth.FromString(roleID), SecretID: auth.FromFile(e.file(t, "sid", sid))})
	if err != nil {
		t.Fatal(err)
	}
	c := e.loginClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := m.Login(context.Background(), c); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Login: %v", err)
	}
}

// TestReloginPicksUpRotatedSecretID is a real-time chain test: the Vault
// backend's token reaches its 2s max TTL, and the re-login it then does
// must use the secret_id file as rotated in the meantime (the old secret_id
// is destroyed).
func TestReloginPicksUpRotatedSecretID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.grant(t, "approle")
	roleID, sid := e.appRole(t, "approle")
	e.srv.Write(t, "auth/approle/role/app", map[string]any{"token_policies": "approle", "token_ttl": "2s", "token_max_ttl": "2s"})
	f := e.file(t, "sid", sid)
	m, err := approle.New(&approle.Options{RoleID: auth.FromString(roleID), SecretID: auth.FromFile(f)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := hashivault.New(ctx, &hashivault.Options{Address: e.srv.Addr, CACert: e.srv.CACert, Auth: m, ConfigFile: "-", Logger: quiet})
	if err != nil {
		t.Fatalf("hashivault.New: %v", err)
	}
	defer b.Close()
	if _, err := b.Read(ctx, "approle/ok", 0); err != nil {
		t.Fatalf("first Read: %v", err)
	}
	e.srv.Write(t, "auth/approle/role/app/secret-id/destroy", map[string]any{"secret_id": sid})
	e.file(t, "sid", e.newSecretID(t, "approle"))

	time.Sleep(3 * time.Second) // past the first token's max TTL
	ent, err := b.Read(ctx, "approle/ok", 0)
	if err != nil {
		t.Fatalf("Read after the first token expired: %v", err)
	}
	if got, want := ent.Fields["value"], "v-approle"; got != want {
		t.Errorf("Read value = %q, want %q", got, want)
	}
}
