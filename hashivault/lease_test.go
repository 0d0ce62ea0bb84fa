package hashivault_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

const renewPath = "/v1/sys/leases/renew"

type leaseEnv struct {
	vault *vaulttest.Server
	pg    *vaulttest.Postgres
	proxy *faultproxy.Proxy
	b     *hashivault.Backend
	path  string
}

// startLeaseEnv starts Vault and PostgreSQL, configures a database role
// with the given TTLs, and a Backend that talks to Vault through a counting
// proxy.
func startLeaseEnv(t *testing.T, ttl, maxTTL string) *leaseEnv {
	t.Helper()
	v := vaulttest.Start(t, nil)
	pg := vaulttest.StartPostgres(t)
	path := v.ConfigureDatabase(t, pg, "database", vaulttest.DatabaseRole{Name: "app", DefaultTTL: ttl, MaxTTL: maxTTL})
	p := faultproxy.Start(t, v.Addr, nil)
	b, err := hashivault.New(t.Context(), &hashivault.Options{Address: p.URL, Token: v.Token, ConfigFile: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &leaseEnv{vault: v, pg: pg, proxy: p, b: b, path: path}
}

// lease takes a lease on e.path with opts, closed when t ends.
func (e *leaseEnv) lease(t *testing.T, opts *driver.LeaseOptions) driver.LeaseWatcher {
	t.Helper()
	w, err := e.b.Lease(t.Context(), e.path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

// login opens a connection with l's credentials and runs a query.
func (e *leaseEnv) login(l *driver.Leased) error {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(l.Entry.Fields["username"], l.Entry.Fields["password"]),
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
	mu  sync.Mutex
	evs []driver.LeaseEvent
}

func (e *events) notify(ev driver.LeaseEvent) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *events) count(kind driver.LeaseEventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.evs {
		if ev.Kind == kind {
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

// TestLeaseRenewalPastTTL: after a renewal has carried the lease past its
// original 4s TTL, the same credentials still log in.
func TestLeaseRenewalPastTTL(t *testing.T) {
	e := startLeaseEnv(t, "4s", "30s")
	w := e.lease(t, nil)
	first := w.Current()
	time.Sleep(5 * time.Second) // past the original TTL
	cur := w.Current()
	if cur.Generation != 1 {
		t.Fatalf("after 5s Current().Generation = %d, want 1 (renewed, not replaced)", cur.Generation)
	}
	if !cur.Expires.After(first.Issued.Add(5 * time.Second)) {
		t.Errorf("lease expires at issue+%v, want > issue+5s after renewal", cur.Expires.Sub(first.Issued))
	}
	if n := e.proxy.Count(renewPath); n < 1 || n > 2 {
		t.Errorf("renew requests in 5s = %d, want 1 or 2 for a 4s lease", n)
	}
	if err := e.login(cur); err != nil {
		t.Errorf("login with the renewed credentials past their original TTL: %v", err)
	}
}

// TestLeaseRevokedOutOfBand: a lease revoked behind the watcher's back is
// noticed at the next renewal, which is the only renewal sent for it, and
// new credentials replace it at once.
func TestLeaseRevokedOutOfBand(t *testing.T) {
	e := startLeaseEnv(t, "4s", "30s")
	var ev events
	w := e.lease(t, &driver.LeaseOptions{Notify: ev.notify})
	old := w.Current()
	if err := e.vault.Client(t).Sys().RevokeWithContext(t.Context(), old.Entry.Lease.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.login(old); err == nil {
		t.Fatal("login with revoked credentials succeeded; the test cannot tell recovery from nothing")
	}
	e.proxy.ResetCounts()
	if !waitFor(6*time.Second, func() bool { return w.Current().Generation == 2 }) {
		t.Fatalf("no new credentials within 6s of the revocation; generation %d", w.Current().Generation)
	}
	if n := e.proxy.Count(renewPath); n != 1 {
		t.Errorf("renew requests until recovery = %d, want 1", n)
	}
	if got := w.MinValid(); got != 2 {
		t.Errorf("MinValid() = %d, want 2: the revoked generation is retired", got)
	}
	cur := w.Current()
	if cur.Entry.Fields["username"] == old.Entry.Fields["username"] {
		t.Errorf("recovered with the same username %q", old.Entry.Fields["username"])
	}
	if err := e.login(cur); err != nil {
		t.Errorf("login with the new credentials: %v", err)
	}
	// No renew loop afterwards: a 4s lease is renewed about every 2.7s.
	e.proxy.ResetCounts()
	time.Sleep(3 * time.Second)
	if n := e.proxy.Count(renewPath); n > 2 {
		t.Errorf("renew requests in the 3s after recovery = %d, want <= 2", n)
	}
	if n := ev.count(driver.LeaseRetired); n != 1 {
		t.Errorf("retired events = %d, want 1", n)
	}
}

// TestLeaseVaultUnavailable: renewals failing with 503 for a while are
// retried with backoff, and the credentials never lapse.
func TestLeaseVaultUnavailable(t *testing.T) {
	e := startLeaseEnv(t, "4s", "30s")
	e.proxy.Inject(faultproxy.Fault{Match: faultproxy.Path(renewPath), Status: 503})
	var ev events
	w := e.lease(t, &driver.LeaseOptions{Notify: ev.notify})
	time.Sleep(3500 * time.Millisecond)
	e.proxy.Clear()
	n := e.proxy.Count(renewPath)
	// First renewal at ~2.7s, then retries 125-250ms, 250-500ms, ... bounded
	// by half the time left: a handful, not a storm.
	if n < 2 || n > 8 {
		t.Errorf("renew requests while Vault answered 503 = %d, want 2..8", n)
	}
	time.Sleep(2 * time.Second)
	cur := w.Current()
	if !cur.Expires.After(time.Now()) {
		t.Fatalf("current lease ended at %v", cur.Expires)
	}
	if err := e.login(cur); err != nil {
		t.Errorf("login after Vault came back: %v", err)
	}
	if ev.count(driver.LeaseFailed) == 0 {
		t.Error("no failed events while Vault answered 503")
	}
}

// TestLeaseRevokeOnClose: with RevokeOnClose the role is dropped at Close;
// without it, it stays until the lease ends.
func TestLeaseRevokeOnClose(t *testing.T) {
	e := startLeaseEnv(t, "1m", "2m")
	for _, revoke := range []bool{false, true} {
		t.Run(fmt.Sprint("revoke=", revoke), func(t *testing.T) {
			w, err := e.b.Lease(t.Context(), e.path, &driver.LeaseOptions{RevokeOnClose: revoke})
			if err != nil {
				t.Fatal(err)
			}
			user := w.Current().Entry.Fields["username"]
			if !e.roleExists(t, user) {
				t.Fatalf("role %q not in pg_roles after issue", user)
			}
			if err := w.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got, want := e.roleExists(t, user), !revoke; got != want {
				t.Errorf("role exists after Close = %v, want %v", got, want)
			}
		})
	}
}

// TestLeaseErrors: paths without a lease and missing paths fail at once.
func TestLeaseErrors(t *testing.T) {
	e := startLeaseEnv(t, "1m", "2m")
	e.vault.PutKV(t, "plain", map[string]any{"value": "x"})
	tests := []struct {
		path string
		want driver.Code
	}{
		{"secret/data/plain", driver.InvalidArgument},
		{"database/creds/nope", driver.InvalidArgument},
		{"nothing/here", driver.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w, err := e.b.Lease(t.Context(), tt.path, nil)
			if err == nil {
				w.Close(context.Background())
				t.Fatalf("Lease(%q) succeeded, want an error", tt.path)
			}
			if got := driver.CodeOf(err); got != tt.want {
				t.Errorf("Lease(%q) code = %v (%v), want %v", tt.path, got, err, tt.want)
			}
		})
	}
}

// TestLeaseVaultSealed: the real server sealed across the renewal time and
// unsealed before the lease ends: renewals back off while it is sealed (no
// storm), and the handle ends up with working credentials.
func TestLeaseVaultSealed(t *testing.T) {
	e := startLeaseEnv(t, "4s", "30s")
	var ev events
	w := e.lease(t, &driver.LeaseOptions{Notify: ev.notify})
	issued := w.Current().Issued
	e.vault.Seal(t)
	e.proxy.ResetCounts()
	time.Sleep(time.Until(issued.Add(3300 * time.Millisecond)))
	sealedRenews := e.proxy.Count(renewPath)
	e.vault.Unseal(t)
	if sealedRenews < 1 || sealedRenews > 6 {
		t.Errorf("renew requests while sealed = %d, want 1..6", sealedRenews)
	}
	if ev.count(driver.LeaseFailed) == 0 {
		t.Error("no failed events while sealed")
	}
	if !waitFor(5*time.Second, func() bool { return e.login(w.Current()) == nil }) {
		t.Fatalf("no working credentials within 5s of unsealing (generation %d)", w.Current().Generation)
	}
	t.Logf("renew requests while sealed: %d; generation after unseal: %d", sealedRenews, w.Current().Generation)
}
