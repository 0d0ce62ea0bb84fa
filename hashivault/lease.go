package hashivault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
)

// The lease requests of dynamic secrets (driver.Leaser). The Backend only
// sends them, through Call (mapped errors, one re-login when the token has
// died); the schedule that renews, rotates and revokes runs in the portable
// layer (vaultly.OpenDynamic), which owns its goroutine.

var _ driver.Leaser = (*Backend)(nil)

// IssueLease reads the dynamic secret at path — a full Vault path such as
// "database/creds/app", not relative to the KV mount — and returns it with
// its lease (driver.Leaser). Nothing at path is NotFound (404, or an empty
// answer); an answer without a lease, such as a KV secret, is
// InvalidArgument.
func (b *Backend) IssueLease(ctx context.Context, path string) (*driver.Entry, error) {
	var s *api.Secret
	err := b.Call(withOp(ctx, opLeaseIssue), func(ctx context.Context, c *api.Client) error {
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
	if s.LeaseID == "" {
		return nil, driver.NewError(driver.InvalidArgument, errors.New("the secret at "+path+" has no lease"))
	}
	return &driver.Entry{
		Path:   path,
		Fields: leaseFields(s.Data),
		Lease:  &driver.Lease{ID: s.LeaseID, Duration: time.Duration(s.LeaseDuration) * time.Second, Renewable: s.Renewable},
	}, nil
}

// RenewLease asks Vault to extend the lease id by increment, rounded down to
// whole seconds (0: the lease's own duration), through sys/leases/renew
// (driver.Leaser). Vault grants less than asked near the role's max TTL.
// A lease Vault does not know any more ("invalid lease ID", "lease not
// found", "lease expired") is NotFound; one it cannot renew is
// InvalidArgument (as every 400 is).
func (b *Backend) RenewLease(ctx context.Context, id string, increment time.Duration) (*driver.Lease, error) {
	var s *api.Secret
	err := b.Call(withOp(ctx, opLeaseRenew), func(ctx context.Context, c *api.Client) error {
		var err error
		s, err = c.Sys().RenewWithContext(ctx, id, int(increment/time.Second))
		return err
	})
	if err != nil {
		if leaseGone(err) {
			if de, ok := err.(*driver.Error); ok {
				c := *de
				c.Code = driver.NotFound
				return nil, &c
			}
		}
		return nil, err
	}
	if s == nil {
		return nil, driver.NewError(driver.Malformed, errors.New("empty answer to a lease renewal"))
	}
	return &driver.Lease{ID: id, Duration: time.Duration(s.LeaseDuration) * time.Second, Renewable: s.Renewable}, nil
}

// RevokeLease revokes the lease id now through sys/leases/revoke
// (driver.Leaser); Vault answers success for a lease it does not know.
func (b *Backend) RevokeLease(ctx context.Context, id string) error {
	return b.Call(withOp(ctx, opLeaseRevoke), func(ctx context.Context, c *api.Client) error {
		return c.Sys().RevokeWithContext(ctx, id)
	})
}

// leaseGone reports whether a renewal failed because the lease no longer
// exists: Vault answers 400 "invalid lease ID", "lease not found" or
// "lease expired".
func leaseGone(err error) bool {
	re, ok := errors.AsType[*api.ResponseError](err)
	if !ok || re.StatusCode != 400 {
		return false
	}
	for _, e := range re.Errors {
		for _, s := range []string{"invalid lease", "lease not found", "lease expired"} {
			if strings.Contains(e, s) {
				return true
			}
		}
	}
	return false
}

// leaseFields turns the data of a dynamic secret into driver.Entry fields:
// strings as they are, every other JSON value as its compact JSON text.
func leaseFields(data map[string]any) map[string]string {
	out := make(map[string]string, len(data))
	for k, v := range data {
		switch v := v.(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		default:
			b, err := json.Marshal(v)
			if err != nil {
				out[k] = fmt.Sprint(v)
				continue
			}
			out[k] = string(b)
		}
	}
	return out
}
