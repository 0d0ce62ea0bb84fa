package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// certEnv is an env with a PKI engine of the test's own on the shared
// server: role "web" for names under svc.test, 1h certificates.
func certEnv(t *testing.T, mount string) *env {
	t.Helper()
	srv := shared(t)
	srv.EnablePKI(t, mount, vaulttest.PKIRole{Name: "web", AllowedDomains: "svc.test", AllowSubdomains: true,
		TTL: "1h", MaxTTL: "2h", KeyType: "ec", KeyBits: 256})
	return newEnv(t, srv)
}

func TestCertIssue(t *testing.T) {
	t.Parallel()
	e := certEnv(t, "cli-pki-issue")
	for _, mode := range []string{"auto", "issue"} {
		t.Run(mode, func(t *testing.T) {
			dir := filepath.Join(e.home, mode)
			certF, keyF, chainF := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
			out := e.must("", "cert", "issue", "-mount", "cli-pki-issue", "-mode", mode, "web",
				"-cn", "a.svc.test", "-alt-names", "b.svc.test,c.svc.test", "-ip-sans", "127.0.0.1", "-ttl", "90m",
				"-cert", certF, "-key", keyF, "-chain", chainF)
			keyPEM, err := os.ReadFile(keyF)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{certF, keyF, chainF} {
				st, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Mode().Perm(); got != 0o600 {
					t.Errorf("%s has mode %#o, want 0600", filepath.Base(f), got)
				}
			}
			pair, err := tls.LoadX509KeyPair(certF, keyF)
			if err != nil {
				t.Fatalf("the certificate and key do not match: %v", err)
			}
			leaf := pair.Leaf
			if got := strings.Join(leaf.DNSNames, ","); got != "a.svc.test,b.svc.test,c.svc.test" {
				t.Errorf("DNS SANs = %s", got)
			}
			if d := time.Until(leaf.NotAfter); d < 85*time.Minute || d > 91*time.Minute {
				t.Errorf("NotAfter in %v, want 90m", d)
			}
			chain, _ := os.ReadFile(chainF)
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(chain) {
				t.Fatal("the chain file holds no certificate")
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "c.svc.test"}); err != nil {
				t.Errorf("the certificate does not verify against the chain file: %v", err)
			}
			wantMode := map[string]string{"auto": "sign", "issue": "issue"}[mode]
			for _, want := range []string{"serial_number", "a.svc.test", "mode", wantMode, keyF} {
				if !strings.Contains(out, want) {
					t.Errorf("output does not name %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, string(keyPEM)[30:70]) {
				t.Errorf("the output shows the key:\n%s", out)
			}
		})
	}
}

func TestCertIssueJSON(t *testing.T) {
	t.Parallel()
	e := certEnv(t, "cli-pki-json")
	out := e.must("", "cert", "issue", "-format=json", "-mount", "cli-pki-json", "web", "-cn", "j.svc.test")
	var got certOut
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(e.home, "cert.pem"), filepath.Join(e.home, "key.pem"))
	if err != nil {
		t.Fatalf("default files: %v", err)
	}
	if got.CommonName != "j.svc.test" || got.Mode != "sign" || !got.NotAfter.Equal(pair.Leaf.NotAfter) ||
		got.Files != (certFiles{"cert.pem", "key.pem", "chain.pem"}) || got.Serial == "" {
		t.Errorf("JSON = %+v", got)
	}
	// Again, as YAML: the files are replaced.
	y := e.must("", "cert", "issue", "-format=yaml", "-mount", "cli-pki-json", "web", "-cn", "j.svc.test")
	for _, want := range []string{"serial_number: ", "common_name: j.svc.test", "mode: sign", "private_key: key.pem"} {
		if !strings.Contains(y, want) {
			t.Errorf("-format=yaml output lacks %q:\n%s", want, y)
		}
	}
	again, err := tls.LoadX509KeyPair(filepath.Join(e.home, "cert.pem"), filepath.Join(e.home, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Leaf.SerialNumber.Cmp(pair.Leaf.SerialNumber) == 0 {
		t.Error("a second cert issue left the old certificate")
	}
}

func TestCertIssueErrors(t *testing.T) {
	t.Parallel()
	e := certEnv(t, "cli-pki-err")
	srv := e.srv
	srv.WritePolicy(t, "cli-pki-err-none", `path "cli-pki-err/roles/*" { capabilities = ["read"] }`)
	noPolicy := srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"cli-pki-err-none"}})
	tests := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"no role", nil, []string{"cert", "issue", "-mount", "cli-pki-err"}, ExitUsage, "missing ROLE"},
		{"unknown role", nil, []string{"cert", "issue", "-mount", "cli-pki-err", "nope", "-cn", "a.svc.test"}, ExitError, "unknown role"},
		{"name not allowed", nil, []string{"cert", "issue", "-mount", "cli-pki-err", "web", "-cn", "evil.example.com"}, ExitError, "evil.example.com"},
		{"bad IP", nil, []string{"cert", "issue", "-mount", "cli-pki-err", "web", "-cn", "a.svc.test", "-ip-sans", "nope"}, ExitUsage, "IPSANs"},
		{"bad mode", nil, []string{"cert", "issue", "-mount", "cli-pki-err", "web", "-mode", "steal"}, ExitUsage, "-mode"},
		{"bad key type", nil, []string{"cert", "issue", "-mount", "cli-pki-err", "web", "-key-type", "dsa"}, ExitUsage, "-key-type"},
		{"permission denied", []string{"VAULT_TOKEN=" + noPolicy}, []string{"cert", "issue", "-mount", "cli-pki-err", "web", "-cn", "a.svc.test"}, ExitError, "permission denied"},
		{"unwritable key file", nil, []string{"cert", "issue", "-mount", "cli-pki-err", "web", "-cn", "a.svc.test", "-key", "/proc/vaultly-no/key.pem"}, ExitError, "key.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.runEnv(tt.env, "", tt.args...)
			checkResult(t, tt.name, r, tt.code, tt.stderr)
		})
	}
}
