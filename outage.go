package vaultly

import (
	"context"
	"errors"
	"time"

	"github.com/vaultly/vaultly/internal/cache"
	"github.com/vaultly/vaultly/internal/entrycache"
	"github.com/vaultly/vaultly/internal/outage"
)

// OutagePolicy configures the Store's backend-wide view of an outage: a
// circuit breaker shared by every entry. See "Outages" in the README.
//
// Closed (the normal state), it costs an atomic load before each backend
// call and one or two after it. Threshold reads in a row that fail with
// Unavailable (after the backend's own failover: with hashivault and
// several addresses, every node failed), with no answer between, open
// it. While it is open:
//
//   - a read whose cached entry may be served stale (Options.StaleOnError)
//     gets it at once, without a backend call;
//   - no other call goes to the backend: one probe at a time does (a read
//     of the entry last asked for), after a jittered wait of 50–100ms
//     before the first, doubling up to ProbeMax, so the backend sees 2–4
//     requests per second from the whole Store, not one per entry;
//   - other reads, and Put, Delete and List, wait for the breaker to close
//     and then go out at once — within their caller's deadline and the
//     retry budget (Options.Retry), so no call fails sooner than it would
//     have without the breaker — or, with FailFast, fail at once with
//     Unavailable;
//   - the first probe answered (any answer but Unavailable: a value,
//     NotFound, PermissionDenied, ...) closes it, as does any answer to a
//     call that was in flight when it opened, and releases every waiter.
//
// Writes and lists never open the breaker (only reads do): a write that
// failed is retried under Options.Retry as before.
type OutagePolicy struct {
	// Threshold is the number of backend reads in a row, across the
	// Store, that fail with Unavailable, with no answer between, that
	// open the breaker. Default: 0 means 3; negative disables the breaker
	// (every entry retries alone, as Options.Retry says).
	Threshold int

	// ProbeMax caps the wait between two probes while the breaker is
	// open: the n-th wait is a random duration in [c/2, c) with
	// c = min(ProbeMax, 100ms × 2^(n-1)). It bounds how long a recovery
	// goes unseen (ProbeMax plus one request). Default: 0 means 500ms.
	ProbeMax time.Duration

	// FailFast makes calls that cannot be answered from the cache fail at
	// once with Unavailable while the breaker is open (the error says
	// since when and how many probes failed, and wraps the backend's last
	// error), instead of waiting for it to close. Calls that were already
	// waiting for a retry when it opened fail at their next attempt.
	// Default: false, wait (see the type's doc).
	FailFast bool
}

// newBreaker makes the Store's breaker.
func (s *Store) newBreaker(p *OutagePolicy) *outage.Breaker {
	if p == nil {
		p = &OutagePolicy{}
	}
	s.failFast = p.FailFast
	return outage.New(outage.Options{
		Threshold: p.Threshold,
		ProbeMax:  p.ProbeMax,
		Probe:     s.probe,
		Answered:  answered,
		OnOpen: func(since time.Time, last error) {
			s.log.Warn("vaultly: backend unavailable; one probe at a time until it answers", "backend", s.name, "code", CodeOf(last).String(), "error", last.Error())
		},
		OnClose: func(since time.Time, probes int) {
			s.log.Info("vaultly: backend answers again", "backend", s.name, "outage", time.Since(since), "failed_probes", probes)
			s.refreshSeeded()
		},
	})
}

// probe reads the entry last asked for while the breaker is open (or the
// one whose failure opened it).
func (s *Store) probe(ctx context.Context) error {
	es := s.probeAt.Load()
	if es == nil {
		return errNoProbe
	}
	s.st.calls.Add(1)
	_, err := s.b.Read(ctx, es.Path(), es.Version())
	return err
}

var errNoProbe = errors.New("nothing to probe")

// answered reports whether err is an answer from the backend, so that the
// backend is up: anything but an outage failure or a cancelled request.
func answered(err error) bool {
	switch CodeOf(err) {
	case Unavailable, Canceled, DeadlineExceeded:
		return false
	}
	return !errors.Is(err, errNoProbe)
}

// admit lets attempt number attempt of a backend call out: at once while
// the breaker is closed (one atomic load), else as OutagePolicy says. es,
// for a read, becomes the entry the next probe reads.
//
// While the breaker is open, each probe that fails counts as an attempt of
// every call waiting for it: a call with attempts left under
// Retry.MaxAttempts waits for at most that many probes (no bound by
// default: the caller's deadline and the retry budget end the wait).
func (s *Store) admit(ctx context.Context, es *slot, attempt int) error {
	if !s.out.Open() {
		return nil
	}
	return s.admitOpen(ctx, es, attempt)
}

func (s *Store) admitOpen(ctx context.Context, es *slot, attempt int) error {
	if es != nil {
		s.probeAt.Store(es)
	}
	probes := 0
	if m := s.retry.MaxAttempts; m > 0 {
		probes = max(m-attempt+1, 1)
	}
	if err := s.out.Admit(ctx, s.failFast, probes); err != nil {
		return openError(err)
	}
	return nil
}

// openError classifies what the breaker says while open.
func openError(err error) error { return &Error{Code: Unavailable, Err: err} }

// isOpenError reports whether err is the breaker's own answer (not a
// backend call's failure): it is not retried and not counted again.
func isOpenError(err error) bool {
	_, ok := errors.AsType[*outage.OpenError](err)
	return ok
}

// outcome tells the breaker how a backend call ended. es is the entry for
// a read, nil for a write or list (whose failures do not open it). Two
// atomic loads on success.
func (s *Store) outcome(err error, es *slot) {
	if err == nil {
		s.out.Success()
		if s.snap != nil {
			s.snap.mark()
		}
		return
	}
	s.outcomeErr(err, es)
}

func (s *Store) outcomeErr(err error, es *slot) {
	switch {
	case isOpenError(err):
	case CodeOf(err) == Unavailable:
		if es != nil {
			s.probeAt.Store(es)
			s.out.Failure(err)
		}
	case answered(err):
		s.out.Success()
	}
}

// staleNow serves es's cached entry at once, without a backend call, when
// the breaker is open and the entry may be served stale under ttl.
func (s *Store) staleNow(es *slot, ttl time.Duration) (*Entry, bool) {
	it := es.Item()
	if it == nil {
		return nil, false
	}
	now := time.Now()
	if !s.canServeStale(it, ttl, now) {
		return nil, false
	}
	s.probeAt.Store(es)
	s.st.stale.Add(1)
	it.MarkStale(now)
	return it.Value, true
}

// staleUsable reports whether es holds an entry that may be served stale
// under ttl now, so that a reader waiting for a read may leave when the
// breaker opens (see fetch).
func (s *Store) staleUsable(es *slot, ttl time.Duration) bool {
	if s.stale <= 0 && s.snap == nil {
		return false
	}
	it := es.Item()
	return it != nil && s.canServeStale(it, ttl, time.Now())
}

type slotItem = entrycache.Item[*Entry]

// canServeStale reports whether it may be served after a failed read
// (StaleOnError, or an entry from the offline snapshot within its MaxAge).
func (s *Store) canServeStale(it *slotItem, ttl time.Duration, now time.Time) bool {
	return cache.StaleUsable(now, it.Fetched, ttl, s.stale) || s.seededUsable(it, now)
}
