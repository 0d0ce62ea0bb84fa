package retry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/retry"
)

func TestCapAndDelay(t *testing.T) {
	p := &retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	tests := []struct {
		attempt int
		r       float64
		wantCap time.Duration
		want    time.Duration
	}{
		{1, 0, 100 * time.Millisecond, 0},
		{1, 0.5, 100 * time.Millisecond, 50 * time.Millisecond},
		{2, 0.5, 200 * time.Millisecond, 100 * time.Millisecond},
		{3, 0.25, 400 * time.Millisecond, 100 * time.Millisecond},
		{4, 0.5, 800 * time.Millisecond, 400 * time.Millisecond},
		{5, 0.5, time.Second, 500 * time.Millisecond}, // capped
		{500, 0.5, time.Second, 500 * time.Millisecond},
		{0, 0.5, 100 * time.Millisecond, 50 * time.Millisecond}, // treated as 1
		{2, -1, 200 * time.Millisecond, 0},                      // r clamped
	}
	for _, tc := range tests {
		if got := p.Cap(tc.attempt); got != tc.wantCap {
			t.Errorf("Cap(%d) = %v, want %v", tc.attempt, got, tc.wantCap)
		}
		if got := p.Delay(tc.attempt, tc.r); got != tc.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", tc.attempt, tc.r, got, tc.want)
		}
	}
	// r close to 1 stays below the cap.
	if got := p.Delay(1, 1); got >= 100*time.Millisecond {
		t.Errorf("Delay(1, 1) = %v, want < cap", got)
	}
	// Defaults.
	var nilP *retry.Policy
	if got := nilP.Cap(1); got != retry.DefaultInitial {
		t.Errorf("nil policy Cap(1) = %v, want %v", got, retry.DefaultInitial)
	}
	if got := nilP.Cap(100); got != retry.DefaultMax {
		t.Errorf("nil policy Cap(100) = %v, want %v", got, retry.DefaultMax)
	}
}

func TestNextDelayAndRetryAfter(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		backoff time.Duration
		want    time.Duration
	}{
		{"no retry-after", errors.New("x"), time.Second, time.Second},
		{"driver retry-after larger", &driver.Error{Code: driver.ResourceExhausted, RetryAfter: 3 * time.Second}, time.Second, 3 * time.Second},
		{"driver retry-after smaller", &driver.Error{Code: driver.ResourceExhausted, RetryAfter: time.Millisecond}, time.Second, time.Second},
		{"wrapped method", fmt.Errorf("w: %w", raErr(2*time.Second)), 0, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := retry.NextDelay(tc.backoff, retry.RetryAfter(tc.err)); got != tc.want {
				t.Errorf("NextDelay(%v, RetryAfter(%v)) = %v, want %v", tc.backoff, tc.err, got, tc.want)
			}
		})
	}
}

type raErr time.Duration

func (e raErr) Error() string             { return "rate limited" }
func (e raErr) RetryAfter() time.Duration { return time.Duration(e) }

func TestDo(t *testing.T) {
	unavailable := driver.NewError(driver.Unavailable, errors.New("503"))
	tests := []struct {
		name       string
		policy     *retry.Policy
		errs       []error // returned by successive attempts; nil after the list
		wantCalls  int
		wantErr    error
		wantWaited time.Duration // with exact: the total wait; otherwise the sum of caps bounds it
		exact      bool
	}{
		{name: "success first", errs: nil, wantCalls: 1},
		{name: "retry until success", errs: []error{unavailable, unavailable}, wantCalls: 3},
		{name: "max attempts", policy: &retry.Policy{MaxAttempts: 3}, errs: []error{unavailable, unavailable, unavailable, unavailable}, wantCalls: 3, wantErr: unavailable},
		{name: "one attempt disables", policy: &retry.Policy{MaxAttempts: 1}, errs: []error{unavailable}, wantCalls: 1, wantErr: unavailable},
		{name: "not retryable", errs: []error{driver.NewError(driver.NotFound, nil)}, wantCalls: 1, wantErr: driver.NewError(driver.NotFound, nil)},
		{name: "permission denied", errs: []error{driver.NewError(driver.PermissionDenied, nil)}, wantCalls: 1},
		{name: "invalid argument", errs: []error{driver.NewError(driver.InvalidArgument, nil)}, wantCalls: 1},
		{name: "plain error", errs: []error{errors.New("x")}, wantCalls: 1},
		{name: "custom classifier", policy: &retry.Policy{Retryable: func(error) bool { return true }}, errs: []error{errors.New("x")}, wantCalls: 2},
		{name: "retry-after honoured", errs: []error{&driver.Error{Code: driver.ResourceExhausted, RetryAfter: 7 * time.Second}}, wantCalls: 2, wantWaited: 7 * time.Second, exact: true},
		{name: "budget stops waits", policy: &retry.Policy{Budget: 5 * time.Second}, errs: []error{&driver.Error{Code: driver.ResourceExhausted, RetryAfter: 7 * time.Second}}, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				start := time.Now()
				err := retry.Do(t.Context(), tc.policy, func(ctx context.Context, attempt int) error {
					calls++
					if attempt != calls {
						t.Errorf("attempt = %d, want %d", attempt, calls)
					}
					if calls <= len(tc.errs) {
						return tc.errs[calls-1]
					}
					return nil
				})
				waited := time.Since(start)
				if calls != tc.wantCalls {
					t.Errorf("calls = %d, want %d", calls, tc.wantCalls)
				}
				wantFail := tc.wantCalls <= len(tc.errs)
				if (err != nil) != wantFail {
					t.Errorf("Do error = %v, want error: %v", err, wantFail)
				}
				if wantFail && err != tc.errs[tc.wantCalls-1] {
					t.Errorf("Do error = %v, want the last attempt's error unchanged", err)
				}
				if tc.exact && waited != tc.wantWaited {
					t.Errorf("waited %v, want %v", waited, tc.wantWaited)
				}
				if !tc.exact {
					// Full jitter: each wait is below its cap.
					var maxWait time.Duration
					for i := 1; i < tc.wantCalls; i++ {
						maxWait += tc.policy.Cap(i)
					}
					if waited > maxWait {
						t.Errorf("waited %v, want <= %v", waited, maxWait)
					}
				}
			})
		})
	}
}

func TestDoOnRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type rec struct {
			attempt int
			delay   time.Duration
		}
		var got []rec
		p := &retry.Policy{MaxAttempts: 4, OnRetry: func(a int, err error, d time.Duration) {
			if driver.CodeOf(err) != driver.Unavailable {
				t.Errorf("OnRetry err = %v, want Unavailable", err)
			}
			got = append(got, rec{a, d})
		}}
		start := time.Now()
		retry.Do(t.Context(), p, func(context.Context, int) error { return driver.NewError(driver.Unavailable, nil) })
		var total time.Duration
		for i, r := range got {
			if r.attempt != i+1 || r.delay < 0 || r.delay >= p.Cap(i+1) {
				t.Errorf("OnRetry call %d = attempt %d delay %v, want attempt %d, delay in [0, %v)", i, r.attempt, r.delay, i+1, p.Cap(i+1))
			}
			total += r.delay
		}
		if len(got) != 3 {
			t.Errorf("OnRetry calls = %d, want 3", len(got))
		}
		if waited := time.Since(start); waited != total {
			t.Errorf("Do waited %v, want the sum of announced delays %v", waited, total)
		}
	})
}

func TestDoContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		p := &retry.Policy{Initial: time.Hour, Max: time.Hour, MaxAttempts: 10}
		last := driver.NewError(driver.Unavailable, errors.New("down"))
		calls := 0
		done := make(chan error)
		go func() {
			done <- retry.Do(ctx, p, func(context.Context, int) error { calls++; return last })
		}()
		synctest.Wait() // Do is waiting between attempts
		start := time.Now()
		cancel()
		err := <-done
		if time.Since(start) != 0 {
			t.Errorf("Do returned %v after cancel, want at once", time.Since(start))
		}
		if err != last || calls != 1 {
			t.Errorf("Do = %v after %d calls, want the last error after 1 call", err, calls)
		}
		// A context already done: one attempt, no wait.
		calls = 0
		err = retry.Do(ctx, p, func(ctx context.Context, _ int) error { calls++; return ctx.Err() })
		if calls != 1 || !errors.Is(err, context.Canceled) {
			t.Errorf("Do with done ctx = %v after %d calls", err, calls)
		}
	})
}

func TestDoBudgetBoundsAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &retry.Policy{Budget: 3 * time.Second, MaxAttempts: 100}
		start := time.Now()
		err := retry.Do(t.Context(), p, func(ctx context.Context, _ int) error {
			<-ctx.Done() // a hung backend
			return driver.NewError(driver.Unavailable, ctx.Err())
		})
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("Do with a hung attempt took %v, want the 3s budget", got)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Do error = %v, want the attempt's deadline error", err)
		}
	})
}

// TestDoNegativeMaxAttempts: a negative MaxAttempts is an error (it is not
// "unlimited", as in some retry libraries, nor the default), reported
// without calling fn.
func TestDoNegativeMaxAttempts(t *testing.T) {
	t.Parallel()
	calls := 0
	err := retry.Do(t.Context(), &retry.Policy{MaxAttempts: -1}, func(context.Context, int) error { calls++; return nil })
	if calls != 0 {
		t.Errorf("fn called %d times, want 0", calls)
	}
	if driver.CodeOf(err) != driver.InvalidArgument || !strings.Contains(fmt.Sprint(err), "MaxAttempts") {
		t.Errorf("Do with MaxAttempts -1 = %v, want an InvalidArgument error naming MaxAttempts", err)
	}
}

// TestDefaultSchedule: the default caps start fast and never exceed 1s,
// and a nil policy and a zero Policy are the same schedule.
func TestDefaultSchedule(t *testing.T) {
	t.Parallel()
	want := []time.Duration{
		50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
		400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second,
	}
	var nilP *retry.Policy
	for i, w := range want {
		attempt := i + 1
		if got := nilP.Cap(attempt); got != w {
			t.Errorf("default Cap(%d) = %v, want %v", attempt, got, w)
		}
		if got := (&retry.Policy{}).Cap(attempt); got != w {
			t.Errorf("zero Policy Cap(%d) = %v, want %v", attempt, got, w)
		}
	}
	for attempt := 1; attempt < 10000; attempt *= 3 {
		if got := nilP.Delay(attempt, 0.999999); got >= time.Second {
			t.Errorf("default Delay(%d, ~1) = %v, want < 1s", attempt, got)
		}
	}
	if retry.DefaultMaxAttempts != 0 || retry.DefaultBudget != 30*time.Second {
		t.Errorf("DefaultMaxAttempts = %d, DefaultBudget = %v; want 0 (no bound) and 30s", retry.DefaultMaxAttempts, retry.DefaultBudget)
	}
}

// TestDoDefaultRetriesForTheBudget: with the default policy an error that
// never goes away is retried for the whole 30s budget — not 4 attempts in
// 0.7s — with no gap of 1s or more between attempts.
func TestDoDefaultRetriesForTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var times []time.Duration
		err := retry.Do(t.Context(), nil, func(context.Context, int) error {
			times = append(times, time.Since(start))
			return driver.NewError(driver.Unavailable, errors.New("down"))
		})
		elapsed := time.Since(start)
		if driver.CodeOf(err) != driver.Unavailable {
			t.Errorf("Do = %v, want the last Unavailable error", err)
		}
		if elapsed < 29*time.Second || elapsed > retry.DefaultBudget {
			t.Errorf("Do gave up after %v, want within the last second of the 30s budget", elapsed)
		}
		if len(times) < 30 {
			t.Errorf("Do made %d attempts in %v, want at least 30 (each wait < 1s)", len(times), elapsed)
		}
		for i := 1; i < len(times); i++ {
			if gap := times[i] - times[i-1]; gap >= time.Second {
				t.Errorf("gap before attempt %d = %v, want < 1s", i+1, gap)
			}
		}
	})
}

// TestDoOutage simulates a server down for a while and checks when the
// default policy gets through: never more than 1s after the server is
// back, for outages from 50ms to 20s, over many random jitter draws.
func TestDoOutage(t *testing.T) {
	for _, outage := range []time.Duration{50 * time.Millisecond, 700 * time.Millisecond, 2500 * time.Millisecond, 3300 * time.Millisecond, 8 * time.Second, 20 * time.Second} {
		t.Run(outage.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				for range 50 {
					start := time.Now()
					attempts := 0
					err := retry.Do(t.Context(), nil, func(context.Context, int) error {
						attempts++
						if time.Since(start) < outage {
							return driver.NewError(driver.Unavailable, errors.New("connection refused"))
						}
						return nil
					})
					if err != nil {
						t.Fatalf("Do after a %v outage = %v, want success", outage, err)
					}
					if late := time.Since(start) - outage; late >= time.Second {
						t.Errorf("first success %v after the server came back, want < 1s", late)
					}
				}
			})
		})
	}
}

// TestDoCallerDeadline: a caller's deadline shorter than the budget ends
// the retries, and no wait is started that would end past it.
func TestDoCallerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		calls := 0
		err := retry.Do(ctx, nil, func(context.Context, int) error {
			calls++
			return driver.NewError(driver.Unavailable, errors.New("down"))
		})
		if elapsed := time.Since(start); elapsed > 5*time.Second || elapsed < 4*time.Second {
			t.Errorf("Do with a 5s deadline returned after %v, want within its last second", elapsed)
		}
		if driver.CodeOf(err) != driver.Unavailable || calls < 5 {
			t.Errorf("Do = %v after %d calls, want the last Unavailable error after at least 5", err, calls)
		}
	})
}
