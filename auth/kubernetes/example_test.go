package kubernetes_test

import (
	"fmt"
	"log"

	"github.com/vaultly/vaultly/auth/kubernetes"
)

// The projected service-account token is read again at every login.
func Example() {
	m, err := kubernetes.New(&kubernetes.Options{Role: "my-app"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Describe())
	// Output: kubernetes at auth/kubernetes
}
