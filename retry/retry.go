// Package retry runs an operation again when it fails with a retryable
// error, waiting a full-jitter exponential backoff between attempts, until
// it succeeds, the caller's context ends or a total time budget runs out
// (and, when asked, within a maximum number of attempts).
//
// The default schedule is made for a server that goes away for seconds (a
// Vault leader election takes 1.5–3.5 s, a restart a few seconds): the first
// retries come fast (the cap before the second attempt is 50ms, then 100ms,
// 200ms, ...), the wait between later attempts never exceeds 1s, and
// attempts go on for the whole 30s budget. Every wait is a random fraction
// of its cap (full jitter), so clients that failed together do not come
// back together.
//
// The delay computation is a pure function ([Policy.Delay]); [Do] adds the
// waiting, the budget and context cancellation. A *Policy is read-only once
// in use and safe for concurrent use; Do starts no goroutines.
package retry

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/vaultly/vaultly/driver"
)

// Defaults used for zero fields of a Policy.
const (
	// DefaultMaxAttempts is 0: no bound on the number of attempts; the
	// budget and the caller's context end the retries.
	DefaultMaxAttempts = 0
	DefaultInitial     = 50 * time.Millisecond
	DefaultMax         = time.Second
	DefaultMultiplier  = 2.0
	DefaultBudget      = 30 * time.Second
)

// Policy says when and how often to retry. A nil *Policy or a zero field
// means the documented default.
type Policy struct {
	// MaxAttempts, when positive, is an extra bound on the number of
	// attempts, the first included; 1 disables retries. Default: 0, no
	// bound on attempts: Budget and the caller's context end the retries.
	// A negative value is an error, returned by Do without calling fn.
	MaxAttempts int

	// Initial is the backoff cap before the second attempt.
	// Default: 0 means DefaultInitial (50ms).
	Initial time.Duration

	// Max caps the backoff before any attempt. Default: 0 means DefaultMax (1s).
	Max time.Duration

	// Multiplier grows the cap after each attempt. Default: 0 means 2.
	Multiplier float64

	// Budget bounds the whole call, attempts and waits included: each
	// attempt runs under a context with this deadline, and no wait starts
	// that would end past it. Default: 0 means DefaultBudget (30s);
	// negative means no budget.
	Budget time.Duration

	// Retryable classifies an error. Default: nil means the error's
	// driver.Code is Unavailable or ResourceExhausted (driver.CodeOf).
	Retryable func(error) bool

	// OnRetry, if set, is called before each wait with the number of the
	// attempt that failed (1 for the first), its error and the delay about
	// to be waited. Default: nil.
	OnRetry func(attempt int, err error, delay time.Duration)
}

var errNegativeAttempts = driver.NewError(driver.InvalidArgument, errors.New("retry.Policy.MaxAttempts is negative; use 1 to disable retries"))

// maxAttempts returns the bound on attempts, 0 for none.
func (p *Policy) maxAttempts() int {
	if p == nil || p.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return p.MaxAttempts
}

func (p *Policy) budget() time.Duration {
	if p == nil || p.Budget == 0 {
		return DefaultBudget
	}
	return p.Budget
}

func (p *Policy) retryable(err error) bool {
	if p != nil && p.Retryable != nil {
		return p.Retryable(err)
	}
	return driver.CodeOf(err).Retryable()
}

// Cap returns the upper bound of the delay after the given failed attempt
// (1 for the first): min(Max, Initial × Multiplier^(attempt-1)).
func (p *Policy) Cap(attempt int) time.Duration {
	initial, maxD, mult := DefaultInitial, DefaultMax, DefaultMultiplier
	if p != nil {
		if p.Initial > 0 {
			initial = p.Initial
		}
		if p.Max > 0 {
			maxD = p.Max
		}
		if p.Multiplier > 0 {
			mult = p.Multiplier
		}
	}
	if attempt < 1 {
		attempt = 1
	}
	c := float64(initial) * math.Pow(mult, float64(attempt-1))
	if c >= float64(maxD) || math.IsInf(c, 0) || math.IsNaN(c) {
		return maxD
	}
	return time.Duration(c)
}

// Delay is the full-jitter backoff after the given failed attempt: r × Cap(attempt),
// where r is a random number in [0, 1). It is a pure function of its inputs.
func (p *Policy) Delay(attempt int, r float64) time.Duration {
	if r < 0 {
		r = 0
	}
	if r >= 1 {
		r = math.Nextafter(1, 0)
	}
	return time.Duration(r * float64(p.Cap(attempt)))
}

// NextDelay combines the backoff with a server's Retry-After: the larger of
// the two. It is a pure function of its inputs.
func NextDelay(backoff, retryAfter time.Duration) time.Duration {
	return max(backoff, retryAfter)
}

// RetryAfter returns the delay a server asked for before a retry, as carried
// by err: the RetryAfter field of the first *vaultly.Error (driver.Error) in
// its chain, or of any error in the chain with a RetryAfter() time.Duration
// method. 0 if none.
func RetryAfter(err error) time.Duration {
	if de, ok := errors.AsType[*driver.Error](err); ok && de.RetryAfter > 0 {
		return de.RetryAfter
	}
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter()
	}
	return 0
}

// Do calls fn until it succeeds, fails with an error that is not retryable,
// or the budget, the caller's context or the attempts (MaxAttempts, when
// set) run out, and returns fn's last error unchanged. attempt is 1 for the
// first call. ctx is checked between attempts: when it is done, Do stops
// waiting and returns fn's last error; a wait that would end past the
// deadline (the budget's or ctx's) is not started, Do returns at once.
// fn receives a context bounded by the budget.
//
// A policy with a negative MaxAttempts makes Do return an InvalidArgument
// error at once, without calling fn.
func Do(ctx context.Context, p *Policy, fn func(ctx context.Context, attempt int) error) error {
	if p != nil && p.MaxAttempts < 0 {
		return errNegativeAttempts
	}
	if b := p.budget(); b > 0 {
		// A deadline the caller already set that ends within the budget
		// bounds the call as the budget would: no second timer.
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > b {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, b)
			defer cancel()
		}
	}
	deadline, hasDeadline := ctx.Deadline()
	maxAttempts := p.maxAttempts()
	for attempt := 1; ; attempt++ {
		err := fn(ctx, attempt)
		if err == nil || (maxAttempts > 0 && attempt >= maxAttempts) || !p.retryable(err) || ctx.Err() != nil {
			return err
		}
		d := NextDelay(p.Delay(attempt, rand.Float64()), RetryAfter(err))
		if hasDeadline && time.Until(deadline) <= d {
			return err
		}
		if p != nil && p.OnRetry != nil {
			p.OnRetry(attempt, err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
