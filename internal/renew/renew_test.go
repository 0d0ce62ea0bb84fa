package renew

import (
	"context"
	"errors"
	"math"
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
		// acts on: never a busy loop, never more than 46 minutes apart.
		prev := start
		for _, e := range merge(f.renews, f.replaces) {
			if gap := e.Sub(prev); gap < time.Minute || gap > 46*time.Minute {
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
		time.Sleep(50 * time.Minute)
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
