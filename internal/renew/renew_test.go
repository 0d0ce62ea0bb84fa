package renew

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/quick"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestRenewAtProperties(t *testing.T) {
	prop := func(ttlSec uint32, r float64, frac, jit float64) bool {
		r = math.Abs(math.Mod(r, 1))
		l := Lease{Obtained: epoch, TTL: time.Duration(ttlSec%(86400*30)+1) * time.Second, Renewable: true}
		p := Policy{Fraction: math.Abs(math.Mod(frac, 1)), Jitter: math.Abs(math.Mod(jit, 1))}
		at := RenewAt(l, p, r)
		// Always strictly inside the lease's lifetime...
		if !at.After(l.Obtained) || !at.Before(l.Expires()) {
			return false
		}
		// ...and within the policy's jitter window around the fraction.
		d := p.withDefaults()
		lo := l.Obtained.Add(time.Duration(float64(l.TTL) * math.Max(0.05, d.Fraction-d.Jitter)))
		hi := l.Obtained.Add(time.Duration(float64(l.TTL) * math.Min(0.95, d.Fraction+d.Jitter)))
		return !at.Before(lo.Add(-time.Nanosecond)) && !at.After(hi.Add(time.Nanosecond))
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 5000}); err != nil {
		t.Error(err)
	}
}

// TestFirstRenewAtProperties: the first action is always inside the lease,
// at most at 80% of it, within Fraction ± FirstJitter; and with the default
// policy the window it spreads a fleet over is at least 30% of the TTL.
func TestFirstRenewAtProperties(t *testing.T) {
	prop := func(ttlSec uint32, r float64, frac, jit float64) bool {
		r = math.Abs(math.Mod(r, 1))
		l := Lease{Obtained: epoch, TTL: time.Duration(ttlSec%(86400*30)+1) * time.Second, Renewable: true}
		p := Policy{Fraction: math.Abs(math.Mod(frac, 1)), FirstJitter: math.Abs(math.Mod(jit, 1))}
		at := FirstRenewAt(l, p, r)
		if !at.After(l.Obtained) || !at.Before(l.Expires()) {
			return false
		}
		d := p.withDefaults()
		lo := l.Obtained.Add(time.Duration(float64(l.TTL) * math.Max(0.05, d.Fraction-d.FirstJitter)))
		hi := l.Obtained.Add(time.Duration(float64(l.TTL) * math.Min(firstMax, d.Fraction+d.FirstJitter)))
		return !at.Before(lo.Add(-time.Nanosecond)) && !at.After(hi.Add(time.Nanosecond))
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 5000}); err != nil {
		t.Error(err)
	}
	spread := func(ttlSec uint32) bool {
		l := Lease{Obtained: epoch, TTL: time.Duration(ttlSec%(86400*30)+1) * time.Second, Renewable: true}
		w := FirstRenewAt(l, Policy{}, math.Nextafter(1, 0)).Sub(FirstRenewAt(l, Policy{}, 0))
		return w >= time.Duration(0.3*float64(l.TTL))
	}
	if err := quick.Check(spread, &quick.Config{MaxCount: 2000}); err != nil {
		t.Errorf("default first-action window below 30%% of the TTL: %v", err)
	}
	l := Lease{Obtained: epoch, TTL: 60 * time.Minute, Renewable: true}
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{{0, 25 * time.Minute}, {0.5, 40 * time.Minute}, {0.7, 46 * time.Minute}, {0.9, 48 * time.Minute}, {0.99, 48 * time.Minute}} {
		if got := FirstRenewAt(l, Policy{}, tc.r).Sub(epoch).Round(time.Millisecond); got != tc.want {
			t.Errorf("FirstRenewAt(1h, r=%v) = %v, want %v", tc.r, got, tc.want)
		}
	}
}

// TestLoopFleetSpread: 20 loops started at the same instant on leases
// obtained at that instant (each with its own random source) make their
// first renewals over at least 30% of the TTL, all before expiry; and after
// a Reset that hands all of them a lease obtained at one instant (a fleet
// logging in again together), the next actions spread the same way.
func TestLoopFleetSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, ttl = 20, time.Hour
		start := time.Now()
		fs := make([]*fakeIssuer, n)
		ls := make([]*Loop, n)
		for i := range n {
			fs[i] = &fakeIssuer{ttl: ttl, maxTTL: 100 * time.Hour, issued: start}
			rng := rand.New(rand.NewPCG(uint64(i), 17))
			ls[i] = Start(Lease{Obtained: start, TTL: ttl, Renewable: true}, fs[i], &Options{Rand: rng.Float64})
		}
		time.Sleep(ttl) // every first renewal is due before 90% of the TTL
		synctest.Wait()
		firsts := func(since time.Time) (lo, hi time.Duration) {
			lo, hi = ttl, 0
			for i, f := range fs {
				f.mu.Lock()
				var at time.Time
				for _, r := range f.renews {
					if r.After(since) {
						at = r
						break
					}
				}
				f.mu.Unlock()
				if at.IsZero() {
					t.Fatalf("loop %d did not renew within the TTL", i)
				}
				d := at.Sub(since)
				lo, hi = min(lo, d), max(hi, d)
			}
			return lo, hi
		}
		lo, hi := firsts(start)
		if hi-lo < ttl*3/10 || hi >= ttl {
			t.Errorf("first renewals between %v and %v after start: spread %v, want >= 30%% of %v and before expiry", lo, hi, hi-lo, ttl)
		}
		reset := time.Now()
		for _, l := range ls {
			l.Reset(Lease{Obtained: reset, TTL: ttl, Renewable: true})
		}
		time.Sleep(ttl)
		synctest.Wait()
		lo, hi = firsts(reset)
		if hi-lo < ttl*3/10 || hi >= ttl {
			t.Errorf("renewals after a common Reset between %v and %v: spread %v, want >= 30%% of %v", lo, hi, hi-lo, ttl)
		}
		for _, l := range ls {
			l.Stop()
		}
	})
}

func TestRenewAt(t *testing.T) {
	l := Lease{Obtained: epoch, TTL: time.Hour, Renewable: true}
	tests := []struct {
		name string
		l    Lease
		r    float64
		want time.Time
	}{
		{"middle of jitter is 2/3", l, 0.5, epoch.Add(40 * time.Minute)},
		{"earliest", l, 0, epoch.Add(40*time.Minute - 6*time.Minute)},
		{"latest", l, 1, epoch.Add(40*time.Minute + 6*time.Minute)},
		{"never expires", Lease{Obtained: epoch}, 0.5, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RenewAt(tt.l, Policy{}, tt.r); !got.Equal(tt.want) {
				t.Errorf("RenewAt(%+v, 0, %v) = %v, want %v", tt.l, tt.r, got, tt.want)
			}
		})
	}
}

func TestMustReplace(t *testing.T) {
	prev := Lease{Obtained: epoch, TTL: 4 * time.Second, Renewable: true}
	at := epoch.Add(3 * time.Second)
	tests := []struct {
		name string
		next Lease
		inc  time.Duration
		want bool
	}{
		{"extended", Lease{Obtained: at, TTL: 4 * time.Second, Renewable: true}, 4 * time.Second, false},
		{"capped below increment", Lease{Obtained: at, TTL: 2 * time.Second, Renewable: true}, 4 * time.Second, true},
		{"final", Lease{Obtained: at, TTL: 4 * time.Second, Renewable: true, Final: true}, 4 * time.Second, true},
		{"not renewable", Lease{Obtained: at, TTL: 4 * time.Second}, 4 * time.Second, true},
		{"no extension", Lease{Obtained: at, TTL: time.Second, Renewable: true}, 0, true},
		{"never expires", Lease{Obtained: at, Renewable: true}, 4 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MustReplace(prev, tt.next, tt.inc); got != tt.want {
				t.Errorf("MustReplace(%+v, %+v, %v) = %v, want %v", prev, tt.next, tt.inc, got, tt.want)
			}
		})
	}
}

func TestBackoffProperties(t *testing.T) {
	prop := func(attempt uint8, r float64, minMs, maxMs uint16) bool {
		r = math.Abs(math.Mod(r, 1))
		lo, hi := time.Duration(minMs+1)*time.Millisecond, time.Duration(maxMs+1)*time.Millisecond
		d := Backoff(int(attempt), lo, hi, r)
		capd := max(lo, hi)
		if d <= 0 || d > capd {
			return false
		}
		// Grows with attempts (for the same r) until the cap.
		return Backoff(int(attempt)+1, lo, hi, r) >= d
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 5000}); err != nil {
		t.Error(err)
	}
	if got, want := Backoff(0, time.Second, time.Minute, 0), 500*time.Millisecond; got != want {
		t.Errorf("Backoff(0, 1s, 1m, 0) = %v, want %v", got, want)
	}
	if got, want := Backoff(3, time.Second, time.Minute, 1), 8*time.Second; got != want {
		t.Errorf("Backoff(3, 1s, 1m, 1) = %v, want %v", got, want)
	}
	if got, want := Backoff(100, time.Second, time.Minute, 1), time.Minute; got != want {
		t.Errorf("Backoff(100, 1s, 1m, 1) = %v, want %v", got, want)
	}
}

// fakeIssuer issues hour-long credentials capped at maxTTL from issue,
// recording every call's time. It is the far side of a Loop in tests.
type fakeIssuer struct {
	mu        sync.Mutex
	ttl       time.Duration
	maxTTL    time.Duration
	issued    time.Time
	renews    []time.Time
	replaces  []time.Time
	expiries  []time.Time // expiry of the credential at each replace
	failNext  int         // replaces to fail before succeeding
	renewFail bool
}

func (f *fakeIssuer) Renew(ctx context.Context, cur Lease) (Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	f.renews = append(f.renews, now)
	if f.renewFail {
		return Lease{}, Permanent(errors.New("revoked"))
	}
	ttl := f.ttl
	final := false
	if left := f.issued.Add(f.maxTTL).Sub(now); left < ttl {
		ttl, final = left, true
	}
	return Lease{Obtained: now, TTL: ttl, Renewable: true, Final: final}, nil
}

func (f *fakeIssuer) Replace(ctx context.Context, cur Lease) (Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	f.replaces = append(f.replaces, now)
	f.expiries = append(f.expiries, f.issued.Add(f.maxTTL))
	if f.failNext > 0 {
		f.failNext--
		return Lease{}, errors.New("vault unavailable")
	}
	f.issued = now
	return Lease{Obtained: now, TTL: f.ttl, Renewable: true}, nil
}

// TestLoopHourLongTTL simulates a day of hour-long tokens capped at 4h, in
// milliseconds of real time.
func TestLoopHourLongTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		f := &fakeIssuer{ttl: time.Hour, maxTTL: 4 * time.Hour, issued: start}
		l := Start(Lease{Obtained: start, TTL: time.Hour, Renewable: true}, f, nil)
		time.Sleep(24 * time.Hour)
		l.Stop()

		f.mu.Lock()
		defer f.mu.Unlock()
		// Every renewal or replacement comes at 2/3 ± 10% of the lease it
		// acts on (the first at 2/3 ± 25%): never a busy loop, never more
		// than 46 minutes apart (54 for the first).
		prev := start
		for i, e := range merge(f.renews, f.replaces) {
			limit := 46 * time.Minute
			if i == 0 {
				limit = 54 * time.Minute // the first: 2/3 ± 25%, at most 90%
			}
			if gap := e.Sub(prev); gap < time.Minute || gap > limit {
				t.Errorf("event at %v came %v after the previous one", e.Sub(start), gap)
			}
			prev = e
		}
		for i, r := range f.replaces {
			if !r.Before(f.expiries[i]) {
				t.Errorf("replacement %d at %v, after the credential expired at %v", i, r.Sub(start), f.expiries[i].Sub(start))
			}
		}
		// A 4h max TTL gives about 6 replacements a day and 4-5 renewals each.
		if n := len(f.replaces); n < 5 || n > 8 {
			t.Errorf("replacements in 24h = %d, want 5..8", n)
		}
		if n := len(f.renews); n < 3*len(f.replaces) || n > 6*(len(f.replaces)+1) {
			t.Errorf("renewals in 24h = %d for %d replacements", n, len(f.replaces))
		}
	})
}

func merge(a, b []time.Time) []time.Time {
	out := append(append([]time.Time{}, a...), b...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Before(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func TestLoopFirstRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		f := &fakeIssuer{ttl: time.Hour, maxTTL: 100 * time.Hour, issued: start}
		l := Start(Lease{Obtained: start, TTL: time.Hour, Renewable: true}, f, &Options{Rand: func() float64 { return 0.5 }})
		time.Sleep(2 * time.Hour)
		l.Stop()
		f.mu.Lock()
		defer f.mu.Unlock()
		want := []time.Duration{40 * time.Minute, 80 * time.Minute, 120 * time.Minute}
		var got []time.Duration
		for _, r := range f.renews {
			got = append(got, r.Sub(start))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("renewal times mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestLoopReplaceBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		f := &fakeIssuer{ttl: time.Hour, maxTTL: time.Hour, issued: start, failNext: 4}
		var mu sync.Mutex
		var delays []time.Duration
		l := Start(Lease{Obtained: start, TTL: time.Hour, Renewable: false}, f, &Options{
			Rand: func() float64 { return 1 },
			OnError: func(op string, err error, d time.Duration) {
				mu.Lock()
				delays = append(delays, d)
				mu.Unlock()
			},
		})
		time.Sleep(58 * time.Minute) // the first replacement comes at 90% (r = 1), then 15s of backoff
		l.Stop()
		f.mu.Lock()
		defer f.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, delays); diff != "" {
			t.Errorf("backoff delays mismatch (-want +got):\n%s", diff)
		}
		if len(f.replaces) != 5 || len(f.renews) != 0 {
			t.Errorf("replaces = %d, renews = %d; want 5 and 0 (not renewable)", len(f.replaces), len(f.renews))
		}
	})
}

func TestLoopPermanentRenewFailureAndReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		f := &fakeIssuer{ttl: time.Hour, maxTTL: 10 * time.Hour, issued: start, renewFail: true}
		var replaced []Lease
		var mu sync.Mutex
		l := Start(Lease{Obtained: start, TTL: time.Hour, Renewable: true}, f, &Options{
			Rand:      func() float64 { return 0.5 },
			OnReplace: func(l Lease) { mu.Lock(); replaced = append(replaced, l); mu.Unlock() },
		})
		time.Sleep(41 * time.Minute) // renewal at 40m fails, replaced at once
		f.mu.Lock()
		if len(f.renews) != 1 || len(f.replaces) != 1 || f.replaces[0].Sub(start) != 40*time.Minute {
			t.Errorf("after a permanent renew failure: renews %d, replaces %v", len(f.renews), len(f.replaces))
		}
		f.renewFail = false
		f.mu.Unlock()
		// A credential replaced outside the loop restarts the schedule.
		l.Reset(Lease{Obtained: time.Now(), TTL: 30 * time.Minute, Renewable: true})
		synctest.Wait()
		time.Sleep(21 * time.Minute)
		l.Stop()
		f.mu.Lock()
		defer f.mu.Unlock()
		if got, want := f.renews[len(f.renews)-1].Sub(start), 41*time.Minute+20*time.Minute; got != want {
			t.Errorf("renewal after Reset at %v, want %v", got, want)
		}
	})
}

func TestStopIsIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Start(Lease{Obtained: time.Now()}, &fakeIssuer{}, nil)
		l.Stop()
		l.Stop()
	})
}

// TestReplaceBy: a lease that must be replaced is replaced at least
// ReplaceMargin before it ends (never before it was obtained), and a time
// already earlier than that is kept.
func TestReplaceBy(t *testing.T) {
	l := func(ttl time.Duration) Lease { return Lease{Obtained: epoch, TTL: ttl} }
	for _, tc := range []struct {
		ttl      time.Duration
		at, want time.Duration // after epoch
	}{
		{time.Hour, 40 * time.Minute, 40 * time.Minute},
		{3 * time.Second, 2 * time.Second, 2 * time.Second},
		{2500 * time.Millisecond, 1800 * time.Millisecond, 1500 * time.Millisecond},
		{800 * time.Millisecond, 500 * time.Millisecond, 0},
	} {
		if got := ReplaceBy(l(tc.ttl), epoch.Add(tc.at)).Sub(epoch); got != tc.want {
			t.Errorf("ReplaceBy(ttl %v, at +%v) = +%v, want +%v", tc.ttl, tc.at, got, tc.want)
		}
	}
	if got := ReplaceBy(Lease{Obtained: epoch}, time.Time{}); !got.IsZero() {
		t.Errorf("ReplaceBy(no end) = %v, want zero", got)
	}
}

// TestRetryWithin: the shared retry rule of leases and certificates.
func TestRetryWithin(t *testing.T) {
	p := Policy{MinBackoff: 250 * time.Millisecond, MaxBackoff: 30 * time.Second}
	for _, tc := range []struct {
		attempt  int
		left     time.Duration
		min, max time.Duration
	}{
		{1, 0, 125 * time.Millisecond, 250 * time.Millisecond},            // no end known: plain backoff
		{20, 0, 15 * time.Second, 30 * time.Second},                       // capped
		{20, time.Hour, 15 * time.Second, 30 * time.Second},               // plenty left
		{20, 4 * time.Second, time.Second, 2 * time.Second},               // half of what is left
		{1, 20 * time.Millisecond, retryFloor, retryFloor},                // never a spin
		{20, -time.Minute, deadRetryMin, deadRetryMax},                    // ended: about once a second
		{1, -time.Second, 125 * time.Millisecond, 250 * time.Millisecond}, // ended, early: the backoff is shorter
	} {
		for _, rnd := range []float64{0, 0.5, 0.999999} {
			if got := RetryWithin(p, tc.attempt, tc.left, rnd); got < tc.min || got > tc.max {
				t.Errorf("RetryWithin(attempt %d, left %v, r %v) = %v, want in [%v, %v]", tc.attempt, tc.left, rnd, got, tc.min, tc.max)
			}
		}
	}
}
