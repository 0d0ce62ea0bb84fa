package cli

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/vaultly/vaultly/internal/atomicfile"
)

// The config file of inject (and run) is HCL, with Vault Agent's block and
// attribute names, so the template stanzas of an agent.hcl work as they
// are; a file whose name ends in .json is HCL's JSON form. It is decoded
// against a schema: an attribute or block vaultly does not know (a typo
// such as "destinaton", or an Agent feature vaultly lacks, such as
// auto_auth) is an error naming the file and line, never ignored.
//
//	exit_after_auth, pid_file              # Agent's: render once or keep running; vaultly's pid
//	vault { address namespace ca_cert ca_path client_cert client_key tls_server_name }
//	template_config { static_secret_render_interval }
//	wait { min max }                       # for every template
//	template {
//	  source | contents, destination, perms, command, command_timeout,
//	  exec { command timeout }, error_on_missing_key, create_dest_dirs, backup,
//	  left_delimiter, right_delimiter, wait { min max }
//	}
//	env_template "NAME" {                  # run -config: Agent's process supervisor mode
//	  source | contents, error_on_missing_key, left_delimiter, right_delimiter
//	}
//	exec {                                 # run -config: the command run supervises
//	  command, restart_on_secret_changes ("always" | "never"), restart_stop_signal,
//	  child_process_stdout, child_process_stderr,
//	  kill_timeout, reload_signal          # the last two as consul-template's exec
//	}
//
// inject refuses env_template and exec (it runs no program), run refuses
// template blocks (it renders no file), as Vault Agent refuses the mix.

type fileConfig struct {
	AutoAuth       *autoAuthBlock   `hcl:"auto_auth,block"`
	Vault          *vaultBlock      `hcl:"vault,block"`
	TemplateConfig *tmplConfigBlock `hcl:"template_config,block"`
	Wait           *waitBlock       `hcl:"wait,block"`
	Templates      []*templateBlock `hcl:"template,block"`
	EnvTemplates   []*envTmplBlock  `hcl:"env_template,block"`
	Exec           *execBlock       `hcl:"exec,block"`
	// ExitAfterAuth is Agent's: true renders once and exits (inject
	// without -watch), false keeps running (inject -watch); a -watch flag
	// wins. run refuses true: it supervises a command.
	ExitAfterAuth *bool `hcl:"exit_after_auth,optional"`
	// PidFile is Agent's: vaultly's process ID is written there while it
	// runs (as Agent: mode 0600, no newline; atomically) and removed when
	// it exits.
	PidFile string `hcl:"pid_file,optional"`
	file    string // the config file's path
}

type vaultBlock struct {
	Address       string `hcl:"address,optional"`
	Namespace     string `hcl:"namespace,optional"`
	CACert        string `hcl:"ca_cert,optional"`
	CAPath        string `hcl:"ca_path,optional"`
	ClientCert    string `hcl:"client_cert,optional"`
	ClientKey     string `hcl:"client_key,optional"`
	TLSServerName string `hcl:"tls_server_name,optional"`
	// TLSSkipVerify = true is refused (vaultly always verifies TLS);
	// false is accepted.
	TLSSkipVerify *bool            `hcl:"tls_skip_verify,optional"`
	Retry         *vaultRetryBlock `hcl:"retry,block"`
	DeclRange     hcl.Range        `hcl:",def_range"`
}

// vaultRetryBlock is Agent's vault { retry { num_retries } }: how many
// times a failed request is tried again (0: the default; -1: never).
type vaultRetryBlock struct {
	NumRetries *int      `hcl:"num_retries,optional"`
	DeclRange  hcl.Range `hcl:",def_range"`
}

type tmplConfigBlock struct {
	StaticInterval string `hcl:"static_secret_render_interval,optional"`
	// ExitOnRetryFailure: run -config stops (the command first) when the
	// secrets cannot be read again after a change (the read's retries
	// are spent); inject -watch stops when a rendering fails after a
	// change. Neither waits for Vault at start with it.
	ExitOnRetryFailure *bool `hcl:"exit_on_retry_failure,optional"`
	// MaxConnsPerHost is accepted and not applied: vaultly's transport
	// keeps its own connection pool (`vault agent generate-config` writes
	// it into every file it generates).
	MaxConnsPerHost *int      `hcl:"max_connections_per_host,optional"`
	DeclRange       hcl.Range `hcl:",def_range"`
}

// applyTemplateConfig takes template_config's exit_on_retry_failure and
// its static_secret_render_interval (into interval, unless flagGiven: the
// flag that sets it was given), for run and inject alike.
func (c *fileConfig) applyTemplateConfig(exitOnRetryFailure *bool, interval *time.Duration, flagGiven bool) error {
	if tc := c.TemplateConfig; tc != nil && tc.ExitOnRetryFailure != nil {
		*exitOnRetryFailure = *tc.ExitOnRetryFailure
	}
	d, err := c.staticInterval()
	if err != nil {
		return err
	}
	if d > 0 && !flagGiven {
		*interval = d
	}
	return nil
}

// staticInterval is template_config's static_secret_render_interval (0:
// not given).
func (c *fileConfig) staticInterval() (time.Duration, error) {
	if c.TemplateConfig == nil {
		return 0, nil
	}
	d, err := parseDur(c.TemplateConfig.StaticInterval, "static_secret_render_interval")
	if err != nil {
		return 0, usagef("config: %v", err)
	}
	return d, nil
}

// autoAuthBlock is Agent's auto_auth; of its methods vaultly reads
// token_file (what `vault agent generate-config` writes) and refuses the
// others with the advice to use 'vaultly login'.
type waitBlock struct {
	Min string `hcl:"min,optional"`
	Max string `hcl:"max,optional"`
}

type templateBlock struct {
	Source         string         `hcl:"source,optional"`
	Contents       string         `hcl:"contents,optional"`
	Destination    string         `hcl:"destination"`
	Perms          hcl.Expression `hcl:"perms,optional"`
	Command        hcl.Expression `hcl:"command,optional"`
	CommandTimeout string         `hcl:"command_timeout,optional"`
	Exec           *tmplExecBlock `hcl:"exec,block"`
	MissingKey     *bool          `hcl:"error_on_missing_key,optional"`
	CreateDirs     *bool          `hcl:"create_dest_dirs,optional"`
	Backup         bool           `hcl:"backup,optional"`
	LeftDelim      string         `hcl:"left_delimiter,optional"`
	RightDelim     string         `hcl:"right_delimiter,optional"`
	Wait           *waitBlock     `hcl:"wait,block"`
	DeclRange      hcl.Range      `hcl:",def_range"`
}

// envTmplBlock is Vault Agent's env_template: a template whose rendering
// is the value of the environment variable NAME.
type envTmplBlock struct {
	Name       string    `hcl:"name,label"`
	Source     string    `hcl:"source,optional"`
	Contents   string    `hcl:"contents,optional"`
	MissingKey *bool     `hcl:"error_on_missing_key,optional"`
	LeftDelim  string    `hcl:"left_delimiter,optional"`
	RightDelim string    `hcl:"right_delimiter,optional"`
	DeclRange  hcl.Range `hcl:",def_range"`
}

type tmplExecBlock struct {
	Command hcl.Expression `hcl:"command"`
	Timeout string         `hcl:"timeout,optional"`
}

type execBlock struct {
	Command      hcl.Expression `hcl:"command"`
	Restart      string         `hcl:"restart_on_secret_changes,optional"`
	StopSignal   string         `hcl:"restart_stop_signal,optional"`
	KillTimeout  string         `hcl:"kill_timeout,optional"`
	ReloadSignal string         `hcl:"reload_signal,optional"`
	ChildStdout  string         `hcl:"child_process_stdout,optional"`
	ChildStderr  string         `hcl:"child_process_stderr,optional"`
	DeclRange    hcl.Range      `hcl:",def_range"`
}

// waitSpec is consul-template's wait: after a change, render once no
// other change came for min, and at the latest max after the first one
// (max 0: 4×min, as consul-template does). Zero: at once.
type waitSpec struct {
	min, max time.Duration
}

// parseWait reads MIN[:MAX] ("5s", "5s:30s"), as consul-template's -wait.
func parseWait(s string) (waitSpec, error) {
	if s == "" {
		return waitSpec{}, nil
	}
	lo, hi, two := strings.Cut(s, ":")
	var w waitSpec
	var err error
	if w.min, err = time.ParseDuration(lo); err != nil || w.min < 0 {
		return waitSpec{}, fmt.Errorf("wait %q: MIN is not a duration (5s, or 5s:30s)", s)
	}
	if two {
		if w.max, err = time.ParseDuration(hi); err != nil || w.max < w.min {
			return waitSpec{}, fmt.Errorf("wait %q: MAX is not a duration at least MIN (5s:30s)", s)
		}
	}
	return w.norm(), nil
}

func (w waitSpec) norm() waitSpec {
	if w.max == 0 {
		w.max = 4 * w.min
	}
	return w
}

func (b *waitBlock) spec(where string) (waitSpec, error) {
	if b == nil {
		return waitSpec{}, nil
	}
	s := b.Min
	if b.Max != "" {
		s += ":" + b.Max
	}
	w, err := parseWait(s)
	if err != nil {
		return waitSpec{}, fmt.Errorf("%s: %v", where, err)
	}
	return w, nil
}

// readConfigFile parses the config file name. Errors name the file and
// line; they quote the file's syntax, not values read from Vault.
func readConfigFile(name string) (*fileConfig, error) {
	src, err := os.ReadFile(name)
	if err != nil {
		return nil, usagef("config: %v", pathErr(err))
	}
	p := hclparse.NewParser()
	var f *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(name, ".json") {
		f, diags = p.ParseJSON(src, name)
	} else {
		f, diags = p.ParseHCL(src, name)
	}
	if diags.HasErrors() {
		return nil, usagef("config: %s", diagText(diags))
	}
	c := &fileConfig{file: name}
	if diags := gohcl.DecodeBody(f.Body, nil, c); diags.HasErrors() {
		return nil, usagef("config: %s", diagText(diags))
	}
	return c, nil
}

// writePidFile writes vaultly's process ID to path (a config's pid_file;
// "": none) and returns what removes it when vaultly exits.
func writePidFile(path string) (remove func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	if err := atomicfile.WriteFile(path, []byte(strconv.Itoa(os.Getpid()))); err != nil {
		return nil, fmt.Errorf("config: pid_file %s: %w", path, pathErr(err))
	}
	return func() { os.Remove(path) }, nil
}

// diagText is the first error of diags, a misspelled or unknown name
// first (it explains a "missing required argument" next to it).
func diagText(diags hcl.Diagnostics) string {
	errs := slices.Clone(diags)
	slices.SortStableFunc(errs, func(a, b *hcl.Diagnostic) int {
		ua, ub := strings.HasPrefix(a.Summary, "Unsupported"), strings.HasPrefix(b.Summary, "Unsupported")
		switch {
		case ua && !ub:
			return -1
		case ub && !ua:
			return 1
		}
		return 0
	})
	for _, d := range errs {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + strings.TrimSuffix(d.Detail, ".")
		}
		if d.Subject != nil {
			return d.Subject.String() + ": " + msg
		}
		return msg
	}
	return diags.Error()
}

// exprValue evaluates an optional attribute; ok is false when it is
// absent.
func exprValue(e hcl.Expression) (cty.Value, bool, error) {
	if e == nil {
		return cty.NilVal, false, nil
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, false, fmt.Errorf("%s", diagText(diags))
	}
	if v.IsNull() {
		return cty.NilVal, false, nil
	}
	return v, true, nil
}

// parsePerms reads a file mode: "0640" (octal text) or 0640 (a number
// whose digits are read as octal, as people write modes).
func parsePerms(e hcl.Expression) (os.FileMode, bool, error) {
	v, ok, err := exprValue(e)
	if err != nil || !ok {
		return 0, false, err
	}
	var text string
	switch {
	case v.Type() == cty.String:
		text = v.AsString()
	case v.Type() == cty.Number:
		bf := v.AsBigFloat()
		i, acc := bf.Int64()
		if acc != big.Exact || i < 0 {
			return 0, false, fmt.Errorf("%s: perms must be an octal mode such as \"0640\"", e.Range())
		}
		text = strconv.FormatInt(i, 10)
	default:
		return 0, false, fmt.Errorf("%s: perms must be an octal mode such as \"0640\"", e.Range())
	}
	return parseMode(text, e.Range().String())
}

func parseMode(text, where string) (os.FileMode, bool, error) {
	m, err := strconv.ParseUint(text, 8, 32)
	if err != nil || m > 0o777 {
		return 0, false, fmt.Errorf("%s: perms %q is not an octal mode between 0000 and 0777", where, text)
	}
	return os.FileMode(m), true, nil
}

// parseCommand reads a command: a string (run by sh -c, as consul-template
// runs a template's command) or a list of strings (run as is).
func parseCommand(e hcl.Expression) (argv []string, shell bool, err error) {
	v, ok, err := exprValue(e)
	if err != nil || !ok {
		return nil, false, err
	}
	switch {
	case v.Type() == cty.String:
		if strings.TrimSpace(v.AsString()) == "" {
			return nil, false, nil
		}
		return []string{v.AsString()}, true, nil
	case v.Type().IsTupleType() || v.Type().IsListType():
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			if ev.IsNull() || ev.Type() != cty.String {
				return nil, false, fmt.Errorf("%s: command must be a string or a list of strings", e.Range())
			}
			argv = append(argv, ev.AsString())
		}
		if len(argv) == 0 {
			return nil, false, fmt.Errorf("%s: command is an empty list", e.Range())
		}
		return argv, false, nil
	}
	return nil, false, fmt.Errorf("%s: command must be a string or a list of strings", e.Range())
}

func parseDur(s, what string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := parseTTL(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q is not a duration (30s, 5m)", what, s)
	}
	return d, nil
}

// specs turns the template blocks into what inject renders; a template's
// source is read now.
func (c *fileConfig) specs(defaults waitSpec) ([]*tmplSpec, error) {
	if len(c.Templates) == 0 {
		return nil, usagef("config: %s has no template block", c.file)
	}
	if c.Wait != nil {
		w, err := c.Wait.spec("config: wait")
		if err != nil {
			return nil, &usageError{err}
		}
		defaults = w
	}
	var out []*tmplSpec
	seen := map[string]string{}
	for i, b := range c.Templates {
		at := b.DeclRange.String()
		fail := func(format string, args ...any) error {
			return usagef("config: %s: template %d: %s", at, i+1, fmt.Sprintf(format, args...))
		}
		t := &tmplSpec{dest: b.Destination, missingKeyErr: true, createDirs: true,
			leftDelim: b.LeftDelim, rightDelim: b.RightDelim, timeout: defaultCommandTimeout, wait: defaults}
		var err error
		if t.src, t.name, err = templateText(b.Source, b.Contents, fmt.Sprintf("%d (%s)", i+1, at)); err != nil {
			return nil, fail("%v", err)
		}
		if t.dest == "" {
			return nil, fail("missing destination")
		}
		if prev, ok := seen[t.dest]; ok {
			return nil, fail("destination %s is also template %s's", t.dest, prev)
		}
		seen[t.dest] = strconv.Itoa(i + 1)
		if t.perms, t.permsSet, err = parsePerms(b.Perms); err != nil {
			return nil, &usageError{fmt.Errorf("config: %v", err)}
		}
		if t.command, t.shell, err = parseCommand(b.Command); err != nil {
			return nil, &usageError{fmt.Errorf("config: %v", err)}
		}
		if t.timeout, err = parseDur(b.CommandTimeout, "command_timeout"); err != nil {
			return nil, fail("%v", err)
		}
		if b.Exec != nil {
			if t.command != nil {
				return nil, fail("give command or an exec block, not both")
			}
			if t.command, t.shell, err = parseCommand(b.Exec.Command); err != nil {
				return nil, &usageError{fmt.Errorf("config: %v", err)}
			}
			if t.timeout, err = parseDur(b.Exec.Timeout, "exec timeout"); err != nil {
				return nil, fail("%v", err)
			}
		}
		if t.timeout == 0 {
			t.timeout = defaultCommandTimeout
		}
		if b.MissingKey != nil {
			t.missingKeyErr = *b.MissingKey
		}
		t.backup = b.Backup
		if b.CreateDirs != nil {
			t.createDirs = *b.CreateDirs
		}
		if b.Wait != nil {
			if t.wait, err = b.Wait.spec("wait"); err != nil {
				return nil, fail("%v", err)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// templateText returns a template block's text and its name in errors:
// the file source (read now, relative to the working directory, as Vault
// Agent reads it) or the inline contents, named inline.
func templateText(source, contents, inline string) (src, name string, err error) {
	switch {
	case source != "" && contents != "":
		return "", "", errors.New("give source or contents, not both")
	case source != "":
		data, err := os.ReadFile(source)
		if err != nil {
			return "", "", fmt.Errorf("source: %v", pathErr(err))
		}
		return string(data), source, nil
	case contents != "":
		return contents, inline, nil
	}
	return "", "", errors.New("missing source or contents")
}

// defaultCommandTimeout bounds a template's command, as consul-template's
// command_timeout default.
const defaultCommandTimeout = 30 * time.Second
