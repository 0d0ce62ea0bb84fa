package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vaultly/vaultly"
)

// envTmpl is one env_template: the variable and the template whose
// rendering is its value.
type envTmpl struct {
	name string
	spec *tmplSpec
}

// defaultExecKillTimeout is how long a command stopping for a restart may
// take before it is killed, in a config file's exec block (Vault Agent's
// fixed 30 s; the -kill-timeout flag's default is 10 s).
const defaultExecKillTimeout = 30 * time.Second

// runConfig is what `vaultly run -config FILE` takes from the file: Vault
// Agent's process supervisor mode (env_template blocks and an exec block).
type runConfig struct {
	envs    []envTmpl
	command []string // nil: the command comes after --
	policy  execPolicy
	pidFile string // pid_file ("": none)
}

// execPolicy is what the exec block says to do on a change.
type execPolicy struct {
	set         bool // an exec block gave it
	restart     bool
	sig         os.Signal // reload_signal: signal instead of restarting
	stopSignal  os.Signal
	killTimeout time.Duration
	// child_process_stdout and child_process_stderr ("": vaultly's own)
	stdoutFile, stderrFile string
}

// loadRunConfig reads run's -config file (none: an empty runConfig) and
// takes from it what flags did not give (changed says which were given):
// the command when args has none, the vault block, auto_auth,
// exit_on_retry_failure and the KV check interval. The exec block's change
// policy is applied later, with the flags (execPolicy.apply).
func loadRunConfig(g *globals, o *runOptions, changed func(flag string) bool, args []string) (*runConfig, []string, error) {
	rc := &runConfig{}
	if o.config == "" {
		return rc, args, nil
	}
	cfg, err := readConfigFile(o.config)
	if err != nil {
		return nil, nil, err
	}
	if rc, err = cfg.forRun(); err != nil {
		return nil, nil, err
	}
	rc.pidFile = cfg.PidFile
	for _, et := range rc.envs {
		if _, err := parseTmpl(et.spec, nil); err != nil {
			return nil, nil, &usageError{err}
		}
	}
	if rc.command != nil {
		if len(args) > 0 {
			return nil, nil, usagef("config: %s has an exec block: give the command there or after --, not both", o.config)
		}
		args = rc.command
	}
	if err := g.applyConfig(cfg); err != nil {
		return nil, nil, err
	}
	o.waitStart = true
	if err := cfg.applyTemplateConfig(&o.exitOnRetryFailure, &o.interval, changed("interval")); err != nil {
		return nil, nil, err
	}
	return rc, args, nil
}

// forRun checks the file for run and returns its settings. As Vault Agent,
// it wants at least one env_template, refuses template blocks next to
// them, and refuses the attributes of a file template in an env_template
// (the schema does: "An argument named "destination" is not expected here").
func (c *fileConfig) forRun() (*runConfig, error) {
	if len(c.Templates) > 0 {
		return nil, usagef("config: %s: run puts secrets in the command's environment (env_template blocks) and renders no file: render template blocks with 'vaultly inject -config' (Vault Agent refuses template and env_template together too)", c.Templates[0].DeclRange)
	}
	if len(c.EnvTemplates) == 0 {
		return nil, usagef("config: %s has no env_template block (run -config takes Vault Agent's env_template and exec blocks)", c.file)
	}
	if c.ExitAfterAuth != nil && *c.ExitAfterAuth {
		return nil, usagef("config: %s: exit_after_auth = true renders once and exits: run supervises a command; render files once with 'vaultly inject -config'", c.file)
	}
	rc := &runConfig{}
	seen := map[string]string{}
	for _, b := range c.EnvTemplates {
		at := b.DeclRange.String()
		fail := func(format string, args ...any) error {
			return usagef("config: %s: env_template %q: %s", at, b.Name, fmt.Sprintf(format, args...))
		}
		if b.Name == "" || strings.ContainsAny(b.Name, "=\x00") {
			return nil, usagef("config: %s: env_template %q: not an environment variable name", at, b.Name)
		}
		if prev, ok := seen[b.Name]; ok {
			return nil, fail("the variable is also set by the env_template at %s", prev)
		}
		seen[b.Name] = at
		t := &tmplSpec{missingKeyErr: true, leftDelim: b.LeftDelim, rightDelim: b.RightDelim}
		var err error
		if t.src, t.name, err = templateText(b.Source, b.Contents, b.Name+" ("+at+")"); err != nil {
			return nil, fail("%v", err)
		}
		if b.MissingKey != nil {
			t.missingKeyErr = *b.MissingKey
		}
		rc.envs = append(rc.envs, envTmpl{name: b.Name, spec: t})
	}
	if e := c.Exec; e != nil {
		at := e.DeclRange.String()
		fail := func(format string, args ...any) error {
			return usagef("config: %s: exec: %s", at, fmt.Sprintf(format, args...))
		}
		argv, shell, err := parseCommand(e.Command)
		if err != nil {
			return nil, &usageError{fmt.Errorf("config: %v", err)}
		}
		if argv == nil {
			return nil, fail("command is empty")
		}
		if shell {
			argv = []string{"sh", "-c", argv[0]}
		}
		rc.command = argv
		p := execPolicy{set: true, stopSignal: stopSignal, killTimeout: defaultExecKillTimeout}
		switch e.Restart {
		case "", "always":
			p.restart = true
		case "never":
		default:
			return nil, fail("restart_on_secret_changes %q: want \"always\" or \"never\"", e.Restart)
		}
		if e.StopSignal != "" {
			s, ok := parseSignal(e.StopSignal)
			if !ok {
				return nil, fail("restart_stop_signal: unknown signal %q", e.StopSignal)
			}
			p.stopSignal = s
		}
		if e.ReloadSignal != "" {
			if !p.restart {
				return nil, fail("reload_signal with restart_on_secret_changes = \"never\": give one")
			}
			s, ok := parseSignal(e.ReloadSignal)
			if !ok {
				return nil, fail("reload_signal: unknown signal %q", e.ReloadSignal)
			}
			p.restart, p.sig = false, s
		}
		if e.KillTimeout != "" {
			d, err := parseDur(e.KillTimeout, "kill_timeout")
			if err != nil || d == 0 {
				return nil, fail("kill_timeout %q is not a positive duration (30s)", e.KillTimeout)
			}
			p.killTimeout = d
		}
		p.stdoutFile, p.stderrFile = e.ChildStdout, e.ChildStderr
		rc.policy = p
	}
	return rc, nil
}

// apply sets what the exec block says, except where a flag was given:
// -restart, -signal, -stop-signal and -kill-timeout win over the file.
func (p execPolicy) apply(o *runOptions, changed func(flag string) bool) {
	if !p.set {
		return
	}
	if !changed("restart") && !changed("signal") {
		o.restart, o.sig = p.restart, p.sig
	}
	if !changed("stop-signal") {
		o.stopSignal = p.stopSignal
	}
	if !changed("kill-timeout") {
		o.killTimeout = p.killTimeout
	}
	o.stdoutFile, o.stderrFile = p.stdoutFile, p.stderrFile
}

// startWait is how a start (connecting, the first rendering) meets a
// failure. Off, the error is returned: what cannot be read stops vaultly
// before the command starts or the file is written. On (a -config file, as
// Vault Agent, which waits for its templates to render), a failure the
// server's state may mend (mendable: Vault unreachable or sealed, a path
// or key not written yet, a policy not granted yet) is logged, naming what
// failed and never a value, and tried again after restartBackoff (1s
// doubling to 1m) until it succeeds, or one of sigs is INT, TERM or QUIT
// (exit 128+N: run has no command yet to forward it to; other signals are
// ignored meanwhile).
type startWait struct {
	g    *globals
	on   bool
	sigs <-chan os.Signal // nil: a signal's default action ends vaultly
	then string           // what happens once it succeeds, for the log
}

// do calls fn until it succeeds or fails for good (see startWait).
func (w startWait) do(ctx context.Context, what string, fn func() error) error {
	err := fn()
	if err == nil || !w.on {
		return err
	}
	for n := 1; err != nil && mendable(err); n++ {
		d := restartBackoff(n)
		w.g.logWait(what, n, d, w.then, err)
		if stop := sleepOrStop(ctx, w.sigs, d, "waiting for Vault", nil); stop != nil {
			return stop
		}
		err = fn()
	}
	if err == nil {
		w.g.health.setWaiting("")
	}
	return err
}

// logWait logs a failed attempt of a waiting start, and makes -listen's
// /health answer 503 saying so until the start succeeds.
func (g *globals) logWait(what string, attempt int, next time.Duration, then string, err error) {
	msg := fmt.Sprintf("%s failed (attempt %d, next in %s; %s): %s", what, attempt, next, then, g.errText(err))
	fmt.Fprintf(g.io.Err, "vaultly: %s\n", msg)
	g.health.setWaiting(msg)
}

// sleepOrStop waits d; it returns early with ctx's error, or with an exit
// of 128+N when INT, TERM or QUIT comes (the message says "stopped by SIG
// while " + while). Other signals are passed to other, when not nil.
func sleepOrStop(ctx context.Context, sigs <-chan os.Signal, d time.Duration, while string, other func(os.Signal)) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case s := <-sigs:
			if code, ok := stopExit(s); ok {
				return &exitError{code: code, msg: "stopped by " + sigName(s) + " while " + while}
			}
			if other != nil {
				other(s)
			}
		}
	}
}

// mendable reports whether a failure at start may go away without a
// change to the configuration: the server unreachable, sealed or slow, a
// path or key not there yet, a token or policy not granted yet. A
// malformed reference, a template error or a bad setting is not.
func mendable(err error) bool {
	if _, ok := errors.AsType[*missingKeyError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*usageError](err); ok {
		return false
	}
	switch vaultly.CodeOf(err) {
	case vaultly.NotFound, vaultly.PermissionDenied, vaultly.Unauthenticated, vaultly.Unavailable,
		vaultly.ResourceExhausted, vaultly.DeadlineExceeded:
		return true
	}
	return false
}

// childOutput opens the exec block's child_process_stdout and
// child_process_stderr as Vault Agent does (appended to, created when
// missing; relative to the working directory), but with mode 0600 where
// Agent uses 0644: -no-mask lets the values through. An existing file
// keeps its mode. Without them the command writes to vaultly's own.
func childOutput(g *globals, o runOptions) (out, errOut io.Writer, closeAll func(), err error) {
	var files []*os.File
	closeAll = func() {
		for _, f := range files {
			f.Close()
		}
	}
	open := func(path, attr string, def io.Writer) (io.Writer, error) {
		if path == "" {
			return def, nil
		}
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, &usageError{fmt.Errorf("config: exec: %s %s: %w", attr, path, pathErr(err))}
		}
		files = append(files, f)
		return f, nil
	}
	if out, err = open(o.stdoutFile, "child_process_stdout", g.io.Out); err != nil {
		return nil, nil, closeAll, err
	}
	if o.stderrFile != "" && o.stderrFile == o.stdoutFile {
		return out, out, closeAll, nil // one file, in the order written
	}
	if errOut, err = open(o.stderrFile, "child_process_stderr", g.io.Err); err != nil {
		closeAll()
		return nil, nil, func() {}, err
	}
	return out, errOut, closeAll, nil
}
