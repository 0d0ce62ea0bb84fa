package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// loginMethod is one auth method's part of TestLoginMethods.
type loginMethod struct {
	name string
	// setup enables the method on srv for a role with policy cli-methods and
	// writes its credential files under e.home. It returns the login
	// parameters, the credential texts that must never reach the config
	// file, and rotate, which replaces the credential in its files so that
	// the old one no longer logs in.
	setup func(t *testing.T, e *env) (params []string, secrets []string, rotate func(t *testing.T))
	// bad returns login parameters that the server refuses.
	bad func(t *testing.T, e *env) []string
}

// TestLoginMethods logs in with AppRole and with a TLS client certificate
// against a TLS dev server, then checks that the saved config alone (no
// VAULT_* variables, no -ca-cert) serves later commands, logs in again with
// the saved method when the saved token is revoked, and re-reads the
// credential files at that login.
func TestLoginMethods(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t, &vaulttest.Options{TLS: true})
	srv.WritePolicy(t, "cli-methods", `path "secret/data/cli/methods/*" { capabilities = ["read"] }`)
	srv.PutKV(t, "cli/methods/app", map[string]any{"value": "via-saved-login"})

	for _, m := range []loginMethod{approleLogin(srv), certLogin(srv)} {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, srv)
			delete(e.vars, "VAULT_TOKEN")
			e.vars["VAULT_CACERT"] = srv.CACert // saved by login as ca_cert
			cfg := e.configFile()
			params, secrets, rotate := m.setup(t, e)
			login := append([]string{"login", "-method", m.name}, params...)

			r := e.run("", append([]string{"login", "-method", m.name}, m.bad(t, e)...)...)
			checkResult(t, "login with refused credentials", r, ExitError, "vaultly: login")
			if _, err := os.Stat(cfg); err == nil {
				t.Fatal("config written after a failed login")
			}

			out := e.must("", login...)
			if !strings.Contains(out, "Logged in to "+srv.Addr) || !strings.Contains(out, "cli-methods") {
				t.Errorf("login output = %q, want the address and the policy", out)
			}
			checkPrivateReplaced(t, cfg, 0)
			raw, fc := savedConfig(t, cfg)
			for _, s := range secrets {
				if strings.Contains(raw, strings.TrimSpace(s)) {
					t.Errorf("config file holds a credential itself; want only its file's name")
				}
			}
			if fc.Auth == nil {
				t.Fatalf("config file saves no login method:\n%s", raw)
			}
			wantParams := map[string]string{}
			for _, p := range params {
				k, v, _ := strings.Cut(p, "=")
				wantParams[k] = v
			}
			if fc.Address != srv.Addr || fc.CACert != srv.CACert || fc.Token == "" || fc.Auth.Method != m.name {
				t.Errorf("config file: address %q, ca_cert %q, token set %v, method %q; want %q, %q, true, %q",
					fc.Address, fc.CACert, fc.Token != "", fc.Auth.Method, srv.Addr, srv.CACert, m.name)
			}
			if diff := cmp.Diff(wantParams, fc.Auth.Params); diff != "" {
				t.Errorf("saved login parameters (-want +got):\n%s", diff)
			}

			// From here on only the saved config says where and how.
			delete(e.vars, "VAULT_ADDR")
			delete(e.vars, "VAULT_CACERT")
			get := func(what string) {
				t.Helper()
				if got := e.must("", "get", "cli/methods/app:value"); got != "via-saved-login\n" {
					t.Errorf("get %s = %q, want %q", what, got, "via-saved-login\n")
				}
			}
			get("with the saved token")
			if err := srv.Client(t).Auth().Token().RevokeTree(fc.Token); err != nil {
				t.Fatal(err)
			}
			get("after the saved token was revoked (login again with the saved method)")
			rotate(t)
			get("after the credential in the files was replaced")
		})
	}
}

// approleLogin: role_id and secret_id in files; rotation issues a new
// secret_id and destroys the old one.
func approleLogin(srv *vaulttest.Server) loginMethod {
	const mount = "approle"
	writeSecretID := func(t *testing.T, file string) string {
		t.Helper()
		id := srv.Write(t, "auth/"+mount+"/role/app/secret-id", nil).Data["secret_id"].(string)
		writeFile(t, file, id+"\n")
		return id
	}
	return loginMethod{
		name: "approle",
		setup: func(t *testing.T, e *env) ([]string, []string, func(*testing.T)) {
			srv.EnableAuth(t, mount, "approle")
			srv.Write(t, "auth/"+mount+"/role/app", map[string]any{"token_policies": "cli-methods"})
			sec, err := srv.Client(t).Logical().Read("auth/" + mount + "/role/app/role-id")
			if err != nil {
				t.Fatal(err)
			}
			roleFile, secretFile := filepath.Join(e.home, "role-id"), filepath.Join(e.home, "secret-id")
			writeFile(t, roleFile, sec.Data["role_id"].(string)+"\n")
			old := writeSecretID(t, secretFile)
			rotate := func(t *testing.T) {
				writeSecretID(t, secretFile)
				srv.Write(t, "auth/"+mount+"/role/app/secret-id/destroy", map[string]any{"secret_id": old})
			}
			return []string{"role_id_file=" + roleFile, "secret_id_file=" + secretFile}, []string{old}, rotate
		},
		bad: func(t *testing.T, e *env) []string {
			wrong := filepath.Join(e.home, "wrong-secret-id")
			writeFile(t, wrong, "00000000-0000-0000-0000-000000000000\n")
			return []string{"role_id_file=" + filepath.Join(e.home, "role-id"), "secret_id_file=" + wrong}
		},
	}
}

// certLogin: a client certificate and key in files, trusted through the
// cert role "app"; rotation trusts a new CA instead and puts a certificate
// from it in the same files.
func certLogin(srv *vaulttest.Server) loginMethod {
	trust := func(t *testing.T, ca *vaulttest.ClientCA) {
		srv.Write(t, "auth/cert/certs/app", map[string]any{"certificate": ca.PEM, "token_policies": "cli-methods"})
	}
	return loginMethod{
		name: "cert",
		setup: func(t *testing.T, e *env) ([]string, []string, func(*testing.T)) {
			srv.EnableAuth(t, "cert", "cert")
			ca := vaulttest.NewClientCA(t, "cli test client CA")
			trust(t, ca)
			certFile, keyFile := filepath.Join(e.home, "client.pem"), filepath.Join(e.home, "client-key.pem")
			c, k := ca.Issue(t, "app")
			writeFile(t, certFile, c)
			writeFile(t, keyFile, k)
			rotate := func(t *testing.T) {
				ca2 := vaulttest.NewClientCA(t, "cli test client CA 2")
				trust(t, ca2)
				c, k := ca2.Issue(t, "app")
				writeFile(t, certFile, c)
				writeFile(t, keyFile, k)
			}
			return []string{"cert_file=" + certFile, "key_file=" + keyFile, "name=app"}, []string{k}, rotate
		},
		bad: func(t *testing.T, e *env) []string {
			c, k := vaulttest.NewClientCA(t, "untrusted CA").Issue(t, "app")
			certFile, keyFile := filepath.Join(e.home, "untrusted.pem"), filepath.Join(e.home, "untrusted-key.pem")
			writeFile(t, certFile, c)
			writeFile(t, keyFile, k)
			return []string{"cert_file=" + certFile, "key_file=" + keyFile, "name=app"}
		},
	}
}

// savedConfig reads the config file `vaultly login` wrote: its text and
// its decoded form.
func savedConfig(t *testing.T, name string) (string, *hashivault.FileConfig) {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var fc hashivault.FileConfig
	if err := json.Unmarshal(raw, &fc); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return string(raw), &fc
}

// writeFile writes a private file for the test.
func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
