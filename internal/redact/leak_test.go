package redact_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/auth/token"
	"github.com/vaultly/vaultly/auth/userpass"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/sqlsecrets"
)

const canary = "c4n4ry-s3cr3t-value"

// renderings prints v through every fmt verb (with flags and widths),
// fmt.Sprint/Sprintln, the slog text and JSON handlers (as an attribute, a
// group and in the message) and encoding/json.
func renderings(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%d", "%t", "%e", "%c",
		"%U", "%o", "%b", "%p", "%T", "%10s", "%-12.3v", "%+q", "%#x", "%.2s"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	out["Sprint"] = fmt.Sprint(v)
	out["Sprintln"] = fmt.Sprintln(v)
	var text, js bytes.Buffer
	for _, l := range []*slog.Logger{slog.New(slog.NewTextHandler(&text, nil)), slog.New(slog.NewJSONHandler(&js, nil))} {
		l.Info("m", "v", v, slog.Any("any", v), slog.Group("g", "v", v))
		l.Info(fmt.Sprintf("m %v", v))
	}
	out["slog text"] = text.String()
	out["slog json"] = js.String()
	b, err := json.Marshal(v)
	out["json"] = fmt.Sprint(string(b), err)
	return out
}

// leakForms are the texts a leak of secret would print: the secret, its
// hex (lower, upper, spaced), its bytes in decimal as fmt prints a []byte,
// its standard base64 (encoding/json of a []byte) and its first bytes.
func leakForms(secret string) []string {
	var dec []string
	for _, c := range []byte(secret[:min(len(secret), 5)]) {
		dec = append(dec, strconv.Itoa(int(c)))
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	return []string{secret, fmt.Sprintf("%x", secret), fmt.Sprintf("%X", secret), fmt.Sprintf("% x", secret[:min(len(secret), 5)]),
		strings.Join(dec, " "), b64[:len(b64)/4*3], secret[:min(len(secret), 8)]}
}

// checkRenderings reports each rendering that shows a form of a secret,
// once per rendering, except those named in allowed.
func checkRenderings(t *testing.T, name string, r map[string]string, secrets []string, allowed map[string]bool) {
	t.Helper()
	for how, s := range r {
		if allowed[how] {
			continue
		}
	found:
		for _, secret := range secrets {
			for _, f := range leakForms(secret) {
				if i := strings.Index(s, f); i >= 0 {
					from, to := max(0, i-80), min(len(s), i+len(f)+20)
					t.Errorf("%s through %s shows the secret (as %q): …%s…", name, how, f, s[from:to])
					break found
				}
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestEntriesNeverPrintValues: the types that carry secret values as data
// (read Fields / Data for them) print only their field names (the leak walk
// checks every other form).
func TestEntriesNeverPrintValues(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"driver.Entry", driver.Entry{Path: "app/db", Version: 2, Fields: map[string]string{"password": canary, "user": "u"}},
			`driver.Entry{"app/db" version 2 fields [password user]}`},
		{"vaultly.Entry", vaultly.Entry{Path: "app/db", Version: 2, Fields: map[string]string{"password": canary, "user": "u"}},
			`vaultly.Entry{"app/db" version 2 fields [password user]}`},
		{"hashivault.KVEntry", hashivault.KVEntry{Path: "app/db", Data: map[string]any{"password": canary}},
			`hashivault.KVEntry{"app/db" fields [password]}`},
	}
	for _, tt := range tests {
		if got := fmt.Sprintf("%+v", tt.v); got != tt.want {
			t.Errorf("Sprintf(%%+v, %s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestOptionsStillShowSettings keeps the redacted forms useful: the
// non-secret fields and the fact that a credential is set still show.
func TestOptionsStillShowSettings(t *testing.T) {
	tests := []struct {
		format string
		v      any
		want   string
	}{
		{"%+v", hashivault.Options{Address: "http://a:1", Token: canary}, "Token:[redacted]"},
		{"%+v", hashivault.Options{Address: "http://a:1"}, "Address:http://a:1"},
		{"%#v", token.Options{Token: auth.FromString(canary)}, `token.Options{Token:auth.FromString("[redacted]")`},
		{"%+v", approle.Options{RoleID: auth.FromEnv("APP_ROLE_ID"), SecretID: auth.FromFile("/run/sid")}, "RoleID:env:APP_ROLE_ID SecretID:file:/run/sid"},
		{"%+v", userpass.Options{Username: "alice", Password: auth.FromString(canary)}, "Username:alice Password:[redacted]"},
		{"%+v", userpass.Options{Username: "alice"}, "Password:}"},
		{"%v", &hashivault.FileConfig{Address: "http://a:1", Token: canary}, "token=[redacted]"},
		{"%v", hashivault.FileAuth{Method: "approle", Params: map[string]string{"secret_id": canary}}, "params=[secret_id]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprintf(tt.format, tt.v); !strings.Contains(got, tt.want) {
			t.Errorf("Sprintf(%q, %T) = %q, want it to contain %q", tt.format, tt.v, got, tt.want)
		}
	}
	b, err := json.Marshal(sqlsecrets.Credentials{Username: "u", Password: vaultly.NewSecret(canary)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"Username":"u","Password":"[redacted]","Generation":0}`; got != want {
		t.Errorf("json.Marshal(Credentials) = %s, want %s", got, want)
	}
}

// TestBackendNeverPrintsToken: a live *hashivault.Backend prints its address
// and mount (the leak walk checks that no form shows its token).
func TestBackendNeverPrintsToken(t *testing.T) {
	srv := vaulttest.Start(t, nil)
	b, err := hashivault.New(context.Background(), &hashivault.Options{Address: srv.Addr, Token: srv.Token, ConfigFile: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, want := fmt.Sprint(b), "hashivault.Backend("+srv.Addr+" mount=secret)"; got != want {
		t.Errorf("Sprint(backend) = %q, want %q", got, want)
	}
}
