package cli

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRunMasking(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/run/db", map[string]any{"password": "hunter2-secret", "user": "app", "port": 5432})
	srv.PutKV(t, "cli/run/api", map[string]any{"value": "api-key-123"})
	refs := []string{
		"DB_PASSWORD=vault://cli/run/db:password",
		"DB_USER=vault://cli/run/db:user",
		"DB_PORT=vault://cli/run/db:port",
		"API_KEY=vault://cli/run/api",
		"PLAIN=not-a-reference",
	}
	script := `echo "pw=$DB_PASSWORD user=$DB_USER port=$DB_PORT key=$API_KEY plain=$PLAIN"; echo "err pw=$DB_PASSWORD" >&2; exit 7`

	tests := []struct {
		name       string
		flags      []string
		wantOut    string
		wantErr    string
		wantCode   int
		wantSecret bool
	}{
		{"masked", nil, "pw=***** user=app port=***** key=***** plain=not-a-reference\n",
			"vaultly: warning: values shorter than 4 bytes (and true, false, null) are not masked in the output: DB_USER\nerr pw=*****\n", 7, false},
		{"-no-mask", []string{"-no-mask"}, "pw=hunter2-secret user=app port=5432 key=api-key-123 plain=not-a-reference\n", "err pw=hunter2-secret\n", 7, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"run"}, tt.flags...), "--", "sh", "-c", script)
			r := e.runEnv(refs, "", args...)
			if r.code != tt.wantCode {
				t.Errorf("exit %d, want %d (mirrored); stderr %s", r.code, tt.wantCode, r.stderr)
			}
			if r.stdout != tt.wantOut {
				t.Errorf("stdout %q, want %q", r.stdout, tt.wantOut)
			}
			if r.stderr != tt.wantErr {
				t.Errorf("stderr %q, want %q", r.stderr, tt.wantErr)
			}
			if got := strings.Contains(r.stdout+r.stderr, "hunter2-secret"); got != tt.wantSecret {
				t.Errorf("secret in output = %v, want %v", got, tt.wantSecret)
			}
		})
	}

	t.Run("secret written in pieces", func(t *testing.T) {
		r := e.runEnv(refs, "", "run", "--", "sh", "-c", `printf 'a hunter2-'; sleep 0.2; printf 'secret b\n'`)
		if r.stdout != "a ***** b\n" {
			t.Errorf("stdout %q, want the split secret masked", r.stdout)
		}
	})
	t.Run("missing field stops before the command", func(t *testing.T) {
		r := e.runEnv([]string{"X=vault://cli/run/db:nope"}, "", "run", "--", "touch", "started")
		checkResult(t, "run", r, ExitError, `environment variable X: vaultly: get secret/cli/run/db:nope (vault): not found`)
		if _, err := os.Stat(filepath.Join(e.home, "started")); err == nil {
			t.Error("command started")
		}
	})
	t.Run("without --, the command's flags are its own", func(t *testing.T) {
		r := e.runEnv(refs, "", "run", "-no-mask", "sh", "-c", `echo "$0 $DB_USER"`, "-format=x")
		if r.code != 0 || r.stdout != "-format=x app\n" {
			t.Errorf("run without --: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("missing command", func(t *testing.T) {
		checkResult(t, "run", e.run("", "run"), ExitUsage, "missing COMMAND")
	})
	t.Run("killed by a signal", func(t *testing.T) {
		r := e.runEnv(refs, "", "run", "--", "sh", "-c", "kill -KILL $$")
		if r.code != 128+int(syscall.SIGKILL) {
			t.Errorf("exit %d, want %d", r.code, 128+int(syscall.SIGKILL))
		}
	})
}

// startVaultly starts vaultly in the background and returns a reader of its
// stdout lines.
type bg struct {
	cmd   *exec.Cmd
	lines chan string
	errb  *bytes.Buffer
	done  chan struct{}
}

func startBG(t *testing.T, e *env, extra []string, args ...string) *bg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = e.environ(extra...)
	cmd.Dir = e.home
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // cleanup kills the command's children too
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &bg{cmd: cmd, lines: make(chan string, 100), errb: &errb, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		wg.Wait()
		_ = cmd.Wait()
	})
	return b
}

func (b *bg) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-b.lines:
		if !ok {
			t.Fatalf("output ended; stderr: %s", b.errb.String())
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatal("no output line within 20s")
	}
	return ""
}

func TestRunSignalsAndRestart(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/runsig/app", map[string]any{"value": "first-value"})
	refs := []string{"S=vault://cli/runsig/app"}

	t.Run("signal forwarded, exit code mirrored", func(t *testing.T) {
		b := startBG(t, e, refs, "run", "--", "sh", "-c", `trap 'echo got-term; exit 42' TERM; echo "ready $S"; while :; do sleep 0.05; done`)
		if l := b.next(t); l != "ready *****" {
			t.Fatalf("first line %q", l)
		}
		if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if l := b.next(t); l != "got-term" {
			t.Errorf("after SIGTERM line %q, want got-term", l)
		}
		err := b.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 42 {
			t.Errorf("vaultly exit %v, want 42", err)
		}
	})

	t.Run("restart on change", func(t *testing.T) {
		b := startBG(t, e, refs, "run", "-no-mask", "-restart", "-interval", "100ms", "--", "sh", "-c", `echo "start $S"; while :; do sleep 0.05; done`)
		if l := b.next(t); l != "start first-value" {
			t.Fatalf("first line %q", l)
		}
		srv.PutKV(t, "cli/runsig/app", map[string]any{"value": "second-value"})
		if l := b.next(t); l != "start second-value" {
			t.Errorf("after the change line %q, want the restarted command's", l)
		}
	})

	// A SIGTERM that arrives while a change restarts the command (the old
	// command is still stopping) stops vaultly: the new command is not
	// started. It used to be forwarded to the old command only and lost,
	// and vaultly went on with a new one (seen in CI's rotation test).
	t.Run("stop signal during a restart", func(t *testing.T) {
		srv.PutKV(t, "cli/runsig/stop", map[string]any{"value": "v1"})
		b := startBG(t, e, []string{"S=vault://cli/runsig/stop"}, "run", "-no-mask", "-restart", "-interval", "100ms", "--",
			"sh", "-c", `trap 'echo stopping; sleep 1; echo stopped; exit 0' TERM; echo "start $S"; while :; do sleep 0.05; done`)
		if l := b.next(t); l != "start v1" {
			t.Fatalf("first line %q", l)
		}
		srv.PutKV(t, "cli/runsig/stop", map[string]any{"value": "v2"})
		if l := b.next(t); l != "stopping" {
			t.Fatalf("after the change line %q, want the old command stopping", l)
		}
		if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- b.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("vaultly exit %v, want 0 (the old command's status)", err)
			}
		case <-time.After(10 * time.Second):
			// The old command stops 1 s after its TERM: 10 s is tolerance
			// for a loaded machine.
			t.Fatalf("vaultly still runs 10 s after a SIGTERM during the restart; stderr: %s", b.errb.String())
		}
		var rest []string
		for l := range b.lines {
			rest = append(rest, l)
		}
		if slices.Contains(rest, "start v2") {
			t.Errorf("a new command started after the SIGTERM: output %q", rest)
		}
	})

	t.Run("signal on change", func(t *testing.T) {
		srv.PutKV(t, "cli/runsig/app", map[string]any{"value": "third-value"})
		b := startBG(t, e, refs, "run", "-signal", "HUP", "-interval", "100ms", "--", "sh", "-c", `trap 'echo got-hup' HUP; echo "ready $S"; while :; do sleep 0.05; done`)
		if l := b.next(t); l != "ready *****" {
			t.Fatalf("first line %q", l)
		}
		srv.PutKV(t, "cli/runsig/app", map[string]any{"value": "fourth-value"})
		if l := b.next(t); l != "got-hup" {
			t.Errorf("after the change line %q, want got-hup", l)
		}
	})
}

// TestRunChildEnvAndMasking: the child gets the values (with mounts in
// the references, two mounts read with one login), not vaultly's own
// credentials unless -pass-vault-env; a multi-line value is masked line
// by line, and its JSON-escaped and base64 forms too; short values are
// left alone with one warning; references with user info or an API path
// are refused without echoing them.
func TestRunChildEnvAndMasking(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.EnableSecrets(t, "cli-run-kv", "kv", map[string]string{"version": "2"})
	e := newEnv(t, srv)
	pem := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n"
	key := "k3y??>>??<<&x" // base64 has + and /, JSON escapes <, > and &
	srv.PutKV(t, "cli/runenv/app", map[string]any{"pem": pem, "short": "ab"})
	srv.Write(t, "cli-run-kv/data/app", map[string]any{"data": map[string]any{"key": key}})
	refs := []string{
		"PEM=vault://secret/cli/runenv/app:pem", // mount in the path
		"SHORT=vault://cli/runenv/app:short",    // default mount
		"KEY=vault://cli-run-kv/app:key",        // another mount
		"VAULT_ROLE_ID=", "VAULT_SECRET_ID=",
	}
	script := `echo "token=${VAULT_TOKEN:-none} addr=${VAULT_ADDR:+set} short=$SHORT"
printf '%s\n' "$PEM" | sed -n 3p
printf '"%s\\n"\n' "$(printf '%s' "$PEM" | sed ':a;N;$!ba;s/\n/\\n/g')"
printf '%s' "$KEY" | base64 -w0; echo
printf '%s' "$KEY" | base64 -w0 | tr '+/' '-_' | tr -d '='; echo
printf '%s\n' "$KEY" | sed 's/</\\u003c/g; s/>/\\u003e/g; s/&/\\u0026/g'`

	r := e.runEnv(refs, "", "run", "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("run: exit %d, stderr %s", r.code, r.stderr)
	}
	// A line of the key; the whole key JSON-escaped in a JSON string; KEY
	// in base64 (the padding is no secret) and URL base64; KEY JSON-escaped.
	want := "token=none addr=set short=ab\n*****\n\"*****\"\n*****==\n*****\n*****\n"
	if r.stdout != want {
		t.Errorf("run stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if got := strings.Count(r.stderr, "not masked"); got != 1 || !strings.Contains(r.stderr, "not masked in the output: SHORT") {
		t.Errorf("stderr %q, want one warning naming SHORT", r.stderr)
	}
	for _, leak := range []string{"MIIEvQ", "BKcwgg", srv.Token, "k3y"} {
		if strings.Contains(r.stdout+r.stderr, leak) {
			t.Errorf("output shows %q:\n%s%s", leak, r.stdout, r.stderr)
		}
	}

	r = e.runEnv(refs, "", "run", "-pass-vault-env", "-no-mask", "--", "sh", "-c", `echo "token=$VAULT_TOKEN"`)
	if r.stdout != "token="+srv.Token+"\n" {
		t.Errorf("-pass-vault-env: child saw %q, want the token", r.stdout)
	}

	for _, tt := range []struct{ name, ref, want string }{
		{"user info", "vault://admin:hunter2-pw@vault.example/secret/app", "has no user@ or user:password@ part"},
		{"api path", "vault://secret/data/cli/runenv/app:pem", "is the HTTP API path of secret/cli/runenv/app: write secret/cli/runenv/app"},
		{"bad query", "vault://cli/runenv/app:pem?hunter2=1", "environment variable X"},
	} {
		r := e.runEnv([]string{"X=" + tt.ref}, "", "run", "--", "touch", "started")
		checkResult(t, tt.name, r, ExitUsage, tt.want)
		if strings.Contains(r.stderr, "hunter2") && tt.name == "user info" {
			t.Errorf("%s: stderr echoes the password: %s", tt.name, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(e.home, "started")); err == nil {
			t.Fatalf("%s: the command started", tt.name)
		}
	}
}
