// Package kubernetes logs in to Vault with the Kubernetes auth method, using
// the pod's service-account JWT. The JWT file is read again at every Login,
// so projected service-account tokens, which the kubelet rotates, keep
// working. (The upstream vault/api kubernetes helper reads it only once.)
//
// A *Method is safe for concurrent use and holds nothing that must be closed.
package kubernetes

import (
	"context"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/internal/login"
	"github.com/vaultly/vaultly/internal/errs"
)

// DefaultJWTFile is where Kubernetes mounts the service-account token.
const DefaultJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// Options configures a Kubernetes login.
type Options struct {
	// Mount is where the method is enabled. Default "kubernetes".
	Mount string
	// Role is the Vault role to log in as. Required.
	Role string
	// JWTFile is the service-account token file, read at every Login.
	// Default DefaultJWTFile.
	JWTFile string
}

// Method logs in with a Kubernetes service-account token. Create it with
// New. It prints as Describe for every verb.
type Method struct {
	login.Base
	role string
	jwt  auth.Credential
}

var (
	_ auth.Method    = (*Method)(nil)
	_ auth.Describer = (*Method)(nil)
)

// New checks opts and returns the method. A missing role is a Config error.
func New(opts *Options) (*Method, error) {
	if opts == nil {
		opts = &Options{}
	}
	file := opts.JWTFile
	if file == "" {
		file = DefaultJWTFile
	}
	m := &Method{Base: login.NewBase("kubernetes", opts.Mount), role: opts.Role, jwt: auth.FromFile(file)}
	if m.role == "" {
		return nil, login.Fail(m.Base, errs.Config, "role is required")
	}
	return m, nil
}

// Login reads the service-account JWT and logs in at auth/<mount>/login.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	tok, err := login.Credential(m.Base, "jwt", m.jwt)
	if err != nil {
		return nil, err
	}
	return login.Write(ctx, m.Base, client, "login", map[string]any{"role": m.role, "jwt": tok}, tok)
}
