package hashivault_test

import (
	"context"
	"fmt"

	"github.com/vaultly/vaultly/drivertest"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

var _ drivertest.CertHarness = (*harness)(nil)

// CertRole mounts a PKI engine with a root CA and a role for names under
// conformance.test (EC P-256 keys, up to 1h).
func (h *harness) CertRole(context.Context) (string, string, error) {
	mount := fmt.Sprintf("conf-pki-%d", mountSeq.Add(1))
	h.srv.EnablePKI(h.t, mount, vaulttest.PKIRole{Name: "web", AllowedDomains: "conformance.test", AllowSubdomains: true,
		TTL: "1h", MaxTTL: "1h", KeyType: "ec", KeyBits: 256})
	return mount, "web", nil
}
