// Package bounded measures the memory a vaultly process uses when a server
// sends an answer far larger than any Vault answer (1 GiB): a hashivault
// read, and the `vaultly get` command, each in a process of its own so that
// its peak RSS (getrusage's ru_maxrss) is the read's and nothing else's.
// The 1 GiB answer comes from a fault proxy in front of a real Vault dev
// server (the token lookup at start is the real server's answer).
package bounded

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

// Read is the bounded test's library client, the body of command reader:
// it reads the entry at path through hashivault and a vaultly.Store (the
// default retry; Vault's address and token in BOUNDED_ADDR and
// BOUNDED_TOKEN), prints the error code and error, and returns the exit
// status.
func Read(path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := hashivault.New(ctx, &hashivault.Options{Address: os.Getenv("BOUNDED_ADDR"), Token: os.Getenv("BOUNDED_TOKEN"), KVVersion: 2, ConfigFile: "-"})
	if err != nil {
		fmt.Println("new:", err)
		return 2
	}
	s := vaultly.New(b, &vaultly.Options{TTL: vaultly.NoCache})
	defer s.Close()
	_, err = s.Get(ctx, path)
	fmt.Println(vaultly.CodeOf(err), err)
	return 0
}
