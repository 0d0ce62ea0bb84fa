package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemon is a vaultly started in the background whose output goes to
// files, read while it runs.
type daemon struct {
	cmd            *exec.Cmd
	stdout, stderr string // file paths
	done           chan struct{}
	err            error
}

func startDaemon(t *testing.T, e *env, extra []string, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	dir := t.TempDir()
	d := &daemon{stdout: filepath.Join(dir, "stdout"), stderr: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	out, err := os.Create(d.stdout)
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(d.stderr)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.CommandContext(ctx, binary, args...)
	d.cmd.Env = e.environ(extra...)
	d.cmd.Dir = e.home
	d.cmd.Stdout, d.cmd.Stderr = out, errf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = d.cmd.Wait()
		out.Close()
		errf.Close()
		close(d.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	})
	return d
}

func (d *daemon) errText() string { b, _ := os.ReadFile(d.stderr); return string(b) }
func (d *daemon) outText() string { b, _ := os.ReadFile(d.stdout); return string(b) }

// stop sends SIGTERM and waits for the exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("vaultly did not stop within 20s of SIGTERM; stderr:\n%s", d.errText())
	}
}

// eventually polls cond every 20ms until it holds or within passes; it
// returns how long that took, or fails the test.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fileText(name string) string { b, _ := os.ReadFile(name); return string(b) }

func lineCount(name string) int { return strings.Count(fileText(name), "\n") }

// TestInjectWatchTwoTemplates is the first "done when": inject
// -watch with two templates from one config file; a `vault kv put` (the
// real vault CLI) of a secret one template uses renders exactly that file
// again within 2 s and runs its command once, and leaves the other file
// alone; a change of a secret no template uses renders nothing.
func TestInjectWatchTwoTemplates(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/watch2/a", map[string]any{"user": "alice", "password": "a-first-pw"})
	srv.PutKV(t, "cli/watch2/b", map[string]any{"token": "b-first-token"})
	srv.PutKV(t, "cli/watch2/unrelated", map[string]any{"x": "1"})
	dir := e.home
	writeFile(t, filepath.Join(dir, "a.tmpl"), `{{ with secret "secret/cli/watch2/a" }}user={{ .Data.data.user }}
password={{ .Data.data.password }}{{ end }}
`)
	writeFile(t, filepath.Join(dir, "b.tmpl"), `token={{ secret "secret/cli/watch2/b:token" }}
`)
	aOut, bOut := filepath.Join(dir, "out", "a.conf"), filepath.Join(dir, "out", "b.conf")
	aLog, bLog := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	writeFile(t, filepath.Join(dir, "agent.hcl"), `
template {
  source      = "a.tmpl"
  destination = "out/a.conf"
  command     = "echo ran >> a.log"
}
template {
  source      = "b.tmpl"
  destination = "out/b.conf"
  perms       = "0640"
  exec {
    command = ["sh", "-c", "echo ran >> b.log"]
    timeout = "10s"
  }
}
`)
	d := startDaemon(t, e, nil, "inject", "-watch", "-interval", "200ms", "-config", filepath.Join(dir, "agent.hcl"))
	eventually(t, 20*time.Second, "first rendering of both templates and their commands", func() bool {
		return lineCount(aLog) == 1 && lineCount(bLog) == 1
	})
	if got, want := fileText(aOut), "user=alice\npassword=a-first-pw\n"; got != want {
		t.Errorf("a.conf = %q, want %q", got, want)
	}
	if got, want := fileText(bOut), "token=b-first-token\n"; got != want {
		t.Errorf("b.conf = %q, want %q", got, want)
	}
	checkMode(t, aOut, 0o600)
	checkMode(t, bOut, 0o640)
	bIno, bMod := inode(t, bOut), modTime(t, bOut)
	aIno := inode(t, aOut)

	if r := e.vault("kv", "put", "-mount=secret", "cli/watch2/a", "user=alice", "password=a-second-pw"); r.code != 0 {
		t.Fatalf("vault kv put: exit %d: %s", r.code, r.stderr)
	}
	took := eventually(t, 10*time.Second, "a.conf rendered again", func() bool {
		return strings.Contains(fileText(aOut), "a-second-pw")
	})
	// 2 s is the bound; the poll interval is 200ms, so a slower
	// answer means the change detection missed a poll or the machine is
	// badly overloaded.
	if took > 2*time.Second {
		t.Errorf("a.conf rendered %s after vault kv put, want within 2s (interval 200ms)", took)
	}
	// Several more polls: the command must have run exactly once more.
	time.Sleep(1 * time.Second)
	if got := lineCount(aLog); got != 2 {
		t.Errorf("a's command ran %d times in all, want 2 (first rendering + the change)", got)
	}
	if inode(t, aOut) == aIno {
		t.Error("a.conf was rewritten in place, want an atomic rename")
	}
	if inode(t, bOut) != bIno || !modTime(t, bOut).Equal(bMod) || lineCount(bLog) != 1 {
		t.Errorf("b.conf was touched (or its command ran) after a change of a's secret only")
	}

	aMod := modTime(t, aOut)
	if r := e.vault("kv", "put", "-mount=secret", "cli/watch2/unrelated", "x=2"); r.code != 0 {
		t.Fatalf("vault kv put: exit %d: %s", r.code, r.stderr)
	}
	time.Sleep(1500 * time.Millisecond) // 7 poll intervals
	if !modTime(t, aOut).Equal(aMod) || !modTime(t, bOut).Equal(bMod) || lineCount(aLog) != 2 || lineCount(bLog) != 1 {
		t.Errorf("a change of an entry no template uses rendered something (a.log %d, b.log %d lines)", lineCount(aLog), lineCount(bLog))
	}

	d.stop(t)
	stderr := d.errText()
	if !strings.Contains(stderr, "secret/cli/watch2/a changed: rendering a.tmpl") {
		t.Errorf("stderr does not name the path that changed:\n%s", stderr)
	}
	for _, v := range []string{"a-first-pw", "a-second-pw", "b-first-token", "unrelated"} {
		if strings.Contains(stderr+d.outText(), v) {
			t.Errorf("output shows %q:\n%s", v, stderr)
		}
	}
}

func checkMode(t *testing.T, name string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s mode %#o, want %#o", name, got, want)
	}
}

func modTime(t *testing.T, name string) time.Time {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.ModTime()
}

// TestWatchHealthEndpoint: inject -watch -listen serves /health (the
// Stores' health: ok, the watched entries) and /metrics (the library's
// metrics, Prometheus text) on a loopback address, and refuses any other.
func TestWatchHealthEndpoint(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/health/app", map[string]any{"value": "health-s3cret"})
	writeFile(t, filepath.Join(e.home, "h.tmpl"), `{{ secret "secret/cli/health/app:value" }}`)
	out := filepath.Join(e.home, "h.out")
	d := startDaemon(t, e, nil, "inject", "-watch", "-interval", "1s", "-listen", "127.0.0.1:0", "-i", "h.tmpl", "-o", out)
	var addr string
	eventually(t, 20*time.Second, "the endpoint's address on stderr and the first rendering", func() bool {
		m := regexp.MustCompile(`health and metrics on http://(\S+) `).FindStringSubmatch(d.errText())
		if m != nil {
			addr = m[1]
		}
		return addr != "" && fileText(out) == "health-s3cret"
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/health")
	var h struct {
		OK     bool
		Stores []struct {
			Mount   string
			Watches int
		}
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != 200 || !h.OK || len(h.Stores) != 1 || h.Stores[0].Mount != "secret" || h.Stores[0].Watches != 1 {
		t.Errorf("GET /health = %d %s (%v), want 200, ok, the secret mount's Store watching 1 entry", code, body, err)
	}
	code, body = get("/metrics")
	if code != 200 || !strings.Contains(body, "# TYPE vaultly_cache_hits_total counter") {
		t.Errorf("GET /metrics = %d, want 200 with vaultly_cache_hits_total:\n%s", code, body)
	}
	if strings.Contains(body, "health-s3cret") || strings.Contains(body, srv.Token) {
		t.Error("/metrics shows a value or the token")
	}
	d.stop(t)

	r := e.run("", "inject", "-watch", "-listen", "0.0.0.0:0", "-i", "h.tmpl", "-o", out)
	checkResult(t, "inject -listen 0.0.0.0:0", r, ExitUsage, "give a loopback address")
}
