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
	"github.com/vaultly/vaultly/auth/internal/cred"
	"github.com/vaultly/vaultly/auth/internal/login"
	"github.com/vaultly/vaultly/driver"
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

// Method logs in with a Kubernetes service-account token. Create it with New.
type Method struct {
	mount string
	role  string
	src   cred.Source
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
	m := &Method{mount: login.Mount(opts.Mount, "kubernetes"), role: opts.Role}
	file := opts.JWTFile
	if file == "" {
		file = DefaultJWTFile
	}
	m.src = cred.Source{Name: "jwt", File: file}
	if m.role == "" {
		return nil, login.Fail("kubernetes", m.mount, driver.Config, "role is required")
	}
	return m, nil
}

// Describe returns "kubernetes at auth/<mount>".
func (m *Method) Describe() string { return login.Describe("kubernetes", m.mount) }

// Login reads the service-account JWT and logs in at auth/<mount>/login.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	tok, err := m.src.Read()
	if err != nil {
		return nil, login.Prefix("kubernetes", m.mount, err)
	}
	return login.Write(ctx, client, "kubernetes", m.mount, "login", map[string]any{"role": m.role, "jwt": tok}, tok)
}
