// Package ldap logs in to Vault with the LDAP auth method: a username and a
// password, the password read from a string, an environment variable or a
// file at every Login.
//
// A *Method is safe for concurrent use and holds nothing that must be closed.
package ldap

import (
	"context"
	"net/url"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/internal/cred"
	"github.com/vaultly/vaultly/auth/internal/login"
	"github.com/vaultly/vaultly/driver"
)

// Options configures a LDAP login.
type Options struct {
	// Mount is where the method is enabled. Default "ldap" (auth/ldap).
	Mount string
	// Username is required.
	Username string
	// Password, PasswordEnv (an environment variable name) or PasswordFile
	// (a path) give the password, read at every Login. One is required.
	Password, PasswordEnv, PasswordFile string
}

// Method logs in with LDAP. Create it with New.
type Method struct {
	mount    string
	username string
	password cred.Source
}

var (
	_ auth.Method    = (*Method)(nil)
	_ auth.Describer = (*Method)(nil)
)

// New checks opts and returns the method.
func New(opts *Options) (*Method, error) {
	if opts == nil {
		opts = &Options{}
	}
	m := &Method{
		mount:    login.Mount(opts.Mount, "ldap"),
		username: opts.Username,
		password: cred.Source{Name: "password", Value: opts.Password, Env: opts.PasswordEnv, File: opts.PasswordFile},
	}
	if m.username == "" {
		return nil, login.Fail("ldap", m.mount, driver.Config, "username is required")
	}
	if err := m.password.Check(); err != nil {
		return nil, login.Prefix("ldap", m.mount, err)
	}
	if !m.password.IsSet() {
		return nil, login.Fail("ldap", m.mount, driver.Config, "password is required (password, password_env or password_file)")
	}
	return m, nil
}

// Describe returns "ldap at auth/<mount>".
func (m *Method) Describe() string { return login.Describe("ldap", m.mount) }

// Login reads the password and logs in at auth/<mount>/login/<username>.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	pw, err := m.password.Read()
	if err != nil {
		return nil, login.Prefix("ldap", m.mount, err)
	}
	return login.Write(ctx, client, "ldap", m.mount, "login/"+url.PathEscape(m.username), map[string]any{"password": pw}, pw)
}
