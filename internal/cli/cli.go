// Package cli implements the vaultly command (cmd/vaultly). It is one more
// client of vaultly's public API and holds no Vault logic of its own:
// secret values (get PATH:KEY, run, inject) are read through a
// vaultly.Store over a hashivault.Backend, as a Go program reads them, and
// management calls (put, patch, versions, metadata, leases, transit, sys)
// go through the Backend's management API.
//
// Flags are spelled like the vault CLI's, with a single dash (-address,
// -format=json); the double-dash form works too. Paths may carry their
// mount (secret/myapp/db), resolved as `vault kv` does. Exit codes are the
// vault CLI's:
//
//	0  success
//	1  local error: unknown command or flag, missing or bad argument or
//	   reference, a -field the secret lacks, a refused confirmation
//	2  error from or on the way to Vault: not found (path, key, version,
//	   lease, transit key), permission denied, sealed, unreachable, no
//	   address or credentials
//
// The detail (not found, sealed, ...) is in the message on stderr, never a
// new exit code. `status` keeps `vault status`'s codes (0 unsealed, 1
// error, 2 sealed), `run` exits with its child's exit code (128+signal when
// the child was killed by a signal) and `doctor` exits 2 when a check
// fails.
//
// Main runs one command line and is meant to be called once per process
// (it reads the environment and, for `run`, handles signals); every backend
// it opens is closed before it returns.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
)

// Exit codes; see the package documentation.
const (
	ExitOK    = 0
	ExitUsage = 1 // local error
	ExitError = 2 // error from Vault
)

// IO is where a command reads and writes. Main uses the process's.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// usageError marks errors that exit with ExitUsage.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// missingKeyf is the usage error of a key the secret read does not have:
// the reference is well formed and the data may change (a key written
// later), so run -config's waiting start tries it again (mendable).
func missingKeyf(format string, args ...any) error {
	return &usageError{&missingKeyError{fmt.Errorf(format, args...)}}
}

type missingKeyError struct{ err error }

func (e *missingKeyError) Error() string { return e.err.Error() }
func (e *missingKeyError) Unwrap() error { return e.err }

// exitError carries an exit code chosen by a command (run, status), with
// an optional message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// globals are the flags every command takes.
type globals struct {
	address       string
	namespace     string
	mount         string
	mountSet      bool   // -mount was given: paths are relative to it
	format        string // table, json, yaml or raw (after PersistentPreRunE)
	caCert        string
	caPath        string
	clientCert    string
	clientKey     string
	tlsServerName string
	io            IO
	tokenFile     string        // a config file's auto_auth token_file: the token, read at every login, unless VAULT_TOKEN is set
	configAuth    auth.Method   // a config file's other auto_auth method: the login, unless VAULT_TOKEN is set
	attempts      int           // a config file's vault { retry { num_retries } } + 1 (0: readRetry's)
	tokenSink     string        // a config file's auto_auth sink "file": the token is written there at every login
	logLevel      slog.Level    // of the backend's logger
	health        *healthServer // -listen of run and inject -watch; nil otherwise
}

// startHealth starts the -listen endpoint (addr "" : none) before anything
// connects, so the backends and Stores report to its metrics. The caller
// closes it with closeHealth.
func (g *globals) startHealth(addr string) error {
	if addr == "" {
		return nil
	}
	h, err := listenHealth(addr)
	if err != nil {
		return err
	}
	g.health = h
	fmt.Fprintf(g.io.Err, "vaultly: health and metrics on http://%s (/health, /metrics)\n", h.Addr())
	return nil
}

func (g *globals) closeHealth(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = g.health.Close(ctx)
}

// Main runs the vaultly command with args (without the program name) and
// returns the exit code.
func Main(ctx context.Context, args []string, stdio IO) int {
	g := &globals{io: stdio, logLevel: slog.LevelError}
	root := newRoot(g)
	root.SetArgs(NormalizeArgs(args))
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	if e, ok := errors.AsType[*exitError](err); ok {
		if e.msg != "" {
			fmt.Fprintln(stdio.Err, "Error: "+e.msg)
		}
		return code
	}
	fmt.Fprintln(stdio.Err, "Error: "+g.errText(err))
	if code == ExitUsage && cmd != nil {
		fmt.Fprintf(stdio.Err, "Run '%s -help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// ExitCode returns the exit code for an error returned by a command.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if e, ok := errors.AsType[*exitError](err); ok {
		return e.code
	}
	if _, ok := errors.AsType[*usageError](err); ok {
		return ExitUsage
	}
	if e, ok := errors.AsType[*vaultly.Error](err); ok && e.Op == "parse" {
		return ExitUsage // a malformed reference
	}
	return ExitError
}

// NormalizeArgs turns the vault CLI's single-dash long flags (-address=x,
// -yes) into the double-dash form pflag parses. Single-letter flags (-i),
// a lone "-" and everything after "--" are left alone, and so is the
// command line of `run` after its COMMAND, which belongs to the child.
func NormalizeArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	var positional []string // non-flag arguments seen so far
	skipValue := false      // the previous flag takes this argument as its value
	for i, a := range out {
		if a == "--" {
			break
		}
		if skipValue {
			skipValue = false
			continue
		}
		if len(a) < 2 || a[0] != '-' {
			if len(positional) == 1 && positional[0] == "run" {
				break // COMMAND of run: the rest is the child's
			}
			positional = append(positional, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		rootVersion := name == "version" && len(positional) == 0                            // vaultly -version: a bool
		leasePrefix := name == "prefix" && (len(positional) == 0 || positional[0] != "run") // lease revoke -prefix: a bool
		if !hasValue && valueFlags[name] && !rootVersion && !leasePrefix {
			skipValue = true
		}
		if len(a) > 2 && a[1] != '-' && isLetter(a[1]) && len(name) > 1 {
			out[i] = "-" + a
		}
	}
	return out
}

// valueFlags are the flags that take a value (as opposed to booleans), so
// that "-signal HUP" is not read as a positional HUP.
var valueFlags = map[string]bool{
	"address": true, "namespace": true, "mount": true, "format": true, "ca-cert": true, "ca-path": true,
	"version": true, "cas": true, "versions": true, "max-versions": true, "delete-version-after": true,
	"custom-metadata": true, "method": true, "path": true, "signal": true, "interval": true,
	"config": true, "in": true, "out": true, "i": true, "o": true,
	"field": true, "increment": true, "key": true,
	"client-cert": true, "client-key": true, "tls-server-name": true, "remove-data": true,
	"listen": true, "secret": true, "prefix": true, "env-file": true, "stop-signal": true, "kill-timeout": true,
	"perms": true, "exec": true, "exec-timeout": true, "static-interval": true, "wait": true,
}

// dashRE finds the "--" of long flags in pflag's usage lines.
var dashRE = regexp.MustCompile(`(?m)^(\s+(?:-\w, )?)--`)

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func newRoot(g *globals) *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:   "vaultly",
		Short: "Read, write and inject HashiCorp Vault secrets",
		Long: `vaultly reads and manages secrets in HashiCorp Vault's KV engine, runs
programs with secrets in their environment and renders templates.

Paths are written as with 'vault kv': secret/myapp/db, where secret/ is the
mount (found through sys/internal/ui/mounts, as vault does), or relative to
-mount (-mount=secret myapp/db). A path whose first segment is no mount
the token can see is read from the default mount ("secret", or the saved
login's).

Address, namespace and credentials resolve like the vault CLI's: the flags,
then VAULT_ADDR, VAULT_NAMESPACE, VAULT_TOKEN, VAULT_CACERT, ... (BAO_* when
the VAULT_* one is unset), then the file saved by 'vaultly login', then the
vault CLI's token helper (~/.vault-token, as written by 'vault login').

Exit codes, as the vault CLI's: 0 ok, 1 local error (bad flag or argument),
2 error from Vault (not found, denied, sealed, unreachable).`,
		Example: `  vaultly put secret/myapp/db username=app password=@pw.txt
  vaultly get -field=password secret/myapp/db
  vaultly get myapp/db:password
  vaultly run -- ./server`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if showVersion {
				return printVersion(cmd, g)
			}
			return usagef("missing command")
		},
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	// Show flags the way they are usually typed: -address, like the vault CLI.
	cobra.AddTemplateFunc("singleDash", func(s string) string { return dashRE.ReplaceAllString(s, "$1 -") })
	t := strings.ReplaceAll(root.UsageTemplate(), "FlagUsages", "FlagUsages | singleDash")
	root.SetUsageTemplate(strings.ReplaceAll(t, "--help", "-help"))
	root.Flags().BoolVar(&showVersion, "version", false, "print vaultly's version (as the version command)")
	pf := root.PersistentFlags()
	pf.StringVar(&g.address, "address", "", "Vault address (default: VAULT_ADDR, then the saved login)")
	pf.StringVar(&g.namespace, "namespace", "", "Vault Enterprise namespace (default: VAULT_NAMESPACE)")
	pf.StringVar(&g.mount, "mount", "", `KV mount PATH is relative to (default: the mount PATH starts with, else the saved login's, else "secret")`)
	pf.StringVar(&g.format, "format", "", `output format: table, json, yaml or raw (default: VAULT_FORMAT, else table)`)
	pf.StringVar(&g.caCert, "ca-cert", "", "PEM CA certificate file to verify the server (default: VAULT_CACERT)")
	pf.StringVar(&g.caPath, "ca-path", "", "directory of PEM CA certificates (default: VAULT_CAPATH)")
	pf.StringVar(&g.clientCert, "client-cert", "", "PEM client certificate for TLS (default: VAULT_CLIENT_CERT)")
	pf.StringVar(&g.clientKey, "client-key", "", "PEM private key of -client-cert (default: VAULT_CLIENT_KEY)")
	pf.StringVar(&g.tlsServerName, "tls-server-name", "", "name to verify the server certificate against (default: VAULT_TLS_SERVER_NAME)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		g.mountSet = cmd.Flags().Changed("mount") && cmd.Flags().Lookup("mount") == pf.Lookup("mount")
		warnSkipVerify(g.io.Err)
		return g.resolveFormat()
	}
	root.AddCommand(
		getCmd(g), putCmd(g), patchCmd(g), deleteCmd(g), undeleteCmd(g), destroyCmd(g), rollbackCmd(g),
		listCmd(g), metadataCmd(g), kvConfigCmd(g), kvCmd(g),
		loginCmd(g), logoutCmd(g), statusCmd(g), unsealCmd(g),
		runCmd(g), injectCmd(g), doctorCmd(g), completionCmd(),
		credsCmd(g), leaseCmd(g), transitCmd(g), certCmd(g), versionCmd(g),
	)
	for _, c := range root.Commands() {
		setUsageErrors(c)
		if kvCommands[c.Name()] {
			completeKVPaths(g, c)
		}
	}
	return root
}

// kvCommands are the commands whose PATH is a KV entry, completed by
// listing (with their subcommands).
var kvCommands = map[string]bool{
	"get": true, "put": true, "patch": true, "delete": true, "undelete": true, "destroy": true,
	"rollback": true, "list": true, "metadata": true, "kv": true,
}

// kvCmd holds the KV commands again under "kv", so that a vault user's
// `vaultly kv get …` (the habit of `vault kv get …`) works as `vaultly get …`.
func kvCmd(g *globals) *cobra.Command {
	return group("kv", "The KV commands as 'vault kv' spells them: 'vaultly kv get' is 'vaultly get'",
		`  vaultly kv get -field=password secret/myapp/db
  vaultly kv put secret/myapp/db username=app password=@pw.txt
  vaultly kv metadata get secret/myapp/db`,
		getCmd(g), putCmd(g), patchCmd(g), deleteCmd(g), undeleteCmd(g), destroyCmd(g), rollbackCmd(g),
		listCmd(g), metadataCmd(g))
}

func completeKVPaths(g *globals, c *cobra.Command) {
	if c.ValidArgsFunction == nil && !c.HasSubCommands() {
		c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return g.completePaths(cmd, args, toComplete)
		}
	}
	for _, s := range c.Commands() {
		completeKVPaths(g, s)
	}
}

// resolveFormat checks -format, defaulting to VAULT_FORMAT (BAO_FORMAT),
// then "table", as the vault CLI does; "yml" is "yaml".
func (g *globals) resolveFormat() error {
	f := g.format
	if f == "" {
		f = strings.ToLower(envFirst("VAULT_FORMAT", "BAO_FORMAT"))
	}
	switch f {
	case "":
		f = "table"
	case "table", "json", "yaml", "raw":
	case "yml":
		f = "yaml"
	default:
		return usagef("invalid output format %q: want table, json, yaml or raw (from -format or VAULT_FORMAT)", f)
	}
	g.format = f
	return nil
}

// warnSkipVerify says that a true VAULT_SKIP_VERIFY (often left in a
// profile for a dev server) is ignored: the library refuses it for an
// https:// address and goes on for plain http://, where there is nothing
// to verify.
func warnSkipVerify(w io.Writer) {
	if v, err := strconv.ParseBool(envFirst("VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY")); err == nil && v {
		fmt.Fprintln(w, "Warning: VAULT_SKIP_VERIFY is set and ignored: vaultly always verifies TLS (it refuses an https:// address with it; a plain http:// address has nothing to verify).")
	}
}

// envFirst returns the first of the environment variables that is set.
func envFirst(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// setUsageErrors makes flag and argument errors of c and its children exit
// with ExitUsage.
func setUsageErrors(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	if c.Args != nil {
		orig := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := orig(cmd, args); err != nil {
				if _, ok := errors.AsType[*usageError](err); ok {
					return err
				}
				return &usageError{err}
			}
			return nil
		}
	}
	for _, s := range c.Commands() {
		setUsageErrors(s)
	}
}

// group returns a command that only holds subcommands.
func group(use, short, example string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return usagef("missing subcommand for %q", cmd.CommandPath())
		},
	}
	c.AddCommand(subs...)
	return c
}

// exactArgs is cobra.ExactArgs with a message naming what is missing.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return usagef("missing %s", strings.Join(names[len(args):], " and "))
		}
		if len(args) > len(names) {
			return usagef("too many arguments: want %s", strings.Join(names, " "))
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("missing %s", what)
		}
		return nil
	}
}

// stdinFile returns the input as an *os.File when it is one.
func (g *globals) stdinFile() (*os.File, bool) {
	f, ok := g.io.In.(*os.File)
	return f, ok
}
