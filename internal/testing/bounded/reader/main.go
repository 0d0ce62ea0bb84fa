// Command reader is the bounded test's library client (bounded.Read): it
// reads one entry through hashivault and a vaultly.Store and prints the
// error code and error. Under -race the test builds it without the race
// detector, so that its peak RSS is a normal program's.
//
// Usage: BOUNDED_ADDR=http://... BOUNDED_TOKEN=... reader PATH
package main

import (
	"fmt"
	"os"

	"github.com/vaultly/vaultly/internal/testing/bounded"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: reader PATH")
		os.Exit(2)
	}
	os.Exit(bounded.Read(os.Args[1]))
}
