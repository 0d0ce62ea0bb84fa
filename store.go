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
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/cache"
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

// Defaults for zero Options fields.
const (
	DefaultTTL          = 5 * time.Minute
	DefaultMaxEntries   = 10000
	DefaultRefreshAhead = 0.75
)

// Options configures a Store. A nil *Options means all defaults.
type Options struct {
	// TTL is how long a fetched entry is served from the cache.
	// Default: 0 means DefaultTTL (5m). NoCache and UntilRefreshed are
	// accepted; other negative values mean NoCache.
	TTL time.Duration

	// MaxEntries bounds the number of cached entries (one per path and
	// version, however many keys are read from it). When a new entry would
	// exceed it, the Store evicts expired entries first, then entries with
	// no cache hit since they were fetched or since the previous eviction
	// sweep (a second-chance approximation of least-recently-used), then
	// any, down to 90% of MaxEntries.
	// Default: 0 means DefaultMaxEntries (10000).
	MaxEntries int

	// RefreshAhead is the fraction of an entry's TTL after which a read
	// that hits it also starts a background refresh, so that a frequently
	// read entry is replaced before it expires and readers never wait.
	// Each entry's point is moved earlier by a random jitter of up to 20%
	// so entries fetched together do not refresh together. The reader gets
	// the cached value at once. Refreshes run in goroutines owned by the
	// Store; Close stops and waits for them.
	// Default: 0 means DefaultRefreshAhead (0.75); negative or >= 1 disables.
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
	// ResourceExhausted) are retried.
	// Default: nil means retry's defaults: 4 attempts, full-jitter
	// exponential backoff from 100ms capped at 5s, a 30s budget, Retry-After
	// honoured. Use &retry.Policy{MaxAttempts: 1} to disable retries.
	Retry *retry.Policy

	// Logger receives debug records for fetches and retries and warnings
	// for stale serves and failed background refreshes: paths, codes,
	// attempts and durations, never values. Default: nil discards.
	Logger *slog.Logger

	// DefaultKey is the field read by a reference without ":key".
	// Default: "" means the backend's (driver.DefaultKeyer), else "value".
	DefaultKey string

	// KeepBackendOpen leaves the backend open when the Store is closed.
	// Default: false, Close closes the backend.
	KeepBackendOpen bool
}

// ReadOptions adjusts one read. A nil *ReadOptions, or a zero field, means
// the Store's default.
type ReadOptions struct {
	// TTL overrides Options.TTL for this read: a cached entry older than
	// TTL is fetched again. NoCache and UntilRefreshed are accepted.
	// Default: 0 means the Store's TTL.
	TTL time.Duration
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
	Entries         int    // entries cached now
}

// Store is the concrete type application code reads secrets through. It
// puts a cache, single flight, refresh-ahead, stale-on-error, retries,
// error wrapping and logging in front of a driver.Backend.
//
// A Store is safe for concurrent use. Close it when done: Close stops and
// waits for the background refreshes it started, drops the cached secrets
// and, unless Options.KeepBackendOpen, closes the backend.
type Store struct {
	b          driver.Backend
	name       string
	defKey     string
	ttl        time.Duration
	maxEntries int
	ahead      float64
	stale      time.Duration
	retry      *retry.Policy
	log        *slog.Logger
	keepOpen   bool

	refs    cache.Map[*refSlot]   // raw reference string -> parsed reference and its slot
	entries cache.Map[*entrySlot] // entryKey(path, version) -> slot
	flight  singleflight.Group
	epoch   atomic.Uint64 // bumped by every invalidation; fetches that saw an older epoch do not cache
	gen     atomic.Uint64 // generation of the last entryState published

	ctx    context.Context // cancelled by Close; parent of background work
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed, wg.Add and dyns
	closed bool
	wg     sync.WaitGroup
	dyns   map[dynCloser]struct{} // Dynamics opened on the Store and not closed yet

	closedFlag atomic.Bool // closed, for lock-free checks
	evict      sync.Mutex

	st counters

	unwatch func() // removes the Store's driver.ChangeNotifier registration; nil without one
}

type refSlot struct {
	ref  Ref // Key resolved
	key  string
	slot atomic.Pointer[entrySlot]
	memo atomic.Pointer[refMemo] // the key's value in one entryState
}

// refMemo saves a hit the lookup of the key in the entry's fields. It
// names the entryState by generation, not pointer, so that it never keeps
// an old entry alive.
type refMemo struct {
	gen uint64
	v   string
}

type entrySlot struct {
	key        string
	path       string
	version    int
	state      atomic.Pointer[entryState] // nil: nothing cached
	used       atomic.Bool                // hit since the last eviction sweep
	refreshing atomic.Bool
	dead       atomic.Bool // removed from the map
}

// entryState is one fetched entry. It is never modified once published,
// except for the two flags its timers set.
type entryState struct {
	e       *driver.Entry
	fetched time.Time
	r       float64 // refresh jitter in [0, 1)
	gen     uint64  // unique per Store

	// For the Store's default TTL, freshness and refresh-ahead are flags set
	// by timers, so that a hit reads no clock (time.Now is far slower than
	// the rest of a hit on some virtual machines).
	expired atomic.Bool // past the default TTL
	due     atomic.Bool // past the refresh-ahead point

	mu      sync.Mutex
	stopped bool
	timers  []*time.Timer
}

// after runs fn after d unless st is stopped first.
func (st *entryState) after(d time.Duration, fn func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.stopped {
		st.timers = append(st.timers, time.AfterFunc(d, fn))
	}
}

func (st *entryState) stop() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stopped = true
	for _, t := range st.timers {
		t.Stop()
	}
	st.timers = nil
}

// fresh reports whether st may be served under ttl; defTTL is the Store's.
func (st *entryState) fresh(ttl, defTTL time.Duration) bool {
	if ttl == defTTL && ttl != NoCache {
		return !st.expired.Load()
	}
	return cache.Fresh(time.Now(), st.fetched, ttl)
}

// refreshDue reports whether a hit under ttl should start a refresh.
func (st *entryState) refreshDue(ttl, defTTL time.Duration, ahead float64) bool {
	if ttl == defTTL {
		return st.due.Load()
	}
	return cache.RefreshDue(time.Now(), st.fetched, ttl, ahead, st.r)
}

// New returns a Store reading through b. See Options for the defaults.
func New(b driver.Backend, opts *Options) *Store {
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{
		b:          b,
		name:       b.Name(),
		ttl:        opts.TTL,
		maxEntries: opts.MaxEntries,
		ahead:      opts.RefreshAhead,
		stale:      opts.StaleOnError,
		log:        opts.Logger,
		keepOpen:   opts.KeepBackendOpen,
	}
	switch {
	case s.ttl == 0:
		s.ttl = DefaultTTL
	case s.ttl < 0:
		s.ttl = NoCache
	}
	if s.maxEntries <= 0 {
		s.maxEntries = DefaultMaxEntries
	}
	if s.ahead == 0 {
		s.ahead = DefaultRefreshAhead
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.defKey = opts.DefaultKey
	if s.defKey == "" {
		if dk, ok := b.(driver.DefaultKeyer); ok && dk.DefaultKey() != "" {
			s.defKey = dk.DefaultKey()
		} else {
			s.defKey = DefaultKey
		}
	}
	p := retry.Policy{}
	if opts.Retry != nil {
		p = *opts.Retry
	}
	userRetryable, userOnRetry := p.Retryable, p.OnRetry
	if userRetryable == nil {
		p.Retryable = func(err error) bool { return CodeOf(err).Retryable() }
	}
	p.OnRetry = func(attempt int, err error, d time.Duration) {
		s.st.retries.add(1)
		s.log.Debug("vaultly: retrying backend call", "backend", s.name, "attempt", attempt, "code", CodeOf(err).String(), "delay", d)
		if userOnRetry != nil {
			userOnRetry(attempt, err, d)
		}
	}
	s.retry = &p
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cn, ok := b.(driver.ChangeNotifier); ok {
		s.unwatch = cn.OnChange(s.Invalidate)
	}
	return s
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
// nothing. A missing entry or key is an error with code NotFound.
func (s *Store) Get(ctx context.Context, ref string) (string, error) {
	if rs, ok := s.refs.Load(ref); ok {
		if es := rs.slot.Load(); es != nil {
			if st := es.state.Load(); st != nil && !st.expired.Load() {
				var v string
				if m := rs.memo.Load(); m != nil && m.gen == st.gen {
					v = m.v
				} else if v, ok = st.e.Fields[rs.key]; ok {
					rs.memo.Store(&refMemo{gen: st.gen, v: v})
				} else {
					return s.getRef(ctx, rs, s.ttl)
				}
				s.st.hits.add(1)
				if !es.used.Load() {
					es.used.Store(true)
				}
				if st.due.Load() {
					s.refreshAhead(es)
				}
				return v, nil
			}
		}
		return s.getRef(ctx, rs, s.ttl)
	}
	r, err := ParseRef(ref)
	if err != nil {
		return "", s.wrap("get", "", err)
	}
	if s.isClosed() {
		return "", s.closedErr("get", r.String())
	}
	rs := s.refSlotFor(ref, r)
	return s.getRef(ctx, rs, s.ttl)
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
	return s.field(e, r)
}

// Entry returns every field of the entry at path (version 0 = latest),
// cached like Get. The returned Entry is shared: callers must not modify it.
func (s *Store) Entry(ctx context.Context, path string, version int, o *ReadOptions) (*driver.Entry, error) {
	p, err := CleanPath(path)
	if err != nil {
		return nil, s.wrap("get", "", err)
	}
	if version < 0 {
		return nil, s.wrap("get", p, newError("", "", InvalidArgument, "negative version"))
	}
	return s.entry(ctx, "get", Ref{Path: p, Version: version}, s.readTTL(o))
}

// Refresh fetches the entry named by ref again, bypassing the cache, and
// caches the result. On failure the cached entry is kept (and may be served
// stale if Options.StaleOnError allows) and the error is returned.
func (s *Store) Refresh(ctx context.Context, ref string) error {
	r, err := ParseRef(ref)
	if err != nil {
		return s.wrap("refresh", "", err)
	}
	if s.isClosed() {
		return s.closedErr("refresh", r.String())
	}
	es := s.slotFor(r.Path, r.Version)
	_, err = s.fetch(ctx, "refresh", r, es, forceFetch)
	return err
}

// RefreshAll refreshes every cached entry, a few at a time, and returns the
// failures joined (each a *Error naming its path).
func (s *Store) RefreshAll(ctx context.Context) error {
	var slots []*entrySlot
	s.entries.Range(func(_ string, es *entrySlot) bool {
		if es.state.Load() != nil {
			slots = append(slots, es)
		}
		return true
	})
	var (
		mu   sync.Mutex
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(8)
	for _, es := range slots {
		g.Go(func() error {
			if _, err := s.fetch(ctx, "refresh", es.ref(), es, forceFetch); err != nil {
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

// Invalidate drops every cached version of path, so the next read fetches
// it. Fetches already in flight for path are not cached. An invalid path
// is ignored.
func (s *Store) Invalidate(path string) {
	p, err := CleanPath(path)
	if err != nil {
		return
	}
	s.epoch.Add(1)
	prefix := p + "\x00"
	dropped := map[*entrySlot]bool{}
	s.entries.Range(func(k string, es *entrySlot) bool {
		if k == p || strings.HasPrefix(k, prefix) {
			s.drop(es)
			s.flight.Forget(k)
			dropped[es] = true
		}
		return true
	})
	s.forgetMemos(dropped)
}

// Stats returns a snapshot of the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Hits:            s.st.hits.load(),
		Misses:          s.st.misses.load(),
		BackendCalls:    s.st.calls.load(),
		Errors:          s.st.errors.load(),
		Retries:         s.st.retries.load(),
		StaleServes:     s.st.stale.load(),
		Refreshes:       s.st.refreshes.load(),
		RefreshFailures: s.st.refreshFailures.load(),
		Evictions:       s.st.evictions.load(),
		Entries:         s.entries.Len(),
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
	s.wg.Wait()
	dynErr := s.closeDynamics()
	s.entries.Range(func(_ string, es *entrySlot) bool {
		es.dead.Store(true)
		s.drop(es)
		return true
	})
	s.entries.Clear()
	s.refs.Clear()
	if s.keepOpen {
		return dynErr
	}
	if err := s.b.Close(); err != nil {
		return WrapError("close", "", s.name, err)
	}
	return dynErr
}

// --- internals ---

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

func (s *Store) field(e *driver.Entry, r Ref) (string, error) {
	if v, ok := e.Fields[r.Key]; ok {
		return v, nil
	}
	return "", &Error{Op: "get", Ref: r.String(), Backend: s.name, Code: NotFound,
		Err: errors.New("no key " + strconv.Quote(r.Key) + " in entry")}
}

// hit records a cache hit and starts a refresh-ahead when due.
func (s *Store) hit(es *entrySlot, st *entryState, ttl time.Duration) {
	s.st.hits.add(1)
	if !es.used.Load() {
		es.used.Store(true)
	}
	if st.refreshDue(ttl, s.ttl, s.ahead) {
		s.refreshAhead(es)
	}
}

func (s *Store) refreshAhead(es *entrySlot) {
	if es.refreshing.Load() || !es.refreshing.CompareAndSwap(false, true) {
		return
	}
	if !s.track() {
		es.refreshing.Store(false)
		return
	}
	s.st.refreshes.add(1)
	go func() {
		defer s.wg.Done()
		defer es.refreshing.Store(false)
		start := time.Now()
		st := es.state.Load()
		if _, err := s.fetch(s.ctx, "refresh", es.ref(), es, forceFetch); err != nil {
			s.st.refreshFailures.add(1)
			if st != nil && es.state.Load() == st && st.due.Load() {
				// Do not try again at every hit: wait a while first.
				st.due.Store(false)
				st.after(cache.RefreshRetryDelay(s.ttl), func() { st.due.Store(true) })
			}
			s.log.Warn("vaultly: background refresh failed", "backend", s.name, "path", es.path, "version", es.version, "code", CodeOf(err).String(), "elapsed", time.Since(start))
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

func (s *Store) refSlotFor(raw string, r Ref) *refSlot {
	if r.Key == "" {
		r.Key = s.defKey
	}
	rs := &refSlot{ref: r, key: r.Key}
	rs.slot.Store(s.slotFor(r.Path, r.Version))
	// Memoise the parse for the hot path, within a bound so that callers
	// passing ever-new strings cannot grow memory without limit.
	if s.refs.Len() < 4*s.maxEntries {
		if old, loaded := s.refs.LoadOrStore(raw, rs); loaded {
			return old
		}
	}
	return rs
}

// entryKey is the cache key of an entry: the path for the latest version
// (no allocation), path NUL version otherwise. Paths hold no NUL.
func entryKey(path string, version int) string {
	if version == 0 {
		return path
	}
	return path + "\x00" + strconv.Itoa(version)
}

func (es *entrySlot) ref() Ref { return Ref{Path: es.path, Version: es.version} }

func (s *Store) slotFor(path string, version int) *entrySlot {
	k := entryKey(path, version)
	if es, ok := s.entries.Load(k); ok {
		return es
	}
	es, loaded := s.entries.LoadOrStore(k, &entrySlot{key: k, path: path, version: version})
	if !loaded && s.entries.Len() > s.maxEntries {
		s.evictSome(k)
	}
	return es
}

// getRef is the slow path of Get.
func (s *Store) getRef(ctx context.Context, rs *refSlot, ttl time.Duration) (string, error) {
	es := rs.slot.Load()
	if s.isClosed() {
		return "", s.closedErr("get", rs.ref.String())
	}
	if es == nil || es.dead.Load() {
		es = s.slotFor(rs.ref.Path, rs.ref.Version)
		rs.slot.Store(es)
	}
	e, err := s.read(ctx, "get", rs.ref, es, ttl)
	if err != nil {
		return "", err
	}
	return s.field(e, rs.ref)
}

func (s *Store) entry(ctx context.Context, op string, r Ref, ttl time.Duration) (*driver.Entry, error) {
	if s.isClosed() {
		return nil, s.closedErr(op, r.String())
	}
	return s.read(ctx, op, r, s.slotFor(r.Path, r.Version), ttl)
}

// read serves es from the cache when fresh under ttl, else fetches it.
func (s *Store) read(ctx context.Context, op string, r Ref, es *entrySlot, ttl time.Duration) (*driver.Entry, error) {
	if st := es.state.Load(); st != nil && st.fresh(ttl, s.ttl) {
		s.hit(es, st, ttl)
		return st.e, nil
	}
	s.st.misses.add(1)
	e, err := s.fetch(ctx, op, r, es, ttl)
	if err == nil {
		return e, nil
	}
	if st := es.state.Load(); st != nil && staleCode(CodeOf(err)) && cache.StaleUsable(time.Now(), st.fetched, ttl, s.stale) {
		s.st.stale.add(1)
		s.log.Warn("vaultly: serving stale entry after failed fetch", "backend", s.name, "path", es.path, "version", es.version, "code", CodeOf(err).String(), "age", time.Since(st.fetched))
		return st.e, nil
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

// fetch reads es from the backend through single flight and caches it.
// The backend call runs on a context detached from ctx (values kept,
// cancellation dropped) and cancelled only by Close or the retry budget;
// ctx only bounds how long this caller waits.
//
// ttl is the caller's: a flight that starts after another has just
// published a fresh entry serves that entry instead of reading again.
// forceFetch always reads.
func (s *Store) fetch(ctx context.Context, op string, r Ref, es *entrySlot, ttl time.Duration) (*driver.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.wrap(op, r.String(), err)
	}
	epoch := s.epoch.Load()
	ch := s.flight.DoChan(es.key, func() (any, error) {
		if !s.track() {
			return nil, errClosed
		}
		defer s.wg.Done()
		if ttl != forceFetch {
			if st := es.state.Load(); st != nil && st.fresh(ttl, s.ttl) {
				return st.e, nil
			}
		}
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		stop := context.AfterFunc(s.ctx, cancel)
		defer stop()
		return s.load(fctx, es, epoch)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, WrapError(op, r.String(), s.name, res.Err)
		}
		return res.Val.(*driver.Entry), nil
	case <-ctx.Done():
		return nil, s.wrap(op, r.String(), ctx.Err())
	}
}

// forceFetch as the ttl of fetch means: read even if a fresh entry is cached.
const forceFetch time.Duration = NoCache

var errClosed = driver.NewError(Canceled, errors.New("store is closed"))

func (s *Store) closedErr(op, ref string) error { return s.wrap(op, ref, errClosed) }

func (s *Store) isClosed() bool { return s.closedFlag.Load() }

// load performs the backend read with retries and caches the result.
func (s *Store) load(ctx context.Context, es *entrySlot, epoch uint64) (*driver.Entry, error) {
	start := time.Now()
	attempts := 0
	var e *driver.Entry
	err := retry.Do(ctx, s.retry, func(ctx context.Context, attempt int) error {
		attempts = attempt
		s.st.calls.add(1)
		var err error
		e, err = s.b.Read(ctx, es.path, es.version)
		if err == nil && e == nil {
			err = driver.NewError(NotFound, errors.New("backend returned no entry"))
		}
		if err == nil && e.Fields == nil {
			e.Fields = map[string]string{}
		}
		return err
	})
	if err != nil {
		if s.ctx.Err() != nil && CodeOf(err) != NotFound {
			err = errClosed
		}
		s.st.errors.add(1)
		s.log.Debug("vaultly: backend read failed", "backend", s.name, "path", es.path, "version", es.version, "code", CodeOf(err).String(), "attempts", attempts, "elapsed", time.Since(start))
		return nil, err
	}
	s.log.Debug("vaultly: backend read", "backend", s.name, "path", es.path, "version", es.version, "attempts", attempts, "elapsed", time.Since(start))
	if s.ttl != NoCache && s.epoch.Load() == epoch && !es.dead.Load() {
		s.publish(es, e, epoch)
	}
	return e, nil
}

// publish caches e in es, with timers for the default TTL and refresh-ahead.
// An invalidation that races with it wins: the entry is dropped again.
func (s *Store) publish(es *entrySlot, e *driver.Entry, epoch uint64) {
	st := &entryState{e: e, fetched: time.Now(), r: rand.Float64(), gen: s.gen.Add(1)}
	if s.ttl != UntilRefreshed {
		st.after(s.ttl, func() { st.expired.Store(true) })
		if d := cache.RefreshAfter(s.ttl, s.ahead, st.r); d > 0 {
			st.after(d, func() { st.due.Store(true) })
		}
	}
	if old := es.state.Swap(st); old != nil {
		old.stop()
	}
	if es.dead.Load() || s.epoch.Load() != epoch { // evicted, closed or invalidated meanwhile
		if es.state.CompareAndSwap(st, nil) {
			st.stop()
		}
	}
}

// drop forgets what es caches.
func (s *Store) drop(es *entrySlot) {
	if old := es.state.Swap(nil); old != nil {
		old.stop()
	}
}

// forgetMemos clears the memoised values of references to the given slots,
// so that no copy of a dropped secret stays reachable from the Store.
func (s *Store) forgetMemos(slots map[*entrySlot]bool) {
	if len(slots) == 0 {
		return
	}
	s.refs.Range(func(_ string, rs *refSlot) bool {
		if slots[rs.slot.Load()] {
			rs.memo.Store(nil)
		}
		return true
	})
}

// evictSome brings the number of entries down to 90% of MaxEntries.
// keep is the key of the slot being added, which is never evicted.
func (s *Store) evictSome(keep string) {
	if !s.evict.TryLock() {
		return // another goroutine is sweeping
	}
	defer s.evict.Unlock()
	target := s.maxEntries * 9 / 10
	if s.entries.Len() <= s.maxEntries {
		return
	}
	evicted := map[*entrySlot]bool{}
	defer func() { s.forgetMemos(evicted) }()
	remove := func(k string, es *entrySlot) {
		if _, ok := s.entries.Delete(k); ok {
			es.dead.Store(true)
			s.drop(es)
			s.st.evictions.add(1)
			evicted[es] = true
		}
	}
	// Pass 1: expired; pass 2: not used since the last sweep (this includes
	// empty slots); pass 3: any.
	for pass := 1; pass <= 3 && s.entries.Len() > target; pass++ {
		s.entries.Range(func(k string, es *entrySlot) bool {
			if s.entries.Len() <= target {
				return false
			}
			if k == keep {
				return true
			}
			st := es.state.Load()
			switch pass {
			case 1:
				if st != nil && !st.fresh(s.ttl, s.ttl) {
					remove(k, es)
				}
			case 2:
				if !es.used.Swap(false) {
					remove(k, es)
				}
			default:
				remove(k, es)
			}
			return true
		})
	}
}

// Put writes fields as a new version of the entry at path, through the
// backend (which must implement driver.Writer), and drops the cached entry.
// Values that are not strings are stored as the backend stores JSON values.
func (s *Store) Put(ctx context.Context, path string, fields map[string]any) error {
	w, ok := s.b.(driver.Writer)
	p, err := CleanPath(path)
	if err != nil {
		return s.wrap("put", "", err)
	}
	if !ok {
		return s.wrap("put", p, driver.NewError(InvalidArgument, errors.New("backend does not support writing")))
	}
	err = retry.Do(ctx, s.retry, func(ctx context.Context, _ int) error {
		s.st.calls.add(1)
		return w.Write(ctx, p, fields)
	})
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
	err = retry.Do(ctx, s.retry, func(ctx context.Context, _ int) error {
		s.st.calls.add(1)
		return w.Delete(ctx, p)
	})
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
	err := retry.Do(ctx, s.retry, func(ctx context.Context, _ int) error {
		s.st.calls.add(1)
		var err error
		names, err = l.List(ctx, p)
		return err
	})
	if err != nil {
		return nil, s.wrap("list", p, err)
	}
	return names, nil
}

// counters are striped so that concurrent hits on many CPUs do not fight
// over one cache line.
type counters struct {
	hits, misses, calls, errors, retries, stale, refreshes, refreshFailures, evictions stripedCounter
}

const stripes = 16

type stripedCounter struct {
	c [stripes]struct {
		n atomic.Uint64
		_ [56]byte
	}
}

// add picks a stripe from the address of a local variable: goroutines run
// on different stacks, so concurrent readers mostly hit different stripes,
// at no cost (a random number costs more than the rest of a cache hit).
func (c *stripedCounter) add(n uint64) {
	var x byte
	c.c[(uintptr(unsafe.Pointer(&x))>>12)%stripes].n.Add(n)
}

func (c *stripedCounter) load() uint64 {
	var t uint64
	for i := range c.c {
		t += c.c[i].n.Load()
	}
	return t
}
