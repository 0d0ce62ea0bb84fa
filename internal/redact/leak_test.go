package redact_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/auth/aws"
	"github.com/vaultly/vaultly/auth/jwt"
	"github.com/vaultly/vaultly/auth/ldap"
	"github.com/vaultly/vaultly/auth/token"
	"github.com/vaultly/vaultly/auth/userpass"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/lease"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/sqlsecrets"
	"github.com/vaultly/vaultly/transit"
)

const canary = "c4n4ry-s3cr3t-value"

// renderings prints v through every fmt verb, fmt.Sprint/Sprintln, and the
// slog text and JSON handlers (as an attribute and as a message argument).
func renderings(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	out["Sprint"] = fmt.Sprint(v)
	out["Sprintln"] = fmt.Sprintln(v)
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("m", "v", v)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "v", v)
	slog.New(slog.NewTextHandler(&text, nil)).Info("m", slog.Any("v", v))
	slog.New(slog.NewJSONHandler(&js, nil)).Info(fmt.Sprintf("m %v", v))
	out["slog text"] = text.String()
	out["slog json"] = js.String()
	return out
}

func checkNoCanary(t *testing.T, name string, v any, secret string) {
	t.Helper()
	for how, s := range renderings(t, v) {
		if strings.Contains(s, secret) {
			t.Errorf("%s through %s = %q, contains the secret", name, how, s)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestOptionsNeverPrintCredentials renders every exported type that holds a
// credential, as a value and as a pointer, and looks for the credential.
func TestOptionsNeverPrintCredentials(t *testing.T) {
	tokenM := must(token.New(&token.Options{Token: auth.FromString(canary)}))
	approleM := must(approle.New(&approle.Options{RoleID: auth.FromString(canary + "-role"), SecretID: auth.FromString(canary)}))
	jwtM := must(jwt.New(&jwt.Options{JWT: auth.FromString(canary), Role: "r"}))
	userpassM := must(userpass.New(&userpass.Options{Username: "u", Password: auth.FromString(canary)}))
	ldapM := must(ldap.New(&ldap.Options{Username: "u", Password: auth.FromString(canary)}))
	awsM := must(aws.New(&aws.Options{Role: "r", Region: "us-east-1", AccessKeyID: auth.FromString("AKIA" + canary), SecretAccessKey: auth.FromString(canary), SessionToken: auth.FromString(canary + "-session")}))
	fc := hashivault.FileConfig{Address: "http://127.0.0.1:1", Token: canary,
		Auth: &hashivault.FileAuth{Method: "approle", Params: map[string]string{"role_id": "r", "secret_id": canary}}}
	tests := []struct {
		name string
		v    any
	}{
		{"hashivault.Options", hashivault.Options{Address: "http://127.0.0.1:1", Token: canary, Auth: approleM}},
		{"hashivault.Options with proxy password", hashivault.Options{ProxyURL: "http://u:" + canary + "@proxy:3128", Address: "https://u:" + canary + "@vault:8200"}},
		{"hashivault.FileConfig", fc},
		{"hashivault.FileAuth", *fc.Auth},
		{"token.Options", token.Options{Token: auth.FromString(canary)}},
		{"token.Method", tokenM},
		{"approle.Options", approle.Options{RoleID: auth.FromString("role"), SecretID: auth.FromString(canary)}},
		{"approle.Method", approleM},
		{"userpass.Options", userpass.Options{Username: "u", Password: auth.FromString(canary)}},
		{"ldap.Options", ldap.Options{Username: "u", Password: auth.FromString(canary)}},
		{"userpass.Method", userpassM},
		{"ldap.Method", ldapM},
		{"auth.Credential", auth.FromString(canary)},
		{"jwt.Options", jwt.Options{JWT: auth.FromString(canary)}},
		{"jwt.Method", jwtM},
		{"aws.Options", aws.Options{AccessKeyID: auth.FromString("id"), SecretAccessKey: auth.FromString(canary), SessionToken: auth.FromString(canary)}},
		{"aws.Method", awsM},
		{"sqlsecrets.Credentials", sqlsecrets.Credentials{Username: "u", Password: vaultly.NewSecret(canary), Generation: 1}},
		{"transit.EncryptItem", transit.EncryptItem{Plaintext: []byte(canary)}},
		{"transit.DecryptResult", transit.DecryptResult{Plaintext: []byte(canary)}},
		{"[]transit.DecryptResult", []transit.DecryptResult{{Plaintext: []byte(canary)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoCanary(t, tt.name, tt.v, canary)
			p := reflect.New(reflect.TypeOf(tt.v))
			p.Elem().Set(reflect.ValueOf(tt.v))
			checkNoCanary(t, "&"+tt.name, p.Interface(), canary)
			// Nested in a user's struct. (In an unexported field fmt cannot
			// call the type's methods; configuration is not kept there.)
			type wrap struct{ Opts any }
			checkNoCanary(t, "wrap("+tt.name+")", wrap{tt.v}, canary)
			checkNoCanary(t, "[]"+tt.name, []any{tt.v}, canary)
			checkNoCanary(t, "map of "+tt.name, map[string]any{"k": tt.v}, canary)
		})
	}
}

// TestEntriesNeverPrintValues: the types that carry secret values as data
// (read Fields / Data for them) print and log only their field names. The
// JSON encoding of hashivault.KVEntry is the CLI's -format=json output and
// keeps the data, so only the top-level slog forms are checked here.
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
		checkNoCanary(t, tt.name, tt.v, canary)
		p := reflect.New(reflect.TypeOf(tt.v))
		p.Elem().Set(reflect.ValueOf(tt.v))
		checkNoCanary(t, "&"+tt.name, p.Interface(), canary)
		if got := fmt.Sprintf("%+v", tt.v); got != tt.want {
			t.Errorf("Sprintf(%%+v, %s) = %q, want %q", tt.name, got, tt.want)
		}
	}
	// A lease event as the lease watcher delivers it.
	ev := lease.Event{Kind: lease.Rotated, Secret: &lease.Secret{Entry: &driver.Entry{Fields: map[string]string{"password": canary}, Lease: &driver.Lease{ID: "p/1"}}}}
	checkNoCanary(t, "lease.Event", ev, canary)
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

// TestBackendNeverPrintsToken prints a live *hashivault.Backend, whose
// unexported fields hold the token, against the real Vault server.
func TestBackendNeverPrintsToken(t *testing.T) {
	srv := vaulttest.Start(t, nil)
	b, err := hashivault.New(context.Background(), &hashivault.Options{Address: srv.Addr, Token: srv.Token, ConfigFile: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkNoCanary(t, "*hashivault.Backend", b, srv.Token)
	if got, want := fmt.Sprint(b), "hashivault.Backend("+srv.Addr+" mount=secret)"; got != want {
		t.Errorf("Sprint(backend) = %q, want %q", got, want)
	}
}
