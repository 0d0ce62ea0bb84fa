// Package hashivault is the vaultly backend for HashiCorp Vault, built on
// github.com/hashicorp/vault/api. It reads KV v1 and v2 secrets and keeps a
// token alive: looked up or obtained at start, renewed in the background at
// about 2/3 of its TTL, replaced by a new login before it expires once
// renewal stops extending it, and replaced exactly once when a request meets
// a revoked or expired token, however many goroutines meet it together.
//
// Use it through vaultly.Store, which adds caching and retries:
//
//	b, err := hashivault.New(ctx, &hashivault.Options{Mount: "secret"})
//	if err != nil { ... }
//	store := vaultly.New(b, nil) // the Store closes b
//	defer store.Close()
//	pw, err := store.Get(ctx, "myapp/db:password")
//
// Settings resolve field by field: explicit Options, then the vault CLI's
// VAULT_* environment (see EnvOptions; BAO_* when a VAULT_* variable is
// unset), then the config file `vaultly login` writes (see FileConfig),
// then, for credentials, the vault CLI's token helper (~/.vault-token, as
// `vault login` leaves it), else a Config error saying what to set. TLS is
// always verified; there is no way to turn verification off.
//
// The API paths used are those of Vault 1.21 (KV v1 and v2, sys, auth,
// leases, transit, PKI) and, being the same, of OpenBao 2.x; OpenBao is
// not tested here (its server cannot be built from the module proxy).
//
// vault/api's own retries are switched off (MaxRetries 0): the Store is the
// one layer that decides about retries.
//
// Every request goes through one HTTP transport of vaultly's under
// vault/api: answers are bounded (Options.MaxResponseBytes), redirects are
// followed only to configured addresses, and with several Options.Addresses
// (a Vault HA cluster) requests go to the active node and move to another
// node when one does not answer, is sealed or has no active node; see
// Backend.Nodes for the health view.
//
// A *Backend is safe for concurrent use. It runs a renewal goroutine (and,
// with several addresses, one that checks the nodes' health) and must be
// closed with Close, which stops and waits for them (and revokes the token
// when Options.RevokeOnClose is set).
package hashivault

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/notify"
	"github.com/vaultly/vaultly/internal/renew"
)

// Options configures a Backend. A nil *Options means all defaults. Empty
// fields are filled from the environment (EnvOptions) and then from the
// config file.
type Options struct {
	// Address of the Vault server, e.g. https://vault.example.com:8200.
	// Default: VAULT_ADDR, then the config file.
	Address string
	// Addresses lists the nodes of a Vault HA cluster, e.g.
	// https://vault-1:8200, https://vault-2:8200, https://vault-3:8200. The
	// backend keeps a health view of them (sys/health), sends requests to
	// the active node, moves to another node when one does not answer, is
	// sealed or answers 5xx, and follows a standby's redirect only to an
	// address listed here. Each node's certificate is verified against its
	// own host name (or TLSServerName when set). Address, if also set, must
	// be one of them. Default: VAULTLY_ADDRS (comma-separated), else the
	// one Address. A single address (one server, or a load balancer) works
	// as before: no health checks.
	Addresses []string
	// HealthInterval is how often the health view of Addresses is checked
	// while nothing fails, so the backend moves to a new active node, or
	// back to a recovered one, without every client moving at once (each
	// waits HealthInterval ±25%). A failing request triggers a check at
	// once (at most one round every 0.25–0.75s). The first check runs when
	// New starts. Default: 0 means 30s; negative: no periodic check and no
	// first check, only checks after failures. Unused with one address.
	HealthInterval time.Duration
	// MaxResponseBytes bounds every answer vaultly reads from Vault (KV,
	// sys, logins, leases, transit): a larger answer fails with code
	// Malformed naming the limit, and memory stays bounded. Error answers
	// are read up to 1 MiB and cut to a few short lines before they reach
	// error text. Default: 0 means DefaultMaxResponseBytes (32 MiB).
	MaxResponseBytes int64
	// Namespace (Vault Enterprise). Default: VAULT_NAMESPACE, then the config
	// file, else none.
	Namespace string
	// Mount is the KV mount paths are relative to. Default "secret" (or the
	// config file's). It may include a prefix inside the mount ("kv/team")
	// when KVVersion is detected.
	Mount string
	// KVVersion is 1 or 2, or 0 to detect it once per Backend the way
	// `vault kv` does (reading sys/internal/ui/mounts/<mount>). Default 0.
	KVVersion int
	// DefaultKey is the field a reference without ":key" reads. Default "value".
	DefaultKey string

	// Token is a static token. Default: VAULT_TOKEN, then the config file.
	// Giving both Token and Auth is a Config error.
	Token string
	// Auth logs in (and in again when the token dies); auth.MethodFunc is the
	// hook for a custom token factory. Default: AppRole from VAULT_ROLE_ID
	// and VAULT_SECRET_ID, then the config file's method.
	Auth auth.Method

	// CACert is a PEM file of CA certificates to trust. Default: VAULT_CACERT,
	// then the config file, else the system roots.
	CACert string
	// CAPath is a directory of PEM CA certificates. Default: VAULT_CAPATH,
	// then the config file.
	CAPath string
	// CACertPEM is CA certificates in PEM form. Default: none.
	CACertPEM []byte
	// ClientCert and ClientKey are PEM files of a TLS client certificate (for
	// cert auth or mutual TLS). Default: VAULT_CLIENT_CERT/VAULT_CLIENT_KEY,
	// then the config file.
	ClientCert, ClientKey string
	// TLSServerName is the name to verify the server certificate against.
	// Default: VAULT_TLS_SERVER_NAME, then the config file, else the host of
	// Address.
	TLSServerName string
	// ProxyURL is an HTTP proxy for requests to Vault. Default: the
	// HTTP_PROXY/HTTPS_PROXY/NO_PROXY environment, as net/http.
	ProxyURL string
	// Timeout bounds each request. Default: VAULT_CLIENT_TIMEOUT, else 60s.
	Timeout time.Duration

	// Client is a caller-owned client. vaultly makes a copy of it with its
	// own token and never closes, reconfigures or recreates the caller's
	// client; Address and the TLS and proxy options are then ignored, as are
	// IdleTimeout and ReuseConnection. A client that skips TLS verification
	// (api.TLSConfig.Insecure) is a Config error. Default: nil (vaultly
	// builds its own).
	Client *api.Client

	// IdleTimeout recreates the HTTP client (and its connections) when the
	// gap since the previous request is longer. Default 0: never.
	IdleTimeout time.Duration
	// ReuseConnection false makes every request use a fresh HTTP client and
	// connection. Default (nil): true, one long-lived client.
	ReuseConnection *bool

	// RevokeOnClose revokes, on Close, the token vaultly obtained by logging
	// in. A token given by the caller (Token, VAULT_TOKEN, a token method) is
	// never revoked. Default false.
	RevokeOnClose bool
	// ConfigFile is the config file to read. Default DefaultConfigPath(),
	// where a missing file is fine; "-" disables the file.
	ConfigFile string
	// TokenSink, when set, is a file the backend writes its current token
	// to whenever it gets one (at start and at every login), atomically
	// and with mode 0600, as Vault Agent's file sink does, for a program
	// that reads its token from a file. A failed write is logged (Warn)
	// and does not fail the login. The file holds a secret: nothing else
	// of vaultly's ever does. Default: none.
	TokenSink string
	// Logger receives the token's lifecycle, never a token. Routine events
	// (logged in, saved token looked up, renewed, replaced before its max
	// TTL) are Debug, so a logger at the usual Info level shows nothing
	// while all is well; what needs attention is Warn: a failed renewal or
	// login, a token Vault rejected and the re-login it caused. Default
	// (nil): slog.Default().
	Logger *slog.Logger

	// MeterProvider receives the backend's metrics: requests and their
	// duration by operation and result code, logins, re-logins, token
	// renewals and the seconds left on the token (the README's "Metrics
	// and health" lists them). Attributes are operation names and codes,
	// never a path (unless MetricPaths), a value or a token. Default
	// (nil): no metrics, at no cost.
	MeterProvider metric.MeterProvider
	// TracerProvider receives a client span per request ("vault kv.read",
	// ...), with the same attributes. Default (nil): no spans.
	TracerProvider trace.TracerProvider
	// MetricPaths adds the entry path (attribute vaultly.path) to the
	// request metrics and spans of KV reads and version checks. Paths are
	// names, not values, but each one is a time series. Default false.
	MetricPaths bool
}

// Backend reads Vault KV secrets with a self-renewing token. Create it with
// New and Close it when done.
type Backend struct {
	s        *settings
	log      *slog.Logger
	r        *router      // nodes, health view, answer limit, X-Vault-Index
	probeRT  *http.Client // health checks (its transport); closed in Close
	reuse    bool
	fresh    func() (*conn, error) // a new client without token
	onChange notify.Listeners
	closed   atomic.Bool

	// ctx is cancelled by Close; work shared by several callers (a login,
	// the KV version detection) runs under it, counted by running.
	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup
	flights singleflight.Group // "login/<gen>", "kv"

	// mu guards the fields below. It is never held across I/O: building a
	// client, a login or a request happen outside it.
	mu         sync.Mutex
	shut       bool  // Close has begun: no new shared work
	cur        *conn // long-lived client (token set)
	token      tokenText
	gen        uint64 // incremented at every login
	lease      renew.Lease
	lastUse    time.Time
	loginFails int
	nextLogin  time.Time
	loginErr   error
	increment  time.Duration // TTL asked for at renewal

	kv atomic.Pointer[kvInfo] // nil until known

	loop atomic.Pointer[renew.Loop]

	tel    *meters      // nil without MeterProvider and TracerProvider (telemetry.go)
	lastOK atomic.Int64 // UnixNano of the end of the last Call that succeeded (health.go)
}

var (
	_ driver.Backend        = (*Backend)(nil)
	_ driver.DefaultKeyer   = (*Backend)(nil)
	_ driver.ChangeNotifier = (*Backend)(nil)
)

// conn is an api.Client and the HTTP client under it.
type conn struct {
	c      *api.Client
	hc     *http.Client
	shared bool // hc's transport is a caller's: its connections are not vaultly's to close
}

func (c *conn) closeIdle() {
	if c != nil && c.hc != nil && !c.shared {
		c.hc.CloseIdleConnections()
	}
}

// New resolves the settings, logs in (or looks up the given token) and
// starts background renewal. It fails with a Config error when no address
// or credentials are found, and with the login's error (Unauthenticated,
// Unavailable, ...) when the first login fails.
func New(ctx context.Context, opts *Options) (*Backend, error) {
	if opts == nil {
		opts = &Options{}
	}
	s, err := resolve(opts)
	if err != nil {
		return nil, vaultly.WrapError("connect", "", backendName, err)
	}
	b := &Backend{s: s, log: opts.Logger, reuse: opts.ReuseConnection == nil || *opts.ReuseConnection}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.tel = newMeters(b, opts)
	if opts.Client != nil {
		b.reuse = true
		b.r = newRouter(s.addrs, clientBase(opts.Client), s.MaxResponseBytes, b.log)
		b.fresh = func() (*conn, error) { return cloneClient(opts.Client, s.Namespace, b.r) }
	} else {
		b.r = newRouter(s.addrs, s.addrs[0], s.MaxResponseBytes, b.log)
		b.fresh = func() (*conn, error) { return newClient(s, b.r) }
	}
	if b.cur, err = b.fresh(); err != nil {
		return nil, vaultly.WrapError("connect", "", backendName, err)
	}
	if len(s.addrs) > 1 {
		// Health checks use a client of their own, without token.
		pc, err := b.fresh()
		if err != nil {
			b.cur.closeIdle()
			return nil, vaultly.WrapError("connect", "", backendName, err)
		}
		if !pc.shared {
			b.probeRT = pc.hc
		}
		b.r.startChecks(pc.hc.Transport.(*transport).rt, s.HealthInterval)
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	lease, err := b.start(ctx)
	if err != nil {
		b.cancel()
		b.r.stop()
		b.cur.closeIdle()
		b.closeProbes()
		return nil, vaultly.WrapError("login", "", backendName, err)
	}
	if lease.TTL > 0 {
		b.loop.Store(renew.Start(lease, (*tokenTarget)(b), &renew.Options{
			OnError: func(op string, err error, retryIn time.Duration) {
				b.log.Warn("vaultly: token "+op+" failed", "error", err.Error(), "retry_in", retryIn)
			},
			OnRenew: func(l renew.Lease, final bool) {
				if final {
					b.log.Debug("vaultly: token reached its maximum ttl; logging in again before it expires", "ttl", l.TTL)
				}
			},
		}))
	}
	return b, nil
}

// Name returns "vault".
func (b *Backend) Name() string { return "vault" }

// DefaultKey returns the field read by a reference without ":key".
func (b *Backend) DefaultKey() string { return b.s.DefaultKey }

// Mount returns the KV mount (as configured, without slashes).
func (b *Backend) Mount() string { return b.s.Mount }

// Namespace returns the Vault namespace, or "".
func (b *Backend) Namespace() string { return b.s.Namespace }

// OnChange adds fn, called with a path after a change made through this
// backend's management calls (see NotifyChange), and returns a function
// that removes it (driver.ChangeNotifier). Used by the Store.
func (b *Backend) OnChange(fn func(path string)) (remove func()) { return b.onChange.Add(fn) }

// NotifyChange tells the Store that the entry at path changed, so its cached
// copy is dropped. Management calls use it after every successful change.
func (b *Backend) NotifyChange(path string) {
	b.onChange.Notify(path)
}

// Close stops token renewal and waits for it, revokes the token when
// RevokeOnClose is set and vaultly created it, and closes idle connections.
// It never closes a caller-owned client. Calls after Close fail.
func (b *Backend) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	if l := b.loop.Load(); l != nil {
		l.Stop()
	}
	// No new shared work; cancel what runs (a login nobody waits for any
	// more) and wait for it.
	b.mu.Lock()
	b.shut = true
	b.mu.Unlock()
	b.cancel()
	b.running.Wait()
	var err error
	if b.s.RevokeOnClose && b.s.created {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b.mu.Lock()
		c := b.cur
		b.mu.Unlock()
		if rerr := c.c.Auth().Token().RevokeSelfWithContext(ctx, ""); rerr != nil {
			err = vaultly.WrapError("close", "", backendName, mapError(rerr, b.currentToken()))
		}
		cancel()
	}
	b.r.stop()
	b.mu.Lock()
	b.cur.closeIdle()
	b.mu.Unlock()
	b.closeProbes()
	b.tel.close()
	return err
}

func (b *Backend) closeProbes() {
	if b.probeRT != nil {
		b.probeRT.CloseIdleConnections()
	}
}

// Nodes returns the backend's health view of its Vault nodes (Addresses),
// in configured order: each node's last known state and which one requests
// go to first. With a single address it is that address, in state
// "unknown" unless a request failed there. For readiness probes and
// diagnostics; it sends no request.
func (b *Backend) Nodes() []NodeStatus {
	return b.r.v.status()
}

var errClosed = &driver.Error{Code: driver.Canceled, Err: errors.New("vault backend is closed")}

// acquire returns the client to use for one call and the token generation
// it carries, applying IdleTimeout and ReuseConnection. release must be
// called when the call is done. A new client (which reads the TLS files) is
// built outside b.mu, so concurrent calls never queue behind it.
func (b *Backend) acquire() (c *conn, gen uint64, release func(), err error) {
	if !b.reuse {
		b.mu.Lock()
		tok, gen := b.token.get(), b.gen
		b.mu.Unlock()
		fc, err := b.fresh()
		if err != nil {
			return nil, 0, nil, err
		}
		fc.c.SetToken(tok)
		return fc, gen, fc.closeIdle, nil
	}
	b.mu.Lock()
	now := time.Now()
	if b.s.IdleTimeout > 0 && b.s.Client == nil && !b.lastUse.IsZero() && now.Sub(b.lastUse) > b.s.IdleTimeout {
		stale := b.cur
		b.mu.Unlock()
		fc, err := b.fresh()
		if err != nil {
			return nil, 0, nil, err
		}
		b.mu.Lock()
		if b.cur == stale {
			fc.c.SetToken(b.token.get())
			b.cur = fc
		} else {
			stale = fc // another call replaced it first: drop ours
		}
		defer stale.closeIdle()
	}
	b.lastUse = now
	c, gen = b.cur, b.gen
	b.mu.Unlock()
	return c, gen, b.touch, nil
}

func (b *Backend) touch() {
	b.mu.Lock()
	b.lastUse = time.Now()
	b.mu.Unlock()
}

func (b *Backend) currentToken() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.token.get()
}

// callInfoKey carries a *callInfo in a request's context, so that the
// client's CheckRetry hook can report the Retry-After header of a 429.
type callInfoKey struct{}

type callInfo struct {
	// hc is the HTTP client under the api.Client the call runs on, when
	// vaultly built that client (nil for a copy of a caller-owned one):
	// rawGet then sends its GET straight through it (see fastGet).
	hc *http.Client

	mu         sync.Mutex
	retryAfter time.Duration
	tooLarge   atomic.Int64 // the answer limit a response passed, if any
	allNodes   atomic.Int32 // >1: the request failed on every one of this many nodes
}

// checkRetry replaces vault/api's retry policy: it never retries (the Store
// does), and it records Retry-After for Call.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		if ci, ok := ctx.Value(callInfoKey{}).(*callInfo); ok {
			ci.mu.Lock()
			ci.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			ci.mu.Unlock()
		}
	}
	return false, nil
}

// Call runs fn with the current authenticated client. fn's error is mapped
// with MapError. When Vault answers that the token is invalid or expired,
// Call logs in again — once, however many goroutines see the same dead
// token — and retries fn once; if the login fails or the new token is
// rejected too, the error is Unauthenticated. fn must not keep or
// reconfigure the client.
func (b *Backend) Call(ctx context.Context, fn func(ctx context.Context, c *api.Client) error) (err error) {
	if b.closed.Load() {
		return errClosed
	}
	ctx, start, span := b.tel.start(ctx)
	defer func() { b.callDone(ctx, start, span, err) }()
	ctx = withCallInfo(ctx)
	gen, err := b.callOnce(ctx, fn)
	if err == nil {
		return nil
	}
	if !badToken(err) {
		return b.mapErr(ctx, err)
	}
	if _, lerr := b.relogin(ctx, gen); lerr != nil {
		code := driver.Unauthenticated
		if c := driver.CodeOf(lerr); c == driver.Canceled || c == driver.DeadlineExceeded {
			code = c
		}
		return &driver.Error{Code: code, Err: &vaultError{msg: "token rejected and logging in again failed: " + scrub(causeText(lerr), b.currentToken()), cause: lerr}}
	}
	_, err = b.callOnce(ctx, fn)
	if err != nil && badToken(err) {
		_, msg := classify(err)
		return &driver.Error{Code: driver.Unauthenticated, Err: &vaultError{
			msg:   "token rejected; logged in again and the new token was rejected too: " + scrub(msg, b.currentToken()),
			cause: err}}
	}
	return b.mapErr(ctx, err)
}

// callOnce runs fn once and returns the token generation it used.
func (b *Backend) callOnce(ctx context.Context, fn func(ctx context.Context, c *api.Client) error) (uint64, error) {
	c, gen, release, err := b.acquire()
	if err != nil {
		return 0, err
	}
	defer release()
	if ci, ok := ctx.Value(callInfoKey{}).(*callInfo); ok {
		ci.hc = c.hc
	}
	return gen, fn(ctx, c.c)
}

// mapErr maps err and adds the Retry-After the server sent, if any.
func (b *Backend) mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	e := mapError(err, b.currentToken())
	ci, _ := ctx.Value(callInfoKey{}).(*callInfo)
	if ci != nil {
		if limit := ci.tooLarge.Load(); limit > 0 && driver.CodeOf(e) != driver.Malformed {
			// vault/api may have reworded the limit's error on its way up.
			return &driver.Error{Code: driver.Malformed, Err: &vaultError{msg: (&tooLargeError{limit}).Error(), cause: err}}
		}
		if n := ci.allNodes.Load(); n > 1 {
			e = markAllNodes(e, int(n))
		}
	}
	if de, ok := e.(*driver.Error); ok && de.Code == driver.DeadlineExceeded && ctx.Err() == nil {
		// The per-request Timeout ended the request, not the caller: a
		// timeout is a transient failure.
		return &driver.Error{Code: driver.Unavailable, Err: &vaultError{msg: "request timed out after " + b.s.Timeout.String(), cause: err}}
	}
	if de, ok := e.(*driver.Error); ok && de.Code == driver.ResourceExhausted && de.RetryAfter == 0 {
		if ci, ok := ctx.Value(callInfoKey{}).(*callInfo); ok {
			ci.mu.Lock()
			d := ci.retryAfter
			ci.mu.Unlock()
			if d > 0 {
				c := *de
				c.RetryAfter = d
				return &c
			}
		}
	}
	return e
}

// withCallInfo returns ctx carrying a fresh callInfo.
func withCallInfo(ctx context.Context) context.Context {
	if _, ok := ctx.Value(callInfoKey{}).(*callInfo); ok {
		return ctx
	}
	return context.WithValue(ctx, callInfoKey{}, &callInfo{})
}
