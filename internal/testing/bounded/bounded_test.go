// Package bounded measures the memory a vaultly process uses when a server
// sends an answer far larger than any Vault answer (1 GiB): a hashivault
// read, and the `vaultly get` command, each in a process of its own so that
// its peak RSS (getrusage's ru_maxrss) is the read's and nothing else's.
// The 1 GiB answer comes from a fault proxy in front of a real Vault dev
// server (the token lookup at start is the real server's answer).
package bounded

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// rssBound is the documented bound (README) on the peak RSS of a process
// that met a 1 GiB answer: the 32 MiB limit plus vault/api's and
// encoding/json's copies of what was read, and the Go runtime's heap
// growth around them. Measured here: 88–89 MiB (see the t.Logf lines),
// against 13–14 MiB for the same process reading a small entry.
const rssBound = 128 << 20

// childEnv selects the child mode of the test binary.
const childEnv = "VAULTLY_BOUNDED_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	vaulttest.UnsetVaultEnv()
	os.Exit(m.Run())
}

// child reads one entry through hashivault and a Store (the default
// retry), prints the error code, and exits 0 when the read failed with the
// expected code.
func child() int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := hashivault.New(ctx, &hashivault.Options{Address: os.Getenv("BOUNDED_ADDR"), Token: os.Getenv("BOUNDED_TOKEN"), KVVersion: 2, ConfigFile: "-"})
	if err != nil {
		fmt.Println("new:", err)
		return 2
	}
	s := vaultly.New(b, &vaultly.Options{TTL: vaultly.NoCache})
	defer s.Close()
	_, err = s.Get(ctx, os.Getenv("BOUNDED_PATH"))
	fmt.Println(vaultly.CodeOf(err), err)
	if want := os.Getenv("BOUNDED_WANT"); vaultly.CodeOf(err).String() != want {
		return 1
	}
	return 0
}

// hugeBody answers 200 with a KV answer whose value is n bytes, streamed,
// until the client goes away.
func hugeBody(n int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if _, err := io.WriteString(w, `{"data":{"data":{"value":"`); err != nil {
			return
		}
		chunk := []byte(strings.Repeat("a", 64<<10))
		for sent := int64(0); sent < n; sent += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		io.WriteString(w, `"}}}`)
	})
}

// maxRSS runs cmd and returns its combined output and peak RSS in bytes.
func maxRSS(t *testing.T, cmd *exec.Cmd) (string, int64, error) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatalf("no rusage for %s", cmd.Path)
	}
	return string(out), ru.Maxrss * 1024, err // Linux reports KiB
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// TestHugeAnswerMemory: a hashivault read and `vaultly get` against a 1 GiB
// answer fail with code Malformed naming the 32 MiB limit, and their peak
// RSS stays under rssBound — measured against the same process reading a
// small entry, so the figure is the read's own cost.
func TestHugeAnswerMemory(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t, nil)
	srv.PutKV(t, "small/app", map[string]any{"value": "v"})
	proxy := faultproxy.Start(t, srv.Addr, nil)
	proxy.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/data/huge/"), Handler: hugeBody(1 << 30)})

	vaultlyBin := filepath.Join(t.TempDir(), "vaultly")
	build := exec.Command("go", "build", "-o", vaultlyBin, "github.com/vaultly/vaultly/cmd/vaultly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/vaultly: %v\n%s", err, out)
	}
	home := t.TempDir()
	env := func(extra ...string) []string {
		e := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + home, "TMPDIR=" + os.TempDir()}
		return append(e, extra...)
	}
	lib := func(path, want string) *exec.Cmd {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = env(childEnv+"=1", "BOUNDED_ADDR="+proxy.URL, "BOUNDED_TOKEN="+srv.Token, "BOUNDED_PATH="+path, "BOUNDED_WANT="+want)
		return c
	}
	cli := func(path string) *exec.Cmd {
		c := exec.Command(vaultlyBin, "get", path)
		c.Env = env("VAULT_ADDR="+proxy.URL, "VAULT_TOKEN="+srv.Token)
		return c
	}

	runs := []struct {
		name      string
		small     *exec.Cmd
		huge      *exec.Cmd
		cliFailed bool // the command exits non-zero on the huge answer
	}{
		{name: "hashivault read", small: lib("small/app", "ok"), huge: lib("huge/app", "malformed response")},
		{name: "vaultly get", small: cli("small/app"), huge: cli("huge/app"), cliFailed: true},
	}
	for _, r := range runs {
		out, base, err := maxRSS(t, r.small)
		if err != nil {
			t.Fatalf("%s of a small entry: %v\n%s", r.name, err, out)
		}
		start := time.Now()
		out, peak, err := maxRSS(t, r.huge)
		took := time.Since(start)
		switch {
		case r.cliFailed && err == nil:
			t.Errorf("%s of a 1 GiB answer succeeded, want a failure:\n%s", r.name, out)
		case !r.cliFailed && err != nil:
			t.Errorf("%s of a 1 GiB answer: %v\n%s", r.name, err, out)
		}
		if !strings.Contains(out, "32 MiB limit") {
			t.Errorf("%s of a 1 GiB answer printed %q, want the 32 MiB limit named", r.name, out)
		}
		if peak > rssBound {
			t.Errorf("%s of a 1 GiB answer: peak RSS %s, want under %s", r.name, mib(peak), mib(rssBound))
		}
		t.Logf("%s: peak RSS %s reading a 1 GiB answer (refused after %v), %s reading a small entry", r.name, mib(peak), took.Round(time.Millisecond), mib(base))
	}
	if n := proxy.Count("/v1/secret/data/huge/app"); n != 2 {
		t.Errorf("the huge entry was read %d times, want 2 (once per process, not retried)", n)
	}
}
