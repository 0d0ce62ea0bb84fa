package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// TestRunConfigWaitsForVault is Vault Agent's supervisor mode at a start
// where Vault is not ready: `run -config` against a sealed server logs
// that connecting failed and tries again; once unsealed, the secret is not
// written yet (not found), then written without the key the template uses
// (a missing key): each is logged, naming the path, and tried again with
// backoff; once the secret is complete the command starts. The exec
// block's child_process_stdout and child_process_stderr get the command's
// output, masked: appended to an existing file (its mode kept), a new
// file created with mode 0600.
func TestRunConfigWaitsForVault(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t, nil) // its own: it is sealed
	e := newEnv(t, srv)
	p := filepath.Join(e.home, "wait.hcl")
	writeFile(t, p, `
env_template "APP_PW" {
  contents = "{{ secret \"secret/cli/wait/app:pw\" }}"
}
exec {
  command              = ["sh", "-c", "echo \"start $APP_PW\"; echo \"on stderr $APP_PW\" >&2; while :; do sleep 0.1; done"]
  child_process_stdout = "child.out"
  child_process_stderr = "logs/child.err"
}
`)
	outFile, errFile := filepath.Join(e.home, "child.out"), filepath.Join(e.home, "logs", "child.err")
	if err := os.WriteFile(outFile, []byte("an earlier line\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Dir(errFile), 0o700); err != nil {
		t.Fatal(err)
	}
	srv.Seal(t)
	d := startDaemon(t, e, nil, "run", "-config", p)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", d.outText(), d.errText())
		}
	})
	// The backoff is 1s, 2s, 4s, ...: each step below comes within the
	// next one (tolerance: 4s more on a loaded machine).
	eventually(t, 10*time.Second, "the sealed server logged", func() bool {
		return strings.Contains(d.errText(), "vaultly: connecting to Vault failed (attempt 1, next in 1s; the command starts once it succeeds)")
	})
	srv.Unseal(t)
	eventually(t, 10*time.Second, "the missing secret logged", func() bool {
		return strings.Contains(d.errText(), "vaultly: rendering the command's environment failed (attempt 1, next in 1s") &&
			strings.Contains(d.errText(), "secret/cli/wait/app")
	})
	srv.PutKV(t, "cli/wait/app", map[string]any{"user": "app"})
	eventually(t, 10*time.Second, "the missing key logged", func() bool {
		return strings.Contains(d.errText(), `secret/cli/wait/app:pw (vault): not found: no key "pw" in entry`)
	})
	srv.PutKV(t, "cli/wait/app", map[string]any{"user": "app", "pw": "wait-pw-1"})
	eventually(t, 15*time.Second, "the command started, its output in child_process_stdout and _stderr", func() bool {
		return strings.Contains(fileText(outFile), "start *****\n") && strings.Contains(fileText(errFile), "on stderr *****\n")
	})
	d.stop(t)
	if got := fileText(outFile); !strings.HasPrefix(got, "an earlier line\nstart *****\n") {
		t.Errorf("child_process_stdout = %q, want the earlier line, then the command's (appended)", got)
	}
	for _, f := range []string{outFile, errFile, d.stdout, d.stderr} {
		if strings.Contains(fileText(f), "wait-pw-1") {
			t.Errorf("%s holds the secret value:\n%s", f, fileText(f))
		}
	}
	if strings.Contains(d.outText(), "start") || strings.Contains(d.errText(), "on stderr") {
		t.Errorf("the command's output went to vaultly's too:\nstdout:\n%s\nstderr:\n%s", d.outText(), d.errText())
	}
	for f, want := range map[string]os.FileMode{outFile: 0o640, errFile: 0o600} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %#o", f, st.Mode().Perm(), err, want)
		}
	}

	// INT, TERM or QUIT while waiting stops vaultly (128+N); no command
	// ran to forward it to.
	never := filepath.Join(e.home, "never.hcl")
	writeFile(t, never, strings.Replace(fileText(p), "cli/wait/app", "cli/wait/never", 1))
	d = startDaemon(t, e, nil, "run", "-config", never)
	eventually(t, 10*time.Second, "the missing secret logged", func() bool {
		return strings.Contains(d.errText(), "rendering the command's environment failed (attempt 1")
	})
	d.stop(t)
	ee, ok := d.err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) || !strings.Contains(d.errText(), "stopped by TERM before the command started") {
		t.Errorf("SIGTERM while waiting: %v, stderr:\n%s\nwant exit 143 saying so", d.err, d.errText())
	}
}
