// Command vaultly reads, writes and injects HashiCorp Vault secrets. Run
// `vaultly -help` for the commands; see internal/cli for the exit codes.
package main

import (
	"context"
	"os"

	"github.com/vaultly/vaultly/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}
