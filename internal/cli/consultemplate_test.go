package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// consulTemplateExample is the consul-template user's template of the
// README ("Replacing Vault Agent / consul-template / envconsul"). Each line
// is an example of consul-template's docs/templating-language.md (secret,
// base64Encode, base64Decode, toJSON, toYAML, split, join, contains, env,
// trimSpace, the "<no value>" of a missing key without
// error_on_missing_key), applied to entries written to look like the
// docs' data.
const consulTemplateExample = `{{ with secret "kv1/passwords" }}wifi={{ .Data.wifi }}{{ end }}
{{ with secret "secret/cli/ct/passwords?version=1" }}wifi@1={{ .Data.data.wifi }}{{ end }}
{{ with secret "secret/cli/ct/passwords" }}wifi@latest={{ .Data.data.wifi }} version={{ .Data.metadata.version }}{{ end }}
{{ with secret "secret/cli/ct/passwords" }}{{ if .Data.data.password }}password = "{{ .Data.data.password }}"{{ end }}{{ end }}
{{ base64Encode "hello" }} {{ base64Decode "aGVsbG8=" }}
{{ with secret "secret/cli/ct/config" }}{{ .Data.data | toJSON }}
{{ .Data.data | toYAML }}{{ end }}
{{ "foo\nbar\n" | split "\n" | join "," }}
{{ with secret "secret/cli/ct/web" }}{{ if .Data.data.tags | contains "production" }}production{{ end }} {{ .Data.data | toJSON }}{{ end }}
{{ env "CLUSTER_ID" | toLower }} {{ or (env "CT_TEST_UNSET") "12345" }} [{{ "  padded \n" | trimSpace }}]
{{ with secret "kv1/passwords" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }};{{ end }}{{ end }}
{{ with secret "kv1/passwords" }}{{ .Data.nokey }}{{ end }}
`

// consulTemplateWant is what consul-template's documented semantics give
// for consulTemplateExample, line by line:
//
//   - secret on KV v1: .Data holds the fields ("FORWARDSoneword", the docs'
//     example value); on KV v2 .Data.data holds them and .Data.metadata
//     the version, "?version=1" reads that version;
//   - base64Encode "hello" is "aGVsbG8=" and base64Decode back (the docs);
//   - toJSON and toYAML of {admin: {port: "1234"}, maxconns: "5",
//     minconns: "2"} are the docs' renderings, character for character;
//     a number stored in Vault stays a number in toJSON (Vault's JSON);
//   - split then join: the docs' "foo\nbar\n" | split "\n", the trailing
//     newline trimmed first (consul-template trims before splitting);
//   - contains "production" of a list holding it is true (the docs' if);
//   - env reads the variable; or gives the docs' default "12345";
//   - range over .Data lists the keys in sorted order (Go templates);
//   - a missing key prints "<no value>" (the docs: the default without
//     error_on_missing_key).
const consulTemplateWant = `wifi=FORWARDSoneword
wifi@1=FORWARDSoneword
wifi@latest=SECONDwifi version=2
password = "p4ss-word"
aGVsbG8= hello
{"admin":{"port":"1234"},"maxconns":"5","minconns":"2"}
admin:
  port: "1234"
maxconns: "5"
minconns: "2"
foo,bar
production {"port":5432,"tags":["production","web"]}
dc1 12345 [padded]
password: p4ss-word;wifi: FORWARDSoneword;
<no value>
`

// TestConsulTemplateCompat is the third "done when": a
// consul-template user's template renders through vaultly inject the
// output consul-template's documented semantics give (see
// consulTemplateWant for what was compared with what).
func TestConsulTemplateCompat(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.EnableSecrets(t, "kv1", "kv", map[string]string{"version": "1"})
	srv.Write(t, "kv1/passwords", map[string]any{"wifi": "FORWARDSoneword", "password": "p4ss-word"})
	srv.PutKV(t, "cli/ct/passwords", map[string]any{"wifi": "FORWARDSoneword"})
	srv.PutKV(t, "cli/ct/passwords", map[string]any{"wifi": "SECONDwifi", "password": "p4ss-word"})
	srv.PutKV(t, "cli/ct/config", map[string]any{"admin": map[string]any{"port": "1234"}, "maxconns": "5", "minconns": "2"})
	srv.PutKV(t, "cli/ct/web", map[string]any{"tags": []any{"production", "web"}, "port": 5432})
	e := newEnv(t, srv)
	tmpl := filepath.Join(e.home, "ct.tmpl")
	writeFile(t, tmpl, consulTemplateExample)
	writeFile(t, filepath.Join(e.home, "ct.hcl"), `
template {
  source               = "ct.tmpl"
  destination          = "ct.out"
  error_on_missing_key = false
}
`)
	r := e.runEnv([]string{"CLUSTER_ID=DC1"}, "", "inject", "-config", "ct.hcl")
	if r.code != 0 {
		t.Fatalf("inject: exit %d: %s", r.code, r.stderr)
	}
	if got := fileText(filepath.Join(e.home, "ct.out")); got != consulTemplateWant {
		t.Errorf("rendered:\n%s\nwant (consul-template's semantics):\n%s", got, consulTemplateWant)
	}

	// With error_on_missing_key (vaultly's default) the missing key fails
	// with the template's name and line, and nothing is written.
	out := filepath.Join(e.home, "strict.out")
	r = e.runEnv([]string{"CLUSTER_ID=DC1"}, "", "inject", "-i", tmpl, "-o", out)
	checkResult(t, "strict inject", r, ExitUsage, `ct.tmpl:12:41: no key "nokey"`)
	checkResult(t, "strict inject", r, ExitUsage, `no key "nokey"`)
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed rendering wrote its file")
	}
	for _, v := range []string{"FORWARDSoneword", "p4ss-word"} {
		if strings.Contains(r.stderr, v) {
			t.Errorf("stderr shows a value: %s", r.stderr)
		}
	}
}

// TestTemplateFunctions covers what the compat test leaves out: the
// printed-whole form of secret (the "value" key, vaultly's earlier
// meaning), its failure without that key, KV v2 paths written with data/
// as consul-template accepts, the write form outside PKI, and errors that
// never quote a value.
func TestTemplateFunctions(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "cli/tf/api", map[string]any{"value": "api-k3y-value"})
	srv.PutKV(t, "cli/tf/db", map[string]any{"password": "db-pw-value"})
	e := newEnv(t, srv)
	tests := []struct {
		name, tmpl string
		code       int
		want       string // stdout, or a part of stderr
	}{
		{"whole secret printed", `{{ secret "secret/cli/tf/api" }}`, 0, "api-k3y-value"},
		{"uri form, no key", `{{ secret "vault://cli/tf/api" }}`, 0, "api-k3y-value"},
		{"data/ path as consul-template", `{{ with secret "secret/data/cli/tf/db" }}{{ .Data.data.password }}{{ end }}`, 0, "db-pw-value"},
		{"printed whole without value key", `{{ secret "secret/cli/tf/db" }}`, ExitUsage, `has no "value" key (it has "password")`},
		{"write form outside pki", `{{ secret "secret/cli/tf/db" "a=b" }}`, ExitUsage, "supported for PKI issue paths only"},
		{"range over a value", `{{ range secret "secret/cli/tf/db:password" }}{{ end }}`, ExitUsage, "cannot render this action"},
		{"toJSON of a secret object", `{{ with secret "secret/cli/tf/api" }}{{ toJSON .Data.data }}{{ end }}`, 0, `{"value":"api-k3y-value"}`},
		{"base64Decode of no base64", `{{ base64Decode (secret "secret/cli/tf/db:password") }}`, ExitUsage, "cannot render"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(tt.tmpl, "inject", "-i", "-", "-o", "-")
			if tt.code == 0 {
				if r.code != 0 || r.stdout != tt.want {
					t.Errorf("inject: exit %d, stdout %q, want %q; stderr %s", r.code, r.stdout, tt.want, r.stderr)
				}
				return
			}
			checkResult(t, "inject", r, tt.code, tt.want)
			for _, v := range []string{"api-k3y-value", "db-pw-value"} {
				if strings.Contains(r.stderr, v) {
					t.Errorf("stderr shows %q: %s", v, r.stderr)
				}
			}
		})
	}
}
