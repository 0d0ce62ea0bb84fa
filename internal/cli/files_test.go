package cli

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// inode returns the inode number of name, or 0 when it does not exist.
func inode(t *testing.T, name string) uint64 {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		return 0
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// checkPrivateReplaced checks that name has mode 0600, that it is a new
// file (renamed into place, not rewritten: its inode changed) and that no
// temporary file was left next to it.
func checkPrivateReplaced(t *testing.T, name string, oldIno uint64) {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatalf("stat %s: %v", name, err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s mode %#o, want 0600", name, perm)
	}
	if oldIno != 0 && inode(t, name) == oldIno {
		t.Errorf("%s was rewritten in place (same inode), want an atomic rename", name)
	}
	ents, err := os.ReadDir(filepath.Dir(name))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestInject(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/inject/db", map[string]any{"username": "app", "password": "s3cr3t", "port": 5432})
	srv.PutKV(t, "cli/inject/db", map[string]any{"username": "app", "password": "n3w", "port": 5432})
	tmpl := filepath.Join(e.home, "app.tmpl")
	os.WriteFile(tmpl, []byte(`user={{ secret "cli/inject/db:username" }}
pass={{ secret "vault://cli/inject/db:password" }}
old={{ secret "vault://cli/inject/db:password?version=1" }}
port={{ secret "/cli/inject/db:port" }}
`), 0o644)
	out := filepath.Join(e.home, "out", "app.conf")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	// An existing, world-readable file is replaced, not rewritten.
	if err := os.WriteFile(out, []byte("old content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ino := inode(t, out)
	if got := e.must("", "inject", "-i", tmpl, "-o", out); !strings.Contains(got, "Wrote "+out) {
		t.Errorf("inject output %q", got)
	}
	b, _ := os.ReadFile(out)
	if want := "user=app\npass=n3w\nold=s3cr3t\nport=5432\n"; string(b) != want {
		t.Errorf("rendered %q, want %q", b, want)
	}
	checkPrivateReplaced(t, out, ino)

	bad := []struct {
		name, tmpl string
		code       int
		msg        string
	}{
		{"missing entry", `{{ secret "cli/inject/none:x" }}`, ExitError, "not found"},
		{"missing field", `a {{ secret "cli/inject/db:nope" }}`, ExitError, `no key "nope"`},
		{"bad reference", `{{ secret "cli/../x" }}`, ExitUsage, "invalid reference"},
		{"bad template", `{{ secret "a" `, ExitUsage, "template"},
		{"unknown function", `{{ vaultAgentOnly "HOME" }}`, ExitUsage, `function "vaultAgentOnly" not defined`},
		{"api path", `{{ secret "secret/data/cli/inject/db:username" }}`, ExitUsage, "write secret/cli/inject/db"},
		{"user info", `{{ secret "vault://u:hunter2@h/cli/inject/db:username" }}`, ExitUsage, "no user@ or user:password@ part"},
		// text/template would quote the value: "range can't iterate over n3w".
		{"value in a template error", `{{ range secret "cli/inject/db:password" }}{{ end }}`, ExitUsage, "bad.tmpl:1:16: cannot render this action"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(e.home, "bad.tmpl")
			os.WriteFile(p, []byte(tt.tmpl), 0o644)
			r := e.run("", "inject", "-i", p, "-o", out)
			checkResult(t, "inject", r, tt.code, tt.msg)
			for _, v := range []string{"n3w", "hunter2"} {
				if strings.Contains(r.stderr, v) {
					t.Errorf("stderr shows %q: %s", v, r.stderr)
				}
			}
			if b, _ := os.ReadFile(out); string(b) != "user=app\npass=n3w\nold=s3cr3t\nport=5432\n" {
				t.Errorf("output file changed after a failed inject: %q", b)
			}
		})
	}
	t.Run("template from stdin", func(t *testing.T) {
		o := filepath.Join(e.home, "stdin.conf")
		e.must(`{{ secret "cli/inject/db:username" }}`, "inject", "-i", "-", "-o", o)
		if b, _ := os.ReadFile(o); string(b) != "app" {
			t.Errorf("rendered %q", b)
		}
		checkPrivateReplaced(t, o, 0)
	})
	t.Run("-o - and mounts in the references", func(t *testing.T) {
		srv.EnableSecrets(t, "cli-inject-kv", "kv", map[string]string{"version": "2"})
		srv.Write(t, "cli-inject-kv/data/other", map[string]any{"data": map[string]any{"value": "from-another-mount"}})
		got := e.must(`{{ secret "secret/cli/inject/db:username" }} {{ secret "vault://cli-inject-kv/other" }} {{ secret "cli/inject/db:port" }}`,
			"inject", "-i", "-", "-o", "-")
		if got != "app from-another-mount 5432" {
			t.Errorf("inject -o - printed %q", got)
		}
		if _, err := os.Stat(filepath.Join(e.home, "-")); err == nil {
			t.Error("inject -o - created a file named -")
		}
	})
	checkResult(t, "inject without -o", e.run("", "inject", "-i", tmpl), ExitUsage, "missing -o FILE")
	checkResult(t, "inject without -i", e.run("", "inject", "-o", out), ExitUsage, "missing -i TEMPLATE")
}

func TestLoginLogout(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.EnableAuth(t, "userpass", "userpass")
	srv.WritePolicy(t, "cli-login", `path "secret/data/cli/login/*" { capabilities = ["read"] }`)
	srv.Write(t, "auth/userpass/users/alice", map[string]any{"password": "alice-pw-123", "token_policies": "cli-login"})
	srv.PutKV(t, "cli/login/app", map[string]any{"value": "logged-in"})

	e := newEnv(t, srv)
	delete(e.vars, "VAULT_TOKEN")
	pw := filepath.Join(e.home, "pw")
	os.WriteFile(pw, []byte("alice-pw-123\n"), 0o600)
	cfg := e.configFile()

	r := e.run("", "get", "cli/login/app")
	checkResult(t, "get before login", r, ExitError, "no vault credentials")

	// A failed login writes nothing.
	os.WriteFile(filepath.Join(e.home, "wrong"), []byte("nope"), 0o600)
	r = e.run("", "login", "-method", "userpass", "username=alice", "password_file="+filepath.Join(e.home, "wrong"))
	checkResult(t, "login with a wrong password", r, ExitError, "vaultly: login")
	if _, err := os.Stat(cfg); err == nil {
		t.Fatal("config written after a failed login")
	}
	checkResult(t, "login with an unknown method", e.run("", "login", "-method", "magic"), ExitUsage, `unknown auth method "magic"`)
	checkResult(t, "login with an unknown parameter", e.run("", "login", "-method", "userpass", "username=alice", "pasword_file=x"), ExitUsage, "pasword_file")
	checkResult(t, "login userpass without a terminal for the password", e.run("", "login", "-method", "userpass", "username=alice"), ExitUsage, "no terminal")

	// A previous file is replaced atomically.
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	os.WriteFile(cfg, []byte(`{"address": "http://old"}`), 0o600)
	ino := inode(t, cfg)
	out := e.must("", "login", "-method", "userpass", "username=alice", "password_file="+pw)
	if !strings.Contains(out, "as userpass-alice") || !strings.Contains(out, "cli-login") {
		t.Errorf("login output %q", out)
	}
	checkPrivateReplaced(t, cfg, ino)
	raw, fc := savedConfig(t, cfg)
	if strings.Contains(raw, "alice-pw-123") {
		t.Error("config file holds the password itself; want only the password file's name")
	}
	if fc.Address != srv.Addr || fc.Token == "" || fc.Auth == nil || fc.Auth.Method != "userpass" ||
		!cmp.Equal(fc.Auth.Params, map[string]string{"username": "alice", "password_file": pw}) {
		t.Errorf("config file = %s", raw)
	}
	if strings.Contains(out, fc.Token) {
		t.Error("login printed the token")
	}

	// Later commands use the saved login, without VAULT_ADDR or VAULT_TOKEN.
	delete(e.vars, "VAULT_ADDR")
	if got := e.must("", "get", "cli/login/app:value"); got != "logged-in\n" {
		t.Errorf("get with the saved login = %q", got)
	}
	// The saved token revoked: the saved method logs in again.
	if err := srv.Client(t).Auth().Token().RevokeTree(fc.Token); err != nil {
		t.Fatal(err)
	}
	if got := e.must("", "get", "cli/login/app:value"); got != "logged-in\n" {
		t.Errorf("get after the saved token was revoked = %q", got)
	}

	// A config file others can read is refused.
	os.Chmod(cfg, 0o644)
	r = e.run("", "get", "cli/login/app")
	checkResult(t, "get with a group-readable config", r, ExitError, "chmod 600")
	os.Chmod(cfg, 0o600)

	// Token login from VAULT_TOKEN saves only the token.
	tok := srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"cli-login"}})
	r = e.runEnv([]string{"VAULT_ADDR=" + srv.Addr, "VAULT_TOKEN=" + tok}, "", "login")
	if r.code != 0 {
		t.Fatalf("token login: %d %s", r.code, r.stderr)
	}
	raw, _ = savedConfig(t, cfg)
	if !strings.Contains(raw, tok) || strings.Contains(raw, `"auth"`) {
		t.Errorf("config after token login = %s", raw)
	}

	if out := e.must("", "logout"); !strings.Contains(out, "Removed "+cfg) {
		t.Errorf("logout output %q", out)
	}
	if _, err := os.Stat(cfg); err == nil {
		t.Error("config file still there after logout")
	}
	if out := e.must("", "logout"); !strings.Contains(out, "Not logged in") {
		t.Errorf("second logout output %q", out)
	}
}

func TestDoctor(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.WritePolicy(t, "cli-doctor", `path "secret/data/cli/doctor/ok" { capabilities = ["read"] }`)
	e := newEnv(t, srv)
	e.vars["VAULT_TOKEN"] = srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"cli-doctor"}})
	srv.PutKV(t, "cli/doctor/ok", map[string]any{"password": "p", "user": "u"})
	srv.PutKV(t, "cli/doctor/denied", map[string]any{"value": "v"})
	conf := filepath.Join(e.home, "app.env")
	os.WriteFile(conf, []byte("DB_PASSWORD=vault://cli/doctor/ok:password\nX={{ secret \"cli/doctor/ok:user\" }}\n"), 0o644)

	out := e.must("", "doctor", "-config", conf)
	for _, want := range []string{"[ok  ] address", "[ok  ] seal", "[ok  ] auth", "[ok  ] path     cli/doctor/ok (secret/data/cli/doctor/ok): readable [read]",
		"path \"secret/data/cli/doctor/ok\" {\n  capabilities = [\"read\"]\n}"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}

	r := e.runEnv([]string{"API=vault://cli/doctor/denied"}, "", "doctor", "-format=json", "-config", conf)
	checkResult(t, "doctor with an unreadable path", r, ExitError, "some checks failed")
	var got struct {
		Paths []struct {
			Path    string `json:"path"`
			CanRead bool   `json:"can_read"`
		} `json:"paths"`
		Policy string `json:"policy"`
		OK     bool   `json:"ok"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("doctor json: %v\n%s", err, r.stdout)
	}
	type pc = struct {
		Path    string `json:"path"`
		CanRead bool   `json:"can_read"`
	}
	if diff := cmp.Diff([]pc{{"cli/doctor/denied", false}, {"cli/doctor/ok", true}}, got.Paths); diff != "" || got.OK {
		t.Errorf("doctor paths (-want +got):\n%s (ok=%v)", diff, got.OK)
	}
	// The printed policy is what the app needs: applied, doctor passes.
	srv.WritePolicy(t, "cli-doctor", got.Policy)
	e.must("", "doctor", "-config", conf, "cli/doctor/denied")

	// A path that does not exist and a key the entry lacks fail, with the
	// policy allowing both: readable is not enough.
	srv.WritePolicy(t, "cli-doctor", `path "secret/data/cli/doctor/*" { capabilities = ["read"] }`)
	r = e.run("", "doctor", "secret/cli/doctor/ok:nokey", "cli/doctor/none", "cli/doctor/ok:user")
	checkResult(t, "doctor with a missing key and a missing path", r, ExitError, "some checks failed")
	for _, want := range []string{
		`[FAIL] path     cli/doctor/none (secret/data/cli/doctor/none): readable, but no entry at the path`,
		`[ok  ] path     cli/doctor/ok (secret/data/cli/doctor/ok): readable [read]`,
		`[FAIL] path     secret/cli/doctor/ok (secret/data/cli/doctor/ok): readable, but the entry has no key "nokey"`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, r.stdout)
		}
	}

	e.vars["VAULT_TOKEN"] = "hvs.not-a-real-token-at-all-xxxxxxxxx"
	r = e.run("", "doctor")
	checkResult(t, "doctor with a bad token", r, ExitError, "some checks failed")
	if !strings.Contains(r.stdout, "[FAIL] auth") || strings.Contains(r.stdout, "not-a-real-token") {
		t.Errorf("doctor with a bad token:\n%s", r.stdout)
	}
}

func TestHelpAndCompletion(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	cmds := [][]string{{}, {"get"}, {"put"}, {"patch"}, {"delete"}, {"undelete"}, {"destroy"}, {"rollback"}, {"list"},
		{"metadata"}, {"metadata", "get"}, {"metadata", "put"}, {"metadata", "patch"}, {"metadata", "delete"}, {"meta", "get"},
		{"kv-config"}, {"login"}, {"logout"}, {"status"}, {"unseal"}, {"run"}, {"inject"}, {"doctor"}, {"completion"}, {"version"}}
	for _, c := range cmds {
		for _, flag := range []string{"-help", "--help", "-h"} {
			args := append(append([]string{}, c...), flag)
			r := e.run("", args...)
			if r.code != 0 || !strings.Contains(r.stdout, "Examples:\n  ") || !strings.Contains(r.stdout, "vaultly") {
				t.Errorf("vaultly %s: exit %d, want help with an example:\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out := e.must("", "completion", sh)
		if !strings.Contains(out, "vaultly") || len(out) < 500 {
			t.Errorf("completion %s: %d bytes", sh, len(out))
		}
	}
	checkResult(t, "completion powershell", e.run("", "completion", "powershell"), ExitUsage, "unknown shell")
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t, &vaulttest.Options{TLS: true})
	srv.PutKV(t, "cli/tls/app", map[string]any{"value": "over-tls"})
	e := newEnv(t, srv)

	r := e.run("", "get", "cli/tls/app:value")
	checkResult(t, "get without the CA", r, ExitError, "certificate cannot be verified")
	r = e.runEnv([]string{"VAULT_SKIP_VERIFY=1"}, "", "get", "cli/tls/app:value")
	checkResult(t, "get with VAULT_SKIP_VERIFY", r, ExitError, "vaultly always verifies TLS")

	if got := e.must("", "get", "-ca-cert", srv.CACert, "cli/tls/app:value"); got != "over-tls\n" {
		t.Errorf("get -ca-cert = %q", got)
	}
	if got := e.runEnv([]string{"VAULT_CACERT=" + srv.CACert}, "", "get", "cli/tls/app:value"); got.stdout != "over-tls\n" {
		t.Errorf("get with VAULT_CACERT = %+v", got)
	}
	out := e.must("", "doctor", "-ca-cert", srv.CACert, "cli/tls/app")
	if !strings.Contains(out, "[ok  ] tls      server certificate verified") {
		t.Errorf("doctor over TLS:\n%s", out)
	}
	r = e.run("", "doctor", "cli/tls/app")
	if r.code != ExitError || !strings.Contains(r.stdout, "[FAIL] address") || !strings.Contains(r.stdout, "certificate") {
		t.Errorf("doctor without the CA: exit %d\n%s", r.code, r.stdout)
	}
}

// scriptBin returns util-linux `script`, which gives a pseudo-terminal.
func scriptBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("script")
	if err != nil {
		if vaulttest.Required() {
			t.Fatal("script (util-linux) not found; it provides the pseudo-terminal for this test")
		}
		t.Skip("script (util-linux) not found: no pseudo-terminal for the prompt tests")
	}
	return p
}

// onTTY runs vaultly args on a pseudo-terminal and types input once the
// prompt (ending in ":") is shown.
func onTTY(t *testing.T, e *env, input string, args ...string) result {
	t.Helper()
	line := binary
	for _, a := range args {
		line += " '" + a + "'"
	}
	cmd := exec.Command(scriptBin(t), "-qec", line, "/dev/null")
	cmd.Env = e.environ()
	cmd.Dir = e.home
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	buf := make([]byte, 4096)
	typed := false
	for {
		n, err := outPipe.Read(buf)
		out.Write(buf[:n])
		if !typed && strings.HasSuffix(strings.TrimRight(out.String(), " "), ":") {
			typed = true
			io.WriteString(in, input)
			in.Close()
		}
		if err != nil {
			break
		}
	}
	r := result{stdout: out.String()}
	if err := cmd.Wait(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// TestTerminalPrompts runs vaultly on a pseudo-terminal (util-linux
// `script`) to check the hidden prompts and the confirmation.
func TestTerminalPrompts(t *testing.T) {
	t.Parallel()
	scriptBin(t)
	srv := shared(t)
	e := newEnv(t, srv)
	r := onTTY(t, e, "typed-secret-42\n", "put", "cli/tty/app", "user=app", "token")
	if r.code != 0 || !strings.Contains(r.stdout, "Value of token") || strings.Contains(r.stdout, "typed-secret-42") {
		t.Errorf("put with a prompt: exit %d, output %q (want the prompt, without echo)", r.code, r.stdout)
	}
	if got := e.vaultKVData("cli/tty/app"); !cmp.Equal(got, map[string]any{"user": "app", "token": "typed-secret-42"}) {
		t.Errorf("stored after the prompt: %v", got)
	}

	r = onTTY(t, e, "n\n", "metadata", "delete", "cli/tty/app")
	if r.code != ExitUsage || !strings.Contains(r.stdout, "aborted") {
		t.Errorf("metadata delete answered n: exit %d, output %q", r.code, r.stdout)
	}
	if e.vaultKVData("cli/tty/app") == nil {
		t.Fatal("entry deleted although the answer was n")
	}
	r = onTTY(t, e, "y\n", "metadata", "delete", "cli/tty/app")
	if r.code != 0 || !strings.Contains(r.stdout, "Success! Data deleted (if it existed) at: secret/metadata/cli/tty/app") {
		t.Errorf("metadata delete answered y: exit %d, output %q", r.code, r.stdout)
	}
	if r := e.vault("kv", "metadata", "get", "secret/cli/tty/app"); r.code == 0 {
		t.Error("metadata still there after metadata delete answered y")
	}
}

// TestCompletion: secret paths complete by listing them in Vault, with or
// without the mount in the path, through cobra's __complete and through
// the bash script in a bash that has not loaded the bash-completion
// package; a server that does not answer completes nothing within the
// timeout.
func TestCompletion(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/comp/app1", map[string]any{"value": "v"})
	srv.PutKV(t, "cli/comp/app2", map[string]any{"value": "v"})
	srv.PutKV(t, "cli/comp/sub/x", map[string]any{"value": "v"})

	tests := []struct {
		typed string
		want  []string
	}{
		{"cli/comp/", []string{"cli/comp/app1", "cli/comp/app2", "cli/comp/sub/"}},
		{"cli/comp/app", []string{"cli/comp/app1", "cli/comp/app2"}},
		{"secret/cli/comp/s", []string{"secret/cli/comp/sub/"}},
		{"cli/comp/app1:", nil},
	}
	for _, tt := range tests {
		out := e.must("", "__complete", "get", tt.typed)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(l, ":") && l != "" && !strings.HasPrefix(l, "Completion ended") {
				got = append(got, l)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("complete get %q (-want +got):\n%s", tt.typed, diff)
		}
	}

	t.Run("bash without bash-completion", func(t *testing.T) {
		script := e.must("", "completion", "bash")
		f := filepath.Join(e.home, "vaultly.bash")
		if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
			t.Fatal(err)
		}
		line := binary + " get cli/comp/ap"
		sh := `source "$F"; declare -F _init_completion >/dev/null && { echo "bash-completion is loaded"; exit 1; }
COMP_LINE="$L"; COMP_POINT=${#COMP_LINE}; read -r -a COMP_WORDS <<< "$L"; COMP_CWORD=2
__start_vaultly vaultly; printf '%s\n' "${COMPREPLY[@]}"`
		r := e.exec("bash", []string{"F=" + f, "L=" + line}, "", "--norc", "--noprofile", "-c", sh)
		if r.code != 0 || r.stdout != "cli/comp/app1\ncli/comp/app2\n" {
			t.Errorf("bash completion of %q: exit %d, stdout %q, stderr %q", line, r.code, r.stdout, r.stderr)
		}
	})

	t.Run("a server that does not answer", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // accepts nothing: connections hang in the backlog
		start := time.Now()
		r := e.runEnv([]string{"VAULT_ADDR=http://" + ln.Addr().String()}, "", "__complete", "get", "cli/")
		// completeTimeout is 2s; 15s of slack for a loaded machine.
		if d := time.Since(start); r.code != 0 || d > completeTimeout+15*time.Second {
			t.Errorf("completion against a silent server: exit %d after %v, want 0 within %v (+15s slack)", r.code, d, completeTimeout)
		}
	})
}
