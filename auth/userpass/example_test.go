package userpass_test

import (
	"fmt"
	"log"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/userpass"
)

func Example() {
	m, err := userpass.New(&userpass.Options{Username: "alice", Password: auth.FromEnv("VAULT_PASSWORD")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Describe())
	// Output: userpass at auth/userpass
}
