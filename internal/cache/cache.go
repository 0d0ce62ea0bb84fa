// Package cache holds the mechanisms behind vaultly's Store cache that know
// nothing about Vault: a concurrent string-keyed map whose reads take no lock
// and allocate nothing, and the pure functions that decide freshness,
// refresh-ahead and stale serving.
//
// A *Map is safe for concurrent use; it starts no goroutines and needs no
// Close.
package cache

import (
	"sync"
	"sync/atomic"
)

const shardCount = 64

// Map is a concurrent map from string keys to values of type V, built for
// many more reads than writes and for millions of keys.
//
// Each of its 64 shards is an immutable Go map (the snapshot), read with
// one atomic load and no lock, plus a small overlay of the keys stored and
// deleted since, under the shard's mutex. A write goes to the overlay; the
// overlay is folded into a new snapshot (one copy of the shard) once it
// holds an eighth of the snapshot, or once reads of its keys add up to as
// many, so every key costs a constant number of copies however large the
// map grows: filling it is linear (a copy-on-write map, which copies a
// shard on every write, is quadratic). Compact folds every overlay at once, so
// that a batch of deletes costs one copy per shard.
//
// A read of a key that is in a snapshot, in a shard with no deletes
// pending, and a read of a key that is nowhere, in a shard with no stores
// pending, take no lock, write no shared memory and allocate nothing; other
// reads take the shard's mutex (a hit in the overlay counts towards the
// next fold).
//
// The zero Map is ready to use.
type Map[V comparable] struct {
	shards [shardCount]shard[V]
	n      atomic.Int64
}

type shard[V comparable] struct {
	snap atomic.Pointer[map[string]V] // immutable; nil: empty
	// nadded and ngone are len(added) and len(gone): while ngone is 0 a
	// snapshot hit is a hit, while nadded is 0 a snapshot miss is a miss.
	nadded, ngone atomic.Int64

	mu    sync.Mutex
	added map[string]V        // stored since the snapshot (not in it, or in gone)
	gone  map[string]struct{} // deleted since, still in the snapshot
	reads int                 // reads of added keys since the last fold
	_     [24]byte
}

// shard picks a shard from a few bytes of the key. It only spreads the
// keys; each map hashes the whole key. A poor spread makes writes slower,
// never reads wrong.
func (m *Map[V]) shard(key string) *shard[V] {
	n := len(key)
	h := uint(n)
	if n > 0 {
		h = h*31 + uint(key[n-1])
		h = h*31 + uint(key[n/2])
		h = h*31 + uint(key[n/4])
		h = h*31 + uint(key[(3*n)/4])
		h = h*31 + uint(key[n-1-n/8])
	}
	return &m.shards[h%shardCount]
}

// Load returns the value stored under key, if any.
func (m *Map[V]) Load(key string) (V, bool) {
	s := m.shard(key)
	for {
		p := s.snap.Load()
		var v V
		var ok bool
		if p != nil {
			v, ok = (*p)[key]
		}
		if ok && s.ngone.Load() != 0 || !ok && s.nadded.Load() != 0 {
			break
		}
		// The overlay cannot change the answer, and the snapshot read is
		// still the current one (a fold since may have made a new one).
		if s.snap.Load() == p {
			return v, ok
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.added[key]; ok {
		// A hit that a fold would make lock-free: hits add up to a fold,
		// so that a key read often does not stay behind the mutex. (Misses
		// do not count: a fill would fold at every few reads.)
		s.reads++
		s.maybeFold()
		return v, true
	}
	return s.loadLocked(key)
}

func (s *shard[V]) loadLocked(key string) (V, bool) {
	if v, ok := s.added[key]; ok {
		return v, true
	}
	var zero V
	if _, ok := s.gone[key]; ok {
		return zero, false
	}
	if p := s.snap.Load(); p != nil {
		v, ok := (*p)[key]
		return v, ok
	}
	return zero, false
}

func snapLen[V comparable](p *map[string]V) int {
	if p == nil {
		return 0
	}
	return len(*p)
}

// maybeFold folds the overlay into a new snapshot once it, or the reads of
// its keys, reach an eighth of the snapshot (at least 8).
func (s *shard[V]) maybeFold() {
	limit := max(snapLen(s.snap.Load())/8, 8)
	if len(s.added)+len(s.gone) >= limit || (s.reads >= limit && len(s.added)+len(s.gone) > 0) {
		s.fold()
	}
}

// fold makes the new snapshot: the old one without gone, with added.
func (s *shard[V]) fold() {
	old := s.snap.Load()
	if len(s.added) == 0 && len(s.gone) == 0 {
		s.reads = 0
		return
	}
	next := make(map[string]V, snapLen(old)-len(s.gone)+len(s.added))
	if old != nil {
		for k, v := range *old {
			if _, g := s.gone[k]; !g {
				next[k] = v
			}
		}
	}
	for k, v := range s.added {
		next[k] = v
	}
	s.snap.Store(&next)
	s.added, s.gone, s.reads = nil, nil, 0
	s.nadded.Store(0)
	s.ngone.Store(0)
}

// LoadOrStore returns the value under key if there is one (loaded true);
// otherwise it stores v and returns it.
func (m *Map[V]) LoadOrStore(key string, v V) (actual V, loaded bool) {
	s := m.shard(key)
	if p := s.snap.Load(); p != nil && s.ngone.Load() == 0 {
		if old, ok := (*p)[key]; ok && s.snap.Load() == p {
			return old, true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.loadLocked(key); ok {
		return cur, true
	}
	if s.added == nil {
		s.added = map[string]V{}
	}
	s.added[key] = v
	s.nadded.Add(1)
	m.n.Add(1)
	s.maybeFold()
	return v, false
}

// Delete removes key and returns the value it had, if any.
func (m *Map[V]) Delete(key string) (V, bool) {
	return m.CompareAndDelete(key, nil)
}

// CompareAndDelete removes key if match is nil or match(current) reports
// true, and returns the removed value.
func (m *Map[V]) CompareAndDelete(key string, match func(V) bool) (V, bool) {
	var zero V
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.loadLocked(key)
	if !ok || (match != nil && !match(cur)) {
		return zero, false
	}
	if _, in := s.added[key]; in {
		delete(s.added, key)
		s.nadded.Add(-1)
	}
	if p := s.snap.Load(); p != nil {
		if _, in := (*p)[key]; in {
			if s.gone == nil {
				s.gone = map[string]struct{}{}
			}
			s.gone[key] = struct{}{}
			s.ngone.Add(1)
		}
	}
	m.n.Add(-1)
	s.maybeFold()
	return cur, true
}

// Compact folds every shard's pending writes into its snapshot now: after
// a batch of deletes, one copy per shard that has any.
func (m *Map[V]) Compact() {
	for i := range m.shards {
		s := &m.shards[i]
		if s.nadded.Load() == 0 && s.ngone.Load() == 0 {
			continue
		}
		s.mu.Lock()
		s.fold()
		s.mu.Unlock()
	}
}

// Range calls fn for every key and value present, until fn returns false.
// It sees each shard as it was when Range reached it; fn may call other Map
// methods.
func (m *Map[V]) Range(fn func(key string, v V) bool) {
	for i := range m.shards {
		s := &m.shards[i]
		p := s.snap.Load()
		var added map[string]V
		var gone map[string]struct{}
		if s.nadded.Load() != 0 || s.ngone.Load() != 0 {
			s.mu.Lock()
			p = s.snap.Load()
			if len(s.added) > 0 {
				added = make(map[string]V, len(s.added))
				for k, v := range s.added {
					added[k] = v
				}
			}
			if len(s.gone) > 0 {
				gone = make(map[string]struct{}, len(s.gone))
				for k := range s.gone {
					gone[k] = struct{}{}
				}
			}
			s.mu.Unlock()
		}
		if p != nil {
			for k, v := range *p {
				if _, g := gone[k]; g {
					continue
				}
				if _, a := added[k]; a {
					continue // re-added: seen below
				}
				if !fn(k, v) {
					return
				}
			}
		}
		for k, v := range added {
			if !fn(k, v) {
				return
			}
		}
	}
}

// Len returns the number of keys.
func (m *Map[V]) Len() int { return int(m.n.Load()) }

// Clear removes every key.
func (m *Map[V]) Clear() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n := snapLen(s.snap.Load()) - len(s.gone) + len(s.added)
		s.snap.Store(nil)
		s.added, s.gone, s.reads = nil, nil, 0
		s.nadded.Store(0)
		s.ngone.Store(0)
		m.n.Add(-int64(n))
		s.mu.Unlock()
	}
}
