package hashivault_test

import (
	"context"
	"fmt"
	"time"

	"github.com/vaultly/vaultly/drivertest"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

var _ drivertest.LeaseHarness = (*harness)(nil)

// LeasePath mounts the database secrets engine (on the harness's
// PostgreSQL) with one role of the given TTLs, and revokes every lease
// issued there when the subtest ends.
func (h *harness) LeasePath(ctx context.Context, ttl, maxTTL time.Duration) (string, error) {
	mount := fmt.Sprintf("conf-db-%d", mountSeq.Add(1))
	p := h.srv.ConfigureDatabase(h.t, h.pg, mount, vaulttest.DatabaseRole{
		Name:       "app",
		DefaultTTL: fmt.Sprintf("%ds", int(ttl/time.Second)),
		MaxTTL:     fmt.Sprintf("%ds", int(maxTTL/time.Second)),
	})
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.c.Sys().RevokePrefixWithContext(ctx, mount); err != nil {
			h.t.Errorf("revoking the leases under %s: %v", mount, err)
		}
	})
	return p, nil
}
