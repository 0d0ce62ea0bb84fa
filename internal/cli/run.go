package cli

import (
	"bufio"
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
	"sync"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

func runCmd(g *globals) *cobra.Command {
	var (
		o                 runOptions
		sigName, stopName string
	)
	c := &cobra.Command{
		Use:   "run [flags] [--] COMMAND [ARGS...]  |  run -config agent.hcl [flags] [-- COMMAND [ARGS...]]",
		Short: "Run a command with secrets from Vault in its environment",
		Long: `Start COMMAND with its environment, where every variable whose value is a
reference, vault://PATH[:KEY][?version=N], is replaced by the secret it
names (KEY defaults to "value"; PATH as with 'vault kv': secret/myapp/db,
or relative to -mount). Each Vault entry is read once.

A PATH under a mount that is not KV (found through sys/internal/ui/mounts,
as 'vault kv' finds mounts) is a dynamic secret: vault://database/creds/app:username
and vault://database/creds/app:password issue one lease (one database
user) between them, which the lease engine renews and replaces before it
ends.

-secret PATH puts every key of the entry (or dynamic secret) at PATH in the
environment, upper-cased, non-alphanumerics as _, after -prefix (envconsul's
-secret). -env-file FILE adds NAME=VALUE lines (# comments, optional
"export ", quotes), whose values may be references (1Password's op run
--env-file habit).

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

With -restart or -signal SIG, KV entries are checked for a change every
-interval (the library's change detection: one version read per entry on
KV v2) and dynamic secrets follow their rotations. On a change the command
is restarted with the new values (-restart: -stop-signal, then SIGKILL
after -kill-timeout; the replaced lease is revoked once the old command
has exited) or sent SIG (-signal: the command must read its new
credentials elsewhere, the environment of a running process cannot
change). Each is logged with the path that changed, never the value; a
restart that fails (Vault unreachable, the command does not start) is
tried again with backoff. A reference that cannot be resolved at start
stops vaultly before the command starts (exit 2, or 1 when it is
malformed); with -config, vaultly waits instead (below).

-config FILE reads Vault Agent's process supervisor mode from an HCL (or
.json) file: each env_template "NAME" block's rendering (the templates of
inject, consul-template's language) is the value of NAME, and the exec
block is the command: command (a list, or a string for sh -c),
restart_on_secret_changes ("always", the default: restart on a change;
"never"), restart_stop_signal (default SIGTERM), child_process_stdout and
child_process_stderr (files the command's output, masked, is appended to;
created with mode 0600), and, as consul-template's exec block,
kill_timeout (default 30s) and reload_signal (send it instead of
restarting). As Vault Agent, run -config waits for Vault at start: a
connection or first rendering that fails for a reason the server may mend
(sealed, unreachable, a path or key not written yet, a policy not granted
yet) is logged and tried again with backoff (1s doubling to 1m) until it
succeeds; INT, TERM or QUIT meanwhile stops vaultly (exit 128+N).
template_config's static_secret_render_interval is how often KV entries
are checked (-interval), its exit_on_retry_failure = true stops vaultly at
start instead of waiting, and stops the command and vaultly when the
secrets cannot be read again after a change; the vault block gives the address and TLS settings no flag or
VAULT_* variable gave; auto_auth's method (token_file, approle, kubernetes,
jwt, aws or cert, with Agent's settings) logs in unless VAULT_TOKEN is set. The
file 'vault agent generate-config -type=env-template' writes runs as it
is; pid_file holds vaultly's process ID while it runs. Flags given on the command line win over the file.`,
		Example: `  DB_PASSWORD=vault://secret/myapp/db:password vaultly run -- ./server
  API_KEY='vault://secret/myapp/api:key?version=3' vaultly run -no-mask -- env
  DB_PASSWORD=vault://secret/myapp/db:password vaultly run -restart -interval 30s -- ./server
  PGUSER=vault://database/creds/app:username PGPASSWORD=vault://database/creds/app:password \
    vaultly run -restart -- ./worker
  vaultly run -secret secret/myapp/db -prefix DB_ -env-file app.env -- ./server
  vaultly run -config agent.hcl
  # agent.hcl:
  #   env_template "DB_PASSWORD" {
  #     contents = "{{ with secret \"secret/data/myapp/db\" }}{{ .Data.data.password }}{{ end }}"
  #   }
  #   exec {
  #     command                   = ["./server", "-port", "8080"]
  #     restart_on_secret_changes = "always"
  #   }`,
		RunE: func(cmd *cobra.Command, args []string) error {
			rc, args, err := loadRunConfig(g, &o, cmd.Flags().Changed, args)
			if err != nil {
				return err
			}
			if err := minArgs(1, "COMMAND after -- (or an exec block in -config)")(cmd, args); err != nil {
				return err
			}
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
			o.stopSignal = stopSignal
			if stopName != "" {
				s, ok := parseSignal(stopName)
				if !ok {
					return usagef("-stop-signal: unknown signal %q", stopName)
				}
				o.stopSignal = s
			}
			rc.policy.apply(&o, cmd.Flags().Changed)
			if o.interval <= 0 || o.killTimeout <= 0 {
				return usagef("-interval and -kill-timeout must be positive")
			}
			vars, err := envRefs(os.Environ())
			if err != nil {
				return err
			}
			plain := map[string]string{}
			for _, f := range o.envFiles {
				if err := readEnvFile(f, vars, plain); err != nil {
					return err
				}
			}
			for _, p := range o.secrets {
				if _, err := vaultly.CleanPath(p); err != nil {
					return usagef("-secret %s: not a valid path", p)
				}
			}
			g.logLevel = slog.LevelWarn // token renewal trouble matters to a long run
			ctx := cmd.Context()
			out, errOut, closeOut, err := childOutput(g, o)
			if err != nil {
				return err
			}
			defer closeOut()
			removePid, err := writePidFile(rc.pidFile)
			if err != nil {
				return err
			}
			defer removePid()
			sigs := make(chan os.Signal, 8)
			signal.Notify(sigs, forwarded...)
			defer signal.Stop(sigs)
			if err := g.startHealth(o.listen); err != nil {
				return err
			}
			defer g.closeHealth(ctx)
			var k *kvConn
			w := startWait{g: g, on: o.waitStart && !o.exitOnRetryFailure, sigs: sigs, then: "the command starts once it succeeds"}
			if err := w.do(ctx, "connecting to Vault", func() (err error) {
				k, err = g.kv(ctx)
				return err
			}); err != nil {
				return err
			}
			defer k.Close()
			r := newRunner(g, k, vars, plain, args, o)
			r.envs, r.wait, r.out, r.errOut = rc.envs, w, out, errOut
			defer r.env.Close(context.WithoutCancel(ctx))
			code, err := r.run(ctx)
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
	f := c.Flags()
	f.BoolVar(&o.noMask, "no-mask", false, "do not mask secret values in the command's output")
	f.BoolVar(&o.passVaultEnv, "pass-vault-env", false, "pass vaultly's credential variables (VAULT_TOKEN, ...) to the command")
	f.BoolVar(&o.restart, "restart", false, "restart the command when a secret changes or a dynamic secret rotates")
	f.StringVar(&sigName, "signal", "", "send this signal (e.g. HUP) to the command when a secret changes, instead of restarting it")
	f.StringVar(&stopName, "stop-signal", "", "signal that asks the command to stop before a restart (default TERM)")
	f.DurationVar(&o.killTimeout, "kill-timeout", 10*time.Second, "how long a stopping command may take before it is killed")
	f.DurationVar(&o.interval, "interval", time.Minute, "how often KV entries are checked for a change with -restart or -signal")
	f.StringArrayVar(&o.secrets, "secret", nil, "put every key of this entry (or dynamic secret) in the environment; repeatable")
	f.StringVar(&o.prefix, "prefix", "", "prefix of the variables -secret makes (e.g. DB_)")
	f.StringVar(&o.listen, "listen", "", "serve /health and /metrics (Prometheus text) on this loopback HOST:PORT while the command runs")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "file of NAME=VALUE lines (values may be vault:// references); repeatable")
	f.StringVar(&o.config, "config", "", "HCL (or .json) file with Vault Agent's env_template blocks and exec block")
	return c
}

// runOptions are run's flags.
type runOptions struct {
	noMask       bool
	passVaultEnv bool
	restart      bool
	sig          os.Signal
	stopSignal   os.Signal
	killTimeout  time.Duration
	interval     time.Duration
	secrets      []string
	prefix       string
	envFiles     []string
	listen       string
	config       string
	// exitOnRetryFailure (template_config's exit_on_retry_failure): stop
	// the command and exit when the secrets cannot be read again after a
	// change, instead of trying again with backoff.
	exitOnRetryFailure bool
	// waitStart (-config, as Vault Agent's supervisor mode): a connection
	// or first rendering that fails for a reason the server's state may
	// mend is tried again with backoff until it succeeds, instead of
	// stopping vaultly (see startWait).
	waitStart bool
	// stdoutFile and stderrFile (the exec block's child_process_stdout
	// and child_process_stderr): the command's output goes to these files
	// (appended to; created with mode 0600), masked as it would be on
	// vaultly's own.
	stdoutFile, stderrFile string
}

func (o runOptions) watching() bool { return o.restart || o.sig != nil }

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

// readEnvFile reads NAME=VALUE lines of name into refs (values that are
// references) and plain (the others). Errors name the file and line,
// never a value.
func readEnvFile(name string, refs map[string]vaultly.Ref, plain map[string]string) error {
	f, err := os.Open(name)
	if err != nil {
		return usagef("-env-file: %v", pathErr(err))
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsFunc(k, func(r rune) bool { return !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) }) {
			return usagef("-env-file %s:%d: want NAME=VALUE", name, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		if strings.HasPrefix(v, vaultly.URIScheme) {
			r, err := parseRefAt(fmt.Sprintf("-env-file %s:%d (%s)", name, n, k), v)
			if err != nil {
				return err
			}
			refs[k] = r
			delete(plain, k)
			continue
		}
		plain[k] = v
		delete(refs, k)
	}
	if err := sc.Err(); err != nil {
		return usagef("-env-file %s: %v", name, err)
	}
	return nil
}

// envName is the variable -secret makes of key: prefix, then the key
// upper-cased with every character other than a letter, digit or _ as _.
func envName(prefix, key string) string {
	return prefix + strings.Map(func(r rune) rune {
		if r == '_' || r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return unicode.ToUpper(r)
		}
		return '_'
	}, key)
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

// childEnv is the child's environment: base with every variable of vals
// set (replaced or added) and without the credential variables in strip.
func childEnv(base []string, vals map[string]string, strip []string) []string {
	env := make([]string, 0, len(base)+len(vals))
	seen := map[string]bool{}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := vals[k]; ok {
			env = append(env, k+"="+v)
			seen[k] = true
			continue
		}
		if slices.Contains(strip, k) {
			continue
		}
		env = append(env, kv)
	}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if !seen[k] {
			env = append(env, k+"="+vals[k])
		}
	}
	return env
}

// runner is one `vaultly run`: it resolves the references, starts the
// child with them, supervises it (signals, exit) and, when watching,
// restarts or signals the child when a secret it got changes.
type runner struct {
	g     *globals
	env   *tmplEnv
	refs  map[string]vaultly.Ref
	plain map[string]string
	args  []string
	opts  runOptions
	envs  []envTmpl // -config's env_template blocks

	statics map[dep]bool // non-KV secrets without a lease the env templates read: read again every -interval

	q       *changeQueue
	watcher entryWatcher
	watches map[dep]func()

	mu      sync.Mutex
	replace []string // lease ids of generations replaced since the last restart

	masked  []string  // every value seen, masked for the rest of the run
	maskers []*masker // of the running command
	warned  bool      // the short-values warning was printed

	wait        startWait // its sigs: the signals vaultly receives (forwarded to the command)
	out, errOut io.Writer // where the command's stdout and stderr go
}

func newRunner(g *globals, k *kvConn, refs map[string]vaultly.Ref, plain map[string]string, args []string, o runOptions) *runner {
	r := &runner{g: g, env: newTmplEnv(k), refs: refs, plain: plain, args: args, opts: o,
		q: newChangeQueue(), watcher: storeWatcher{every: o.interval}, watches: map[dep]func(){}, statics: map[dep]bool{},
		out: g.io.Out, errOut: g.io.Err}
	r.env.changed = r.q
	r.env.revoke = true // the command that used them is gone when vaultly exits
	r.env.keep = true
	r.env.logf = r.logf
	r.env.onEvent = func(path string, ev vaultly.DynamicEvent[map[string]string]) {
		if ev.Kind == vaultly.LeaseRotated && ev.Previous != nil {
			r.mu.Lock()
			r.replace = append(r.replace, ev.Previous.Lease.ID)
			r.mu.Unlock()
		}
	}
	return r
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.g.io.Err, "vaultly: "+format+"\n", args...)
}

// resolve returns the value of every variable, read now, and what they
// depend on: each KV entry read once however many of its keys are used,
// each dynamic secret issued once however many of its fields are used.
func (r *runner) resolve(ctx context.Context) (map[string]string, map[dep]bool, error) {
	vals := maps.Clone(r.plain)
	deps := map[dep]bool{}
	k := r.env.k
	for _, name := range slices.Sorted(maps.Keys(r.refs)) {
		ref := r.refs[name]
		where := "environment variable " + name
		t, m, err := k.resolveAny(ctx, ref.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		if !m.isKV() {
			fields, err := r.dynamicFields(ctx, where, t, ref.Version, deps)
			if err != nil {
				return nil, nil, err
			}
			key := ref.Key
			if key == "" {
				key = r.env.defaultKey()
			}
			v, ok := fields[key]
			if !ok {
				return nil, nil, missingKeyf("%s: no key %q in the secret at %s (it has %s)", where, key, t, strings.Join(quoted(slices.Sorted(maps.Keys(fields))), ", "))
			}
			vals[name] = v
			continue
		}
		v, err := r.env.rd.read(ctx, where, ref)
		if err != nil {
			return nil, nil, err
		}
		if ref.Version == 0 {
			kt, _ := k.resolve(ctx, ref.Path)
			deps[dep{depKV, kt.String()}] = true
		}
		vals[name] = v
	}
	for _, et := range r.envs {
		out, used, err := r.env.render(ctx, et.spec)
		if err != nil {
			return nil, nil, err
		}
		vals[et.name] = string(out)
		for d := range used {
			deps[d] = true
		}
	}
	for _, p := range r.opts.secrets {
		where := "-secret " + p
		t, m, err := k.resolveAny(ctx, p)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		var fields map[string]string
		if m.isKV() {
			if t, err = k.resolve(ctx, p); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", where, err)
			}
			s, err := k.store(ctx, t.mount)
			if err != nil {
				return nil, nil, err
			}
			e, err := s.Entry(ctx, t.path, 0, nil)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", where, atTarget(t, err))
			}
			fields = e.Fields
			deps[dep{depKV, t.String()}] = true
		} else if fields, err = r.dynamicFields(ctx, where, t, 0, deps); err != nil {
			return nil, nil, err
		}
		for key, v := range fields {
			vals[envName(r.opts.prefix, key)] = v
		}
	}
	return vals, deps, nil
}

// dynamicFields returns the current fields of the dynamic secret at t.
func (r *runner) dynamicFields(ctx context.Context, where string, t kvTarget, version int, deps map[dep]bool) (map[string]string, error) {
	if version != 0 {
		return nil, usagef("%s: %s is not a KV entry: it has no versions", where, t)
	}
	d, err := r.env.dynamic(ctx, t.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if d.static {
		return nil, usagef("%s: the secret at %s has no lease: run reads KV entries and leased dynamic secrets", where, t)
	}
	deps[dep{depDynamic, t.String()}] = true
	cur, err := d.d.Wait(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return cur.Value, nil
}

// follow watches the KV entries of deps (dynamic secrets announce their
// rotations by themselves).
func (r *runner) follow(ctx context.Context, deps map[dep]bool) {
	if !r.opts.watching() {
		return
	}
	for d := range deps {
		if d.kind == depStatic {
			r.statics[d] = true
		}
		if d.kind != depKV || r.watches[d] != nil {
			continue
		}
		if stop := r.g.watchDep(ctx, r.watcher, r.env.k, r.q, d); stop != nil {
			r.watches[d] = stop
		}
	}
}

// run starts the command and supervises it; it returns the exit code.
func (r *runner) run(ctx context.Context) (int, error) {
	defer func() {
		for _, stop := range r.watches {
			stop()
		}
	}()
	var vals map[string]string
	var deps map[dep]bool
	tried := false
	if err := r.wait.do(ctx, "rendering the command's environment", func() (err error) {
		if tried {
			r.env.k.refreshAll(ctx)
		}
		tried = true
		vals, deps, err = r.resolve(ctx)
		return err
	}); err != nil {
		return 0, err
	}
	r.follow(ctx, deps)
	r.takeReplaced() // rotations before the first start replace nothing in use
	sigs := r.wait.sigs
	r.remember(vals)
	ch, err := r.start(vals)
	if err != nil {
		return 0, err
	}
	failures := 0
	var retry <-chan time.Time
	var static <-chan time.Time
	if r.opts.watching() && len(r.statics) > 0 {
		t := time.NewTicker(r.opts.interval)
		defer t.Stop()
		static = t.C
	}
	for {
		select {
		case s := <-sigs:
			_ = ch.cmd.Process.Signal(s)
			continue
		case <-static:
			for d := range r.statics {
				r.q.push(d)
			}
			continue
		case err := <-ch.done:
			ch.flush()
			if err != nil {
				if _, ok := errors.AsType[*exec.ExitError](err); !ok {
					return 0, fmt.Errorf("run %s: %w", r.args[0], err)
				}
			}
			return exitCodeOf(ch.cmd.ProcessState), nil
		case <-r.q.wake:
		case <-retry:
			retry = nil
		}
		changed := r.q.take()
		if len(changed) == 0 && failures == 0 {
			continue
		}
		what := strings.Join(slices.Sorted(func(yield func(string) bool) {
			for d := range changed {
				if !yield(d.key) {
					return
				}
			}
		}), ", ")
		nv, deps, err := r.resolve(ctx)
		if err != nil && r.opts.exitOnRetryFailure {
			r.logf("reading the secrets again after a change failed (exit_on_retry_failure): stopping the command: %s", r.g.errText(err))
			r.stop(ch, sigs)
			return 0, err
		}
		if err != nil {
			failures++
			d := restartBackoff(failures)
			r.logf("reading the secrets again after a change failed (attempt %d, next in %s): %s", failures, d, r.g.errText(err))
			retry = time.After(d)
			continue
		}
		r.follow(ctx, deps)
		if maps.Equal(nv, vals) && failures == 0 {
			continue
		}
		failures = 0
		vals = nv
		r.remember(vals)
		if !r.opts.watching() {
			if what != "" {
				r.logf("%s changed; the command keeps its values (give -restart or -signal to act on changes)", what)
			}
			continue
		}
		if r.opts.sig != nil {
			r.logf("%s changed: sending %s to the command", what, sigName(r.opts.sig))
			_ = ch.cmd.Process.Signal(r.opts.sig)
			continue
		}
		r.logf("%s changed: restarting the command", what)
		pending := r.stop(ch, sigs)
		if s := firstStopping(pending); s != nil {
			r.logf("%s during the restart: the command is not started again", sigName(s))
			return exitCodeOf(ch.cmd.ProcessState), nil
		}
		for {
			ch, err = r.start(vals)
			if err == nil {
				break
			}
			failures++
			d := restartBackoff(failures)
			r.logf("restarting the command failed (attempt %d, next in %s): %s", failures, d, err)
			if stop := sleepOrStop(ctx, sigs, d, "the command could not be restarted", func(s os.Signal) { pending = append(pending, s) }); stop != nil {
				if ctx.Err() != nil {
					return 0, err // the start's failure, not the cancellation
				}
				return 0, stop
			}
		}
		for _, s := range pending {
			_ = ch.cmd.Process.Signal(s) // received while the old one stopped
		}
		failures = 0
		r.revokeReplaced(ctx)
	}
}

// stop asks the command to stop (-stop-signal), kills it after
// -kill-timeout, and waits for it; signals received meanwhile are
// forwarded to it and returned, so that a restart does not lose them (one
// that asks vaultly to stop means no new command; others go to the new
// one).
func (r *runner) stop(ch *child, sigs <-chan os.Signal) (received []os.Signal) {
	_ = ch.cmd.Process.Signal(r.opts.stopSignal)
	kill := time.NewTimer(r.opts.killTimeout)
	defer kill.Stop()
	for {
		select {
		case s := <-sigs:
			_ = ch.cmd.Process.Signal(s)
			received = append(received, s)
		case <-kill.C:
			r.logf("the command did not stop within %s of %s: killing it", r.opts.killTimeout, sigName(r.opts.stopSignal))
			_ = ch.cmd.Process.Kill()
		case <-ch.done:
			ch.flush()
			return received
		}
	}
}

// firstStopping returns the first of sigs that asks vaultly to stop
// (INT, TERM, QUIT), or nil.
func firstStopping(sigs []os.Signal) os.Signal {
	for _, s := range sigs {
		if _, ok := stopExit(s); ok {
			return s
		}
	}
	return nil
}

func (r *runner) takeReplaced() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.replace
	r.replace = nil
	return ids
}

// revokeReplaced revokes the leases of the generations replaced since the
// last start: the command that used them has exited.
func (r *runner) revokeReplaced(ctx context.Context) {
	ids := r.takeReplaced()
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := r.env.k.primary.RevokeLease(ctx, id)
		cancel()
		if err != nil {
			r.logf("revoking a replaced lease failed (it ends on its own): %s", r.g.errText(err))
		}
	}
	if len(ids) > 0 {
		r.logf("revoked %d replaced lease(s): the command that used them has exited", len(ids))
	}
}

// restartBackoff is the wait before attempt n (1 for the first) of a
// restart or re-read that failed: 1s doubling to at most one minute.
func restartBackoff(n int) time.Duration {
	d := time.Second
	for i := 1; i < n && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// remember adds vals to what is masked and warns, once, about the values
// too short to mask.
func (r *runner) remember(vals map[string]string) {
	var added []string
	for k, v := range vals {
		if _, ok := r.plain[k]; !ok || r.plain[k] != v {
			added = append(added, v)
		}
	}
	r.masked = append(r.masked, added...)
	for _, m := range r.maskers { // the running command may print them
		m.add(maskForms(added))
	}
	if r.opts.noMask || r.warned {
		return
	}
	var short []string
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		if _, isPlain := r.plain[name]; isPlain {
			continue
		}
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
		c.Stdout, c.Stderr = r.out, r.errOut
	} else {
		forms := maskForms(r.masked)
		mo, me := newMasker(r.out, forms), newMasker(r.errOut, forms)
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
