package cert_test

import (
	"fmt"
	"log"

	"github.com/vaultly/vaultly/auth/cert"
)

func Example() {
	m, err := cert.New(&cert.Options{Name: "web", CertFile: "/etc/tls/client.pem", KeyFile: "/etc/tls/client-key.pem"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Describe())
	// Output: cert at auth/cert
}
