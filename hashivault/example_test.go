package hashivault_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/hashivault"
)

// The usual setup: address and credentials from the vault CLI's environment
// (VAULT_ADDR, VAULT_TOKEN or VAULT_ROLE_ID/VAULT_SECRET_ID, VAULT_CACERT...),
// or from the file `vaultly login` saved, behind a caching Store.
func ExampleNew() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, nil)
	if err != nil {
		log.Fatal(err) // e.g. "vaultly: connect (vault): configuration: no vault address (...)"
	}
	store := vaultly.New(b, nil) // the Store closes b
	defer store.Close()

	user, err := store.Get(ctx, "myapp/db:username") // secret/data/myapp/db, field "username"
	if err != nil {
		log.Fatal(err)
	}
	password, err := store.Get(ctx, "myapp/db:password") // the same entry: no second read
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(user, password != "", store.Stats().BackendCalls) // never print the password itself
	// Output: app true 1
}

// AppRole login with the secret_id read from a file at every login; the
// token is renewed in the background and replaced before it expires.
// (Compiled, not run: it needs an AppRole role at a real address.)
func ExampleNew_appRole() {
	m, err := approle.New(&approle.Options{RoleID: auth.FromEnv("APP_ROLE_ID"), SecretID: auth.FromFile("/run/secrets/secret_id")})
	if err != nil {
		log.Fatal(err)
	}
	b, err := hashivault.New(context.Background(), &hashivault.Options{
		Address:       "https://vault.example.com:8200",
		CACert:        "/etc/vault/ca.pem",
		Mount:         "kv",
		Auth:          m,
		RevokeOnClose: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
}

// A token factory: any function that returns an auth response. (Compiled,
// not run: it needs a userpass user.)
func ExampleNew_tokenFactory() {
	factory := auth.MethodFunc(func(ctx context.Context, c *api.Client) (*api.Secret, error) {
		return c.Logical().WriteWithContext(ctx, "auth/userpass/login/app", map[string]any{"password": readPassword()})
	})
	b, err := hashivault.New(context.Background(), &hashivault.Options{Auth: factory, Timeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
}

func readPassword() string { return "" }

// Call runs vault/api code with the backend's current token; an expired or
// revoked token is replaced once and the call retried.
func ExampleBackend_Call() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	var health *api.HealthResponse
	err = b.Call(ctx, func(ctx context.Context, c *api.Client) error {
		health, err = c.Sys().HealthWithContext(ctx)
		return err
	})
	if err != nil {
		log.Fatal(err) // a *vaultly.Error with a code; errors.As reaches *api.ResponseError
	}
	fmt.Println("sealed:", health.Sealed)
	// Output: sealed: false
}
