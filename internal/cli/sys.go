package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vaultly/vaultly/hashivault"
)

func statusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the server's seal status, version and HA state",
		Long: `Show whether the server is initialized and sealed, the unseal threshold and
progress, its version and HA state. Needs no token. Exit codes are
'vault status''s: 0 unsealed, 2 sealed, 1 when the status cannot be read.`,
		Example: "  vaultly status\n  vaultly status -format=json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, st, err := g.sealStatus(cmd.Context())
			if err != nil {
				return &exitError{code: statusError, msg: g.errText(err)}
			}
			return g.sealResult(cmd.OutOrStdout(), st, "")
		},
	}
}

// sealStatus connects without a token and reads the seal status.
func (g *globals) sealStatus(ctx context.Context) (*hashivault.SysClient, *hashivault.SealStatus, error) {
	b, err := g.sysClient()
	if err != nil {
		return nil, nil, err
	}
	st, err := b.SealStatus(ctx)
	if err != nil {
		return nil, nil, err
	}
	return b, st, nil
}

// The exit codes of `vault status`.
const (
	statusError  = 1
	statusSealed = 2
)

// sealResult prints st; a sealed server exits with statusSealed and, when
// not empty, sealedMsg.
func (g *globals) sealResult(w io.Writer, st *hashivault.SealStatus, sealedMsg string) error {
	if err := g.printSealStatus(w, st); err != nil {
		return err
	}
	if st.Sealed {
		return &exitError{code: statusSealed, msg: sealedMsg}
	}
	return nil
}

func (g *globals) printSealStatus(w io.Writer, st *hashivault.SealStatus) error {
	if g.structured() {
		return g.printData(w, st)
	}
	rows := []row{
		{"Seal Type", st.Type},
		{"Initialized", strconv.FormatBool(st.Initialized)},
		{"Sealed", strconv.FormatBool(st.Sealed)},
		{"Total Shares", strconv.Itoa(st.Shares)},
		{"Threshold", strconv.Itoa(st.Threshold)},
	}
	if st.Sealed {
		rows = append(rows, row{"Unseal Progress", fmt.Sprintf("%d/%d", st.Progress, st.Threshold)})
	}
	rows = append(rows, row{"Version", st.Version})
	if st.StorageType != "" {
		rows = append(rows, row{"Storage Type", st.StorageType})
	}
	if st.ClusterName != "" {
		rows = append(rows, row{"Cluster Name", st.ClusterName}, row{"Cluster ID", st.ClusterID})
	}
	if !st.Sealed {
		rows = append(rows, row{"HA Enabled", strconv.FormatBool(st.HAEnabled)})
		if st.HAEnabled {
			rows = append(rows, row{"Active Node", strconv.FormatBool(st.ActiveNode)}, row{"Leader Address", st.LeaderAddress})
		}
	}
	return printTable(w, [2]string{"Key", "Value"}, rows)
}

func unsealCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unseal",
		Short: "Unseal the server with unseal key shares",
		Long: `Give the server unseal key shares until it is unsealed. On a terminal the
keys are asked for without echo; otherwise they are read from stdin, one per
line. Keys are never taken from the command line, where other users and the
shell history could see them.`,
		Example: "  vaultly unseal\n  cat key1 key2 key3 | vaultly unseal",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unseal keys are never taken from arguments: type them at the prompt or pipe them on stdin")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			b, st, err := g.sealStatus(cmd.Context())
			if err != nil {
				return err
			}
			f, isFile := g.stdinFile()
			tty := isFile && term.IsTerminal(int(f.Fd()))
			var lines *bufio.Scanner
			if !tty {
				lines = bufio.NewScanner(g.io.In)
			}
			for st.Sealed {
				var key string
				if tty {
					k, err := readHidden(int(f.Fd()), func() {
						fmt.Fprintf(g.io.Err, "Unseal key %d of %d (hidden): ", st.Progress+1, st.Threshold)
					})
					fmt.Fprintln(g.io.Err)
					if err != nil {
						return fmt.Errorf("read from terminal: %w", err)
					}
					key = string(k)
				} else {
					if !lines.Scan() {
						if err := lines.Err(); err != nil {
							return fmt.Errorf("read stdin: %w", err)
						}
						if st.Progress == 0 && st.Sealed {
							return usagef("no unseal key on stdin")
						}
						break
					}
					key = lines.Text()
				}
				if strings.TrimSpace(key) == "" {
					continue
				}
				if st, err = b.Unseal(cmd.Context(), key); err != nil {
					return err
				}
			}
			return g.sealResult(cmd.OutOrStdout(), st, fmt.Sprintf("still sealed: %d of %d keys given", st.Progress, st.Threshold))
		},
	}
}
