package transit_test

import (
	"context"
	"sync"
	"testing"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/transit"
)

// TestReloginAfterRevoke revokes the backend's token out of band while 20
// goroutines encrypt: the next requests meet an invalid token, the backend
// logs in again once through AppRole, and every call succeeds.
func TestReloginAfterRevoke(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.key(t, "app", "aes256-gcm96", nil)
	e.srv.EnableAuth(t, e.mount+"-approle", "approle") // a mount of its own: the server is shared
	e.srv.WritePolicy(t, "transit-app", `
path "`+e.mount+`/encrypt/app" { capabilities = ["update"] }
path "`+e.mount+`/decrypt/app" { capabilities = ["update"] }
`)
	e.srv.Write(t, "auth/"+e.mount+"-approle/role/app", map[string]any{"token_policies": "transit-app", "token_ttl": "1h"})
	rs, err := e.raw.Logical().ReadWithContext(ctx, "auth/"+e.mount+"-approle/role/app/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sec := e.srv.Write(t, "auth/"+e.mount+"-approle/role/app/secret-id", nil)
	m, err := approle.New(&approle.Options{Mount: e.mount + "-approle", RoleID: auth.FromString(rs.Data["role_id"].(string)), SecretID: auth.FromString(sec.Data["secret_id"].(string))})
	if err != nil {
		t.Fatal(err)
	}
	b, err := hashivault.New(ctx, &hashivault.Options{Address: e.srv.Addr, Auth: m, ConfigFile: "-"})
	if err != nil {
		t.Fatalf("hashivault.New: %v", err)
	}
	defer b.Close()
	tr, err := transit.New(b, &transit.Options{Mount: e.mount})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := tr.Encrypt(ctx, "app", []byte("before"), nil, nil)
	if err != nil {
		t.Fatalf("Encrypt before revoke: %v", err)
	}

	if got := approleTokens(t, e); got != 1 {
		t.Fatalf("live AppRole tokens before revoke = %d, want 1", got)
	}
	// Revoke every token issued by the AppRole mount (the backend's one).
	if err := e.raw.Sys().RevokePrefixWithContext(ctx, "auth/"+e.mount+"-approle/login"); err != nil {
		t.Fatalf("revoke-prefix: %v", err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := tr.Decrypt(ctx, "app", ct, nil)
			if err == nil && string(got) != "before" {
				t.Errorf("Decrypt after revoke = %q, want %q", got, "before")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Decrypt after revoke: %v", err)
		}
	}
	// Exactly one login after the revocation: one live AppRole token.
	if got := approleTokens(t, e); got != 1 {
		t.Errorf("live AppRole tokens after revoke and %d concurrent calls = %d, want 1 (one re-login)", n, got)
	}
}

// approleTokens counts live tokens created by AppRole logins.
func approleTokens(t *testing.T, e *env) int {
	t.Helper()
	ctx := context.Background()
	list, err := e.raw.Logical().ListWithContext(ctx, "auth/token/accessors")
	if err != nil || list == nil {
		t.Fatalf("list accessors: %v", err)
	}
	keys, _ := list.Data["keys"].([]any)
	count := 0
	for _, k := range keys {
		acc, _ := k.(string)
		s, err := e.raw.Auth().Token().LookupAccessorWithContext(ctx, acc)
		if err != nil {
			continue // revoked meanwhile
		}
		if p, _ := s.Data["path"].(string); p == "auth/"+e.mount+"-approle/login" {
			count++
		}
	}
	return count
}
