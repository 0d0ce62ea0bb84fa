package drivertest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/vaultly/vaultly/driver"
)

// CertHarness is implemented by the Harness of a backend that implements
// driver.CertIssuer.
type CertHarness interface {
	// CertRole makes a PKI mount with a CA and a role on it, and returns
	// them. The role allows names under "conformance.test" (subdomains),
	// IP SANs, TTLs up to an hour, and ECDSA P-256 keys both for IssueCert
	// and for SignCSR.
	CertRole(ctx context.Context) (mount, role string, err error)
}

// certIssuer returns b as a driver.CertIssuer with its mount and role, or
// skips.
func certIssuer(t *testing.T, h Harness, b driver.Backend) (ci driver.CertIssuer, mount, role string) {
	t.Helper()
	ci, ok := b.(driver.CertIssuer)
	if !ok {
		t.Skipf("%T does not implement driver.CertIssuer", b)
	}
	ch, ok := h.(CertHarness)
	if !ok {
		t.Fatalf("%T implements driver.CertIssuer but the harness %T is no drivertest.CertHarness", b, h)
	}
	mount, role, err := ch.CertRole(t.Context())
	if err != nil {
		t.Fatalf("harness CertRole: %v", err)
	}
	return ci, mount, role
}

// caPool reads the mount's CA certificates into a pool.
func caPool(t *testing.T, ci driver.CertIssuer, mount string) *x509.CertPool {
	t.Helper()
	ders, err := ci.CACerts(t.Context(), mount)
	if err != nil {
		t.Fatalf("CACerts(%q): %v", mount, err)
	}
	if len(ders) == 0 {
		t.Fatalf("CACerts(%q) is empty", mount)
	}
	pool := x509.NewCertPool()
	for i, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			t.Fatalf("CACerts(%q)[%d] does not parse: %v", mount, i, err)
		}
		if !c.IsCA {
			t.Errorf("CACerts(%q)[%d] (%s) is not a CA", mount, i, c.Subject)
		}
		pool.AddCert(c)
	}
	return pool
}

// checkIssued parses c and checks it against req and the mount's CAs.
func checkIssued(t *testing.T, what string, c *driver.IssuedCert, req *driver.CertRequest, pool *x509.CertPool, before time.Time) *x509.Certificate {
	t.Helper()
	if c == nil {
		t.Fatalf("%s = nil", what)
	}
	leaf, err := x509.ParseCertificate(c.Certificate)
	if err != nil {
		t.Fatalf("%s: the certificate does not parse: %v", what, err)
	}
	if leaf.Subject.CommonName != req.CommonName {
		t.Errorf("%s: CN = %q, want %q", what, leaf.Subject.CommonName, req.CommonName)
	}
	for _, n := range req.AltNames {
		if !slices.Contains(leaf.DNSNames, n) {
			t.Errorf("%s: DNS SANs %v lack %q", what, leaf.DNSNames, n)
		}
	}
	for _, ip := range req.IPSANs {
		if !slices.ContainsFunc(leaf.IPAddresses, func(a net.IP) bool { return a.Equal(net.ParseIP(ip)) }) {
			t.Errorf("%s: IP SANs %v lack %s", what, leaf.IPAddresses, ip)
		}
	}
	if d := leaf.NotAfter.Sub(before); d <= 0 || d > req.TTL+2*time.Second {
		t.Errorf("%s: NotAfter is %v after the request, want at most the TTL %v", what, d, req.TTL)
	}
	if !leaf.NotBefore.Before(time.Now().Add(time.Second)) {
		t.Errorf("%s: NotBefore %v is in the future", what, leaf.NotBefore)
	}
	if len(c.Chain) == 0 {
		t.Errorf("%s: no CA chain", what)
	}
	inter := x509.NewCertPool()
	for i, d := range c.Chain {
		ca, err := x509.ParseCertificate(d)
		if err != nil {
			t.Fatalf("%s: chain[%d] does not parse: %v", what, i, err)
		}
		inter.AddCert(ca)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: req.CommonName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("%s: the certificate does not verify against CACerts as a server certificate: %v", what, err)
	}
	return leaf
}

var conformanceCert = driver.CertRequest{
	CommonName: "a.conformance.test",
	AltNames:   []string{"b.conformance.test"},
	IPSANs:     []string{"127.0.0.1"},
	TTL:        2 * time.Minute,
}

func testCertIssue(t *testing.T, h Harness, b driver.Backend) {
	ci, mount, role := certIssuer(t, h, b)
	pool := caPool(t, ci, mount)
	req := conformanceCert
	before := time.Now()
	c, err := ci.IssueCert(t.Context(), mount, role, &req)
	if err != nil {
		t.Fatalf("IssueCert: %v", err)
	}
	leaf := checkIssued(t, "IssueCert", c, &req, pool, before)
	key, err := x509.ParsePKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatalf("IssueCert: PrivateKey is not PKCS #8: %v", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok || !s.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
		t.Error("IssueCert: PrivateKey is not the certificate's key")
	}
	c2, err := ci.IssueCert(t.Context(), mount, role, &req)
	if err != nil {
		t.Fatalf("second IssueCert: %v", err)
	}
	if l2 := checkIssued(t, "second IssueCert", c2, &req, pool, before); l2.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("two IssueCert calls returned the same serial number")
	}
}

func testCertSign(t *testing.T, h Harness, b driver.Backend) {
	ci, mount, role := certIssuer(t, h, b)
	pool := caPool(t, ci, mount)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	req := conformanceCert
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: req.CommonName}, DNSNames: req.AltNames, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	c, err := ci.SignCSR(t.Context(), mount, role, csr, &req)
	if err != nil {
		t.Fatalf("SignCSR: %v", err)
	}
	leaf := checkIssued(t, "SignCSR", c, &req, pool, before)
	if !key.PublicKey.Equal(leaf.PublicKey) {
		t.Error("SignCSR: the certificate is not for the CSR's key")
	}
	if c.PrivateKey != nil {
		t.Error("SignCSR returned a private key")
	}
	if _, err := ci.SignCSR(t.Context(), mount, role, []byte("not a csr"), &req); err == nil {
		t.Error("SignCSR of garbage = nil error")
	} else {
		wantCode(t, "SignCSR of garbage", err, driver.InvalidArgument)
	}
}

func testCertRevoke(t *testing.T, h Harness, b driver.Backend) {
	ci, mount, role := certIssuer(t, h, b)
	req := conformanceCert
	c, err := ci.IssueCert(t.Context(), mount, role, &req)
	if err != nil {
		t.Fatalf("IssueCert: %v", err)
	}
	for i := range 2 {
		if err := ci.RevokeCert(t.Context(), mount, c.Certificate); err != nil {
			t.Errorf("RevokeCert #%d = %v, want nil (revoking twice is fine)", i+1, err)
		}
	}
	wantCode(t, "RevokeCert of garbage", ci.RevokeCert(t.Context(), mount, []byte("not a certificate")), driver.InvalidArgument)
}

func testCertUnknownRole(t *testing.T, h Harness, b driver.Backend) {
	ci, mount, _ := certIssuer(t, h, b)
	req := conformanceCert
	_, err := ci.IssueCert(t.Context(), mount, "no-such-role", &req)
	wantCode(t, "IssueCert of an unknown role", err, driver.NotFound)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: req.CommonName}}, key)
	_, err = ci.SignCSR(t.Context(), mount, "no-such-role", csr, &req)
	wantCode(t, "SignCSR of an unknown role", err, driver.NotFound)
}

func testCertCanceled(t *testing.T, h Harness, b driver.Backend) {
	ci, mount, role := certIssuer(t, h, b)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := conformanceCert
	_, err := ci.IssueCert(ctx, mount, role, &req)
	wantCode(t, "IssueCert with a cancelled context", err, driver.Canceled)
	_, err = ci.CACerts(ctx, mount)
	wantCode(t, "CACerts with a cancelled context", err, driver.Canceled)
}
