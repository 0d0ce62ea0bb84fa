package hashivault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
)

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
	prev := lifetime{t0, 4 * time.Second, true}
	tests := []struct {
		name      string
		next      lifetime
		increment time.Duration
		want      bool
	}{
		{"extended by the increment", lifetime{t0.Add(2 * time.Second), 4 * time.Second, true}, 4 * time.Second, false},
		{"capped at max TTL", lifetime{t0.Add(2 * time.Second), 3 * time.Second, true}, 4 * time.Second, true},
		{"not renewable any more", lifetime{t0.Add(2 * time.Second), 4 * time.Second, false}, 4 * time.Second, true},
		{"no later than before", lifetime{t0.Add(2 * time.Second), 2 * time.Second, true}, 0, true},
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
		{100, 4 * time.Second, 2 * time.Second, 2 * time.Second},          // bounded by the lease's end
		{1, 20 * time.Millisecond, leaseMinDelay, leaseMinDelay},          // never a spin
		{1, -time.Second, 125 * time.Millisecond, 250 * time.Millisecond}, // lease over: plain backoff
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

// scriptedLeases plays the part of a secrets engine's lease rules inside a
// synctest bubble: every issue creates a lease of ttl, renewable up to maxTTL
// after its issue. It is not an HTTP server and does not imitate Vault's API;
// the real-server tests in lease_test.go prove the same chain end to end.
type scriptedLeases struct {
	ttl, maxTTL time.Duration
	renewable   bool

	mu       sync.Mutex
	n        int
	leases   map[string]time.Time // id -> max end
	expires  map[string]time.Time
	renews   map[string]int
	revoked  []string
	renewErr func(id string, n int) error // optional fault for the n-th renewal of id (1-based)
	issueErr func(n int) error            // optional fault for the n-th issue (1-based)
	issues   int
}

func newScripted(ttl, maxTTL time.Duration) *scriptedLeases {
	return &scriptedLeases{ttl: ttl, maxTTL: maxTTL, renewable: true,
		leases: map[string]time.Time{}, expires: map[string]time.Time{}, renews: map[string]int{}}
}

func (s *scriptedLeases) issue(ctx context.Context, path string) (*api.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issues++
	if s.issueErr != nil {
		if err := s.issueErr(s.issues); err != nil {
			return nil, err
		}
	}
	s.n++
	id := fmt.Sprintf("%s/%d", path, s.n)
	now := time.Now()
	s.leases[id] = now.Add(s.maxTTL)
	s.expires[id] = now.Add(s.ttl)
	return &api.Secret{LeaseID: id, LeaseDuration: int(s.ttl / time.Second), Renewable: s.renewable,
		Data: map[string]any{"username": fmt.Sprintf("user-%d", s.n), "password": "pw"}}, nil
}

func (s *scriptedLeases) renew(ctx context.Context, id string, inc time.Duration) (*api.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renews[id]++
	if s.renewErr != nil {
		if err := s.renewErr(id, s.renews[id]); err != nil {
			return nil, err
		}
	}
	maxEnd, ok := s.leases[id]
	now := time.Now()
	if !ok || !now.Before(s.expires[id]) {
		return nil, &api.ResponseError{StatusCode: 400, Errors: []string{"invalid lease ID"}}
	}
	end := now.Add(inc)
	if end.After(maxEnd) {
		end = maxEnd
	}
	s.expires[id] = end
	return &api.Secret{LeaseID: id, LeaseDuration: int(end.Sub(now) / time.Second), Renewable: true}, nil
}

func (s *scriptedLeases) revoke(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.leases, id)
	s.revoked = append(s.revoked, id)
	return nil
}

// recorder collects events with the bubble's time.
type recorder struct {
	mu     sync.Mutex
	events []timedEvent
}

type timedEvent struct {
	at time.Time
	ev driver.LeaseEvent
}

func (r *recorder) notify(ev driver.LeaseEvent) {
	r.mu.Lock()
	r.events = append(r.events, timedEvent{time.Now(), ev})
	r.mu.Unlock()
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, fmt.Sprintf("%s %d", e.ev.Kind, e.ev.Leased.Generation))
	}
	return out
}

func TestLeaseWatcherRotatesBeforeMaxTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScripted(4*time.Second, 8*time.Second)
		var rec recorder
		w, err := newLeaseWatcher(t.Context(), s, "database/creds/app", "vault", &driver.LeaseOptions{Notify: rec.notify}, half)
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
			s.mu.Lock()
			maxEnd := s.leases[cur.Entry.Lease.ID]
			s.mu.Unlock()
			if !now.Before(maxEnd) {
				t.Fatalf("at %v Current() = generation %d whose lease ended at %v", now.Sub(start), cur.Generation, maxEnd.Sub(start))
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
			case driver.LeaseRotated:
				rotatedAt[e.ev.Previous.Generation] = e.at
			case driver.LeaseRetired:
				retiredAt[e.ev.Leased.Generation] = e.at
			case driver.LeaseFailed:
				t.Errorf("unexpected failure event: %v", e.ev.Err)
			}
		}
		if len(rotatedAt) < 3 {
			t.Errorf("rotations in 30s = %d, want >= 3 (events %v)", len(rotatedAt), rec.kinds())
		}
		for gen, rot := range rotatedAt {
			maxEnd := s.leases[fmt.Sprintf("database/creds/app/%d", gen)]
			ret, ok := retiredAt[gen]
			if !ok {
				// Rotated just before Close.
				continue
			}
			if !rot.Before(ret) || !ret.Before(maxEnd) {
				t.Errorf("generation %d: rotated at %v, retired at %v, max end %v; want rotated < retired < max end",
					gen, rot.Sub(start), ret.Sub(start), maxEnd.Sub(start))
			}
			if overlap := maxEnd.Sub(rot); overlap < 500*time.Millisecond {
				t.Errorf("generation %d: overlap = %v, want >= 500ms", gen, overlap)
			}
		}
		for id, n := range s.renews {
			if n > 3 {
				t.Errorf("lease %s renewed %d times, want <= 3 with ttl 4s / max 8s", id, n)
			}
		}
	})
}

func TestLeaseWatcherRecovers(t *testing.T) {
	gone := &api.ResponseError{StatusCode: 400, Errors: []string{"invalid lease ID"}}
	unavailable := &api.ResponseError{StatusCode: 503, Errors: []string{"Vault is sealed"}}
	tests := []struct {
		name       string
		renewErr   func(id string, n int) error
		issueErr   func(n int) error
		wantRenews map[string]int // renew requests per lease after 6s
		wantKinds  []string       // first events
	}{
		{
			name: "lease gone: one renew, then reissue",
			renewErr: func(id string, n int) error {
				if id == "p/1" {
					return gone
				}
				return nil
			},
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
			name: "issue fails past the old lease's end",
			renewErr: func(id string, n int) error {
				if id == "p/1" {
					return gone
				}
				return nil
			},
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
				s := newScripted(4*time.Second, 8*time.Second)
				s.renewErr, s.issueErr = tt.renewErr, tt.issueErr
				var rec recorder
				w, err := newLeaseWatcher(t.Context(), s, "p", "vault", &driver.LeaseOptions{Notify: rec.notify}, half)
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(6 * time.Second)
				if err := w.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
				s.mu.Lock()
				defer s.mu.Unlock()
				if diff := cmp.Diff(tt.wantRenews, s.renews); diff != "" {
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

func TestLeaseWatcherNotRenewable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScripted(6*time.Second, 6*time.Second)
		s.renewable = false
		var rec recorder
		w, err := newLeaseWatcher(t.Context(), s, "p", "vault", &driver.LeaseOptions{Notify: rec.notify}, half)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if len(s.renews) != 0 {
			t.Errorf("renew requests = %v, want none for a lease that is not renewable", s.renews)
		}
		want := []string{"rotated 2", "retired 1"}
		if diff := cmp.Diff(want, rec.kinds()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestLeaseWatcherRevokeOnClose(t *testing.T) {
	// With rnd = 0.5 and ttl 4s / max 8s, generation 1 is renewed at 2.67s
	// and 5.33s (capped to 2s as Vault reports whole seconds, so the watcher
	// takes it to end at 7.33s), replaced at 6.67s and retired at 7s.
	tests := []struct {
		name   string
		revoke bool
		after  time.Duration
		want   []string
	}{
		{"no revoke", false, 6800 * time.Millisecond, nil},
		{"both alive in the overlap", true, 6800 * time.Millisecond, []string{"p/1", "p/2"}},
		{"retired but not ended: revoked too", true, 7200 * time.Millisecond, []string{"p/1", "p/2"}},
		{"ended ones are not revoked", true, 7500 * time.Millisecond, []string{"p/2"}},
		{"single generation", true, time.Second, []string{"p/1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newScripted(4*time.Second, 8*time.Second)
				w, err := newLeaseWatcher(t.Context(), s, "p", "vault", &driver.LeaseOptions{RevokeOnClose: tt.revoke}, half)
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(tt.after)
				if err := w.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, s.revoked); diff != "" {
					t.Errorf("revoked (-want +got):\n%s", diff)
				}
				if err := w.Close(t.Context()); err != nil {
					t.Errorf("second Close = %v, want nil", err)
				}
			})
		})
	}
}

func TestLeaseWatcherIssueErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScripted(4*time.Second, 8*time.Second)
		s.issueErr = func(int) error { return errors.New("boom") }
		if _, err := newLeaseWatcher(t.Context(), s, "p", "vault", nil, nil); err == nil {
			t.Fatal("newLeaseWatcher with a failing issue = nil error, want an error")
		}
		noLease := &noLeaseAPI{scriptedLeases: s}
		s.issueErr = nil
		_, err := newLeaseWatcher(t.Context(), noLease, "kv/plain", "vault", nil, half)
		if got := driver.CodeOf(err); got != driver.InvalidArgument {
			t.Fatalf("newLeaseWatcher on a secret without a lease: code %v (%v), want %v", got, err, driver.InvalidArgument)
		}
	})
}

type noLeaseAPI struct{ *scriptedLeases }

func (n *noLeaseAPI) issue(ctx context.Context, path string) (*api.Secret, error) {
	return &api.Secret{Data: map[string]any{"value": "x"}}, nil
}

func half() float64 { return 0.5 }

func TestLeaseWatcherLeaseWithoutEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScripted(0, time.Hour)
		var rec recorder
		w, err := newLeaseWatcher(t.Context(), s, "p", "vault", &driver.LeaseOptions{Notify: rec.notify}, half)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(24 * time.Hour) // hangs (test timeout) if the loop spins
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if s.issues != 1 || len(s.renews) != 0 || len(rec.kinds()) != 0 {
			t.Errorf("a lease without an end: %d issues, renewals %v, events %v; want 1 issue and nothing else", s.issues, s.renews, rec.kinds())
		}
	})
}
