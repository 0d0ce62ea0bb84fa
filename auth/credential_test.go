package auth_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
)

func TestCredentialRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cred")
	if err := os.WriteFile(file, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "dir") // reading a directory fails
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CRED_TEST_SET", "from-env\n")
	t.Setenv("CRED_TEST_EMPTY", "")
	tests := []struct {
		name    string
		c       auth.Credential
		want    string
		code    vaultly.Code
		wantErr string
	}{
		{"value", auth.FromString(" v "), " v ", vaultly.OK, ""},
		{"env", auth.FromEnv("CRED_TEST_SET"), "from-env", vaultly.OK, ""},
		{"file trimmed", auth.FromFile(file), "from-file", vaultly.OK, ""},
		{"env empty", auth.FromEnv("CRED_TEST_EMPTY"), "", vaultly.Config,
			"vaultly: read credential: configuration: environment variable CRED_TEST_EMPTY is empty or not set"},
		{"file missing", auth.FromFile(filepath.Join(dir, "nope")), "", vaultly.Config,
			"vaultly: read credential: configuration: file " + filepath.Join(dir, "nope") + " does not exist"},
		{"file empty", auth.FromFile(empty), "", vaultly.Config,
			"vaultly: read credential: configuration: file " + empty + " is empty"},
		{"file unreadable", auth.FromFile(unreadable), "", vaultly.Config,
			"vaultly: read credential: configuration: cannot read file " + unreadable + ": is a directory"},
		{"unset", auth.Credential{}, "", vaultly.Config, "vaultly: read credential: configuration: credential is not set"},
		{"empty value is unset", auth.FromString(""), "", vaultly.Config, "vaultly: read credential: configuration: credential is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.Read()
			if c := vaultly.CodeOf(err); c != tt.code {
				t.Fatalf("Read() code %v, want %v (err %v)", c, tt.code, err)
			}
			if got != tt.want {
				t.Errorf("Read() = %q, want %q", got, tt.want)
			}
			if err == nil {
				return
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Read() error = %q, want %q", err, tt.wantErr)
			}
			if !errors.Is(err, vaultly.ErrConfig) {
				t.Errorf("errors.Is(err, ErrConfig) = false")
			}
			if _, ok := errors.AsType[*vaultly.Error](err); !ok {
				t.Errorf("errors.As(err, **vaultly.Error) = false")
			}
		})
	}
}

func TestCredentialRereads(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cred")
	c := auth.FromFile(file)
	for _, want := range []string{"one", "two"} {
		if err := os.WriteFile(file, []byte(want), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("CRED_TEST_ROTATING", want)
		for _, c := range []auth.Credential{c, auth.FromEnv("CRED_TEST_ROTATING")} {
			got, err := c.Read()
			if err != nil || got != want {
				t.Errorf("%v.Read() = %q, %v; want %q", c, got, err, want)
			}
		}
	}
}

// TestCredentialPrints renders credentials through every form a program
// prints, logs or encodes them in: a value never shows, a variable's name
// and a file's path do.
func TestCredentialPrints(t *testing.T) {
	const canary = "c4n4ry-cr3d3nt14l"
	tests := []struct {
		c          auth.Credential
		str, gostr string
	}{
		{auth.FromString(canary), "[redacted]", `auth.FromString("[redacted]")`},
		{auth.FromEnv("APP_SECRET_ID"), "env:APP_SECRET_ID", `auth.FromEnv("APP_SECRET_ID")`},
		{auth.FromFile("/run/secrets/id"), "file:/run/secrets/id", `auth.FromFile("/run/secrets/id")`},
		{auth.Credential{}, "", "auth.Credential{}"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			got := map[string]string{}
			want := map[string]string{}
			for _, verb := range []string{"%v", "%+v", "%s", "%x", "%X", "%d", "%10s", "%-3v"} {
				got[verb] = fmt.Sprintf(verb, tt.c)
				want[verb] = tt.str
			}
			got["%q"], want["%q"] = fmt.Sprintf("%q", tt.c), fmt.Sprintf("%q", tt.str)
			got["%#v"], want["%#v"] = fmt.Sprintf("%#v", tt.c), tt.gostr
			got["&%v"], want["&%v"] = fmt.Sprintf("%v", &tt.c), tt.str
			got["String"], want["String"] = tt.c.String(), tt.str
			got["GoString"], want["GoString"] = tt.c.GoString(), tt.gostr
			js, _ := json.Marshal(tt.c)
			got["json"], want["json"] = string(js), fmt.Sprintf("%q", tt.str)
			txt, _ := tt.c.MarshalText()
			got["text"], want["text"] = string(txt), tt.str
			got["slog"], want["slog"] = tt.c.LogValue().String(), tt.str
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("printed forms (-want +got):\n%s", diff)
			}
		})
	}
	// Nested in a caller's struct, in a map, through slog's handlers.
	type config struct {
		Name   string
		Secret auth.Credential
		hidden auth.Credential
	}
	v := config{Name: "n", Secret: auth.FromString(canary), hidden: auth.FromString(canary)}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		fmt.Fprintf(&out, verb+"\n", v)
		fmt.Fprintf(&out, verb+"\n", map[string]any{"k": v})
	}
	js, _ := json.Marshal(v)
	out.Write(js)
	slog.New(slog.NewTextHandler(&out, nil)).Info("m", "v", v, "c", v.Secret)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("m", "v", v, "c", v.Secret)
	if strings.Contains(out.String(), canary) {
		t.Errorf("printed forms contain the credential:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "Secret:[redacted]") {
		t.Errorf("%%+v of a struct does not show Secret:[redacted]:\n%s", out.String())
	}
}

func ExampleCredential() {
	roleID := auth.FromEnv("APP_ROLE_ID")           // read from the environment at every login
	secretID := auth.FromFile("/run/secrets/sid")   // read from the file at every login
	token := auth.FromString("hvs.CAESIJ-not-real") // a value the program holds
	fmt.Println(roleID, secretID, token)
	fmt.Printf("%#v\n", token)
	// Output:
	// env:APP_ROLE_ID file:/run/secrets/sid [redacted]
	// auth.FromString("[redacted]")
}
