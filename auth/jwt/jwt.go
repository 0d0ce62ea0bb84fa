// Package jwt logs in to Vault with the JWT/OIDC auth method's JWT flow
// (auth/<mount>/login with a role and a signed JWT). The JWT comes from an
// auth.Credential (a string, an environment variable, a file) or from a
// function, read again at every Login, so short-lived tokens rotated on
// disk are picked up.
//
// A *Method is safe for concurrent use (Options.Func must be too) and holds
// nothing that must be closed.
package jwt

import (
	"context"
	"errors"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/internal/login"
	"github.com/vaultly/vaultly/internal/errs"
)

// Options configures a JWT login. Give exactly one of JWT and Func.
type Options struct {
	// Mount is where the method is enabled. Default "jwt" (auth/jwt).
	Mount string
	// Role is the JWT auth role. Default: the mount's default_role.
	Role string
	// JWT is the token: auth.FromString, auth.FromEnv or auth.FromFile,
	// read at every Login.
	JWT auth.Credential
	// Func returns a JWT; called at every Login. Its error keeps its code
	// when it is a *vaultly.Error and is Unauthenticated otherwise.
	// It must be safe for concurrent use.
	Func func(ctx context.Context) (string, error)
}

// Method logs in with a JWT. Create it with New. It prints as Describe for
// every verb.
type Method struct {
	login.Base
	role string
	jwt  auth.Credential
	fn   func(ctx context.Context) (string, error)
}

var (
	_ auth.Method    = (*Method)(nil)
	_ auth.Describer = (*Method)(nil)
)

// New checks opts and returns the method. Neither or both of JWT and Func
// is a Config error.
func New(opts *Options) (*Method, error) {
	if opts == nil {
		opts = &Options{}
	}
	m := &Method{Base: login.NewBase("jwt", opts.Mount), role: opts.Role, jwt: opts.JWT, fn: opts.Func}
	switch {
	case !m.jwt.IsSet() && m.fn == nil:
		return nil, login.Fail(m.Base, errs.Config, "a jwt is required")
	case m.jwt.IsSet() && m.fn != nil:
		return nil, login.Fail(m.Base, errs.Config, "give a jwt source or a func, not both")
	}
	return m, nil
}

func (m *Method) read(ctx context.Context) (string, error) {
	if m.fn == nil {
		return login.Credential(m.Base, "jwt", m.jwt)
	}
	v, err := m.fn(ctx)
	if err != nil {
		if _, ok := errors.AsType[*errs.Error](err); !ok {
			err = &errs.Error{Code: errs.Unauthenticated, Err: err}
		}
		return "", login.Prefix(m.Base, "jwt func", err)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", login.Fail(m.Base, errs.Config, "the jwt func returned an empty token")
	}
	return v, nil
}

// Login reads the JWT and logs in at auth/<mount>/login.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	tok, err := m.read(ctx)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"jwt": tok}
	if m.role != "" {
		data["role"] = m.role
	}
	return login.Write(ctx, m.Base, client, "login", data, tok)
}
