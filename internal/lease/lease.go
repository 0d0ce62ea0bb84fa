// Package lease keeps one dynamic secret current over a driver.Leaser. It
// is the one lease engine of vaultly: vaultly.Dynamic (and through it
// sqlsecrets) runs on it, for every backend that implements the three lease
// requests.
//
//   - the lease is renewed at about 2/3 of what is left of it, with jitter
//     (renew.RenewAt, the schedule the token loop uses);
//   - once a renewal cannot extend it (capped by a maximum TTL, or not
//     renewable), a replacement is issued at 2/3 of what is left, and the
//     old secret stays valid for the rest: it is retired (Retired, MinValid)
//     half way through that overlap and left to expire;
//   - a renewal answered NotFound (revoked out of band, expired, forgotten
//     by the server) retires the current secret and issues a new one at
//     once, never renewing it again;
//   - failed requests are retried with jittered backoff bounded by the
//     lease's end, and a replacement is issued early once a sixth of the
//     lease is left;
//   - Close stops the loop, waits for it, and with RevokeOnClose revokes
//     every lease it issued that may not have ended (a lease may outlive
//     its reported end by up to endSlack).
//
// A *Watcher is safe for concurrent use. It runs one goroutine, started by
// Start and stopped by Close, which must be called.
package lease

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/renew"
)

// requestTimeout bounds each request the watcher sends.
const requestTimeout = 30 * time.Second

// endSlack is how long a lease may outlive the watcher's view of its end:
// backends report durations rounded down (Vault: whole seconds), and the
// watcher counts them from the answer, after the server started the clock.
// RevokeOnClose revokes leases until this long past their reported end.
const endSlack = 2 * time.Second

// Secret is one generation of a dynamic secret: the entry as issued plus its
// lease as last renewed. A Secret is never modified once published; a
// renewal publishes a new one with the same Generation and Entry.
type Secret struct {
	Entry      *driver.Entry // as issued (shared, read-only); Entry.Lease.ID is the lease
	Generation uint64        // 1 for the first secret issued, +1 for each new one
	Issued     time.Time     // when the request that issued it was sent (its lease began at or after)
	Expires    time.Time     // when the lease ends unless renewed, at the earliest (counted from when the renewal or issue was sent); zero for no end
	Renewable  bool          // whether the lease can still be renewed
}

// ID returns the lease ID.
func (s *Secret) ID() string { return s.Entry.Lease.ID }

// Kind says what happened to a watched lease.
type Kind int

const (
	// Renewed: the current lease was extended; Secret.Expires is new.
	Renewed Kind = iota + 1
	// Rotated: a new secret replaced the current one. The previous one
	// (Event.Previous) stays valid until it is retired.
	Rotated
	// Retired: Secret's generation, and every older one, must no longer be
	// used (its lease ends soon, or it was found revoked).
	Retired
	// Failed: a renewal or an issue failed; Event.Err says why. The
	// watcher keeps trying on its own.
	Failed
)

var kindNames = [...]string{Renewed: "renewed", Rotated: "rotated", Retired: "retired", Failed: "failed"}

// String returns the kind's lowercase name.
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Event is one change to a watched lease.
type Event struct {
	Kind     Kind
	Secret   *Secret // the generation concerned (the new one for Rotated)
	Previous *Secret // Rotated only: the generation replaced
	Op       string  // Failed only: "renew" or "issue"
	Err      error   // Failed only: the backend's error; never contains a secret
}

// Options configures a Watcher. A nil *Options means defaults.
type Options struct {
	// Increment is the extension asked for at each renewal. Default: 0,
	// each lease's duration as first issued. Negative is an error.
	Increment time.Duration
	// RevokeOnClose revokes, on Close, the current lease and every older
	// one that has not ended. Default false: leases expire on their own.
	RevokeOnClose bool
	// Notify, if set, is called with every event, in order, from the
	// watcher's goroutine. It must return quickly and must not call Close.
	// Default: nil.
	Notify func(Event)
	// Rand returns numbers in [0, 1) for jitter. Default math/rand/v2.Float64.
	Rand func() float64
	// Meters counts the watcher's issues, renewals, rotations and lost
	// leases and reports its lease's end (metrics.go). Default: nil, none.
	Meters *Meters
}

// phase is what the watcher does next with the current generation.
type phase int

const (
	phaseRenew   phase = iota // renew the current lease at next
	phaseRotate               // issue a replacement at next; the current one stays valid
	phaseReissue              // the current one is dead: issue a replacement at next
)

type aliveLease struct {
	id      string
	expires time.Time // as reported; zero: no end
}

// ended reports whether the lease has surely ended at now, endSlack past
// its reported end.
func (a aliveLease) ended(now time.Time) bool {
	return !a.expires.IsZero() && !now.Before(a.expires.Add(endSlack))
}

type retiring struct {
	s  *Secret
	at time.Time
}

// Watcher keeps one dynamic secret current. Create it with Start.
type Watcher struct {
	l      driver.Leaser
	path   string
	inc    time.Duration // requested increment; 0 = each lease's first duration
	revoke bool
	notify func(Event)
	rnd    func() float64

	cur      atomic.Pointer[Secret]
	minValid atomic.Uint64

	// Owned by the loop goroutine.
	phase    phase
	next     time.Time
	attempt  int
	duration time.Duration // the current lease's first duration
	obtained time.Time     // when the current lease was issued or last renewed
	olds     []retiring

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	mu        sync.Mutex   // guards alive
	alive     []aliveLease // leases issued and not known to have ended, for RevokeOnClose

	meters  *Meters
	failing atomic.Bool // the last renewal or issue failed (metrics.go)
}

// Start issues the first secret at path through l and starts the loop that
// keeps it current. The first issue happens before Start returns: its
// failure is returned (the backend's error, unwrapped) and nothing keeps
// running. The loop runs on a context detached from ctx (values kept,
// cancellation dropped) until Close.
func Start(ctx context.Context, l driver.Leaser, path string, opts *Options) (*Watcher, error) {
	if opts == nil {
		opts = &Options{}
	}
	if opts.Increment < 0 {
		return nil, driver.NewError(driver.InvalidArgument, errors.New("lease increment must not be negative"))
	}
	w := &Watcher{
		l: l, path: path,
		inc: opts.Increment, revoke: opts.RevokeOnClose, notify: opts.Notify,
		rnd: opts.Rand, done: make(chan struct{}), meters: opts.Meters,
	}
	if w.rnd == nil {
		w.rnd = rand.Float64
	}
	s, err := w.issue(ctx, 1)
	if err != nil {
		return nil, err
	}
	w.cur.Store(s)
	w.minValid.Store(1)
	w.schedule(s)
	w.meters.add(w)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel = cancel
	go w.loop(loopCtx)
	return w, nil
}

// Current returns the newest generation; never nil.
func (w *Watcher) Current() *Secret { return w.cur.Load() }

// MinValid returns the oldest generation that may still be used: every
// generation below it has been retired. It never decreases.
func (w *Watcher) MinValid() uint64 { return w.minValid.Load() }

// Close stops the loop, waits for it and, with RevokeOnClose, revokes every
// lease it issued that has not ended (retired ones included); ctx bounds the
// revocations. Safe to call more than once; later calls return the first
// result.
func (w *Watcher) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.cancel()
		<-w.done
		w.meters.remove(w)
		if !w.revoke {
			return
		}
		w.mu.Lock()
		alive := w.alive
		w.alive = nil
		w.mu.Unlock()
		now := time.Now()
		var errs []error
		for _, a := range alive {
			if a.ended(now) {
				continue
			}
			if err := w.l.RevokeLease(ctx, a.id); err != nil {
				errs = append(errs, err)
			}
		}
		w.closeErr = errors.Join(errs...)
	})
	return w.closeErr
}

// issue obtains a new secret as generation gen.
func (w *Watcher) issue(ctx context.Context, gen uint64) (*Secret, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	// The server starts the lease's clock somewhere between the request
	// and its answer: counting from the request keeps every time planned
	// from it on the safe side by the answer's latency (a slow network or
	// server never makes a replacement late).
	sent := time.Now()
	e, err := w.l.IssueLease(ctx, w.path)
	if err == nil && (e == nil || e.Lease == nil || e.Lease.ID == "") {
		err = driver.NewError(driver.InvalidArgument, errors.New("the secret at "+w.path+" has no lease"))
	}
	w.meters.issued(err)
	if err != nil {
		return nil, err
	}
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	now := time.Now()
	s := &Secret{Entry: e, Generation: gen, Issued: sent, Renewable: e.Lease.Renewable}
	if e.Lease.Duration > 0 {
		s.Expires = sent.Add(e.Lease.Duration)
	}
	w.mu.Lock()
	keep := w.alive[:0]
	for _, a := range w.alive {
		if !a.ended(now) {
			keep = append(keep, a)
		}
	}
	w.alive = append(keep, aliveLease{e.Lease.ID, s.Expires})
	w.mu.Unlock()
	return s, nil
}

// schedule sets the phase for a freshly issued generation.
func (w *Watcher) schedule(s *Secret) {
	w.duration = s.Entry.Lease.Duration
	w.obtained = s.Issued
	w.attempt = 0
	if w.duration <= 0 {
		w.next = time.Time{} // a lease without an end: nothing to do
		return
	}
	w.next = actAt(s.Issued, w.duration, w.rnd())
	if s.Renewable {
		w.phase = phaseRenew
	} else {
		w.phase = phaseRotate
	}
}

func (w *Watcher) loop(ctx context.Context) {
	defer close(w.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next := w.next
		for _, o := range w.olds {
			if next.IsZero() || o.at.Before(next) {
				next = o.at
			}
		}
		if end, ok := w.endOfCurrent(); ok && (next.IsZero() || end.Before(next)) {
			next = end
		}
		var fire <-chan time.Time
		if !next.IsZero() {
			t.Reset(max(time.Until(next), 0))
			fire = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-fire:
		}
		if ctx.Err() != nil {
			return // select picks at random when both are ready
		}
		now := time.Now()
		w.retireDue(now)
		w.retireEnded(now)
		if !w.next.IsZero() && !now.Before(w.next) {
			w.step(ctx)
		}
	}
}

// endOfCurrent returns when the current secret's lease ends, if it has an
// end and has not been retired yet.
func (w *Watcher) endOfCurrent() (time.Time, bool) {
	cur := w.cur.Load()
	if cur.Expires.IsZero() || cur.Generation < w.minValid.Load() {
		return time.Time{}, false
	}
	return cur.Expires, true
}

// retireEnded retires the current secret once its lease has ended without a
// replacement (renewals or issues failing through an outage): consumers
// then know it is dead (MinValid moves past it) instead of opening
// connections with dropped credentials, and the watcher issues a new one
// about once a second (retryDelay) until the backend answers.
func (w *Watcher) retireEnded(now time.Time) {
	end, ok := w.endOfCurrent()
	if !ok || now.Before(end) {
		return
	}
	w.retire(w.cur.Load())
	w.phase = phaseReissue
	if d := now.Add(retryDelay(w.attempt, w.rnd(), -1)); w.next.IsZero() || d.Before(w.next) {
		w.next = d
	}
}

// retireDue retires every old generation whose time has come.
func (w *Watcher) retireDue(now time.Time) {
	keep := w.olds[:0]
	for _, o := range w.olds {
		if now.Before(o.at) {
			keep = append(keep, o)
			continue
		}
		w.retire(o.s)
	}
	w.olds = keep
}

// retire marks s and everything older as no longer usable.
func (w *Watcher) retire(s *Secret) {
	if s.Generation < w.minValid.Load() {
		return
	}
	w.minValid.Store(s.Generation + 1)
	w.emit(Event{Kind: Retired, Secret: s})
}

func (w *Watcher) step(ctx context.Context) {
	cur := w.cur.Load()
	switch w.phase {
	case phaseRenew:
		w.renewStep(ctx, cur)
	case phaseRotate, phaseReissue:
		w.rotateStep(ctx, cur)
	}
}

func (w *Watcher) renewStep(ctx context.Context, cur *Secret) {
	inc := w.inc
	if inc == 0 {
		inc = w.duration
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	sent := time.Now() // the renewed lease's clock starts after this (see issue)
	l, err := w.l.RenewLease(rctx, cur.ID(), inc)
	cancel()
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	if err == nil && l == nil {
		err = driver.NewError(driver.Malformed, errors.New("empty answer to a lease renewal"))
	}
	if err != nil {
		w.emit(Event{Kind: Failed, Secret: cur, Op: "renew", Err: err})
		remaining := cur.Expires.Sub(now)
		switch code := driver.CodeOf(err); {
		case code == driver.NotFound:
			// Revoked out of band, expired, or forgotten by a restarted
			// server: never renew it again; replace it now.
			w.setAlive(cur.ID(), time.Time{}, true)
			w.retire(cur)
			w.phase, w.next, w.attempt = phaseReissue, now, 0
		case code == driver.InvalidArgument || replaceEarly(remaining, w.duration):
			// Renewal cannot (or did not in time) keep it alive: issue a
			// replacement while the current one still works.
			w.phase, w.next, w.attempt = phaseRotate, now, 0
		default:
			w.attempt++
			w.next = now.Add(retryDelay(w.attempt, w.rnd(), remaining))
		}
		return
	}
	if l.Duration <= 0 {
		// Nothing left to renew: replace it while it may still work.
		w.phase, w.next, w.attempt = phaseRotate, now, 0
		return
	}
	s := *cur
	s.Expires = sent.Add(l.Duration)
	s.Renewable = l.Renewable
	w.setAlive(s.ID(), s.Expires, false)
	w.cur.Store(&s)
	w.attempt = 0
	w.emit(Event{Kind: Renewed, Secret: &s})
	prev := renew.Lease{Obtained: w.obtained, TTL: cur.Expires.Sub(w.obtained), Renewable: cur.Renewable}
	w.obtained = sent
	if mustReplace(prev, renew.Lease{Obtained: sent, TTL: l.Duration, Renewable: l.Renewable}, inc) {
		w.phase = phaseRotate
	}
	w.next = actAt(sent, l.Duration, w.rnd())
}

func (w *Watcher) rotateStep(ctx context.Context, cur *Secret) {
	s, err := w.issue(ctx, cur.Generation+1)
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	if err != nil {
		w.emit(Event{Kind: Failed, Secret: cur, Op: "issue", Err: err})
		remaining := cur.Expires.Sub(now)
		if remaining <= 0 && w.phase == phaseRotate {
			// The old one ended before a replacement could be issued.
			w.retire(cur)
			w.phase = phaseReissue
		}
		w.attempt++
		w.next = now.Add(retryDelay(w.attempt, w.rnd(), remaining))
		return
	}
	w.cur.Store(s)
	w.emit(Event{Kind: Rotated, Secret: s, Previous: cur})
	if cur.Generation >= w.minValid.Load() {
		w.olds = append(w.olds, retiring{s: cur, at: retireAt(now, cur.Expires)})
	}
	w.schedule(s)
}

// setAlive records a lease's new end, or drops it when gone.
func (w *Watcher) setAlive(id string, expires time.Time, gone bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, a := range w.alive {
		if a.id == id {
			if gone {
				w.alive = append(w.alive[:i], w.alive[i+1:]...)
			} else {
				w.alive[i].expires = expires
			}
			return
		}
	}
}

func (w *Watcher) emit(ev Event) {
	w.observe(ev)
	if w.notify != nil {
		w.notify(ev)
	}
}
