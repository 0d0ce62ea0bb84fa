package driver

import (
	"context"
	"time"
)

// Leaser is implemented by backends that issue dynamic secrets: entries
// created afresh by each issue and bound to a lease (database credentials,
// cloud keys, ...). It is three requests and nothing else: the backend runs
// no goroutine of its own. The portable layer (vaultly.OpenDynamic) owns the
// schedule — when to renew, when to issue a replacement, when to retire the
// old one, how to back off — and calls these methods from the goroutine it
// starts and stops.
//
// Errors are *Error values whose codes the schedule acts on:
//
//	NotFound         IssueLease: nothing at path. RenewLease: the lease no
//	                 longer exists (revoked, expired, forgotten by the
//	                 server); it is replaced at once and never renewed again.
//	InvalidArgument  IssueLease: what is at path has no lease. RenewLease:
//	                 the lease exists but cannot be extended; it is replaced
//	                 while it still works.
//	anything else    retried with backoff, bounded by the lease's end.
type Leaser interface {
	// IssueLease issues a new secret at path (a full backend path such as
	// "database/creds/app", not relative to a KV mount). The entry's Lease
	// is set, with a non-empty ID and Duration the time left from now (0
	// for a lease without an end).
	IssueLease(ctx context.Context, path string) (*Entry, error)

	// RenewLease asks for the lease id to be extended by increment from now
	// (0: the backend's default, usually the lease's own duration) and
	// returns the lease as renewed: Duration is the time granted from now,
	// which may be less than asked when the lease is capped by a maximum.
	RenewLease(ctx context.Context, id string, increment time.Duration) (*Lease, error)

	// RevokeLease ends the lease id now, and with it the secret. Revoking a
	// lease that no longer exists is not an error.
	RevokeLease(ctx context.Context, id string) error
}
