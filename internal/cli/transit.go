package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/transit"
)

func transitCmd(g *globals) *cobra.Command {
	return group("transit", "Encrypt, decrypt and rewrap with Vault's transit engine",
		`  vaultly transit encrypt -key app < secret.txt
  vaultly transit decrypt -key app vault:v1:AbC... > secret.txt
  vaultly transit rewrap -key app vault:v1:AbC...`,
		transitEncryptCmd(g), transitDecryptCmd(g), transitRewrapCmd(g))
}

// transitFlags are the flags every transit command takes.
type transitFlags struct {
	key   string
	mount string
}

func (f *transitFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.key, "key", "", "name of the transit key (required)")
	// Shadows the global -mount (a KV mount) for this command.
	c.Flags().StringVar(&f.mount, "mount", "transit", "mount path of the transit engine")
}

// with checks the flags, connects and runs fn with a Transit on the mount.
func (f *transitFlags) with(g *globals, cmd *cobra.Command, fn func(ctx context.Context, t *transit.Transit) error) error {
	if f.key == "" {
		return usagef("missing -key NAME")
	}
	if strings.Trim(f.mount, "/") == "" {
		return usagef("-mount must not be empty")
	}
	b, err := g.backend(cmd.Context())
	if err != nil {
		return err
	}
	defer b.Close()
	t, err := newTransit(b, f.mount)
	if err != nil {
		return err
	}
	return fn(cmd.Context(), t)
}

func newTransit(b *hashivault.Backend, mount string) (*transit.Transit, error) {
	return transit.New(b, &transit.Options{Mount: mount, Backend: b.Name()})
}

// ciphertextOut is what encrypt and rewrap print with -format=json.
type ciphertextOut struct {
	Key        string             `json:"key"`
	Ciphertext transit.Ciphertext `json:"ciphertext"`
	KeyVersion int                `json:"key_version"`
}

func (g *globals) printCiphertext(cmd *cobra.Command, key string, ct transit.Ciphertext) error {
	out := cmd.OutOrStdout()
	if g.structured() {
		return g.printData(out, ciphertextOut{key, ct, ct.Version()})
	}
	_, err := fmt.Fprintln(out, ct)
	return err
}

func transitEncryptCmd(g *globals) *cobra.Command {
	var f transitFlags
	c := &cobra.Command{
		Use:   "encrypt -key NAME [- | @FILE]",
		Short: "Encrypt stdin or a file with a transit key",
		Long: `Encrypt the plaintext read from stdin (no argument, or -) or from FILE
(@FILE) with the transit key NAME and print the ciphertext (vault:v<N>:...).
The plaintext is taken byte for byte, trailing newline included; it is
never accepted as an argument, which other users of the machine could see.
On a terminal, with no argument, the plaintext is asked for without echo
(one line). Vault creates the key on first use when the token may
(transit's upsert).`,
		Example: `  vaultly transit encrypt -key app < secret.txt
  printf %s "$SECRET" | vaultly transit encrypt -key app
  vaultly transit encrypt -key app @secret.txt
  vaultly transit encrypt -mount=crypto -key app -format=json @secret.txt`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] != "-" && !strings.HasPrefix(args[0], "@") {
				// Do not echo it: it may be the plaintext.
				return usagef("the plaintext comes from stdin (- or no argument) or @FILE, never from an argument")
			}
			if f.key == "" {
				return usagef("missing -key NAME")
			}
			var pt []byte
			var err error
			switch {
			case len(args) == 1 && args[0] != "-":
				if pt, err = os.ReadFile(args[0][1:]); err != nil {
					return usagef("plaintext file: %v", err)
				}
			case len(args) == 0 && g.stdinIsTerminal():
				s, err := g.prompt("plaintext", "")
				if err != nil {
					return err
				}
				pt = []byte(s)
			default:
				if pt, err = io.ReadAll(g.io.In); err != nil {
					return fmt.Errorf("read stdin: %w", err)
				}
			}
			return f.with(g, cmd, func(ctx context.Context, t *transit.Transit) error {
				ct, err := t.Encrypt(ctx, f.key, pt, nil, nil)
				if err != nil {
					return err
				}
				return g.printCiphertext(cmd, f.key, ct)
			})
		},
	}
	f.add(c)
	return c
}

// stdinIsTerminal reports whether stdin is a terminal.
func (g *globals) stdinIsTerminal() bool {
	f, ok := g.stdinFile()
	return ok && term.IsTerminal(int(f.Fd()))
}

// ciphertextArg checks a CIPHERTEXT argument before any request.
func ciphertextArg(s string) (transit.Ciphertext, error) {
	ct, err := transit.ParseCiphertext(strings.TrimSpace(s))
	if err != nil {
		return "", &usageError{err}
	}
	return ct, nil
}

func transitDecryptCmd(g *globals) *cobra.Command {
	var f transitFlags
	c := &cobra.Command{
		Use:   "decrypt -key NAME CIPHERTEXT",
		Short: "Decrypt a ciphertext with a transit key",
		Long: `Decrypt CIPHERTEXT (vault:v<N>:...) with the transit key NAME and write the
plaintext to stdout as raw bytes, exactly as encrypted (no newline added).
With -format=json it is printed base64-encoded as "plaintext". A ciphertext
that is malformed is a usage error (exit 2); one the key did not produce
exits 1, and a key that does not exist exits 3.`,
		Example: `  vaultly transit decrypt -key app vault:v1:AbC... > secret.txt
  vaultly transit decrypt -key app "$(cat secret.enc)"`,
		Args: exactArgs("CIPHERTEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ct, err := ciphertextArg(args[0])
			if err != nil {
				return err
			}
			return f.with(g, cmd, func(ctx context.Context, t *transit.Transit) error {
				pt, err := t.Decrypt(ctx, f.key, ct, nil)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if g.structured() {
					return g.printData(out, map[string]any{"key": f.key, "plaintext": base64.StdEncoding.EncodeToString(pt)})
				}
				_, err = out.Write(pt)
				return err
			})
		},
	}
	f.add(c)
	return c
}

func transitRewrapCmd(g *globals) *cobra.Command {
	var f transitFlags
	c := &cobra.Command{
		Use:   "rewrap -key NAME CIPHERTEXT",
		Short: "Re-encrypt a ciphertext with the key's latest version",
		Long: `Re-encrypt CIPHERTEXT with the latest version of the transit key NAME
(after a rotation) and print the new ciphertext; the plaintext never leaves
Vault.`,
		Example: `  vaultly transit rewrap -key app vault:v1:AbC...`,
		Args:    exactArgs("CIPHERTEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ct, err := ciphertextArg(args[0])
			if err != nil {
				return err
			}
			return f.with(g, cmd, func(ctx context.Context, t *transit.Transit) error {
				nct, err := t.Rewrap(ctx, f.key, ct, nil)
				if err != nil {
					return err
				}
				return g.printCiphertext(cmd, f.key, nct)
			})
		},
	}
	f.add(c)
	return c
}
