package login

import (
	"context"
	"net/url"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth/internal/cred"
	"github.com/vaultly/vaultly/driver"
)

// Password is a username + password login at auth/<mount>/login/<username>:
// the protocol the userpass and ldap methods share. The password is read
// from its source at every Login.
type Password struct {
	method   string
	mount    string
	username string
	password cred.Source
}

// NewPassword checks the settings of a username + password method.
func NewPassword(method, mount, username string, password cred.Source) (*Password, error) {
	p := &Password{method: method, mount: Mount(mount, method), username: username, password: password}
	if p.username == "" {
		return nil, Fail(method, p.mount, driver.Config, "username is required")
	}
	if err := p.password.Check(); err != nil {
		return nil, Prefix(method, p.mount, err)
	}
	if !p.password.IsSet() {
		return nil, Fail(method, p.mount, driver.Config, "password is required (password, password_env or password_file)")
	}
	return p, nil
}

// Describe returns "<method> at auth/<mount>".
func (p *Password) Describe() string { return Describe(p.method, p.mount) }

// Login reads the password and logs in.
func (p *Password) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	pw, err := p.password.Read()
	if err != nil {
		return nil, Prefix(p.method, p.mount, err)
	}
	return Write(ctx, client, p.method, p.mount, "login/"+url.PathEscape(p.username), map[string]any{"password": pw}, pw)
}
