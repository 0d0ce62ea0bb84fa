package vaultly

import (
	"time"
)

// Freshness says how fresh the cached value of a reference is: when it was
// read from the backend, when a watch last confirmed it unchanged, and
// whether it is being served stale after a failed read. It holds no value.
type Freshness struct {
	Path    string
	Version int // the version asked for (0: latest)

	// Cached reports whether an entry is cached for the reference; the
	// times below are zero when it is not.
	Cached bool
	// ReadAt is when the cached entry was read from the backend.
	ReadAt time.Time
	// EntryVersion is the version the cached entry has (0: the backend
	// keeps none).
	EntryVersion int
	// ConfirmedAt is the last time a watch's poll found the entry
	// unchanged in the backend (zero: never, e.g. not watched, or the
	// backend is polled by reading, which moves ReadAt instead).
	ConfirmedAt time.Time
	// StaleSince is when the cached entry was first served stale because
	// reading it again failed (Options.StaleOnError); zero when it is not
	// stale.
	StaleSince time.Time

	// Watched reports whether the entry is watched; Interval is its poll
	// interval, LastPoll the time of the last poll and PollFailures the
	// polls failed in a row (LastError the last failure, a *Error).
	Watched      bool
	Interval     time.Duration
	LastPoll     time.Time
	PollFailures int
	LastError    error
}

// KnownAt is the last time the value was known to be current: the later of
// ReadAt and ConfirmedAt.
func (f Freshness) KnownAt() time.Time {
	if f.ConfirmedAt.After(f.ReadAt) {
		return f.ConfirmedAt
	}
	return f.ReadAt
}

// Age is how long before now the value was last known to be current (0
// when nothing is cached).
func (f Freshness) Age(now time.Time) time.Duration {
	if !f.Cached {
		return 0
	}
	return now.Sub(f.KnownAt())
}

// Freshness reports how fresh the cached entry of ref ("path[:key]", the
// key is ignored; "vault://path?version=N" for a pinned version) is. It
// sends no request and caches nothing; a malformed reference is an
// InvalidArgument error.
func (s *Store) Freshness(ref string) (Freshness, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return Freshness{}, s.wrap("freshness", "", err)
	}
	f := Freshness{Path: r.Path, Version: r.Version}
	if es := s.c.Find(r.Path, r.Version); es != nil {
		if it := es.Item(); it != nil {
			f.Cached = true
			f.ReadAt = it.Fetched
			f.EntryVersion = it.Value.Version
			f.ConfirmedAt = it.Confirmed()
			f.StaleSince = it.StaleSince()
		}
	}
	if r.Version == 0 {
		if w, ok := s.watch.m.Load(r.Path); ok {
			f.Watched = true
			f.Interval = w.interval()
			w.mu.Lock()
			f.LastPoll, f.PollFailures, f.LastError = w.lastPoll, w.failures, w.lastErr
			w.mu.Unlock()
		}
	}
	return f, nil
}
