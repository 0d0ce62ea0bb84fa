package hashivault

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
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
	// of seconds), not on the CPU: unless -parallel is given, run up to 4
	// at once instead of GOMAXPROCS (2 on the CI machines).
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", strconv.Itoa(max(4, runtime.GOMAXPROCS(0))))
	}
	// Tests must not pick up a developer's Vault settings.
	vaulttest.UnsetVaultEnv()
	os.Setenv("XDG_CONFIG_HOME", os.TempDir()+"/vaultly-hashivault-test-none")
	before := goleak.IgnoreCurrent()
	code := m.Run()
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
