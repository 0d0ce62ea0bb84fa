package lease

import (
	"time"

	"github.com/vaultly/vaultly/internal/renew"
)

// The lease schedule. When to renew, when renewing can no longer help and
// how to back off are package renew's pure functions, shared with the token
// lifecycle; the only lease-specific rules are here (retiring an old
// generation during the overlap, retries bounded by the lease's end, early
// replacement when renewals keep failing), also as pure functions of times
// and a random number in [0, 1), so the watcher loop is tested under
// testing/synctest.

// policy is the renew.Policy of every lease: renew (or replace) at 2/3 of
// the time left, ±10% of it as jitter; back off from 250ms to 30s.
var policy = renew.Policy{MinBackoff: 250 * time.Millisecond, MaxBackoff: 30 * time.Second}

// actAt is when to act on a lease that has ttl left at now: renew it, or,
// once renewing cannot extend it, issue its replacement. It is renew.RenewAt
// with policy, so for a replacement the last third of the lease is the
// overlap during which both secrets are valid.
func actAt(now time.Time, ttl time.Duration, rnd float64) time.Time {
	return renew.RenewAt(renew.Lease{Obtained: now, TTL: ttl, Renewable: true}, policy, rnd)
}

// mustReplace reports whether a renewal that asked for increment and
// produced next (from prev) failed to extend the lease: it is capped by its
// max TTL, or not renewable any more (renew.MustReplace).
func mustReplace(prev, next renew.Lease, increment time.Duration) bool {
	return renew.MustReplace(prev, next, increment)
}

// retireAt is when an old generation is retired, once its replacement was
// issued at rotated: half way between the rotation and the old lease's end,
// so that consumers get the first half of the overlap to switch over and the
// second half to finish what is in flight.
func retireAt(rotated, expires time.Time) time.Time {
	if !expires.After(rotated) {
		return rotated
	}
	return rotated.Add(expires.Sub(rotated) / 2)
}

// retryDelay is the wait before retry number attempt (1 for the first
// retry) of a failed renewal or issue with limit left of the lease:
// renew.RetryWithin with policy (250ms up to 30s; never more than half of
// what is left, so retries get denser as the end approaches; at least once
// a second once the lease has ended, limit < 0, however long the outage;
// never closer together than 50ms).
func retryDelay(attempt int, rnd float64, limit time.Duration) time.Duration {
	return renew.RetryWithin(policy, attempt, limit, rnd)
}

// replaceEarly reports whether a lease whose renewals keep failing should be
// replaced now rather than renewed again: less than a sixth of its first
// duration is left. A renewal is first tried with a third left, so retries
// get half of that before the replacement starts, while the current secret
// still works.
func replaceEarly(remaining, duration time.Duration) bool {
	return remaining < duration/6
}
