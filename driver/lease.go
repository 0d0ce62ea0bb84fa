package driver

import (
	"context"
	"time"
)

// Leaser is implemented by backends that issue dynamic secrets: entries that
// are created afresh by each read and bound to a lease (database
// credentials, cloud keys, ...). The backend keeps the lease alive, replaces
// the secret before the lease can no longer be extended, and reports every
// change through LeaseOptions.Notify.
type Leaser interface {
	// Lease issues a secret at path and keeps it current until the returned
	// LeaseWatcher is closed. The first issue happens before Lease returns:
	// a failure is returned as an error and nothing keeps running.
	Lease(ctx context.Context, path string, opts *LeaseOptions) (LeaseWatcher, error)
}

// LeaseOptions configures a lease watch. A nil *LeaseOptions means defaults.
type LeaseOptions struct {
	// Increment is the lease extension asked for at each renewal.
	// Default: 0, the lease's own duration as first issued.
	Increment time.Duration

	// RevokeOnClose revokes the current lease, and every older lease still
	// alive, when the watcher is closed. Default: false (leases expire on
	// their own).
	RevokeOnClose bool

	// Notify, if set, is called for every event, in order, from the
	// watcher's own goroutine. It must return quickly and must not call
	// the watcher's Close. Default: nil (no notifications).
	Notify func(LeaseEvent)
}

// Leased is one generation of a dynamic secret: the entry as issued plus
// its lease as last renewed. A Leased value is never modified once
// published; a renewal publishes a new one with the same Generation.
type Leased struct {
	Entry      *Entry    // the issued fields; Entry.Lease holds the lease ID
	Generation uint64    // 1 for the first secret issued, +1 for each new one
	Issued     time.Time // when the secret was issued
	Expires    time.Time // when the lease ends unless renewed
	Renewable  bool      // whether the lease can still be renewed
}

// LeaseEventKind says what happened to a watched lease.
type LeaseEventKind int

const (
	// LeaseRenewed: the current lease was extended; Leased.Expires is new.
	LeaseRenewed LeaseEventKind = iota + 1
	// LeaseRotated: a new secret replaced the current one. The previous one
	// (Previous) stays valid until it is retired.
	LeaseRotated
	// LeaseRetired: Leased's generation must no longer be used (its lease
	// ends soon, or it was found revoked). Everything opened with it, such
	// as database connections, should be closed.
	LeaseRetired
	// LeaseFailed: a renewal or an issue failed; Err says why. The watcher
	// keeps retrying on its own.
	LeaseFailed
)

var leaseEventNames = [...]string{
	LeaseRenewed: "renewed",
	LeaseRotated: "rotated",
	LeaseRetired: "retired",
	LeaseFailed:  "failed",
}

// String returns the kind's lowercase name.
func (k LeaseEventKind) String() string {
	if k > 0 && int(k) < len(leaseEventNames) {
		return leaseEventNames[k]
	}
	return "unknown"
}

// LeaseEvent is one change to a watched lease.
type LeaseEvent struct {
	Kind     LeaseEventKind
	Leased   *Leased // the generation concerned (the new one for LeaseRotated)
	Previous *Leased // LeaseRotated only: the generation replaced
	Err      error   // LeaseFailed only; never contains a secret
}

// LeaseWatcher keeps one dynamic secret current. It is safe for concurrent
// use.
type LeaseWatcher interface {
	// Current returns the newest generation; never nil.
	Current() *Leased
	// MinValid returns the oldest generation that may still be used: every
	// generation below it has been retired. It never decreases.
	MinValid() uint64
	// Close stops the watcher, waits for its goroutine, and revokes the
	// leases if LeaseOptions.RevokeOnClose is set. ctx bounds the revocation.
	Close(ctx context.Context) error
}
