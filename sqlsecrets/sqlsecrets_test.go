package sqlsecrets_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"
	"go.uber.org/goleak"

	vdriver "github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/sqlsecrets"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// generation is what the test learns about one generation of credentials
// from the watcher's events.
type generation struct {
	username string
	issued   time.Time
	expires  time.Time // as last renewed
	rotated  time.Time // when its replacement arrived; zero if never
	retired  time.Time
}

type history struct {
	mu   sync.Mutex
	gens map[uint64]*generation
}

func (h *history) notify(ev vdriver.LeaseEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	g := h.gens[ev.Leased.Generation]
	if g == nil {
		g = &generation{username: ev.Leased.Entry.Fields["username"], issued: ev.Leased.Issued}
		h.gens[ev.Leased.Generation] = g
	}
	switch ev.Kind {
	case vdriver.LeaseRenewed, vdriver.LeaseRotated:
		g.expires = ev.Leased.Expires
	case vdriver.LeaseRetired:
		g.retired = now
	}
	if ev.Kind == vdriver.LeaseRotated {
		if p := h.gens[ev.Previous.Generation]; p != nil {
			p.rotated = now
		}
	}
}

type setup struct {
	vault *vaulttest.Server
	pg    *vaulttest.Postgres
	b     *hashivault.Backend
}

func start(t *testing.T) *setup {
	t.Helper()
	v := vaulttest.Start(t, nil)
	pg := vaulttest.StartPostgres(t)
	b, err := hashivault.New(t.Context(), &hashivault.Options{Address: v.Addr, Token: v.Token, ConfigFile: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &setup{vault: v, pg: pg, b: b}
}

// TestRotatingCredentials runs SELECT loops through a pool fed by a
// database role with default_ttl=4s and max_ttl=8s for 30s (pgx) and 12s
// (lib/pq) while the credentials rotate, and checks that no query fails,
// that new credentials arrive before the old lease's max TTL, that no query
// runs as a user whose lease has ended, and that old roles are dropped.
func TestRotatingCredentials(t *testing.T) {
	s := start(t)
	tests := []struct {
		name   string
		drv    driver.Driver
		run    time.Duration
		minRot int
	}{
		{"pgx", stdlib.GetDefaultDriver(), 30 * time.Second, 3},
		{"pq", &pq.Driver{}, 12 * time.Second, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := s.vault.ConfigureDatabase(t, s.pg, "db-"+tt.name, vaulttest.DatabaseRole{Name: "app", DefaultTTL: "4s", MaxTTL: "8s"})
			h := &history{gens: map[uint64]*generation{}}
			w, err := s.b.Lease(t.Context(), path, &vdriver.LeaseOptions{Notify: h.notify})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(context.Background())
			first := w.Current()
			h.mu.Lock()
			h.gens[1] = &generation{username: first.Entry.Fields["username"], issued: first.Issued, expires: first.Expires}
			h.mu.Unlock()

			c, err := sqlsecrets.NewConnector(tt.drv, sqlsecrets.FromLease(w),
				&sqlsecrets.Options{DSN: sqlsecrets.PostgresURL(fmt.Sprintf("postgres://%s/postgres?sslmode=disable", s.pg.Addr()))})
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			defer db.Close()
			db.SetMaxOpenConns(4)
			db.SetMaxIdleConns(4)

			type use struct {
				user string
				at   time.Time
			}
			var (
				queries, failures atomic.Int64
				mu                sync.Mutex
				uses              []use
				firstErr          error
			)
			ctx, cancel := context.WithTimeout(t.Context(), tt.run)
			defer cancel()
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for ctx.Err() == nil {
						var user string
						qctx, qcancel := context.WithTimeout(context.Background(), 5*time.Second)
						err := db.QueryRowContext(qctx, "SELECT current_user").Scan(&user)
						qcancel()
						queries.Add(1)
						now := time.Now()
						mu.Lock()
						if err != nil {
							failures.Add(1)
							if firstErr == nil {
								firstErr = err
							}
						} else {
							uses = append(uses, use{user, now})
						}
						mu.Unlock()
						time.Sleep(5 * time.Millisecond)
					}
				})
			}
			wg.Wait()
			if n := failures.Load(); n != 0 {
				t.Errorf("%d of %d queries failed; first: %v", n, queries.Load(), firstErr)
			}

			h.mu.Lock()
			gens := map[string]*generation{}
			rotations := 0
			for n, g := range h.gens {
				gens[g.username] = g
				if g.rotated.IsZero() {
					continue
				}
				rotations++
				if maxEnd := g.issued.Add(8 * time.Second); !g.rotated.Before(maxEnd) {
					t.Errorf("generation %d replaced at +%v, after its max TTL (+8s)", n, g.rotated.Sub(g.issued))
				}
			}
			h.mu.Unlock()
			if rotations < tt.minRot {
				t.Errorf("rotations in %v = %d, want >= %d", tt.run, rotations, tt.minRot)
			}
			t.Logf("%d queries, %d rotations, %d generations", queries.Load(), rotations, len(gens))

			for _, u := range uses {
				g := gens[u.user]
				if g == nil {
					t.Errorf("query ran as %q, which is no generation the watcher issued", u.user)
					continue
				}
				if !g.retired.IsZero() && u.at.After(g.expires) {
					t.Errorf("query ran as %q at %v, after its lease ended (%v)", u.user, u.at.Format(time.StampMilli), g.expires.Format(time.StampMilli))
				}
			}

			// Every retired generation's role is dropped once its lease ends.
			var ended []string
			var last time.Time
			for user, g := range gens {
				if !g.retired.IsZero() {
					ended = append(ended, user)
					if g.expires.After(last) {
						last = g.expires
					}
				}
			}
			// Vault reports TTLs in whole seconds, so a lease may end up to
			// 1s after the watcher's view of it; give Vault's expiry 5s more.
			time.Sleep(time.Until(last))
			super := s.pg.DB(t)
			deadline := time.Now().Add(5 * time.Second)
			for _, user := range ended {
				for {
					var n int
					if err := super.QueryRow("SELECT count(*) FROM pg_roles WHERE rolname = $1", user).Scan(&n); err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("role %q still in pg_roles 5s after its lease ended", user)
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
}

// TestRetiredConnectionsAreClosed checks the pool side alone: once the
// source retires a generation, idle connections opened with it are not
// handed out again.
func TestRetiredConnectionsAreClosed(t *testing.T) {
	s := start(t)
	path := s.vault.ConfigureDatabase(t, s.pg, "database", vaulttest.DatabaseRole{Name: "app", DefaultTTL: "1m", MaxTTL: "2m"})
	w, err := s.b.Lease(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	src := &switchable{Source: sqlsecrets.FromLease(w)}
	c, err := sqlsecrets.NewConnector(stdlib.GetDefaultDriver(), src,
		&sqlsecrets.Options{DSN: sqlsecrets.PostgresURL(fmt.Sprintf("postgres://%s/postgres?sslmode=disable", s.pg.Addr()))})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()

	pid := func() int {
		var p int
		if err := db.QueryRow("SELECT pg_backend_pid()").Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := pid()
	if p2 := pid(); p2 != p1 {
		t.Fatalf("second query on backend %d, want the pooled connection %d", p2, p1)
	}
	src.minValid.Store(2) // generation 1 retired
	if p3 := pid(); p3 == p1 {
		t.Errorf("query after retirement on backend %d, the retired connection", p3)
	}
}

// switchable lets a test retire generations by hand.
type switchable struct {
	sqlsecrets.Source
	minValid atomic.Uint64
}

func (s *switchable) Credentials() sqlsecrets.Credentials {
	c := s.Source.Credentials()
	c.Generation = max(c.Generation, s.minValid.Load())
	return c
}

func (s *switchable) MinValid() uint64 { return max(s.Source.MinValid(), s.minValid.Load()) }
