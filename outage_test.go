package vaultly_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/retry"
)

// The Store's outage breaker over memsecrets with an injected Unavailable
// on every path, inside synctest bubbles (virtual time: a read that does
// not wait takes 0 s). The same scenario against a sealed real Vault
// behind a counting proxy is in outage_vault_test.go.

var errDown = driver.NewError(driver.Unavailable, errors.New("vault is sealed"))

// outageStore is a Store over mem with keys k0..k(n-1) cached.
func outageStore(t *testing.T, mem *memsecrets.Backend, n int, o *vaultly.Options) *vaultly.Store {
	t.Helper()
	o.Logger = quiet
	s := vaultly.New(mem, o)
	t.Cleanup(func() { s.Close() })
	for i := range n {
		mem.SetValue(fmt.Sprintf("k%d", i), "v1")
		if _, err := s.Get(t.Context(), fmt.Sprintf("k%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestOutageStaleAtOnce(t *testing.T) {
	t.Parallel()
	for _, failFast := range []bool{false, true} {
		t.Run(fmt.Sprintf("FailFast=%v", failFast), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const keys = 20
				mem := memsecrets.New(nil)
				s := outageStore(t, mem, keys, &vaultly.Options{TTL: time.Second, StaleOnError: time.Hour, RefreshAhead: -1,
					Outage: &vaultly.OutagePolicy{FailFast: failFast}})
				time.Sleep(2 * time.Second) // every entry expired
				mem.SetError("", errDown)
				down := time.Now()
				mem.ResetCalls()

				// 20 readers, each reading its key every 10ms, for 10 s.
				var (
					wg      sync.WaitGroup
					mu      sync.Mutex
					slowest time.Duration // after the breaker opened
					errs    int
				)
				opened := make(chan struct{})
				var openOnce sync.Once
				for i := range keys {
					wg.Go(func() {
						for time.Since(down) < 10*time.Second {
							start := time.Now()
							v, err := s.Get(context.Background(), fmt.Sprintf("k%d", i))
							d := time.Since(start)
							mu.Lock()
							if err != nil || v != "v1" {
								errs++
							}
							select {
							case <-opened:
								slowest = max(slowest, d)
							default:
							}
							mu.Unlock()
							if s.Stats().Outages > 0 {
								openOnce.Do(func() { close(opened) })
							}
							time.Sleep(10 * time.Millisecond)
						}
					})
				}
				// Backend calls per second, sampled.
				var perSecond []int
				last := 0
				for range 10 {
					time.Sleep(time.Second)
					n := len(mem.Calls())
					perSecond = append(perSecond, n-last)
					last = n
				}
				wg.Wait()
				if errs != 0 {
					t.Errorf("%d stale reads failed or returned another value, want 0", errs)
				}
				if slowest != 0 {
					t.Errorf("slowest stale read after the breaker opened took %v (virtual time), want 0: served without waiting", slowest)
				}
				// The first second holds the reads that opened the breaker
				// (each expired key's first fetch, its retries) and the fast
				// probes; then 2–4 probes per second (gaps of 250–500ms).
				if perSecond[0] > 3*keys {
					t.Errorf("backend calls in the first second = %d, want <= %d", perSecond[0], 3*keys)
				}
				for i, n := range perSecond[1:] {
					if n > 4 {
						t.Errorf("backend calls in second %d of the outage = %d, want <= 4 from the whole Store (%d keys read every 10ms)", i+2, n, keys)
					}
				}
				st := s.Stats()
				if st.Outages != 1 || st.Probes < 18 {
					t.Errorf("Stats() = %+v, want 1 outage and >= 18 probes in 10 s", st)
				}

				// Recovery: the next probe closes the breaker; a read then
				// gets the new value.
				for i := range keys {
					mem.SetValue(fmt.Sprintf("k%d", i), "v2")
				}
				mem.SetError("", nil)
				back := time.Now()
				for {
					v, err := s.Get(context.Background(), "k0")
					if err == nil && v == "v2" {
						break
					}
					if time.Since(back) > time.Minute {
						t.Fatalf("no fresh value a minute after the backend came back: %q, %v", v, err)
					}
					time.Sleep(time.Millisecond)
				}
				if d := time.Since(back); d > 500*time.Millisecond {
					t.Errorf("fresh value %v after the backend came back, want within ProbeMax (500ms)", d)
				}
			})
		})
	}
}

// Readers that were waiting for a read when the breaker opened get the
// stale value then, not at the end of the retry budget.
func TestOutageReleasesWaitingStaleReaders(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := memsecrets.New(nil)
		s := outageStore(t, mem, 1, &vaultly.Options{TTL: time.Second, StaleOnError: time.Hour, RefreshAhead: -1})
		time.Sleep(2 * time.Second)
		mem.SetError("", errDown)
		start := time.Now()
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				// context.Background: a leader with no deadline too.
				if v, err := s.Get(context.Background(), "k0"); err != nil || v != "v1" {
					t.Errorf("Get = %q, %v; want the stale value", v, err)
				}
			})
		}
		wg.Wait()
		// Three failed reads open the breaker: retry waits of < 50ms and < 100ms.
		if d := time.Since(start); d >= 150*time.Millisecond {
			t.Errorf("waiting stale readers answered after %v, want when the breaker opened (< 150ms)", d)
		}
	})
}

func TestOutageWaitingCalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		policy   *vaultly.OutagePolicy
		retry    *retry.Policy
		deadline time.Duration // 0: none
		wantErr  bool
		wantWait time.Duration // how long the call takes, at most (at least, with an error)
	}{
		{"default waits and succeeds", nil, nil, 0, false, 3*time.Second + 500*time.Millisecond},
		{"the caller's deadline ends the wait", nil, nil, time.Second, true, time.Second},
		{"the retry budget ends the wait", nil, &retry.Policy{Budget: 2 * time.Second}, 0, true, 2 * time.Second},
		{"fail fast", &vaultly.OutagePolicy{FailFast: true}, nil, 0, true, 0},
		{"one attempt waits for one probe", nil, &retry.Policy{MaxAttempts: 1}, 0, true, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mem := memsecrets.New(nil)
				s := outageStore(t, mem, 0, &vaultly.Options{Outage: tt.policy, Retry: tt.retry})
				mem.SetValue("cold", "v")
				mem.SetError("", errDown)
				// Three failed reads open the breaker.
				for i := range 3 {
					ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
					_, _ = s.Get(ctx, fmt.Sprintf("open%d", i))
					cancel()
					for s.Stats().Errors+s.Stats().Outages == uint64(i) && s.Stats().Outages == 0 {
						time.Sleep(time.Millisecond)
					}
				}
				for s.Stats().Outages == 0 {
					time.Sleep(time.Millisecond)
				}
				ctx := context.Background()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				var back sync.WaitGroup
				defer back.Wait()
				back.Go(func() {
					time.Sleep(3 * time.Second)
					mem.SetError("", nil)
				})
				calls := len(mem.Calls())
				start := time.Now()
				v, err := s.Get(ctx, "cold")
				took := time.Since(start)
				if tt.wantErr {
					if vaultly.CodeOf(err) != vaultly.Unavailable && vaultly.CodeOf(err) != vaultly.DeadlineExceeded {
						t.Fatalf("Get = %q, %v; want an Unavailable or DeadlineExceeded error", v, err)
					}
					if took > tt.wantWait {
						t.Errorf("Get failed after %v, want within %v", took, tt.wantWait)
					}
					if tt.deadline == 0 && !strings.Contains(err.Error(), "backend unavailable since ") {
						t.Errorf("error %q does not say since when the backend is unavailable", err)
					}
				} else {
					if err != nil || v != "v" {
						t.Fatalf("Get = %q, %v; want the value once the backend answers", v, err)
					}
					if took > tt.wantWait {
						t.Errorf("Get took %v, want within %v (the backend is back after 3 s)", took, tt.wantWait)
					}
				}
				// While the breaker is open, the call itself sends nothing:
				// only probes reach the backend (2–4 a second). When it
				// closes, the call's read goes out, and so may the reads of
				// the three entries whose failures opened it (their fetches
				// wait in the background and are released together).
				if got, limit := len(mem.Calls())-calls, int(took/(250*time.Millisecond))+2+3; got > limit {
					t.Errorf("%d backend calls during a %v call, want <= %d (probes only, then the call's read and the 3 released reads)", got, took, limit)
				}
			})
		})
	}
}

// Writes wait for an open breaker like reads, and go out when it closes.
func TestOutageWrites(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := memsecrets.New(nil)
		s := outageStore(t, mem, 3, &vaultly.Options{TTL: time.Second, RefreshAhead: -1})
		time.Sleep(2 * time.Second)
		mem.SetError("", errDown)
		for i := range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			_, _ = s.Get(ctx, fmt.Sprintf("k%d", i))
			cancel()
		}
		for s.Stats().Outages == 0 {
			time.Sleep(time.Millisecond)
		}
		go func() {
			time.Sleep(2 * time.Second)
			mem.SetError("", nil)
		}()
		start := time.Now()
		calls := len(mem.Calls())
		if err := s.Put(context.Background(), "w", map[string]any{"value": "x"}); err != nil {
			t.Fatalf("Put during a 2 s outage = %v, want nil once the backend is back", err)
		}
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("Put took %v, want within ProbeMax of the backend's return (2 s)", d)
		}
		writes := 0
		for _, c := range mem.Calls()[calls:] {
			if c.Op == memsecrets.OpWrite {
				writes++
			}
		}
		if writes != 1 {
			t.Errorf("Put sent %d writes, want 1: none while the breaker was open", writes)
		}
	})
}

// Without the breaker each entry retries alone: the load the breaker
// removes (the "before" of the README's figures).
func TestOutageOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const keys = 20
		mem := memsecrets.New(nil)
		s := outageStore(t, mem, keys, &vaultly.Options{TTL: time.Second, StaleOnError: time.Hour, RefreshAhead: -1,
			Outage: &vaultly.OutagePolicy{Threshold: -1}})
		time.Sleep(2 * time.Second)
		mem.SetError("", errDown)
		mem.ResetCalls()
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				for range 100 { // 5 s
					_, _ = s.Get(context.Background(), fmt.Sprintf("k%d", i))
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		if n := len(mem.Calls()); n < keys*5 {
			t.Errorf("%d backend calls in 5 s with the breaker off, want >= %d (every key retries alone)", n, keys*5)
		}
		if st := s.Stats(); st.Outages != 0 || st.Probes != 0 {
			t.Errorf("Stats() = %+v with the breaker off, want no outage, no probe", st)
		}
	})
}
