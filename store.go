// Package vaultly gives Go programs typed, cached, self-renewing access to
// secrets in HashiCorp Vault (or a local backend for development and tests).
//
// Application code reads through a *Store, built with New in front of a
// driver.Backend (hashivault for Vault; memsecrets, envsecrets or
// filesecrets locally). The Store caches whole entries, makes one backend
// call for any number of concurrent readers of a cold entry, refreshes
// entries ahead of expiry, can serve stale values while the backend is down,
// retries transient failures and wraps every failure once in an *Error with
// a Code. References are "path[:key]" (see ParseRef). Load binds struct
// fields to references; Secret[T] keeps values redacted in every printed
// form.
//
// A Store is safe for concurrent use and must be closed: Close stops and
// waits for the goroutines it started and, unless Options.KeepBackendOpen,
// closes the backend. Errors, logs and panics never contain secret values.
package vaultly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/cache"
	"github.com/vaultly/vaultly/internal/entrycache"
	"github.com/vaultly/vaultly/internal/errs"
	"github.com/vaultly/vaultly/internal/fieldtext"
	"github.com/vaultly/vaultly/internal/lease"
	"github.com/vaultly/vaultly/internal/outage"
	"github.com/vaultly/vaultly/retry"
)

// Special TTL values for Options.TTL and ReadOptions.TTL.
const (
	// NoCache makes every read go to the backend (concurrent reads of the
	// same entry still share one backend call).
	NoCache time.Duration = cache.NoCache
	// UntilRefreshed keeps an entry until Refresh, RefreshAll, Invalidate,
	// a write through the Store, a backend change notification or eviction.
	UntilRefreshed time.Duration = cache.UntilRefreshed
)

// Defaults for zero Options fields (documented on each field).
const (
	defaultTTL          = 5 * time.Minute
	defaultMaxEntries   = 10000
	defaultRefreshAhead = 0.75
)

// Options configures a Store. A nil *Options means all defaults.
type Options struct {
	// TTL is how long a fetched entry is served from the cache.
	// Default: 0 means 5m. NoCache and UntilRefreshed are
	// accepted; other negative values mean NoCache.
	TTL time.Duration

	// MaxEntries bounds the number of cached entries (one per path and
	// version, however many keys are read from it). When a new entry would
	// exceed it, the Store evicts expired entries first, then entries with
	// no cache hit since they were fetched or since the previous eviction
	// sweep (a second-chance approximation of least-recently-used), then
	// any, down to 90% of MaxEntries.
	// Default: 0 means 10000.
	MaxEntries int

	// RefreshAhead is the fraction of an entry's TTL after which a read
	// that hits it also starts a background refresh, so that a frequently
	// read entry is replaced before it expires and readers never wait.
	// Each entry's point is moved earlier by a random jitter of up to 20%
	// so entries fetched together do not refresh together. The reader gets
	// the cached value at once. Refreshes run in goroutines owned by the
	// Store; Close stops and waits for them.
	// Default: 0 means 0.75; negative or >= 1 disables.
	RefreshAhead float64

	// StaleOnError is the maximum time past its expiry that a cached entry
	// may still be served when fetching it again fails with Unavailable,
	// ResourceExhausted, Unauthenticated or DeadlineExceeded (after
	// retries). Beyond that age, and for every other code (NotFound,
	// PermissionDenied, ...), the error is returned. Default: 0, never
	// serve stale.
	StaleOnError time.Duration

	// Retry is the policy for every backend call: reads, and Put, Delete
	// and List (a write retried after an ambiguous failure may create one
	// more version). Only errors whose code is retryable (Unavailable,
	// ResourceExhausted) are retried, unless Retry.Retryable says otherwise.
	// The policy's hooks (Retryable, OnRetry) may run on Store goroutines:
	// a hook that panics is recovered and logged as a warning, and the call
	// goes on as if the hook were not set. A negative MaxAttempts makes
	// every backend call fail with InvalidArgument.
	// Default: nil means retry's defaults: retried until the caller's
	// deadline or the 30s budget ends, full-jitter exponential backoff from
	// 50ms capped at 1s between attempts, no bound on attempts, Retry-After
	// honoured. Use &retry.Policy{MaxAttempts: 1} to disable retries.
	Retry *retry.Policy

	// Logger receives the Store's log records: paths, versions, codes,
	// attempts and durations, never values or tokens. Routine events
	// (backend reads, retries) are logged at Debug; only problems worth
	// acting on are logged at Warn: a stale entry served after a failed
	// fetch, a failed background refresh, a recovered panic in a retry
	// hook. Default: nil means slog.Default() (the same default as every
	// vaultly package); use slog.New(slog.DiscardHandler) to discard.
	Logger *slog.Logger

	// DefaultKey is the field read by a reference without ":key".
	// Default: "" means the backend's (driver.DefaultKeyer), else "value".
	DefaultKey string

	// KeepBackendOpen leaves the backend open when the Store is closed.
	// Default: false, Close closes the backend.
	KeepBackendOpen bool

	// Watch polls every cached entry (latest version) for changes at this
	// interval, each poll moved earlier by up to a quarter at random, and
	// replaces the cached entry when it changed, so reads see a rotation
	// within one interval whatever the TTL (see "Keeping secrets fresh" in
	// the README for the cost). An entry's watch stops when it leaves the
	// cache. Shorter than MinWatchInterval means MinWatchInterval.
	// Default: 0, only entries read with ReadOptions.Watch or subscribed
	// to (Subscribe) are watched.
	Watch time.Duration

	// MeterProvider receives the Store's metrics (cache hits, misses,
	// refreshes, evictions, stale serves, backend requests by operation
	// and code with their duration, watch polls and changes, the age of
	// the oldest cached value, lease renewals and expiry; the README's
	// "Metrics and health" lists them). Cache counters are read when the
	// provider collects, so a cache hit costs nothing more. Attributes are
	// the backend's name, operations, codes and kinds, never a value.
	// Default: nil, no metrics.
	MeterProvider metric.MeterProvider
	// TracerProvider receives a span per backend fetch, write, delete and
	// list. Default: nil, no spans.
	TracerProvider trace.TracerProvider
	// MetricPaths adds the entry path (attribute vaultly.path) to the
	// request metrics and spans. Paths are names, not values, but each
	// path is a time series. Default: false.
	MetricPaths bool

	// Outage configures the backend-wide outage breaker: while the
	// backend is down, stale reads are served at once, the backend gets
	// one probe at a time, and other calls wait for it (or fail fast).
	// See OutagePolicy. Default: nil means on, with OutagePolicy's
	// defaults; Outage: &OutagePolicy{Threshold: -1} turns it off.
	Outage *OutagePolicy

	// Snapshot keeps an encrypted copy of the cached KV entries in a file
	// and starts from it: entries from the file are served, as stale
	// values, only while the backend is unavailable, and replaced as soon
	// as it answers (see SnapshotOptions, OpenLater). Default: nil, none.
	Snapshot *SnapshotOptions
}

// ReadOptions adjusts one read. A nil *ReadOptions, or a zero field, means
// the Store's default.
type ReadOptions struct {
	// TTL overrides Options.TTL for this read: a cached entry older than
	// TTL is fetched again. NoCache and UntilRefreshed are accepted.
	// Default: 0 means the Store's TTL.
	TTL time.Duration
	// Watch watches the entry read (latest version) at this interval while
	// it is cached, as Options.Watch does for every entry; the shortest
	// interval asked for an entry applies. Default: 0, Options.Watch.
	Watch time.Duration
}

// Stats are counters since the Store was created.
type Stats struct {
	Hits            uint64 // reads answered from the cache
	Misses          uint64 // reads that needed a fetch (cold, expired, NoCache)
	BackendCalls    uint64 // calls to the backend's Read, retries included
	Errors          uint64 // fetches that failed after retries
	Retries         uint64 // backend calls that were retries
	StaleServes     uint64 // reads answered with a stale entry after a failed fetch
	Refreshes       uint64 // background refreshes started
	RefreshFailures uint64 // background refreshes that failed
	Evictions       uint64 // entries evicted to respect MaxEntries
	Entries         int    // entries cached now (a path that was not found holds none)
	Watches         int    // entries watched now: one poller each
	Polls           uint64 // watch polls made
	PollFailures    uint64 // watch polls that failed
	Changes         uint64 // changes seen by watches
	Outages         uint64 // times the outage breaker opened (see OutagePolicy)
	Probes          uint64 // probes sent while it was open (counted in BackendCalls too)
}

// Store is the concrete type application code reads secrets through. It
// puts a cache, single flight, refresh-ahead, stale-on-error, retries,
// error wrapping and logging in front of a driver.Backend.
//
// A Store is safe for concurrent use. Close it when done: Close stops and
// waits for the background refreshes it started, drops the cached secrets
// and, unless Options.KeepBackendOpen, closes the backend.
type Store struct {
	b        driver.Backend
	name     string
	defKey   string
	ttl      time.Duration
	stale    time.Duration
	retry    *retry.Policy
	retryIn  *retry.Policy // retry without its budget: for reads, whose flight context ends at the budget
	log      *slog.Logger
	keepOpen bool

	c *entrycache.Cache[*Entry] // entries, references, reads in flight

	ctx    context.Context // cancelled by Close; parent of background work
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed, wg.Add and dyns
	closed bool
	wg     sync.WaitGroup
	dyns   map[dynCloser]struct{} // Dynamics opened on the Store and not closed yet

	fmu     sync.Mutex
	flights map[*flight]struct{} // reads whose context's Done was asked for; Close cancels them

	closedFlag atomic.Bool // closed, for lock-free checks

	st counters

	unwatch func() // removes the Store's driver.ChangeNotifier registration; nil without one

	watch    *watchSet            // pollers (watch.go)
	tel      *storeMeters         // metrics and spans (metrics.go); nil without providers
	leases   *lease.Meters        // the lease engine's meters and watchers (metrics.go, health.go)
	lastOK   atomic.Int64         // UnixNano of the last successful backend read (health.go)
	readSeq  atomic.Uint64        // numbers the backend reads a watcher may see, in the order they begin (watch.go)
	out      *outage.Breaker      // the backend-wide outage state (outage.go)
	failFast bool                 // OutagePolicy.FailFast
	probeAt  atomic.Pointer[slot] // the entry the next probe reads
	snap     *snapshotter         // Options.Snapshot (snapshot.go); nil without
}

// counters are the Store's own; hits and evictions are the cache's.
type counters struct {
	misses, calls, errors, retries, stale, refreshes, refreshFailures entrycache.Counter
}

// New returns a Store reading through b. See Options for the defaults.
func New(b driver.Backend, opts *Options) *Store {
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{
		b:        b,
		name:     b.Name(),
		ttl:      opts.TTL,
		stale:    opts.StaleOnError,
		log:      opts.Logger,
		keepOpen: opts.KeepBackendOpen,
	}
	switch {
	case s.ttl == 0:
		s.ttl = defaultTTL
	case s.ttl < 0:
		s.ttl = NoCache
	}
	maxEntries := opts.MaxEntries
	if maxEntries <= 0 {
		maxEntries = defaultMaxEntries
	}
	ahead := opts.RefreshAhead
	if ahead == 0 {
		ahead = defaultRefreshAhead
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.defKey = opts.DefaultKey
	if s.defKey == "" {
		if dk, ok := b.(driver.DefaultKeyer); ok && dk.DefaultKey() != "" {
			s.defKey = dk.DefaultKey()
		} else {
			s.defKey = DefaultKey
		}
	}
	s.retry = s.retryPolicy(opts.Retry)
	in := *s.retry
	in.Budget = -1 // the flight's deadline is the budget (see newFlight)
	s.retryIn = &in
	s.out = s.newBreaker(opts.Outage)
	s.c = entrycache.New(entrycache.Options[*Entry]{
		TTL:          s.ttl,
		RefreshAhead: ahead,
		MaxEntries:   maxEntries,
		Field: func(e *Entry, k string) (string, bool) {
			v, ok := e.Fields[k]
			return v, ok
		},
		OnRemove: s.entryRemoved,
	})
	s.watch = newWatchSet(opts.Watch)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.tel = newStoreMeters(s, opts)
	if cn, ok := b.(driver.ChangeNotifier); ok {
		s.unwatch = cn.OnChange(s.backendChanged)
	}
	if opts.Snapshot != nil {
		s.startSnapshot(opts.Snapshot)
	}
	return s
}

// retryPolicy is the user's policy with the Store's counting and logging
// added. The user's hooks run on Store goroutines, where no caller could
// recover a panic: a hook that panics is logged and treated as absent
// for that call.
func (s *Store) retryPolicy(user *retry.Policy) *retry.Policy {
	p := retry.Policy{}
	if user != nil {
		p = *user
	}
	userRetryable, userOnRetry := p.Retryable, p.OnRetry
	p.Retryable = func(err error) bool {
		if isOpenError(err) {
			return false // the outage breaker said no: FailFast, or the wait ended
		}
		if userRetryable != nil {
			ok, panicked := s.callRetryable(userRetryable, err)
			if !panicked {
				return ok
			}
		}
		return CodeOf(err).Retryable()
	}
	p.OnRetry = func(attempt int, err error, d time.Duration) {
		s.st.retries.Add(1)
		s.log.Debug("vaultly: retrying backend call", "backend", s.name, "attempt", attempt, "code", CodeOf(err).String(), "delay", d)
		if userOnRetry != nil {
			defer s.recoverHook("OnRetry")
			userOnRetry(attempt, err, d)
		}
	}
	return &p
}

func (s *Store) callRetryable(fn func(error) bool, err error) (ok, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			s.logHookPanic("Retryable", r)
			panicked = true
		}
	}()
	return fn(err), false
}

// recoverHook, deferred, turns a panic in a user hook into a warning.
func (s *Store) recoverHook(hook string) {
	if r := recover(); r != nil {
		s.logHookPanic(hook, r)
	}
}

func (s *Store) logHookPanic(hook string, r any) {
	s.log.Warn("vaultly: recovered a panic in retry.Policy."+hook, "backend", s.name, "panic", fmt.Sprint(r))
}

// String describes the Store by its backend's name; it never prints cached
// values, whatever the verb.
func (s *Store) String() string { return "vaultly.Store(" + s.name + ")" }

// GoString is String, for %#v.
func (s *Store) GoString() string { return s.String() }

// Backend returns the backend the Store reads through.
func (s *Store) Backend() driver.Backend { return s.b }

// DefaultKey returns the field read by references without ":key".
func (s *Store) DefaultKey() string { return s.defKey }

// Get returns the value named by ref ("path[:key]" or "vault://path[:key][?version=N]")
// using the Store's default TTL. A cached hit takes no lock and allocates
// nothing. A missing entry or key is an error with code NotFound; for a
// missing key it names the keys the entry has.
func (s *Store) Get(ctx context.Context, ref string) (string, error) {
	r, v, res := s.c.Get(ref)
	switch res {
	case entrycache.Hit:
		return v, nil
	case entrycache.HitDue:
		s.refreshAhead(r.Slot())
		return v, nil
	case entrycache.Miss:
		return s.getRef(ctx, r)
	}
	p, err := ParseRef(ref)
	if err != nil {
		return "", s.wrap("get", "", err)
	}
	if s.isClosed() {
		return "", s.closedErr("get", p.String())
	}
	if p.Key == "" {
		p.Key = s.defKey
	}
	return s.getRef(ctx, s.c.Register(ref, p.Path, p.Version, p.Key))
}

// GetRef is Get for a parsed reference, with per-read options.
func (s *Store) GetRef(ctx context.Context, r Ref, o *ReadOptions) (string, error) {
	if r.Path == "" {
		return "", s.wrap("get", "", refError(r.String(), "empty path"))
	}
	if r.Key == "" {
		r.Key = s.defKey
	}
	e, err := s.entry(ctx, "get", r, s.readTTL(o))
	if err != nil {
		return "", err
	}
	s.watchRead(o, r.Path, r.Version, e)
	return s.field(e, r)
}

// Entry returns every field of the entry at path (version 0 = latest),
// cached like Get. The returned Entry is shared: callers must not modify it.
func (s *Store) Entry(ctx context.Context, path string, version int, o *ReadOptions) (*Entry, error) {
	p, err := CleanPath(path)
	if err != nil {
		return nil, s.wrap("get", "", err)
	}
	if version < 0 {
		return nil, s.wrap("get", p, newError("", "", InvalidArgument, "negative version"))
	}
	e, err := s.entry(ctx, "get", Ref{Path: p, Version: version}, s.readTTL(o))
	if err == nil {
		s.watchRead(o, p, version, e)
	}
	return e, err
}

// Refresh reads the entry named by ref again, bypassing the cache, and
// caches the result. The read begins after Refresh is called: Refresh never
// settles for a read that was already in flight, so a Refresh made right
// after a rotation sees the new value, and a Get after a successful Refresh
// returns the value it read or a newer one. Reads are cached in the order
// they began: an older read still in flight cannot overwrite it.
//
// On failure the cached entry is kept (and may be served stale if
// Options.StaleOnError allows) and the error is returned.
func (s *Store) Refresh(ctx context.Context, ref string) error {
	r, err := ParseRef(ref)
	if err != nil {
		return s.wrap("refresh", "", err)
	}
	if s.isClosed() {
		return s.closedErr("refresh", r.String())
	}
	_, err = s.fetch(ctx, "refresh", r, s.c.Slot(r.Path, r.Version), NoCache, true)
	return err
}

// RefreshAll refreshes every cached entry, like Refresh, a few at a time,
// and returns the failures joined (each a *Error naming its path).
func (s *Store) RefreshAll(ctx context.Context) error {
	var (
		mu   sync.Mutex
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(refreshAllParallelism)
	for _, es := range s.c.Cached() {
		g.Go(func() error {
			if _, err := s.fetch(ctx, "refresh", slotRef(es), es, NoCache, true); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

const refreshAllParallelism = 8

// Invalidate drops every cached version of path, so the next read fetches
// it. Reads of path already in flight are neither cached nor joined by
// later readers; reads of other paths are not affected. An invalid path is
// ignored.
func (s *Store) Invalidate(path string) {
	p, err := CleanPath(path)
	if err != nil {
		return
	}
	s.c.Invalidate(p)
}

// Stats returns a snapshot of the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Hits:            s.c.Hits(),
		Misses:          s.st.misses.Load(),
		BackendCalls:    s.st.calls.Load(),
		Errors:          s.st.errors.Load(),
		Retries:         s.st.retries.Load(),
		StaleServes:     s.st.stale.Load(),
		Refreshes:       s.st.refreshes.Load(),
		RefreshFailures: s.st.refreshFailures.Load(),
		Evictions:       s.c.Evictions(),
		Entries:         s.c.Len(),
		Watches:         s.watch.m.Len(),
		Polls:           s.watch.polls.Load(),
		PollFailures:    s.watch.pollFailures.Load(),
		Changes:         s.watch.changes.Load(),
		Outages:         s.out.State().Opened,
		Probes:          s.out.State().Sent,
	}
}

// Close stops background refreshes and waits for them, cancels fetches in
// flight, drops every cached secret and, unless Options.KeepBackendOpen,
// closes the backend. Reads after Close fail with code Canceled. Close is
// idempotent; only the first call closes the backend.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.closedFlag.Store(true)
	s.mu.Unlock()
	if s.unwatch != nil {
		s.unwatch()
	}
	s.cancel()
	s.cancelFlights()
	s.out.Close()
	s.wg.Wait()
	s.closeSnapshot()
	dynErr := s.closeDynamics()
	s.c.Close()
	s.tel.close()
	s.leases.Close()
	if s.keepOpen {
		return dynErr
	}
	if err := s.b.Close(); err != nil {
		return WrapError("close", "", s.name, err)
	}
	return dynErr
}

// --- internals ---

type slot = entrycache.Slot[*Entry]

func slotRef(es *slot) Ref { return Ref{Path: es.Path(), Version: es.Version()} }

func (s *Store) readTTL(o *ReadOptions) time.Duration {
	if o == nil || o.TTL == 0 {
		return s.ttl
	}
	if o.TTL < 0 {
		return NoCache
	}
	return o.TTL
}

func (s *Store) wrap(op, ref string, err error) error {
	return WrapError(op, ref, s.name, err)
}

func (s *Store) field(e *Entry, r Ref) (string, error) {
	if v, ok := e.Fields[r.Key]; ok {
		return v, nil
	}
	return "", s.wrap("get", r.String(), noKeyError(r.Key, e.Fields))
}

// noKeyError is the NotFound error for a key the entry lacks; it names the
// keys the entry has (names, never values).
func noKeyError(key string, fields map[string]string) *Error {
	return errs.Msg(NotFound, "no key "+strconv.Quote(key)+" in entry; "+keyNames(fields))
}

func (s *Store) refreshAhead(es *slot) {
	if !es.TryStartRefresh() {
		return
	}
	if !s.track() {
		es.EndRefresh()
		return
	}
	s.st.refreshes.Add(1)
	go func() {
		defer s.wg.Done()
		defer es.EndRefresh()
		start := time.Now()
		it := es.Item()
		if _, err := s.fetch(s.ctx, "refresh", slotRef(es), es, NoCache, true); err != nil {
			s.st.refreshFailures.Add(1)
			// Do not try again at every hit: wait a while first.
			s.c.BackOff(es, it, cache.RefreshRetryDelay(s.ttl))
			s.log.Warn("vaultly: background refresh failed", "backend", s.name, "path", es.Path(), "version", es.Version(), "code", CodeOf(err).String(), "elapsed", time.Since(start))
		}
	}()
}

// track registers one unit of Store-owned work; false once closed.
func (s *Store) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// getRef is the slow path of Get.
func (s *Store) getRef(ctx context.Context, r *entrycache.Ref[*Entry]) (string, error) {
	ref := Ref{Path: r.Path, Version: r.Version, Key: r.Key}
	if s.isClosed() {
		return "", s.closedErr("get", ref.String())
	}
	e, err := s.read(ctx, "get", ref, s.c.SlotOf(r), s.ttl)
	if err != nil {
		return "", err
	}
	return s.field(e, ref)
}

func (s *Store) entry(ctx context.Context, op string, r Ref, ttl time.Duration) (*Entry, error) {
	if s.isClosed() {
		return nil, s.closedErr(op, r.String())
	}
	return s.read(ctx, op, r, s.c.Slot(r.Path, r.Version), ttl)
}

// read serves es from the cache when fresh under ttl, else fetches it.
func (s *Store) read(ctx context.Context, op string, r Ref, es *slot, ttl time.Duration) (*Entry, error) {
	if it, due := s.c.Lookup(es, ttl); it != nil {
		if due {
			s.refreshAhead(es)
		}
		return it.Value, nil
	}
	s.st.misses.Add(1)
	if s.out.Open() && (s.stale > 0 || s.snap != nil) {
		if e, ok := s.staleNow(es, ttl); ok {
			return e, nil
		}
	}
	e, err := s.fetch(ctx, op, r, es, ttl, false)
	if err == nil {
		return e, nil
	}
	if it := es.Item(); it != nil && staleCode(CodeOf(err)) && s.canServeStale(it, ttl, time.Now()) {
		s.st.stale.Add(1)
		now := time.Now()
		since := it.MarkStale(now)
		s.log.Warn("vaultly: serving stale entry after failed fetch", "backend", s.name, "path", es.Path(), "version", es.Version(), "code", CodeOf(err).String(), "age", now.Sub(it.Fetched), "stale_for", now.Sub(since))
		return it.Value, nil
	}
	return nil, err
}

func staleCode(c Code) bool {
	switch c {
	case Unavailable, ResourceExhausted, Unauthenticated, DeadlineExceeded:
		return true
	}
	return false
}

// Put writes fields as a new version of the entry at path, through the
// backend (which must implement driver.Writer), and drops the cached entry.
// Values that are not strings are stored as the backend stores JSON values.
// A field name or string that is not valid UTF-8 is refused with an
// InvalidArgument error naming the field (JSON would replace its bytes):
// encode binary data first, e.g. as base64.
func (s *Store) Put(ctx context.Context, path string, fields map[string]any) error {
	w, ok := s.b.(driver.Writer)
	p, err := CleanPath(path)
	if err != nil {
		return s.wrap("put", "", err)
	}
	if !ok {
		return s.wrap("put", p, driver.NewError(InvalidArgument, errors.New("backend does not support writing")))
	}
	if err := fieldtext.CheckUTF8(fields); err != nil { // before any request: JSON would change the bytes
		return s.wrap("put", p, driver.NewError(InvalidArgument, err))
	}
	ctx, span := s.tel.span(ctx, "write", p)
	err = retry.Do(ctx, s.retry, func(ctx context.Context, attempt int) error {
		if err := s.admit(ctx, nil, attempt); err != nil {
			return err
		}
		s.st.calls.Add(1)
		start := s.tel.start()
		err := w.Write(ctx, p, fields)
		s.tel.done(ctx, opWrite, p, start, err)
		s.outcome(err, nil)
		return err
	})
	endSpan(span, err)
	s.Invalidate(p)
	return s.wrap("put", p, err)
}

// Delete removes the entry at path with all its versions, through the
// backend (which must implement driver.Writer), and drops the cached entry.
func (s *Store) Delete(ctx context.Context, path string) error {
	w, ok := s.b.(driver.Writer)
	p, err := CleanPath(path)
	if err != nil {
		return s.wrap("delete", "", err)
	}
	if !ok {
		return s.wrap("delete", p, driver.NewError(InvalidArgument, errors.New("backend does not support writing")))
	}
	ctx, span := s.tel.span(ctx, "delete", p)
	err = retry.Do(ctx, s.retry, func(ctx context.Context, attempt int) error {
		if err := s.admit(ctx, nil, attempt); err != nil {
			return err
		}
		s.st.calls.Add(1)
		start := s.tel.start()
		err := w.Delete(ctx, p)
		s.tel.done(ctx, opDelete, p, start, err)
		s.outcome(err, nil)
		return err
	})
	endSpan(span, err)
	s.Invalidate(p)
	return s.wrap("delete", p, err)
}

// List returns the names directly under prefix (folders end in '/'),
// through the backend, which must implement driver.Lister. Not cached.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	l, ok := s.b.(driver.Lister)
	p := strings.Trim(prefix, "/")
	if p != "" {
		c, err := CleanPath(p)
		if err != nil {
			return nil, s.wrap("list", "", err)
		}
		p = c
	}
	if !ok {
		return nil, s.wrap("list", p, driver.NewError(InvalidArgument, errors.New("backend does not support listing")))
	}
	var names []string
	ctx, span := s.tel.span(ctx, "list", p)
	err := retry.Do(ctx, s.retry, func(ctx context.Context, attempt int) error {
		if err := s.admit(ctx, nil, attempt); err != nil {
			return err
		}
		s.st.calls.Add(1)
		start := s.tel.start()
		var err error
		names, err = l.List(ctx, p)
		s.tel.done(ctx, opList, p, start, err)
		s.outcome(err, nil)
		return err
	})
	endSpan(span, err)
	if err != nil {
		return nil, s.wrap("list", p, err)
	}
	return names, nil
}
