package hashivault

import (
	"strings"
	"testing"
	"time"

	"github.com/vaultly/vaultly/internal/testing/faultproxy"
)

// TestTokenChainRealTime is the whole token lifecycle against the real
// server, in real time: AppRole tokens live 4s (8s at most), 50 goroutines
// read for 25s with no cache, and no caller may see an error. It takes 25s
// by design (it is the acceptance test) and runs in parallel with
// the rest of the package.
func TestTokenChainRealTime(t *testing.T) {
	t.Parallel()
	const (
		ttl      = 4 * time.Second
		maxTTL   = 8 * time.Second
		duration = 25 * time.Second
	)
	srv := shared(t)
	srv.PutKV(t, "chain/app", map[string]any{"value": "v"})
	mount, roleID, secretID := setupAppRole(t, srv, "approle-chain", map[string]any{"token_ttl": "4s", "token_max_ttl": "8s"})
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Auth: appRole(t, mount, roleID, secretID), KVVersion: 2})

	stop := make(chan struct{})
	time.AfterFunc(duration, func() { close(stop) })
	reads, errs := readers(b, 50, "chain/app", stop)
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
	// 25s with 8s tokens needs at least 4 logins; renewals at ~2/3 of 4s in
	// between, never one per read.
	if len(logins) < 4 || len(logins) > 8 {
		t.Errorf("logins = %d, want between 4 and 8 for %v of %v tokens", len(logins), duration, maxTTL)
	}
	if len(renewals) < 2 || len(renewals) > 3*len(logins) {
		t.Errorf("renewals = %d for %d logins, want some and at most 3 per token", len(renewals), len(logins))
	}
	if int64(len(rejected)) != reads {
		t.Errorf("vault saw %d reads, callers made %d: every read must reach vault", len(rejected), reads)
	}
	t.Logf("%d reads, %d logins, %d renewals in %v", reads, len(logins), len(renewals), duration)
	_ = ttl
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
