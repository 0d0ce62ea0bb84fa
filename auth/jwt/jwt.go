// Package jwt logs in to Vault with the JWT/OIDC auth method's JWT flow
// (auth/<mount>/login with a role and a signed JWT). The JWT comes from a
// string, an environment variable, a file or a function, read again at every
// Login so short-lived tokens rotated on disk are picked up.
//
// A *Method is safe for concurrent use (Options.Func must be too) and holds
// nothing that must be closed.
package jwt

import (
	"context"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/internal/cred"
	"github.com/vaultly/vaultly/auth/internal/login"
	"github.com/vaultly/vaultly/driver"
)

// Options configures a JWT login. Give exactly one of JWT, Env, File, Func.
type Options struct {
	// Mount is where the method is enabled. Default "jwt" (auth/jwt).
	Mount string
	// Role is the JWT auth role. Default: the mount's default_role.
	Role string
	// JWT is the token itself.
	JWT string
	// Env is an environment variable holding the JWT, read at every Login.
	Env string
	// File is a file holding the JWT, read at every Login.
	File string
	// Func returns a JWT; called at every Login. Its error is reported with
	// code Unauthenticated unless it is already a *driver.Error.
	Func func(ctx context.Context) (string, error)
}

// Method logs in with a JWT. Create it with New.
type Method struct {
	mount string
	role  string
	src   cred.Source
	fn    func(ctx context.Context) (string, error)
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
		mount: login.Mount(opts.Mount, "jwt"),
		role:  opts.Role,
		src:   cred.Source{Name: "jwt", Value: opts.JWT, Env: opts.Env, File: opts.File},
		fn:    opts.Func,
	}
	n := m.src.Count()
	if m.fn != nil {
		n++
	}
	if n != 1 {
		return nil, login.Fail("jwt", m.mount, driver.Config, "give exactly one of jwt, jwt_env, jwt_file or a func")
	}
	return m, nil
}

// Describe returns "jwt at auth/<mount>".
func (m *Method) Describe() string { return login.Describe("jwt", m.mount) }

func (m *Method) read(ctx context.Context) (string, error) {
	if m.fn == nil {
		return m.src.Read()
	}
	v, err := m.fn(ctx)
	if err != nil {
		if _, ok := err.(*driver.Error); ok {
			return "", err
		}
		return "", &driver.Error{Code: driver.Unauthenticated, Err: err}
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", &driver.Error{Code: driver.Config, Err: errorString("jwt func returned an empty token")}
	}
	return v, nil
}

// Login reads the JWT and logs in at auth/<mount>/login.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	tok, err := m.read(ctx)
	if err != nil {
		return nil, login.Prefix("jwt", m.mount, err)
	}
	data := map[string]any{"jwt": tok}
	if m.role != "" {
		data["role"] = m.role
	}
	return login.Write(ctx, client, "jwt", m.mount, "login", data, tok)
}

type errorString string

func (e errorString) Error() string { return string(e) }
