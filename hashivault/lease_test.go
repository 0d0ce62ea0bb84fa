package hashivault_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// The whole lease chain against the real server: vaultly.OpenDynamic (the
// lease engine of the portable layer) over this Backend's IssueLease,
// RenewLease and RevokeLease, with a PostgreSQL behind Vault's database
// secrets engine. The schedule itself is proven on a fake clock in
// internal/lease; these tests prove that Vault's answers drive it the same
// way, and each real-time assertion states its tolerance.

const renewPath = "/v1/sys/leases/renew"

type creds = vaultly.DatabaseCredentials

type leaseEnv struct {
	vault *vaulttest.Server
	pg    *vaulttest.Postgres
	proxy *faultproxy.Proxy
	store *vaultly.Store
	path  string
}

var dbSeq atomic.Int64

// newLeaseEnv configures a database role with the given TTLs on its own
// mount of v (backed by pg), and a Store over a Backend that talks to Vault
// through a counting proxy.
func newLeaseEnv(t *testing.T, v *vaulttest.Server, pg *vaulttest.Postgres, ttl, maxTTL string) *leaseEnv {
	t.Helper()
	path := v.ConfigureDatabase(t, pg, fmt.Sprintf("database-%d", dbSeq.Add(1)), vaulttest.DatabaseRole{Name: "app", DefaultTTL: ttl, MaxTTL: maxTTL})
	p := faultproxy.Start(t, v.Addr, nil)
	b, err := hashivault.New(t.Context(), &hashivault.Options{Address: p.URL, Token: v.Token, ConfigFile: "-"})
	if err != nil {
		t.Fatal(err)
	}
	s := vaultly.New(b, nil)
	t.Cleanup(func() { s.Close() })
	return &leaseEnv{vault: v, pg: pg, proxy: p, store: s, path: path}
}

// open opens the dynamic secret, closed when t ends.
func (e *leaseEnv) open(t *testing.T, opts *vaultly.DynamicOptions) *vaultly.Dynamic[creds] {
	t.Helper()
	d, err := vaultly.OpenDynamic[creds](t.Context(), e.store, e.path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

// login opens a connection with l's credentials and runs a query.
func (e *leaseEnv) login(l *vaultly.Leased[creds]) error {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(l.Value.Username, l.Value.Password.Reveal()),
		Host: e.pg.Addr(), Path: "/postgres", RawQuery: "sslmode=disable"}
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var one int
	return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func (e *leaseEnv) roleExists(t *testing.T, user string) bool {
	t.Helper()
	var n int
	if err := e.pg.DB(t).QueryRow("SELECT count(*) FROM pg_roles WHERE rolname = $1", user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

type events struct {
	mu    sync.Mutex
	kinds []vaultly.DynamicEventKind
}

func (e *events) notify(ev vaultly.DynamicEvent[creds]) {
	e.mu.Lock()
	e.kinds = append(e.kinds, ev.Kind)
	e.mu.Unlock()
}

func (e *events) count(kind vaultly.DynamicEventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, k := range e.kinds {
		if k == kind {
			n++
		}
	}
	return n
}

// waitFor polls cond every 50ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

// TestLease runs the real-time lease tests in parallel on the package's
// shared server (each with its own database mount and proxy) and one
// PostgreSQL; the sealed-server case starts a server of its own.
func TestLease(t *testing.T) {
	t.Parallel()
	v := hashivault.Shared(t)
	pg := vaulttest.StartPostgres(t)

	// After a renewal has carried the lease past its original 4s TTL, the
	// same credentials still log in. Tolerance: 1–2 renewals in 5s (one at
	// ~2.7s, the next at ~5.3s ± 0.4s jitter).
	t.Run("RenewalPastTTL", func(t *testing.T) {
		t.Parallel()
		e := newLeaseEnv(t, v, pg, "4s", "30s")
		d := e.open(t, nil)
		first := d.Current()
		time.Sleep(5 * time.Second) // past the original TTL
		cur := d.Current()
		if cur.Lease.Generation != 1 {
			t.Fatalf("after 5s Current().Lease.Generation = %d, want 1 (renewed, not replaced)", cur.Lease.Generation)
		}
		if !cur.Lease.Expires.After(first.Lease.Issued.Add(5 * time.Second)) {
			t.Errorf("lease expires at issue+%v, want > issue+5s after renewal", cur.Lease.Expires.Sub(first.Lease.Issued))
		}
		if n := e.proxy.Count(renewPath); n < 1 || n > 2 {
			t.Errorf("renew requests in 5s = %d, want 1 or 2 for a 4s lease", n)
		}
		if err := e.login(cur); err != nil {
			t.Errorf("login with the renewed credentials past their original TTL: %v", err)
		}
	})

	// A lease revoked behind the handle's back is noticed at the next
	// renewal, which is the only renewal sent for it, and new credentials
	// replace it at once. Tolerance: recovery within 6s (the renewal comes
	// at ~2.7s ± 0.4s of a 4s lease).
	t.Run("RevokedOutOfBand", func(t *testing.T) {
		t.Parallel()
		e := newLeaseEnv(t, v, pg, "4s", "30s")
		var ev events
		d := e.open(t, nil)
		d.Subscribe(ev.notify)
		old := d.Current()
		if err := e.vault.Client(t).Sys().RevokeWithContext(t.Context(), old.Lease.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.login(old); err == nil {
			t.Fatal("login with revoked credentials succeeded; the test cannot tell recovery from nothing")
		}
		e.proxy.ResetCounts()
		if !waitFor(6*time.Second, func() bool { return d.Current().Lease.Generation == 2 }) {
			t.Fatalf("no new credentials within 6s of the revocation; generation %d", d.Current().Lease.Generation)
		}
		if n := e.proxy.Count(renewPath); n != 1 {
			t.Errorf("renew requests until recovery = %d, want 1", n)
		}
		if got := d.MinValid(); got != 2 {
			t.Errorf("MinValid() = %d, want 2: the revoked generation is retired", got)
		}
		cur := d.Current()
		if cur.Value.Username == old.Value.Username {
			t.Errorf("recovered with the same username %q", old.Value.Username)
		}
		if err := e.login(cur); err != nil {
			t.Errorf("login with the new credentials: %v", err)
		}
		// No renew loop afterwards: a 4s lease is renewed about every
		// 2.7s, so at most 2 in 3s (tolerance: one more than the one due).
		e.proxy.ResetCounts()
		time.Sleep(3 * time.Second)
		if n := e.proxy.Count(renewPath); n > 2 {
			t.Errorf("renew requests in the 3s after recovery = %d, want <= 2", n)
		}
		if n := ev.count(vaultly.LeaseRetired); n != 1 {
			t.Errorf("retired events = %d, want 1", n)
		}
	})

	// Renewals failing with 503 for a while are retried with backoff, and
	// the credentials never lapse. Tolerance: 2..8 requests in 3.5s (the
	// first at ~2.7s ± 0.4s, then retries from 125ms doubling, bounded by
	// half the time left).
	t.Run("VaultUnavailable", func(t *testing.T) {
		t.Parallel()
		e := newLeaseEnv(t, v, pg, "4s", "30s")
		e.proxy.Inject(faultproxy.Fault{Match: faultproxy.Path(renewPath), Status: 503})
		var ev events
		d := e.open(t, nil)
		d.Subscribe(ev.notify)
		time.Sleep(3500 * time.Millisecond)
		e.proxy.Clear()
		n := e.proxy.Count(renewPath)
		if n < 2 || n > 8 {
			t.Errorf("renew requests while Vault answered 503 = %d, want 2..8", n)
		}
		time.Sleep(2 * time.Second)
		cur := d.Current()
		if !cur.Lease.Expires.After(time.Now()) {
			t.Fatalf("current lease ended at %v", cur.Lease.Expires)
		}
		if err := e.login(cur); err != nil {
			t.Errorf("login after Vault came back: %v", err)
		}
		if ev.count(vaultly.LeaseFailed) == 0 {
			t.Error("no failed events while Vault answered 503")
		}
	})

	// With RevokeOnClose the role is dropped at Close; without it, it stays
	// until the lease ends. No timing involved.
	t.Run("RevokeOnClose", func(t *testing.T) {
		t.Parallel()
		e := newLeaseEnv(t, v, pg, "1m", "2m")
		for _, revoke := range []bool{false, true} {
			d, err := vaultly.OpenDynamic[creds](t.Context(), e.store, e.path, &vaultly.DynamicOptions{RevokeOnClose: revoke})
			if err != nil {
				t.Fatal(err)
			}
			user := d.Current().Value.Username
			if !e.roleExists(t, user) {
				t.Fatalf("role %q not in pg_roles after issue", user)
			}
			if err := d.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got, want := e.roleExists(t, user), !revoke; got != want {
				t.Errorf("revoke=%v: role exists after Close = %v, want %v", revoke, got, want)
			}
		}
	})

	// Paths without a lease and missing paths fail at once, through the
	// Backend's classification.
	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		e := newLeaseEnv(t, v, pg, "1m", "2m")
		kv := fmt.Sprintf("plain-%d", dbSeq.Add(1))
		e.vault.PutKV(t, kv, map[string]any{"value": "x"})
		tests := []struct {
			path string
			want vaultly.Code
		}{
			{"secret/data/" + kv, vaultly.InvalidArgument},
			{e.path + "-nope", vaultly.InvalidArgument}, // an unknown role: 400
			{"nothing/here", vaultly.NotFound},
		}
		for _, tt := range tests {
			d, err := vaultly.OpenDynamic[creds](t.Context(), e.store, tt.path, nil)
			if err == nil {
				d.Close(context.Background())
				t.Errorf("OpenDynamic(%q) succeeded, want an error", tt.path)
				continue
			}
			if got := vaultly.CodeOf(err); got != tt.want {
				t.Errorf("OpenDynamic(%q) code = %v (%v), want %v", tt.path, got, err, tt.want)
			}
		}
	})

	// The real server sealed across the renewal time and unsealed before
	// the lease ends: renewals back off while it is sealed (no storm), and
	// the handle ends up with working credentials. Tolerance: 1..6 renew
	// requests in the 3.3s sealed; working credentials within 5s of the
	// unseal.
	t.Run("VaultSealed", func(t *testing.T) {
		t.Parallel()
		own := vaulttest.Start(t, nil)
		e := newLeaseEnv(t, own, pg, "4s", "30s")
		var ev events
		d := e.open(t, nil)
		d.Subscribe(ev.notify)
		issued := d.Current().Lease.Issued
		e.vault.Seal(t)
		e.proxy.ResetCounts()
		time.Sleep(time.Until(issued.Add(3300 * time.Millisecond)))
		sealedRenews := e.proxy.Count(renewPath)
		e.vault.Unseal(t)
		if sealedRenews < 1 || sealedRenews > 6 {
			t.Errorf("renew requests while sealed = %d, want 1..6", sealedRenews)
		}
		if ev.count(vaultly.LeaseFailed) == 0 {
			t.Error("no failed events while sealed")
		}
		if !waitFor(5*time.Second, func() bool { return e.login(d.Current()) == nil }) {
			t.Fatalf("no working credentials within 5s of unsealing (generation %d)", d.Current().Lease.Generation)
		}
		t.Logf("renew requests while sealed: %d; generation after unseal: %d", sealedRenews, d.Current().Lease.Generation)
	})
}
