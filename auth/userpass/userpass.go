// Package userpass logs in to Vault with the userpass auth method: a username and a
// password, the password read from a string, an environment variable or a
// file at every Login.
//
// A *Method is safe for concurrent use and holds nothing that must be closed.
package userpass

import (
	"context"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/internal/cred"
	"github.com/vaultly/vaultly/auth/internal/login"
)

// Options configures a userpass login.
type Options struct {
	// Mount is where the method is enabled. Default "userpass" (auth/userpass).
	Mount string
	// Username is required.
	Username string
	// Password, PasswordEnv (an environment variable name) or PasswordFile
	// (a path) give the password, read at every Login. One is required.
	Password, PasswordEnv, PasswordFile string
}

// Method logs in with userpass. Create it with New.
type Method struct{ p *login.Password }

var (
	_ auth.Method    = (*Method)(nil)
	_ auth.Describer = (*Method)(nil)
)

// New checks opts and returns the method.
func New(opts *Options) (*Method, error) {
	if opts == nil {
		opts = &Options{}
	}
	p, err := login.NewPassword("userpass", opts.Mount, opts.Username,
		cred.Source{Name: "password", Value: opts.Password, Env: opts.PasswordEnv, File: opts.PasswordFile})
	if err != nil {
		return nil, err
	}
	return &Method{p: p}, nil
}

// Describe returns "userpass at auth/<mount>".
func (m *Method) Describe() string { return m.p.Describe() }

// Login reads the password and logs in at auth/<mount>/login/<username>.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	return m.p.Login(ctx, client)
}
