package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
)

func TestDueAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name        string
		w           waitSpec
		first, last time.Duration // after t0
		want        time.Duration
	}{
		{"no wait: at the change", waitSpec{}, 0, 3 * time.Second, 3 * time.Second},
		{"min after the last change", waitSpec{min: 2 * time.Second, max: 10 * time.Second}, 0, time.Second, 3 * time.Second},
		{"capped at max after the first", waitSpec{min: 2 * time.Second, max: 5 * time.Second}, 0, 4 * time.Second, 5 * time.Second},
		{"max 4×min by default", waitSpec{min: time.Second}.norm(), 0, 10 * time.Second, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dueAt(tt.w, t0.Add(tt.first), t0.Add(tt.last)).Sub(t0); got != tt.want {
				t.Errorf("dueAt = t0+%s, want t0+%s", got, tt.want)
			}
		})
	}
}

func TestParseWait(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    waitSpec
		wantErr bool
	}{
		{"", waitSpec{}, false},
		{"5s", waitSpec{5 * time.Second, 20 * time.Second}, false},
		{"5s:30s", waitSpec{5 * time.Second, 30 * time.Second}, false},
		{"5s:1s", waitSpec{}, true},
		{"soon", waitSpec{}, true},
	} {
		got, err := parseWait(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseWait(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRestartBackoff(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 9; n++ {
		got = append(got, restartBackoff(n))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("restartBackoff(1..9) (-want +got):\n%s", diff)
	}
}

func TestReissueAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	if got, want := reissueAt(t0, t0.Add(90*time.Second)), t0.Add(60*time.Second); !got.Equal(want) {
		t.Errorf("reissueAt(90s lifetime) = %v, want %v", got, want)
	}
	if got := reissueAt(t0, t0.Add(-time.Second)); !got.Equal(t0) {
		t.Errorf("reissueAt(expired) = %v, want at once", got)
	}
}

func TestEnvName(t *testing.T) {
	for _, tt := range []struct{ prefix, key, want string }{
		{"", "password", "PASSWORD"},
		{"DB_", "user-name", "DB_USER_NAME"},
		{"", "tls.crt", "TLS_CRT"},
		{"X_", "clé", "X_CL_"},
	} {
		if got := envName(tt.prefix, tt.key); got != tt.want {
			t.Errorf("envName(%q, %q) = %q, want %q", tt.prefix, tt.key, got, tt.want)
		}
	}
}

func TestReadEnvFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "app.env")
	writeFile(t, name, `# comment
export DB_PASSWORD=vault://secret/app/db:password
PLAIN="hello world"
QUOTED='x'
API=vault://secret/app/api
`)
	refs, plain := map[string]vaultly.Ref{}, map[string]string{}
	if err := readEnvFile(name, refs, plain); err != nil {
		t.Fatal(err)
	}
	wantRefs := map[string]vaultly.Ref{"DB_PASSWORD": {Path: "secret/app/db", Key: "password"}, "API": {Path: "secret/app/api"}}
	if diff := cmp.Diff(wantRefs, refs); diff != "" {
		t.Errorf("refs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"PLAIN": "hello world", "QUOTED": "x"}, plain); diff != "" {
		t.Errorf("plain (-want +got):\n%s", diff)
	}
	writeFile(t, name, "GOOD=1\nnot a line with hunter2\n")
	err := readEnvFile(name, refs, plain)
	if err == nil || !strings.Contains(err.Error(), "app.env:2: want NAME=VALUE") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("readEnvFile(bad line) = %v, want the file and line, not the text", err)
	}
}

// TestConfigFile: the template stanza of a Vault Agent config decodes with
// its defaults; what vaultly does not know fails with the file and line.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "a.tmpl", "{{ secret \"secret/a:b\" }}")
	write := func(text string) string {
		name := filepath.Join(dir, "agent.hcl")
		writeFile(t, name, text)
		return name
	}
	c, err := readConfigFile(write(`
vault { address = "https://vault.example:8200" }
template_config { static_secret_render_interval = "10m" }
template {
  source      = "a.tmpl"
  destination = "out/a"
  perms       = 0640
  command     = "systemctl reload app"
  wait { min = "2s" }
}
template {
  contents             = "x"
  destination          = "out/b"
  error_on_missing_key = false
  exec { command = ["kill", "-HUP", "1"] }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := c.specs(waitSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Vault.Address != "https://vault.example:8200" || c.TemplateConfig.StaticInterval != "10m" {
		t.Errorf("vault/template_config blocks: %+v %+v", c.Vault, c.TemplateConfig)
	}
	a, b := specs[0], specs[1]
	if a.perms != 0o640 || !a.permsSet || !a.shell || a.command[0] != "systemctl reload app" || a.wait != (waitSpec{2 * time.Second, 8 * time.Second}) || !a.missingKeyErr || a.timeout != defaultCommandTimeout {
		t.Errorf("template 1 = %+v", a)
	}
	if b.permsSet || b.shell || !cmp.Equal(b.command, []string{"kill", "-HUP", "1"}) || b.missingKeyErr || b.src != "x" {
		t.Errorf("template 2 = %+v", b)
	}

	for _, tt := range []struct{ text, want string }{
		{"template {\n  source = \"a.tmpl\"\n  destinaton = \"x\"\n}\n", `agent.hcl:3,3-13: Unsupported argument: An argument named "destinaton" is not expected here`},
		{"cache {\n}\n", `agent.hcl:1,1-6: Unsupported block type: Blocks of type "cache" are not expected here`},
		{"auto_auth {\n  method {\n    type = \"gcp\"\n  }\n}\n", `auto_auth method "gcp": vaultly reads token_file, approle, kubernetes, jwt, aws and cert from the config; log in with 'vaultly login -method=gcp'`},
		{"auto_auth {\n  method \"approle\" {\n    config = {\n      role_id_file_path = \"r\"\n      role_id = \"x\"\n    }\n  }\n}\n", `agent.hcl:2,3-19: auto_auth method approle: config "role_id": not a setting vaultly reads (it reads remove_secret_id_file_after_reading, role_id_file_path, secret_id_file_path, secret_id_response_wrapping_path)`},
		{"auto_auth {\n  method \"approle\" {\n    wrap_ttl = \"5m\"\n  }\n}\n", `auto_auth method: wrap_ttl is not a setting vaultly reads (it reads type, mount_path, config)`},
		{"auto_auth {\n  method \"approle\" {\n    config = {\n      role_id_file_path = \"r\"\n      secret_id_response_wrapping_path = \"x/y\"\n    }\n  }\n}\n", `secret_id_response_wrapping_path "x/y": want auth/<mount>/role/<name>/secret-id`},
		{"auto_auth {\n  method \"jwt\" {\n    config = {\n      role = \"r\"\n      path = \"/jwt\"\n      remove_jwt_after_reading = true\n    }\n  }\n}\n", "remove_jwt_after_reading: vaultly reads the JWT file at every login and never removes it; set it to false"},
		{"auto_auth {\n  method \"approle\" {\n    type = \"jwt\"\n  }\n}\n", `auto_auth method "approle" has type = "jwt"`},
		{"auto_auth {\n  method \"aws\" {\n    config = {\n      type = \"ec2\"\n      role = \"r\"\n    }\n  }\n}\n", `type "ec2": vaultly logs in to aws with type "iam"`},
		{"auto_auth {\n  method \"cert\" {\n    config = {\n      name = \"web\"\n    }\n  }\n}\n", `auto_auth method cert: `},
		{"auto_auth {\n  method \"approle\" {\n  }\n  sink \"file\" {\n    wrap_ttl = \"5m\"\n    config = {\n      path = \"/tmp/t\"\n    }\n  }\n}\n", "agent.hcl:5,5-20: auto_auth sink: wrap_ttl is not a setting vaultly reads"},
		{"auto_auth {\n  method \"approle\" {\n  }\n  sink \"file\" {\n    config = {\n      path = \"/tmp/t\"\n      mode = 0640\n    }\n  }\n}\n", "auto_auth sink mode: the file holds the token; vaultly writes it with mode 0600 only"},
		{"auto_auth {\n  method \"approle\" {\n  }\n  sink \"file\" {\n    config = {\n      path = \"/tmp/t\"\n      dh_type = \"curve25519\"\n    }\n  }\n}\n", `auto_auth sink config "dh_type": not a setting vaultly reads`},
		{"auto_auth {\n  method {\n    type = \"token_file\"\n  }\n}\n", "auto_auth method token_file: missing config { token_file_path = ... }"},
		{"auto_auth {\n  method {\n    type = \"token_file\"\n    config {\n      token_file_path = \"t\"\n    }\n  }\n  sink {\n  }\n}\n", `auto_auth sink "": vaultly writes a file sink only`},
		{"template {\n  destination = \"x\"\n}\n", "template 1: missing source or contents"},
		{"template {\n  contents = \"x\"\n  destination = \"x\"\n  perms = \"0999\"\n}\n", `perms "0999" is not an octal mode`},
		{"template {\n  contents = \"x\"\n  destination = \"x\"\n}\ntemplate {\n  contents = \"y\"\n  destination = \"x\"\n}\n", "destination x is also template 1's"},
		{"template {\n  contents = \"x\"\n  destination = \"x\"\n  command = 3\n}\n", "command must be a string or a list of strings"},
	} {
		c, err := readConfigFile(write(tt.text))
		if err == nil {
			_, err = c.auth()
		}
		if err == nil {
			_, err = c.specs(waitSpec{})
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %q: error %v, want it to contain %q", tt.text, err, tt.want)
		}
		if ExitCode(err) != ExitUsage {
			t.Errorf("config %q: exit code %d, want %d", tt.text, ExitCode(err), ExitUsage)
		}
	}
	_ = os.Remove("agent.hcl")
}

// TestAgentAutoAuthForms: each auto_auth method vaultly reads, in HCL's
// forms and in the JSON form, becomes the login Agent's settings describe
// (its mount from mount_path, else the method's usual one).
func TestAgentAutoAuthForms(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"kubernetes.hcl", "auto_auth {\n  method \"kubernetes\" {\n    mount_path = \"auth/k8s-prod\"\n    config = {\n      role = \"app\"\n      token_path = \"/var/run/token\"\n    }\n  }\n}\n", "kubernetes at auth/k8s-prod"},
		{"jwt.hcl", "auto_auth {\n  method \"jwt\" {\n    config = {\n      role = \"ci\"\n      path = \"/run/jwt\"\n      remove_jwt_after_reading = false\n    }\n  }\n}\n", "jwt at auth/jwt"},
		{"wrapped.hcl", "auto_auth {\n  method \"approle\" {\n    config = {\n      role_id_file_path = \"/r\"\n      secret_id_file_path = \"/s\"\n      secret_id_response_wrapping_path = \"auth/approle/role/app/secret-id\"\n    }\n  }\n}\n", "approle at auth/approle"},
		{"aws.hcl", "auto_auth {\n  method \"aws\" {\n    mount_path = \"auth/aws-subaccount\"\n    config = {\n      type = \"iam\"\n      role = \"foobar\"\n      header_value = \"vault.example.com\"\n    }\n  }\n}\n", "aws at auth/aws-subaccount"},
		{"cert.hcl", "vault {\n  client_cert = \"/c.pem\"\n  client_key = \"/k.pem\"\n}\nauto_auth {\n  method \"cert\" {\n    config = {\n      name = \"web\"\n    }\n  }\n}\n", "cert at auth/cert"},
		{"approle.json", `{"auto_auth": {"method": {"type": "approle", "mount_path": "auth/apps", "config": {"role_id_file_path": "/r", "secret_id_file_path": "/s"}}}}`, "approle at auth/apps"},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := readConfigFile(p)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		a, err := c.auth()
		if err != nil || a == nil || a.method == nil {
			t.Errorf("%s: auth() = %+v, %v; want a method", tc.name, a, err)
			continue
		}
		if d, ok := a.method.(auth.Describer); !ok || d.Describe() != tc.want {
			t.Errorf("%s: the login is %v, want %q", tc.name, a.method, tc.want)
		}
	}
}

// TestAgentVaultBlock: Agent's vault { retry { num_retries } } sets the
// attempts of the CLI's reads (-1: no retries; 0: the default) and
// tls_skip_verify = true is refused (vaultly always verifies TLS).
func TestAgentVaultBlock(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		text     string
		attempts int    // MaxAttempts of the Stores' retry policy
		err      string // or this error
	}{
		{"vault {\n  address = \"https://v:8200\"\n  tls_skip_verify = false\n  retry {\n    num_retries = 5\n  }\n}\n", 6, ""},
		{"vault {\n  retry {\n    num_retries = -1\n  }\n}\n", 1, ""},
		{"vault {\n  retry {\n    num_retries = 0\n  }\n}\n", readRetry.MaxAttempts, ""},
		{"vault {\n  retry {\n    num_retries = -2\n  }\n}\n", 0, "num_retries -2: want -1 (no retries), 0 (the default) or more"},
		{"vault {\n  tls_skip_verify = true\n}\n", 0, "agent.hcl:1,1-6: vault: tls_skip_verify = true: vaultly always verifies TLS"},
	} {
		p := filepath.Join(dir, "agent.hcl")
		if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := readConfigFile(p)
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		g := &globals{}
		err = g.applyConfig(c)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || ExitCode(err) != ExitUsage {
				t.Errorf("%q: error %v, want a usage error containing %q", tc.text, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.text, err)
			continue
		}
		if got := g.storeOptions().Retry.MaxAttempts; got != tc.attempts {
			t.Errorf("%q: MaxAttempts %d, want %d", tc.text, got, tc.attempts)
		}
	}
}

// TestAgentVaultBlockPrecedence: as Agent, a flag wins over the
// environment, which wins over the vault block.
func TestAgentVaultBlockPrecedence(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent.hcl")
	if err := os.WriteFile(p, []byte("vault {\n  address = \"https://file:8200\"\n  ca_cert = \"/file-ca.pem\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := readConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, flag, env string
		want            string // the address the backend is given ("": its environment's)
	}{
		{"file", "", "", "https://file:8200"},
		{"environment", "", "https://env:8200", ""},
		{"flag", "https://flag:8200", "https://env:8200", "https://flag:8200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VAULT_ADDR", tc.env)
			t.Setenv("BAO_ADDR", "")
			t.Setenv("VAULTLY_ADDRS", "")
			t.Setenv("VAULT_CACERT", "")
			g := &globals{address: tc.flag}
			if err := g.applyConfig(c); err != nil {
				t.Fatal(err)
			}
			if g.address != tc.want || g.caCert != "/file-ca.pem" {
				t.Errorf("address %q, ca_cert %q; want %q and the file's /file-ca.pem", g.address, g.caCert, tc.want)
			}
		})
	}
}
