package drivertest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/drivertest"
	"github.com/vaultly/vaultly/memsecrets"
)

var _ drivertest.CertHarness = (*harness)(nil)

func (h *harness) CertRole(context.Context) (string, string, error) {
	mount := fmt.Sprintf("pki%d", roleSeq.Add(1))
	h.mem.SetPKIRole(mount, "web", memsecrets.PKIRole{TTL: time.Hour, MaxTTL: time.Hour})
	return mount, "web", nil
}

// The suite must fail certificate issuers that break the contract.
func init() {
	broken["CertIssue"] = func(m *memsecrets.Backend) driver.Backend { return wrongKey{m} }
	broken["CertSign"] = func(m *memsecrets.Backend) driver.Backend { return ignoresCSR{m} }
	broken["CertUnknownRole"] = func(m *memsecrets.Backend) driver.Backend { return unknownRoleIsInvalid{m} }
}

// wrongKey returns a private key that is not the certificate's.
type wrongKey struct{ *memsecrets.Backend }

func (b wrongKey) IssueCert(ctx context.Context, mount, role string, req *driver.CertRequest) (*driver.IssuedCert, error) {
	c, err := b.Backend.IssueCert(ctx, mount, role, req)
	if err == nil {
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		c.PrivateKey, _ = x509.MarshalPKCS8PrivateKey(other)
	}
	return c, err
}

// ignoresCSR signs a CSR of its own key instead of the caller's.
type ignoresCSR struct{ *memsecrets.Backend }

func (b ignoresCSR) SignCSR(ctx context.Context, mount, role string, _ []byte, req *driver.CertRequest) (*driver.IssuedCert, error) {
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: req.CommonName}}, other)
	return b.Backend.SignCSR(ctx, mount, role, csr, req)
}

// unknownRoleIsInvalid answers an unknown role with InvalidArgument, as
// Vault's raw 400 would be mapped.
type unknownRoleIsInvalid struct{ *memsecrets.Backend }

func (b unknownRoleIsInvalid) IssueCert(ctx context.Context, mount, role string, req *driver.CertRequest) (*driver.IssuedCert, error) {
	c, err := b.Backend.IssueCert(ctx, mount, role, req)
	if driver.CodeOf(err) == driver.NotFound {
		return nil, driver.NewError(driver.InvalidArgument, err)
	}
	return c, err
}
