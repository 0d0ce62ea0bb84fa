package pkisecrets

import (
	"time"

	"github.com/vaultly/vaultly/internal/renew"
)

// The certificate schedule. A certificate is a credential that cannot be
// renewed, only replaced: when to replace it and how to back off are
// package renew's pure functions, shared with the token lifecycle and the
// lease engine; the certificate-specific rules (retries bounded by the
// certificate's end, when to call expiry near, how long one request may
// take) are here, also pure functions of times and a random number in
// [0, 1), so the loop is tested under testing/synctest.

// policy is the renew.Policy of every certificate: re-issue at 2/3 of the
// lifetime with renew's jitter; back off from 250ms to 30s.
var policy = renew.Policy{MinBackoff: 250 * time.Millisecond, MaxBackoff: 30 * time.Second}

// minRetry keeps a certificate that is almost over from spinning: no two
// issue requests closer than this.
const minRetry = 50 * time.Millisecond

// nextIssue is when to issue the replacement of a certificate received at
// issued and valid until notAfter: renew.RenewAt with policy over its
// lifetime (from its arrival, not from NotBefore, which Vault backdates),
// so the last third or so of the lifetime is left for retries. A
// certificate with no lifetime left is replaced at once (issued).
func nextIssue(issued, notAfter time.Time, rnd float64) time.Time {
	life := notAfter.Sub(issued)
	if life <= 0 {
		return issued
	}
	return renew.RenewAt(renew.Lease{Obtained: issued, TTL: life}, policy, rnd)
}

// retryDelay is the wait before retry number attempt (1 for the first) of
// a failed issue, when the current certificate has remaining left:
// renew.RetryWithin with policy — the rule leases follow: never more than
// half of what is left while it is positive, so retries get denser as the
// end nears; at least once a second once the certificate has expired, so a
// new one arrives within about a second of Vault answering again; never
// less than 50ms.
func retryDelay(attempt int, remaining time.Duration, rnd float64) time.Duration {
	return renew.RetryWithin(policy, attempt, remaining, rnd)
}

// nearExpiry reports whether a certificate with remaining left of lifetime
// is close enough to its end that failing to replace it needs attention:
// less than a sixth of its lifetime is left (the replacement was due with
// about a third left).
func nearExpiry(remaining, lifetime time.Duration) bool {
	return remaining < lifetime/6
}

// requestTimeout bounds one issue or sign request while the current
// certificate has remaining left: a third of that, between 2s and 30s, so
// a stalled server leaves time for retries before the end.
func requestTimeout(remaining time.Duration) time.Duration {
	return min(max(remaining/3, 2*time.Second), 30*time.Second)
}
