package vaultly

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/cache"
)

// Watches keep cached entries fresh by polling the backend: one poller per
// watched entry (latest version), whatever number of fields, Lives and
// subscribers use it. A poll asks a driver.Versioner for the entry's
// current version (Vault KV v2: one small metadata read) and reads the
// entry again only when the version moved; a backend without one (or a
// Vault KV v1 mount, or a token that may not read metadata) is polled by
// reading the entry and comparing its fields. A change replaces the cached
// entry, so Get and Live see it, and is published to subscribers.
//
// A watch starts when an entry is read with Options.Watch or
// ReadOptions.Watch set, or by Subscribe. The first two stop when the
// entry leaves the cache (eviction, a read that found it gone); a
// subscription keeps its entry's watch until its stop function is called.
// Close stops every poller and subscriber and waits for them.

// DefaultWatchInterval is the poll interval of a Subscribe when neither
// its ReadOptions.Watch nor Options.Watch sets one.
const DefaultWatchInterval = 30 * time.Second

// MinWatchInterval is the shortest poll interval; shorter ones are raised
// to it.
const MinWatchInterval = 100 * time.Millisecond

// maxPollTimeout bounds one poll (its requests and retries).
const maxPollTimeout = 30 * time.Second

// ChangeKind says what a watch saw happen to an entry.
type ChangeKind int

// The kinds of Change.
const (
	// ChangeUpdated: a new version or new content, including an entry
	// that appeared (again) and an undeleted latest version.
	ChangeUpdated ChangeKind = iota + 1
	// ChangeDeleted: the latest version was soft-deleted, or the entry
	// was deleted with all its versions (its metadata is gone).
	ChangeDeleted
	// ChangeDestroyed: the latest version was destroyed.
	ChangeDestroyed
)

var changeKindNames = [...]string{ChangeUpdated: "updated", ChangeDeleted: "deleted", ChangeDestroyed: "destroyed"}

// String returns "updated", "deleted" or "destroyed".
func (k ChangeKind) String() string {
	if k > 0 && int(k) < len(changeKindNames) {
		return changeKindNames[k]
	}
	return "unknown"
}

// Change is one change of a watched entry, as delivered to subscribers. It
// never prints a value: String, every fmt verb, slog and JSON show the
// kind, path, versions and the names of the changed fields only.
type Change struct {
	Kind ChangeKind
	Path string
	// OldVersion and NewVersion are the version numbers before and after
	// (0: none known, or a backend without versions). For a deletion
	// NewVersion is the deleted version (0 when the whole entry went).
	OldVersion, NewVersion int
	// Keys are the names of the fields whose value changed, appeared or
	// went away, sorted; for a deletion, every field the entry had.
	Keys []string
	// Time is when the change was seen.
	Time time.Time

	// The entries sit two pointers deep, so that fmt, which prints a
	// pointer's target only at the top level, never reaches their fields.
	ents *changeEntries
}

type changeEntries struct{ now, before *Entry }

// NewChange returns a Change whose Entry and Previous are now and before
// (either may be nil), for tests of code that handles changes.
func NewChange(kind ChangeKind, path string, oldVersion, newVersion int, keys []string, now, before *Entry) Change {
	return Change{Kind: kind, Path: path, OldVersion: oldVersion, NewVersion: newVersion, Keys: keys,
		Time: time.Now(), ents: &changeEntries{now, before}}
}

// Entry returns the entry now, for ChangeUpdated; nil otherwise. It is
// shared with the cache: do not modify it.
func (c Change) Entry() *Entry {
	if c.ents == nil {
		return nil
	}
	return c.ents.now
}

// Previous returns the entry before the change, when the watch had it.
func (c Change) Previous() *Entry {
	if c.ents == nil {
		return nil
	}
	return c.ents.before
}

// Changed reports whether the field key changed (see Keys).
func (c Change) Changed(key string) bool { return slices.Contains(c.Keys, key) }

// String describes c by kind, path, versions and changed field names.
func (c Change) String() string {
	var b strings.Builder
	b.WriteString("vaultly.Change{")
	b.WriteString(c.Kind.String())
	b.WriteString(" " + strconv.Quote(c.Path))
	if c.OldVersion != 0 || c.NewVersion != 0 {
		b.WriteString(" version " + strconv.Itoa(c.OldVersion) + "->" + strconv.Itoa(c.NewVersion))
	}
	b.WriteString(" keys [" + strings.Join(c.Keys, " ") + "]}")
	return b.String()
}

// Format writes String for every verb.
func (c Change) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue is String, for log/slog.
func (c Change) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON encodes String as a JSON string.
func (c Change) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// pollDelay is the wait before a poll of an entry watched every interval:
// uniform in [3/4, 1] of it (r in [0, 1)), so that entries read together
// do not poll together, and a change is seen within one interval.
func pollDelay(interval time.Duration, r float64) time.Duration {
	return interval - time.Duration(float64(interval)*0.25*r)
}

// pollTimeout bounds one poll of an entry watched every interval.
func pollTimeout(interval time.Duration) time.Duration {
	return min(max(interval, 5*time.Second), maxPollTimeout)
}

func clampInterval(d time.Duration) time.Duration { return max(d, MinWatchInterval) }

// watchSet is a Store's watchers, one per path.
type watchSet struct {
	every time.Duration // Options.Watch; 0: only entries asked for
	seed  maphash.Seed

	mu sync.Mutex          // serialises adding and removing watchers
	m  cache.Map[*watcher] // path -> its watcher; lookups take no lock

	polls, pollFailures, changes atomic.Uint64
}

func newWatchSet(every time.Duration) *watchSet {
	if every > 0 {
		every = clampInterval(every)
	}
	return &watchSet{every: every, seed: maphash.MakeSeed()}
}

// hash is an order-independent hash of an entry's fields, to tell content
// apart where the backend has no versions. It stays in memory.
func (ws *watchSet) hash(fields map[string]string) uint64 {
	var sum uint64
	var h maphash.Hash
	h.SetSeed(ws.seed)
	for k, v := range fields {
		h.Reset()
		h.WriteString(k)
		h.WriteByte(0)
		h.WriteString(v)
		sum += h.Sum64()
	}
	return sum + uint64(len(fields))
}

// watcher polls one path and publishes its changes.
type watcher struct {
	s      *Store
	path   string
	every  atomic.Int64         // poll interval (ns): the shortest asked for
	slot   atomic.Pointer[slot] // the cache slot it keeps fresh; nil before the entry was cached
	auto   atomic.Bool          // kept while its entry is cached, not only for subscribers
	byRead atomic.Bool          // poll by reading the entry (no versions, or no access to them)
	wake   chan struct{}        // buffered 1: poll now
	quit   chan struct{}        // closed by halt
	once   sync.Once

	mu       sync.Mutex // guards the fields below; never held across I/O
	gone     bool       // removed from the set: no new subscriber
	subs     map[*changeSub]struct{}
	present  bool   // the latest version was readable when last seen
	version  int    // its number (kept after a deletion)
	hash     uint64 // of its fields
	last     *Entry
	lastPoll time.Time
	seen     uint64 // Store.readSeq of the read whose result the fields above hold
	failures int    // polls failed in a row
	lastErr  error  // the last failed poll's error, nil after a success
}

func (w *watcher) interval() time.Duration { return time.Duration(w.every.Load()) }

// lower makes the interval d if d is shorter, and polls soon so that the
// new interval applies at once.
func (w *watcher) lower(d time.Duration) {
	for {
		cur := w.every.Load()
		if int64(d) >= cur {
			return
		}
		if w.every.CompareAndSwap(cur, int64(d)) {
			w.kick()
			return
		}
	}
}

func (w *watcher) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) halt() { w.once.Do(func() { close(w.quit) }) }

func (w *watcher) isGone() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gone
}

// watchFor returns the running watcher of path, lowering its interval to d
// (and making it auto when auto), or starts one with the baseline base
// (nil: the entry is missing). nil once the Store is closed.
func (s *Store) watchFor(path string, d time.Duration, es *slot, base *Entry, auto bool) *watcher {
	ws := s.watch
	d = clampInterval(d)
	use := func(w *watcher) *watcher {
		w.lower(d)
		if auto {
			w.auto.Store(true)
		}
		if es != nil && w.slot.Load() == nil {
			w.slot.Store(es)
		}
		return w
	}
	if w, ok := ws.m.Load(path); ok && !w.isGone() {
		return use(w)
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if w, ok := ws.m.Load(path); ok {
		if !w.isGone() {
			return use(w)
		}
		// Being stopped: its stopper halts it; a new one takes its place.
		ws.m.CompareAndDelete(path, func(cur *watcher) bool { return cur == w })
	}
	if !s.track() {
		return nil
	}
	w := &watcher{s: s, path: path, wake: make(chan struct{}, 1), quit: make(chan struct{}), subs: map[*changeSub]struct{}{}}
	w.every.Store(int64(d))
	w.auto.Store(auto)
	if es != nil {
		w.slot.Store(es)
	}
	if base != nil {
		w.present, w.version, w.hash, w.last = true, base.Version, ws.hash(base.Fields), base
	}
	ws.m.LoadOrStore(path, w)
	go w.run()
	return w
}

// drop removes w from the set and stops it; w.gone must be set already.
func (s *Store) dropWatch(w *watcher) {
	ws := s.watch
	ws.mu.Lock()
	ws.m.CompareAndDelete(w.path, func(cur *watcher) bool { return cur == w })
	ws.mu.Unlock()
	w.halt()
}

// entryRemoved is the cache's OnRemove hook: an entry that left the cache
// is no longer polled, unless a subscription needs it.
func (s *Store) entryRemoved(es *slot) {
	if es.Version() != 0 {
		return
	}
	w, ok := s.watch.m.Load(es.Path())
	if !ok || w.slot.Load() != es {
		return
	}
	w.mu.Lock()
	if len(w.subs) > 0 || w.gone {
		w.mu.Unlock()
		return
	}
	w.gone = true
	w.mu.Unlock()
	s.dropWatch(w)
}

// observe is told the result of every backend read of a cached slot (begin
// numbers the read, see Store.readSeq); it starts the watch of
// Options.Watch and lets a watched entry's watcher see what the read found.
func (s *Store) observe(es *slot, e *Entry, err error, begin uint64) {
	if err == nil {
		s.lastOK.Store(time.Now().UnixNano())
	}
	ws := s.watch
	if es.Version() != 0 {
		return
	}
	w, ok := ws.m.Load(es.Path())
	if !ok {
		if err == nil && ws.every > 0 && s.ttl != NoCache {
			if w = s.watchFor(es.Path(), ws.every, es, e, true); w != nil {
				// A new watcher starts from e (no change); one a Subscribe
				// set up meanwhile compares e with its own base.
				w.saw(e, nil, begin)
				if es.Removed() {
					s.entryRemoved(es)
				}
			}
		}
		return
	}
	if err == nil && ws.every > 0 && s.ttl != NoCache {
		// A subscription may have started this watcher (at its own
		// interval) before this read's result came here: the entry is
		// cached now, so Options.Watch applies to it as well.
		w.lower(clampInterval(ws.every))
		if !w.auto.Load() {
			w.auto.Store(true)
		}
	}
	if err == nil && w.slot.Load() != es {
		w.slot.Store(es)
		if es.Removed() {
			s.entryRemoved(es)
		}
	}
	w.saw(e, err, begin)
}

// backendChanged is the Store's driver.ChangeNotifier function: the cached
// entry is dropped and, if watched, polled at once.
func (s *Store) backendChanged(path string) {
	s.Invalidate(path)
	if p, err := CleanPath(path); err == nil {
		if w, ok := s.watch.m.Load(p); ok {
			w.kick()
		}
	}
}

// watchRead starts or lowers the watch a read with ReadOptions.Watch asks for.
func (s *Store) watchRead(o *ReadOptions, path string, version int, e *Entry) {
	if o == nil || o.Watch <= 0 || version != 0 || s.ttl == NoCache {
		return
	}
	if w, ok := s.watch.m.Load(path); ok && w.every.Load() <= int64(clampInterval(o.Watch)) && w.auto.Load() {
		return
	}
	s.watchFor(path, o.Watch, s.c.Slot(path, 0), e, true)
}

// saw compares what a read found with what the watcher last saw and
// publishes the difference. A read that began before the one whose result
// the watcher holds is older news and changes nothing: without that, a
// read that began before a change and ended after a poll had seen it would
// publish the change undone, then the next poll the change again.
func (w *watcher) saw(e *Entry, err error, begin uint64) {
	if err != nil {
		if CodeOf(err) == NotFound {
			w.lost(ChangeDeleted, lastVersion, begin) // drops the cached entry first
		}
		return // another error says nothing of the entry
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if begin < w.seen {
		return
	}
	w.seen = begin
	h := w.s.watch.hash(e.Fields)
	if w.present {
		if e.Version != 0 && w.version != 0 && e.Version < w.version {
			return // an older read that ended late
		}
		if e.Version == w.version && h == w.hash {
			return
		}
	}
	ch := Change{Kind: ChangeUpdated, Path: w.path, OldVersion: w.version, NewVersion: e.Version,
		Keys: changedKeys(w.last, e), Time: now, ents: &changeEntries{e, w.last}}
	w.present, w.version, w.hash, w.last = true, e.Version, h, e
	w.emitLocked(ch)
}

// lostLocked publishes that the latest version (version) is no longer
// readable. w.mu held.
func (w *watcher) lostLocked(kind ChangeKind, version int, now time.Time) {
	ch := Change{Kind: kind, Path: w.path, OldVersion: w.version, NewVersion: version, Time: now, ents: &changeEntries{nil, w.last}}
	if w.last != nil {
		ch.Keys = slices.Sorted(maps.Keys(w.last.Fields))
	}
	w.present, w.last = false, nil
	if version != 0 {
		w.version = version
	}
	w.emitLocked(ch)
}

func (w *watcher) emitLocked(ch Change) {
	w.s.watch.changes.Add(1)
	w.s.tel.change(ch.Kind)
	w.s.log.Debug("vaultly: watched entry changed", "backend", w.s.name, "path", w.path, "kind", ch.Kind.String(),
		"old_version", ch.OldVersion, "new_version", ch.NewVersion, "keys", strings.Join(ch.Keys, ","))
	for sub := range w.subs {
		sub.push(ch)
	}
}

// changedKeys lists the fields that differ between a and b (either may be
// nil), sorted.
func changedKeys(a, b *Entry) []string {
	var af, bf map[string]string
	if a != nil {
		af = a.Fields
	}
	if b != nil {
		bf = b.Fields
	}
	var out []string
	for k, v := range bf {
		if o, ok := af[k]; !ok || o != v {
			out = append(out, k)
		}
	}
	for k := range af {
		if _, ok := bf[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// run is the poll loop, until the watcher is halted or the Store closed.
func (w *watcher) run() {
	defer w.s.wg.Done()
	defer func() {
		if w.s.ctx.Err() != nil { // closed: nothing is watched any more
			w.mu.Lock()
			w.gone = true
			w.mu.Unlock()
			w.s.dropWatch(w)
		}
	}()
	t := time.NewTimer(pollDelay(w.interval(), rand.Float64()))
	defer t.Stop()
	for {
		select {
		case <-w.s.ctx.Done():
			return
		case <-w.quit:
			return
		case <-w.wake:
		case <-t.C:
		}
		if w.s.ctx.Err() != nil {
			return
		}
		w.poll()
		t.Reset(pollDelay(w.interval(), rand.Float64()))
	}
}

// poll checks the entry once and records how that went.
func (w *watcher) poll() {
	s := w.s
	ctx, cancel := context.WithTimeout(s.ctx, pollTimeout(w.interval()))
	err := w.check(ctx)
	cancel()
	if s.ctx.Err() != nil {
		return
	}
	s.watch.polls.Add(1)
	s.tel.poll(err)
	now := time.Now()
	w.mu.Lock()
	w.lastPoll = now
	failures := w.failures
	if err != nil {
		w.failures++
		w.lastErr = err
	} else {
		w.failures, w.lastErr = 0, nil
	}
	w.mu.Unlock()
	switch {
	case err != nil && failures == 0:
		s.watch.pollFailures.Add(1)
		s.log.Warn("vaultly: watching an entry failed; the cached value may be outdated until a poll succeeds", "backend", s.name, "path", w.path, "code", CodeOf(err).String(), "retry_in", w.interval())
	case err != nil:
		s.watch.pollFailures.Add(1)
	case failures > 0:
		s.log.Info("vaultly: watching an entry works again", "backend", s.name, "path", w.path, "failed_polls", failures)
	}
}

// check is one poll: the version if the backend tells it, else a read.
func (w *watcher) check(ctx context.Context) error {
	s := w.s
	if err := s.out.Err(); err != nil {
		// The outage breaker is open: the poll sends nothing (its probe
		// finds out when the backend is back) and counts as failed.
		return s.wrap("watch", w.path, openError(err))
	}
	if v, ok := s.b.(driver.Versioner); ok && !w.byRead.Load() {
		begin := s.readSeq.Add(1)
		start := s.tel.start()
		st, err := v.CurrentVersion(ctx, w.path)
		s.tel.done(ctx, opVersion, w.path, start, err)
		switch CodeOf(err) {
		case OK:
			s.lastOK.Store(time.Now().UnixNano())
			if st.Version != 0 {
				return w.compare(ctx, st, begin)
			}
			w.byRead.Store(true) // no versions here (a KV v1 mount)
		case NotFound:
			w.lost(ChangeDeleted, 0, begin)
			return nil
		case PermissionDenied:
			w.byRead.Store(true)
			s.log.Warn("vaultly: the token may not read the entry's version; watching it by reading the entry instead", "backend", s.name, "path", w.path)
		default:
			return s.wrap("watch", w.path, err)
		}
	}
	return w.reread(ctx)
}

// compare acts on the state of the latest version, read as begin.
func (w *watcher) compare(ctx context.Context, st driver.VersionState, begin uint64) error {
	w.mu.Lock()
	present, ver := w.present, w.version
	w.mu.Unlock()
	switch {
	case !st.Readable():
		kind := ChangeDeleted
		if st.Destroyed {
			kind = ChangeDestroyed
		}
		w.lost(kind, st.Version, begin)
		return nil
	case present && st.Version == ver:
		if es := w.slot.Load(); es != nil {
			if it := es.Item(); it != nil && it.Value.Version == ver {
				it.Confirm(time.Now())
			}
		}
		return nil
	}
	return w.reread(ctx)
}

// reread reads the entry through the cache's fetch path; observe sees the
// result.
func (w *watcher) reread(ctx context.Context) error {
	_, err := w.s.fetch(ctx, "watch", Ref{Path: w.path}, w.s.c.Slot(w.path, 0), NoCache, true)
	if CodeOf(err) == NotFound {
		return nil // a change (seen by observe), not a failure
	}
	return err
}

// lastVersion, as lost's version, is the version last seen.
const lastVersion = -1

// lost drops the cached entry and publishes a deletion (when the entry
// was readable) of version (0: none left; lastVersion: the one last
// seen); begin numbers the read that found it (see saw). The
// entry leaves the cache first, so that a subscriber that reads it on
// hearing of the deletion gets NotFound, never the deleted value.
func (w *watcher) lost(kind ChangeKind, version int, begin uint64) {
	w.mu.Lock()
	if begin < w.seen {
		w.mu.Unlock()
		return
	}
	w.seen = begin
	was := w.present
	w.mu.Unlock()
	if !was {
		return
	}
	// Not under w.mu: dropping an entry calls back into the watch set.
	// Reads in flight meanwhile are not cached (Invalidate); one that
	// began after this poll and found the entry gone publishes the
	// deletion itself (saw), and this older find then stands down.
	w.s.Invalidate(w.path)
	w.mu.Lock()
	defer w.mu.Unlock()
	if begin < w.seen || !w.present {
		return
	}
	if version == lastVersion {
		version = w.version
	}
	w.lostLocked(kind, version, time.Now())
}

// Subscribe calls fn with every change of the entry at path (its latest
// version) from now on: ChangeUpdated when a new version or new content
// appears, ChangeDeleted and ChangeDestroyed when the latest version can
// no longer be read. It watches the entry (see Options.Watch) every
// o.Watch, else Options.Watch, else DefaultWatchInterval; however many
// subscribers, Lives and fields use the entry, one poller polls it, at the
// shortest interval any of them asked for.
//
// The entry is read first (through the cache, with o's TTL) as the base
// the changes are relative to: a missing entry is fine (its creation is
// the first change); any other failure is returned. An invalid path or a
// nil fn is an InvalidArgument error.
//
// fn is called in order, one change at a time, from a goroutine of its
// own: changes wait in a queue while fn runs, so a slow fn delays only its
// own later changes. A panic in fn is recovered and logged. stop ends the
// subscription and waits for a call in progress; changes still queued are
// dropped. Close ends every subscription. fn must not call stop or Close
// (they wait for fn to return).
func (s *Store) Subscribe(ctx context.Context, path string, fn func(Change), o *ReadOptions) (stop func(), err error) {
	p, err := CleanPath(path)
	if err != nil {
		return nil, s.wrap("subscribe", "", err)
	}
	if fn == nil {
		return nil, s.wrap("subscribe", p, newError("", "", InvalidArgument, "nil function"))
	}
	if s.isClosed() {
		return nil, s.closedErr("subscribe", p)
	}
	d := DefaultWatchInterval
	switch {
	case o != nil && o.Watch > 0:
		d = o.Watch
	case s.watch.every > 0:
		d = s.watch.every
	}
	base, err := s.entry(ctx, "subscribe", Ref{Path: p}, s.readTTL(o))
	if err != nil && CodeOf(err) != NotFound {
		return nil, err
	}
	sub := &changeSub{s: s, fn: fn, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if !s.track() {
		return nil, s.closedErr("subscribe", p)
	}
	for {
		w := s.watchFor(p, d, nil, base, false)
		if w == nil {
			s.wg.Done()
			return nil, s.closedErr("subscribe", p)
		}
		w.mu.Lock()
		if !w.gone {
			sub.w = w
			w.subs[sub] = struct{}{}
			w.mu.Unlock()
			break
		}
		w.mu.Unlock() // it was just stopped: start another
	}
	go sub.run()
	return sub.stop, nil
}

// changeSub delivers one subscriber's changes in order.
type changeSub struct {
	s    *Store
	w    *watcher
	fn   func(Change)
	mu   sync.Mutex
	q    []Change
	end  bool
	wake chan struct{}
	done chan struct{}
	once sync.Once
}

func (c *changeSub) push(ch Change) {
	c.mu.Lock()
	c.q = append(c.q, ch)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *changeSub) run() {
	defer c.s.wg.Done()
	defer close(c.done)
	for {
		c.mu.Lock()
		if c.end {
			c.mu.Unlock()
			return
		}
		if len(c.q) == 0 {
			c.mu.Unlock()
			select {
			case <-c.wake:
			case <-c.s.ctx.Done():
				return
			}
			continue
		}
		ch := c.q[0]
		c.q[0] = Change{}
		c.q = c.q[1:]
		c.mu.Unlock()
		c.call(ch)
	}
}

func (c *changeSub) call(ch Change) {
	defer func() {
		if r := recover(); r != nil {
			c.s.log.Warn("vaultly: recovered a panic in a Subscribe function", "backend", c.s.name, "path", ch.Path, "panic", fmt.Sprint(r))
		}
	}()
	c.fn(ch)
}

// stop ends the subscription: it leaves its watcher (which stops when no
// one else needs it) and waits for the delivery goroutine.
func (c *changeSub) stop() {
	c.once.Do(func() {
		w := c.w
		w.mu.Lock()
		delete(w.subs, c)
		idle := len(w.subs) == 0 && !w.gone && !w.keptByCache()
		if idle {
			w.gone = true
		}
		w.mu.Unlock()
		if idle {
			c.s.dropWatch(w)
		}
		c.mu.Lock()
		c.end = true
		c.q = nil
		c.mu.Unlock()
		select {
		case c.wake <- struct{}{}:
		default:
		}
	})
	<-c.done
}

// keptByCache reports whether the watch must go on without subscribers:
// it was asked for by reads and its entry is still cached.
func (w *watcher) keptByCache() bool {
	es := w.slot.Load()
	return w.auto.Load() && es != nil && !es.Removed()
}

// watchStats returns the number of watchers and of those whose last poll
// failed.
func (s *Store) watchStats() (n, failing int) {
	s.watch.m.Range(func(_ string, w *watcher) bool {
		n++
		w.mu.Lock()
		if w.failures > 0 {
			failing++
		}
		w.mu.Unlock()
		return true
	})
	return n, failing
}
