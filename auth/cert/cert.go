// Package cert logs in to Vault with the TLS certificate auth method: the
// client presents a certificate during the TLS handshake of the login
// request. The certificate and key files are read again at every Login, so a
// renewed certificate is used by the next login.
//
// The login request goes through a copy of the given client's HTTP transport
// with the client certificate added; TLS verification settings (CA, server
// name) are kept as they are and are never relaxed. Only the login request
// carries the certificate.
//
// A *Method is safe for concurrent use and holds nothing that must be closed.
package cert

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/internal/login"
	"github.com/vaultly/vaultly/internal/errs"
)

// Options configures a certificate login.
type Options struct {
	// Mount is where the method is enabled. Default "cert" (auth/cert).
	Mount string
	// Name is the certificate role to log in against. Default: Vault tries
	// every role of the mount.
	Name string
	// CertFile and KeyFile are PEM files with the client certificate (chain)
	// and its private key. Both are required.
	CertFile, KeyFile string
}

// Method logs in with a client certificate. Create it with New. It prints
// as Describe for every verb.
type Method struct {
	login.Base
	name              string
	certFile, keyFile string
}

var (
	_ auth.Method    = (*Method)(nil)
	_ auth.Describer = (*Method)(nil)
)

// New checks opts and returns the method. A missing file name is a Config
// error.
func New(opts *Options) (*Method, error) {
	if opts == nil {
		opts = &Options{}
	}
	m := &Method{Base: login.NewBase("cert", opts.Mount), name: opts.Name, certFile: opts.CertFile, keyFile: opts.KeyFile}
	if m.certFile == "" || m.keyFile == "" {
		return nil, login.Fail(m.Base, errs.Config, "a certificate file and a key file are required")
	}
	return m, nil
}

// Login loads the key pair and logs in at auth/<mount>/login over a TLS
// connection that presents it.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	if client == nil {
		return nil, login.Fail(m.Base, errs.Config, "nil vault client")
	}
	pair, err := m.load()
	if err != nil {
		return nil, err
	}
	cfg := client.CloneConfig()
	// hashivault's transport (routing across nodes, answer limits) wraps
	// an *http.Transport: add the certificate to that one.
	base := cfg.HttpClient.Transport
	w, wrapped := base.(baseTransporter)
	if wrapped {
		base = w.BaseTransport()
	}
	tr, ok := base.(*http.Transport)
	if !ok || tr == nil {
		return nil, login.Fail(m.Base, errs.Config, "the vault client's HTTP transport is not an *http.Transport; cannot add a client certificate")
	}
	tr = tr.Clone()
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
	tr.TLSClientConfig.GetClientCertificate = nil
	defer tr.CloseIdleConnections()
	cfg.HttpClient.Transport = tr
	if wrapped {
		cfg.HttpClient.Transport = w.WithBaseTransport(tr)
	}
	lc, err := api.NewClient(cfg)
	if err != nil {
		return nil, login.Fail(m.Base, errs.Config, "cannot create login client: %v", err)
	}
	lc.SetHeaders(client.Headers())
	lc.ClearToken()
	data := map[string]any{}
	if m.name != "" {
		data["name"] = m.name
	}
	return login.WriteWith(ctx, m.Base, lc, "login", data)
}

// baseTransporter is a transport over another one (hashivault's).
type baseTransporter interface {
	BaseTransport() http.RoundTripper
	WithBaseTransport(http.RoundTripper) http.RoundTripper
}

func (m *Method) load() (tls.Certificate, error) {
	for _, f := range []struct{ name, path string }{{"certificate file", m.certFile}, {"key file", m.keyFile}} {
		if _, err := os.Stat(f.path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return tls.Certificate{}, login.Fail(m.Base, errs.Config, "the %s %s does not exist", f.name, f.path)
			}
			return tls.Certificate{}, login.Fail(m.Base, errs.Config, "cannot read the %s %s", f.name, f.path)
		}
	}
	pair, err := tls.LoadX509KeyPair(m.certFile, m.keyFile)
	if err != nil {
		// tls errors describe the PEM structure, not key material.
		return tls.Certificate{}, login.Fail(m.Base, errs.Config, "cannot load key pair from %s and %s: %v", m.certFile, m.keyFile, err)
	}
	return pair, nil
}
