package hashivault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/auth/token"
	"github.com/vaultly/vaultly/driver"
)

// clearEnv unsets every VAULT_* and BAO_* variable for the test and gives
// it an empty HOME, so that no ~/.vault-token or ~/.vault of the machine
// is read (t.Setenv restores).
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "VAULT_") || strings.HasPrefix(k, "BAO_") || k == "VAULTLY_ADDRS" {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("HOME", t.TempDir())
}

func writeFile(t *testing.T, c *FileConfig) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := WriteConfigFile(p, c); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolve(t *testing.T) {
	fileA := &FileConfig{Address: "https://file.example:8200", Namespace: "fns", Mount: "fkv", Token: "file-token-xxxx",
		Auth: &FileAuth{Method: "approle", Params: map[string]string{"role_id": "r", "secret_id_env": "APP_SECRET"}}}
	type want struct {
		Address, Namespace, Mount, CACert, Source string
		Timeout                                   time.Duration
		InitialToken                              string
		Method                                    string // "token", "approle", "custom"
		Created                                   bool
	}
	custom := auth.MethodFunc(func(context.Context, *apiClient) (*apiSecret, error) { return nil, nil })
	tests := []struct {
		name     string
		env      map[string]string
		file     *FileConfig
		opts     Options
		want     want
		wantCode driver.Code
		wantMsg  string
	}{
		{name: "explicit wins", env: map[string]string{"VAULT_ADDR": "https://env:8200", "VAULT_TOKEN": "env-token"}, file: fileA,
			opts: Options{Address: "https://opt:8200", Token: "opt-token", Mount: "/kv/"},
			want: want{Address: "https://opt:8200", Mount: "kv", Source: "options", Timeout: 60 * time.Second, Method: "token"}},
		{name: "env over file", env: map[string]string{"VAULT_ADDR": "https://env:8200", "VAULT_TOKEN": "env-token", "VAULT_NAMESPACE": "ens", "VAULT_CACERT": "/ca.pem", "VAULT_CLIENT_TIMEOUT": "7"}, file: fileA,
			want: want{Address: "https://env:8200", Namespace: "ens", Mount: "secret", CACert: "/ca.pem", Source: "environment", Timeout: 7 * time.Second, Method: "token"}},
		{name: "env approle", env: map[string]string{"VAULT_ADDR": "https://env:8200", "VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s", "VAULT_CLIENT_TIMEOUT": "1m"},
			want: want{Address: "https://env:8200", Mount: "secret", Source: "environment", Timeout: time.Minute, Method: "approle", Created: true}},
		{name: "file", file: fileA,
			want: want{Address: "https://file.example:8200", Namespace: "fns", Mount: "fkv", Source: "config file", Timeout: 60 * time.Second, InitialToken: "file-token-xxxx", Method: "approle", Created: true}},
		{name: "file with the same address fills gaps", env: map[string]string{"VAULT_ADDR": "https://file.example:8200/", "VAULT_TOKEN": "env-token"}, file: fileA,
			want: want{Address: "https://file.example:8200/", Namespace: "fns", Mount: "fkv", Source: "environment", Timeout: 60 * time.Second, Method: "token"}},
		{name: "file token only for its own address", env: map[string]string{"VAULT_ADDR": "https://other:8200"}, file: fileA, wantCode: driver.Config, wantMsg: "no vault credentials"},
		{name: "custom factory", opts: Options{Address: "http://a:1", Auth: custom},
			want: want{Address: "http://a:1", Mount: "secret", Source: "options", Timeout: 60 * time.Second, Method: "custom", Created: true}},
		{name: "no address", opts: Options{Token: "t"}, wantCode: driver.Config, wantMsg: "VAULT_ADDR"},
		{name: "no credentials", opts: Options{Address: "http://a:1"}, wantCode: driver.Config, wantMsg: "VAULT_TOKEN"},
		{name: "token and auth", opts: Options{Address: "http://a:1", Token: "t", Auth: custom}, wantCode: driver.Config, wantMsg: "both set"},
		{name: "env token and approle", env: map[string]string{"VAULT_ADDR": "http://a:1", "VAULT_TOKEN": "t", "VAULT_ROLE_ID": "r"}, wantCode: driver.Config, wantMsg: "both set"},
		{name: "skip verify refused for https", env: map[string]string{"VAULT_SKIP_VERIFY": "true"}, opts: Options{Address: "https://a:1", Token: "t"}, wantCode: driver.Config, wantMsg: "VAULT_SKIP_VERIFY"},
		{name: "skip verify ignored for plain http", env: map[string]string{"VAULT_SKIP_VERIFY": "1"}, opts: Options{Address: "http://a:1", Token: "t"},
			want: want{Address: "http://a:1", Mount: "secret", Source: "options", Timeout: 60 * time.Second, Method: "token"}},
		{name: "skip verify garbage", env: map[string]string{"VAULT_SKIP_VERIFY": "yes please"}, opts: Options{Address: "http://a:1", Token: "t"}, wantCode: driver.Config, wantMsg: "VAULT_SKIP_VERIFY"},
		{name: "openbao variables", env: map[string]string{"BAO_ADDR": "https://bao:8200", "BAO_TOKEN": "bao-token", "BAO_NAMESPACE": "bns", "BAO_CACERT": "/bao-ca.pem", "BAO_CLIENT_TIMEOUT": "9"},
			want: want{Address: "https://bao:8200", Namespace: "bns", Mount: "secret", CACert: "/bao-ca.pem", Source: "environment", Timeout: 9 * time.Second, Method: "token"}},
		{name: "vault variables win over openbao ones", env: map[string]string{"VAULT_ADDR": "https://vault:8200", "BAO_ADDR": "https://bao:8200", "VAULT_TOKEN": "vt", "BAO_TOKEN": "bt", "BAO_CACERT": "/bao-ca.pem"},
			want: want{Address: "https://vault:8200", Mount: "secret", CACert: "/bao-ca.pem", Source: "environment", Timeout: 60 * time.Second, Method: "token"}},
		{name: "vault approle wins over BAO_TOKEN", env: map[string]string{"BAO_ADDR": "https://bao:8200", "BAO_TOKEN": "bt", "VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s"},
			want: want{Address: "https://bao:8200", Mount: "secret", Source: "environment", Timeout: 60 * time.Second, Method: "approle", Created: true}},
		{name: "openbao skip verify", env: map[string]string{"BAO_SKIP_VERIFY": "true"}, opts: Options{Address: "https://a:1", Token: "t"}, wantCode: driver.Config, wantMsg: "VAULT_SKIP_VERIFY"},
		{name: "skip verify false is fine", env: map[string]string{"VAULT_SKIP_VERIFY": "false"}, opts: Options{Address: "http://a:1", Token: "t"},
			want: want{Address: "http://a:1", Mount: "secret", Source: "options", Timeout: 60 * time.Second, Method: "token"}},
		{name: "bad timeout", env: map[string]string{"VAULT_CLIENT_TIMEOUT": "soon"}, opts: Options{Address: "http://a:1", Token: "t"}, wantCode: driver.Config, wantMsg: "VAULT_CLIENT_TIMEOUT"},
		{name: "bad address", opts: Options{Address: "vault:8200", Token: "t"}, wantCode: driver.Config, wantMsg: "http"},
		{name: "bad kv version", opts: Options{Address: "http://a:1", Token: "t", KVVersion: 3}, wantCode: driver.Config, wantMsg: "KVVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			o := tt.opts
			o.ConfigFile = "-"
			if tt.file != nil {
				o.ConfigFile = writeFile(t, tt.file)
			}
			s, err := resolve(&o)
			if tt.wantCode != driver.OK {
				if driver.CodeOf(err) != tt.wantCode || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("resolve() error = %v, want code %v mentioning %q", err, tt.wantCode, tt.wantMsg)
				}
				for _, v := range tt.env {
					if len(v) > 3 && strings.Contains(err.Error(), v) && !strings.HasPrefix(v, "http") {
						t.Errorf("error %q contains the value %q", err, v)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve(): %v", err)
			}
			got := want{Address: s.Address, Namespace: s.Namespace, Mount: s.Mount, CACert: s.CACert, Source: s.source,
				Timeout: s.Timeout, InitialToken: s.initialToken, Created: s.created}
			switch s.method.(type) {
			case *token.Method:
				got.Method = "token"
			case *approle.Method:
				got.Method = "approle"
			default:
				got.Method = "custom"
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolve() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "config.json")
	in := &FileConfig{Address: "https://v:8200", Token: "hvs.secret-token-value", Auth: &FileAuth{Method: "approle", Mount: "ar", Params: map[string]string{"role_id": "r"}}}
	if err := WriteConfigFile(p, in); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config file mode = %v, want 0600", st.Mode().Perm())
	}
	out, err := ReadConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
	for _, s := range []string{out.String(), out.GoString()} {
		if strings.Contains(s, "secret-token") {
			t.Errorf("String() = %q shows the token", s)
		}
	}

	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfigFile(p); driver.CodeOf(err) != driver.Config {
		t.Errorf("ReadConfigFile(0644 file) = %v, want a Config error", err)
	}
	if _, err := ReadConfigFile(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadConfigFile(missing) = %v, want fs.ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"token": "hvs.leaky", "bogus": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfigFile(bad); driver.CodeOf(err) != driver.Config || strings.Contains(err.Error(), "leaky") {
		t.Errorf("ReadConfigFile(bad) = %v, want a Config error without the content", err)
	}

	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	if got, _ := DefaultConfigPath(); got != "/xdg/vaultly/config.json" {
		t.Errorf("DefaultConfigPath() = %q", got)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	home, _ := os.UserHomeDir()
	if got, _ := DefaultConfigPath(); got != filepath.Join(home, ".config", "vaultly", "config.json") {
		t.Errorf("DefaultConfigPath() = %q", got)
	}
}

// TestConfigFileLogin is the file `vaultly login` writes, used end to end:
// a saved token that has expired is replaced through the saved method.
func TestConfigFileLogin(t *testing.T) {
	clearEnv(t)
	srv := shared(t)
	srv.PutKV(t, "filelogin/app", map[string]any{"value": "v"})
	mount, roleID, secretID := setupAppRole(t, srv, "approle-file", map[string]any{"token_ttl": "1h"})
	t.Setenv("TEST_APPROLE_SECRET", secretID)
	path := writeFile(t, &FileConfig{Address: srv.Addr, Token: "hvs.CAESIInvalidInvalidInvalidInvalidInvalidInvalid",
		Auth: &FileAuth{Method: "approle", Mount: mount, Params: map[string]string{"role_id": roleID, "secret_id_env": "TEST_APPROLE_SECRET"}}})
	b := newBackend(t, &Options{ConfigFile: path, KVVersion: 2})
	if _, err := b.Read(ctxT(t, 5*time.Second), "filelogin/app", 0); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !b.s.created || b.currentToken() == "" || strings.HasPrefix(b.currentToken(), "hvs.CAESIInvalid") {
		t.Errorf("backend did not log in through the saved approle method")
	}

	// A saved token that is still valid is used as is: no login.
	saved := b.currentToken()
	path = writeFile(t, &FileConfig{Address: srv.Addr, Token: saved,
		Auth: &FileAuth{Method: "approle", Mount: mount, Params: map[string]string{"role_id": roleID, "secret_id": "wrong-secret-id"}}})
	b2 := newBackend(t, &Options{ConfigFile: path, KVVersion: 2})
	if _, err := b2.Read(ctxT(t, 5*time.Second), "filelogin/app", 0); err != nil {
		t.Fatalf("Read with the saved token: %v", err)
	}
	if b2.currentToken() != saved {
		t.Errorf("backend replaced a valid saved token")
	}
}

// TestResolveAddresses: where the node list comes from, and in what order:
// Options.Addresses (Address, if also set, must be one of them), else
// Options.Address, else VAULTLY_ADDRS (over VAULT_ADDR), else VAULT_ADDR,
// else the config file.
func TestResolveAddresses(t *testing.T) {
	file := &FileConfig{Address: "https://b:8200", Token: "file-token-xxxx"}
	tests := []struct {
		name     string
		env      map[string]string
		file     *FileConfig
		opts     Options
		want     []string
		wantTok  string // the initial token: the file's only when it applies
		wantCode driver.Code
		wantMsg  string
	}{
		{name: "addresses", opts: Options{Addresses: []string{"https://a:8200", "https://b:8200", "https://c:8200"}, Token: "t"},
			want: []string{"https://a:8200", "https://b:8200", "https://c:8200"}},
		{name: "address among them", opts: Options{Address: "https://b:8200", Addresses: []string{"https://a:8200", "https://b:8200"}, Token: "t"},
			want: []string{"https://a:8200", "https://b:8200"}},
		{name: "address not among them", opts: Options{Address: "https://x:8200", Addresses: []string{"https://a:8200"}, Token: "t"},
			wantCode: driver.Config, wantMsg: "not one of Addresses"},
		{name: "duplicates dropped", opts: Options{Addresses: []string{"https://a:8200", "https://A:8200/", "https://b"}, Token: "t"},
			want: []string{"https://a:8200", "https://b"}},
		{name: "bad one", opts: Options{Addresses: []string{"https://a:8200", "b:8200"}, Token: "t"}, wantCode: driver.Config, wantMsg: "http"},
		{name: "env list", env: map[string]string{"VAULTLY_ADDRS": " https://a:8200, https://b:8200,,", "VAULT_ADDR": "https://x:8200", "VAULT_TOKEN": "t"},
			want: []string{"https://a:8200", "https://b:8200"}},
		{name: "VAULT_ADDR alone", env: map[string]string{"VAULT_ADDR": "https://x:8200", "VAULT_TOKEN": "t"}, want: []string{"https://x:8200"}},
		{name: "option over env list", env: map[string]string{"VAULTLY_ADDRS": "https://a:8200,https://b:8200", "VAULT_TOKEN": "t"},
			opts: Options{Address: "https://o:8200"}, want: []string{"https://o:8200"}},
		{name: "file among the addresses", file: file, env: map[string]string{"VAULTLY_ADDRS": "https://a:8200,https://b:8200"},
			want: []string{"https://a:8200", "https://b:8200"}, wantTok: "file-token-xxxx"},
		{name: "file not among them", file: file, env: map[string]string{"VAULTLY_ADDRS": "https://a:8200,https://c:8200"},
			wantCode: driver.Config, wantMsg: "no vault credentials"},
		{name: "file alone", file: file, want: []string{"https://b:8200"}, wantTok: "file-token-xxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			o := tt.opts
			o.ConfigFile = "-"
			if tt.file != nil {
				o.ConfigFile = writeFile(t, tt.file)
			}
			s, err := resolve(&o)
			if tt.wantCode != driver.OK {
				if driver.CodeOf(err) != tt.wantCode || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("resolve() error = %v, want code %v mentioning %q", err, tt.wantCode, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve(): %v", err)
			}
			var got []string
			for _, u := range s.addrs {
				got = append(got, u.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("addresses (-want +got):\n%s", diff)
			}
			if s.Address != got[0] && !sameAddr(s.Address, got[0]) {
				t.Errorf("Address = %q, want the first node %q", s.Address, got[0])
			}
			if s.initialToken != tt.wantTok {
				t.Errorf("initial token from the file = %v, want %v", s.initialToken != "", tt.wantTok != "")
			}
		})
	}
}

// TestTokenHelper: with no other credentials, New uses the vault CLI's
// token helper — ~/.vault-token, or the token_helper program of ~/.vault
// (or VAULT_CONFIG_PATH / BAO_CONFIG_PATH) — after vaultly's saved login
// for the same address, and never when ConfigFile is "-". Each token is a
// real one with its own policy, so the lookup on the server tells which
// one New used.
func TestTokenHelper(t *testing.T) {
	srv := shared(t)
	addr := srv.Addr
	tok := map[string]string{}
	for _, name := range []string{"helper", "env", "saved", "program", "file"} {
		tok[name] = srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"th-" + name}})
	}
	writeHome := func(t *testing.T, files map[string]string) string {
		t.Helper()
		clearEnv(t)
		home := os.Getenv("HOME")
		t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
		for name, content := range files {
			content = strings.ReplaceAll(content, "$HOME", home)
			for k, v := range tok {
				content = strings.ReplaceAll(content, "$TOKEN_"+k, v)
			}
			mode := os.FileMode(0o600)
			if strings.HasSuffix(name, ".sh") {
				mode = 0o700
			}
			if err := os.WriteFile(filepath.Join(home, name), []byte(content), mode); err != nil {
				t.Fatal(err)
			}
		}
		return home
	}
	// Prints the program's token, only for the address it is asked about.
	helper := "#!/bin/sh\n[ \"$1\" = get ] || exit 9\n[ \"$VAULT_ADDR\" = \"" + addr + "\" ] && printf %s '$TOKEN_program'\n"
	tests := []struct {
		name       string
		files      map[string]string
		env        map[string]string
		configFile string // "" default, "-" off
		saved      *FileConfig
		want       string // which token: its policy th-<want>
		wantSource string
		wantErr    string
	}{
		{name: "~/.vault-token", files: map[string]string{".vault-token": "$TOKEN_file\n"}, want: "file", wantSource: ".vault-token"},
		{name: "no token anywhere", wantErr: "no vault credentials"},
		{name: "ConfigFile - ignores the helper", files: map[string]string{".vault-token": "$TOKEN_file"}, configFile: "-", wantErr: "no vault credentials"},
		{name: "VAULT_TOKEN first", files: map[string]string{".vault-token": "$TOKEN_file"}, env: map[string]string{"VAULT_TOKEN": tok["env"]},
			want: "env", wantSource: "environment"},
		{name: "saved login before the helper", files: map[string]string{".vault-token": "$TOKEN_file"},
			saved: &FileConfig{Address: addr, Token: tok["saved"]}, want: "saved", wantSource: "config file"},
		{name: "a saved login for another server does not hide the helper", files: map[string]string{".vault-token": "$TOKEN_file"},
			saved: &FileConfig{Address: "https://other:8200", Token: tok["saved"]}, want: "file", wantSource: ".vault-token"},
		{name: "token_helper program, given the address", files: map[string]string{".vault": `token_helper = "$HOME/helper.sh"`, "helper.sh": helper, ".vault-token": "$TOKEN_file"},
			want: "program", wantSource: "helper.sh"},
		{name: "VAULT_CONFIG_PATH", files: map[string]string{"cli.hcl": `token_helper = "$HOME/helper.sh"`, "helper.sh": helper},
			env: map[string]string{"VAULT_CONFIG_PATH": "$HOME/cli.hcl"}, want: "program", wantSource: "helper.sh"},
		{name: "BAO_CONFIG_PATH", files: map[string]string{"bao.hcl": `token_helper = "$HOME/helper.sh"`, "helper.sh": helper},
			env: map[string]string{"BAO_CONFIG_PATH": "$HOME/bao.hcl"}, want: "program", wantSource: "helper.sh"},
		{name: "~/.bao when there is no ~/.vault", files: map[string]string{".bao": `token_helper = "$HOME/helper.sh"`, "helper.sh": helper},
			want: "program", wantSource: "helper.sh"},
		{name: "json config", files: map[string]string{".vault": `{"token_helper": "$HOME/helper.sh"}`, "helper.sh": helper},
			want: "program", wantSource: "helper.sh"},
		{name: "unknown key", files: map[string]string{".vault": `token_helpr = "x"`}, wantErr: `invalid key "token_helpr"`},
		{name: "not hcl", files: map[string]string{".vault": `garbage {`}, wantErr: "not valid hcl"},
		{name: "failing helper", files: map[string]string{".vault": `token_helper = "$HOME/helper.sh"`, "helper.sh": "#!/bin/sh\necho hvs.leaked-on-stderr >&2\nexit 4\n"},
			wantErr: "token helper failed: exit status 4"},
		{name: "missing helper", files: map[string]string{".vault": `token_helper = "$HOME/nothing.sh"`}, wantErr: "token helper does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := writeHome(t, tt.files)
			for k, v := range tt.env {
				t.Setenv(k, strings.ReplaceAll(v, "$HOME", home))
			}
			o := Options{Address: addr, ConfigFile: tt.configFile, KVVersion: 2}
			if tt.saved != nil {
				o.ConfigFile = writeFile(t, tt.saved)
			}
			s, err := resolve(&o)
			if tt.wantErr != "" {
				if driver.CodeOf(err) != driver.Config || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolve() = %v, want a Config error mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "leaked") {
					t.Errorf("error %q holds the helper's stderr", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve(): %v", err)
			}
			if !strings.Contains(s.source, tt.wantSource) {
				t.Errorf("credentials from %q, want %q", s.source, tt.wantSource)
			}
			b, err := New(ctxT(t, 20*time.Second), &o) // as a program calls it
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer b.Close()
			info, err := b.LookupSelf(ctxT(t, 10*time.Second))
			if err != nil {
				t.Fatalf("LookupSelf: %v", err)
			}
			if !slices.Contains(info.Policies, "th-"+tt.want) {
				t.Errorf("New used the token with policies %v, want the %s token (th-%s)", info.Policies, tt.want, tt.want)
			}
		})
	}
}
