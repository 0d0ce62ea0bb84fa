package cache

import (
	"math"
	"time"
)

// Special TTL values, shared with package vaultly.
const (
	// NoCache means every read goes to the backend.
	NoCache time.Duration = -1
	// UntilRefreshed means an entry stays fresh until it is refreshed,
	// invalidated or evicted.
	UntilRefreshed time.Duration = math.MaxInt64
)

// Fresh reports whether an entry fetched at fetched may be served without a
// backend call at now, under ttl.
func Fresh(now, fetched time.Time, ttl time.Duration) bool {
	switch {
	case ttl == UntilRefreshed:
		return true
	case ttl <= 0:
		return false
	}
	return now.Sub(fetched) < ttl
}

// StaleUsable reports whether an entry that is no longer fresh may still be
// served because the backend failed: its age is below ttl + maxStale.
// maxStale 0 means never.
func StaleUsable(now, fetched time.Time, ttl, maxStale time.Duration) bool {
	if maxStale <= 0 || ttl <= 0 {
		return false
	}
	if ttl == UntilRefreshed {
		return true
	}
	limit := ttl + maxStale
	if limit < ttl { // overflow
		return true
	}
	return now.Sub(fetched) < limit
}

// RefreshDue reports whether a read at now of an entry fetched at fetched
// should start a background refresh: once the entry's age reaches
// RefreshAfter(ttl, ahead, r), and while it is still fresh. ahead <= 0 or
// ttl without expiry disables it.
func RefreshDue(now, fetched time.Time, ttl time.Duration, ahead, r float64) bool {
	after := RefreshAfter(ttl, ahead, r)
	if after <= 0 {
		return false
	}
	return now.Sub(fetched) >= after
}

// RefreshJitter is the fraction of the refresh point by which jitter may
// bring a refresh earlier.
const RefreshJitter = 0.2

// RefreshAfter returns the age after which an entry cached with ttl is
// refreshed in the background: ttl × ahead × (1 − RefreshJitter × r), with r
// a per-entry random number in [0, 1) so entries fetched together do not
// refresh together. It returns 0 (never) when ahead is not in (0, 1) or ttl
// is NoCache, zero or UntilRefreshed.
func RefreshAfter(ttl time.Duration, ahead, r float64) time.Duration {
	if ahead <= 0 || ahead >= 1 || ttl <= 0 || ttl == UntilRefreshed {
		return 0
	}
	r = min(max(r, 0), 1)
	d := time.Duration(float64(ttl) * ahead * (1 - RefreshJitter*r))
	return max(d, 1)
}

// RefreshRetryDelay is how long to wait after a failed background refresh
// before a hit may start another: a tenth of the TTL, between 1s and 1m.
func RefreshRetryDelay(ttl time.Duration) time.Duration {
	return min(max(ttl/10, time.Second), time.Minute)
}
