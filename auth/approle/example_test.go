package approle_test

import (
	"context"
	"fmt"
	"log"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/hashivault"
)

// The role_id comes from the environment and the secret_id from a file
// that a deployment tool rotates; both are read again at every login.
func Example() {
	m, err := approle.New(&approle.Options{
		RoleID:   auth.FromEnv("APP_ROLE_ID"),
		SecretID: auth.FromFile("/run/secrets/vault-secret-id"),
	})
	if err != nil {
		log.Fatal(err)
	}
	b, err := hashivault.New(context.Background(), &hashivault.Options{Address: "https://vault.example.com:8200", Auth: m})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
}

// A response-wrapped secret_id is unwrapped only after checking where the
// wrapping token was created.
func Example_wrapped() {
	m, err := approle.New(&approle.Options{
		RoleID:             auth.FromString("db0e8a7c-…"),
		SecretID:           auth.FromFile("/run/secrets/wrapped-secret-id"),
		Wrapped:            true,
		RoleName:           "app",
		RemoveSecretIDFile: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Describe())
	// Output: approle at auth/approle
}
