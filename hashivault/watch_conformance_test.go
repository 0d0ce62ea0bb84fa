package hashivault_test

import (
	"context"
	"errors"

	"github.com/vaultly/vaultly/drivertest"
)

var _ drivertest.VersionHarness = (*harness)(nil)

// DeleteLatest soft-deletes the latest version with the Vault API, as
// `vault kv delete` does.
func (h *harness) DeleteLatest(ctx context.Context, path string) error {
	if h.version != 2 {
		return errors.New("kv v1 has no soft delete")
	}
	return h.c.KVv2(h.mount).Delete(ctx, path)
}

// DestroyLatest destroys the latest version, as `vault kv destroy` does.
func (h *harness) DestroyLatest(ctx context.Context, path string) error {
	if h.version != 2 {
		return errors.New("kv v1 has no destroy")
	}
	md, err := h.c.KVv2(h.mount).GetMetadata(ctx, path)
	if err != nil {
		return err
	}
	return h.c.KVv2(h.mount).Destroy(ctx, path, []int{md.CurrentVersion})
}
