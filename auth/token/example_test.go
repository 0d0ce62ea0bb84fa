package token_test

import (
	"fmt"
	"log"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/token"
)

// With no options the token comes from VAULT_TOKEN, then ~/.vault-token,
// as with the vault CLI.
func Example() {
	m, err := token.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Describe())
	// Output: token at auth/token
}

// A token file written by Vault Agent is read again at every use.
func Example_file() {
	m, err := token.New(&token.Options{Token: auth.FromFile("/run/vault/token")})
	if err != nil {
		log.Fatal(err)
	}
	_ = m // pass as hashivault.Options.Auth
}
