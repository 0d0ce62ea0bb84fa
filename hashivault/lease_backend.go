package hashivault

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
)

var _ driver.Leaser = (*Backend)(nil)

// Lease issues the dynamic secret at path — a full Vault path such as
// "database/creds/app", not relative to the KV mount — and keeps it current
// until the returned watcher is closed:
//
//   - the lease is renewed at about 2/3 of what is left of it, with jitter
//     (the same schedule as the token, package renew);
//   - once a renewal cannot extend it (capped by the role's max TTL, or not
//     renewable), new credentials are issued at 2/3 of what is left, and the
//     old ones stay valid for the rest: they are retired (LeaseRetired,
//     MinValid) half way through that overlap and left to expire;
//   - a renewal answered "invalid lease ID", "lease not found" or "lease
//     expired" (revoked out of band, server state lost) retires the current
//     credentials and issues new ones at once, never renewing again;
//   - failed renewals are retried with jittered backoff bounded by the
//     lease's end, and replaced early when the last third of the lease is
//     reached.
//
// Requests go through Call: mapped errors, and one re-login when the
// backend's token has died. The watcher runs one goroutine that its Close
// stops and waits for; close every watcher before the Backend.
func (b *Backend) Lease(ctx context.Context, path string, opts *driver.LeaseOptions) (driver.LeaseWatcher, error) {
	return newLeaseWatcher(ctx, backendLeases{b}, path, b.Name(), opts, nil)
}

// backendLeases sends the watcher's requests through Backend.Call.
type backendLeases struct{ b *Backend }

func (l backendLeases) issue(ctx context.Context, path string) (*api.Secret, error) {
	var s *api.Secret
	err := l.b.Call(ctx, func(ctx context.Context, c *api.Client) error {
		var err error
		s, err = c.Logical().ReadWithContext(ctx, path)
		return err
	})
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, driver.NewError(driver.NotFound, errors.New("nothing at "+path))
	}
	return s, nil
}

func (l backendLeases) renew(ctx context.Context, leaseID string, increment time.Duration) (*api.Secret, error) {
	var s *api.Secret
	err := l.b.Call(ctx, func(ctx context.Context, c *api.Client) error {
		var err error
		s, err = c.Sys().RenewWithContext(ctx, leaseID, int(increment/time.Second))
		return err
	})
	if err == nil && s == nil {
		err = driver.NewError(driver.Unknown, errors.New("empty response to a lease renewal"))
	}
	return s, err
}

func (l backendLeases) revoke(ctx context.Context, leaseID string) error {
	return l.b.Call(ctx, func(ctx context.Context, c *api.Client) error {
		return c.Sys().RevokeWithContext(ctx, leaseID)
	})
}
