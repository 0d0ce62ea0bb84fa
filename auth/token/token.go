// Package token logs in to Vault with an existing token, read from its
// source at every Login: a string, an environment variable, a file, or — by
// default — VAULT_TOKEN and then ~/.vault-token, as the vault CLI does.
//
// Login checks the token with auth/token/lookup-self and returns its TTL and
// renewability, so the caller can schedule renewal.
//
// A *Method is safe for concurrent use and holds nothing that must be closed.
package token

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/internal/cred"
	"github.com/vaultly/vaultly/auth/internal/login"
	"github.com/vaultly/vaultly/driver"
)

// Options says where the token comes from. Give at most one of Token, Env
// and File. With none, the vault CLI's order applies: the VAULT_TOKEN
// environment variable, then the file ~/.vault-token.
type Options struct {
	// Token is the token itself. Default: unset.
	Token string
	// Env is the name of an environment variable holding the token, read at
	// every Login. Default: unset (see above for the fallback).
	Env string
	// File is the path of a file holding the token, read at every Login.
	// Default: unset.
	File string
	// Mount is the token auth mount. Default "token".
	Mount string
}

// Method logs in with a token. Create it with New.
type Method struct {
	src      cred.Source
	fallback bool
	mount    string
}

var (
	_ auth.Method    = (*Method)(nil)
	_ auth.Describer = (*Method)(nil)
)

// New returns a token method. Giving more than one source is a Config error.
func New(opts *Options) (*Method, error) {
	if opts == nil {
		opts = &Options{}
	}
	m := &Method{
		src:   cred.Source{Name: "token", Value: opts.Token, Env: opts.Env, File: opts.File},
		mount: login.Mount(opts.Mount, "token"),
	}
	if err := m.src.Check(); err != nil {
		return nil, login.Prefix("token", m.mount, err)
	}
	m.fallback = !m.src.IsSet()
	return m, nil
}

// Describe returns "token at auth/token".
func (m *Method) Describe() string { return login.Describe("token", m.mount) }

// DefaultFile returns the path the vault CLI stores its token in:
// ~/.vault-token.
func DefaultFile() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".vault-token")
}

func (m *Method) read() (string, error) {
	if !m.fallback {
		return m.src.Read()
	}
	if v, err := (cred.Source{Name: "token", Env: "VAULT_TOKEN"}).Read(); err == nil {
		return v, nil
	}
	if f := DefaultFile(); f != "" {
		if v, err := (cred.Source{Name: "token", File: f}).Read(); err == nil {
			return v, nil
		}
	}
	return "", &driver.Error{Code: driver.Config, Err: login.NewErr(m.Describe()+": no token: set VAULT_TOKEN or run `vault login` to write ~/.vault-token", nil)}
}

// Login reads the token, looks it up (auth/token/lookup-self) and returns it
// as an auth response with its TTL, renewability and policies. An invalid or
// expired token is an Unauthenticated error.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	tok, err := m.read()
	if err != nil {
		return nil, login.Prefix("token", m.mount, err)
	}
	lc, err := login.Client(client)
	if err != nil {
		return nil, err
	}
	lc.SetToken(tok)
	sec, err := lc.Logical().ReadWithContext(ctx, "auth/"+m.mount+"/lookup-self")
	if err != nil {
		return nil, login.Error("token", m.mount, err, tok)
	}
	if sec == nil || sec.Data == nil {
		return nil, login.Fail("token", m.mount, driver.Unauthenticated, "token lookup returned nothing")
	}
	out := &api.Secret{RequestID: sec.RequestID, Auth: &api.SecretAuth{ClientToken: tok}}
	a := out.Auth
	if v, err := sec.TokenAccessor(); err == nil {
		a.Accessor = v
	}
	if v, err := sec.TokenPolicies(); err == nil {
		a.Policies = v
		a.TokenPolicies = v
	}
	if v, err := sec.TokenTTL(); err == nil {
		a.LeaseDuration = int(v / time.Second)
	}
	if v, err := sec.TokenIsRenewable(); err == nil {
		a.Renewable = v
	}
	if v, err := sec.TokenMetadata(); err == nil {
		a.Metadata = v
	}
	if e, ok := sec.Data["entity_id"].(string); ok {
		a.EntityID = e
	}
	return out, nil
}
