// Package sqlsecrets opens database/sql connections with rotating dynamic
// credentials, such as those Vault's database secrets engine issues.
//
// A Connector opens every new connection with the credentials current at
// that moment, remembers which generation of credentials each connection was
// opened with, and retires a connection as soon as its generation is retired
// (shortly before its lease ends and the database role is dropped): the pool
// checks every connection with driver.Validator before handing it out and
// with driver.SessionResetter before reusing it, so it never hands out a
// connection whose role is gone.
//
//	d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](ctx, store, "database/creds/app", nil)
//	...
//	defer d.Close(ctx)
//	c, err := sqlsecrets.NewConnector(stdlib.GetDefaultDriver(), sqlsecrets.FromDynamic(d),
//		&sqlsecrets.Options{DSN: sqlsecrets.PostgresURL("postgres://db.internal:5432/app?sslmode=verify-full")})
//	db := sql.OpenDB(c)
//
// It works with any driver.Driver: github.com/jackc/pgx/v5/stdlib and
// github.com/lib/pq are tested. A Connector is safe for concurrent use and
// holds nothing that needs closing; the Source (the *vaultly.Dynamic) must
// be closed by its owner after the *sql.DB.
package sqlsecrets

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/vaultly/vaultly"
)

// Credentials are one generation of database credentials.
type Credentials struct {
	Username   string
	Password   vaultly.Secret[string] // redacted when printed, even in an unexported field
	Generation uint64                 // increases with every new set of credentials
}

// Source supplies the current credentials and says which generations may
// still be used. *vaultly.Dynamic fits through FromDynamic. Implementations
// must be safe for concurrent use and must not block.
type Source interface {
	// Credentials returns the newest credentials.
	Credentials() Credentials
	// MinValid returns the oldest generation still usable; it never
	// decreases.
	MinValid() uint64
}

// Waiter is implemented by Sources that can wait for usable credentials
// (FromDynamic's does). When the newest credentials have been retired — their
// lease ended while the secrets backend was unreachable, and no replacement
// was issued yet — Connect waits for new ones through WaitCredentials
// instead of opening a connection with credentials the database has already
// dropped. WaitCredentials returns the first usable credentials, or an error
// once ctx ends.
type Waiter interface {
	WaitCredentials(ctx context.Context) (Credentials, error)
}

// DefaultMaxWait bounds how long Connect waits for usable credentials when
// the caller's context has no earlier deadline.
const DefaultMaxWait = 30 * time.Second

// Options configures a Connector.
type Options struct {
	// DSN returns the data source name the driver opens for the given
	// credentials. Required; PostgresURL builds one for PostgreSQL drivers.
	DSN func(username, password string) string

	// MaxWait bounds how long Connect waits for usable credentials after
	// the current ones were retired without a replacement (see Waiter); the
	// caller's context bounds it too. Past it, Connect fails with code
	// Unavailable. A Source that is not a Waiter fails at once.
	// Default: 0 means DefaultMaxWait (30s); negative means do not wait.
	MaxWait time.Duration
}

// Connector is a database/sql/driver.Connector fed by a Source.
type Connector struct {
	drv     driver.Driver
	src     Source
	dsn     func(username, password string) string
	maxWait time.Duration

	mu   sync.Mutex
	gen  uint64           // generation of conn
	conn driver.Connector // for drivers that implement driver.DriverContext
}

var _ driver.Connector = (*Connector)(nil)

// NewConnector returns a Connector that opens connections through drv with
// the credentials of src. Pass it to sql.OpenDB.
func NewConnector(drv driver.Driver, src Source, opts *Options) (*Connector, error) {
	switch {
	case drv == nil:
		return nil, connectorConfig("the database driver is nil")
	case src == nil:
		return nil, connectorConfig("the credentials source is nil")
	case opts == nil || opts.DSN == nil:
		return nil, connectorConfig("the DSN func is required")
	}
	c := &Connector{drv: drv, src: src, dsn: opts.DSN, maxWait: opts.MaxWait}
	if c.maxWait == 0 {
		c.maxWait = DefaultMaxWait
	}
	return c, nil
}

// Driver returns the underlying driver.
func (c *Connector) Driver() driver.Driver { return c.drv }

// Connect opens a connection with the current credentials. When they have
// been retired without a replacement, it waits for new ones (see Waiter and
// Options.MaxWait) and fails with code Unavailable if none come: it never
// opens a connection with credentials it knows are dead.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	cr, err := c.usable(ctx)
	if err != nil {
		return nil, err
	}
	var conn driver.Conn
	if dc, ok := c.drv.(driver.DriverContext); ok {
		var connector driver.Connector
		connector, err = c.connectorFor(dc, cr)
		if err != nil {
			return nil, connectError(err)
		}
		conn, err = connector.Connect(ctx)
	} else {
		if err := ctx.Err(); err != nil {
			return nil, connectError(err)
		}
		conn, err = c.drv.Open(c.dsn(cr.Username, cr.Password.Reveal()))
	}
	if err != nil {
		return nil, connectError(redacted(err, cr.Password.Reveal()))
	}
	return &genConn{Conn: conn, gen: cr.Generation, src: c.src}, nil
}

// usable returns the newest credentials, waiting for a replacement while
// they are retired.
func (c *Connector) usable(ctx context.Context) (Credentials, error) {
	cr := c.src.Credentials()
	if cr.Generation >= c.src.MinValid() {
		return cr, nil
	}
	dead := func(cause error) error {
		return &vaultly.Error{Op: "connect", Backend: "sqlsecrets", Code: vaultly.Unavailable,
			Err: fmt.Errorf("no usable database credentials: generation %d was retired and no replacement has been issued yet: %w", cr.Generation, cause)}
	}
	w, ok := c.src.(Waiter)
	if !ok || c.maxWait < 0 {
		return Credentials{}, dead(errors.New("not waiting"))
	}
	wctx, cancel := context.WithTimeout(ctx, c.maxWait)
	defer cancel()
	cr, err := w.WaitCredentials(wctx)
	if err != nil {
		if vaultly.CodeOf(err) == vaultly.Canceled && ctx.Err() == nil {
			return Credentials{}, &vaultly.Error{Op: "connect", Backend: "sqlsecrets", Code: vaultly.Canceled, Err: err}
		}
		return Credentials{}, dead(err)
	}
	return cr, nil
}

func connectorConfig(msg string) error {
	return &vaultly.Error{Op: "new connector", Backend: "sqlsecrets", Code: vaultly.Config, Err: errors.New(msg)}
}

// connectError gives a database driver's error (already redacted: see
// redacted) a code: the caller's context ending, a network failure
// (Unavailable), or Unknown. The redacted copy answers errors.Is for
// driver.ErrBadConn, so database/sql still sees it.
func connectError(err error) error {
	code := vaultly.CodeOf(err)
	if code == vaultly.Unknown {
		if _, ok := errors.AsType[net.Error](err); ok {
			code = vaultly.Unavailable
		}
	}
	return &vaultly.Error{Op: "connect", Backend: "sqlsecrets", Code: code, Err: err}
}

// connectorFor returns the driver's connector for cr's generation, opened
// once per generation.
func (c *Connector) connectorFor(dc driver.DriverContext, cr Credentials) (driver.Connector, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && c.gen == cr.Generation {
		return c.conn, nil
	}
	conn, err := dc.OpenConnector(c.dsn(cr.Username, cr.Password.Reveal()))
	if err != nil {
		// Driver errors about a DSN quote it and keep it: pass on only a
		// redacted copy.
		return nil, &vaultly.Error{Code: vaultly.Config, Err: fmt.Errorf("the driver rejected the data source name: %w", redacted(err, cr.Password.Reveal()))}
	}
	c.gen, c.conn = cr.Generation, conn
	return conn, nil
}

// PostgresURL returns an Options.DSN for PostgreSQL drivers (pgx, lib/pq):
// base is a postgres:// URL without user information, and each DSN is base
// with the credentials set as its user and password, escaped.
func PostgresURL(base string) func(username, password string) string {
	return func(username, password string) string {
		u, err := url.Parse(base)
		if err != nil {
			return base
		}
		u.User = url.UserPassword(username, password)
		return u.String()
	}
}

// genConn wraps a driver connection with the generation of its credentials.
// It forwards every optional interface database/sql uses and falls back to
// what database/sql documents when the driver lacks one.
type genConn struct {
	driver.Conn
	gen uint64
	src Source
}

var (
	_ driver.Validator          = (*genConn)(nil)
	_ driver.SessionResetter    = (*genConn)(nil)
	_ driver.ConnPrepareContext = (*genConn)(nil)
	_ driver.ConnBeginTx        = (*genConn)(nil)
	_ driver.ExecerContext      = (*genConn)(nil)
	_ driver.QueryerContext     = (*genConn)(nil)
	_ driver.Pinger             = (*genConn)(nil)
	_ driver.NamedValueChecker  = (*genConn)(nil)
)

// retired reports whether the connection's credentials are retired.
func (c *genConn) retired() bool { return c.gen < c.src.MinValid() }

// IsValid reports false once the connection's generation is retired, so the
// pool closes it instead of handing it out.
func (c *genConn) IsValid() bool {
	if c.retired() {
		return false
	}
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// ResetSession refuses to reuse a connection whose generation is retired.
func (c *genConn) ResetSession(ctx context.Context) error {
	if c.retired() {
		return driver.ErrBadConn
	}
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *genConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.Conn.Prepare(query)
}

func (c *genConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	if opts.Isolation != 0 || opts.ReadOnly {
		return nil, errors.New("sqlsecrets: the driver does not support transaction options")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	//lint:ignore SA1019 the fallback database/sql itself uses for drivers without ConnBeginTx
	return c.Conn.Begin()
}

func (c *genConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := c.Conn.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c *genConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if q, ok := c.Conn.(driver.QueryerContext); ok {
		return q.QueryContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c *genConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *genConn) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// Unwrap returns the driver's own connection, e.g. for sql.Conn.Raw users
// that need the driver's type.
func (c *genConn) Unwrap() driver.Conn { return c.Conn }
