package cli

import (
	"fmt"
	"os"
	"strings"
	"time"
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
}

// execPolicy is what the exec block says to do on a change.
type execPolicy struct {
	set         bool // an exec block gave it
	restart     bool
	sig         os.Signal // reload_signal: signal instead of restarting
	stopSignal  os.Signal
	killTimeout time.Duration
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
	if tc := cfg.TemplateConfig; tc != nil && tc.ExitOnRetryFailure != nil {
		o.exitOnRetryFailure = *tc.ExitOnRetryFailure
	}
	d, err := cfg.staticInterval()
	if err != nil {
		return nil, nil, err
	}
	if d > 0 && !changed("interval") {
		o.interval = d
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
}
