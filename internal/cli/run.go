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
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vaultly/vaultly"
)

func runCmd(g *globals) *cobra.Command {
	var (
		noMask   bool
		restart  bool
		sigName  string
		interval time.Duration
	)
	c := &cobra.Command{
		Use:   "run [flags] [--] COMMAND [ARGS...]",
		Short: "Run a command with secrets from Vault in its environment",
		Long: `Start COMMAND with its environment, where every variable whose value is a
reference, vault://PATH[:KEY][?version=N], is replaced by the secret it
names (KEY defaults to "value"). Each Vault entry is read once.

The values are masked as ***** in the command's stdout and stderr unless
-no-mask is given. Signals vaultly receives (INT, TERM, HUP, QUIT, USR1,
USR2) are forwarded, and vaultly exits with the command's exit code
(128+N when it was killed by signal N). On Linux the command gets SIGTERM
if vaultly itself dies, even by SIGKILL.

With -restart or -signal SIG the references are read again every -interval;
when a value changed, the command is restarted with the new values
(-restart) or sent SIG (-signal). A reference that cannot be resolved at
start stops vaultly before the command starts (exit 3 when not found).`,
		Example: `  DB_PASSWORD=vault://myapp/db:password vaultly run -- ./server
  API_KEY='vault://myapp/api:key?version=3' vaultly run -no-mask -- env
  DB_PASSWORD=vault://myapp/db:password vaultly run -restart -interval 30s -- ./server`,
		Args: minArgs(1, "COMMAND after --"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if restart && sigName != "" {
				return usagef("give -restart or -signal, not both")
			}
			var sig os.Signal
			if sigName != "" {
				s, ok := parseSignal(sigName)
				if !ok {
					return usagef("-signal: unknown signal %q", sigName)
				}
				sig = s
			}
			if interval <= 0 {
				return usagef("-interval must be positive")
			}
			g.logLevel = slog.LevelWarn // token renewal trouble matters to a long run
			refs, err := envRefs(os.Environ())
			if err != nil {
				return &usageError{err}
			}
			s, err := g.store(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			r := &runner{g: g, s: s, refs: refs, args: args, noMask: noMask, restart: restart, sig: sig}
			if restart || sig != nil {
				r.interval = interval
			}
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
	c.Flags().BoolVar(&noMask, "no-mask", false, "do not mask secret values in the command's output")
	c.Flags().BoolVar(&restart, "restart", false, "restart the command when a secret changes")
	c.Flags().StringVar(&sigName, "signal", "", "send this signal (e.g. HUP) to the command when a secret changes")
	c.Flags().DurationVar(&interval, "interval", time.Minute, "how often to check for changes with -restart or -signal")
	return c
}

// envRefs returns the environment variables whose value is a reference.
func envRefs(env []string) (map[string]vaultly.Ref, error) {
	refs := map[string]vaultly.Ref{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(v, vaultly.URIScheme) {
			continue
		}
		r, err := vaultly.ParseRef(v)
		if err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", k, err)
		}
		refs[k] = r
	}
	return refs, nil
}

type runner struct {
	g        *globals
	s        *vaultly.Store
	refs     map[string]vaultly.Ref
	args     []string
	noMask   bool
	restart  bool
	sig      os.Signal
	interval time.Duration // 0: do not watch
}

// resolve returns the value of every reference variable, read now: each
// entry once, however many of its keys are used.
func (r *runner) resolve(ctx context.Context) (map[string]string, error) {
	for _, ref := range r.refs {
		r.s.Invalidate(ref.Path)
	}
	vals := make(map[string]string, len(r.refs))
	for _, name := range slices.Sorted(maps.Keys(r.refs)) {
		v, err := r.s.GetRef(ctx, r.refs[name], nil)
		if err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", name, err)
		}
		vals[name] = v
	}
	return vals, nil
}

var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

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
	if r.interval > 0 {
		t := time.NewTicker(r.interval)
		defer t.Stop()
		tick = t.C
	}
	var secrets []string // every value seen stays masked
	for {
		secrets = append(secrets, slices.Collect(maps.Values(vals))...)
		child, closeOut, err := r.start(vals, secrets)
		if err != nil {
			return 0, err
		}
		done := make(chan error, 1)
		go func() { done <- child.Wait() }()
		restarting := false
	supervise:
		for {
			select {
			case s := <-sigs:
				_ = child.Process.Signal(s)
			case <-tick:
				nv, err := r.resolve(ctx)
				if err != nil {
					fmt.Fprintf(r.g.io.Err, "vaultly: checking for changes: %s\n", r.g.errText(err))
					continue
				}
				if maps.Equal(nv, vals) {
					continue
				}
				vals = nv
				secrets = append(secrets, slices.Collect(maps.Values(vals))...)
				if r.restart {
					restarting = true
					_ = child.Process.Signal(syscall.SIGTERM)
				} else {
					_ = child.Process.Signal(r.sig)
				}
			case err := <-done:
				closeOut()
				if restarting {
					break supervise
				}
				if err != nil {
					if _, ok := errors.AsType[*exec.ExitError](err); !ok {
						return 0, fmt.Errorf("run %s: %w", r.args[0], err)
					}
				}
				return exitCodeOf(child.ProcessState), nil
			}
		}
	}
}

func (r *runner) start(vals map[string]string, secrets []string) (*exec.Cmd, func(), error) {
	env := os.Environ()
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := vals[k]; ok {
			env[i] = k + "=" + v
		}
	}
	c := exec.Command(r.args[0], r.args[1:]...)
	c.Env = env
	c.Stdin = r.g.io.In
	c.WaitDelay = 5 * time.Second   // a grandchild holding the output open
	c.SysProcAttr = childProcAttr() // Linux: SIGTERM to the command if vaultly dies
	var closers []io.Closer
	if r.noMask {
		c.Stdout, c.Stderr = r.g.io.Out, r.g.io.Err
	} else {
		mo, me := newMasker(r.g.io.Out, secrets), newMasker(r.g.io.Err, secrets)
		c.Stdout, c.Stderr = mo, me
		closers = append(closers, mo, me)
	}
	if err := c.Start(); err != nil {
		return nil, nil, fmt.Errorf("run %s: %w", r.args[0], err)
	}
	return c, func() {
		for _, cl := range closers {
			cl.Close()
		}
	}, nil
}

func exitCodeOf(st *os.ProcessState) int {
	if st == nil {
		return ExitError
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

func parseSignal(name string) (os.Signal, bool) {
	n := strings.TrimPrefix(strings.ToUpper(name), "SIG")
	s, ok := map[string]syscall.Signal{
		"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "TERM": syscall.SIGTERM,
		"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "KILL": syscall.SIGKILL,
	}[n]
	return s, ok
}
