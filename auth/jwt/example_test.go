package jwt_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/jwt"
)

// A CI job's OIDC token, read from a file at every login.
func Example() {
	m, err := jwt.New(&jwt.Options{Mount: "gitlab", Role: "ci", JWT: auth.FromFile("/run/ci/id_token")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Describe())
	// Output: jwt at auth/gitlab
}

// A func fetches a fresh JWT at every login.
func Example_func() {
	m, err := jwt.New(&jwt.Options{Role: "ci", Func: func(ctx context.Context) (string, error) {
		return os.Getenv("CI_JOB_JWT"), nil
	}})
	if err != nil {
		log.Fatal(err)
	}
	_ = m
}
