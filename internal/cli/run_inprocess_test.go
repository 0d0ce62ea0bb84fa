package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/goleak"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// TestRunInProcessStopsEverything runs `run` inside the test process against
// the real server: the child sees the value, its output is masked, and when
// Main returns every goroutine it started (child waiter, backend token
// renewal, output maskers) has ended.
func TestRunInProcessStopsEverything(t *testing.T) {
	srv := vaulttest.Start(t, nil)
	const value = "inproc-s3cret-value"
	srv.PutKV(t, "inproc/app", map[string]any{"value": value})
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("VAULT_ADDR", srv.Addr)
	// A token with a TTL, so the backend runs its renewal goroutine.
	t.Setenv("VAULT_TOKEN", srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"root"}, TTL: "1h"}))
	t.Setenv("APP_SECRET", "vault://inproc/app")

	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := Main(ctx, []string{"run", "--", "sh", "-c", `echo "got:$APP_SECRET"; echo "err:$APP_SECRET" >&2`},
		IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != ExitOK {
		t.Fatalf("Main(run) = %d, want %d; stderr %q", code, ExitOK, errb.String())
	}
	if got, want := out.String(), "got:"+maskText+"\n"; got != want {
		t.Errorf("run stdout = %q, want %q", got, want)
	}
	if got, want := errb.String(), "err:"+maskText+"\n"; got != want {
		t.Errorf("run stderr = %q, want %q", got, want)
	}
	goleak.VerifyNone(t, before,
		// os/signal's dispatcher lives for the process once Notify was used.
		goleak.IgnoreTopFunction("os/signal.signal_recv"),
		// Idle keep-alive connections are not goroutines vaultly owns.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}
