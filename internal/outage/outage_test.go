package outage

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/vaultly/vaultly/internal/errs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestProbeDelay(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		n      int
		r      float64
		want   time.Duration
		reason string
	}{
		{1, 0, 50 * ms, "first probe: cap 100ms, half of it at least"},
		{1, 0.5, 75 * ms, ""},
		{1, 1, 100*ms - 1, "r = 1 stays below the cap"},
		{0, 0, 50 * ms, "n < 1 is the first"},
		{2, 0, 100 * ms, "cap doubles"},
		{3, 0.999999, 399999800, "cap 400ms"},
		{4, 0, 250 * ms, "cap reaches ProbeMax"},
		{100, 0.5, 375 * ms, "no overflow for a long outage"},
		{1 << 30, 0, 250 * ms, ""},
		{2, -1, 100 * ms, "r below 0 counts as 0"},
	}
	for _, tt := range tests {
		if got := ProbeDelay(tt.n, tt.r, 100*ms, 500*ms); got != tt.want {
			t.Errorf("ProbeDelay(%d, %v, 100ms, 500ms) = %v, want %v %s", tt.n, tt.r, got, tt.want, tt.reason)
		}
	}
	// Property: every delay is within [cap/2, cap) and never above max,
	// so an outage gets at most 2/max probes per second and a recovery
	// is seen within max (plus one probe).
	for n := 1; n < 80; n++ {
		for _, r := range []float64{0, 0.1, 0.5, 0.9, 0.999999} {
			d := ProbeDelay(n, r, 100*ms, 500*ms)
			c := min(500*ms, 100*ms<<min(n-1, 10))
			if d < c/2 || d >= c {
				t.Fatalf("ProbeDelay(%d, %v) = %v, want in [%v, %v)", n, r, d, c/2, c)
			}
		}
	}
}

var errSealed = errs.Msg(errs.Unavailable, "vault is sealed")

// fakeBackend counts probes and answers them as told.
type fakeBackend struct {
	mu       sync.Mutex
	up       bool
	times    []time.Time
	inFlight atomic.Int32
	maxIn    atomic.Int32
}

func (f *fakeBackend) probe(ctx context.Context) error {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond) // a probe takes time: no overlap allowed
	f.mu.Lock()
	defer f.mu.Unlock()
	f.times = append(f.times, time.Now())
	if f.up {
		return nil
	}
	return errSealed
}

func (f *fakeBackend) setUp(up bool) {
	f.mu.Lock()
	f.up = up
	f.mu.Unlock()
}

func (f *fakeBackend) probeTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.times...)
}

func TestBreaker(t *testing.T) {
	t.Run("opens at the threshold, probes one at a time, closes on an answer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeBackend{}
			b := New(Options{Probe: f.probe})
			defer b.Close()
			for i := range DefaultThreshold - 1 {
				b.Failure(errSealed)
				if b.Open() {
					t.Fatalf("open after %d failures, want closed below the threshold %d", i+1, DefaultThreshold)
				}
			}
			b.Success() // an answer in between starts the count again
			for range DefaultThreshold - 1 {
				b.Failure(errSealed)
			}
			if b.Open() {
				t.Fatal("open after a success and threshold-1 failures")
			}
			b.Failure(errSealed)
			if !b.Open() {
				t.Fatalf("closed after %d failures in a row, want open", DefaultThreshold)
			}
			opened := time.Now()
			time.Sleep(10 * time.Second) // a 10 s outage
			times := f.probeTimes()
			// Gaps: 50–100, 100–200, 200–400, then 250–500 ms (+2ms per probe).
			if len(times) < 10*2 || len(times) > 10*4+3 {
				t.Errorf("%d probes in 10 s, want 20–43 (2–4 per second)", len(times))
			}
			if m := f.maxIn.Load(); m != 1 {
				t.Errorf("at most %d probes in flight, want 1", m)
			}
			prev := opened
			for i, pt := range times {
				c := min(DefaultProbeMax, DefaultProbeInitial<<min(i, 10))
				if gap := pt.Sub(prev) - 2*time.Millisecond; gap < c/2 || gap >= c {
					t.Errorf("gap before probe %d = %v, want in [%v, %v)", i+1, gap, c/2, c)
				}
				prev = pt
			}
			st := b.State()
			// A probe sent in the last 2 ms is still on its way (Sent counts
			// it, Probes not yet).
			if inFlight := st.Sent - uint64(len(times)); !st.Open || st.Probes != len(times) || inFlight > 1 || st.Opened != 1 || !st.Since.Equal(opened) {
				t.Errorf("State() = %+v, want open since %v with %d failed probes", st, opened, len(times))
			}

			f.setUp(true)
			back := time.Now()
			time.Sleep(DefaultProbeMax + 10*time.Millisecond)
			if b.Open() {
				t.Fatalf("still open %v after the backend came back, want closed within ProbeMax + one probe", time.Since(back))
			}
			n := len(f.probeTimes())
			time.Sleep(5 * time.Second)
			if got := len(f.probeTimes()); got != n {
				t.Errorf("%d probes after the breaker closed, want 0", got-n)
			}
		})
	})

	t.Run("waiters are released when a probe is answered", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeBackend{}
			b := New(Options{Probe: f.probe, Threshold: 1})
			defer b.Close()
			b.Failure(errSealed)
			var wg sync.WaitGroup
			released := make([]time.Duration, 50)
			start := time.Now()
			for i := range released {
				wg.Go(func() {
					if err := b.Admit(context.Background(), false, 0); err != nil {
						t.Errorf("Admit = %v, want nil once the backend answers", err)
					}
					released[i] = time.Since(start)
				})
			}
			time.Sleep(3 * time.Second)
			synctest.Wait()
			for i, d := range released {
				if d != 0 {
					t.Fatalf("waiter %d released after %v while the backend is down", i, d)
				}
			}
			f.setUp(true)
			up := time.Since(start)
			wg.Wait()
			for i, d := range released {
				if d-up > DefaultProbeMax+5*time.Millisecond {
					t.Errorf("waiter %d released %v after the backend came back, want within ProbeMax + a probe", i, d-up)
				}
			}
			if m := f.maxIn.Load(); m != 1 {
				t.Errorf("%d probes in flight with 50 waiters, want 1", m)
			}
		})
	})

	t.Run("a call in flight that gets an answer closes it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeBackend{}
			b := New(Options{Probe: f.probe, Threshold: 1})
			defer b.Close()
			b.Failure(errSealed)
			done := make(chan error)
			go func() { done <- b.Admit(context.Background(), false, 0) }()
			synctest.Wait()
			b.Success()
			if err := <-done; err != nil {
				t.Errorf("Admit after Success = %v, want nil", err)
			}
			if b.Open() {
				t.Error("open after Success")
			}
			synctest.Wait() // the prober ended (goleak and synctest would say otherwise)
		})
	})

	t.Run("fail fast and deadlines", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeBackend{}
			b := New(Options{Probe: f.probe, Threshold: 1})
			defer b.Close()
			if err := b.Admit(context.Background(), true, 0); err != nil {
				t.Fatalf("Admit while closed = %v, want nil", err)
			}
			since := time.Now()
			b.Failure(errSealed)

			start := time.Now()
			err := b.Admit(context.Background(), true, 0)
			if d := time.Since(start); d != 0 {
				t.Errorf("fail-fast Admit took %v, want at once", d)
			}
			var oe *OpenError
			if !errors.As(err, &oe) || !oe.Since.Equal(since) || !errors.Is(err, errSealed) {
				t.Fatalf("fail-fast Admit = %v, want an *OpenError since %v wrapping the last failure", err, since)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start = time.Now()
			err = b.Admit(ctx, false, 0)
			if d := time.Since(start); d != 2*time.Second {
				t.Errorf("Admit with a 2s deadline returned after %v, want at the deadline", d)
			}
			if !errors.As(err, &oe) || oe.Probes < 3 {
				t.Fatalf("Admit at the deadline = %v, want an *OpenError counting the probes that failed (>= 3 in 2s)", err)
			}
			want := "backend unavailable since " + since.Format("15:04:05.000") + " (outage: one probe at a time, "
			if msg := err.Error(); !strings.HasPrefix(msg, want) || !strings.HasSuffix(msg, " failed): vault is sealed") {
				t.Errorf("Error() = %q, want %q... failed): vault is sealed", msg, want)
			}
		})
	})

	t.Run("a wait bounded by probes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeBackend{}
			b := New(Options{Probe: f.probe, Threshold: 1})
			defer b.Close()
			b.Failure(errSealed)
			for _, probes := range []int{1, 3} {
				before := len(f.probeTimes())
				err := b.Admit(context.Background(), false, probes)
				var oe *OpenError
				if !errors.As(err, &oe) {
					t.Fatalf("Admit(.., %d) = %v, want an *OpenError after %d failed probes", probes, err, probes)
				}
				if got := len(f.probeTimes()) - before; got != probes {
					t.Errorf("Admit(.., %d) returned after %d probes, want %d", probes, got, probes)
				}
			}
			// The backend comes back during a bounded wait: released at once.
			done := make(chan error)
			go func() { done <- b.Admit(context.Background(), false, 100) }()
			time.Sleep(2 * time.Second)
			f.setUp(true)
			if err := <-done; err != nil {
				t.Errorf("Admit(.., 100) when the backend came back = %v, want nil", err)
			}
		})
	})

	t.Run("Opened", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeBackend{}
			b := New(Options{Probe: f.probe, Threshold: 2})
			defer b.Close()
			ch := b.Opened()
			if ch2 := b.Opened(); ch2 != ch {
				t.Error("Opened returned two channels for one closed period, want one shared")
			}
			b.Failure(errSealed)
			select {
			case <-ch:
				t.Fatal("Opened closed below the threshold")
			default:
			}
			b.Failure(errSealed)
			select {
			case <-ch:
			default:
				t.Fatal("Opened not closed when the breaker opened")
			}
			select {
			case <-b.Opened():
			default:
				t.Fatal("Opened while open is not closed")
			}
		})
	})

	t.Run("disabled", func(t *testing.T) {
		f := &fakeBackend{}
		for _, o := range []Options{{Threshold: -1, Probe: f.probe}, {}} {
			b := New(o)
			for range 100 {
				b.Failure(errSealed)
			}
			if b.Open() {
				t.Errorf("New(%+v) opened, want never", o)
			}
			b.Close()
		}
	})

	t.Run("Close stops the prober and releases waiters", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeBackend{}
			closes := 0
			b := New(Options{Probe: f.probe, Threshold: 1, OnClose: func(time.Time, int) { closes++ }})
			b.Failure(errSealed)
			done := make(chan error)
			go func() { done <- b.Admit(context.Background(), false, 0) }()
			time.Sleep(time.Second)
			b.Close()
			if closes != 0 {
				t.Errorf("OnClose called %d times by Close, want 0 (the backend did not answer)", closes)
			}
			if err := <-done; err != nil {
				t.Errorf("Admit after Close = %v, want nil (the call then fails on its own)", err)
			}
			b.Failure(errSealed)
			if b.Open() {
				t.Error("opened after Close")
			}
		})
	})

	t.Run("a probe that panics is a failed probe", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var calls atomic.Int32
			b := New(Options{Threshold: 1, Probe: func(context.Context) error {
				if calls.Add(1) < 3 {
					panic("boom")
				}
				return nil
			}})
			defer b.Close()
			b.Failure(errSealed)
			time.Sleep(2 * time.Second)
			if b.Open() || calls.Load() != 3 {
				t.Errorf("open = %v after %d probes, want closed by the third", b.Open(), calls.Load())
			}
		})
	})

	t.Run("callbacks", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeBackend{}
			var mu sync.Mutex
			var opens, closes []string
			b := New(Options{Probe: f.probe, Threshold: 1,
				OnOpen: func(since time.Time, last error) {
					mu.Lock()
					defer mu.Unlock()
					opens = append(opens, last.Error())
				},
				OnClose: func(since time.Time, probes int) {
					mu.Lock()
					defer mu.Unlock()
					closes = append(closes, time.Since(since).String())
				},
			})
			defer b.Close()
			b.Failure(errSealed)
			time.Sleep(time.Second)
			f.setUp(true)
			time.Sleep(time.Second)
			mu.Lock()
			defer mu.Unlock()
			if len(opens) != 1 || len(closes) != 1 {
				t.Errorf("OnOpen %d times, OnClose %d times, want 1 each", len(opens), len(closes))
			}
		})
	})
}
