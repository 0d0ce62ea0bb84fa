package hashivault

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// pkiMountFor mounts a PKI engine with a root CA and the roles "web"
// (names under example.test, localhost, IP and spiffe URI SANs), "signer"
// (key_type any: sign only) and "nostore" (no_store), and returns its path.
func pkiMountFor(t *testing.T, srv *vaulttest.Server) string {
	t.Helper()
	mount := unique("pki")
	srv.EnablePKI(t, mount,
		vaulttest.PKIRole{Name: "web", AllowedDomains: "example.test", AllowSubdomains: true,
			AllowedURISANs: "spiffe://example.test/*", TTL: "1h", MaxTTL: "2h", KeyType: "ec", KeyBits: 256},
		vaulttest.PKIRole{Name: "signer", AllowedDomains: "example.test", AllowSubdomains: true, KeyType: "any", TTL: "1h"},
		vaulttest.PKIRole{Name: "nostore", AllowedDomains: "example.test", AllowSubdomains: true, NoStore: true, KeyType: "ec", KeyBits: 256},
	)
	return mount
}

func parseIssued(t *testing.T, c *driver.IssuedCert) (*x509.Certificate, []*x509.Certificate) {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate)
	if err != nil {
		t.Fatalf("leaf: %v", err)
	}
	var chain []*x509.Certificate
	for _, d := range c.Chain {
		ca, err := x509.ParseCertificate(d)
		if err != nil {
			t.Fatalf("chain: %v", err)
		}
		chain = append(chain, ca)
	}
	return leaf, chain
}

func TestPKIIssueCert(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	mount := pkiMountFor(t, srv)
	b := rootBackend(t, srv, nil)
	ctx := ctxT(t, 30*time.Second)

	req := &driver.CertRequest{
		CommonName: "a.example.test",
		AltNames:   []string{"b.example.test"},
		IPSANs:     []string{"127.0.0.1", "::1"},
		URISANs:    []string{"spiffe://example.test/web"},
		TTL:        90 * time.Second,
	}
	before := time.Now()
	c, err := b.IssueCert(ctx, mount, "web", req)
	if err != nil {
		t.Fatalf("IssueCert: %v", err)
	}
	leaf, chain := parseIssued(t, c)
	if got, want := leaf.Subject.CommonName, "a.example.test"; got != want {
		t.Errorf("CN = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"a.example.test", "b.example.test"}, slices.Sorted(slices.Values(leaf.DNSNames))); diff != "" {
		t.Errorf("DNS SANs (-want +got):\n%s", diff)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if diff := cmp.Diff([]string{"127.0.0.1", "::1"}, ips); diff != "" {
		t.Errorf("IP SANs (-want +got):\n%s", diff)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://example.test/web" {
		t.Errorf("URI SANs = %v, want [spiffe://example.test/web]", leaf.URIs)
	}
	// The TTL is counted from the issue (Vault backdates only NotBefore).
	if d := leaf.NotAfter.Sub(before); d < 85*time.Second || d > 95*time.Second {
		t.Errorf("NotAfter - now = %v, want 90s (±5s)", d)
	}
	// A TTL above the role's max_ttl is capped, not refused.
	capped, err := b.IssueCert(ctx, mount, "web", &driver.CertRequest{CommonName: "a.example.test", TTL: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatalf("IssueCert with a TTL above max_ttl: %v", err)
	}
	if l, _ := parseIssued(t, capped); l.NotAfter.Sub(before) > 2*time.Hour+time.Minute {
		t.Errorf("TTL above max_ttl: NotAfter - now = %v, want the role's max_ttl 2h", l.NotAfter.Sub(before))
	}
	if len(chain) == 0 || !chain[0].IsCA {
		t.Fatalf("chain = %d certificates, want the issuing CA first", len(chain))
	}
	key, err := x509.ParsePKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatalf("private key is not PKCS #8: %v", err)
	}
	if !key.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
		t.Error("the private key does not match the certificate")
	}

	// The certificate chains to the mount's CAs.
	cas, err := b.CACerts(ctx, mount)
	if err != nil {
		t.Fatalf("CACerts: %v", err)
	}
	pool := x509.NewCertPool()
	for _, d := range cas {
		ca, err := x509.ParseCertificate(d)
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(ca)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "b.example.test", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("Verify against CACerts: %v", err)
	}
}

func TestPKISignCSR(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	mount := pkiMountFor(t, srv)
	b := rootBackend(t, srv, nil)
	ctx := ctxT(t, 30*time.Second)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "s.example.test"},
		DNSNames:    []string{"s.example.test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"signer", "web"} {
		c, err := b.SignCSR(ctx, mount, role, csr, &driver.CertRequest{CommonName: "s.example.test", IPSANs: []string{"127.0.0.1"}, TTL: time.Minute})
		if err != nil {
			t.Fatalf("SignCSR(%s): %v", role, err)
		}
		if c.PrivateKey != nil {
			t.Errorf("SignCSR(%s) returned a private key", role)
		}
		leaf, _ := parseIssued(t, c)
		if !key.PublicKey.Equal(leaf.PublicKey) {
			t.Errorf("SignCSR(%s): the certificate is not for the CSR's key", role)
		}
		if leaf.Subject.CommonName != "s.example.test" {
			t.Errorf("SignCSR(%s): CN = %q", role, leaf.Subject.CommonName)
		}
	}
}

func TestPKIErrors(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	mount := pkiMountFor(t, srv)
	b := rootBackend(t, srv, nil)
	srv.WritePolicy(t, "pki-sign-only-"+mount, `path "`+mount+`/sign/web" { capabilities = ["update"] }`)
	signOnly := rootBackend(t, srv, &Options{Token: srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"pki-sign-only-" + mount}})})
	ctx := ctxT(t, 30*time.Second)
	ok := &driver.CertRequest{CommonName: "a.example.test"}
	issued, err := b.IssueCert(ctx, mount, "web", ok)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		call func() error
		want driver.Code
	}{
		{"unknown role", func() error { _, err := b.IssueCert(ctx, mount, "nope", ok); return err }, driver.NotFound},
		{"unknown role sign", func() error { _, err := b.SignCSR(ctx, mount, "nope", []byte{1}, ok); return err }, driver.NotFound},
		{"unknown mount", func() error { _, err := b.IssueCert(ctx, "no-such-pki", "web", ok); return err }, driver.NotFound},
		{"name not allowed", func() error {
			_, err := b.IssueCert(ctx, mount, "web", &driver.CertRequest{CommonName: "evil.example.com"})
			return err
		}, driver.InvalidArgument},
		{"sign-only role cannot issue", func() error { _, err := b.IssueCert(ctx, mount, "signer", ok); return err }, driver.InvalidArgument},
		{"bad csr", func() error { _, err := b.SignCSR(ctx, mount, "web", []byte("garbage"), ok); return err }, driver.InvalidArgument},
		{"issue not permitted", func() error { _, err := signOnly.IssueCert(ctx, mount, "web", ok); return err }, driver.PermissionDenied},
		{"revoke not permitted", func() error { return signOnly.RevokeCert(ctx, mount, issued.Certificate) }, driver.PermissionDenied},
		{"revoke garbage", func() error { return b.RevokeCert(ctx, mount, []byte("garbage")) }, driver.InvalidArgument},
		{"role with a slash", func() error { _, err := b.IssueCert(ctx, mount, "web/../x", ok); return err }, driver.InvalidArgument},
		{"empty role", func() error { _, err := b.IssueCert(ctx, mount, "", ok); return err }, driver.InvalidArgument},
		{"mount with ..", func() error { _, err := b.CACerts(ctx, "pki/../sys"); return err }, driver.InvalidArgument},
		{"empty mount", func() error { return b.RevokeCert(ctx, "/", []byte{1}) }, driver.InvalidArgument},
		{"empty csr", func() error { _, err := b.SignCSR(ctx, mount, "web", nil, ok); return err }, driver.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := driver.CodeOf(err); got != tt.want {
				t.Errorf("code = %v, want %v (err: %v)", got, tt.want, err)
			}
		})
	}
}

func TestPKICACertsFollowRotation(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	mount := pkiMountFor(t, srv)
	b := rootBackend(t, srv, nil)
	ctx := ctxT(t, 30*time.Second)

	first, err := b.CACerts(ctx, mount)
	if err != nil {
		t.Fatalf("CACerts: %v", err)
	}
	if len(first) != 1 {
		t.Fatalf("CACerts = %d certificates, want 1", len(first))
	}
	srv.PKINewRoot(t, mount, mount+"-root-2", true)
	second, err := b.CACerts(ctx, mount)
	if err != nil {
		t.Fatalf("CACerts: %v", err)
	}
	if len(second) != 2 {
		t.Fatalf("after a new root: CACerts = %d certificates, want 2", len(second))
	}
	def, err := x509.ParseCertificate(second[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := def.Subject.CommonName, "vaulttest "+mount+"-root-2"; got != want {
		t.Errorf("first CA = %q, want the new default %q", got, want)
	}
	if !bytes.Equal(second[1], first[0]) {
		t.Error("the old root is no longer listed")
	}
	// New certificates come from the new default, with its chain.
	c, err := b.IssueCert(ctx, mount, "web", &driver.CertRequest{CommonName: "a.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, chain := parseIssued(t, c); chain[0].Subject.CommonName != def.Subject.CommonName {
		t.Errorf("issued by %q, want %q", chain[0].Subject.CommonName, def.Subject.CommonName)
	}
}

func TestPKIRevokeCert(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	mount := pkiMountFor(t, srv)
	b := rootBackend(t, srv, nil)
	ctx := ctxT(t, 30*time.Second)

	for _, role := range []string{"web", "nostore"} {
		c, err := b.IssueCert(ctx, mount, role, &driver.CertRequest{CommonName: role + ".example.test"})
		if err != nil {
			t.Fatalf("IssueCert(%s): %v", role, err)
		}
		leaf, _ := parseIssued(t, c)
		serial := driver.FormatSerial(leaf)
		if err := b.RevokeCert(ctx, mount, c.Certificate); err != nil {
			t.Fatalf("RevokeCert(%s): %v", role, err)
		}
		if !srv.PKIRevoked(t, mount)[serial] {
			t.Errorf("%s: serial %s is not in %s/certs/revoked", role, serial, mount)
		}
		if err := b.RevokeCert(ctx, mount, c.Certificate); err != nil {
			t.Errorf("RevokeCert(%s) again: %v, want nil", role, err)
		}
	}
}

func TestPKIIssuedCertNeverPrintsKey(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	mount := pkiMountFor(t, srv)
	b := rootBackend(t, srv, nil)
	c, err := b.IssueCert(ctxT(t, 30*time.Second), mount, "web", &driver.CertRequest{CommonName: "a.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := key.(*ecdsa.PrivateKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	d := new(big.Int).SetBytes(raw)
	for _, s := range []string{d.String(), d.Text(16), base64.StdEncoding.EncodeToString(c.PrivateKey)[:40]} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
			for _, v := range []any{c, *c} {
				if out := fmt.Sprintf(verb, v); bytes.Contains([]byte(out), []byte(s)) {
					t.Errorf("Sprintf(%s, IssuedCert) shows the key", verb)
				}
			}
		}
	}
}
