package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/hint"
)

// goWords finds what reads like a Go identifier in a message: Type.Field,
// pkg.Name, CamelCase and ACRONYMCase names, and calls f().
var goWords = []*regexp.Regexp{
	regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9]*\.[A-Z][A-Za-z0-9]*\b`), // Options.Token, hashivault.New
	regexp.MustCompile(`\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b`),       // UndeleteVersions
	regexp.MustCompile(`\b[A-Z]{2,}[a-z]{2,}[A-Za-z0-9]*\b`),          // KVVersion
	regexp.MustCompile(`\b[A-Za-z_][A-Za-z0-9_]*\(\)`),                // Reveal()
}

// notGo are words of the domain that look like Go identifiers.
var notGo = []string{"AppRole", "KiB", "MiB", "GiB"}

// vaultlyCmd finds a command the message tells the user to run.
var vaultlyCmd = regexp.MustCompile("['`\"]vaultly ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")

// badWording returns what in msg names a Go identifier or a vaultly
// command that does not exist.
func badWording(t *testing.T, msg string) []string {
	t.Helper()
	var bad []string
	for _, re := range goWords {
		for _, w := range re.FindAllString(msg, -1) {
			if !slices.Contains(notGo, w) {
				bad = append(bad, w)
			}
		}
	}
	root := newRoot(&globals{})
	for _, m := range vaultlyCmd.FindAllStringSubmatch(msg, -1) {
		args := []string{m[1]}
		if m[2] != "" {
			args = append(args, m[2])
		}
		c, rest, err := root.Find(args)
		if err != nil || c == root || (len(rest) > 0 && c.HasSubCommands()) {
			bad = append(bad, "vaultly "+strings.Join(args, " "))
		}
	}
	return bad
}

// TestBadWordingDetector: the detector used below finds each kind of Go
// identifier the command used to print, and passes plain advice.
func TestBadWordingDetector(t *testing.T) {
	tests := []struct {
		msg  string
		want []string
	}{
		{"no vault address (set Options.Address or VAULT_ADDR)", []string{"Options.Address"}},
		{"undelete it with UndeleteVersions or `vaultly undelete`", []string{"UndeleteVersions"}},
		{"or set Options.KVVersion to 1 or 2", []string{"Options.KVVersion", "KVVersion"}},
		{"restore it with `vault kv undelete` or `vaultly versions undelete`", []string{"vaultly versions undelete"}},
		{"call Reveal() on it", []string{"Reveal()"}},
		{"see hashivault.New", []string{"hashivault.New"}},
		{"give -address, set VAULT_ADDR, or run 'vaultly login'", nil},
		{"restore it with 'vaultly undelete -versions=1 secret/app/db'", nil},
		{"AppRole (VAULT_ROLE_ID/VAULT_SECRET_ID): vault answered 403, TTLs and URLs", nil},
	}
	for _, tt := range tests {
		if got := badWording(t, tt.msg); !slices.Equal(got, tt.want) {
			t.Errorf("badWording(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

// TestMessagesNameNoGoIdentifiers runs the built vaultly through the
// common ways a command fails, against the real server, and checks that
// what it prints on stderr names flags, variables and commands, never a Go
// identifier (Options.Token, UndeleteVersions) or a command that does not
// exist.
func TestMessagesNameNoGoIdentifiers(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/wording/app", map[string]any{"user": "u"})
	srv.PutKV(t, "cli/wording/app", map[string]any{"user": "u2"})
	srv.PutKV(t, "cli/wording/app", map[string]any{"user": "u3"})
	e.must("", "delete", "cli/wording/app", "-versions", "1")
	e.must("", "destroy", "-yes", "cli/wording/app", "-versions", "2")
	srv.EnableSecrets(t, "cli-wording-transit", "transit", nil)
	srv.EnableAuth(t, "cli-wording-up", "userpass")
	srv.Write(t, "auth/cli-wording-up/users/alice", map[string]any{"password": "right-pw"})
	noRead := srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"default"}})
	closed := closedAddr(t)
	plain := httptest.NewServer(nil) // answers plain http where https is asked for
	t.Cleanup(plain.Close)
	tlsAddr := "https://" + plain.Listener.Addr().String()
	// Hostile servers: one answers every request with more than the 32 MiB
	// response limit, one redirects every request to an address that is
	// not configured.
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"v":"`)
		chunk := []byte(strings.Repeat("a", 1<<20))
		for range 33 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		io.WriteString(w, `"}}`)
	}))
	t.Cleanup(huge.Close)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, closed+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)

	noConfig := []string{"VAULT_ADDR=", "VAULT_TOKEN="}
	tests := []struct {
		name string
		env  []string
		args []string
	}{
		{"no address", noConfig, []string{"get", "cli/wording/app:user"}},
		{"no address, whole entry", noConfig, []string{"get", "cli/wording/app"}},
		{"no address, put", noConfig, []string{"put", "cli/wording/x", "a=1"}},
		{"no address, doctor", noConfig, []string{"doctor", "cli/wording/app"}},
		{"no address, status", noConfig, []string{"status"}},
		{"no credentials", []string{"VAULT_TOKEN="}, []string{"get", "cli/wording/app:user"}},
		{"no credentials, run", []string{"VAULT_TOKEN=", "X=vault://cli/wording/app:user"}, []string{"run", "--", "true"}},
		{"bad token", []string{"VAULT_TOKEN=hvs.not-a-real-token-at-all"}, []string{"get", "cli/wording/app:user"}},
		{"permission denied", []string{"VAULT_TOKEN=" + noRead}, []string{"get", "cli/wording/app:user"}},
		{"permission denied, whole entry", []string{"VAULT_TOKEN=" + noRead}, []string{"get", "cli/wording/app"}},
		{"connection refused", []string{"VAULT_ADDR=" + closed}, []string{"get", "cli/wording/app:user"}},
		{"tls to a plain server", []string{"VAULT_ADDR=" + tlsAddr}, []string{"get", "cli/wording/app:user"}},
		{"answer past the response limit", []string{"VAULT_ADDR=" + huge.URL}, []string{"get", "cli/wording/app:user"}},
		{"redirect to an unlisted node", []string{"VAULT_ADDR=" + redirect.URL}, []string{"get", "cli/wording/app:user"}},
		{"skip verify", []string{"VAULT_SKIP_VERIFY=true", "VAULT_ADDR=https://127.0.0.1:1"}, []string{"get", "cli/wording/app"}},
		{"missing path", nil, []string{"get", "cli/wording/none"}},
		{"missing key", nil, []string{"get", "cli/wording/app:nokey"}},
		{"missing version", nil, []string{"get", "-version", "9", "cli/wording/app"}},
		{"deleted version", nil, []string{"get", "-version", "1", "cli/wording/app"}},
		{"deleted version, key", nil, []string{"get", "-version", "1", "cli/wording/app:user"}},
		{"deleted version, uri", nil, []string{"get", "vault://cli/wording/app:user?version=1"}},
		{"destroyed version", nil, []string{"get", "-version", "2", "cli/wording/app"}},
		{"destroyed version, key", nil, []string{"get", "-version", "2", "cli/wording/app:user"}},
		{"unknown mount", nil, []string{"get", "-mount", "nomount", "cli/wording/app:user"}},
		{"kv-config unknown mount", nil, []string{"kv-config", "-mount", "nomount"}},
		{"meta of a missing path", nil, []string{"meta", "get", "cli/wording/none"}},
		{"list a missing prefix", nil, []string{"list", "cli/wording/none"}},
		{"undelete a missing path", nil, []string{"undelete", "cli/wording/none", "-versions", "1"}},
		{"api path", nil, []string{"get", "secret/data/cli/wording/app"}},
		{"mount named twice", nil, []string{"get", "-mount=secret", "secret/cli/wording/app"}},
		{"missing field", nil, []string{"get", "-field=nope", "cli/wording/app"}},
		{"not a kv mount", nil, []string{"get", "cubbyhole/x"}},
		{"no credentials, with a bad token helper config", []string{"VAULT_TOKEN=", "VAULT_CONFIG_PATH=/dev/null/nope"}, []string{"get", "cli/wording/app:user"}},
		{"inject a value that cannot be ranged", nil, []string{"inject", "-i", "-", "-o", "-"}},
		{"bad reference", nil, []string{"get", "cli/../x"}},
		{"inject a missing key", nil, []string{"inject", "-i", "-", "-o", "out"}},
		{"run a missing path", []string{"X=vault://cli/wording/none:x"}, []string{"run", "--", "true"}},
		{"login unknown method", nil, []string{"login", "-method", "nope"}},
		{"login missing role_id", nil, []string{"login", "-method", "approle", "secret_id_env=SID"}},
		{"login unknown parameter", nil, []string{"login", "-method", "approle", "role_id=r", "bogus=1"}},
		{"login two sources", nil, []string{"login", "-method", "token", "token_env=A", "token_file=/b"}},
		{"login missing jwt", nil, []string{"login", "-method", "jwt", "role=ci"}},
		{"login wrong password", nil, []string{"login", "-method", "userpass", "-path", "cli-wording-up", "username=alice", "password_env=WRONG_PW"}},
		{"login missing password file", nil, []string{"login", "-method", "userpass", "-path", "cli-wording-up", "username=alice", "password_file=/nonexistent/pw"}},
		{"transit missing key", nil, []string{"transit", "decrypt", "-mount", "cli-wording-transit", "-key", "nokey", "vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
		{"transit not mounted", nil, []string{"transit", "encrypt", "-mount", "cli-wording-none", "-key", "k", "@/dev/null"}},
		{"transit bad ciphertext", nil, []string{"transit", "decrypt", "-mount", "cli-wording-transit", "-key", "k", "not-a-ciphertext"}},
		{"lease lookup unknown", nil, []string{"lease", "lookup", "database/creds/app/nope"}},
		{"creds on a missing path", nil, []string{"creds", "database/creds/none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdin := ""
			switch tt.name {
			case "inject a missing key":
				stdin = `{{ secret "cli/wording/app:nokey" }}`
			case "inject a value that cannot be ranged":
				stdin = `{{ range secret "cli/wording/app:user" }}{{ end }}`
			}
			r := e.runEnv(append([]string{"WRONG_PW=wrong-pw", "SID=s"}, tt.env...), stdin, tt.args...)
			if r.code == 0 {
				t.Fatalf("vaultly %s: exit 0, want a failure\nstdout: %s", strings.Join(tt.args, " "), r.stdout)
			}
			if r.stderr == "" {
				t.Fatalf("vaultly %s: exit %d with nothing on stderr", strings.Join(tt.args, " "), r.code)
			}
			t.Logf("stderr: %s", strings.TrimSpace(r.stderr))
			if bad := badWording(t, r.stderr); len(bad) > 0 {
				t.Errorf("vaultly %s: stderr names %q:\n%s", strings.Join(tt.args, " "), bad, r.stderr)
			}
		})
	}
}

// closedAddr returns the URL of a loopback port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestErrText: the command's hint replaces the library's for a marked
// cause, also inside the command's own wrappers, and leaves other errors
// as they are.
func TestErrText(t *testing.T) {
	deleted := &vaultly.Error{Op: "get", Ref: "app/db:pw@3", Backend: "vault", Code: vaultly.NotFound,
		Err:  &hint.Mark{Kind: hint.VersionDeleted, Version: 3, Err: errors.New("version 3 was deleted")},
		Hint: "undelete it with UndeleteVersions"}
	noAddr := &vaultly.Error{Op: "connect", Backend: "vault", Code: vaultly.Config,
		Err: &hint.Mark{Kind: hint.NoAddress, Err: errors.New("no vault address")}, Hint: "set Options.Address"}
	plain := &vaultly.Error{Op: "get", Ref: "x", Code: vaultly.NotFound, Err: errors.New("no entry"), Hint: "keep me"}
	detect := &vaultly.Error{Op: "get", Ref: "app/db:pw", Backend: "vault", Code: vaultly.PermissionDenied,
		Err:  &hint.Mark{Kind: hint.KVDetect, Mount: "secret", Path: "app/db", Err: errors.New("cannot detect the kv version of mount secret")},
		Hint: "or set Options.KVVersion"}
	tests := []struct {
		name  string
		mount string
		err   error
		want  string
	}{
		{"deleted", "", deleted, "vaultly: get app/db:pw@3 (vault): not found: version 3 was deleted (restore it with 'vaultly undelete -versions=3 app/db')"},
		{"deleted, -mount", "kv", deleted, "vaultly: get app/db:pw@3 (vault): not found: version 3 was deleted (restore it with 'vaultly undelete -mount=kv -versions=3 app/db')"},
		{"deleted, on a mount", "", atTarget(kvTarget{mount: "secret", path: "app/db"}, deleted),
			"vaultly: get secret/app/db:pw@3 (vault): not found: version 3 was deleted (restore it with 'vaultly undelete -versions=3 secret/app/db')"},
		{"wrapped", "", fmt.Errorf("environment variable X: %w", noAddr),
			"environment variable X: vaultly: connect (vault): configuration: no vault address (give -address, set VAULT_ADDR, or run 'vaultly login')"},
		{"unmarked", "", plain, plain.Error()},
		// Vault 1.21 describes a mount only to a token with a capability under
		// it: the advice is the entry's own policy line, not one on
		// sys/internal/ui/mounts, which does not help.
		{"kv detection", "", detect, `vaultly: get app/db:pw (vault): permission denied: cannot detect the kv version of mount secret (either no kv mount is at secret, or the token may use no path under it: vault describes a mount only to a token with a capability in it, e.g. path "secret/data/app/db" { capabilities = ["read"] }; check the mount in the path or -mount)`},
		{"not a vaultly error", "", errors.New("boom"), "boom"},
	}
	for _, tt := range tests {
		g := &globals{mount: tt.mount}
		if got := g.errText(tt.err); got != tt.want {
			t.Errorf("%s: errText() = %q, want %q", tt.name, got, tt.want)
		}
	}
}
