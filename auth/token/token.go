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
	"github.com/vaultly/vaultly/auth/internal/login"
	"github.com/vaultly/vaultly/internal/errs"
)

// Options says where the token comes from. With Token unset, the vault
// CLI's order applies: the VAULT_TOKEN environment variable, then the file
// ~/.vault-token.
type Options struct {
	// Token is the token: auth.FromString, auth.FromEnv or auth.FromFile,
	// read at every Login. Default: unset (see above for the fallback).
	Token auth.Credential
	// Mount is the token auth mount. Default "token".
	Mount string
}

// Method logs in with a token. Create it with New. It prints as Describe
// for every verb.
type Method struct {
	login.Base
	tok auth.Credential
}

var (
	_ auth.Method    = (*Method)(nil)
	_ auth.Describer = (*Method)(nil)
)

// New returns a token method. It never fails today; the error is kept for
// settings a later version may check.
func New(opts *Options) (*Method, error) {
	if opts == nil {
		opts = &Options{}
	}
	return &Method{Base: login.NewBase("token", opts.Mount), tok: opts.Token}, nil
}

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
	if m.tok.IsSet() {
		return login.Credential(m.Base, "token", m.tok)
	}
	if v, err := auth.FromEnv("VAULT_TOKEN").Read(); err == nil {
		return v, nil
	}
	if f := DefaultFile(); f != "" {
		if v, err := auth.FromFile(f).Read(); err == nil {
			return v, nil
		}
	}
	return "", login.Fail(m.Base, errs.Config, "no token: set VAULT_TOKEN or write the token to ~/.vault-token")
}

// Login reads the token, looks it up (auth/token/lookup-self) and returns it
// as an auth response with its TTL, renewability and policies. An invalid or
// expired token is an Unauthenticated error.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	tok, err := m.read()
	if err != nil {
		return nil, err
	}
	lc, err := login.Client(m.Base, client)
	if err != nil {
		return nil, err
	}
	lc.SetToken(tok)
	sec, err := lc.Logical().ReadWithContext(ctx, "auth/"+login.MountOf(m.Base)+"/lookup-self")
	if err != nil {
		return nil, login.Error(m.Base, err, tok)
	}
	if sec == nil || sec.Data == nil {
		return nil, login.FailCause(m.Base, errs.Malformed, nil, "the token lookup returned nothing")
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
