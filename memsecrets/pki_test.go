package memsecrets_test

import (
	"context"
	"fmt"
	"time"

	"github.com/vaultly/vaultly/drivertest"
	"github.com/vaultly/vaultly/memsecrets"
)

var _ drivertest.CertHarness = (*harness)(nil)

// CertRole makes a fake PKI mount with a role of 1h certificates.
func (h *harness) CertRole(context.Context) (string, string, error) {
	h.n++
	mount := fmt.Sprintf("pki%d", h.n)
	h.b.SetPKIRole(mount, "web", memsecrets.PKIRole{TTL: time.Hour, MaxTTL: time.Hour})
	return mount, "web", nil
}
