package login

import (
	"context"
	"net/url"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/internal/errs"
)

// Password is a username + password login at auth/<mount>/login/<username>:
// the protocol the userpass and ldap methods share, embedded in their
// Method types. The password is read from its source at every Login.
type Password struct {
	Base
	username string
	password auth.Credential
}

// NewPassword checks the settings of a username + password method.
func NewPassword(method, mount, username string, password auth.Credential) (*Password, error) {
	p := &Password{Base: NewBase(method, mount), username: username, password: password}
	if p.username == "" {
		return nil, Fail(p.Base, errs.Config, "username is required")
	}
	if !p.password.IsSet() {
		return nil, Fail(p.Base, errs.Config, "password is required")
	}
	return p, nil
}

// Login reads the password and logs in at auth/<mount>/login/<username>.
func (p *Password) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	pw, err := Credential(p.Base, "password", p.password)
	if err != nil {
		return nil, err
	}
	return Write(ctx, p.Base, client, "login/"+url.PathEscape(p.username), map[string]any{"password": pw}, pw)
}
