// Command reader is the bounded test's library client: it reads one entry
// through hashivault and a vaultly.Store (the default retry) and prints the
// error code and error. The test builds it without -race, so that its peak
// RSS is a normal program's.
//
// Usage: BOUNDED_ADDR=http://... BOUNDED_TOKEN=... reader PATH
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: reader PATH")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := hashivault.New(ctx, &hashivault.Options{Address: os.Getenv("BOUNDED_ADDR"), Token: os.Getenv("BOUNDED_TOKEN"), KVVersion: 2, ConfigFile: "-"})
	if err != nil {
		fmt.Println("new:", err)
		os.Exit(2)
	}
	s := vaultly.New(b, &vaultly.Options{TTL: vaultly.NoCache})
	defer s.Close()
	_, err = s.Get(ctx, os.Args[1])
	fmt.Println(vaultly.CodeOf(err), err)
}
