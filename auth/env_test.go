package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/authconfig"
	"github.com/vaultly/vaultly/auth/token"
	"github.com/vaultly/vaultly/driver"
)

// TestEnvOnly configures token and AppRole logins from the environment alone.
func TestEnvOnly(t *testing.T) {
	e := newEnv(t)
	e.grant(t, "token")
	e.grant(t, "approle")
	roleID, secretID := e.appRole(t, "approle")
	tok := e.srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"token"}})
	home := t.TempDir()
	e.dir = home
	e.file(t, ".vault-token", tok)

	tests := []struct {
		name   string
		env    map[string]string
		build  func() (auth.Method, error)
		policy string // "" when building must fail
		code   driver.Code
	}{
		{"VAULT_TOKEN", map[string]string{"VAULT_TOKEN": tok}, authconfig.FromEnv, "token", driver.OK},
		{"VAULT_ROLE_ID and VAULT_SECRET_ID", map[string]string{"VAULT_ROLE_ID": roleID, "VAULT_SECRET_ID": secretID}, authconfig.FromEnv, "approle", driver.OK},
		{"FromParams approle from env", map[string]string{"APP_ROLE_ID": roleID, "APP_SECRET_ID": secretID}, func() (auth.Method, error) {
			return authconfig.FromParams("approle", "", map[string]string{"role_id_env": "APP_ROLE_ID", "secret_id_env": "APP_SECRET_ID"})
		}, "approle", driver.OK},
		{"token and approle both", map[string]string{"VAULT_TOKEN": tok, "VAULT_ROLE_ID": roleID}, authconfig.FromEnv, "", driver.Config},
		{"secret_id alone", map[string]string{"VAULT_SECRET_ID": secretID}, authconfig.FromEnv, "", driver.Config},
		{"nothing", nil, authconfig.FromEnv, "", driver.Config},
		{"~/.vault-token like the vault CLI", map[string]string{"HOME": home}, func() (auth.Method, error) { return token.New(nil) }, "token", driver.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID"} {
				t.Setenv(k, "")
			}
			t.Setenv("HOME", filepath.Join(home, "nonexistent"))
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			m, err := tt.build()
			if tt.policy == "" {
				if got := driver.CodeOf(err); got != tt.code {
					t.Fatalf("build: code %v, want %v (err %v)", got, tt.code, err)
				}
				if tt.name == "nothing" && !errors.Is(err, authconfig.ErrNoCredentials) {
					t.Errorf("FromEnv with no credentials: err %v, want ErrNoCredentials", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			sec, err := m.Login(context.Background(), e.loginClient(t))
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			e.checkAccess(t, tt.policy, sec.Auth.ClientToken)
		})
	}
}
