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

	"github.com/vaultly/vaultly/internal/cli"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// rssBound is the documented bound (README) on the peak RSS of a process
// that met a 1 GiB answer: the 32 MiB limit read into one growing buffer
// (a chunked answer is read by the transport before vault/api, whose
// ParseSecret would keep two copies, sees it), and the Go runtime's heap
// growth around it. Measured here (see the t.Logf lines): 98 MiB for this
// test binary started as reader or vaultly (plain go test), against 22–23
// MiB reading a small entry; 87–96 MiB for the programs built without the
// race detector under -race, against 49–52 MiB. Under -race the processes
// measured are such builds (command reader, cmd/vaultly), so the bound is
// always a normal program's.
const rssBound = 128 << 20

func TestMain(m *testing.M) {
	// Started as vaultly or reader (programs), this binary is that program.
	switch filepath.Base(os.Args[0]) {
	case "vaultly":
		// What cmd/vaultly's main does (cli.TestMainIsCmdVaultly keeps
		// the CLI's own copy of this statement the same).
		os.Exit(cli.Main(context.Background(), os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
	case "reader":
		os.Exit(Read(os.Args[1]))
	}
	vaulttest.UnsetVaultEnv()
	os.Exit(m.Run())
}

// programs makes vaultly and reader in dir: links to this test binary
// (TestMain runs them by name), or, under -race, builds of cmd/vaultly and
// command reader without the race detector, whose memory is a normal
// program's.
func programs(t *testing.T, dir string) (vaultlyBin, readerBin string) {
	t.Helper()
	vaultlyBin, readerBin = filepath.Join(dir, "vaultly"), filepath.Join(dir, "reader")
	if !raceBuild {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{vaultlyBin, readerBin} {
			if err := os.Symlink(self, p); err != nil {
				t.Fatal(err)
			}
		}
		return vaultlyBin, readerBin
	}
	for out, pkg := range map[string]string{vaultlyBin: "github.com/vaultly/vaultly/cmd/vaultly", readerBin: "github.com/vaultly/vaultly/internal/testing/bounded/reader"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return vaultlyBin, readerBin
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

	vaultlyBin, readerBin := programs(t, t.TempDir())
	home := t.TempDir()
	env := func(extra ...string) []string {
		e := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + home, "TMPDIR=" + os.TempDir()}
		return append(e, extra...)
	}
	lib := func(path string) *exec.Cmd {
		c := exec.Command(readerBin, path)
		c.Env = env("BOUNDED_ADDR="+proxy.URL, "BOUNDED_TOKEN="+srv.Token)
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
		cliFailed bool   // the command exits non-zero on the huge answer
		want      string // in the output
	}{
		{name: "hashivault read", small: lib("small/app"), huge: lib("huge/app"), want: "malformed response vaultly:"},
		{name: "vaultly get", small: cli("small/app"), huge: cli("huge/app"), cliFailed: true, want: "Error:"},
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
		if !strings.Contains(out, "32 MiB limit") || !strings.Contains(out, r.want) {
			t.Errorf("%s of a 1 GiB answer printed %q, want the 32 MiB limit named", r.name, out)
		}
		if peak > rssBound {
			t.Errorf("%s of a 1 GiB answer: peak RSS %s, want under %s", r.name, mib(peak), mib(rssBound))
		}
		t.Logf("%s: peak RSS %s reading a 1 GiB answer (refused after %v), %s reading a small entry; output %q", r.name, mib(peak), took.Round(time.Millisecond), mib(base), out)
	}
	if n := proxy.Count("/v1/secret/data/huge/app"); n != 2 {
		t.Errorf("the huge entry was read %d times, want 2 (once per process, not retried)", n)
	}
}
