package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

func runCmd(g *globals) *cobra.Command {
	var (
		o       runOptions
		sigName string
	)
	c := &cobra.Command{
		Use:   "run [flags] [--] COMMAND [ARGS...]",
		Short: "Run a command with secrets from Vault in its environment",
		Long: `Start COMMAND with its environment, where every variable whose value is a
reference, vault://PATH[:KEY][?version=N], is replaced by the secret it
names (KEY defaults to "value"; PATH as with 'vault kv': secret/myapp/db,
or relative to -mount). Each Vault entry is read once.

vaultly's own credentials are not passed on: VAULT_TOKEN, BAO_TOKEN,
VAULT_ROLE_ID, VAULT_SECRET_ID and the variables the saved login reads
credentials from are removed from COMMAND's environment, unless
-pass-vault-env is given.

The values are masked as ***** in the command's stdout and stderr unless
-no-mask is given: the value itself, each line of a multi-line value (a PEM
key), its JSON-escaped form and its base64 forms (standard and URL). Values
shorter than 4 bytes (a port) and the JSON literals true, false and null
are not masked, so that ordinary output is not mangled; a warning names
their variables once.

Signals vaultly receives (INT, TERM, HUP, QUIT, USR1, USR2; INT and TERM
on Windows) are forwarded, and vaultly exits with the command's exit code
(128+N when it was killed by signal N). On Linux the command gets SIGTERM
if vaultly itself dies, even by SIGKILL.

With -restart or -signal SIG the references are read again every -interval;
when a value changed, the command is restarted with the new values
(-restart) or sent SIG (-signal). A reference that cannot be resolved at
start stops vaultly before the command starts (exit 2, or 1 when it is
malformed).`,
		Example: `  DB_PASSWORD=vault://secret/myapp/db:password vaultly run -- ./server
  API_KEY='vault://secret/myapp/api:key?version=3' vaultly run -no-mask -- env
  DB_PASSWORD=vault://secret/myapp/db:password vaultly run -restart -interval 30s -- ./server`,
		Args: minArgs(1, "COMMAND after --"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.restart && sigName != "" {
				return usagef("give -restart or -signal, not both")
			}
			if sigName != "" {
				s, ok := parseSignal(sigName)
				if !ok {
					return usagef("-signal: unknown signal %q", sigName)
				}
				o.sig = s
			}
			if o.interval <= 0 {
				return usagef("-interval must be positive")
			}
			if !o.restart && o.sig == nil {
				o.interval = 0 // nothing to watch
			}
			refs, err := envRefs(os.Environ())
			if err != nil {
				return err
			}
			g.logLevel = slog.LevelWarn // token renewal trouble matters to a long run
			k, err := g.kv(cmd.Context())
			if err != nil {
				return err
			}
			defer k.Close()
			r := &runner{g: g, refs: refs, rd: &refReader{k: k}, args: args, opts: o}
			code, err := r.run(cmd.Context())
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	c.Flags().SetInterspersed(false) // flags after COMMAND are the child's
	c.Flags().BoolVar(&o.noMask, "no-mask", false, "do not mask secret values in the command's output")
	c.Flags().BoolVar(&o.passVaultEnv, "pass-vault-env", false, "pass vaultly's credential variables (VAULT_TOKEN, ...) to the command")
	c.Flags().BoolVar(&o.restart, "restart", false, "restart the command when a secret changes")
	c.Flags().StringVar(&sigName, "signal", "", "send this signal (e.g. HUP) to the command when a secret changes")
	c.Flags().DurationVar(&o.interval, "interval", time.Minute, "how often to check for changes with -restart or -signal")
	return c
}

// runOptions are run's flags.
type runOptions struct {
	noMask       bool
	passVaultEnv bool
	restart      bool
	sig          os.Signal
	interval     time.Duration // 0: do not watch
}

// envRefs returns the environment variables whose value is a reference.
// Errors name the variable, never its value.
func envRefs(env []string) (map[string]vaultly.Ref, error) {
	refs := map[string]vaultly.Ref{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(v, vaultly.URIScheme) {
			continue
		}
		r, err := parseRefAt("environment variable "+k, v)
		if err != nil {
			return nil, err
		}
		refs[k] = r
	}
	return refs, nil
}

// credentialVars are the variables vaultly (and the vault CLI) read
// credentials from; a child run starts does not get them.
var credentialVars = []string{"VAULT_TOKEN", "BAO_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID"}

// savedLoginVars returns the variables the saved login's method reads its
// credentials from (its NAME_env parameters).
func savedLoginVars() []string {
	path, err := hashivault.DefaultConfigPath()
	if err != nil {
		return nil
	}
	fc, err := hashivault.ReadConfigFile(path)
	if err != nil || fc.Auth == nil {
		return nil
	}
	var out []string
	for k, v := range fc.Auth.Params {
		if strings.HasSuffix(k, "_env") && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// childEnv is the child's environment: base with every reference variable
// replaced by its value, and without the credential variables in strip.
func childEnv(base []string, vals map[string]string, strip []string) []string {
	env := make([]string, 0, len(base))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := vals[k]; ok {
			env = append(env, k+"="+v)
			continue
		}
		if slices.Contains(strip, k) {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// runner is one `vaultly run`: it resolves the references, starts the
// child with them, supervises it (signals, exit) and, when watching,
// re-reads the references and restarts or signals the child on change.
type runner struct {
	g    *globals
	refs map[string]vaultly.Ref
	rd   *refReader
	args []string
	opts runOptions

	masked  []string  // every value seen, masked for the rest of the run
	maskers []*masker // of the running command
	warned  bool      // the short-values warning was printed
}

// resolve returns the value of every reference variable, read now: each
// entry once, however many of its keys are used.
func (r *runner) resolve(ctx context.Context) (map[string]string, error) {
	r.rd.invalidate(ctx, slices.Collect(maps.Values(r.refs)))
	vals := make(map[string]string, len(r.refs))
	for _, name := range slices.Sorted(maps.Keys(r.refs)) {
		v, err := r.rd.read(ctx, "environment variable "+name, r.refs[name])
		if err != nil {
			return nil, err
		}
		vals[name] = v
	}
	return vals, nil
}

// run starts the command and supervises it; it returns the exit code.
func (r *runner) run(ctx context.Context) (int, error) {
	vals, err := r.resolve(ctx)
	if err != nil {
		return 0, err
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	var tick <-chan time.Time
	if r.opts.interval > 0 {
		t := time.NewTicker(r.opts.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		r.remember(vals)
		ch, err := r.start(vals)
		if err != nil {
			return 0, err
		}
		restarted, code, err := r.supervise(ctx, ch, sigs, tick, &vals)
		if err != nil || !restarted {
			return code, err
		}
	}
}

// remember adds vals to what is masked and warns, once, about the values
// too short to mask.
func (r *runner) remember(vals map[string]string) {
	added := slices.Collect(maps.Values(vals))
	r.masked = append(r.masked, added...)
	for _, m := range r.maskers { // the running command may print them
		m.add(maskForms(added))
	}
	if r.opts.noMask || r.warned {
		return
	}
	var short []string
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		if v := vals[name]; v != "" && unmasked(v) {
			short = append(short, name)
		}
	}
	if len(short) > 0 {
		r.warned = true
		fmt.Fprintf(r.g.io.Err, "vaultly: warning: values shorter than %d bytes (and true, false, null) are not masked in the output: %s\n", minMaskLen, strings.Join(short, ", "))
	}
}

// child is a started command and what to do when it has ended.
type child struct {
	cmd   *exec.Cmd
	done  chan error
	flush func() // flushes the maskers; call once the command has ended
}

// start starts the command with vals in its environment.
func (r *runner) start(vals map[string]string) (*child, error) {
	var strip []string
	if !r.opts.passVaultEnv {
		strip = append(slices.Clone(credentialVars), savedLoginVars()...)
	}
	c := exec.Command(r.args[0], r.args[1:]...)
	c.Env = childEnv(os.Environ(), vals, strip)
	c.Stdin = r.g.io.In
	c.WaitDelay = 5 * time.Second   // a grandchild holding the output open
	c.SysProcAttr = childProcAttr() // Linux: SIGTERM to the command if vaultly dies
	flush := func() {}
	if r.opts.noMask {
		c.Stdout, c.Stderr = r.g.io.Out, r.g.io.Err
	} else {
		forms := maskForms(r.masked)
		mo, me := newMasker(r.g.io.Out, forms), newMasker(r.g.io.Err, forms)
		c.Stdout, c.Stderr = mo, me
		r.maskers = []*masker{mo, me}
		flush = func() {
			for _, m := range []io.Closer{mo, me} {
				m.Close()
			}
		}
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", r.args[0], err)
	}
	ch := &child{cmd: c, done: make(chan error, 1), flush: flush}
	go func() { ch.done <- c.Wait() }()
	return ch, nil
}

// supervise forwards signals to ch and, on each tick, re-reads the values
// (into *vals) and acts on a change. It returns when the command has
// ended: restarted true when that was for a restart, else its exit code.
func (r *runner) supervise(ctx context.Context, ch *child, sigs <-chan os.Signal, tick <-chan time.Time, vals *map[string]string) (restarted bool, code int, err error) {
	restarting := false
	for {
		select {
		case s := <-sigs:
			_ = ch.cmd.Process.Signal(s)
		case <-tick:
			changed, err := r.recheck(ctx, vals)
			if err != nil {
				fmt.Fprintf(r.g.io.Err, "vaultly: checking for changes: %s\n", r.g.errText(err))
				continue
			}
			if !changed {
				continue
			}
			if r.opts.restart {
				restarting = true
				_ = ch.cmd.Process.Signal(stopSignal)
			} else {
				_ = ch.cmd.Process.Signal(r.opts.sig)
			}
		case err := <-ch.done:
			ch.flush()
			if restarting {
				return true, 0, nil
			}
			if err != nil {
				if _, ok := errors.AsType[*exec.ExitError](err); !ok {
					return false, 0, fmt.Errorf("run %s: %w", r.args[0], err)
				}
			}
			return false, exitCodeOf(ch.cmd.ProcessState), nil
		}
	}
}

// recheck reads the values again; a change replaces *vals and is
// remembered for masking at once (the running command may print it).
func (r *runner) recheck(ctx context.Context, vals *map[string]string) (bool, error) {
	nv, err := r.resolve(ctx)
	if err != nil {
		return false, err
	}
	if maps.Equal(nv, *vals) {
		return false, nil
	}
	*vals = nv
	r.remember(nv)
	return true, nil
}
