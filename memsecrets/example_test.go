package memsecrets_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/retry"
)

func Example() {
	ctx := context.Background()
	b := memsecrets.New(nil)
	b.Set("myapp/db", map[string]any{"username": "app", "password": "pw", "port": 5432})
	s := vaultly.New(b, &vaultly.Options{Retry: &retry.Policy{MaxAttempts: 1}})
	defer s.Close()

	port, _ := s.Get(ctx, "myapp/db:port")
	fmt.Println(port, b.CallCount(memsecrets.OpRead, "myapp/db"))

	// Rotate: the Store drops its cached entry because memsecrets announces the change.
	b.Set("myapp/db", map[string]any{"username": "app", "password": "pw2", "port": 5432})
	pw, _ := s.Get(ctx, "myapp/db:password")
	fmt.Println(pw == "pw2")

	// Inject a failure.
	b.SetError("myapp/api", driver.NewError(driver.PermissionDenied, errors.New("policy")))
	_, err := s.Get(ctx, "myapp/api")
	fmt.Println(err)
	// Output:
	// 5432 1
	// true
	// vaultly: get myapp/api:value (memory): permission denied: policy
}

// Fake dynamic secrets: a role issues new credentials bound to leases, and
// vaultly.OpenDynamic keeps them current exactly as it does over Vault.
func ExampleBackend_SetRole() {
	ctx := context.Background()
	b := memsecrets.New(nil)
	b.SetRole("database/creds/app", memsecrets.Role{TTL: time.Hour, MaxTTL: 24 * time.Hour})
	s := vaultly.New(b, nil)
	defer s.Close()

	d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](ctx, s, "database/creds/app", &vaultly.DynamicOptions{RevokeOnClose: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	cur := d.Current()
	fmt.Println(cur.Value.Username, cur.Value.Password, cur.Lease.ID)

	d.Close(ctx) // revokes the lease
	st, _ := b.Lease(cur.Lease.ID)
	fmt.Println("revoked:", st.Revoked)
	// Output:
	// app-1 [redacted] database/creds/app/1
	// revoked: true
}
