package hashivault

import (
	"time"
)

// The lease schedule, as pure functions of durations and a random number in
// [0, 1). The watcher loop only adds "now" to what these return, so every
// rule here is tested without a clock, and the loop under testing/synctest.

const (
	leaseBackoffBase = 250 * time.Millisecond
	leaseBackoffMax  = 30 * time.Second
	// leaseMinDelay keeps a lease that is almost over from spinning: no two
	// requests for the same lease are closer than this.
	leaseMinDelay = 50 * time.Millisecond
)

// rotateDelay is how long after a renewal that could not extend the lease
// (capped at its max TTL, or not renewable) the replacement is issued:
// two thirds of what is left, minus up to 10% jitter, so that the last third
// is the overlap during which both secrets are valid.
func rotateDelay(remaining time.Duration, rnd float64) time.Duration {
	return max(jitterDown(remaining*2/3, rnd), 0)
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

// capped reports whether a renewal that asked for requested and was
// granted granted failed to extend the lease by what was asked: the lease
// has reached its max TTL (Vault then also warns "TTL ... is capped").
func capped(requested, granted time.Duration) bool {
	return granted < requested
}

// retryDelay is the wait before retry number attempt (1 for the first
// retry) of a failed renewal or issue: exponential from 250ms up to 30s with
// full jitter on the upper half, and never more than half of limit when
// limit > 0 (the time left before the lease ends), so retries get denser,
// not sparser, as the end approaches.
func retryDelay(attempt int, rnd float64, limit time.Duration) time.Duration {
	d := leaseBackoffMax
	if attempt < 20 {
		d = min(leaseBackoffBase<<max(attempt-1, 0), leaseBackoffMax)
	}
	d = d/2 + time.Duration(rnd*float64(d/2))
	if limit > 0 {
		d = min(d, limit/2)
	}
	return max(d, leaseMinDelay)
}

// jitterDown shortens d by up to 10%.
func jitterDown(d time.Duration, rnd float64) time.Duration {
	return d - time.Duration(rnd*float64(d)/10)
}

// leaseRenewDelay is how long after a renewal (or the first issue) the lease
// is renewed again: two thirds of what is left, minus up to 10% jitter.
func leaseRenewDelay(remaining time.Duration, rnd float64) time.Duration {
	return max(jitterDown(remaining*2/3, rnd), 0)
}
