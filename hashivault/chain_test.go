package hashivault

import (
	"strings"
	"testing"
	"time"

	"github.com/vaultly/vaultly/internal/renew"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// simulateChain runs the token schedule (renew.FirstRenewAt for the first
// action on each token, renew.RenewAt after, renew.MustReplace and
// renew.ReplaceBy, the Policy defaults the backend uses — as renew.Loop
// does) against a server that grants at most
// ttl per renewal and nothing past maxTTL from the login, for d, with the
// jitter draw r; it returns the logins and renewals the schedule makes.
func simulateChain(ttl, maxTTL, d time.Duration, r float64) (logins, renewals int) {
	var p renew.Policy
	start := time.Unix(0, 0)
	end := start.Add(d)
	login := start
	for login.Before(end) {
		logins++
		cur := renew.Lease{Obtained: login, TTL: ttl, Renewable: true}
		maxEnd := login.Add(maxTTL)
		final := false
		for first := true; ; first = false {
			at := renew.RenewAt(cur, p, r)
			if first {
				at = renew.FirstRenewAt(cur, p, r)
			}
			if final {
				at = renew.ReplaceBy(cur, at)
			}
			if !at.Before(end) {
				return logins, renewals
			}
			if final {
				login = at
				break
			}
			renewals++
			granted := min(ttl, maxEnd.Sub(at))
			next := renew.Lease{Obtained: at, TTL: granted, Renewable: true, Final: granted < ttl}
			final = renew.MustReplace(cur, next, ttl)
			cur = next
		}
	}
	return logins, renewals
}

// chainBounds returns the fewest and most logins and renewals the schedule
// makes in d, over the jitter's whole range.
func chainBounds(ttl, maxTTL, d time.Duration) (minLogins, maxLogins, minRenewals, maxRenewals int) {
	minLogins, minRenewals = 1<<30, 1<<30
	for i := 0; i <= 100; i++ {
		l, r := simulateChain(ttl, maxTTL, d, float64(i)/100)
		minLogins, maxLogins = min(minLogins, l), max(maxLogins, l)
		minRenewals, maxRenewals = min(minRenewals, r), max(maxRenewals, r)
	}
	return
}

// TestChainSchedule checks the simulation the real-time test takes its
// bounds from: a 4s token (8s max) is renewed once, capped at the second
// renewal and replaced at 2/3 of what is left, about every 7s.
func TestChainSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d                time.Duration
		r                float64
		logins, renewals int
	}{
		{d: 5 * time.Second, r: 0.5, logins: 1, renewals: 1},    // renewed at 2.67s
		{d: 7 * time.Second, r: 0.5, logins: 1, renewals: 2},    // capped at 5.33s (2.67s left)
		{d: 8 * time.Second, r: 0.5, logins: 2, renewals: 2},    // replaced at 7.11s, before the 8s max
		{d: 17 * time.Second, r: 0.5, logins: 3, renewals: 5},   // again at 14.2s
		{d: 17 * time.Second, r: 0, logins: 3, renewals: 7},     // earliest jitter: first renewals at 1.67s, replaced 1s before the max
		{d: 17 * time.Second, r: 0.999, logins: 3, renewals: 4}, // latest jitter
	}
	for _, tt := range tests {
		l, r := simulateChain(4*time.Second, 8*time.Second, tt.d, tt.r)
		if l != tt.logins || r != tt.renewals {
			t.Errorf("simulateChain(4s, 8s, %v, %v) = %d logins, %d renewals; want %d, %d", tt.d, tt.r, l, r, tt.logins, tt.renewals)
		}
	}
}

// TestTokenChainRealTime is the whole token lifecycle against the real
// server, in real time: AppRole tokens live 4s (8s at most), goroutines
// read for 17s (two re-logins; the soak tier, 50 goroutines back to back)
// or 9s (one; 10 goroutines, 20 ms apart) with no cache, and no caller may
// see an error. The counts of logins and renewals must
// match the schedule's simulation over the whole jitter range, with a
// tolerance of one either way for request latency at the edges of the
// window. It runs in parallel with the rest of the package.
func TestTokenChainRealTime(t *testing.T) {
	t.Parallel()
	const (
		ttl    = 4 * time.Second
		maxTTL = 8 * time.Second
	)
	duration := vaulttest.SoakOr(17*time.Second, 9*time.Second)
	// The soak tier reads back to back from 50 goroutines (both cores
	// busy for the whole run: a read costs Vault and this process ~1.5 ms
	// of CPU); the quick tier from 10 that pause 20 ms between reads
	// (~2,500 reads in the 9 s, one every 4 ms or less: a dead token used
	// for longer than that would still be met), so that the rest of the
	// suite gets the CPU (~4 s of CPU instead of ~18 s).
	n, pause := vaulttest.SoakOr(50, 10), vaulttest.SoakOr(time.Duration(0), 20*time.Millisecond)
	srv := shared(t)
	srv.PutKV(t, "chain/app", map[string]any{"value": "v"})
	mount, roleID, secretID := setupAppRole(t, srv, "approle-chain", map[string]any{"token_ttl": "4s", "token_max_ttl": "8s"})
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Auth: appRole(t, mount, roleID, secretID), KVVersion: 2})

	stop := make(chan struct{})
	time.AfterFunc(duration, func() { close(stop) })
	reads, errs := readers(b, n, "chain/app", pause, stop)
	for i, err := range errs {
		if i < 5 {
			t.Errorf("read error: %v", err)
		}
	}
	if len(errs) > 0 {
		t.Errorf("%d of %d reads failed, want 0", len(errs), reads)
	}

	logins := proxy.Requests(func(p string) bool { return p == "/v1/auth/"+mount+"/login" })
	renewals := proxy.Requests(func(p string) bool { return p == "/v1/auth/token/renew-self" })
	rejected := proxy.Requests(func(p string) bool { return strings.HasPrefix(p, "/v1/secret/") })
	statuses := map[int]int{}
	for _, r := range rejected {
		statuses[r.Status]++
	}
	if len(statuses) != 1 || statuses[200] == 0 {
		t.Errorf("reads by vault status = %v, want only 200 (no expired token)", statuses)
	}
	// Each token lives at most maxTTL from its login; the next login must
	// come before that.
	for i := 1; i < len(logins); i++ {
		if gap := logins[i].Time.Sub(logins[i-1].Time); gap >= maxTTL {
			t.Errorf("login %d came %v after the previous one, after that token's max ttl %v", i, gap, maxTTL)
		}
		if logins[i].Status != 200 {
			t.Errorf("login %d status %d", i, logins[i].Status)
		}
	}
	minL, maxL, minR, maxR := chainBounds(ttl, maxTTL, duration)
	if n := len(logins); n < minL-1 || n > maxL+1 {
		t.Errorf("logins = %d in %v, want %d..%d (the schedule's %d..%d, ±1)", n, duration, minL-1, maxL+1, minL, maxL)
	}
	if n := len(renewals); n < minR-1 || n > maxR+1 {
		t.Errorf("renewals = %d in %v, want %d..%d (the schedule's %d..%d, ±1)", n, duration, minR-1, maxR+1, minR, maxR)
	}
	if int64(len(rejected)) != reads {
		t.Errorf("vault saw %d reads, callers made %d: every read must reach vault", len(rejected), reads)
	}
	t.Logf("%d reads, %d logins, %d renewals in %v", reads, len(logins), len(renewals), duration)
}

// TestBatchTokenReplaced: batch tokens cannot be renewed, so the backend
// logs in again at about 2/3 of their TTL and never calls renew-self.
func TestBatchTokenReplaced(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "batch/app", map[string]any{"value": "v"})
	mount, roleID, secretID := setupAppRole(t, srv, "approle-batch", map[string]any{"token_type": "batch", "token_ttl": "3s", "token_max_ttl": "3s"})
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Auth: appRole(t, mount, roleID, secretID), KVVersion: 2})
	deadline := time.Now().Add(4500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := b.Read(ctxT(t, 10*time.Second), "batch/app", 0); err != nil {
			t.Fatalf("Read: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	logins := proxy.Count("/v1/auth/" + mount + "/login")
	renewals := proxy.Count("/v1/auth/token/renew-self")
	// Logins at 0s and ~2s (2/3 of 3s, ±10%), and ~4s: 2 or 3 in 4.5s.
	if logins < 2 || logins > 3 || renewals != 0 {
		t.Errorf("logins = %d, renewals = %d in 4.5s of 3s batch tokens; want 2-3 logins and no renewal", logins, renewals)
	}
}
