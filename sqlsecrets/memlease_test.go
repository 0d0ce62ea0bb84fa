package sqlsecrets_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/sqlsecrets"
)

// The pool over memsecrets' fake leases, on a synctest clock: the same
// lease engine and connector as against Vault and PostgreSQL, without them.
// leaseDB is the database side: a database/sql driver whose users are the
// leases of one memsecrets role, as the database secrets engine makes them
// — a login needs a lease that is alive, and a session whose user's lease
// has ended fails its next query, as when Vault drops the role.

type leaseDB struct {
	b    *memsecrets.Backend
	path string

	mu     sync.Mutex
	opened map[string]int // logins per user
}

func (d *leaseDB) alive(user string) bool {
	for _, st := range d.b.Leases(d.path) {
		if fmt.Sprintf("app-%d", st.N) == user {
			return st.Alive(time.Now())
		}
	}
	return false
}

// Open takes the DSN "user:password".
func (d *leaseDB) Open(dsn string) (driver.Conn, error) {
	user, pw, _ := strings.Cut(dsn, ":")
	if !d.alive(user) || pw != user+"-password" {
		return nil, errors.New("password authentication failed for user " + user)
	}
	d.mu.Lock()
	d.opened[user]++
	d.mu.Unlock()
	return &leaseConn{db: d, user: user}, nil
}

type leaseConn struct {
	db   *leaseDB
	user string
}

func (c *leaseConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("not supported") }
func (c *leaseConn) Close() error                        { return nil }
func (c *leaseConn) Begin() (driver.Tx, error)           { return nil, errors.New("not supported") }

func (c *leaseConn) QueryContext(ctx context.Context, query string, _ []driver.NamedValue) (driver.Rows, error) {
	if !c.db.alive(c.user) {
		return nil, errors.New(`role "` + c.user + `" does not exist`)
	}
	return &userRows{user: c.user}, nil
}

type userRows struct {
	user string
	done bool
}

func (r *userRows) Columns() []string { return []string{"current_user"} }
func (r *userRows) Close() error      { return nil }
func (r *userRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	dest[0], r.done = r.user, true
	return nil
}

// TestRotationWithoutVault: 60s of queries from 4 goroutines through a pool
// of 4 while a ttl 4s / max 8s role rotates about every 6.7s: no query
// fails, each generation logs in, retired connections are replaced, and
// every query runs as a user whose lease is alive.
func TestRotationWithoutVault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const path = "database/creds/app"
		b := memsecrets.New(nil)
		b.SetRole(path, memsecrets.Role{TTL: 4 * time.Second, MaxTTL: 8 * time.Second, Granularity: time.Second})
		store := vaultly.New(b, nil)
		defer store.Close()
		d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), store, path, &vaultly.DynamicOptions{RevokeOnClose: true})
		if err != nil {
			t.Fatal(err)
		}
		ldb := &leaseDB{b: b, path: path, opened: map[string]int{}}
		c, err := sqlsecrets.NewConnector(ldb, sqlsecrets.FromDynamic(d), &sqlsecrets.Options{DSN: func(u, p string) string { return u + ":" + p }})
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(4)

		var queries, failures atomic.Int64
		var mu sync.Mutex
		var firstErr error
		users := map[string]int{}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					var user string
					err := db.QueryRowContext(context.Background(), "SELECT current_user").Scan(&user)
					queries.Add(1)
					mu.Lock()
					if err != nil {
						failures.Add(1)
						if firstErr == nil {
							firstErr = err
						}
					} else {
						users[user]++
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		cancel()
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := failures.Load(); n != 0 {
			t.Errorf("%d of %d queries failed; first: %v", n, queries.Load(), firstErr)
		}
		gens := d.Current().Lease.Generation
		if gens < 9 { // 60s / ~6.7s
			t.Errorf("generations in 60s = %d, want >= 9", gens)
		}
		for g := uint64(1); g < gens; g++ { // the last one may have come just before the end
			user := fmt.Sprintf("app-%d", g)
			if users[user] == 0 {
				t.Errorf("no query ran as %s (generation %d)", user, g)
			}
			// One connector per generation, up to 4 connections each.
			if n := ldb.opened[user]; n < 1 || n > 4 {
				t.Errorf("logins as %s = %d, want 1..4 (the pool's size)", user, n)
			}
		}
		for _, st := range b.Leases(path) {
			if st.Alive(time.Now()) {
				t.Errorf("lease %s alive after Close with RevokeOnClose", st.ID)
			}
		}
	})
}

// TestOutageLongerThanLease: the secrets backend is unreachable from 1s to
// 7s while the first lease (ttl 4s) ends and the database drops its user.
// New connections wait for the replacement instead of logging in with the
// dropped user, the replacement is issued within a second of the backend
// answering again, and no query fails after that (issue #13 measured ~500
// failed queries and new credentials 0.15–4s late).
func TestOutageLongerThanLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const path = "database/creds/app"
		start := time.Now()
		b := memsecrets.New(nil)
		b.SetRole(path, memsecrets.Role{TTL: 4 * time.Second, MaxTTL: time.Minute, Granularity: time.Second})
		b.SetHook(func(context.Context, memsecrets.Call) error {
			if el := time.Since(start); el >= time.Second && el < 7*time.Second {
				return &vaultly.Error{Code: vaultly.Unavailable, Err: errors.New("connection refused")}
			}
			return nil
		})
		store := vaultly.New(b, nil)
		defer store.Close()
		d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), store, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close(t.Context())
		ldb := &leaseDB{b: b, path: path, opened: map[string]int{}}
		c, err := sqlsecrets.NewConnector(ldb, sqlsecrets.FromDynamic(d), &sqlsecrets.Options{DSN: func(u, p string) string { return u + ":" + p }})
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		defer db.Close()
		db.SetMaxOpenConns(2)

		var mu sync.Mutex
		var lastFailure time.Duration
		var failures int
		ctx, cancel := context.WithTimeout(t.Context(), 12*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for ctx.Err() == nil {
					var user string
					err := db.QueryRowContext(ctx, "SELECT current_user").Scan(&user)
					if err != nil && ctx.Err() == nil {
						mu.Lock()
						failures++
						lastFailure = time.Since(start)
						mu.Unlock()
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		if lastFailure > 8*time.Second {
			t.Errorf("%d queries failed, the last at +%v: want none later than 1s after the backend is back (+7s)", failures, lastFailure)
		}
		for _, st := range b.Leases(path) {
			if st.N == 2 {
				if at := st.Issued.Sub(start); at < 7*time.Second || at > 8*time.Second {
					t.Errorf("second lease issued at +%v, want within [7s, 8s]", at)
				}
			}
		}
		t.Logf("%d failed queries, the last at +%v", failures, lastFailure)
	})
}
