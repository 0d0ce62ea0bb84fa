package hashivault

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/goleak"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// sharedSrv is the package's dev server, started on first use.
var sharedSrv vaulttest.Shared

func TestMain(m *testing.M) {
	// Most tests here wait on a real server or on real timers (token TTLs
	// of seconds), not on the CPU: unless -parallel is given, run up to 8
	// at once (4 in the soak tier, the margins its long runs were measured
	// with) instead of GOMAXPROCS (2 on the CI machines). Measured here,
	// plain go test: 19 s at 4, 15 s at 6, 14 s at 8.
	vaulttest.ParallelWaiting(vaulttest.SoakOr(4, 8))
	// Tests must not pick up a developer's Vault settings.
	vaulttest.UnsetVaultEnv()
	os.Setenv("XDG_CONFIG_HOME", os.TempDir()+"/vaultly-hashivault-test-none")
	examples, inline := examplesInChild()
	if inline || os.Getenv(examplesEnv) == "1" {
		os.Exit(runExamples(m))
	}
	before := goleak.IgnoreCurrent()
	code := m.Run()
	if code == 0 && examples {
		code = reexecExamples()
	}
	sharedSrv.Stop()
	if code == 0 {
		// Idle keep-alive connections of the root clients tests create are
		// not leaks; every goroutine vaultly starts is.
		if err := goleak.Find(append(vaulttest.IgnoreIdleConns(), before)...); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// shared returns the package's shared dev server, started on first use.
// Tests that seal it or change server-wide settings start their own.
func shared(t testing.TB) *vaulttest.Server {
	t.Helper()
	return sharedSrv.Get(t)
}

// newBackend creates a backend for t with the config file and environment
// out of the way, closing it when t ends.
func newBackend(t testing.TB, o *Options) *Backend {
	t.Helper()
	if o.ConfigFile == "" {
		o.ConfigFile = "-"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := New(ctx, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// rootBackend is a backend on srv with its root token.
func rootBackend(t testing.TB, srv *vaulttest.Server, o *Options) *Backend {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	o.Address = srv.Addr
	if o.Token == "" && o.Auth == nil {
		o.Token = srv.Token
	}
	if srv.CACert != "" && o.CACert == "" && o.CACertPEM == nil {
		o.CACert = srv.CACert
	}
	return newBackend(t, o)
}

var seq atomic.Int64

// unique returns name with a suffix unique in this test binary, so tests can
// run with -count=N against the shared server.
func unique(name string) string { return fmt.Sprintf("%s-%d", name, seq.Add(1)) }

// setupAppRole enables AppRole at auth/<base>-N with a role "app" reading
// everything, and returns the mount, its role_id and a secret_id.
func setupAppRole(t testing.TB, srv *vaulttest.Server, base string, role map[string]any) (mount, roleID, secretID string) {
	t.Helper()
	mount = unique(base)
	srv.EnableAuth(t, mount, "approle")
	srv.WritePolicy(t, "reader", `path "*" { capabilities = ["read", "list"] }`)
	data := map[string]any{"token_policies": "reader"}
	for k, v := range role {
		data[k] = v
	}
	srv.Write(t, "auth/"+mount+"/role/app", data)
	c := srv.Client(t)
	sec, err := c.Logical().Read("auth/" + mount + "/role/app/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleID = sec.Data["role_id"].(string)
	sec, err = c.Logical().Write("auth/"+mount+"/role/app/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	return mount, roleID, sec.Data["secret_id"].(string)
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type (
	apiClient = api.Client
	apiSecret = api.Secret
)

// The examples read VAULT_ADDR and VAULT_TOKEN as a program does, while the
// tests run with no VAULT_* variable at all (and in parallel, so they cannot
// set them per test). So a plain `go test` runs the tests here, then runs
// this test binary again with only the examples, against a dev server of
// their own exported through the environment. A -run given on the command
// line is left alone: a pattern that starts with Example runs the examples
// it matches in this process, with the environment set; any other pattern
// runs what it matches without it.
const examplesEnv = "VAULTLY_HASHIVAULT_EXAMPLES"

// examplesInChild reports whether the examples are to run in a second
// process (and restricts this one to tests and fuzz seeds), or only
// examples were asked for and they run here (inline).
func examplesInChild() (child, inline bool) {
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return false, false
	}
	run := flag.Lookup("test.run").Value.String()
	if _, err := vaulttest.BinPath(); err != nil && !vaulttest.Required() {
		// No server for the examples: only the tests run (they skip).
		if run == "" {
			_ = flag.Set("test.run", "^(Test|Fuzz)")
		}
		return false, false
	}
	switch {
	case run == "":
		_ = flag.Set("test.run", "^(Test|Fuzz)")
		return true, false
	case strings.HasPrefix(run, "Example"), strings.HasPrefix(run, "^Example"):
		return false, true
	}
	return false, false
}

func reexecExamples() int {
	args := append(append([]string{}, os.Args[1:]...), "-test.run=^Example")
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), examplesEnv+"=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "hashivault examples:", err)
		return 1
	}
	return 0
}

// runExamples starts the examples' dev server, seeds it and runs m (the
// examples) with VAULT_ADDR and VAULT_TOKEN pointing at it.
func runExamples(m *testing.M) int {
	srv, err := vaulttest.NewServer(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vault for the examples:", err)
		return 1
	}
	defer srv.Stop()
	if err := seedExamples(srv); err != nil {
		fmt.Fprintln(os.Stderr, "vault for the examples:", err)
		return 1
	}
	os.Setenv("VAULT_ADDR", srv.Addr)
	os.Setenv("VAULT_TOKEN", srv.Token)
	return m.Run()
}

// seedExamples writes what the examples read: myapp/db with two versions.
func seedExamples(srv *vaulttest.Server) error {
	cfg, err := srv.Config()
	if err != nil {
		return err
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return err
	}
	c.SetToken(srv.Token)
	ctx := context.Background()
	for _, pw := range []string{"first", "hunter2"} {
		if _, err := c.KVv2("secret").Put(ctx, "myapp/db", map[string]any{"username": "app", "password": pw}); err != nil {
			return err
		}
	}
	return nil
}
