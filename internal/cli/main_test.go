package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// The end-to-end tests run vaultly as a program against a real Vault dev
// server. That program is this test binary itself, under the name vaultly
// (a symbolic link): TestMain runs what cmd/vaultly's main runs when it is
// started under that name (TestMainIsCmdVaultly keeps the two the same), so
// the tests do not spend a `go build` of cmd/vaultly before they start.
// Under -race it is built with `go build` instead, as users build it: a
// race-instrumented CLI is not what they run, and its cost would change the
// soak tier's measured margins. pgloop, the child of the rotation test, is
// this binary too.

var (
	binary string // vaultly: a link to this test binary, or built (-race)
	pgloop string // pgloop: a link to this test binary

	sharedSrv vaulttest.Shared // the package's dev server, started on first use

	// runSlots, when not nil, bounds how many commands env.exec runs at
	// once (see TestMain).
	runSlots chan struct{}

	// sharedPG is the PostgreSQL server of the tests of dynamic database
	// credentials (each its own Vault mount and users), started on first
	// use: one initdb and start instead of one per test.
	sharedPG struct {
		once sync.Once
		pg   *vaulttest.Postgres
		err  error
	}
)

// mainAs runs the program this test binary was started as, by the name it
// was started under, and exits; it returns for any other name.
func mainAs() {
	switch filepath.Base(os.Args[0]) {
	case "vaultly":
		// What cmd/vaultly's main does (TestMainIsCmdVaultly).
		os.Exit(Main(context.Background(), os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
	case "pgloop":
		pgloopMain()
		os.Exit(0)
	}
}

func TestMain(m *testing.M) {
	mainAs()
	// The end-to-end tests wait on child processes and a real server more
	// than on the CPU. Outside the soak tier they all start at once (up to
	// 64), so that the long waits (a lease rotation, a certificate's
	// re-issue, a backoff) begin at the start rather than behind a queue
	// of short tests, and what takes the CPU, the short-lived vaultly and
	// vault commands they run one after another, runs at most 4 at a time
	// (runSlots). Measured here (the package's tests take ~19 s of CPU;
	// load 4–6 from other packages): 13.8–14.2 s with 16 tests at once
	// and no limit on commands, 14.6–16.3 s with 64 and no limit (and
	// timing failures), 10.8–12.8 s with 64 and 4 commands, 11.9–12.7 s
	// with 64 and 6. The soak tier (make test, under -race) keeps the
	// default parallelism its margins were measured with, and no limit.
	if !vaulttest.Soak() {
		vaulttest.ParallelWaiting(64)
		runSlots = make(chan struct{}, 4)
	}
	vaulttest.UnsetVaultEnv()
	dir, err := os.MkdirTemp("", "vaultly-cli-test-")
	if err == nil {
		err = linkPrograms(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	sharedSrv.Stop()
	if sharedPG.pg != nil {
		sharedPG.pg.Stop()
	}
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// linkPrograms makes vaultly and pgloop in dir: links to this test binary,
// except that vaultly is built from cmd/vaultly under -race.
func linkPrograms(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	binary, pgloop = filepath.Join(dir, "vaultly"), filepath.Join(dir, "pgloop")
	if err := os.Symlink(self, pgloop); err != nil {
		return err
	}
	if raceBuild {
		out, err := exec.Command("go", "build", "-o", binary, "github.com/vaultly/vaultly/cmd/vaultly").CombinedOutput()
		if err != nil {
			return fmt.Errorf("build vaultly: %v\n%s", err, out)
		}
		return nil
	}
	return os.Symlink(self, binary)
}

// shared returns the package's dev server, started on first use. Tests that
// seal a server start their own.
func shared(t *testing.T) *vaulttest.Server {
	t.Helper()
	return sharedSrv.Get(t)
}

// sharedPostgres returns the package's PostgreSQL server, started on first
// use. Where the binaries are missing it returns vaulttest.StartPostgres(t),
// which skips or fails t as vaulttest.Required says.
func sharedPostgres(t *testing.T) *vaulttest.Postgres {
	t.Helper()
	if _, err := vaulttest.PostgresBinDir(); err != nil {
		return vaulttest.StartPostgres(t)
	}
	sharedPG.once.Do(func() { sharedPG.pg, sharedPG.err = vaulttest.NewPostgres() })
	if sharedPG.err != nil {
		t.Fatalf("vaulttest: %v", sharedPG.err)
	}
	return sharedPG.pg
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
	return e.exec(bin, vaultCLIEnv, "", args...)
}

// vaultCLIEnv is added to the environment of every run of the vault CLI
// (not of the server, not of vaultly): GOGC=off. A vault command runs for
// tens of milliseconds, most of it the init of a 500 MB binary, which
// spends about a fifth of its CPU in garbage collection that frees nothing
// worth having (max RSS 143 MB either way): measured here, 40 runs of
// `vault version` take 3.2 s of CPU by default and 2.2–2.8 s with GOGC=off.
// The package runs the vault CLI ~90 times.
var vaultCLIEnv = []string{"GOGC=off"}

func (e *env) exec(bin string, extra []string, stdin string, args ...string) result {
	e.t.Helper()
	r, err := e.execErr(bin, extra, stdin, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// execErr is exec for any goroutine: it returns the error of a program
// that could not be run (or did not end within a minute).
func (e *env) execErr(bin string, extra []string, stdin string, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if runSlots != nil {
		runSlots <- struct{}{}
		defer func() { <-runSlots }()
	}
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
		if !ok || ctx.Err() != nil {
			return r, fmt.Errorf("run %s %v: %v", filepath.Base(bin), args, err)
		}
		r.code = ee.ExitCode()
	}
	return r, nil
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

// TestMainIsCmdVaultly checks that the vaultly the end-to-end tests run
// (mainAs) does what cmd/vaultly's main does: the one statement of main's
// body, with the package's own names unqualified, is mainAs's for vaultly.
func TestMainIsCmdVaultly(t *testing.T) {
	t.Parallel()
	body := func(file, fn string, pick func(ast.Node) []ast.Stmt) string {
		t.Helper()
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == fn {
				var b strings.Builder
				for _, s := range pick(fd) {
					if err := printer.Fprint(&b, fset, s); err != nil {
						t.Fatal(err)
					}
					b.WriteString("\n")
				}
				return b.String()
			}
		}
		t.Fatalf("%s: no func %s", file, fn)
		return ""
	}
	want := body(filepath.Join("..", "..", "cmd", "vaultly", "main.go"), "main", func(n ast.Node) []ast.Stmt {
		return n.(*ast.FuncDecl).Body.List
	})
	want = strings.ReplaceAll(want, "cli.", "")
	got := body("main_test.go", "mainAs", func(n ast.Node) []ast.Stmt {
		var list []ast.Stmt
		ast.Inspect(n, func(n ast.Node) bool {
			if c, ok := n.(*ast.CaseClause); ok && len(c.List) == 1 {
				if l, ok := c.List[0].(*ast.BasicLit); ok && l.Value == `"vaultly"` {
					list = c.Body
				}
			}
			return true
		})
		return list
	})
	if got != want {
		t.Errorf("mainAs runs for vaultly:\n%s\ncmd/vaultly's main (without cli.):\n%s", got, want)
	}
}
