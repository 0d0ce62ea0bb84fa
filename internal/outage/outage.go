// Package outage is the backend-wide view of an outage that the Store
// keeps: a circuit breaker shared by every entry of one backend.
//
// While it is closed, every backend call goes out as usual and the only
// cost is an atomic load before the call and one or two after it. Threshold
// failed calls in a row (outage failures, with no answer between) open it.
// While it is open, no call goes to the backend except one probe at a time,
// sent by the breaker's own goroutine after a jittered wait (ProbeDelay);
// callers either wait for the breaker to close (Admit with a context that
// bounds the wait) or are told at once (Admit with failFast). The first
// probe, or any call that was already in flight, that gets an answer closes
// the breaker and releases every waiter at once.
//
// What counts as an outage failure and what as an answer is the owner's
// decision (Failure, Success); the breaker knows nothing about backends.
//
// A *Breaker is safe for concurrent use. It starts one goroutine, the
// prober, each time it opens; the prober ends when the breaker closes, and
// Close stops it and waits for it.
package outage

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultly/vaultly/internal/errs"
)

// Defaults for zero Options fields.
const (
	DefaultThreshold    = 3
	DefaultProbeInitial = 100 * time.Millisecond
	DefaultProbeMax     = 500 * time.Millisecond
	DefaultProbeTimeout = 5 * time.Second
)

// Options configures a Breaker.
type Options struct {
	// Threshold is the number of outage failures in a row, with no answer
	// between, that opens the breaker. Default: 0 means 3; negative
	// disables the breaker (it never opens).
	Threshold int
	// ProbeInitial is the cap of the wait before the first probe; each
	// later cap doubles. Default: 0 means 100ms.
	ProbeInitial time.Duration
	// ProbeMax caps the wait between two probes. Default: 0 means 500ms.
	ProbeMax time.Duration
	// ProbeTimeout bounds one probe. Default: 0 means 5s.
	ProbeTimeout time.Duration
	// Probe sends one probe and returns its outcome: nil or an error for
	// which Answered (below) is true close the breaker. Required unless
	// the breaker is disabled.
	Probe func(ctx context.Context) error
	// Answered reports whether a probe's error is an answer from the
	// backend (it is up) rather than another outage failure. Default: nil
	// means only a nil error is an answer.
	Answered func(err error) bool
	// OnOpen and OnClose, if set, are called when the breaker opens and
	// closes (outside any lock; they must not block). Default: nil.
	OnOpen  func(since time.Time, last error)
	OnClose func(since time.Time, probes int)
}

// Breaker is the shared outage state of one backend. The zero value is not
// usable; make one with New.
type Breaker struct {
	open  atomic.Bool  // read before every call
	fails atomic.Int32 // outage failures in a row while closed

	threshold      int32
	initial, maxD  time.Duration
	probeTimeout   time.Duration
	probe          func(context.Context) error
	answered       func(error) bool
	onOpen         func(time.Time, error)
	onClose        func(time.Time, int)
	opened, probes atomic.Uint64 // counters: times opened, probes sent

	mu      sync.Mutex
	since   time.Time     // when it opened (while open)
	last    error         // the last outage failure (while open)
	failed  int           // probes that failed in this episode
	release chan struct{} // closed when the breaker closes; made when it opens
	opening chan struct{} // closed when the breaker next opens; made on demand
	tick    chan struct{} // closed by the next failed probe; made on demand
	closed  bool          // Close was called

	ctx    context.Context // cancelled by Close; the prober's parent
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a closed Breaker.
func New(o Options) *Breaker {
	b := &Breaker{initial: o.ProbeInitial, maxD: o.ProbeMax, probeTimeout: o.ProbeTimeout,
		probe: o.Probe, answered: o.Answered, onOpen: o.OnOpen, onClose: o.OnClose}
	switch {
	case o.Threshold < 0 || o.Probe == nil:
		b.threshold = -1
	case o.Threshold == 0:
		b.threshold = DefaultThreshold
	default:
		b.threshold = int32(min(o.Threshold, 1<<30))
	}
	if b.initial <= 0 {
		b.initial = DefaultProbeInitial
	}
	if b.maxD <= 0 {
		b.maxD = DefaultProbeMax
	}
	if b.probeTimeout <= 0 {
		b.probeTimeout = DefaultProbeTimeout
	}
	if b.answered == nil {
		b.answered = func(err error) bool { return err == nil }
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b
}

// ProbeDelay is the wait before the n-th probe of an outage (1 for the
// first): a random point in [c/2, c), where c = min(max, initial × 2^(n-1))
// and r in [0, 1) picks the point. Half the cap at least, so that probes
// stay at most a few per second; random within it, so that clients that
// saw the outage together do not probe together. A pure function.
func ProbeDelay(n int, r float64, initial, maxD time.Duration) time.Duration {
	if n < 1 {
		n = 1
	}
	c := maxD
	if n <= 62 {
		if d := initial << (n - 1); d > 0 && d < maxD && d>>(n-1) == initial {
			c = d
		}
	}
	r = min(max(r, 0), 1)
	d := c/2 + time.Duration(r*float64(c/2))
	return min(d, c-1)
}

// Open reports whether the breaker is open. One atomic load.
func (b *Breaker) Open() bool { return b.open.Load() }

// Admit returns nil at once while the breaker is closed: the call may go
// out. While it is open, with failFast it returns an *OpenError at once;
// otherwise it waits until the breaker closes (nil: go now), ctx ends, or
// probes probes have failed since the wait began (an *OpenError); probes
// <= 0 means no bound on probes.
func (b *Breaker) Admit(ctx context.Context, failFast bool, probes int) error {
	if !b.open.Load() {
		return nil
	}
	return b.wait(ctx, failFast, probes)
}

func (b *Breaker) wait(ctx context.Context, failFast bool, probes int) error {
	b.mu.Lock()
	if !b.open.Load() {
		b.mu.Unlock()
		return nil
	}
	if failFast {
		defer b.mu.Unlock()
		return b.openError()
	}
	rel, tick := b.release, b.tickChan()
	b.mu.Unlock()
	for seen := 0; ; {
		select {
		case <-rel:
			return nil
		case <-ctx.Done():
		case <-tick:
			if seen++; probes <= 0 || seen < probes {
				b.mu.Lock()
				if b.release != rel {
					b.mu.Unlock()
					return nil
				}
				tick = b.tickChan()
				b.mu.Unlock()
				continue
			}
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.release != rel {
			return nil // closed meanwhile: go
		}
		return b.openError()
	}
}

// tickChan returns the channel closed by the next failed probe; b.mu is
// held and the breaker is open.
func (b *Breaker) tickChan() chan struct{} {
	if b.tick == nil {
		b.tick = make(chan struct{})
	}
	return b.tick
}

// Err returns the *OpenError a call would be told now, or nil while the
// breaker is closed.
func (b *Breaker) Err() error {
	if !b.open.Load() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open.Load() {
		return nil
	}
	return b.openError()
}

// openError describes the open breaker; b.mu is held.
func (b *Breaker) openError() *OpenError {
	return &OpenError{Since: b.since, Probes: b.failed, Last: b.last}
}

// Opened returns a channel that is closed when the breaker opens (at once
// if it is open). A waiter that could do without the backend (serve a
// stale value) selects on it. The channel is shared by every caller
// until the breaker opens.
func (b *Breaker) Opened() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open.Load() {
		return closedChan
	}
	if b.opening == nil {
		b.opening = make(chan struct{})
	}
	return b.opening
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Success records an answer from the backend: it clears the failure count
// and closes the breaker if it is open. Two atomic loads when there is
// nothing to do.
func (b *Breaker) Success() {
	if b.fails.Load() != 0 || b.open.Load() {
		b.succeed(0, true)
	}
}

// succeed closes the breaker; probes is the count to report (0 unless a
// probe closed it); notify calls OnClose.
func (b *Breaker) succeed(probes int, notify bool) {
	b.fails.Store(0)
	b.mu.Lock()
	if !b.open.Load() {
		b.mu.Unlock()
		return
	}
	since := b.since
	if probes == 0 {
		probes = b.failed
	}
	b.open.Store(false)
	close(b.release)
	if b.tick != nil {
		close(b.tick)
	}
	b.release, b.tick, b.last, b.since, b.failed = nil, nil, nil, time.Time{}, 0
	b.mu.Unlock()
	if notify && b.onClose != nil {
		b.onClose(since, probes)
	}
}

// Failure records an outage failure of a call (err is kept for the
// *OpenError callers get). The Threshold-th in a row opens the breaker
// and starts the prober. While the breaker is open it only updates the
// last error.
func (b *Breaker) Failure(err error) {
	if b.threshold < 0 {
		return
	}
	if b.open.Load() {
		b.mu.Lock()
		if b.open.Load() {
			b.last = err
		}
		b.mu.Unlock()
		return
	}
	if b.fails.Add(1) < b.threshold {
		return
	}
	b.mu.Lock()
	if b.open.Load() || b.closed || b.fails.Load() < b.threshold {
		b.mu.Unlock()
		return
	}
	now := time.Now()
	b.since, b.last, b.failed = now, err, 0
	b.release = make(chan struct{})
	b.open.Store(true)
	b.opened.Add(1)
	if b.opening != nil {
		close(b.opening)
		b.opening = nil
	}
	b.wg.Add(1)
	rel := b.release
	b.mu.Unlock()
	go b.prober(rel)
	if b.onOpen != nil {
		b.onOpen(now, err)
	}
}

// prober sends one probe at a time until one is answered, the breaker
// closes (rel) or Close.
func (b *Breaker) prober(rel chan struct{}) {
	defer b.wg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for n := 1; ; n++ {
		t.Reset(ProbeDelay(n, rand.Float64(), b.initial, b.maxD))
		select {
		case <-rel:
			return
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		b.probes.Add(1)
		ctx, cancel := context.WithTimeout(b.ctx, b.probeTimeout)
		err := b.callProbe(ctx)
		cancel()
		if b.ctx.Err() != nil {
			return
		}
		if b.answered(err) {
			b.succeed(n, true)
			return
		}
		b.mu.Lock()
		if b.release != rel { // closed (and maybe reopened) meanwhile
			b.mu.Unlock()
			return
		}
		b.failed, b.last = n, err
		if b.tick != nil {
			close(b.tick)
			b.tick = nil
		}
		b.mu.Unlock()
	}
}

// callProbe runs the owner's probe; a panic counts as a failed probe.
func (b *Breaker) callProbe(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errProbePanicked
		}
	}()
	return b.probe(ctx)
}

var errProbePanicked = errors.New("outage probe panicked")

// State is a snapshot of the breaker.
type State struct {
	Open   bool
	Since  time.Time // when it opened; zero while closed
	Probes int       // probes that failed since it opened
	Last   error     // the last outage failure while open; nil while closed
	Opened uint64    // times it opened since New
	Sent   uint64    // probes sent since New
}

// State returns a snapshot of the breaker.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return State{Open: b.open.Load(), Since: b.since, Probes: b.failed, Last: b.last,
		Opened: b.opened.Load(), Sent: b.probes.Load()}
}

// Close stops the prober and waits for it, and releases every waiter (as
// if the backend had answered: their calls then fail on their own; OnClose
// is not called). The breaker never opens again. Idempotent.
func (b *Breaker) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	b.succeed(0, false)
}

// OpenError is what a call is told while the breaker is open: since when
// the backend has been unavailable, how many probes failed and the last
// failure (the backend's own error, which names no secret).
type OpenError struct {
	Since  time.Time
	Probes int
	Last   error
}

// Error is one line: "backend unavailable since 15:04:05.000 (3 probes
// failed): <last>".
func (e *OpenError) Error() string {
	s := "backend unavailable since " + e.Since.Format("15:04:05.000") + " (outage: one probe at a time, " + strconv.Itoa(e.Probes) + " failed)"
	if e.Last != nil {
		s += ": " + causeText(e.Last)
	}
	return s
}

// causeText is err's text without the "code: " a classified error puts in
// front (the caller's error carries the code once).
func causeText(err error) string {
	if e, ok := err.(*errs.Error); ok && e.Err != nil && e.Op == "" && e.Ref == "" && e.Backend == "" {
		return e.Err.Error()
	}
	return err.Error()
}

// Unwrap returns the last failure.
func (e *OpenError) Unwrap() error { return e.Last }
