// Package renew keeps a credential with a time to live alive: a Vault token,
// a dynamic-secret lease, anything that can be renewed and, when renewal
// stops extending it, replaced by a new one before it expires.
//
// The schedule is pure functions (RenewAt, FirstRenewAt, MustReplace,
// Backoff) so it can be tested without a clock; Loop runs them with timers. Nothing here knows
// about Vault: the caller supplies a Target that renews or replaces.
//
// A *Loop is safe for concurrent use. Every Loop must be stopped with Stop,
// which waits for its goroutine to return.
package renew

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Lease is one credential's lifetime as last reported by its issuer.
type Lease struct {
	// Obtained is when the issuer reported TTL (when the credential was
	// issued or last renewed).
	Obtained time.Time
	// TTL is the time to live from Obtained. 0 means it never expires and
	// needs no renewal.
	TTL time.Duration
	// Renewable says whether Renew may extend it.
	Renewable bool
	// Final says the issuer will not extend it further even though it is
	// renewable, e.g. its TTL was capped by a maximum TTL.
	Final bool
}

// Expires returns Obtained+TTL, or the zero time when TTL is 0.
func (l Lease) Expires() time.Time {
	if l.TTL <= 0 {
		return time.Time{}
	}
	return l.Obtained.Add(l.TTL)
}

// Policy shapes the schedule. The zero value means the defaults.
type Policy struct {
	// Fraction of the TTL after which to renew (or replace). Default 2/3.
	Fraction float64
	// Jitter is the largest random shift of the renewal time, as a fraction
	// of the TTL, either way. Default 0.1. The shifted time is kept within
	// 5%..95% of the TTL.
	Jitter float64
	// FirstJitter is Jitter for the first action of a Loop and the first
	// after a Reset (see FirstRenewAt): clients started together, or
	// replaced together after an outage, act at times spread uniformly
	// (full jitter) over Fraction ± FirstJitter of the TTL, kept within
	// 5%..80% of it. Default 0.25: with the default Fraction, 41.7%..80%,
	// a window of 38% of the TTL.
	FirstJitter float64
	// MinBackoff is the first delay after a failed replacement. Default 1s.
	MinBackoff time.Duration
	// MaxBackoff caps the delay between failed replacements. Default 30s.
	MaxBackoff time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Fraction <= 0 || p.Fraction >= 1 {
		p.Fraction = 2.0 / 3
	}
	if p.Jitter <= 0 || p.Jitter >= 1 {
		p.Jitter = 0.1
	}
	if p.FirstJitter <= 0 || p.FirstJitter >= 1 {
		p.FirstJitter = 0.25
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 30 * time.Second
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = p.MinBackoff
	}
	return p
}

// RenewAt returns when to act on l: Obtained + TTL×Fraction, shifted by up
// to ±TTL×Jitter according to r in [0, 1) (0.5 means no shift). The result
// is always after Obtained and before Expires. For a lease that never
// expires it returns the zero time.
func RenewAt(l Lease, p Policy, r float64) time.Time {
	if l.TTL <= 0 {
		return time.Time{}
	}
	p = p.withDefaults()
	r = math.Min(math.Max(r, 0), 1)
	f := p.Fraction + (2*r-1)*p.Jitter
	f = math.Min(math.Max(f, 0.05), 0.95)
	return l.Obtained.Add(time.Duration(float64(l.TTL) * f))
}

// firstMax is the latest point of the first action, as a fraction of the
// TTL: a fifth of the TTL is left for the renewal and its retries (0.8 s of
// a 4 s token, 48 s of a 4-minute one).
const firstMax = 0.8

// FirstRenewAt is RenewAt for the first action on a credential that many
// clients may have obtained at the same moment (a fleet started together,
// or logging in again together after an outage): Obtained + TTL×Fraction,
// shifted by up to ±TTL×FirstJitter according to r in [0, 1), and kept
// within 5%..80% of the TTL, so a uniform r spreads N clients over the
// whole window (about 38% of the TTL with the defaults), still well before
// expiry. r = 0.5 means no shift. For a lease that never expires it
// returns the zero time.
func FirstRenewAt(l Lease, p Policy, r float64) time.Time {
	if l.TTL <= 0 {
		return time.Time{}
	}
	p = p.withDefaults()
	r = math.Min(math.Max(r, 0), 1)
	f := p.Fraction + (2*r-1)*p.FirstJitter
	f = math.Min(math.Max(f, 0.05), firstMax)
	return l.Obtained.Add(time.Duration(float64(l.TTL) * f))
}

// MustReplace reports whether next, the result of renewing prev with the
// requested increment, can no longer be kept alive by renewing: it is not
// renewable, marked final, shorter than the increment asked for (capped), or
// does not expire later than prev did.
func MustReplace(prev, next Lease, increment time.Duration) bool {
	if next.TTL <= 0 {
		return false // never expires
	}
	if !next.Renewable || next.Final {
		return true
	}
	if increment > 0 && next.TTL < increment {
		return true
	}
	return prev.TTL > 0 && !next.Expires().After(prev.Expires())
}

// Backoff returns the delay before retry number attempt (0 for the first
// retry) after a failure: exponential from min, capped at max, with "equal
// jitter" from r in [0, 1): a value in [d/2, d], so a fleet of clients that
// failed together does not retry together, and never retries immediately.
func Backoff(attempt int, min, max time.Duration, r float64) time.Duration {
	if min <= 0 {
		min = time.Second
	}
	if max < min {
		max = min
	}
	d := min
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	r = math.Min(math.Max(r, 0), 1)
	return d/2 + time.Duration(float64(d/2)*r)
}

// Bounds of RetryWithin: never two attempts closer than retryFloor; once
// the credential has ended (nothing usable is left), an attempt at least
// once every deadRetryMin..deadRetryMax (jittered), however long the
// failures have lasted, so a new credential arrives within about a second
// of the server answering again.
const (
	retryFloor   = 50 * time.Millisecond
	deadRetryMin = 500 * time.Millisecond
	deadRetryMax = time.Second
)

// RetryWithin is the wait before retry number attempt (1 for the first) of
// a failed renewal or replacement of a credential (lease, certificate) with
// remaining left: Backoff with p's bounds, but while remaining > 0 never
// more than half of it, so retries get denser, not sparser, as the end
// nears; when remaining < 0 (it has ended) at most deadRetryMin + rnd ×
// (deadRetryMax − deadRetryMin); never less than retryFloor. remaining == 0
// means no end is known: the plain backoff. A pure function.
func RetryWithin(p Policy, attempt int, remaining time.Duration, rnd float64) time.Duration {
	p = p.withDefaults()
	d := Backoff(max(attempt-1, 0), p.MinBackoff, p.MaxBackoff, rnd)
	switch {
	case remaining > 0:
		d = min(d, remaining/2)
	case remaining < 0:
		d = min(d, deadRetryMin+time.Duration(math.Min(math.Max(rnd, 0), 1)*float64(deadRetryMax-deadRetryMin)))
	}
	return max(d, retryFloor)
}

// Target renews and replaces the credential a Loop keeps alive.
type Target interface {
	// Renew extends cur and returns its new lifetime.
	Renew(ctx context.Context, cur Lease) (Lease, error)
	// Replace obtains a new credential (log in again, fetch new
	// credentials) and returns its lifetime.
	Replace(ctx context.Context, cur Lease) (Lease, error)
}

// permanentError marks a Renew error after which renewing is pointless.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps a Renew error to say the credential cannot be renewed any
// more (for example it was revoked); the Loop then replaces it at once.
// Other Renew errors also lead to a replacement, Permanent only documents
// intent and is reported as such to Options.OnError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err was wrapped with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// ReplaceMargin is the least time a replacement leaves before the lease it
// replaces expires: a login under load, and the requests still in flight
// with the old credential, need it. It only matters for short leases (with
// the default schedule a lease of more than 3 s leaves more than this).
const ReplaceMargin = time.Second

// ReplaceBy returns at, moved earlier when needed so that it is at least
// ReplaceMargin before l expires (but never before l was obtained): when to
// replace a lease that cannot be renewed any more.
func ReplaceBy(l Lease, at time.Time) time.Time {
	if l.TTL <= 0 || at.IsZero() {
		return at
	}
	latest := l.Expires().Add(-ReplaceMargin)
	if latest.Before(l.Obtained) {
		latest = l.Obtained
	}
	if at.After(latest) {
		return latest
	}
	return at
}

// Options configures a Loop. nil means the defaults.
type Options struct {
	// Policy is the schedule. Default: the zero Policy (see its fields).
	Policy Policy
	// OnRenew is called after each successful renewal, with the new lease
	// and whether it must now be replaced. Default: nothing.
	OnRenew func(l Lease, mustReplace bool)
	// OnReplace is called after each successful replacement. Default: nothing.
	OnReplace func(l Lease)
	// OnError is called with every failed renewal ("renew") or replacement
	// ("replace") and the delay before the next attempt. Default: nothing.
	OnError func(op string, err error, retryIn time.Duration)
	// Rand returns numbers in [0, 1) for jitter. Default math/rand/v2.Float64.
	Rand func() float64
}

// Loop renews a credential at about Fraction of its TTL and replaces it
// before it expires once renewing stops extending it. Its first action, and
// the first after each Reset, is spread wider (FirstRenewAt), so that N
// clients started together do not renew or log in again together. Create
// it with Start.
type Loop struct {
	t      Target
	opts   Options
	pol    Policy
	cancel context.CancelFunc
	done   chan struct{}
	reset  chan Lease
	stop   sync.Once
}

// Start starts a loop that keeps initial alive through t. Stop it with Stop.
func Start(initial Lease, t Target, opts *Options) *Loop {
	l := &Loop{t: t, done: make(chan struct{}), reset: make(chan Lease, 1)}
	if opts != nil {
		l.opts = *opts
	}
	if l.opts.Rand == nil {
		l.opts.Rand = rand.Float64
	}
	l.pol = l.opts.Policy.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(ctx, initial)
	return l
}

// Reset tells the loop that the credential was replaced outside it (for
// example after a request met a revoked token); the schedule restarts from
// l. Reset never blocks; only the latest lease given counts.
func (l *Loop) Reset(lease Lease) {
	for {
		select {
		case l.reset <- lease:
			return
		default:
		}
		select {
		case <-l.reset:
		default:
		}
	}
}

// Stop stops the loop and waits for it to return, cancelling a Renew or
// Replace in progress. Safe to call more than once.
func (l *Loop) Stop() {
	l.stop.Do(l.cancel)
	<-l.done
}

// wait blocks until t, a Reset, or ctx ends. It returns the reset lease, if
// any, and false when ctx ended.
func (l *Loop) wait(ctx context.Context, at time.Time) (*Lease, bool) {
	var c <-chan time.Time
	if !at.IsZero() {
		tm := time.NewTimer(time.Until(at))
		defer tm.Stop()
		c = tm.C
	}
	select {
	case <-ctx.Done():
		return nil, false
	case r := <-l.reset:
		return &r, true
	case <-c:
		return nil, true
	}
}

func (l *Loop) run(ctx context.Context, cur Lease) {
	defer close(l.done)
	inc := cur.TTL
	final := !cur.Renewable || cur.Final
	first := true // the next action is the first on a lease from outside: full jitter
	for {
		at := RenewAt
		if first {
			at, first = FirstRenewAt, false
		}
		next := at(cur, l.pol, l.opts.Rand())
		if final {
			next = ReplaceBy(cur, next)
		}
		r, ok := l.wait(ctx, next)
		if !ok {
			return
		}
		if r != nil {
			cur, inc, final = *r, r.TTL, !r.Renewable || r.Final
			first = true
			continue
		}
		if !final {
			next, err := l.t.Renew(ctx, cur)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				final = MustReplace(cur, next, inc)
				cur = next
				if l.opts.OnRenew != nil {
					l.opts.OnRenew(next, final)
				}
				continue
			}
			if l.opts.OnError != nil {
				l.opts.OnError("renew", err, 0)
			}
		}
		// Replace, backing off with jitter while it fails.
		for attempt := 0; ; attempt++ {
			next, err := l.t.Replace(ctx, cur)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				cur, inc, final = next, next.TTL, !next.Renewable || next.Final
				if l.opts.OnReplace != nil {
					l.opts.OnReplace(next)
				}
				break
			}
			d := Backoff(attempt, l.pol.MinBackoff, l.pol.MaxBackoff, l.opts.Rand())
			if l.opts.OnError != nil {
				l.opts.OnError("replace", err, d)
			}
			r, ok := l.wait(ctx, time.Now().Add(d))
			if !ok {
				return
			}
			if r != nil {
				cur, inc, final = *r, r.TTL, !r.Renewable || r.Final
				first = true
				break
			}
		}
	}
}
