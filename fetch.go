package vaultly

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/entrycache"
	"github.com/vaultly/vaultly/retry"
)

// The fetch path: one backend read per flight, shared by every reader of
// the entry that joins it.
//
// The leader of a flight (the caller that began it) runs the read on its
// own goroutine when its context cannot be cancelled (ctx.Done() == nil),
// since it would wait for the result anyway; otherwise the read runs on a
// goroutine of the Store, so that the leader, like every other reader,
// leaves as soon as its own context ends. Either way the read runs under a
// flight context: detached from the leader's cancellation (its values
// kept), with the retry budget as its one deadline, and cancelled by Close.
// A flight context costs one allocation while no one asks for its Done
// channel (a backend that answers from memory never does); the channel, the
// deadline's timer and Close's hook are made on the first Done.

// fetch reads es from the backend, sharing the read in flight (single
// flight), and caches the result. With fresh, it shares only a read that
// begins after fetch was called. ctx only bounds how long this caller
// waits (see above).
//
// ttl is the caller's: a read that begins just after another has published
// an entry fresh under ttl serves that entry instead of reading again
// (never with fresh).
func (s *Store) fetch(ctx context.Context, op string, r Ref, es *slot, ttl time.Duration, fresh bool) (*Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.wrap(op, r.String(), err)
	}
	// A reader that may be served stale leaves when the outage breaker
	// opens (outage.go); so the read runs on a Store goroutine then.
	staleOK := !fresh && s.staleUsable(es, ttl)
	call, leader := es.Join(fresh)
	if leader {
		switch {
		case !s.track():
			s.c.Finish(es, call, nil, errClosed, false)
		case ctx.Done() == nil && !staleOK:
			s.run(ctx, es, call, ttl, fresh)
		default:
			go s.run(ctx, es, call, ttl, fresh)
		}
	}
	if !call.Ended() {
		var opened <-chan struct{}
		if staleOK {
			opened = s.out.Opened()
		}
		select {
		case <-call.Done():
		case <-ctx.Done():
			return nil, s.wrap(op, r.String(), ctx.Err())
		case <-opened:
			if err := s.out.Err(); err != nil {
				return nil, s.wrap(op, r.String(), openError(err))
			}
			select { // closed again meanwhile: the read goes out now
			case <-call.Done():
			case <-ctx.Done():
				return nil, s.wrap(op, r.String(), ctx.Err())
			}
		}
	}
	e, err := call.Result()
	if err != nil {
		return nil, WrapError(op, r.String(), s.name, err)
	}
	return e, nil
}

// run performs the read call stands for and finishes it. ctx is the
// leader's, for its values.
func (s *Store) run(ctx context.Context, es *slot, call *entrycache.Call[*Entry], ttl time.Duration, fresh bool) {
	defer s.wg.Done()
	if !fresh {
		if it := s.c.Fresh(es, ttl); it != nil {
			s.c.Finish(es, call, it.Value, nil, false)
			return
		}
	}
	begin := s.readSeq.Add(1)
	f := s.newFlight(ctx)
	e, err := s.load(f, es)
	f.end()
	s.c.Finish(es, call, e, err, s.ttl != NoCache)
	s.observe(es, e, err, begin)
}

var errClosed = driver.NewError(Canceled, errors.New("store is closed"))

func (s *Store) closedErr(op, ref string) error { return s.wrap(op, ref, errClosed) }

func (s *Store) isClosed() bool { return s.closedFlag.Load() }

// load performs the backend read with retries, under ctx (a flight, whose
// deadline is the retry budget's end: retry.Do need not look at the clock
// to set one).
func (s *Store) load(ctx context.Context, es *slot) (*Entry, error) {
	debug := s.log.Enabled(ctx, slog.LevelDebug)
	var start time.Time
	if debug {
		start = time.Now()
	}
	attempts := 0
	var e *driver.Entry
	ctx, span := s.tel.span(ctx, "read", es.Path())
	err := retry.Do(ctx, s.retryIn, func(ctx context.Context, attempt int) error {
		attempts = attempt
		if err := s.admit(ctx, es, attempt); err != nil {
			return err
		}
		s.st.calls.Add(1)
		begin := s.tel.start()
		var err error
		e, err = s.b.Read(ctx, es.Path(), es.Version())
		if err == nil && e == nil {
			err = driver.NewError(NotFound, errors.New("backend returned no entry"))
		}
		s.tel.done(ctx, opRead, es.Path(), begin, err)
		s.outcome(err, es)
		return err
	})
	endSpan(span, err)
	if err != nil {
		if s.ctx.Err() != nil && CodeOf(err) != NotFound {
			err = errClosed
		}
		s.st.errors.Add(1)
		if debug {
			s.log.Debug("vaultly: backend read failed", "backend", s.name, "path", es.Path(), "version", es.Version(), "code", CodeOf(err).String(), "attempts", attempts, "elapsed", time.Since(start))
		}
		return nil, err
	}
	if debug {
		s.log.Debug("vaultly: backend read", "backend", s.name, "path", es.Path(), "version", es.Version(), "attempts", attempts, "elapsed", time.Since(start))
	}
	return entryOf(e), nil
}

// flight is the context of one backend read (see the top of this file).
// Before Done is first called it answers from the Store's state and the
// deadline; after, it delegates to a context.WithDeadline of the leader's
// context without its cancellation, which Close cancels.
type flight struct {
	vals     context.Context // the leader's context, for its values
	det      detached        // vals without its cancellation: inner's parent
	s        *Store
	deadline time.Time // zero: none

	mu     sync.Mutex // guards making inner
	inner  atomic.Pointer[context.Context]
	cancel context.CancelFunc
}

func (s *Store) newFlight(ctx context.Context) *flight {
	f := &flight{vals: ctx, s: s}
	f.det.vals = ctx
	if b := s.retry.Budget; b >= 0 {
		if b == 0 {
			b = retry.DefaultBudget
		}
		f.deadline = time.Now().Add(b)
	}
	return f
}

// Deadline is the retry budget's end.
func (f *flight) Deadline() (time.Time, bool) { return f.deadline, !f.deadline.IsZero() }

// Done makes the inner context on first use.
func (f *flight) Done() <-chan struct{} {
	if in := f.inner.Load(); in != nil {
		return (*in).Done()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if in := f.inner.Load(); in != nil {
		return (*in).Done()
	}
	var in context.Context
	base := &f.det // context.WithoutCancel(f.vals), without an allocation
	if f.deadline.IsZero() {
		in, f.cancel = context.WithCancel(base)
	} else {
		in, f.cancel = context.WithDeadline(base, f.deadline)
	}
	f.inner.Store(&in)
	f.s.addFlight(f)
	return in.Done()
}

// Err is the inner context's, or, before there is one, Canceled after
// Close. (Before Done is asked for, nothing is closed at the deadline, so
// Err need not report it; a Done asked for past the deadline is closed at
// once and Err then says DeadlineExceeded. The backend's attempts are
// bounded by the deadline either way: retry.Do reads it.)
func (f *flight) Err() error {
	if in := f.inner.Load(); in != nil {
		return (*in).Err()
	}
	if f.s.ctx.Err() != nil {
		return context.Canceled
	}
	return nil
}

// Value is the leader's value for key. Once the inner context exists it
// answers, so that contexts derived from the flight find the inner
// context's cancellation (and start no goroutine to watch the flight).
func (f *flight) Value(key any) any {
	if in := f.inner.Load(); in != nil {
		return (*in).Value(key)
	}
	return f.vals.Value(key)
}

// end releases what Done made; the flight's read is over.
func (f *flight) end() {
	if f.inner.Load() == nil {
		return
	}
	f.cancel()
	f.s.fmu.Lock()
	delete(f.s.flights, f)
	f.s.fmu.Unlock()
}

// addFlight lets Close cancel f; a flight made after Close is cancelled at
// once.
func (s *Store) addFlight(f *flight) {
	s.fmu.Lock()
	if s.flights == nil {
		s.flights = map[*flight]struct{}{}
	}
	s.flights[f] = struct{}{}
	s.fmu.Unlock()
	if s.ctx.Err() != nil {
		f.cancel()
	}
}

// cancelFlights cancels the reads in flight (Close, after s.ctx).
func (s *Store) cancelFlights() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	for f := range s.flights {
		f.cancel()
	}
}

// detached is a context with the values of vals and no cancellation or
// deadline, like context.WithoutCancel, kept inside a flight.
type detached struct{ vals context.Context }

func (d *detached) Deadline() (time.Time, bool) { return time.Time{}, false }
func (d *detached) Done() <-chan struct{}       { return nil }
func (d *detached) Err() error                  { return nil }
func (d *detached) Value(key any) any           { return d.vals.Value(key) }
