package pkisecrets

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/vaultly/vaultly/driver"
)

var (
	serverAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
)

// ServerTLSConfig returns a server tls.Config whose certificate is s's
// current one (GetCertificate) and which verifies client certificates
// against s's CA pool as it is at each handshake, so it follows CA
// rotation without a restart.
//
// base is cloned; nil means &tls.Config{MinVersion: tls.VersionTLS12,
// ClientAuth: tls.RequireAndVerifyClientCert}: mutual TLS. base.ClientAuth
// decides whether client certificates are asked for: with
// RequireAndVerifyClientCert or VerifyClientCertIfGiven and no
// base.ClientCAs, the certificate is checked by the config's
// VerifyConnection (chain to the pool, client-auth usage, validity) and
// crypto/tls is set to RequireAnyClientCert or RequestClientCert so that it
// does not check against an empty pool first; base.VerifyConnection, if
// any, runs after that check. With base.ClientCAs set, crypto/tls verifies
// against that static pool instead. base.Certificates and
// base.GetCertificate are replaced.
//
// Handshakes take no lock and make no request: on a client certificate
// from an unknown CA, the handshake waits (up to 5s) for one refresh of the
// pool, so a CA created a moment ago is trusted.
func (s *Source) ServerTLSConfig(base *tls.Config) *tls.Config {
	var cfg *tls.Config
	if base == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert}
	} else {
		cfg = base.Clone()
	}
	cfg.Certificates = nil
	cfg.GetCertificate = s.GetCertificate
	if cfg.ClientCAs != nil {
		return cfg
	}
	switch cfg.ClientAuth {
	case tls.RequireAndVerifyClientCert:
		cfg.ClientAuth = tls.RequireAnyClientCert
	case tls.VerifyClientCertIfGiven:
		cfg.ClientAuth = tls.RequestClientCert
	default:
		return cfg // no client certificate is verified
	}
	required := cfg.ClientAuth == tls.RequireAnyClientCert
	next := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if required || len(cs.PeerCertificates) > 0 {
			if err := s.verify(cs.PeerCertificates, "", clientAuth, nil); err != nil {
				return err
			}
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
	return cfg
}

// ClientTLSConfig returns a client tls.Config that presents s's current
// certificate when the server asks for one (GetClientCertificate) and
// verifies the server's certificate against s's CA pool as it is at each
// handshake: chain, server-auth usage, validity, and the host name.
//
// base is cloned; nil means &tls.Config{MinVersion: tls.VersionTLS12}.
// With base.RootCAs set, the server is verified against that static pool
// instead. Otherwise the returned config has InsecureSkipVerify set —
// only so that crypto/tls leaves the verification to the config's
// VerifyConnection, which does it in full — so keep VerifyConnection when
// copying the config. The host name checked is the one the client sends in
// SNI; IP addresses are never sent in SNI, so to reach a server by IP
// address set base.ServerName to it (a handshake with no name to check
// fails). base.VerifyConnection, if any, runs after the check.
// base.Certificates and base.GetClientCertificate are replaced.
func (s *Source) ClientTLSConfig(base *tls.Config) *tls.Config {
	var cfg *tls.Config
	if base == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		cfg = base.Clone()
	}
	cfg.Certificates = nil
	cfg.GetClientCertificate = s.GetClientCertificate
	roots := cfg.RootCAs
	if roots != nil && !cfg.InsecureSkipVerify {
		return cfg // crypto/tls verifies against the caller's pool
	}
	// Verification is never skipped: with the caller's pool or ours, it is
	// done here.
	cfg.InsecureSkipVerify = true
	name := cfg.ServerName
	next := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		host := cs.ServerName
		if host == "" {
			host = name
		}
		if host == "" {
			return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates,
				Err: errors.New("pkisecrets: no server name to verify the server's certificate against: connect by host name, or set ServerName in the base tls.Config (IP addresses are not sent in SNI)")}
		}
		if err := s.verify(cs.PeerCertificates, host, serverAuth, roots); err != nil {
			return err
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
	return cfg
}

// verify checks that certs[0] chains to roots (nil: the Source's current
// pool, refreshed once when the authority is unknown), is valid now, has
// the usage, and when dnsName is set, is for that name. Errors are what
// crypto/tls's own verification returns: a
// *tls.CertificateVerificationError.
func (s *Source) verify(certs []*x509.Certificate, dnsName string, usage []x509.ExtKeyUsage, roots *x509.CertPool) error {
	if len(certs) == 0 {
		return &tls.CertificateVerificationError{Err: errors.New("pkisecrets: the peer sent no certificate")}
	}
	dynamic := roots == nil
	if dynamic {
		roots = s.cas.Load().pool
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: dnsName, KeyUsages: usage}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	_, err := certs[0].Verify(opts)
	if err != nil && dynamic {
		if _, unknown := errors.AsType[x509.UnknownAuthorityError](err); unknown && s.awaitCARefresh(caWait) {
			if p := s.cas.Load().pool; p != roots {
				opts.Roots = p
				_, err = certs[0].Verify(opts)
			}
		}
	}
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}

// ServerTLSConfig is New followed by Source.ServerTLSConfig(nil): a mutual
// TLS server config with a certificate for role. Close the Source when the
// server is done.
func ServerTLSConfig(ctx context.Context, ci driver.CertIssuer, role string, opts *Options) (*tls.Config, *Source, error) {
	s, err := New(ctx, ci, role, opts)
	if err != nil {
		return nil, nil, err
	}
	return s.ServerTLSConfig(nil), s, nil
}

// ClientTLSConfig is New followed by Source.ClientTLSConfig(nil): a client
// config that presents a certificate for role and verifies servers against
// the mount's CAs. Close the Source when the client is done.
func ClientTLSConfig(ctx context.Context, ci driver.CertIssuer, role string, opts *Options) (*tls.Config, *Source, error) {
	s, err := New(ctx, ci, role, opts)
	if err != nil {
		return nil, nil, err
	}
	return s.ClientTLSConfig(nil), s, nil
}
