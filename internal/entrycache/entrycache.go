// Package entrycache is the cache behind vaultly's Store: fetched entries
// keyed by path and version, the references that read them, the read in
// flight for each entry, and the timers, counters and eviction that keep it
// bounded. It knows nothing about backends: the Store decides when to read,
// runs the read, and hands the result to Finish.
//
// # Generations
//
// Every read of an entry gets a generation from a counter of the entry's
// slot when it begins. A result is published only if no read that began
// later has been published already, and only if the entry was not
// invalidated after the read began; so results are published in the order
// the reads began, and an invalidation drops exactly the reads of its own
// path that it overtook. A reader joins the read in flight, unless it asks
// for a fresh value (Join with fresh), in which case it joins only a read
// that began after it asked, and otherwise begins its own.
//
// # Hot path
//
// Get, the lookup of a warm reference, takes no lock, reads no clock and
// allocates nothing: the reference string maps to its Ref, the Ref points
// to its Slot, the Slot to its Item, and the key's value is memoised per
// Item. Expiry under the default TTL and the refresh-ahead point are flags
// set by timers.
//
// # Storage
//
// The maps from strings to refs and slots are behind the unexported type
// table (sharded snapshots with overlays, see cache.Map): a write costs a
// constant number of copies however large the table, so filling a million
// entries is linear, and a sweep's deletes cost one copy per shard.
//
// # Eviction
//
// MaxEntries is kept by a background sweep, never on a caller's path. The
// sweeper starts when the cache first holds half of a bound and looks at
// the counts every 10ms while there is work (backing off to 1s while there
// is none); a caller only wakes it, with a non-blocking channel send, when
// a count is a quarter past its bound, so the call that crosses a bound
// does nothing more than any other. One sweep walks the slots once and removes,
// down to 90% of MaxEntries, expired entries, then entries with no hit
// since the previous sweep (the longest idle first), then empty slots,
// then any, skipping slots with a read in flight; it then walks the
// references once and removes those whose slot is gone and, while there
// are more than 4 × MaxEntries references, those with no hit in the last
// two sweeps (down to 90%). The counts may exceed their bounds until the
// sweep has run. A background sweep pauses briefly every 20µs of work, so
// that it never holds a busy machine's CPU for long, except while a count
// is a quarter past its bound.
//
// A *Cache is safe for concurrent use. It starts one goroutine, the
// sweeper, the first time it holds half of a bound; Close stops it and
// waits for it, and drops everything and stops every timer (timers run
// their flag-setting functions on the runtime's goroutines).
package entrycache

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultly/vaultly/internal/cache"
)

// table is the concurrent string-keyed map the cache is built on. Reads
// must take no lock and allocate nothing.
type table[V comparable] = cache.Map[V]

// Special TTL values.
const (
	NoCache        = cache.NoCache
	UntilRefreshed = cache.UntilRefreshed
)

// Options configures a Cache.
type Options[V any] struct {
	// TTL is the default time an item is served: a positive duration,
	// NoCache or UntilRefreshed. The hot path (Get) serves under it.
	TTL time.Duration
	// RefreshAhead is the fraction of TTL after which a hit reports that a
	// refresh is due (see cache.RefreshAfter); outside (0, 1) never.
	RefreshAhead float64
	// MaxEntries bounds the number of slots; > 0.
	MaxEntries int
	// Field returns the value of key in an item's value.
	Field func(v V, key string) (string, bool)
	// OnRemove, if set, is called with each slot after it has left the
	// cache: evicted by a sweep, dropped by Finish after a failed read left
	// it empty, or cleared by Clear or Close; once per slot. It is not called for
	// Invalidate, which keeps the slot. It runs on the goroutine that
	// removed the slot (the sweeper, a reader, the caller of Clear), must
	// return quickly and must not call back into the cache.
	OnRemove func(s *Slot[V])
}

// Cache holds the items of type V fetched for (path, version) slots.
type Cache[V any] struct {
	ttl        time.Duration
	ahead      float64
	maxEntries int
	field      func(V, string) (string, bool)
	onRemove   func(*Slot[V])

	refs     table[*Ref[V]]        // raw reference string -> ref
	slots    table[*Slot[V]]       // key(path, version) -> slot
	versions table[*versionSet[V]] // path -> its slots of a pinned version

	cached    atomic.Int64  // slots holding an item
	stamp     atomic.Uint64 // last item stamp, unique per cache
	hits      Counter
	evictions Counter
	sweeps    atomic.Uint64
	pausing   atomic.Bool // the running sweep is the sweeper's: it pauses

	sweepMu sync.Mutex // one sweep at a time

	bgStarted atomic.Bool
	bgMu      sync.Mutex // guards bgClosed and starting the sweeper
	bgClosed  bool
	kick      chan struct{} // wakes the sweeper; buffered 1
	stop      chan struct{} // closed by Close
	bgDone    chan struct{} // closed when the sweeper returns
}

// versionSet is the set of slots of one path with a pinned version, so that
// Invalidate finds them without walking the whole cache.
type versionSet[V any] struct {
	mu    sync.Mutex
	slots map[*Slot[V]]struct{}
}

// New returns an empty Cache.
func New[V any](o Options[V]) *Cache[V] {
	return &Cache[V]{ttl: o.TTL, ahead: o.RefreshAhead, maxEntries: max(o.MaxEntries, 1), field: o.Field, onRemove: o.OnRemove,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), bgDone: make(chan struct{})}
}

// Ref is one parsed reference: the key Key of the entry at Path, Version.
type Ref[V any] struct {
	Path    string
	Version int
	Key     string
	slot    atomic.Pointer[Slot[V]]
	memo    atomic.Pointer[memo]
	used    atomic.Bool   // hit since the last sweep
	idle    atomic.Uint32 // sweeps since the last hit
}

// Slot returns the slot r reads (which may have been removed since; see SlotOf).
func (r *Ref[V]) Slot() *Slot[V] { return r.slot.Load() }

// memo saves a hit the lookup of a ref's key: the value in the item with
// the given stamp. It names the item by stamp, not pointer, so that it
// never keeps a replaced item alive; the item clears the memos made of it
// when it is replaced or dropped, so that no copy of a dropped value stays
// reachable from the cache.
type memo struct {
	stamp uint64
	v     string
}

// Slot is the cache place of one (path, version): what is cached, the
// newest read in flight and the generations that order them.
type Slot[V any] struct {
	key        string
	path       string
	version    int
	item       atomic.Pointer[Item[V]] // nil: nothing cached
	call       atomic.Pointer[Call[V]] // the newest read in flight, or nil
	seq        atomic.Uint64           // generation of the last read begun
	floor      atomic.Uint64           // reads of a generation <= floor may not publish
	used       atomic.Bool             // hit since the last eviction sweep
	idle       atomic.Uint32           // sweeps since the last hit (up to maxIdle)
	refreshing atomic.Bool
	dead       atomic.Bool // removed from the cache
}

// Path and Version name the slot's entry.
func (s *Slot[V]) Path() string { return s.path }

// Version is the slot's entry version (0: latest).
func (s *Slot[V]) Version() int { return s.version }

// Item returns what the slot caches, fresh or not, or nil.
func (s *Slot[V]) Item() *Item[V] { return s.item.Load() }

// Removed reports whether s has left the cache (see Options.OnRemove); a
// removed slot is never used again by Slot or SlotOf.
func (s *Slot[V]) Removed() bool { return s.dead.Load() }

// Item is one published read. It is never modified once published, except
// for the two flags its timers set.
type Item[V any] struct {
	Value   V
	Fetched time.Time
	gen     uint64
	stamp   uint64
	r       float64 // refresh jitter in [0, 1)

	expired atomic.Bool // past the default TTL
	seeded  bool        // placed by Seed: never fresh
	due     atomic.Bool // past the refresh-ahead point

	confirmed atomic.Int64 // UnixNano of the last check that found the entry unchanged; 0: none
	staleAt   atomic.Int64 // UnixNano when it was first served stale after a failed read; 0: never

	mu      sync.Mutex
	stopped bool
	timer   *time.Timer   // the first timer (most items have one at a time)
	timers  []*time.Timer // later ones
	memos   []memoOf[V]   // memos of this item, cleared by stop
}

// Confirm records that a check at t found the item's entry unchanged in
// the backend (a newer t only).
func (it *Item[V]) Confirm(t time.Time) {
	n := t.UnixNano()
	for {
		cur := it.confirmed.Load()
		if cur >= n || it.confirmed.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Confirmed returns the time of the last Confirm, or the zero time.
func (it *Item[V]) Confirmed() time.Time { return unixTime(it.confirmed.Load()) }

// MarkStale records that the item is served after a failed read of its
// entry, and returns since when: t on the first call, the first call's
// time after that.
func (it *Item[V]) MarkStale(t time.Time) time.Time {
	if it.staleAt.CompareAndSwap(0, t.UnixNano()) {
		return t
	}
	return unixTime(it.staleAt.Load())
}

// StaleSince returns the time of the first MarkStale, or the zero time.
func (it *Item[V]) StaleSince() time.Time { return unixTime(it.staleAt.Load()) }

func unixTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

type memoOf[V any] struct {
	r *Ref[V]
	m *memo
}

// addMemo records that r memoised m from it; if it was stopped meanwhile,
// the memo is withdrawn at once.
func (it *Item[V]) addMemo(r *Ref[V], m *memo) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.stopped {
		r.memo.CompareAndSwap(m, nil)
		return
	}
	it.memos = append(it.memos, memoOf[V]{r, m})
}

// after runs fn after d unless it is stopped first.
func (it *Item[V]) after(d time.Duration, fn func()) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.stopped {
		return
	}
	if t := time.AfterFunc(d, fn); it.timer == nil {
		it.timer = t
	} else {
		it.timers = append(it.timers, t)
	}
}

func (it *Item[V]) stop() {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.stopped = true
	if it.timer != nil {
		it.timer.Stop()
		it.timer = nil
	}
	for _, t := range it.timers {
		t.Stop()
	}
	it.timers = nil
	for _, m := range it.memos {
		m.r.memo.CompareAndSwap(m.m, nil)
	}
	it.memos = nil
}

// fresh reports whether it may be served under ttl.
func (c *Cache[V]) fresh(it *Item[V], ttl time.Duration) bool {
	if it.seeded {
		return false
	}
	if ttl == c.ttl && ttl != NoCache {
		return !it.expired.Load()
	}
	return cache.Fresh(time.Now(), it.Fetched, ttl)
}

func (c *Cache[V]) refreshDue(it *Item[V], ttl time.Duration) bool {
	if ttl == c.ttl {
		return it.due.Load()
	}
	return cache.RefreshDue(time.Now(), it.Fetched, ttl, c.ahead, it.r)
}

// Result says what Get found.
type Result int

const (
	Unknown Result = iota // the reference string was never registered
	Miss                  // registered, but nothing fresh with its key is cached
	Hit                   // a fresh value
	HitDue                // a fresh value, and a refresh ahead of expiry is due
)

// Get is the hot path: the value of the registered reference raw under the
// default TTL. On Hit and HitDue it counts a hit; on Miss it returns the
// Ref for the slow path; on Unknown the reference must be parsed and
// registered with Register.
func (c *Cache[V]) Get(raw string) (r *Ref[V], v string, res Result) {
	r, ok := c.refs.Load(raw)
	if !ok {
		return nil, "", Unknown
	}
	s := r.slot.Load()
	if s == nil {
		return r, "", Miss
	}
	it := s.item.Load()
	if it == nil || it.expired.Load() {
		return r, "", Miss
	}
	if m := r.memo.Load(); m != nil && m.stamp == it.stamp {
		v = m.v
	} else if v, ok = c.field(it.Value, r.Key); ok {
		m := &memo{stamp: it.stamp, v: v}
		r.memo.Store(m)
		it.addMemo(r, m)
	} else {
		return r, "", Miss
	}
	c.hits.Add(1)
	if !s.used.Load() {
		s.used.Store(true)
	}
	if !r.used.Load() {
		r.used.Store(true)
	}
	if it.due.Load() {
		return r, v, HitDue
	}
	return r, v, Hit
}

// Register returns the Ref for the reference string raw, parsed into path,
// version and key, creating it (and its slot) if needed. References are
// bounded by the sweep (see Eviction), so that callers passing ever-new
// strings cannot grow memory without limit.
func (c *Cache[V]) Register(raw, path string, version int, key string) *Ref[V] {
	r := &Ref[V]{Path: path, Version: version, Key: key}
	r.slot.Store(c.Slot(path, version))
	r.used.Store(true) // a new reference survives the next sweep
	old, loaded := c.refs.LoadOrStore(raw, r)
	if loaded {
		return old
	}
	switch n := c.refs.Len(); {
	case n > wakeOver(c.refLimit()):
		c.wake()
	case n > c.refLimit()/2 && !c.bgStarted.Load():
		c.startSweeper()
	}
	return r
}

func (c *Cache[V]) refLimit() int { return 4 * c.maxEntries }

// A background sweep pauses for sweepPause after each sweepSlice of work
// (looking at the clock every sweepCheck items), so that on a machine
// whose CPUs are all busy it does not take a CPU from the callers for the
// whole sweep: a caller sees at most a slice of it at a time. It does not
// pause while the cache is a quarter past a bound (then keeping memory
// bounded comes first), nor when called directly (Sweep, as tests do).
const (
	sweepCheck = 32
	sweepSlice = 200 * time.Microsecond
	sweepPause = time.Millisecond
)

// The sweeper looks at the counts every sweepPollMin while there is work,
// backing off to sweepPollMax while there is none; a caller wakes it only
// when a count is a quarter past its bound (wakeOver), so that the call
// that crosses a bound does not even pay for waking a thread.
const (
	sweepPollMin = 10 * time.Millisecond
	sweepPollMax = time.Second
)

func wakeOver(bound int) int { return bound + max(bound/4, 1) }

// pacer paces one background sweep (see sweepSlice).
type pacer struct {
	on    bool
	far   func() bool
	n     int
	start time.Time
}

func (c *Cache[V]) newPacer() *pacer {
	return &pacer{on: c.pausing.Load(), start: time.Now(), far: func() bool {
		return c.slots.Len() > wakeOver(c.maxEntries) || c.refs.Len() > wakeOver(c.refLimit())
	}}
}

// tick counts one item of work and pauses when a slice is used up, unless
// the cache is far past a bound.
func (p *pacer) tick() {
	if !p.on {
		return
	}
	if p.n++; p.n%sweepCheck != 0 || time.Since(p.start) < sweepSlice {
		return
	}
	if !p.far() {
		time.Sleep(sweepPause)
	}
	p.start = time.Now()
}

// maxIdle caps the idle count of a slot: beyond it, idle slots are equals.
const maxIdle = 15

// SlotOf returns r's slot, finding or making a new one when the old one
// was removed.
func (c *Cache[V]) SlotOf(r *Ref[V]) *Slot[V] {
	s := r.slot.Load()
	if s == nil || s.dead.Load() {
		s = c.Slot(r.Path, r.Version)
		r.slot.Store(s)
	}
	return s
}

// key is the slot key: the path for the latest version (no allocation),
// path NUL version otherwise. Paths hold no NUL.
func key(path string, version int) string {
	if version == 0 {
		return path
	}
	return path + "\x00" + strconv.Itoa(version)
}

// Slot returns the slot of (path, version), making it if needed. Making one
// beyond MaxEntries wakes the sweeper (see Eviction) and returns at once.
func (c *Cache[V]) Slot(path string, version int) *Slot[V] {
	k := key(path, version)
	if s, ok := c.slots.Load(k); ok {
		return s
	}
	n := &Slot[V]{key: k, path: path, version: version}
	s, loaded := c.slots.LoadOrStore(k, n)
	if loaded {
		return s
	}
	if version != 0 {
		c.addVersion(s)
	}
	switch n := c.slots.Len(); {
	case n > wakeOver(c.maxEntries):
		c.wake()
	case n > c.maxEntries/2 && !c.bgStarted.Load():
		c.startSweeper() // ahead of need, so the crossing only signals it
	}
	return s
}

// Find returns the slot of (path, version) if there is one, without
// making it; nil otherwise.
func (c *Cache[V]) Find(path string, version int) *Slot[V] {
	if s, ok := c.slots.Load(key(path, version)); ok {
		return s
	}
	return nil
}

func (c *Cache[V]) addVersion(s *Slot[V]) {
	vs, ok := c.versions.Load(s.path)
	if !ok {
		vs, _ = c.versions.LoadOrStore(s.path, &versionSet[V]{slots: map[*Slot[V]]struct{}{}})
	}
	vs.mu.Lock()
	vs.slots[s] = struct{}{}
	vs.mu.Unlock()
	if s.dead.Load() { // removed meanwhile
		c.delVersion(s)
	}
}

func (c *Cache[V]) delVersion(s *Slot[V]) {
	vs, ok := c.versions.Load(s.path)
	if !ok {
		return
	}
	vs.mu.Lock()
	delete(vs.slots, s)
	empty := len(vs.slots) == 0
	vs.mu.Unlock()
	if empty {
		// Drop the set; a slot added to it meanwhile is moved to a new one.
		if _, ok := c.versions.CompareAndDelete(s.path, func(cur *versionSet[V]) bool { return cur == vs }); ok {
			vs.mu.Lock()
			left := make([]*Slot[V], 0, len(vs.slots))
			for o := range vs.slots {
				left = append(left, o)
			}
			vs.mu.Unlock()
			for _, o := range left {
				if !o.dead.Load() {
					c.addVersion(o)
				}
			}
		}
	}
}

// Lookup returns s's item if it is fresh under ttl, counting a hit, and
// whether a refresh ahead of expiry is due; nil if nothing fresh is cached.
func (c *Cache[V]) Lookup(s *Slot[V], ttl time.Duration) (it *Item[V], due bool) {
	it = s.item.Load()
	if it == nil || !c.fresh(it, ttl) {
		return nil, false
	}
	c.hits.Add(1)
	if !s.used.Load() {
		s.used.Store(true)
	}
	return it, c.refreshDue(it, ttl)
}

// Fresh returns s's item if it is fresh under ttl, without counting a hit.
func (c *Cache[V]) Fresh(s *Slot[V], ttl time.Duration) *Item[V] {
	if it := s.item.Load(); it != nil && c.fresh(it, ttl) {
		return it
	}
	return nil
}

// Call is one read of a slot's entry in flight. Readers that join it wait
// on Done, then read Result.
type Call[V any] struct {
	gen uint64
	val V
	err error

	mu    sync.Mutex
	ended bool
	done  chan struct{} // made by the first Done before the end
}

// closed is the Done channel of a call that ended before anyone asked.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Done is closed when the read has ended. The channel is made on the first
// call, so a read that no one waits on (its leader ran it) makes none.
func (c *Call[V]) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.ended {
			c.done = closed
		} else {
			c.done = make(chan struct{})
		}
	}
	return c.done
}

// Ended reports whether the read has ended (Result is valid).
func (c *Call[V]) Ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// end marks the read ended and wakes the readers waiting on Done.
func (c *Call[V]) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	if c.done != nil {
		close(c.done)
	}
}

// Result is the read's value or error; valid once Done is closed.
func (c *Call[V]) Result() (V, error) { return c.val, c.err }

// Join returns the read in flight for s that the caller may share, or
// begins a new one, which the caller (the leader) must run and end with
// Finish. A read may be shared if it began after the last invalidation of
// s; with fresh, only if it began after Join was called, so that the value
// the caller gets was read after it asked.
func (s *Slot[V]) Join(fresh bool) (call *Call[V], leader bool) {
	after := s.floor.Load()
	if fresh {
		after = s.seq.Load()
	}
	for {
		cur := s.call.Load()
		if cur != nil && cur.gen > after {
			return cur, false
		}
		n := &Call[V]{gen: s.seq.Add(1)}
		if s.call.CompareAndSwap(cur, n) {
			return n, true
		}
	}
}

// Finish ends call with its result and wakes its readers. With publish and
// a nil err, v is cached in s first — unless a read of s that began later
// has been published already, or s was invalidated or removed after call
// began.
func (c *Cache[V]) Finish(s *Slot[V], call *Call[V], v V, err error, publish bool) {
	if err == nil && publish {
		c.publish(s, call.gen, v)
	}
	call.val, call.err = v, err
	s.call.CompareAndSwap(call, nil)
	if err != nil && s.item.Load() == nil && s.call.Load() == nil {
		// Nothing cached for this entry: do not keep a slot for it (a path
		// that is not found would otherwise hold one until evicted). Before
		// the readers are released, so that what leaving the cache undoes
		// (OnRemove: a watch) is undone when they see the error.
		c.remove(s, false)
	}
	call.end()
}

func (c *Cache[V]) publish(s *Slot[V], gen uint64, v V) {
	if s.dead.Load() || gen <= s.floor.Load() {
		return
	}
	it := &Item[V]{Value: v, Fetched: time.Now(), gen: gen, stamp: c.stamp.Add(1), r: rand.Float64()}
	for {
		cur := s.item.Load()
		if cur != nil && cur.gen >= gen {
			return // a read that began later is cached already
		}
		if s.item.CompareAndSwap(cur, it) {
			if cur != nil {
				cur.stop()
			} else {
				c.cached.Add(1)
			}
			break
		}
	}
	if c.ttl != UntilRefreshed {
		// One timer at a time: the refresh point's, which then starts the
		// expiry's (a million cached entries hold a million timers, not two).
		if d := cache.RefreshAfter(c.ttl, c.ahead, it.r); d > 0 {
			it.after(d, func() {
				it.due.Store(true)
				it.after(c.ttl-time.Since(it.Fetched), func() { it.expired.Store(true) })
			})
		} else {
			it.after(c.ttl, func() { it.expired.Store(true) })
		}
	}
	// An invalidation or removal that raced with the swap wins.
	if s.dead.Load() || gen <= s.floor.Load() {
		c.dropItem(s, it)
	}
}

// Seed places v in s as an item read at fetched that is never fresh: a
// reader never gets it as a hit, only through the owner's stale rules
// (Slot.Item), and any read of s replaces it. It reports false, doing
// nothing, if s already holds an item or was removed. (The Store seeds
// the entries of an offline snapshot.)
func (c *Cache[V]) Seed(s *Slot[V], v V, fetched time.Time) bool {
	if s.dead.Load() {
		return false
	}
	it := &Item[V]{Value: v, Fetched: fetched, stamp: c.stamp.Add(1), r: rand.Float64(), seeded: true}
	it.expired.Store(true)
	if !s.item.CompareAndSwap(nil, it) {
		return false
	}
	c.cached.Add(1)
	if s.dead.Load() {
		c.dropItem(s, it)
		return false
	}
	return true
}

// Seeded reports whether it was placed by Seed.
func (it *Item[V]) Seeded() bool { return it.seeded }

// dropItem removes it from s if it is still what s caches.
func (c *Cache[V]) dropItem(s *Slot[V], it *Item[V]) {
	if s.item.CompareAndSwap(it, nil) {
		it.stop()
		c.cached.Add(-1)
	}
}

// drop forgets what s caches.
func (c *Cache[V]) drop(s *Slot[V]) {
	if old := s.item.Swap(nil); old != nil {
		old.stop()
		c.cached.Add(-1)
	}
}

// TryStartRefresh reports whether the caller may start the one refresh
// ahead of expiry of s; it must call EndRefresh when done.
func (s *Slot[V]) TryStartRefresh() bool {
	return !s.refreshing.Load() && s.refreshing.CompareAndSwap(false, true)
}

// EndRefresh ends what TryStartRefresh started.
func (s *Slot[V]) EndRefresh() { s.refreshing.Store(false) }

// BackOff delays the next refresh-ahead of it, if it is still s's item and
// due: hits report a refresh due again only after d.
func (c *Cache[V]) BackOff(s *Slot[V], it *Item[V], d time.Duration) {
	if it == nil || s.item.Load() != it || !it.due.Load() {
		return
	}
	it.due.Store(false)
	it.after(d, func() { it.due.Store(true) })
}

// Invalidate drops every cached version of path and keeps the reads of
// them in flight from being published or joined. Reads of other paths are
// untouched.
func (c *Cache[V]) Invalidate(path string) {
	if s, ok := c.slots.Load(path); ok {
		c.invalidate(s)
	}
	vs, ok := c.versions.Load(path)
	if !ok {
		return
	}
	vs.mu.Lock()
	slots := make([]*Slot[V], 0, len(vs.slots))
	for s := range vs.slots {
		slots = append(slots, s)
	}
	vs.mu.Unlock()
	for _, s := range slots {
		c.invalidate(s)
	}
}

// invalidate drops what s caches and keeps the reads of s in flight from
// being published or joined.
func (c *Cache[V]) invalidate(s *Slot[V]) {
	for {
		f, n := s.floor.Load(), s.seq.Load()
		if n <= f || s.floor.CompareAndSwap(f, n) {
			break
		}
	}
	c.drop(s)
}

// Cached returns the slots that hold an item now.
func (c *Cache[V]) Cached() []*Slot[V] {
	var out []*Slot[V]
	c.slots.Range(func(_ string, s *Slot[V]) bool {
		if s.item.Load() != nil {
			out = append(out, s)
		}
		return true
	})
	return out
}

// Len is the number of entries cached now (slots holding an item).
func (c *Cache[V]) Len() int { return int(c.cached.Load()) }

// Hits is the number of hits counted by Get and Lookup.
func (c *Cache[V]) Hits() uint64 { return c.hits.Load() }

// Evictions is the number of slots evicted to respect MaxEntries.
func (c *Cache[V]) Evictions() uint64 { return c.evictions.Load() }

// Sweeps is the number of eviction sweeps run.
func (c *Cache[V]) Sweeps() uint64 { return c.sweeps.Load() }

// Clear drops everything and stops every timer. Reads still in flight
// publish nothing.
func (c *Cache[V]) Clear() {
	c.slots.Range(func(_ string, s *Slot[V]) bool {
		first := !s.dead.Swap(true)
		c.drop(s)
		if first && c.onRemove != nil {
			c.onRemove(s)
		}
		return true
	})
	c.slots.Clear()
	c.refs.Clear()
	c.versions.Clear()
}

// Close stops the sweeper and waits for it, then clears the cache (see
// Clear). The cache still works after Close, without eviction; Close is
// idempotent.
func (c *Cache[V]) Close() {
	c.bgMu.Lock()
	closed, started := c.bgClosed, c.bgStarted.Load()
	c.bgClosed = true
	c.bgMu.Unlock()
	if !closed {
		close(c.stop)
		if started {
			<-c.bgDone
		}
	}
	c.Clear()
}

// wake asks the sweeper to run, starting it the first time. It never
// blocks.
func (c *Cache[V]) wake() {
	if !c.bgStarted.Load() {
		c.startSweeper()
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// startSweeper starts the sweeper unless it runs or the cache is closed.
// The cache starts it when it first holds half of MaxEntries slots (or
// 2 × MaxEntries references), so that the call that crosses a bound only
// signals it.
func (c *Cache[V]) startSweeper() {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if !c.bgClosed && !c.bgStarted.Load() {
		c.bgStarted.Store(true)
		go c.sweeper()
	}
}

// sweeper sweeps whenever a count is past its bound, looking every
// sweepPollMin while there is work and backing off to sweepPollMax while
// there is none, or at once when woken; until Close.
func (c *Cache[V]) sweeper() {
	defer close(c.bgDone)
	d := sweepPollMin
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		case <-t.C:
		}
		if c.slots.Len() > c.maxEntries || c.refs.Len() > c.refLimit() {
			c.pausing.Store(true)
			c.Sweep()
			c.pausing.Store(false)
			d = sweepPollMin
		} else {
			d = min(2*d, sweepPollMax)
		}
		t.Reset(d)
	}
}

// remove deletes s from the cache. With evicted it counts an eviction.
func (c *Cache[V]) remove(s *Slot[V], evicted bool) bool {
	if _, ok := c.slots.CompareAndDelete(s.key, func(cur *Slot[V]) bool { return cur == s }); !ok {
		return false
	}
	first := !s.dead.Swap(true)
	c.drop(s)
	if s.version != 0 {
		c.delVersion(s)
	}
	if evicted {
		c.evictions.Add(1)
	}
	if first && c.onRemove != nil {
		c.onRemove(s)
	}
	return true
}

// Sweep runs one eviction sweep now, on the caller's goroutine (the
// sweeper calls it; tests may too). Beyond MaxEntries slots it removes
// expired items first, then items with no hit since the previous sweep
// (those idle for the most sweeps first), then slots with nothing cached,
// then any, down to 90% of MaxEntries; a
// slot with a read in flight is kept. Then it removes the
// references whose slot was removed and, beyond 4 × MaxEntries
// references, those with no hit since the previous sweep. One walk of the
// slots and one of the references; one sweep runs at a time.
func (c *Cache[V]) Sweep() {
	c.sweepMu.Lock()
	defer c.sweepMu.Unlock()
	c.sweeps.Add(1)
	pace := c.newPacer()
	if n := c.slots.Len(); n > c.maxEntries {
		need := n - c.maxEntries*9/10
		// Candidates in the order they go: unused entries by the number of
		// sweeps they have been idle, most first, then empty slots, then
		// any. (Not capped at need: the cache may grow during the walk.)
		var unusedBy [maxIdle + 1][]*Slot[V]
		var empty, any []*Slot[V]
		c.slots.Range(func(_ string, s *Slot[V]) bool {
			if need <= 0 {
				return false
			}
			pace.tick()
			if s.call.Load() != nil {
				return true // a read in flight: its result is wanted
			}
			it := s.item.Load()
			switch {
			case it != nil && !c.fresh(it, c.ttl):
				if c.remove(s, true) {
					need--
				}
			case s.used.Swap(false):
				s.idle.Store(0)
				any = append(any, s)
			case it == nil:
				// Nothing cached and no read yet: most likely a read
				// about to begin, so it goes after the unused entries.
				empty = append(empty, s)
			default:
				idle := min(s.idle.Add(1), maxIdle)
				unusedBy[idle] = append(unusedBy[idle], s)
			}
			return true
		})
		need = max(need, c.slots.Len()-c.maxEntries*9/10)
		lists := make([][]*Slot[V], 0, maxIdle+3)
		for i := maxIdle; i >= 0; i-- {
			lists = append(lists, unusedBy[i])
		}
		for _, list := range append(lists, empty, any) {
			for _, s := range list {
				if need <= 0 {
					break
				}
				if s.call.Load() == nil && c.remove(s, true) {
					need--
				}
				pace.tick()
			}
		}
		c.slots.Compact() // one new snapshot per shard for the whole sweep
	}
	// References: beyond the limit, down to 90% of it, those with no hit
	// in the last two sweeps go (a reference hit between every two sweeps
	// stays, however often churn wakes the sweeper).
	over := 0
	if n := c.refs.Len(); n > c.refLimit() {
		over = n - c.refLimit()*9/10
	}
	c.refs.Range(func(raw string, r *Ref[V]) bool {
		pace.tick()
		s := r.slot.Load()
		switch {
		case s == nil || s.dead.Load():
		case r.used.Swap(false):
			r.idle.Store(0)
			return true
		case r.idle.Add(1) >= 2 && over > 0:
		default:
			return true
		}
		if _, ok := c.refs.CompareAndDelete(raw, func(cur *Ref[V]) bool { return cur == r }); ok {
			over--
		}
		return true
	})
	c.refs.Compact()
}
