package hashivault

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
)

// newClient builds a client from resolved settings: its own pooled HTTP
// client under vaultly's transport (routing, limits, redirects; see
// transport.go) sharing r, TLS always verified, vault/api retries off, no
// token.
func newClient(s *settings, r *router) (*conn, error) {
	hc := cleanhttp.DefaultPooledClient()
	tr := hc.Transport.(*http.Transport)
	tr.TLSHandshakeTimeout = 10 * time.Second
	// cleanhttp keeps GOMAXPROCS+1 idle connections per host (3 on two
	// cores); Load and concurrent readers issue more requests than that in
	// parallel, and every extra one would pay a new TCP/TLS handshake.
	tr.MaxIdleConnsPerHost = 32
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if s.ProxyURL != "" {
		u, err := url.Parse(s.ProxyURL)
		if err != nil {
			return nil, configError("options: ProxyURL must be a url such as http://proxy:3128")
		}
		tr.Proxy = http.ProxyURL(u)
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg := &api.Config{
		Address:    s.Address,
		HttpClient: hc,
		Timeout:    s.Timeout,
		MaxRetries: 0,
		CheckRetry: checkRetry,
	}
	tc := &api.TLSConfig{
		CACert:        s.CACert,
		CACertBytes:   s.CACertPEM,
		CAPath:        s.CAPath,
		ClientCert:    s.ClientCert,
		ClientKey:     s.ClientKey,
		TLSServerName: s.TLSServerName,
	}
	if err := cfg.ConfigureTLS(tc); err != nil {
		// The error names files, not their contents.
		return nil, &driver.Error{Code: driver.Config, Err: fmt.Errorf("tls configuration: %w", err)}
	}
	if tr.TLSClientConfig.InsecureSkipVerify {
		return nil, configError("tls verification cannot be disabled")
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, &driver.Error{Code: driver.Config, Err: fmt.Errorf("vault client: %w", err)}
	}
	hc.Transport = &transport{rt: tr, r: r}
	// api.NewClient reads VAULT_TOKEN and VAULT_NAMESPACE itself; vaultly
	// has already resolved both, so override them.
	c.ClearToken()
	setNamespace(c, s.Namespace)
	return &conn{c: c, hc: hc}, nil
}

// cloneClient copies a caller-owned client, so vaultly's token, retry
// policy and namespace never touch the caller's client. The copy shares the
// caller's HTTP transport (and so its connections and TLS settings), under
// vaultly's transport sharing r; the caller's *http.Client is not changed.
func cloneClient(c *api.Client, ns string, r *router) (*conn, error) {
	if c == nil {
		return nil, configError("options: nil Client")
	}
	if skipsVerify(c) {
		return nil, configError("options: Client skips tls verification (Insecure / VAULT_SKIP_VERIFY): vaultly always verifies TLS; give it a CA certificate instead")
	}
	cfg := c.CloneConfig() // its HttpClient is a copy of the caller's
	cfg.MaxRetries = 0
	cfg.CheckRetry = checkRetry
	cc, err := api.NewClient(cfg)
	if err != nil {
		return nil, &driver.Error{Code: driver.Config, Err: errors.New("vault client: cannot copy the given client")}
	}
	rt := cfg.HttpClient.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	cfg.HttpClient.Transport = &transport{rt: rt, r: r}
	cfg.HttpClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cc.SetHeaders(c.Headers())
	cc.ClearToken()
	if ns == "" {
		ns = c.Namespace()
	}
	setNamespace(cc, ns)
	return &conn{c: cc, hc: cfg.HttpClient, shared: true}, nil
}

// clientBase is the base URL a caller-owned client sends requests to (for a
// unix socket, vault/api's http://localhost).
func clientBase(c *api.Client) *url.URL {
	u, err := url.Parse(c.Address())
	if err != nil || u.Scheme == "unix" {
		return &url.URL{Scheme: "http", Host: "localhost"}
	}
	return u
}

// skipsVerify reports whether a caller's client was configured not to
// verify the server's certificate (api.TLSConfig.Insecure, or
// VAULT_SKIP_VERIFY read by api.DefaultConfig). A transport vaultly cannot
// inspect (a wrapper) is trusted.
func skipsVerify(c *api.Client) bool {
	hc := c.CloneConfig().HttpClient
	if hc == nil {
		return false
	}
	tr, ok := hc.Transport.(*http.Transport)
	return ok && tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify
}

func setNamespace(c *api.Client, ns string) {
	if ns == "" {
		c.ClearNamespace()
	} else {
		c.SetNamespace(ns)
	}
}
