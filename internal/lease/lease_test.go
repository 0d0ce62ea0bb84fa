package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/renew"
	"github.com/vaultly/vaultly/memsecrets"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRetireAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name             string
		rotated, expires time.Time
		want             time.Time
	}{
		{"half way", t0, t0.Add(2 * time.Second), t0.Add(time.Second)},
		{"already expired", t0, t0.Add(-time.Second), t0},
		{"expires now", t0, t0, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retireAt(tt.rotated, tt.expires); !got.Equal(tt.want) {
				t.Errorf("retireAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMustReplace(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := renew.Lease{Obtained: t0, TTL: 4 * time.Second, Renewable: true}
	at2 := t0.Add(2 * time.Second)
	tests := []struct {
		name      string
		next      renew.Lease
		increment time.Duration
		want      bool
	}{
		{"extended by the increment", renew.Lease{Obtained: at2, TTL: 4 * time.Second, Renewable: true}, 4 * time.Second, false},
		{"capped at max TTL", renew.Lease{Obtained: at2, TTL: 3 * time.Second, Renewable: true}, 4 * time.Second, true},
		{"not renewable any more", renew.Lease{Obtained: at2, TTL: 4 * time.Second}, 4 * time.Second, true},
		{"no later than before", renew.Lease{Obtained: at2, TTL: 2 * time.Second, Renewable: true}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustReplace(prev, tt.next, tt.increment); got != tt.want {
				t.Errorf("mustReplace(%+v, %+v, %v) = %v, want %v", prev, tt.next, tt.increment, got, tt.want)
			}
		})
	}
}

func TestActAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, rnd := range []float64{0, 0.5, 0.999999} {
		got := actAt(t0, 3*time.Second, rnd).Sub(t0)
		if got < 1700*time.Millisecond || got > 2300*time.Millisecond {
			t.Errorf("actAt(t0, 3s, %v) = t0+%v, want within 2s ± 10%% of the TTL", rnd, got)
		}
	}
	if got := actAt(t0, 3*time.Second, 0.5).Sub(t0); got != 2*time.Second {
		t.Errorf("actAt(t0, 3s, 0.5) = t0+%v, want t0+2s", got)
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		attempt  int
		limit    time.Duration
		min, max time.Duration
	}{
		{1, 0, 125 * time.Millisecond, 250 * time.Millisecond},
		{2, 0, 250 * time.Millisecond, 500 * time.Millisecond},
		{5, 0, 2 * time.Second, 4 * time.Second},
		{100, 0, 15 * time.Second, 30 * time.Second},
		{100, 4 * time.Second, 2 * time.Second, 2 * time.Second},                 // bounded by the lease's end
		{1, 20 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}, // never a spin
		{1, -time.Second, 125 * time.Millisecond, 250 * time.Millisecond},        // lease over: plain backoff
		{100, -time.Second, 500 * time.Millisecond, time.Second},                 // lease over, long outage: still about once a second
		{7, -time.Hour, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for _, rnd := range []float64{0, 0.5, 0.999999} {
			got := retryDelay(tt.attempt, rnd, tt.limit)
			if got < tt.min || got > tt.max {
				t.Errorf("retryDelay(%d, %v, %v) = %v, want in [%v, %v]", tt.attempt, rnd, tt.limit, got, tt.min, tt.max)
			}
		}
	}
}

func TestReplaceEarly(t *testing.T) {
	tests := []struct {
		remaining, duration time.Duration
		want                bool
	}{
		{2 * time.Second, 6 * time.Second, false},
		{999 * time.Millisecond, 6 * time.Second, true},
		{-time.Second, 6 * time.Second, true},
	}
	for _, tt := range tests {
		if got := replaceEarly(tt.remaining, tt.duration); got != tt.want {
			t.Errorf("replaceEarly(%v, %v) = %v, want %v", tt.remaining, tt.duration, got, tt.want)
		}
	}
}

// vaultRole is a database role as the tests' Vault configures it: ttl 4s,
// max 8s, durations reported in whole seconds.
func vaultRole() memsecrets.Role {
	return memsecrets.Role{TTL: 4 * time.Second, MaxTTL: 8 * time.Second, Granularity: time.Second}
}

// recorder collects events with the bubble's time.
type recorder struct {
	mu     sync.Mutex
	events []timedEvent
}

type timedEvent struct {
	at time.Time
	ev Event
}

func (r *recorder) notify(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, timedEvent{time.Now(), ev})
	r.mu.Unlock()
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, fmt.Sprintf("%s %d", e.ev.Kind, e.ev.Secret.Generation))
	}
	return out
}

func half() float64 { return 0.5 }

// renewsPerLease counts the renew requests b received, per lease ID.
func renewsPerLease(b *memsecrets.Backend) map[string]int {
	out := map[string]int{}
	for _, c := range b.Calls() {
		if c.Op == memsecrets.OpRenew {
			out[c.LeaseID]++
		}
	}
	return out
}

func revoked(b *memsecrets.Backend) []string {
	var out []string
	for _, c := range b.Calls() {
		if c.Op == memsecrets.OpRevoke {
			out = append(out, c.LeaseID)
		}
	}
	return out
}

func TestWatcherRotatesBeforeMaxTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetRole("database/creds/app", vaultRole())
		var rec recorder
		w, err := Start(t.Context(), b, "database/creds/app", &Options{Notify: rec.notify, Rand: half})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		// Sample the handle every 100ms for 30s: what Current returns must
		// always be a lease that has not ended.
		for time.Since(start) < 30*time.Second {
			time.Sleep(100 * time.Millisecond)
			cur := w.Current()
			now := time.Now()
			st, _ := b.Lease(cur.ID())
			if !st.Alive(now) {
				t.Fatalf("at %v Current() = generation %d whose lease ended at %v", now.Sub(start), cur.Generation, st.Expires.Sub(start))
			}
			if w.MinValid() > cur.Generation {
				t.Fatalf("at %v MinValid() = %d > current generation %d", now.Sub(start), w.MinValid(), cur.Generation)
			}
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}

		rec.mu.Lock()
		defer rec.mu.Unlock()
		rotatedAt := map[uint64]time.Time{}
		retiredAt := map[uint64]time.Time{}
		for _, e := range rec.events {
			switch e.ev.Kind {
			case Rotated:
				rotatedAt[e.ev.Previous.Generation] = e.at
			case Retired:
				retiredAt[e.ev.Secret.Generation] = e.at
			case Failed:
				t.Errorf("unexpected failure event: %v", e.ev.Err)
			}
		}
		if len(rotatedAt) < 3 {
			t.Errorf("rotations in 30s = %d, want >= 3 (events %v)", len(rotatedAt), rec.kinds())
		}
		for gen, rot := range rotatedAt {
			st, _ := b.Lease(fmt.Sprintf("database/creds/app/%d", gen))
			ret, ok := retiredAt[gen]
			if !ok {
				continue // rotated just before Close
			}
			if !rot.Before(ret) || !ret.Before(st.MaxEnd) {
				t.Errorf("generation %d: rotated at %v, retired at %v, max end %v; want rotated < retired < max end",
					gen, rot.Sub(start), ret.Sub(start), st.MaxEnd.Sub(start))
			}
			if overlap := st.MaxEnd.Sub(rot); overlap < 500*time.Millisecond {
				t.Errorf("generation %d: overlap = %v, want >= 500ms", gen, overlap)
			}
		}
		for id, n := range renewsPerLease(b) {
			if n > 3 {
				t.Errorf("lease %s renewed %d times, want <= 3 with ttl 4s / max 8s", id, n)
			}
		}
	})
}

func TestWatcherRecovers(t *testing.T) {
	unavailable := driver.NewError(driver.Unavailable, errors.New("sealed"))
	tests := []struct {
		name       string
		lose       bool                         // revoke the first lease behind the watcher's back
		renewErr   func(id string, n int) error // fault for the n-th renewal of id (1-based)
		issueErr   func(n int) error            // fault for the n-th issue (1-based)
		wantRenews map[string]int               // renew requests per lease after 6s
		wantKinds  []string                     // first events
	}{
		{
			name:       "lease lost: one renew, then reissue",
			lose:       true,
			wantRenews: map[string]int{"p/1": 1, "p/2": 1},
			wantKinds:  []string{"failed 1", "retired 1", "rotated 2", "renewed 2"},
		},
		{
			name: "transient renew error: retried within the lease",
			renewErr: func(id string, n int) error {
				if id == "p/1" && n == 1 {
					return unavailable
				}
				return nil
			},
			wantRenews: map[string]int{"p/1": 3},
			wantKinds:  []string{"failed 1", "renewed 1", "renewed 1"},
		},
		{
			name: "renew errors into the last third: replaced early",
			renewErr: func(id string, n int) error {
				if id == "p/1" {
					return unavailable
				}
				return nil
			},
			wantRenews: map[string]int{"p/1": 4},
			wantKinds:  []string{"failed 1", "failed 1", "failed 1", "failed 1", "rotated 2", "retired 1"},
		},
		{
			name: "not renewable any more: replaced at once, old one kept for the overlap",
			renewErr: func(id string, n int) error {
				if id == "p/1" {
					return driver.NewError(driver.InvalidArgument, errors.New("lease is not renewable"))
				}
				return nil
			},
			wantRenews: map[string]int{"p/1": 1, "p/2": 1},
			wantKinds:  []string{"failed 1", "rotated 2", "retired 1"},
		},
		{
			name: "issue fails past the old lease's end",
			lose: true,
			issueErr: func(n int) error {
				if n == 2 || n == 3 {
					return unavailable
				}
				return nil
			},
			wantRenews: map[string]int{"p/1": 1, "p/2": 1},
			wantKinds:  []string{"failed 1", "retired 1", "failed 1", "failed 1", "rotated 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := memsecrets.New(nil)
				b.SetRole("p", vaultRole())
				var mu sync.Mutex
				renews, issues := map[string]int{}, 0
				b.SetHook(func(_ context.Context, c memsecrets.Call) error {
					mu.Lock()
					defer mu.Unlock()
					switch {
					case c.Op == memsecrets.OpRenew && tt.renewErr != nil:
						renews[c.LeaseID]++
						return tt.renewErr(c.LeaseID, renews[c.LeaseID])
					case c.Op == memsecrets.OpIssue && tt.issueErr != nil:
						issues++
						return tt.issueErr(issues)
					}
					return nil
				})
				var rec recorder
				w, err := Start(t.Context(), b, "p", &Options{Notify: rec.notify, Rand: half})
				if err != nil {
					t.Fatal(err)
				}
				if tt.lose {
					b.Revoke(w.Current().ID())
				}
				time.Sleep(6 * time.Second)
				if err := w.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantRenews, renewsPerLease(b)); diff != "" {
					t.Errorf("renew requests per lease (-want +got):\n%s", diff)
				}
				got := rec.kinds()
				if len(got) > len(tt.wantKinds) {
					got = got[:len(tt.wantKinds)]
				}
				if diff := cmp.Diff(tt.wantKinds, got); diff != "" {
					t.Errorf("events (-want +got):\n%s\nall: %v", diff, rec.kinds())
				}
			})
		})
	}
}

// TestWatcherFailedEvents: a failure event names the request that failed and
// carries the backend's error as it is.
func TestWatcherFailedEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetRole("p", vaultRole())
		var rec recorder
		w, err := Start(t.Context(), b, "p", &Options{Notify: rec.notify, Rand: half})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close(t.Context())
		b.Revoke(w.Current().ID())
		b.SetHook(func(_ context.Context, c memsecrets.Call) error {
			if c.Op == memsecrets.OpIssue {
				return driver.NewError(driver.PermissionDenied, errors.New("policy"))
			}
			return nil
		})
		time.Sleep(3 * time.Second) // renew at 2.67s finds the lease gone, the issue fails
		rec.mu.Lock()
		defer rec.mu.Unlock()
		type failure struct {
			Op   string
			Code driver.Code
		}
		var got []failure
		for _, e := range rec.events {
			if e.ev.Kind == Failed {
				got = append(got, failure{e.ev.Op, driver.CodeOf(e.ev.Err)})
			}
		}
		want := []failure{{"renew", driver.NotFound}, {"issue", driver.PermissionDenied}}
		if len(got) > 2 {
			got = got[:2]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("failures (-want +got):\n%s", diff)
		}
	})
}

func TestWatcherNotRenewable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetRole("p", memsecrets.Role{TTL: 6 * time.Second, MaxTTL: 6 * time.Second, NotRenewable: true})
		var rec recorder
		w, err := Start(t.Context(), b, "p", &Options{Notify: rec.notify, Rand: half})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5500 * time.Millisecond) // replaced at 4s, retired at 5s
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := renewsPerLease(b); len(got) != 0 {
			t.Errorf("renew requests = %v, want none for a lease that is not renewable", got)
		}
		want := []string{"rotated 2", "retired 1"}
		if diff := cmp.Diff(want, rec.kinds()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestWatcherIncrement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetRole("p", memsecrets.Role{TTL: 30 * time.Second})
		w, err := Start(t.Context(), b, "p", &Options{Increment: 6 * time.Second, Rand: half})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close(t.Context())
		time.Sleep(20*time.Second + time.Millisecond) // first renewal at 2/3 of 30s
		synctest.Wait()
		st, _ := b.Lease(w.Current().ID())
		if st.Renewals != 1 {
			t.Fatalf("renewals after 20s = %d, want 1", st.Renewals)
		}
		if got, want := st.Expires.Sub(st.Issued), 26*time.Second; got != want {
			t.Errorf("lease ends at issue+%v, want issue+%v (renewed at 20s by the 6s increment)", got, want)
		}
		if got := w.Current().Expires.Sub(w.Current().Issued); got != 26*time.Second {
			t.Errorf("Current().Expires = issue+%v, want issue+26s", got)
		}
	})
}

func TestWatcherRevokeOnClose(t *testing.T) {
	// With rnd = 0.5 and ttl 4s / max 8s in whole seconds, generation 1 is
	// renewed at 2.67s and 5.33s (2.67s left, reported as 2s, so the
	// watcher takes it to end at 7.33s), replaced at 6.67s and retired at 7s;
	// it really ends at 8s.
	tests := []struct {
		name   string
		revoke bool
		after  time.Duration
		want   []string
	}{
		{"no revoke", false, 6800 * time.Millisecond, nil},
		{"both alive in the overlap", true, 6800 * time.Millisecond, []string{"p/1", "p/2"}},
		{"retired but not ended: revoked too", true, 7200 * time.Millisecond, []string{"p/1", "p/2"}},
		{"past its reported end, not its real one: revoked too", true, 7500 * time.Millisecond, []string{"p/1", "p/2"}},
		{"ended ones are not revoked", true, 9500 * time.Millisecond, []string{"p/2"}}, // 2s (endSlack) past 7.33s
		{"single generation", true, time.Second, []string{"p/1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := memsecrets.New(nil)
				b.SetRole("p", vaultRole())
				w, err := Start(t.Context(), b, "p", &Options{RevokeOnClose: tt.revoke, Rand: half})
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(tt.after)
				if err := w.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, revoked(b)); diff != "" {
					t.Errorf("revoked (-want +got):\n%s", diff)
				}
				if tt.revoke {
					for _, st := range b.Leases("") {
						if st.Alive(time.Now()) {
							t.Errorf("lease %s alive after Close with RevokeOnClose", st.ID)
						}
					}
				}
				if err := w.Close(t.Context()); err != nil {
					t.Errorf("second Close = %v, want nil", err)
				}
				if n := len(revoked(b)); n != len(tt.want) {
					t.Errorf("revocations after a second Close = %d, want %d", n, len(tt.want))
				}
			})
		})
	}
}

func TestWatcherRevokeOnCloseErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetRole("p", vaultRole())
		w, err := Start(t.Context(), b, "p", &Options{RevokeOnClose: true})
		if err != nil {
			t.Fatal(err)
		}
		b.SetError("p", driver.NewError(driver.Unavailable, errors.New("down")))
		err = w.Close(t.Context())
		if got := driver.CodeOf(err); got != driver.Unavailable {
			t.Errorf("Close with a failing revocation = %v (code %v), want code %v", err, got, driver.Unavailable)
		}
		if err2 := w.Close(t.Context()); err2 != err {
			t.Errorf("second Close = %v, want the first result %v", err2, err)
		}
	})
}

func TestStartErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetRole("p", vaultRole())
		b.Set("kv/plain", map[string]any{"value": "x"})
		tests := []struct {
			name string
			l    driver.Leaser
			path string
			opts *Options
			want driver.Code
		}{
			{"nothing there", b, "nothing/here", nil, driver.NotFound},
			{"a secret without a lease", b, "kv/plain", nil, driver.InvalidArgument},
			{"a backend answering without a lease", noLease{b}, "p", nil, driver.InvalidArgument},
			{"negative increment", b, "p", &Options{Increment: -time.Second}, driver.InvalidArgument},
		}
		for _, tt := range tests {
			w, err := Start(t.Context(), tt.l, tt.path, tt.opts)
			if err == nil {
				w.Close(t.Context())
				t.Errorf("%s: Start succeeded, want an error", tt.name)
				continue
			}
			if got := driver.CodeOf(err); got != tt.want {
				t.Errorf("%s: Start error code = %v (%v), want %v", tt.name, got, err, tt.want)
			}
		}
		b.FailNext(1, errors.New("boom"))
		if _, err := Start(t.Context(), b, "p", nil); err == nil || err.Error() != "boom" {
			t.Errorf("Start with a failing issue = %v, want the backend's error as it is", err)
		}
	})
}

type noLease struct{ *memsecrets.Backend }

func (n noLease) IssueLease(ctx context.Context, path string) (*driver.Entry, error) {
	return &driver.Entry{Path: path, Fields: map[string]string{"value": "x"}}, nil
}

func TestWatcherLeaseWithoutEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetRole("p", memsecrets.Role{})
		var rec recorder
		w, err := Start(t.Context(), b, "p", &Options{Notify: rec.notify, Rand: half})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(24 * time.Hour) // hangs (test timeout) if the loop spins
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := len(b.Calls()); n != 1 || len(rec.kinds()) != 0 {
			t.Errorf("a lease without an end: calls %v, events %v; want 1 issue and nothing else", b.Calls(), rec.kinds())
		}
		if cur := w.Current(); !cur.Expires.IsZero() {
			t.Errorf("Current().Expires = %v, want zero for a lease without an end", cur.Expires)
		}
	})
}

// TestCloseStopsTheLoop: Close waits for the goroutine even in the middle of
// a request, which it cancels.
func TestCloseStopsTheLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetRole("p", vaultRole())
		entered := make(chan struct{}, 100)
		b.SetHook(func(ctx context.Context, c memsecrets.Call) error {
			if c.Op == memsecrets.OpRenew {
				entered <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		})
		var rec recorder
		w, err := Start(t.Context(), b, "p", &Options{Notify: rec.notify})
		if err != nil {
			t.Fatal(err)
		}
		<-entered
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := rec.kinds(); len(got) != 0 {
			t.Errorf("events from a renewal cancelled by Close: %v, want none", got)
		}
		if n := b.CallCount(memsecrets.OpRenew, "p"); n != 1 {
			t.Errorf("renew requests = %d, want 1: none after Close", n)
		}
	})
}

// TestWatcherOutageLongerThanLease: the backend is unreachable from 1s to
// 7s while the first lease (ttl 4s) ends. The dead generation is retired at
// its end, not left as Current's valid answer, and once the backend answers
// again a new secret is issued within a second (issue #13: it used to back
// off up to 30s with the outage's attempt count).
func TestWatcherOutageLongerThanLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		down := func() bool {
			el := time.Since(start)
			return el >= time.Second && el < 7*time.Second
		}
		b := memsecrets.New(nil)
		b.SetRole("p", memsecrets.Role{TTL: 4 * time.Second, MaxTTL: 60 * time.Second, Granularity: time.Second})
		b.SetHook(func(context.Context, memsecrets.Call) error {
			if down() {
				return driver.NewError(driver.Unavailable, errors.New("connection refused"))
			}
			return nil
		})
		var rec recorder
		w, err := Start(t.Context(), b, "p", &Options{Notify: rec.notify})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close(t.Context())
		// The first renewal (at ~2.7s) fails; the lease ends at 4s.
		time.Sleep(4*time.Second + 10*time.Millisecond)
		if got := w.MinValid(); got != 2 {
			t.Errorf("at 4s, after the lease ended: MinValid = %d, want 2 (generation 1 retired)", got)
		}
		time.Sleep(4 * time.Second) // until 8s: back since 7s
		if got := w.Current().Generation; got != 2 {
			t.Fatalf("at 8s, 1s after the backend is back: Current generation %d, want 2; events %v", got, rec.kinds())
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, e := range rec.events {
			if e.ev.Kind == Rotated {
				if at := e.at.Sub(start); at < 7*time.Second || at > 8*time.Second {
					t.Errorf("new secret issued at +%v, want within [7s, 8s] (1s after the backend is back)", at)
				}
			}
			if e.ev.Kind == Retired && e.ev.Secret.Generation == 1 {
				if at := e.at.Sub(start); at < 4*time.Second || at > 4*time.Second+50*time.Millisecond {
					t.Errorf("generation 1 retired at +%v, want at its end (+4s)", at)
				}
			}
		}
	})
}

// slowLeaser answers after latency, and the server acts latency after the
// request: the time a lease's clock starts is neither when the request
// was sent nor when the answer came.
type slowLeaser struct {
	*memsecrets.Backend
	latency time.Duration
	mu      sync.Mutex
	issued  []time.Time // when each issue reached the server
}

func (s *slowLeaser) IssueLease(ctx context.Context, path string) (*driver.Entry, error) {
	time.Sleep(s.latency)
	s.mu.Lock()
	s.issued = append(s.issued, time.Now())
	s.mu.Unlock()
	e, err := s.Backend.IssueLease(ctx, path)
	time.Sleep(s.latency)
	return e, err
}

func (s *slowLeaser) RenewLease(ctx context.Context, id string, inc time.Duration) (*driver.Lease, error) {
	time.Sleep(s.latency)
	l, err := s.Backend.RenewLease(ctx, id, inc)
	time.Sleep(s.latency)
	return l, err
}

// TestWatcherSlowServer: with 400ms each way to the server (an 800ms round
// trip on a ttl 4s / max 8s lease), the times the watcher plans from are
// never later than the server's: every Expires it publishes is at or
// before the server's end of that lease, each replacement reaches the
// server before the old lease's max TTL, and Current never returns a lease
// that has ended.
func TestWatcherSlowServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetRole("database/creds/app", vaultRole())
		var mu sync.Mutex
		var late []string
		check := func(ev Event) {
			if ev.Kind != Renewed && ev.Kind != Rotated {
				return
			}
			st, _ := b.Lease(ev.Secret.ID())
			if ev.Secret.Expires.After(st.Expires) {
				mu.Lock()
				late = append(late, fmt.Sprintf("%s %d: Expires %v after the server's %v", ev.Kind, ev.Secret.Generation, ev.Secret.Expires, st.Expires))
				mu.Unlock()
			}
		}
		sl := &slowLeaser{Backend: b, latency: 400 * time.Millisecond}
		w, err := Start(t.Context(), sl, "database/creds/app", &Options{Notify: check, Rand: half})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for time.Since(start) < 40*time.Second {
			time.Sleep(100 * time.Millisecond)
			cur := w.Current()
			if st, _ := b.Lease(cur.ID()); !st.Alive(time.Now()) {
				t.Errorf("at %v Current() = generation %d, whose lease ended at %v", time.Since(start), cur.Generation, st.Expires.Sub(start))
				break
			}
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		for _, l := range late {
			t.Error(l)
		}
		mu.Unlock()
		issues := sl.issued
		if len(issues) < 4 {
			t.Errorf("issues in 40s = %d, want >= 4", len(issues))
		}
		for i := 1; i < len(issues); i++ {
			if gap := issues[i].Sub(issues[i-1]); gap >= 8*time.Second {
				t.Errorf("issue %d reached the server %v after the one before, want < 8s (the max TTL)", i+1, gap)
			}
		}
	})
}
