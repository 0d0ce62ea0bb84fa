package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/userpass"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// TestLoginTransportErrors checks the codes of logins that never reach a
// login handler: an unverifiable server certificate, a closed port, and a
// mount where the method is not enabled.
func TestLoginTransportErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	closedAddr := vaulttest.ClosedAddr(t)

	tests := []struct {
		name   string
		client func(t *testing.T) *api.Client
		mount  string
		code   driver.Code
		errHas string
	}{
		{"untrusted certificate", func(t *testing.T) *api.Client {
			cfg := api.DefaultConfig() // system roots only: the dev CA is unknown
			cfg.Address = e.srv.Addr
			cfg.MaxRetries = 0
			c, err := api.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, "userpass", driver.Config, "cannot be verified"},
		{"connection refused", func(t *testing.T) *api.Client {
			cfg := api.DefaultConfig()
			cfg.Address = closedAddr
			cfg.MaxRetries = 0
			c, err := api.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, "userpass", driver.Unavailable, "cannot reach vault"},
		// Vault answers 403 for an unknown path without a token, so this is
		// indistinguishable from bad credentials; the message names the mount.
		{"method not enabled at mount", e.loginClient, "nothing-here", driver.Unauthenticated, errPrefix("userpass at auth/nothing-here")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := userpass.New(&userpass.Options{Mount: tt.mount, Username: "alice", Password: auth.FromString("pw-not-leaked")})
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Login(context.Background(), tt.client(t))
			if got := driver.CodeOf(err); got != tt.code {
				t.Fatalf("Login: code %v, want %v (err %v)", got, tt.code, err)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("Login error %q does not contain %q", err, tt.errHas)
			}
			if strings.Contains(err.Error(), "pw-not-leaked") {
				t.Errorf("Login error contains the password: %q", err)
			}
		})
	}
}
