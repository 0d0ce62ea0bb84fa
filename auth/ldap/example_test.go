package ldap_test

import (
	"fmt"
	"log"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/ldap"
)

func Example() {
	m, err := ldap.New(&ldap.Options{Mount: "corp-ldap", Username: "alice", Password: auth.FromFile("/run/secrets/ldap-password")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Describe())
	// Output: ldap at auth/corp-ldap
}
