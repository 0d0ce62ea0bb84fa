package authconfig_test

import (
	"fmt"
	"log"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/authconfig"
)

// The form used by `vaultly login` flags and the saved config file.
func ExampleFromParams() {
	m, err := authconfig.FromParams("approle", "apps", map[string]string{
		"role_id_env":    "APP_ROLE_ID",
		"secret_id_file": "/run/secrets/secret-id",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.(auth.Describer).Describe())
	// Output: approle at auth/apps
}

func ExampleMethods() {
	fmt.Println(authconfig.Methods())
	// Output: [approle aws cert jwt kubernetes ldap token userpass]
}
