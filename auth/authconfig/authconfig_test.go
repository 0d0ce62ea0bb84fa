package authconfig

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/internal/errs"
)

func TestMethods(t *testing.T) {
	got := Methods()
	want := []string{"approle", "aws", "cert", "jwt", "kubernetes", "ldap", "token", "userpass"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Methods() mismatch (-want +got):\n%s", diff)
	}
}

func TestFromParams(t *testing.T) {
	tests := []struct {
		method, mount string
		params        map[string]string
		describe      string    // want Describe() on success
		code          errs.Code // want code on failure
		errHas        string    // want substring of the error
	}{
		{"token", "", map[string]string{"token_file": "/run/token"}, "token at auth/token", errs.OK, ""},
		{"approle", "/auth/apps/", map[string]string{"role_id": "r", "secret_id_file": "/s", "remove_secret_id_file": "true"}, "approle at auth/apps", errs.OK, ""},
		{"approle", "", map[string]string{"role_id": "r", "secret_id": "s", "wrapped": "true", "role": "app"}, "approle at auth/approle", errs.OK, ""},
		{"APPROLE", "", map[string]string{"role_id_env": "VAULT_ROLE_ID"}, "approle at auth/approle", errs.OK, ""},
		{"userpass", "", map[string]string{"username": "alice", "password_env": "PW"}, "userpass at auth/userpass", errs.OK, ""},
		{"ldap", "corp", map[string]string{"username": "alice", "password_file": "/pw"}, "ldap at auth/corp", errs.OK, ""},
		{"kubernetes", "", map[string]string{"role": "app"}, "kubernetes at auth/kubernetes", errs.OK, ""},
		{"jwt", "gitlab", map[string]string{"role": "ci", "jwt_file": "/jwt"}, "jwt at auth/gitlab", errs.OK, ""},
		{"cert", "", map[string]string{"cert_file": "/c.pem", "key_file": "/k.pem", "name": "app"}, "cert at auth/cert", errs.OK, ""},
		{"aws", "", map[string]string{"role": "app", "region": "eu-west-1", "server_id_header": "vault.example.com"}, "aws at auth/aws", errs.OK, ""},
		{"aws", "", map[string]string{"access_key": "AKIA", "secret_key_env": "SK"}, "aws at auth/aws", errs.OK, ""},

		{"oidc", "", nil, "", errs.Config, `unknown auth method "oidc"`},
		{"approle", "", map[string]string{"role_id": "r", "secretid": "s3cr3t"}, "", errs.Config, "unknown parameter(s) secretid"},
		{"approle", "", map[string]string{"role_id": "r", "wrapped": "maybe"}, "", errs.Config, "wrapped must be true or false"},
		{"approle", "", map[string]string{"role_id": "r", "wrapped": "true", "secret_id": "s"}, "", errs.Config, "a wrapped secret_id needs the role name"},
		{"approle", "", map[string]string{"secret_id": "s3cr3t"}, "", errs.Config, "role_id is required"},
		{"approle", "", map[string]string{"role_id": "r", "secret_id": "s3cr3t", "secret_id_file": "/f"}, "", errs.Config, "give only one of secret_id"},
		{"approle", "", map[string]string{"role_id": "r", "secret_id": "s3cr3t", "remove_secret_id_file": "true"}, "", errs.Config, "removing the secret_id file needs a secret_id read from a file"},
		{"userpass", "", map[string]string{"password": "s3cr3t"}, "", errs.Config, "username is required"},
		{"userpass", "", map[string]string{"username": "a"}, "", errs.Config, "password is required"},
		{"kubernetes", "", nil, "", errs.Config, "role is required"},
		{"jwt", "", map[string]string{"role": "ci"}, "", errs.Config, "jwt: a jwt is required"},
		{"cert", "", map[string]string{"cert_file": "/c"}, "", errs.Config, "a certificate file and a key file are required"},
		{"aws", "", map[string]string{"access_key": "AKIA"}, "", errs.Config, "an access key id and a secret access key must be given together"},
		{"token", "", map[string]string{"token": "s3cr3t", "token_env": "X"}, "", errs.Config, "give only one of token"},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+strings.Join(keys(tt.params), ","), func(t *testing.T) {
			m, err := FromParams(tt.method, tt.mount, tt.params)
			if tt.code == errs.OK {
				if err != nil {
					t.Fatalf("FromParams(%q, %q, %v): %v", tt.method, tt.mount, keys(tt.params), err)
				}
				if got := m.(auth.Describer).Describe(); got != tt.describe {
					t.Errorf("Describe() = %q, want %q", got, tt.describe)
				}
				return
			}
			if got := errs.CodeOf(err); got != tt.code {
				t.Fatalf("FromParams(%q, %v): code %v, want %v (err %v)", tt.method, keys(tt.params), got, tt.code, err)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			if e, ok := errors.AsType[*errs.Error](err); !ok || e.Op != "login" || !errors.Is(err, errs.Sentinel(tt.code)) {
				t.Errorf("error %#v: want a *vaultly.Error with op login matching its code's sentinel", err)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q contains a credential value", err)
			}
		})
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestParams(t *testing.T) {
	tests := []struct {
		method string
		want   []string
	}{
		{"token", []string{"token", "token_env", "token_file"}},
		{"approle", []string{"remove_secret_id_file", "role", "role_id", "role_id_env", "role_id_file", "secret_id", "secret_id_env", "secret_id_file", "wrapped"}},
		{"userpass", []string{"password", "password_env", "password_file", "username"}},
		{"kubernetes", []string{"jwt_file", "role"}},
		{"cert", []string{"cert_file", "key_file", "name"}},
	}
	for _, tt := range tests {
		got, err := Params(tt.method)
		if err != nil {
			t.Fatalf("Params(%q): %v", tt.method, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Params(%q) mismatch (-want +got):\n%s", tt.method, diff)
		}
	}
	for _, m := range Methods() {
		ps, err := Params(m)
		if err != nil || len(ps) == 0 {
			t.Errorf("Params(%q) = %v, %v; want a non-empty list", m, ps, err)
		}
	}
	if _, err := Params("nope"); errs.CodeOf(err) != errs.Config {
		t.Errorf("Params(unknown) err = %v, want a Config error", err)
	}
}
