package memsecrets

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vaultly/vaultly/driver"
)

// A fake PKI engine (driver.CertIssuer), so that code using certificates
// from Vault (package pkisecrets) is testable without Vault, under
// testing/synctest too: certificates follow time.Now. Each mount has one
// or more self-signed ECDSA P-256 root CAs, one of them the default that
// signs; names are not checked against the role. NotBefore is backdated by
// 30s, as Vault does.

// Ops of the certificate requests, recorded in Call.Op. Call.Path is
// "MOUNT/issue/ROLE", "MOUNT/sign/ROLE", or MOUNT for the others.
const (
	OpCertIssue  = "cert issue"  // IssueCert
	OpCertSign   = "cert sign"   // SignCSR
	OpCACerts    = "ca certs"    // CACerts
	OpCertRevoke = "cert revoke" // RevokeCert
)

var _ driver.CertIssuer = (*Backend)(nil)

// PKIRole is a role of a fake PKI mount.
type PKIRole struct {
	// TTL is the lifetime of a certificate whose request asks for none.
	// Default: 0, one hour.
	TTL time.Duration
	// MaxTTL caps every lifetime (Vault caps, it does not refuse). Default:
	// 0, no cap but the CA's own end.
	MaxTTL time.Duration
	// SignOnly makes IssueCert fail with InvalidArgument, like a Vault role
	// whose key_type is "any". Default false.
	SignOnly bool
}

type pkiMount struct {
	cas     []*memCA // cas[0] is the default issuer
	roles   map[string]PKIRole
	revoked []string // serials, in order
	issued  map[string]bool
}

type memCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// SetPKIRole creates or replaces role name of the PKI mount, creating the
// mount with a new root CA when it does not exist yet.
func (b *Backend) SetPKIRole(mount, name string, r PKIRole) {
	mount = strings.Trim(mount, "/")
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.pkiMountLocked(mount)
	m.roles[name] = r
}

// NewCA adds a new root CA to the PKI mount (creating the mount if
// needed) and returns its certificate. With makeDefault it signs every
// certificate from now on; the previous CAs stay listed by CACerts, as
// Vault keeps old issuers until an operator deletes them.
func (b *Backend) NewCA(mount string, makeDefault bool) *x509.Certificate {
	mount = strings.Trim(mount, "/")
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.pkiMountLocked(mount)
	ca := newMemCA(mount, len(m.cas)+1)
	if makeDefault {
		m.cas = append([]*memCA{ca}, m.cas...)
	} else {
		m.cas = append(m.cas, ca)
	}
	return ca.cert
}

// RemoveCA deletes the CA whose certificate is ca from the mount; it is no
// longer listed and no longer signs. It reports whether it was there.
func (b *Backend) RemoveCA(mount string, ca *x509.Certificate) bool {
	mount = strings.Trim(mount, "/")
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.pki[mount]
	if !ok {
		return false
	}
	for i, c := range m.cas {
		if c.cert.Equal(ca) {
			m.cas = append(m.cas[:i], m.cas[i+1:]...)
			return true
		}
	}
	return false
}

// RevokedCerts returns the serial numbers ("1f:0a:...") revoked in the
// mount, in order.
func (b *Backend) RevokedCerts(mount string) []string {
	mount = strings.Trim(mount, "/")
	b.mu.Lock()
	defer b.mu.Unlock()
	if m, ok := b.pki[mount]; ok {
		return append([]string(nil), m.revoked...)
	}
	return nil
}

// pkiMountLocked returns the mount, creating it with one CA. b.mu is held.
func (b *Backend) pkiMountLocked(mount string) *pkiMount {
	if b.pki == nil {
		b.pki = map[string]*pkiMount{}
	}
	m, ok := b.pki[mount]
	if !ok {
		m = &pkiMount{roles: map[string]PKIRole{}, issued: map[string]bool{}}
		m.cas = []*memCA{newMemCA(mount, 1)}
		b.pki[mount] = m
	}
	return m
}

func newMemCA(mount string, n int) *memCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("memsecrets: generating a CA key: " + err.Error())
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "memsecrets " + mount + " root " + strconv.Itoa(n)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic("memsecrets: creating a CA: " + err.Error())
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic("memsecrets: parsing a CA: " + err.Error())
	}
	return &memCA{cert: cert, key: key}
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("memsecrets: serial: " + err.Error())
	}
	return n.Add(n, big.NewInt(1))
}

// IssueCert generates an ECDSA P-256 key and a certificate for it signed by
// the mount's default CA (driver.CertIssuer). An unknown mount or role is
// NotFound; a SignOnly role is InvalidArgument.
func (b *Backend) IssueCert(ctx context.Context, mount, role string, req *driver.CertRequest) (*driver.IssuedCert, error) {
	mount = strings.Trim(mount, "/")
	if err := b.begin(ctx, Call{Op: OpCertIssue, Path: mount + "/issue/" + role}); err != nil {
		return nil, err
	}
	r, err := b.pkiRole(mount, role)
	if err != nil {
		return nil, err
	}
	if r.SignOnly {
		return nil, driver.NewError(driver.InvalidArgument, errors.New("role "+role+" only signs"))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, driver.NewError(driver.Unknown, err)
	}
	c, err := b.signPKI(mount, r, req, &key.PublicKey)
	if err != nil {
		return nil, err
	}
	if c.PrivateKey, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
		return nil, driver.NewError(driver.Unknown, errors.New("encoding the key"))
	}
	return c, nil
}

// SignCSR signs csr with the mount's default CA (driver.CertIssuer). The
// subject and SANs come from req; the key from csr, whose signature must
// be valid (else InvalidArgument).
func (b *Backend) SignCSR(ctx context.Context, mount, role string, csr []byte, req *driver.CertRequest) (*driver.IssuedCert, error) {
	mount = strings.Trim(mount, "/")
	if err := b.begin(ctx, Call{Op: OpCertSign, Path: mount + "/sign/" + role}); err != nil {
		return nil, err
	}
	r, err := b.pkiRole(mount, role)
	if err != nil {
		return nil, err
	}
	cr, err := x509.ParseCertificateRequest(csr)
	if err != nil {
		return nil, driver.NewError(driver.InvalidArgument, errors.New("cannot parse the certificate signing request"))
	}
	if err := cr.CheckSignature(); err != nil {
		return nil, driver.NewError(driver.InvalidArgument, errors.New("the certificate signing request's signature is invalid"))
	}
	return b.signPKI(mount, r, req, cr.PublicKey)
}

// CACerts returns the certificates of the mount's CAs, the default first
// (driver.CertIssuer).
func (b *Backend) CACerts(ctx context.Context, mount string) ([][]byte, error) {
	mount = strings.Trim(mount, "/")
	if err := b.begin(ctx, Call{Op: OpCACerts, Path: mount}); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.pki[mount]
	if !ok || len(m.cas) == 0 {
		return nil, driver.NewError(driver.NotFound, errors.New("no pki mount "+mount))
	}
	out := make([][]byte, len(m.cas))
	for i, ca := range m.cas {
		out[i] = ca.cert.Raw
	}
	return out, nil
}

// RevokeCert records cert's serial as revoked (driver.CertIssuer). A
// certificate the mount did not issue is InvalidArgument; one already
// revoked or expired is fine.
func (b *Backend) RevokeCert(ctx context.Context, mount string, cert []byte) error {
	mount = strings.Trim(mount, "/")
	if err := b.begin(ctx, Call{Op: OpCertRevoke, Path: mount}); err != nil {
		return err
	}
	c, err := x509.ParseCertificate(cert)
	if err != nil {
		return driver.NewError(driver.InvalidArgument, errors.New("cannot parse the certificate to revoke"))
	}
	serial := driver.FormatSerial(c)
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.pki[mount]
	if !ok {
		return driver.NewError(driver.NotFound, errors.New("no pki mount "+mount))
	}
	if !m.issued[serial] {
		return driver.NewError(driver.InvalidArgument, errors.New("certificate "+serial+" was not issued by "+mount))
	}
	for _, s := range m.revoked {
		if s == serial {
			return nil
		}
	}
	if time.Now().Before(c.NotAfter) {
		m.revoked = append(m.revoked, serial)
	}
	return nil
}

func (b *Backend) pkiRole(mount, role string) (PKIRole, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.pki[mount]
	if !ok {
		return PKIRole{}, driver.NewError(driver.NotFound, errors.New("no pki mount "+mount))
	}
	r, ok := m.roles[role]
	if !ok {
		return PKIRole{}, driver.NewError(driver.NotFound, errors.New("unknown role: "+role))
	}
	return r, nil
}

// signPKI makes a certificate for pub from req and r, signed by the
// mount's default CA.
func (b *Backend) signPKI(mount string, r PKIRole, req *driver.CertRequest, pub crypto.PublicKey) (*driver.IssuedCert, error) {
	if req == nil {
		req = &driver.CertRequest{}
	}
	ttl := req.TTL
	if ttl <= 0 {
		ttl = r.TTL
	}
	if ttl <= 0 {
		ttl = time.Hour
	}
	if r.MaxTTL > 0 {
		ttl = min(ttl, r.MaxTTL)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: req.CommonName},
		NotBefore:    now.Add(-30 * time.Second),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if req.CommonName != "" && !strings.Contains(req.CommonName, "@") {
		tmpl.DNSNames = append(tmpl.DNSNames, req.CommonName)
	}
	for _, n := range req.AltNames {
		if strings.Contains(n, "@") {
			tmpl.EmailAddresses = append(tmpl.EmailAddresses, n)
		} else if n != req.CommonName {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	for _, s := range req.IPSANs {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, driver.NewError(driver.InvalidArgument, errors.New("ip_sans: "+strconv.Quote(s)+" is not an IP address"))
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	}
	for _, s := range req.URISANs {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			return nil, driver.NewError(driver.InvalidArgument, errors.New("uri_sans: "+strconv.Quote(s)+" is not a URI"))
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	b.mu.Lock()
	m := b.pki[mount]
	if len(m.cas) == 0 {
		b.mu.Unlock()
		return nil, driver.NewError(driver.InvalidArgument, errors.New(mount+" has no issuer"))
	}
	ca := m.cas[0]
	b.mu.Unlock()
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, driver.NewError(driver.InvalidArgument, errors.New("cannot create the certificate: "+err.Error()))
	}
	b.mu.Lock()
	m.issued[driver.FormatSerial(tmpl)] = true
	b.mu.Unlock()
	return &driver.IssuedCert{Certificate: der, Chain: [][]byte{ca.cert.Raw}}, nil
}
