package aws_test

import (
	"fmt"
	"log"

	"github.com/vaultly/vaultly/auth/aws"
)

// Credentials from the standard AWS chain (environment, shared files,
// instance or task role), signed for the regional STS endpoint.
func Example() {
	m, err := aws.New(&aws.Options{Role: "my-app", Region: "eu-west-1", ServerID: "vault.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Describe())
	// Output: aws at auth/aws
}
