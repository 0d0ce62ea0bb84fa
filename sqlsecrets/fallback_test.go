package sqlsecrets_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/sqlsecrets"
)

// minimalDriver implements only the mandatory database/sql/driver methods
// (Open, Prepare, Close, Begin, Stmt), to check that the connection wrapper
// falls back the way database/sql documents for drivers without the
// optional interfaces. It records the DSN of every connection opened.
type minimalDriver struct {
	mu   sync.Mutex
	dsns []string
}

func (d *minimalDriver) Open(dsn string) (driver.Conn, error) {
	d.mu.Lock()
	d.dsns = append(d.dsns, dsn)
	d.mu.Unlock()
	return &minimalConn{}, nil
}

type minimalConn struct{}

func (c *minimalConn) Prepare(query string) (driver.Stmt, error) { return &minimalStmt{q: query}, nil }
func (c *minimalConn) Close() error                              { return nil }
func (c *minimalConn) Begin() (driver.Tx, error)                 { return minimalTx{}, nil }

type minimalTx struct{}

func (minimalTx) Commit() error   { return nil }
func (minimalTx) Rollback() error { return nil }

type minimalStmt struct{ q string }

func (s *minimalStmt) Close() error  { return nil }
func (s *minimalStmt) NumInput() int { return -1 }
func (s *minimalStmt) Exec(args []driver.Value) (driver.Result, error) {
	return driver.RowsAffected(1), nil
}
func (s *minimalStmt) Query(args []driver.Value) (driver.Rows, error) {
	return &minimalRows{vals: []driver.Value{strings.ToUpper(s.q)}}, nil
}

type minimalRows struct{ vals []driver.Value }

func (r *minimalRows) Columns() []string { return []string{"q"} }
func (r *minimalRows) Close() error      { return nil }
func (r *minimalRows) Next(dest []driver.Value) error {
	if len(r.vals) == 0 {
		return io.EOF
	}
	dest[0], r.vals = r.vals[0], r.vals[1:]
	return nil
}

// staticSource hands out generation gen as user-<gen>.
type staticSource struct {
	gen, min atomic.Uint64
}

func (s *staticSource) Credentials() sqlsecrets.Credentials {
	g := s.gen.Load()
	return sqlsecrets.Credentials{Username: "user-" + string(rune('0'+g)), Password: vaultly.NewSecret("pw"), Generation: g}
}
func (s *staticSource) MinValid() uint64 { return s.min.Load() }

func TestConnectorWithMinimalDriver(t *testing.T) {
	drv := &minimalDriver{}
	src := &staticSource{}
	src.gen.Store(1)
	src.min.Store(1)
	c, err := sqlsecrets.NewConnector(drv, src, &sqlsecrets.Options{DSN: func(u, p string) string { return u }})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()

	var got string
	if err := db.QueryRowContext(ctx, "select 1").Scan(&got); err != nil || got != "SELECT 1" {
		t.Fatalf("QueryRow = %q, %v; want SELECT 1 through Prepare", got, err)
	}
	if _, err := db.ExecContext(ctx, "update x"); err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("BeginTx(nil): %v", err)
	}
	tx.Rollback()
	if _, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}); err == nil {
		t.Error("BeginTx(ReadOnly) on a driver without ConnBeginTx succeeded, want an error")
	}

	// Retire generation 1: the pooled connection is replaced by one opened
	// with generation 2.
	src.gen.Store(2)
	src.min.Store(2)
	if err := db.QueryRowContext(ctx, "select 2").Scan(&got); err != nil {
		t.Fatal(err)
	}
	drv.mu.Lock()
	defer drv.mu.Unlock()
	if diff := cmp.Diff([]string{"user-1", "user-2"}, drv.dsns); diff != "" {
		t.Errorf("connections opened (-want +got):\n%s", diff)
	}
}

func TestNewConnectorErrors(t *testing.T) {
	src := &staticSource{}
	dsn := &sqlsecrets.Options{DSN: func(u, p string) string { return u }}
	tests := []struct {
		name string
		drv  driver.Driver
		src  sqlsecrets.Source
		opts *sqlsecrets.Options
	}{
		{"no driver", nil, src, dsn},
		{"no source", &minimalDriver{}, nil, dsn},
		{"no options", &minimalDriver{}, src, nil},
		{"no DSN", &minimalDriver{}, src, &sqlsecrets.Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sqlsecrets.NewConnector(tt.drv, tt.src, tt.opts); err == nil {
				t.Error("NewConnector succeeded, want an error")
			}
		})
	}
}

func TestPostgresURL(t *testing.T) {
	dsn := sqlsecrets.PostgresURL("postgres://db:5432/app?sslmode=verify-full")
	got := dsn("v-app-1", "p@ss:w/rd")
	want := "postgres://v-app-1:p%40ss%3Aw%2Frd@db:5432/app?sslmode=verify-full"
	if got != want {
		t.Errorf("PostgresURL(...)(user, password) = %q, want %q", got, want)
	}
}

// A driver whose OpenConnector fails must not pass the DSN (with the
// password) on in the error.
type rejectingDriver struct{ minimalDriver }

func (d *rejectingDriver) OpenConnector(dsn string) (driver.Connector, error) {
	return nil, errors.New("cannot parse " + dsn)
}

func TestConnectErrorHasNoPassword(t *testing.T) {
	src := &staticSource{}
	src.gen.Store(1)
	src.min.Store(1)
	c, err := sqlsecrets.NewConnector(&rejectingDriver{}, src, &sqlsecrets.Options{DSN: func(u, p string) string { return u + ":" + p + "-secret" }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Connect(context.Background())
	if err == nil || strings.Contains(err.Error(), "pw-secret") {
		t.Errorf("Connect error = %v, want an error without the password", err)
	}
}
