package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/goleak"
)

// TestRunInProcessStopsEverything runs `run` inside the test process against
// the real server: the child sees the value, its output is masked, and when
// Main returns every goroutine it started (child waiter, backend token
// renewal, output maskers) has ended.
func TestRunInProcessStopsEverything(t *testing.T) {
	srv := shared(t)
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

// TestDoctorInProcessChecksPathsInOrder runs doctor inside the test
// process (so -race sees its parallel path checks) over more paths than it
// checks at once, with a token that may read only some: every path is
// reported, in path order, readable or not.
func TestDoctorInProcessChecksPathsInOrder(t *testing.T) {
	srv := shared(t)
	srv.WritePolicy(t, "doctor-half", `path "secret/data/doc/r*" { capabilities = ["read"] }`)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("VAULT_ADDR", srv.Addr)
	t.Setenv("VAULT_TOKEN", srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"doctor-half"}}))
	var args, want []string
	for i := range 2*doctorParallel + 3 {
		p := fmt.Sprintf("doc/%c%02d", "rw"[i%2], i)
		args = append(args, p)
		want = append(want, p)
	}
	slices.Sort(want)
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"doctor", "-format=json"}, args...), IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != ExitError {
		t.Fatalf("doctor = %d, want %d (some paths are not readable); stderr %q", code, ExitError, errb.String())
	}
	var got struct {
		Paths []pathCheck `json:"paths"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("doctor -format=json: %v\n%s", err, out.String())
	}
	var gotPaths []string
	for _, p := range got.Paths {
		gotPaths = append(gotPaths, p.Path)
		if wantRead := strings.HasPrefix(p.Path, "doc/r"); p.CanRead != wantRead {
			t.Errorf("path %s can_read = %v, want %v", p.Path, p.CanRead, wantRead)
		}
	}
	if !slices.Equal(gotPaths, want) {
		t.Errorf("doctor paths = %q, want %q", gotPaths, want)
	}
}
