package hashivault

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
)

// leaseAPI is what the lease watcher needs from Vault. The Backend provides
// it over Call (mapped errors, re-login); tests of the schedule provide a
// scripted one inside a synctest bubble.
type leaseAPI interface {
	// issue reads path and returns the new secret; it must carry a lease.
	issue(ctx context.Context, path string) (*api.Secret, error)
	// renew asks for increment more on the lease and returns the granted
	// duration and whether the lease stays renewable.
	renew(ctx context.Context, leaseID string, increment time.Duration) (*api.Secret, error)
	revoke(ctx context.Context, leaseID string) error
}

// leaseRequestTimeout bounds each request the watcher sends.
const leaseRequestTimeout = 30 * time.Second

// phase is what the watcher does next with the current generation.
type phase int

const (
	phaseRenew   phase = iota // renew the current lease at next
	phaseRotate               // issue a replacement at next; the current one stays valid
	phaseReissue              // the current one is dead: issue a replacement at next
)

type aliveLease struct {
	id      string
	expires time.Time
}

type retiring struct {
	leased *driver.Leased
	at     time.Time
}

// leaseWatcher keeps one dynamic secret current; see driver.LeaseWatcher.
type leaseWatcher struct {
	api     leaseAPI
	path    string
	backend string
	inc     time.Duration // requested increment; 0 = each lease's first duration
	revoke  bool
	notify  func(driver.LeaseEvent)
	rnd     func() float64

	cur      atomic.Pointer[driver.Leased]
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
}

var _ driver.LeaseWatcher = (*leaseWatcher)(nil)

// newLeaseWatcher issues the first secret and starts the loop.
// rnd is the jitter source; nil means math/rand/v2.
func newLeaseWatcher(ctx context.Context, a leaseAPI, path, backend string, opts *driver.LeaseOptions, rnd func() float64) (*leaseWatcher, error) {
	if opts == nil {
		opts = &driver.LeaseOptions{}
	}
	if opts.Increment < 0 {
		return nil, driver.NewError(driver.InvalidArgument, errors.New("lease increment must not be negative"))
	}
	w := &leaseWatcher{
		api: a, path: path, backend: backend,
		inc: opts.Increment, revoke: opts.RevokeOnClose, notify: opts.Notify,
		rnd: rnd, done: make(chan struct{}),
	}
	if w.rnd == nil {
		w.rnd = rand.Float64
	}
	l, err := w.issue(ctx, 1)
	if err != nil {
		return nil, err
	}
	w.cur.Store(l)
	w.minValid.Store(1)
	w.schedule(time.Now(), l)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel = cancel
	go w.loop(loopCtx)
	return w, nil
}

func (w *leaseWatcher) Current() *driver.Leased { return w.cur.Load() }
func (w *leaseWatcher) MinValid() uint64        { return w.minValid.Load() }

// Close stops the loop, waits for it and, if asked, revokes every lease it
// issued that has not ended (retired ones included). Safe to call more than
// once.
func (w *leaseWatcher) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.cancel()
		<-w.done
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
			if !now.Before(a.expires) {
				continue
			}
			if err := w.api.revoke(ctx, a.id); err != nil {
				errs = append(errs, err)
			}
		}
		w.closeErr = errors.Join(errs...)
	})
	return w.closeErr
}

// issue reads a new secret as generation gen.
func (w *leaseWatcher) issue(ctx context.Context, gen uint64) (*driver.Leased, error) {
	ctx, cancel := context.WithTimeout(ctx, leaseRequestTimeout)
	defer cancel()
	s, err := w.api.issue(ctx, w.path)
	if err != nil {
		return nil, err
	}
	if s == nil || s.LeaseID == "" {
		return nil, driver.NewError(driver.InvalidArgument, errors.New("secret at "+w.path+" has no lease"))
	}
	now := time.Now()
	d := time.Duration(s.LeaseDuration) * time.Second
	l := &driver.Leased{
		Entry: &driver.Entry{
			Path:   w.path,
			Fields: leaseFields(s.Data),
			Lease:  &driver.Lease{ID: s.LeaseID, Duration: d, Renewable: s.Renewable},
		},
		Generation: gen,
		Issued:     now,
		Expires:    now.Add(d),
		Renewable:  s.Renewable,
	}
	w.mu.Lock()
	keep := w.alive[:0]
	for _, a := range w.alive {
		if now.Before(a.expires) {
			keep = append(keep, a)
		}
	}
	w.alive = append(keep, aliveLease{s.LeaseID, l.Expires})
	w.mu.Unlock()
	return l, nil
}

// schedule sets the phase for a freshly issued generation.
func (w *leaseWatcher) schedule(now time.Time, l *driver.Leased) {
	w.duration = l.Entry.Lease.Duration
	w.obtained = now
	w.attempt = 0
	if l.Entry.Lease.Duration <= 0 {
		w.next = time.Time{} // a lease without an end: nothing to do
		return
	}
	w.next = actAt(now, l.Expires.Sub(now), w.rnd())
	if l.Renewable {
		w.phase = phaseRenew
	} else {
		w.phase = phaseRotate
	}
}

func (w *leaseWatcher) loop(ctx context.Context) {
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
		now := time.Now()
		w.retireDue(now)
		if !w.next.IsZero() && !now.Before(w.next) {
			w.step(ctx)
		}
	}
}

// retireDue retires every old generation whose time has come.
func (w *leaseWatcher) retireDue(now time.Time) {
	keep := w.olds[:0]
	for _, o := range w.olds {
		if now.Before(o.at) {
			keep = append(keep, o)
			continue
		}
		w.retire(o.leased)
	}
	w.olds = keep
}

// retire marks l and everything older as no longer usable.
func (w *leaseWatcher) retire(l *driver.Leased) {
	if l.Generation < w.minValid.Load() {
		return
	}
	w.minValid.Store(l.Generation + 1)
	w.emit(driver.LeaseEvent{Kind: driver.LeaseRetired, Leased: l})
}

func (w *leaseWatcher) step(ctx context.Context) {
	cur := w.cur.Load()
	switch w.phase {
	case phaseRenew:
		w.renewStep(ctx, cur)
	case phaseRotate, phaseReissue:
		w.rotateStep(ctx, cur)
	}
}

func (w *leaseWatcher) renewStep(ctx context.Context, cur *driver.Leased) {
	inc := w.inc
	if inc == 0 {
		inc = w.duration
	}
	rctx, cancel := context.WithTimeout(ctx, leaseRequestTimeout)
	s, err := w.api.renew(rctx, cur.Entry.Lease.ID, inc)
	cancel()
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	if err != nil {
		w.emit(driver.LeaseEvent{Kind: driver.LeaseFailed, Leased: cur, Err: err})
		remaining := cur.Expires.Sub(now)
		switch {
		case leaseGone(err):
			// Revoked out of band, expired, or forgotten by a restarted
			// server: never renew it again; replace it now.
			w.setAlive(cur.Entry.Lease.ID, time.Time{})
			w.retire(cur)
			w.phase, w.next, w.attempt = phaseReissue, now, 0
		case notRenewable(err) || remaining < w.duration/6:
			// Renewal cannot (or did not in time) keep it alive: issue a
			// replacement while the current one still works. A renewal is
			// first tried at a third of the lease left, so retries get
			// half of that.
			w.phase, w.next, w.attempt = phaseRotate, now, 0
		default:
			w.attempt++
			w.next = now.Add(retryDelay(w.attempt, w.rnd(), remaining))
		}
		return
	}
	granted := time.Duration(s.LeaseDuration) * time.Second
	if granted <= 0 {
		// Nothing left to renew: replace it while it may still work.
		w.phase, w.next, w.attempt = phaseRotate, now, 0
		return
	}
	l := *cur
	l.Expires = now.Add(granted)
	l.Renewable = s.Renewable
	w.setAlive(l.Entry.Lease.ID, l.Expires)
	w.cur.Store(&l)
	w.attempt = 0
	w.emit(driver.LeaseEvent{Kind: driver.LeaseRenewed, Leased: &l})
	prev := lifetime{w.obtained, cur.Expires.Sub(w.obtained), cur.Renewable}
	w.obtained = now
	if mustReplace(prev, lifetime{now, granted, s.Renewable}, inc) {
		w.phase = phaseRotate
	}
	w.next = actAt(now, granted, w.rnd())
}

func (w *leaseWatcher) rotateStep(ctx context.Context, cur *driver.Leased) {
	l, err := w.issue(ctx, cur.Generation+1)
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	if err != nil {
		w.emit(driver.LeaseEvent{Kind: driver.LeaseFailed, Leased: cur, Err: err})
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
	w.cur.Store(l)
	w.emit(driver.LeaseEvent{Kind: driver.LeaseRotated, Leased: l, Previous: cur})
	if cur.Generation >= w.minValid.Load() {
		w.olds = append(w.olds, retiring{leased: cur, at: retireAt(now, cur.Expires)})
	}
	w.schedule(now, l)
}

// setAlive records a lease's new end; the zero time drops it (it is gone).
func (w *leaseWatcher) setAlive(id string, expires time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, a := range w.alive {
		if a.id == id {
			if expires.IsZero() {
				w.alive = append(w.alive[:i], w.alive[i+1:]...)
			} else {
				w.alive[i].expires = expires
			}
			return
		}
	}
}

func (w *leaseWatcher) emit(ev driver.LeaseEvent) {
	if w.notify != nil {
		w.notify(ev)
	}
}

// leaseGone reports whether a renewal failed because the lease no longer
// exists: Vault answers 400 "invalid lease ID", "lease not found" or
// "lease expired".
func leaseGone(err error) bool {
	return responseHas(err, 400, "invalid lease", "lease not found", "lease expired")
}

// notRenewable reports whether a renewal failed because the lease cannot be
// renewed (it still exists).
func notRenewable(err error) bool {
	return responseHas(err, 400, "not renewable")
}

func responseHas(err error, status int, substrs ...string) bool {
	re, ok := errors.AsType[*api.ResponseError](err)
	if !ok || re.StatusCode != status {
		return false
	}
	for _, e := range re.Errors {
		for _, s := range substrs {
			if strings.Contains(e, s) {
				return true
			}
		}
	}
	return false
}
