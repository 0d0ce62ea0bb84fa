package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/atomicfile"
)

// injectOptions are inject's flags.
type injectOptions struct {
	in, out, config string
	perms           string
	exec            string
	execTimeout     time.Duration
	execFatal       bool
	watch           bool
	interval        time.Duration
	staticInterval  time.Duration
	wait            string
	missingKeyOK    bool
	listen          string
	// exitOnRetryFailure (template_config's exit_on_retry_failure): with
	// -watch, a rendering that fails (its reads' retries spent) stops
	// inject instead of being reported and tried again; at start it does
	// not wait for Vault.
	exitOnRetryFailure bool
}

func injectCmd(g *globals) *cobra.Command {
	var o injectOptions
	c := &cobra.Command{
		Use:   "inject (-i TEMPLATE -o FILE | -config FILE) [-watch]",
		Short: "Render templates with secrets into files (mode 0600), once or on every change",
		Long: `Render Go templates (text/template) with secrets into files: one with -i
TEMPLATE ("-": stdin) and -o FILE ("-": stdout), or every template block of
the HCL config file -config FILE (Vault Agent's template stanza: source or
contents, destination, perms, command, command_timeout, exec { command
timeout }, error_on_missing_key, create_dest_dirs, backup, left_delimiter,
right_delimiter, wait { min max }).

Template functions, with consul-template's names and meaning:
  secret "PATH:KEY"    one value of a KV entry (PATH as with 'vault kv',
                       mount first; vault://PATH:KEY?version=N works too)
  secret "PATH"        the whole secret: {{ with secret "secret/app" }}
                       {{ .Data.data.password }}{{ end }} on KV v2,
                       .Data.password on KV v1 and for dynamic secrets;
                       "PATH?version=N" pins a KV v2 version
  secret "database/creds/app"
                       a dynamic secret (any path whose mount is not KV):
                       issued once, renewed and rotated by the lease engine;
                       a rotation renders again
  pkiCert "pki/issue/ROLE" "common_name=NAME" ["ttl=72h" "alt_names=a,b"
                       "ip_sans=..." "uri_sans=..."]
                       .Cert, .Key, .CA (also under .Data); issued again at
                       2/3 of its lifetime, which renders again
  env, toJSON, toJSONPretty, toYAML, base64Encode, base64Decode,
  base64URLEncode, base64URLDecode, split, join, trimSpace, toLower,
  toUpper, replaceAll, indent, contains, in, parseJSON

A missing key fails the rendering with the template's name and line, never
a value (error_on_missing_key = false, or -missing-key-ok, prints <no
value> instead, as consul-template does by default). Files are written
with mode 0600 (perms / -perms for another; an existing file's different
mode is changed with a warning) through a temporary file and a rename, and
only when their text changed; on any error nothing is written.

With -watch inject keeps running: it renders again the templates that use
a secret that changed (KV entries are checked every -interval through the
library's change detection; dynamic secrets on rotation; certificates
before expiry), after -wait MIN[:MAX] of quiet, writes the files whose text
changed and runs their command (-exec for -i/-o; its failure is reported,
and fatal only with -exit-on-exec-failure). Each change is logged with the
path that changed, never the value. INT, TERM or QUIT stop it in order
(exit 0). In the config file, Agent's exit_after_auth = false keeps inject
running as -watch does (true renders once; a -watch flag wins), and
pid_file holds vaultly's process ID while it runs. A first rendering that fails stops
inject, except with -watch -config (Vault Agent's template mode, which
waits for Vault at start): when Vault is sealed or unreachable, or a path
or key is not written yet, the failure is logged and tried again (1s
doubling to 1m; a watched entry as soon as it is written) while the other
templates are written; template_config's exit_on_retry_failure = true
turns that off, and makes a rendering that fails after a change stop
inject.`,
		Example: `  vaultly inject -i app.conf.tmpl -o /run/app/app.conf
  vaultly inject -i app.conf.tmpl -o - | consumer
  vaultly inject -watch -interval 10s -i app.conf.tmpl -o /run/app/app.conf -perms 0640 -exec 'systemctl reload app'
  vaultly inject -watch -config agent.hcl

  # app.conf.tmpl:
  #   db_user = {{ secret "secret/myapp/db:username" }}
  #   {{ with secret "secret/myapp/db" }}db_pass = {{ .Data.data.password }}{{ end }}

  # agent.hcl:
  #   template {
  #     source      = "app.conf.tmpl"
  #     destination = "/run/app/app.conf"
  #     perms       = "0640"
  #     command     = "systemctl reload app"
  #   }`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			specs, cfg, err := o.specs(g, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			if cfg != nil && cfg.ExitAfterAuth != nil && !cmd.Flags().Changed("watch") {
				o.watch = !*cfg.ExitAfterAuth // Agent's: false keeps running
			}
			for _, t := range specs {
				if _, err := parseTmpl(t, nil); err != nil {
					return &usageError{err}
				}
			}
			if o.interval <= 0 || o.staticInterval <= 0 {
				return usagef("-interval and -static-interval must be positive")
			}
			if cfg != nil && cfg.Exec != nil {
				return usagef("config: %s: inject renders files and runs no program: an exec block with env_template blocks is for 'vaultly run -config %s' (Vault Agent's process supervisor mode)", cfg.Exec.DeclRange, o.config)
			}
			ctx := cmd.Context()
			if o.listen != "" && !o.watch {
				return usagef("-listen needs -watch")
			}
			if err := g.startHealth(o.listen); err != nil {
				return err
			}
			defer g.closeHealth(ctx)
			if o.watch {
				g.logLevel = slog.LevelWarn // token renewal trouble matters to a long run
			}
			pidFile := ""
			if cfg != nil {
				pidFile = cfg.PidFile
			}
			removePid, err := writePidFile(pidFile)
			if err != nil {
				return err
			}
			defer removePid()
			// -watch stops on INT, TERM or QUIT in order (the Stores and
			// leases closed, the pid file removed): exit 0 once running,
			// 128+N while it waits for Vault at start (with -config, as
			// Agent's template mode does).
			var sigs chan os.Signal
			if o.watch {
				sigs = make(chan os.Signal, 1)
				signal.Notify(sigs, stopping...)
				defer signal.Stop(sigs)
			}
			w := startWait{g: g, on: o.watch && cfg != nil && !o.exitOnRetryFailure, sigs: sigs, then: "the templates are rendered once it succeeds"}
			var k *kvConn
			if err := w.do(ctx, "connecting to Vault", func() (err error) {
				k, err = g.kv(ctx)
				return err
			}); err != nil {
				return err
			}
			defer k.Close()
			in := newInjector(g, k, specs, &o, cmd.OutOrStdout())
			in.waitStart, in.sigs = w.on, sigs
			defer in.close(context.WithoutCancel(ctx))
			if !o.watch {
				return in.once(ctx)
			}
			return in.loop(ctx)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.in, "in", "i", "", `template file ("-": stdin)`)
	f.StringVarP(&o.out, "out", "o", "", `output file ("-": stdout)`)
	f.StringVar(&o.config, "config", "", "HCL (or .json) config file with template blocks, as Vault Agent's")
	f.StringVar(&o.perms, "perms", "", "mode of -o FILE, octal (default 0600)")
	f.StringVar(&o.exec, "exec", "", "command (run by sh -c) after a rendering changed a file")
	f.DurationVar(&o.execTimeout, "exec-timeout", defaultCommandTimeout, "how long a command may run before it is killed")
	f.BoolVar(&o.execFatal, "exit-on-exec-failure", false, "with -watch, stop when a command fails (default: report it and go on)")
	f.BoolVar(&o.watch, "watch", false, "keep running and render again when a secret changes")
	f.DurationVar(&o.interval, "interval", time.Minute, "with -watch, how often KV entries are checked for a change")
	f.DurationVar(&o.staticInterval, "static-interval", 5*time.Minute, "with -watch, how often non-KV secrets without a lease are read again (Vault Agent's static_secret_render_interval)")
	f.StringVar(&o.wait, "wait", "", "with -watch, MIN[:MAX]: render once no change came for MIN, at most MAX (default 4×MIN) after the first")
	f.StringVar(&o.listen, "listen", "", "with -watch, serve /health and /metrics (Prometheus text) on this loopback HOST:PORT")
	f.BoolVar(&o.missingKeyOK, "missing-key-ok", false, "print <no value> for a missing key instead of failing (error_on_missing_key = false)")
	return c
}

// specs builds the templates from the flags or the config file (changed
// says which flags were given: they win over the file).
func (o *injectOptions) specs(g *globals, changed func(flag string) bool) ([]*tmplSpec, *fileConfig, error) {
	w, err := parseWait(o.wait)
	if err != nil {
		return nil, nil, usagef("-wait: %v", err)
	}
	if o.config != "" {
		if o.in != "" || o.out != "" || o.perms != "" {
			return nil, nil, usagef("give -config or -i/-o/-perms, not both")
		}
		cfg, err := readConfigFile(o.config)
		if err != nil {
			return nil, nil, err
		}
		if len(cfg.EnvTemplates) > 0 {
			return nil, nil, usagef("config: %s: env_template blocks put secrets in a command's environment and inject renders files: run the command with 'vaultly run -config %s' (Vault Agent refuses template and env_template together too)", cfg.EnvTemplates[0].DeclRange, o.config)
		}
		if err := g.applyConfig(cfg); err != nil {
			return nil, nil, err
		}
		if err := cfg.applyTemplateConfig(&o.exitOnRetryFailure, &o.staticInterval, changed("static-interval")); err != nil {
			return nil, nil, err
		}
		specs, err := cfg.specs(w)
		if err != nil {
			return nil, nil, err
		}
		for _, t := range specs {
			if o.missingKeyOK {
				t.missingKeyErr = false
			}
		}
		return specs, cfg, nil
	}
	if o.in == "" {
		return nil, nil, usagef("missing -i TEMPLATE (or -config FILE)")
	}
	if o.out == "" {
		return nil, nil, usagef("missing -o FILE (- for stdout)")
	}
	src, err := g.readTemplate(o.in)
	if err != nil {
		return nil, nil, err
	}
	t := &tmplSpec{name: o.in, src: src, dest: o.out, missingKeyErr: !o.missingKeyOK, createDirs: true,
		timeout: o.execTimeout, wait: w}
	if o.perms != "" {
		if t.perms, t.permsSet, err = parseMode(o.perms, "-perms"); err != nil {
			return nil, nil, &usageError{err}
		}
	}
	if o.exec != "" {
		t.command, t.shell = []string{o.exec}, true
	}
	return []*tmplSpec{t}, nil, nil
}

// applyConfig takes the config file's vault block for the settings no
// flag gave, and its auto_auth method.
func (g *globals) applyConfig(c *fileConfig) error {
	a, err := c.auth()
	if err != nil {
		return err
	}
	if a != nil {
		g.tokenFile, g.configAuth, g.tokenSink = a.tokenFile, a.method, a.sink
	}
	return g.applyVaultBlock(c.Vault)
}

// applyVaultBlock takes the config file's vault block for the settings no
// flag gave.
func (g *globals) applyVaultBlock(v *vaultBlock) error {
	if v == nil {
		return nil
	}
	if v.TLSSkipVerify != nil && *v.TLSSkipVerify {
		return usagef("config: %s: vault: tls_skip_verify = true: vaultly always verifies TLS; give ca_cert (or ca_path) with the server's CA", v.DeclRange)
	}
	if r := v.Retry; r != nil && r.NumRetries != nil {
		switch n := *r.NumRetries; {
		case n < -1:
			return usagef("config: %s: vault: retry: num_retries %d: want -1 (no retries), 0 (the default) or more", r.DeclRange, n)
		case n == -1:
			g.attempts = 1
		case n > 0:
			g.attempts = n + 1
		}
	}
	// As Agent: a flag, else the environment, else the file.
	set := func(dst *string, val string, env ...string) {
		if *dst == "" && envFirst(env...) == "" {
			*dst = val
		}
	}
	set(&g.address, v.Address, "VAULT_ADDR", "BAO_ADDR", "VAULTLY_ADDRS")
	set(&g.namespace, v.Namespace, "VAULT_NAMESPACE", "BAO_NAMESPACE")
	set(&g.caCert, v.CACert, "VAULT_CACERT", "BAO_CACERT")
	set(&g.caPath, v.CAPath, "VAULT_CAPATH", "BAO_CAPATH")
	set(&g.clientCert, v.ClientCert, "VAULT_CLIENT_CERT", "BAO_CLIENT_CERT")
	set(&g.clientKey, v.ClientKey, "VAULT_CLIENT_KEY", "BAO_CLIENT_KEY")
	set(&g.tlsServerName, v.TLSServerName, "VAULT_TLS_SERVER_NAME", "BAO_TLS_SERVER_NAME")
	return nil
}

// readTemplate reads the template file name ("-": stdin).
func (g *globals) readTemplate(name string) (string, error) {
	var src []byte
	var err error
	if name == "-" {
		src, err = io.ReadAll(g.io.In)
	} else {
		src, err = os.ReadFile(name)
	}
	if err != nil {
		return "", usagef("template: %v", pathErr(err))
	}
	return string(src), nil
}

// injector renders a set of templates, once or on every change.
type injector struct {
	g     *globals
	env   *tmplEnv
	specs []*tmplSpec
	o     *injectOptions
	out   io.Writer // stdout, for "-o -"

	q        *changeQueue
	watcher  entryWatcher
	watches  map[dep]func()       // running watches of KV entries, by dependency
	uses     []map[dep]bool       // what each template used at its last rendering
	lastOut  map[int][]byte       // what was last written to stdout, by template
	dirty    map[int][2]time.Time // templates to render: first and last change seen
	statics  map[dep]bool
	renders  map[int]int // renderings that wrote, by template (for tests and logs)
	commands int

	// waitStart (-watch -config, as Vault Agent): a first rendering that
	// fails for a reason the server may mend is tried again with backoff
	// (startWait) while the other templates go on; waiting holds those,
	// with their last error.
	waitStart bool
	waiting   map[int]error
	sigs      <-chan os.Signal // -watch: the signals that stop it
}

func newInjector(g *globals, k *kvConn, specs []*tmplSpec, o *injectOptions, out io.Writer) *injector {
	in := &injector{g: g, env: newTmplEnv(k), specs: specs, o: o, out: out,
		watches: map[dep]func(){}, uses: make([]map[dep]bool, len(specs)), lastOut: map[int][]byte{},
		dirty: map[int][2]time.Time{}, statics: map[dep]bool{}, renders: map[int]int{}}
	in.env.logf = in.logf
	if o.watch {
		in.q = newChangeQueue()
		in.env.changed = in.q
		in.env.keep = true
		in.watcher = newEntryWatcher(o.interval)
	}
	return in
}

func (in *injector) logf(format string, args ...any) {
	fmt.Fprintf(in.g.io.Err, "vaultly: "+format+"\n", args...)
}

func (in *injector) close(ctx context.Context) {
	for _, stop := range in.watches {
		stop()
	}
	_ = in.env.Close(ctx)
}

// once renders every template and writes the files; any error stops
// before anything more is written.
func (in *injector) once(ctx context.Context) error {
	outs := make([][]byte, len(in.specs))
	for i, t := range in.specs {
		text, _, err := in.env.render(ctx, t)
		if err != nil {
			return err
		}
		outs[i] = text
	}
	for i, t := range in.specs {
		changed, err := in.write(t, outs[i], i)
		if err != nil {
			return err
		}
		if t.dest == "-" {
			continue
		}
		if changed && t.command != nil {
			if err := in.runCommand(ctx, t); err != nil {
				return err
			}
		}
		if in.g.structured() {
			if err := in.g.printData(in.out, map[string]any{"output": t.dest, "bytes": len(outs[i]), "changed": changed}); err != nil {
				return err
			}
			continue
		}
		verb := "Wrote"
		if !changed {
			verb = "Unchanged"
		}
		if _, err := fmt.Fprintf(in.out, "%s %s (%d bytes, mode %#o)\n", verb, t.dest, len(outs[i]), in.mode(t)); err != nil {
			return err
		}
	}
	return nil
}

func (in *injector) mode(t *tmplSpec) os.FileMode {
	if t.permsSet {
		return t.perms
	}
	return 0o600
}

// write writes text to t's destination unless it holds text already, and
// reports whether it wrote.
func (in *injector) write(t *tmplSpec, text []byte, i int) (bool, error) {
	if t.dest == "-" {
		if prev, ok := in.lastOut[i]; ok && bytes.Equal(prev, text) {
			return false, nil
		}
		in.lastOut[i] = text
		_, err := in.out.Write(text)
		return true, err
	}
	mode := in.mode(t)
	st, statErr := os.Stat(t.dest)
	if statErr == nil {
		cur, err := os.ReadFile(t.dest)
		if err == nil && bytes.Equal(cur, text) && st.Mode().Perm() == mode {
			return false, nil
		}
		if t.backup && err == nil && !bytes.Equal(cur, text) {
			// Agent's backup: the previous text, with the file's mode.
			if err := atomicfile.WriteFileMode(t.dest+".bak", cur, st.Mode().Perm()); err != nil {
				return false, fmt.Errorf("write %s.bak (backup): %w", t.dest, err)
			}
		}
		if st.Mode().Perm() != mode {
			in.logf("%s had mode %#o; it is written with mode %#o%s", t.dest, st.Mode().Perm(), mode,
				map[bool]string{true: "", false: " (set perms, or -perms, to keep another mode)"}[t.permsSet])
		}
	}
	if !t.createDirs {
		if _, err := os.Stat(filepath.Dir(t.dest)); err != nil {
			return false, fmt.Errorf("write %s: %w (create_dest_dirs is false)", t.dest, pathErr(err))
		}
	}
	if err := atomicfile.WriteFileMode(t.dest, text, mode); err != nil {
		return false, fmt.Errorf("write %s: %w", t.dest, err)
	}
	in.renders[i]++
	return true, nil
}

// runCommand runs t's command with a timeout. Its environment is vaultly's
// without the credential variables (as run's child); its output goes to
// vaultly's.
func (in *injector) runCommand(ctx context.Context, t *tmplSpec) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	argv := t.command
	if t.shell {
		argv = append(shellArgv(), t.command[0])
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = childEnv(os.Environ(), nil, append(slices.Clone(credentialVars), savedLoginVars()...))
	c.Stdout, c.Stderr = in.g.io.Err, in.g.io.Err
	c.WaitDelay = time.Second
	in.commands++
	err := c.Run()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("template %s: command did not finish within %s and was killed", t.name, t.timeout)
	case err != nil:
		return fmt.Errorf("template %s: command failed: %v", t.name, err)
	}
	return nil
}

// loop renders every template, then renders again on every change until
// ctx ends. A first rendering that fails stops inject, unless it waits
// (waitStart) and the failure may mend: then it is logged and tried again
// with backoff. Later failures are reported and keep the file as it was.
func (in *injector) loop(ctx context.Context) error {
	in.waiting = map[int]error{}
	attempts := 0
	var retry <-chan time.Time
	// first renders the templates not rendered yet; those that fail wait.
	first := func(which []int) error {
		for _, i := range which {
			err := in.renderOne(ctx, i)
			delete(in.waiting, i)
			if err == nil {
				continue
			}
			if !in.waitStart || !mendable(err) {
				return err
			}
			in.waiting[i] = err
		}
		if len(in.waiting) > 0 {
			attempts++
			d := restartBackoff(attempts)
			for _, i := range slices.Sorted(maps.Keys(in.waiting)) {
				in.g.logWait("rendering "+in.specs[i].dest, attempts, d, "it is written once it succeeds", in.waiting[i])
			}
			retry = time.After(d)
		} else {
			in.g.health.setWaiting("")
		}
		return nil
	}
	all := make([]int, len(in.specs))
	for i := range all {
		all[i] = i
	}
	if err := first(all); err != nil {
		return err
	}
	static := time.NewTicker(in.o.staticInterval)
	defer static.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-in.sigs:
			in.logf("stopping on %s", sigName(s))
			return nil
		case <-in.q.wake:
		case <-static.C:
			for d := range in.statics {
				in.q.push(d)
			}
			continue
		case <-timer.C:
		case <-retry:
			retry = nil
			in.env.k.refreshAll(ctx) // see what was written since
			if err := first(slices.Sorted(maps.Keys(in.waiting))); err != nil {
				return err
			}
			continue
		}
		now := time.Now()
		changed := in.q.take()
		for d, at := range changed {
			for i, used := range in.uses {
				if used[d] {
					in.markDirty(i, at, now, d)
				}
			}
		}
		next := time.Duration(-1)
		for _, i := range slices.Sorted(maps.Keys(in.dirty)) {
			span := in.dirty[i]
			due := dueAt(in.specs[i].wait, span[0], span[1])
			if wait := due.Sub(now); wait > 0 {
				if next < 0 || wait < next {
					next = wait
				}
				continue
			}
			delete(in.dirty, i)
			err := in.renderOne(ctx, i)
			if _, ok := in.waiting[i]; ok {
				if err == nil {
					delete(in.waiting, i) // rendered before its next attempt
					if len(in.waiting) == 0 {
						in.g.health.setWaiting("")
					}
				} else {
					in.waiting[i] = err
				}
				continue
			}
			if err != nil {
				if in.o.execFatal && errors.Is(err, errCommand) {
					return err
				}
				if in.o.exitOnRetryFailure && !errors.Is(err, errCommand) {
					in.logf("rendering %s again failed (exit_on_retry_failure): stopping", in.specs[i].dest)
					return err
				}
				in.logf("%s", in.g.errText(err))
			}
		}
		if next >= 0 {
			timer.Reset(next)
		}
	}
}

// dueAt is when a template whose first change since its last rendering
// came at first, and its latest at last, is rendered under w: at once
// without a wait, else min after the latest change, but no later than max
// after the first.
func dueAt(w waitSpec, first, last time.Time) time.Time {
	if w.min <= 0 {
		return last
	}
	due := last.Add(w.min)
	if w.max > 0 {
		if limit := first.Add(w.max); limit.Before(due) {
			return limit
		}
	}
	return due
}

func (in *injector) markDirty(i int, at, now time.Time, d dep) {
	span, ok := in.dirty[i]
	if !ok {
		span[0] = at
		in.logf("%s changed: rendering %s", d, in.specs[i].name)
	}
	span[1] = now
	in.dirty[i] = span
}

var errCommand = errors.New("command failed")

// renderOne renders template i, writes it if its text changed and runs
// its command; it then watches what the rendering used.
func (in *injector) renderOne(ctx context.Context, i int) error {
	t := in.specs[i]
	text, deps, err := in.env.render(ctx, t)
	if deps != nil {
		in.follow(ctx, i, deps)
	}
	if err != nil {
		return err
	}
	wrote, err := in.write(t, text, i)
	if err != nil {
		return err
	}
	if !wrote || t.command == nil {
		return nil
	}
	if t.dest != "-" {
		in.logf("wrote %s; running its command", t.dest)
	}
	if err := in.runCommand(ctx, t); err != nil {
		return fmt.Errorf("%w: %w", errCommand, err)
	}
	return nil
}

// follow records what template i used and starts watching what is new.
// Watches of entries no template uses any more are stopped.
func (in *injector) follow(ctx context.Context, i int, deps map[dep]bool) {
	in.uses[i] = deps
	for d := range deps {
		switch d.kind {
		case depStatic:
			in.statics[d] = true
		case depKV:
			if _, ok := in.watches[d]; ok {
				continue
			}
			if stop := in.g.watchDep(ctx, in.watcher, in.env.k, in.q, d); stop != nil {
				in.watches[d] = stop
			}
		}
	}
	for d, stop := range in.watches {
		used := false
		for _, u := range in.uses {
			used = used || u[d]
		}
		if !used {
			stop()
			delete(in.watches, d)
		}
	}
}

// newEntryWatcher is the change detection of the watch modes.
func newEntryWatcher(every time.Duration) entryWatcher { return storeWatcher{every: every} }

// shellArgv runs a command string, as consul-template does.
func shellArgv() []string { return []string{"sh", "-c"} }

// execError is a template execution error without what text/template
// quotes, which may be a secret: of the data (range can't iterate over
// <value>, ...) and of the action (a reference pasted with a password in
// it). What is left: the location (file, line, column), a missing map key
// (a name from the template), and, for a failed secret call, vaultly's own
// error, which never holds a value.
func execError(err error) error {
	msg := err.Error()
	loc := "template"
	if rest, ok := strings.CutPrefix(msg, "template: "); ok {
		// "NAME:LINE:COL: executing ..."; NAME may hold ':' (a path).
		if i := strings.Index(rest, ": executing "); i >= 0 {
			loc = "template: " + rest[:i]
		}
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return &usageError{fmt.Errorf("%s: %w", loc, ue.err)}
	}
	if ot, ok := errors.AsType[*onTarget](err); ok {
		return fmt.Errorf("%s: %w", loc, ot)
	}
	if e, ok := errors.AsType[*vaultly.Error](err); ok {
		return fmt.Errorf("%s: %w", loc, e)
	}
	if i := strings.LastIndex(msg, ": map has no entry for key "); i >= 0 {
		return missingKeyf("%s: no key %s (error_on_missing_key: a missing key fails the rendering)", loc, msg[i+len(": map has no entry for key "):])
	}
	return &usageError{fmt.Errorf("%s: cannot render this action with the value it got (the details are not shown: they may quote a secret value)", loc)}
}
