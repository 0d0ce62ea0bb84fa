package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// TestRunConfigSupervisor is Vault Agent's process supervisor mode through
// `vaultly run -config agent.hcl`: env_template blocks (a whole value and
// one inside other text, with the template functions of inject) are the
// command's environment, the exec block is the command; a KV change
// restarts it with the new values (static_secret_render_interval 200ms)
// and the values are masked in its output; with restart_on_secret_changes
// = "never" a change leaves the command running; a command that exits ends
// vaultly with its exit code.
func TestRunConfigSupervisor(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/envtmpl/db", map[string]any{"user": "app", "password": "envtmpl-pw-1"})
	cfg := func(name, restart, command string) string {
		p := filepath.Join(e.home, name)
		writeFile(t, p, `
template_config { static_secret_render_interval = "200ms" }
env_template "DB_PASSWORD" {
  contents = "{{ with secret \"secret/data/cli/envtmpl/db\" }}{{ .Data.data.password }}{{ end }}"
}
env_template "DB_URL" {
  contents = "postgres://{{ secret \"secret/cli/envtmpl/db:user\" }}@db.internal/app"
}
exec {
  command                   = `+command+`
  restart_on_secret_changes = "`+restart+`"
  restart_stop_signal       = "SIGTERM"
  kill_timeout              = "5s"
}
`)
		return p
	}
	loop := `["sh", "-c", "echo \"start $DB_PASSWORD $DB_URL\"; while :; do sleep 0.1; done"]`

	t.Run("always", func(t *testing.T) {
		d := startDaemon(t, e, nil, "run", "-no-mask", "-config", cfg("always.hcl", "always", loop))
		eventually(t, 20*time.Second, "the command started with the rendered values", func() bool {
			return strings.Contains(d.outText(), "start envtmpl-pw-1 postgres://app@db.internal/app\n")
		})
		srv.PutKV(t, "cli/envtmpl/db", map[string]any{"user": "app", "password": "envtmpl-pw-2"})
		took := eventually(t, 10*time.Second, "the command restarted with the new password", func() bool {
			return strings.Contains(d.outText(), "start envtmpl-pw-2 postgres://app@db.internal/app\n")
		})
		// Tolerance: the check every 200ms, the stop (SIGTERM: sh exits at
		// once) and the start, on a loaded 2-core machine.
		if took > 3*time.Second {
			t.Errorf("restarted %v after the change, want within 3s (checked every 200ms)", took)
		}
		d.stop(t)
		if !strings.Contains(d.errText(), "secret/cli/envtmpl/db changed: restarting the command") {
			t.Errorf("stderr does not say which path changed:\n%s", d.errText())
		}
		if n := strings.Count(d.outText(), "start "); n != 2 {
			t.Errorf("the command started %d times, want 2:\n%s", n, d.outText())
		}
		t.Logf("restarted %v after the change; stderr:\n%s", took, d.errText())
	})

	t.Run("masked and never", func(t *testing.T) {
		srv.PutKV(t, "cli/envtmpl/db", map[string]any{"user": "app", "password": "envtmpl-pw-3"})
		d := startDaemon(t, e, nil, "run", "-config", cfg("never.hcl", "never", loop))
		eventually(t, 20*time.Second, "the command started", func() bool { return strings.Contains(d.outText(), "start ") })
		srv.PutKV(t, "cli/envtmpl/db", map[string]any{"user": "app", "password": "envtmpl-pw-4"})
		time.Sleep(time.Second) // 5 check intervals
		d.stop(t)
		out := d.outText()
		if strings.Contains(out, "envtmpl-pw-3") || !strings.Contains(out, "start ***** ") {
			t.Errorf("the password is not masked in the command's output:\n%s", out)
		}
		if n := strings.Count(out, "start "); n != 1 {
			t.Errorf("the command started %d times with restart_on_secret_changes = \"never\", want 1:\n%s", n, out)
		}
	})

	t.Run("exit_on_retry_failure", func(t *testing.T) {
		p := cfg("exitonfail.hcl", "always", loop)
		writeFile(t, p, strings.Replace(fileText(p), `template_config { static_secret_render_interval = "200ms" }`, `template_config {
  static_secret_render_interval = "200ms"
  exit_on_retry_failure         = true
}`, 1))
		d := startDaemon(t, e, nil, "run", "-config", p)
		eventually(t, 20*time.Second, "the command started", func() bool {
			return strings.Contains(d.outText(), "start ") || strings.Contains(d.errText(), "Error")
		})
		if r := e.vault("kv", "delete", "-mount=secret", "cli/envtmpl/db"); r.code != 0 {
			t.Fatalf("vault kv delete: exit %d: %s", r.code, r.stderr)
		}
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			t.Fatalf("vaultly still runs 15s after the secret was deleted, with exit_on_retry_failure; stderr:\n%s", d.errText())
		}
		if d.err == nil || !strings.Contains(d.errText(), "exit_on_retry_failure") {
			t.Errorf("exit %v, stderr:\n%s\nwant a failure that names exit_on_retry_failure", d.err, d.errText())
		}
		if strings.Count(d.outText(), "start ") != 1 {
			t.Errorf("the command started %d times, want once:\n%s", strings.Count(d.outText(), "start "), d.outText())
		}
		t.Logf("stderr:\n%s", d.errText())
		srv.PutKV(t, "cli/envtmpl/db", map[string]any{"user": "app", "password": "envtmpl-pw-5"})
	})

	t.Run("exit code", func(t *testing.T) {
		r := e.run("", "run", "-no-mask", "-config", cfg("exit.hcl", "always", `"test -n \"$DB_PASSWORD\" && exit 7"`))
		if r.code != 7 {
			t.Errorf("exit %d, want the command's 7; stderr:\n%s", r.code, r.stderr)
		}
	})
}

// TestRunConfigErrors: what Vault Agent refuses in a supervisor config is
// refused here too, with the file and line, before anything runs; inject
// refuses env_template and exec with the advice to use run.
func TestRunConfigErrors(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	const env = "env_template \"A\" {\n  contents = \"x\"\n}\n"
	const ex = "exec {\n  command = [\"true\"]\n}\n"
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"template next to env_template", env + ex + "template {\n  contents = \"x\"\n  destination = \"out\"\n}\n", nil, "renders no file: render template blocks with 'vaultly inject -config'"},
		{"no env_template", ex, nil, "has no env_template block"},
		{"a file template's attribute", "env_template \"A\" {\n  contents = \"x\"\n  destination = \"out\"\n}\n" + ex, nil, `run.hcl:3,3-14: Unsupported argument: An argument named "destination" is not expected here`},
		{"restart policy", env + "exec {\n  command = [\"true\"]\n  restart_on_secret_changes = \"sometimes\"\n}\n", nil, `exec: restart_on_secret_changes "sometimes": want "always" or "never"`},
		{"stop signal", env + "exec {\n  command = [\"true\"]\n  restart_stop_signal = \"SIGNOPE\"\n}\n", nil, `restart_stop_signal: unknown signal "SIGNOPE"`},
		{"duplicate variable", env + env + ex, nil, `env_template "A": the variable is also set by the env_template at`},
		{"bad variable name", "env_template \"A=B\" {\n  contents = \"x\"\n}\n" + ex, nil, `env_template "A=B": not an environment variable name`},
		{"source and contents", "env_template \"A\" {\n  contents = \"x\"\n  source = \"a.tmpl\"\n}\n" + ex, nil, "give source or contents, not both"},
		{"template syntax", "env_template \"A\" {\n  contents = \"{{ secret \"\n}\n" + ex, nil, "run.hcl:1,1-17):1: unclosed action"},
		{"command twice", env + ex, []string{"--", "true"}, "has an exec block: give the command there or after --, not both"},
		{"no command", env, nil, "missing COMMAND after -- (or an exec block in -config)"},
		{"exit_after_auth", "exit_after_auth = true\n" + env + ex, nil, "exit_after_auth = true renders once and exits: run supervises a command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "run.hcl")
			writeFile(t, p, tc.file)
			r := e.run("", append([]string{"run", "-config", p}, tc.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	// With exit_on_retry_failure, a secret that is not there stops run
	// before the command starts, as a vault:// reference does: exit 2,
	// naming the template and path (without it run waits for it:
	// TestRunConfigWaitsForVault).
	missing := filepath.Join(t.TempDir(), "missing.hcl")
	writeFile(t, missing, "template_config {\n  exit_on_retry_failure = true\n}\nenv_template \"A\" {\n  contents = \"{{ secret \\\"secret/cli/envtmpl/none:pw\\\" }}\"\n}\nexec {\n  command = [\"sh\", \"-c\", \"echo started\"]\n}\n")
	if r := e.run("", "run", "-config", missing); r.code != 2 || strings.Contains(r.stdout, "started") || !strings.Contains(r.stderr, "cli/envtmpl/none") {
		t.Errorf("a missing secret: exit %d, stdout %q, stderr:\n%s\nwant exit 2 naming the path, the command not started", r.code, r.stdout, r.stderr)
	}
	p := filepath.Join(t.TempDir(), "agent.hcl")
	writeFile(t, p, env+ex)
	r := e.run("", "inject", "-config", p)
	if r.code != 1 || !strings.Contains(r.stderr, "run the command with 'vaultly run -config "+p+"'") {
		t.Errorf("inject with env_template: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// TestRunConfigDynamic: an env_template that reads a database secret
// (role ttl 4s, max 8s) gets one lease, which the lease engine replaces
// before it ends; each replacement restarts the command with the new
// user, and the replaced user is gone from PostgreSQL once the old command
// has exited.
func TestRunConfigDynamic(t *testing.T) {
	t.Parallel()
	pg := sharedPostgres(t)
	srv := shared(t)
	creds := srv.ConfigureDatabase(t, pg, "cli-envtmpl-db", vaulttest.DatabaseRole{Name: "app", DefaultTTL: "4s", MaxTTL: "8s"})
	e := newEnv(t, srv)
	p := filepath.Join(e.home, "db.hcl")
	writeFile(t, p, `
env_template "PGUSER" {
  contents = "{{ with secret \"`+creds+`\" }}{{ .Data.username }}{{ end }}"
}
env_template "PGPASSWORD" {
  contents = "{{ with secret \"`+creds+`\" }}{{ .Data.password }}{{ end }}"
}
exec {
  command = ["sh", "-c", "echo \"start user=$PGUSER pw=$${#PGPASSWORD}\"; while :; do sleep 0.1; done"]
}
`)
	d := startDaemon(t, e, nil, "run", "-no-mask", "-config", p)
	starts := regexp.MustCompile(`(?m)^start user=(\S+) pw=(\d+)$`)
	// A lease of at most 8s is replaced within 8s of its issue (tolerance:
	// 4s more for the restart and a loaded machine).
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", d.outText(), d.errText())
		}
	})
	eventually(t, 20*time.Second, "a second start with new credentials", func() bool {
		return len(starts.FindAllStringSubmatch(d.outText(), -1)) >= 2
	})
	d.stop(t)
	ms := starts.FindAllStringSubmatch(d.outText(), -1)
	users := map[string]bool{}
	for _, m := range ms {
		if m[2] == "0" {
			t.Errorf("a start with an empty password: %s", m[0])
		}
		if users[m[1]] {
			t.Errorf("the user %s started twice: both variables must come from one lease per rotation\n%s", m[1], d.outText())
		}
		users[m[1]] = true
	}
	if !strings.Contains(d.errText(), creds+" changed: restarting the command") {
		t.Errorf("stderr does not say which path changed:\n%s", d.errText())
	}
	checkUsersGone(t, pg, users)
}

// TestRunConfigFromAgentGenerateConfig: the file `vault agent
// generate-config -type=env-template` writes (the real vault CLI's, with
// its auto_auth token_file on ~/.vault-token, template_config's
// exit_on_retry_failure and max_connections_per_host, the vault block,
// env_template blocks and an exec block) runs as it is: the token comes
// from the token file (no VAULT_TOKEN), the command gets the variables.
func TestRunConfigFromAgentGenerateConfig(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/gen/app", map[string]any{"password": "gen-pw-1", "user": "gen-user"})
	p := filepath.Join(e.home, "agent.hcl")
	if r := e.vault("agent", "generate-config", "-type=env-template", "-exec=env", "-path=secret/cli/gen/app", p); r.code != 0 {
		t.Fatalf("vault agent generate-config: exit %d: %s", r.code, r.stderr)
	}
	text := fileText(p)
	for _, want := range []string{"auto_auth", "token_file_path", "exit_on_retry_failure", "env_template \"APP_PASSWORD\"", "exec"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the generated file lacks %q (did generate-config change?):\n%s", want, text)
		}
	}
	writeFile(t, filepath.Join(e.home, ".vault-token"), srv.Token)
	r := e.runEnv([]string{"VAULT_TOKEN="}, "", "run", "-no-mask", "-config", p)
	if r.code != 0 {
		t.Fatalf("run -config on the generated file: exit %d:\n%s\nfile:\n%s", r.code, r.stderr, text)
	}
	for _, want := range []string{"\nAPP_PASSWORD=gen-pw-1\n", "\nAPP_USER=gen-user\n"} {
		if !strings.Contains("\n"+r.stdout, want) {
			t.Errorf("the command's environment lacks %q:\n%s", strings.TrimSpace(want), r.stdout)
		}
	}
	// The token file is what logs in: without it, and without VAULT_TOKEN,
	// there is no token.
	if err := os.Remove(filepath.Join(e.home, ".vault-token")); err != nil {
		t.Fatal(err)
	}
	if r := e.runEnv([]string{"VAULT_TOKEN="}, "", "run", "-config", p); r.code == 0 || !strings.Contains(r.stderr, ".vault-token") {
		t.Errorf("without the token file: exit %d, stderr:\n%s\nwant a failure naming the file", r.code, r.stderr)
	}
	// A method vaultly does not read from the config (approle, kubernetes
	// and jwt it does: TestAgentAutoAuth) is refused with the advice to
	// log in.
	other := filepath.Join(e.home, "gcp.hcl")
	writeFile(t, other, strings.Replace(text, `"token_file"`, `"gcp"`, 1))
	if r := e.run("", "run", "-config", other); r.code != 1 || !strings.Contains(r.stderr, "vaultly login -method=gcp") {
		t.Errorf("auto_auth gcp: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
