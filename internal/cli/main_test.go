package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// The end-to-end tests build cmd/vaultly once and run the binary against a
// real Vault dev server.

var (
	binary string // the built vaultly

	sharedSrv vaulttest.Shared // the package's dev server, started on first use
)

func TestMain(m *testing.M) {
	// The end-to-end tests wait on child processes and a real server more
	// than on the CPU: outside the soak tier run up to 4 at once (measured
	// here: 33 s at 2, 20 s at 4, 23 s at 6). The soak tier (make test,
	// under -race) keeps the default its margins were measured with.
	if !vaulttest.Soak() {
		vaulttest.ParallelWaiting(4)
	}
	vaulttest.UnsetVaultEnv()
	dir, err := os.MkdirTemp("", "vaultly-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "vaultly")
	out, err := exec.Command("go", "build", "-o", binary, "github.com/vaultly/vaultly/cmd/vaultly").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build vaultly: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	sharedSrv.Stop()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// shared returns the package's dev server, started on first use. Tests that
// seal a server start their own.
func shared(t *testing.T) *vaulttest.Server {
	t.Helper()
	return sharedSrv.Get(t)
}

// result is what one run of a binary produced.
type result struct {
	code           int
	stdout, stderr string
}

// env is the environment one test runs vaultly (and vault) in: its own
// HOME and XDG_CONFIG_HOME, the server's address and, unless removed, the
// root token.
type env struct {
	t    *testing.T
	srv  *vaulttest.Server
	home string
	vars map[string]string
}

func newEnv(t *testing.T, srv *vaulttest.Server) *env {
	home := t.TempDir()
	return &env{t: t, srv: srv, home: home, vars: map[string]string{
		"PATH":            os.Getenv("PATH"),
		"HOME":            home,
		"XDG_CONFIG_HOME": filepath.Join(home, "config"),
		"VAULT_ADDR":      srv.Addr,
		"VAULT_TOKEN":     srv.Token,
	}}
}

func (e *env) environ(extra ...string) []string {
	var out []string
	for k, v := range e.vars {
		out = append(out, k+"="+v)
	}
	return append(out, extra...)
}

func (e *env) configFile() string { return filepath.Join(e.home, "config", "vaultly", "config.json") }

// run runs vaultly with args and stdin.
func (e *env) run(stdin string, args ...string) result {
	e.t.Helper()
	return e.exec(binary, nil, stdin, args...)
}

// runEnv runs vaultly with extra environment variables.
func (e *env) runEnv(extra []string, stdin string, args ...string) result {
	e.t.Helper()
	return e.exec(binary, extra, stdin, args...)
}

// vault runs the real vault CLI.
func (e *env) vault(args ...string) result {
	e.t.Helper()
	bin, err := vaulttest.BinPath()
	if err != nil {
		e.t.Fatal(err)
	}
	return e.exec(bin, nil, "", args...)
}

func (e *env) exec(bin string, extra []string, stdin string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.environ(extra...)
	cmd.Dir = e.home
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("run %s %v: %v", filepath.Base(bin), args, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// must runs vaultly and fails the test unless it exits 0.
func (e *env) must(stdin string, args ...string) string {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("vaultly %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// vaultJSON runs the vault CLI with -format=json and decodes its "data".
func (e *env) vaultJSON(args ...string) map[string]any {
	e.t.Helper()
	r := e.vault(args...)
	if r.code != 0 {
		e.t.Fatalf("vault %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	var v struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		e.t.Fatalf("vault %s: decode: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
	return v.Data
}

// vaultKVData returns the fields `vault kv get` reads at path, or nil when
// there is nothing.
func (e *env) vaultKVData(path string) map[string]any {
	e.t.Helper()
	r := e.vault("kv", "get", "-format=json", "-mount=secret", path)
	if r.code != 0 {
		return nil
	}
	var v struct {
		Data struct {
			Data map[string]any `json:"data"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		e.t.Fatalf("vault kv get %s: decode: %v", path, err)
	}
	return v.Data.Data
}

func checkResult(t *testing.T, what string, r result, wantCode int, wantStderr string) {
	t.Helper()
	if r.code != wantCode {
		t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, r.code, wantCode, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, wantStderr) {
		t.Errorf("%s: stderr %q, want it to contain %q", what, r.stderr, wantStderr)
	}
}

// vaultStart starts a server of the test's own (for tests that seal it).
func vaultStart(t *testing.T) *vaulttest.Server { return vaulttest.Start(t, nil) }

// waitABit paces polls of server state (never used to time a schedule).
func waitABit() { time.Sleep(50 * time.Millisecond) }
