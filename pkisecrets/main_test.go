package pkisecrets

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// sharedSrv is the package's dev server, started on first use by the tests
// against Vault (each mounts its own PKI engine on it).
var sharedSrv vaulttest.Shared

func TestMain(m *testing.M) {
	// The long tests here wait on certificate lifetimes and an outage,
	// not on the CPU: outside the soak tier run them (and the rest) up to
	// 4 at once. The soak tier (make test, under -race) keeps the default:
	// its long runs' margins were measured that way.
	if !vaulttest.Soak() {
		vaulttest.ParallelWaiting(4)
	}
	vaulttest.UnsetVaultEnv()
	os.Setenv("XDG_CONFIG_HOME", os.TempDir()+"/vaultly-pkisecrets-test-none")
	before := goleak.IgnoreCurrent()
	code := m.Run()
	sharedSrv.Stop()
	if code == 0 {
		if err := goleak.Find(append(vaulttest.IgnoreIdleConns(), before)...); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
