package hashivault

import (
	"time"

	"github.com/vaultly/vaultly/internal/renew"
)

// The lease schedule. When to renew, when renewing can no longer help and
// how to back off are package renew's pure functions, shared with the token
// lifecycle; the only lease-specific rules are here (retiring an old
// generation during the overlap, and retries bounded by the lease's end),
// also as pure functions of times and a random number in [0, 1), so the
// watcher loop is tested under testing/synctest.

const (
	leaseBackoffMin = 250 * time.Millisecond
	leaseBackoffMax = 30 * time.Second
	// leaseMinDelay keeps a lease that is almost over from spinning: no two
	// requests for the same lease are closer than this.
	leaseMinDelay = 50 * time.Millisecond
)

// actAt is when to act on a lease that has ttl left at now: renew it, or,
// once renewing cannot extend it, issue its replacement. It is renew.RenewAt
// (2/3 of the TTL, ±10% jitter), so for a replacement the last third of the
// lease is the overlap during which both secrets are valid.
func actAt(now time.Time, ttl time.Duration, rnd float64) time.Time {
	return renew.RenewAt(renew.Lease{Obtained: now, TTL: ttl, Renewable: true}, renew.Policy{}, rnd)
}

// mustReplace reports whether a renewal that asked for increment and
// produced next (from prev) failed to extend the lease: it is capped by its
// max TTL, or not renewable any more (renew.MustReplace).
func mustReplace(prev, next lifetime, increment time.Duration) bool {
	return renew.MustReplace(prev.lease(), next.lease(), increment)
}

// lifetime is the part of a lease the schedule looks at.
type lifetime struct {
	obtained  time.Time
	ttl       time.Duration
	renewable bool
}

func (l lifetime) lease() renew.Lease {
	return renew.Lease{Obtained: l.obtained, TTL: l.ttl, Renewable: l.renewable}
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
// retry) of a failed renewal or issue: renew.Backoff from 250ms up to 30s
// with equal jitter, but never more than half of limit when limit > 0 (the
// time left before the lease ends), so retries get denser, not sparser, as
// the end approaches, and never closer together than 50ms.
func retryDelay(attempt int, rnd float64, limit time.Duration) time.Duration {
	d := renew.Backoff(max(attempt-1, 0), leaseBackoffMin, leaseBackoffMax, rnd)
	if limit > 0 {
		d = min(d, limit/2)
	}
	return max(d, leaseMinDelay)
}
