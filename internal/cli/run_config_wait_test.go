package cli

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
// file created with mode 0600. pid_file holds vaultly's process ID while
// it runs.
func TestRunConfigWaitsForVault(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t, nil) // its own: it is sealed
	e := newEnv(t, srv)
	p := filepath.Join(e.home, "wait.hcl")
	writeFile(t, p, `
pid_file = "run.pid"
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
	if got, want := fileText(filepath.Join(e.home, "run.pid")), strconv.Itoa(d.cmd.Process.Pid); got != want {
		t.Errorf("pid_file = %q, want vaultly's pid %s", got, want)
	}
	d.stop(t)
	if _, err := os.Stat(filepath.Join(e.home, "run.pid")); !os.IsNotExist(err) {
		t.Errorf("the pid file is still there after SIGTERM: %v", err)
	}
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
	if !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) || !strings.Contains(d.errText(), "stopped by TERM while waiting for Vault") {
		t.Errorf("SIGTERM while waiting: %v, stderr:\n%s\nwant exit 143 saying so", d.err, d.errText())
	}
}

// TestInjectWatchWaitsForVault is Vault Agent's template mode at a start
// where a secret is not written yet: `inject -watch -config` writes the
// template it can render, logs the other's failure, naming the path, and
// tries it again: the watch of the missing entry renders it once it is
// written; for a mount not enabled yet, the attempts with backoff do.
// Without -watch (a one-shot rendering, as `vault agent` with
// exit_after_auth) the same file stops inject at once (exit 2). While it
// waits, -listen's /health answers 503 saying what for.
func TestInjectWatchWaitsForVault(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/injwait/ready", map[string]any{"pw": "ready-pw"})
	p := filepath.Join(e.home, "agent.hcl")
	writeFile(t, p, `
template {
  contents    = "ready={{ secret \"secret/cli/injwait/ready:pw\" }}\n"
  destination = "ready.conf"
}
template {
  contents    = "{{ with secret \"secret/data/cli/injwait/later\" }}later={{ .Data.data.pw }}{{ end }}\n"
  destination = "later.conf"
}
`)
	ready, later := filepath.Join(e.home, "ready.conf"), filepath.Join(e.home, "later.conf")
	if r := e.run("", "inject", "-config", p); r.code != 2 || !strings.Contains(r.stderr, "cli/injwait/later") {
		t.Errorf("inject -config (once) with a missing secret: exit %d, stderr:\n%s\nwant exit 2 naming the path", r.code, r.stderr)
	}
	if _, err := os.Stat(later); err == nil {
		t.Fatalf("the one-shot rendering wrote later.conf")
	}
	d := startDaemon(t, e, nil, "inject", "-watch", "-interval", "200ms", "-config", p)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", d.outText(), d.errText())
		}
	})
	eventually(t, 20*time.Second, "ready.conf written and later.conf's failure logged", func() bool {
		return fileText(ready) == "ready=ready-pw\n" &&
			strings.Contains(d.errText(), "vaultly: rendering later.conf failed (attempt 1, next in 1s; it is written once it succeeds)") &&
			strings.Contains(d.errText(), "cli/injwait/later")
	})
	srv.PutKV(t, "cli/injwait/later", map[string]any{"pw": "later-pw"})
	// The watch of the missing entry sees it written (every 200ms).
	eventually(t, 8*time.Second, "later.conf written once the secret is", func() bool {
		return fileText(later) == "later=later-pw\n"
	})
	d.stop(t)

	// A mount that is not there yet: nothing to watch, so the attempts
	// (1s, 2s, 4s apart) find it once it is enabled and written
	// (tolerance: 4s more than the next attempt on a loaded machine).
	writeFile(t, p, `
template {
  contents    = "mounted={{ secret \"cli-injwait-kv/app:pw\" }}\n"
  destination = "mounted.conf"
}
`)
	d = startDaemon(t, e, nil, "inject", "-watch", "-listen", "127.0.0.1:0", "-config", p)
	eventually(t, 20*time.Second, "mounted.conf's failure logged", func() bool {
		return strings.Contains(d.errText(), "vaultly: rendering mounted.conf failed (attempt 2, next in 2s")
	})
	// Meanwhile -listen's /health answers 503, saying what it waits for.
	health := func() (int, string) {
		m := regexp.MustCompile(`health and metrics on http://(\S+) `).FindStringSubmatch(d.errText())
		if m == nil {
			t.Fatalf("no health address on stderr:\n%s", d.errText())
		}
		resp, err := http.Get("http://" + m[1] + "/health")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := health(); code != http.StatusServiceUnavailable || !strings.Contains(body, `"waiting":"rendering mounted.conf failed`) {
		t.Errorf("GET /health while waiting = %d %s, want 503 saying what it waits for", code, body)
	}
	srv.EnableSecrets(t, "cli-injwait-kv", "kv", map[string]string{"version": "2"})
	if r := e.vault("kv", "put", "-mount=cli-injwait-kv", "app", "pw=mounted-pw"); r.code != 0 {
		t.Fatalf("vault kv put: exit %d: %s", r.code, r.stderr)
	}
	eventually(t, 8*time.Second, "mounted.conf written once the mount and secret are there", func() bool {
		return fileText(filepath.Join(e.home, "mounted.conf")) == "mounted=mounted-pw\n"
	})
	// inject marks the start done just after it wrote the file: /health
	// turns 200 right after (tolerance: 2 s on a loaded machine).
	code, body := health()
	for deadline := time.Now().Add(2 * time.Second); (code != http.StatusOK || strings.Contains(body, "waiting")) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		code, body = health()
	}
	if code != http.StatusOK || strings.Contains(body, "waiting") {
		t.Errorf("GET /health once rendered = %d %s, want 200 (within 2 s of the file's write)", code, body)
	}
	d.stop(t)
	if strings.Contains(d.errText(), "ready-pw") || strings.Contains(d.errText(), "later-pw") {
		t.Errorf("stderr holds a secret value:\n%s", d.errText())
	}
}

// TestAgentLifecycleSettings: the top-level settings of an agent.hcl that
// say how long it runs. exit_after_auth = false keeps inject running (as
// -watch; Agent's default), true renders once and exits (an init
// container's; run refuses true: TestRunConfigErrors); pid_file
// holds vaultly's process ID while it runs (mode 0600, no newline, as
// Agent writes it) and is removed when it stops on SIGTERM.
// template_config's exit_on_retry_failure makes inject -watch stop when a
// rendering fails after a change, and not wait for Vault at start.
func TestAgentLifecycleSettings(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/lifecycle/app", map[string]any{"pw": "life-pw-1"})
	cfg := func(name, extra string) string {
		p := filepath.Join(e.home, name)
		writeFile(t, p, extra+`
pid_file = "vaultly.pid"
template {
  contents    = "pw={{ secret \"secret/cli/lifecycle/app:pw\" }}\n"
  destination = "app.conf"
}
`)
		return p
	}
	pidFile, out := filepath.Join(e.home, "vaultly.pid"), filepath.Join(e.home, "app.conf")

	r := e.run("", "inject", "-config", cfg("once.hcl", "exit_after_auth = true"))
	if r.code != 0 || fileText(out) != "pw=life-pw-1\n" {
		t.Fatalf("exit_after_auth = true: exit %d, app.conf %q, stderr:\n%s", r.code, fileText(out), r.stderr)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("the pid file is still there after a one-shot rendering: %v", err)
	}

	d := startDaemon(t, e, nil, "inject", "-interval", "200ms", "-config", cfg("keep.hcl", "exit_after_auth = false"))
	eventually(t, 20*time.Second, "the pid file written", func() bool { return fileText(pidFile) != "" })
	if got, want := fileText(pidFile), strconv.Itoa(d.cmd.Process.Pid); got != want {
		t.Errorf("pid file = %q, want %q", got, want)
	}
	if st, err := os.Stat(pidFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("pid file mode: %v, %v; want 0600", st, err)
	}
	srv.PutKV(t, "cli/lifecycle/app", map[string]any{"pw": "life-pw-2"})
	eventually(t, 10*time.Second, "exit_after_auth = false keeps rendering", func() bool { return fileText(out) == "pw=life-pw-2\n" })
	d.stop(t)
	if d.err != nil || !strings.Contains(d.errText(), "vaultly: stopping on TERM") {
		t.Errorf("SIGTERM: exit %v, stderr:\n%s\nwant exit 0, saying so", d.err, d.errText())
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("the pid file is still there after SIGTERM: %v", err)
	}

	// exit_on_retry_failure: inject -watch does not wait at start, and a
	// rendering that fails after a change stops it.
	srv.PutKV(t, "cli/lifecycle/exit", map[string]any{"pw": "exit-pw"})
	exitCfg := func(path string) string {
		p := filepath.Join(e.home, "exit.hcl")
		writeFile(t, p, `
template_config {
  exit_on_retry_failure = true
}
template {
  contents    = "pw={{ secret \"secret/`+path+`:pw\" }}\n"
  destination = "exit.conf"
}
`)
		return p
	}
	if r := e.run("", "inject", "-watch", "-config", exitCfg("cli/lifecycle/none")); r.code != 2 || !strings.Contains(r.stderr, "cli/lifecycle/none") {
		t.Errorf("exit_on_retry_failure with a missing secret at start: exit %d, stderr:\n%s\nwant exit 2 at once, naming the path", r.code, r.stderr)
	}
	d = startDaemon(t, e, nil, "inject", "-watch", "-interval", "200ms", "-config", exitCfg("cli/lifecycle/exit"))
	eventually(t, 20*time.Second, "exit.conf written", func() bool { return fileText(filepath.Join(e.home, "exit.conf")) == "pw=exit-pw\n" })
	if r := e.vault("kv", "delete", "-mount=secret", "cli/lifecycle/exit"); r.code != 0 {
		t.Fatalf("vault kv delete: exit %d: %s", r.code, r.stderr)
	}
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("inject still runs 15s after the secret was deleted, with exit_on_retry_failure; stderr:\n%s", d.errText())
	}
	if d.err == nil || !strings.Contains(d.errText(), "rendering exit.conf again failed (exit_on_retry_failure): stopping") {
		t.Errorf("exit %v, stderr:\n%s\nwant a failure naming exit_on_retry_failure", d.err, d.errText())
	}
}

// TestAgentAutoAuth: an agent.hcl's auto_auth method logs in, in the forms
// Agent's files use: `method "approle" { mount_path, config = { … } }` as
// Vault's documentation writes it (the secret_id file removed after
// reading, Agent's default) and `method { type = "approle" config { … } }`
// with remove_secret_id_file_after_reading = false (the file kept). The
// first also has Agent's sink "file": the login's token is written there
// (mode 0600). The token comes from the login: VAULT_TOKEN is empty and the method's
// policy is the only one that reads the secret. `method "kubernetes"`
// logs in through Vault's kubernetes method the same way.
func TestAgentAutoAuth(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	const mount = "cli-agent-approle"
	srv.EnableAuth(t, mount, "approle")
	srv.WritePolicy(t, "cli-agentauth", `path "secret/data/cli/agentauth/*" { capabilities = ["read"] }`)
	srv.Write(t, "auth/"+mount+"/role/app", map[string]any{"token_policies": "cli-agentauth"})
	srv.PutKV(t, "cli/agentauth/app", map[string]any{"pw": "agentauth-pw"})
	sec, err := srv.Client(t).Logical().Read("auth/" + mount + "/role/app/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleFile, secretFile := filepath.Join(e.home, "role-id"), filepath.Join(e.home, "secret-id")
	writeFile(t, roleFile, sec.Data["role_id"].(string)+"\n")
	newSecretID := func() {
		writeFile(t, secretFile, srv.Write(t, "auth/"+mount+"/role/app/secret-id", nil).Data["secret_id"].(string)+"\n")
	}
	const tmpl = `
template {
  contents    = "pw={{ secret \"secret/cli/agentauth/app:pw\" }}\n"
  destination = "app.conf"
}
`
	for _, tc := range []struct {
		name, autoAuth string
		kept           bool
	}{
		{"as Vault's documentation writes it", `
auto_auth {
  method "approle" {
    mount_path = "auth/` + mount + `"
    config = {
      role_id_file_path   = "role-id"
      secret_id_file_path = "secret-id"
    }
  }
  sink "file" {
    config = {
      path = "token-sink"
    }
  }
}`, false},
		{"type attribute, config block", `
auto_auth {
  method {
    type       = "approle"
    mount_path = "auth/` + mount + `"
    config {
      role_id_file_path                   = "role-id"
      secret_id_file_path                 = "secret-id"
      remove_secret_id_file_after_reading = false
    }
  }
}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newSecretID()
			out := filepath.Join(e.home, "app.conf")
			os.Remove(out)
			p := filepath.Join(e.home, "agent.hcl")
			writeFile(t, p, tc.autoAuth+tmpl)
			r := e.runEnv([]string{"VAULT_TOKEN="}, "", "inject", "-config", p)
			if r.code != 0 || fileText(out) != "pw=agentauth-pw\n" {
				t.Fatalf("inject with auto_auth approle: exit %d, app.conf %q, stderr:\n%s", r.code, fileText(out), r.stderr)
			}
			if _, err := os.Stat(secretFile); (err == nil) != tc.kept {
				t.Errorf("secret_id file after the login: %v; want kept = %v", err, tc.kept)
			}
			if !strings.Contains(tc.autoAuth, "sink") {
				return
			}
			// The file sink holds the login's token (mode 0600), which Vault accepts.
			sinkFile := filepath.Join(e.home, "token-sink")
			tok := fileText(sinkFile)
			c := srv.Client(t)
			c.SetToken(tok)
			sec, err := c.Auth().Token().LookupSelfWithContext(t.Context())
			if err != nil || !strings.Contains(fmt.Sprint(sec.Data["policies"]), "cli-agentauth") {
				t.Errorf("the sink's token: lookup-self %v, %v; want the AppRole's token", sec, err)
			}
			if st, err := os.Stat(sinkFile); err != nil || st.Mode().Perm() != 0o600 || strings.Contains(r.stderr, tok) {
				t.Errorf("sink file: %v, %v; want mode 0600 (and the token nowhere in stderr)", st, err)
			}
		})
	}

	t.Run("kubernetes", func(t *testing.T) {
		// Vault's real kubernetes method, with a loopback TokenReview
		// endpoint standing in for the Kubernetes API.
		r := vaulttest.StartTokenReviewer(t)
		const k8s = "cli-agent-k8s"
		srv.EnableAuth(t, k8s, "kubernetes")
		srv.Write(t, "auth/"+k8s+"/config", map[string]any{"kubernetes_host": r.URL, "token_reviewer_jwt": "reviewer-jwt", "disable_local_ca_jwt": true})
		srv.Write(t, "auth/"+k8s+"/role/app", map[string]any{"bound_service_account_names": "app", "bound_service_account_namespaces": "default", "token_policies": "cli-agentauth"})
		writeFile(t, filepath.Join(e.home, "sa-token"), r.Issue(t, vaulttest.ServiceAccount{Namespace: "default", Name: "app", UID: "6f1c2a8e-0000-4000-8000-000000000002"}))
		out := filepath.Join(e.home, "app.conf")
		os.Remove(out)
		p := filepath.Join(e.home, "k8s.hcl")
		writeFile(t, p, `
auto_auth {
  method "kubernetes" {
    mount_path = "auth/`+k8s+`"
    config = {
      role       = "app"
      token_path = "sa-token"
    }
  }
}`+tmpl)
		res := e.runEnv([]string{"VAULT_TOKEN="}, "", "inject", "-config", p)
		if res.code != 0 || fileText(out) != "pw=agentauth-pw\n" || r.Reviews() == 0 {
			t.Fatalf("inject with auto_auth kubernetes: exit %d, app.conf %q, %d token reviews, stderr:\n%s", res.code, fileText(out), r.Reviews(), res.stderr)
		}
	})
}

// TestInjectBackup: a template with Agent's backup = true keeps the text
// it replaces in DEST.bak, with the file's mode; an unchanged rendering
// leaves both alone.
func TestInjectBackup(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/backup/app", map[string]any{"pw": "backup-pw-1"})
	p := filepath.Join(e.home, "agent.hcl")
	writeFile(t, p, `
template {
  contents    = "pw={{ secret \"secret/cli/backup/app:pw\" }}\n"
  destination = "app.conf"
  perms       = "0640"
  backup      = true
}
`)
	out, bak := filepath.Join(e.home, "app.conf"), filepath.Join(e.home, "app.conf.bak")
	inject := func() {
		t.Helper()
		if r := e.run("", "inject", "-config", p); r.code != 0 {
			t.Fatalf("inject: exit %d, stderr:\n%s", r.code, r.stderr)
		}
	}
	inject()
	if _, err := os.Stat(bak); !os.IsNotExist(err) {
		t.Errorf("a first rendering made a backup: %v", err)
	}
	srv.PutKV(t, "cli/backup/app", map[string]any{"pw": "backup-pw-2"})
	inject()
	inject() // unchanged: the backup stays the first text
	if got, want := fileText(out), "pw=backup-pw-2\n"; got != want {
		t.Errorf("app.conf = %q, want %q", got, want)
	}
	if got, want := fileText(bak), "pw=backup-pw-1\n"; got != want {
		t.Errorf("app.conf.bak = %q, want the replaced text %q", got, want)
	}
	if st, err := os.Stat(bak); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("app.conf.bak mode: %v, %v; want 0640, the file's", st, err)
	}
}

// TestInjectSecretsList: consul-template's `secrets` lists a KV path (with
// or without KV v2's metadata/ segment), sorted, folders ending in "/", a
// path with nothing under it an empty list; with -watch the list is read
// again every -static-interval, so a new entry renders.
func TestInjectSecretsList(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	for _, p := range []string{"cli/list/b", "cli/list/a", "cli/list/sub/c"} {
		srv.PutKV(t, p, map[string]any{"v": p})
	}
	tmpl := filepath.Join(e.home, "list.tmpl")
	writeFile(t, tmpl, `{{ range secrets "secret/metadata/cli/list/" }}{{ . }} {{ end }}|{{ range secrets "secret/cli/list" }}{{ . }} {{ end }}|{{ range secrets "secret/cli/none/" }}{{ . }}{{ end }}
`)
	r := e.run("", "inject", "-i", tmpl, "-o", "-")
	if want := "a b sub/ |a b sub/ |\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("inject: exit %d, stdout %q, want %q; stderr:\n%s", r.code, r.stdout, want, r.stderr)
	}
	out := filepath.Join(e.home, "list.txt")
	d := startDaemon(t, e, nil, "inject", "-watch", "-static-interval", "200ms", "-i", tmpl, "-o", out)
	eventually(t, 20*time.Second, "the first rendering", func() bool { return fileText(out) == "a b sub/ |a b sub/ |\n" })
	srv.PutKV(t, "cli/list/d", map[string]any{"v": "d"})
	eventually(t, 10*time.Second, "the new entry listed (read every 200ms)", func() bool { return fileText(out) == "a b d sub/ |a b d sub/ |\n" })
	d.stop(t)
}
