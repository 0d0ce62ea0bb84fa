package auth_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/auth/jwt"
	"github.com/vaultly/vaultly/auth/kubernetes"
	"github.com/vaultly/vaultly/auth/token"
	"github.com/vaultly/vaultly/auth/userpass"
	"github.com/vaultly/vaultly/driver"
)

// TestRotatedCredentialFile logs in, replaces the credential file and
// invalidates the old credential in Vault (or its upstream), then logs in
// again: the second login succeeds only if the method re-read the file.
func TestRotatedCredentialFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type rotation struct {
		m      auth.Method
		rotate func(t *testing.T) // writes the new credential and invalidates the old
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) rotation
	}{
		{"approle secret_id file", func(t *testing.T) rotation {
			roleID, sid := e.appRole(t, "approle")
			f := e.file(t, "rot-secret-id", sid)
			m, err := approle.New(&approle.Options{RoleID: auth.FromString(roleID), SecretID: auth.FromFile(f)})
			if err != nil {
				t.Fatal(err)
			}
			return rotation{m, func(t *testing.T) {
				e.srv.Write(t, "auth/approle/role/app/secret-id/destroy", map[string]any{"secret_id": sid})
				e.file(t, "rot-secret-id", e.newSecretID(t, "approle"))
			}}
		}},
		{"kubernetes service-account token", func(t *testing.T) rotation {
			r := e.kubeSetup(t)
			old := r.Issue(t, appSA)
			f := e.file(t, "rot-sa", old)
			m, err := kubernetes.New(&kubernetes.Options{Mount: "k8s", Role: "app", JWTFile: f})
			if err != nil {
				t.Fatal(err)
			}
			return rotation{m, func(t *testing.T) {
				r.Revoke(old)
				e.file(t, "rot-sa", r.Issue(t, appSA))
			}}
		}},
		{"jwt file", func(t *testing.T) rotation {
			j := e.jwtSetup(t)
			f := e.file(t, "rot-jwt", j.sign(t, "ci-job"))
			m, err := jwt.New(&jwt.Options{Role: "ci", JWT: auth.FromFile(f)})
			if err != nil {
				t.Fatal(err)
			}
			return rotation{m, func(t *testing.T) {
				j2 := newJWTIssuer(t) // Vault now trusts only the new key
				e.srv.Write(t, "auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{j2.pem}})
				e.file(t, "rot-jwt", j2.sign(t, "ci-job"))
			}}
		}},
		{"token file", func(t *testing.T) rotation {
			old := e.srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"default"}})
			f := e.file(t, "rot-token", old)
			m, err := token.New(&token.Options{Token: auth.FromFile(f)})
			if err != nil {
				t.Fatal(err)
			}
			return rotation{m, func(t *testing.T) {
				if err := e.srv.Client(t).Auth().Token().RevokeTreeWithContext(context.Background(), old); err != nil {
					t.Fatal(err)
				}
				e.file(t, "rot-token", e.srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"default"}}))
			}}
		}},
		{"userpass password file", func(t *testing.T) rotation {
			e.srv.EnableAuth(t, "up-rot", "userpass")
			e.srv.Write(t, "auth/up-rot/users/bob", map[string]any{"password": "first-password"})
			f := e.file(t, "rot-pw", "first-password")
			m, err := userpass.New(&userpass.Options{Mount: "up-rot", Username: "bob", Password: auth.FromFile(f)})
			if err != nil {
				t.Fatal(err)
			}
			return rotation{m, func(t *testing.T) {
				e.srv.Write(t, "auth/up-rot/users/bob/password", map[string]any{"password": "second-password"})
				e.file(t, "rot-pw", "second-password")
			}}
		}},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.setup(t)
			first, err := r.m.Login(ctx, e.loginClient(t))
			if err != nil {
				t.Fatalf("first Login: %v", err)
			}
			r.rotate(t)
			second, err := r.m.Login(ctx, e.loginClient(t))
			if err != nil {
				t.Fatalf("Login after rotating the credential file: %v (the method did not re-read its source)", err)
			}
			if first.Auth.ClientToken == second.Auth.ClientToken {
				t.Errorf("second Login returned the first token again")
			}
		})
	}
}

// wrapSecretID returns a response-wrapping token holding a new secret_id of
// role app at auth/<mount>.
func (e *env) wrapSecretID(t *testing.T, mount string) string {
	t.Helper()
	c := e.srv.Client(t)
	c.SetWrappingLookupFunc(func(string, string) string { return "120s" })
	sec, err := c.Logical().WriteWithContext(context.Background(), "auth/"+mount+"/role/app/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	if sec == nil || sec.WrapInfo == nil || sec.WrapInfo.Token == "" {
		t.Fatalf("secret-id response is not wrapped: %+v", sec)
	}
	return sec.WrapInfo.Token
}

func TestWrappedSecretID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roleID, _ := e.appRole(t, "approle")
	ctx := context.Background()
	newMethod := func(t *testing.T, file string) auth.Method {
		t.Helper()
		m, err := approle.New(&approle.Options{RoleID: auth.FromString(roleID), SecretID: auth.FromFile(file), Wrapped: true, RoleName: "app"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	t.Run("used twice", func(t *testing.T) {
		wrap := e.wrapSecretID(t, "approle")
		m := newMethod(t, e.file(t, "wrapped", wrap))
		if _, err := m.Login(ctx, e.loginClient(t)); err != nil {
			t.Fatalf("first Login: %v", err)
		}
		_, err := m.Login(ctx, e.loginClient(t))
		if got, want := driver.CodeOf(err), driver.Unauthenticated; got != want {
			t.Fatalf("second Login: code %v, want %v (err %v)", got, want, err)
		}
		for _, want := range []string{errPrefix("approle at auth/approle"), "already used or has expired", "may have been intercepted"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("second Login error %q does not contain %q", err, want)
			}
		}
		if strings.Contains(err.Error(), wrap) {
			t.Errorf("error contains the wrapping token: %q", err)
		}
	})

	t.Run("rotated wrapping token", func(t *testing.T) {
		f := e.file(t, "wrapped-rot", e.wrapSecretID(t, "approle"))
		m := newMethod(t, f)
		if _, err := m.Login(ctx, e.loginClient(t)); err != nil {
			t.Fatalf("first Login: %v", err)
		}
		e.file(t, "wrapped-rot", e.wrapSecretID(t, "approle"))
		if _, err := m.Login(ctx, e.loginClient(t)); err != nil {
			t.Fatalf("Login with a new wrapping token: %v", err)
		}
	})

	t.Run("wrong creation path", func(t *testing.T) {
		// A wrapping token made elsewhere (sys/wrapping/wrap) holding a
		// secret_id-shaped value must be refused without being unwrapped.
		c := e.srv.Client(t)
		c.SetWrappingLookupFunc(func(string, string) string { return "120s" })
		sec, err := c.Logical().WriteWithContext(ctx, "sys/wrapping/wrap", map[string]any{"secret_id": "attacker-chosen"})
		if err != nil {
			t.Fatal(err)
		}
		wrap := sec.WrapInfo.Token
		m := newMethod(t, e.file(t, "wrapped-evil", wrap))
		_, err = m.Login(ctx, e.loginClient(t))
		if got, want := driver.CodeOf(err), driver.Unauthenticated; got != want {
			t.Fatalf("Login: code %v, want %v (err %v)", got, want, err)
		}
		if !strings.Contains(err.Error(), `created at "sys/wrapping/wrap"`) {
			t.Errorf("Login error %q does not name the wrong creation path", err)
		}
		// Still unused: the method looked it up but did not unwrap it.
		if _, err := e.srv.Client(t).Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": wrap}); err != nil {
			t.Errorf("wrapping token was consumed by a refused login: lookup: %v", err)
		}
	})
}

func TestRemoveSecretIDFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roleID, sid := e.appRole(t, "approle")
	f := e.file(t, "secret-id", sid)
	m, err := approle.New(&approle.Options{RoleID: auth.FromString(roleID), SecretID: auth.FromFile(f), RemoveSecretIDFile: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Login(ctx, e.loginClient(t)); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if _, err := os.Stat(f); !os.IsNotExist(err) {
		t.Errorf("secret_id file after Login: stat err = %v, want not exist", err)
	}
	_, err = m.Login(ctx, e.loginClient(t))
	if got, want := driver.CodeOf(err), driver.Config; got != want {
		t.Errorf("Login without the file: code %v, want %v (err %v)", got, want, err)
	}
	e.file(t, "secret-id", e.newSecretID(t, "approle"))
	if _, err := m.Login(ctx, e.loginClient(t)); err != nil {
		t.Errorf("Login with a new secret_id file: %v", err)
	}
}
