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
// many more reads than writes. A read is an atomic load of a shard's
// immutable snapshot plus an ordinary map lookup: no lock, no allocation,
// no write to shared memory, so reads scale with CPUs. A write copies one of
// 64 shards (copy-on-write), so it costs O(Len/64).
//
// The zero Map is ready to use.
type Map[V any] struct {
	shards [shardCount]shard[V]
	n      atomic.Int64
}

type shard[V any] struct {
	mu   sync.Mutex // serialises writers of this shard
	snap atomic.Pointer[map[string]V]
	_    [48]byte // keep shards on separate cache lines
}

// shard picks a shard from a few bytes of the key. It only spreads writes;
// the map inside hashes the whole key. A poor spread makes writes slower,
// never reads wrong.
func (m *Map[V]) shard(key string) *shard[V] {
	n := len(key)
	h := uint(n)
	if n > 0 {
		h = h*31 + uint(key[n-1])
		h = h*31 + uint(key[n/2])
		h = h*31 + uint(key[n/4])
		h = h*31 + uint(key[(3*n)/4])
	}
	return &m.shards[h%shardCount]
}

// Load returns the value stored under key, if any.
func (m *Map[V]) Load(key string) (V, bool) {
	if p := m.shard(key).snap.Load(); p != nil {
		v, ok := (*p)[key]
		return v, ok
	}
	var zero V
	return zero, false
}

// LoadOrStore returns the value under key if there is one (loaded true);
// otherwise it stores v and returns it.
func (m *Map[V]) LoadOrStore(key string, v V) (actual V, loaded bool) {
	s := m.shard(key)
	if p := s.snap.Load(); p != nil {
		if old, ok := (*p)[key]; ok {
			return old, true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	if old != nil {
		if cur, ok := (*old)[key]; ok {
			return cur, true
		}
	}
	next := make(map[string]V, mapLen(old)+1)
	if old != nil {
		for k, x := range *old {
			next[k] = x
		}
	}
	next[key] = v
	s.snap.Store(&next)
	m.n.Add(1)
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
	if p := s.snap.Load(); p == nil {
		return zero, false
	} else if _, ok := (*p)[key]; !ok {
		return zero, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	cur, ok := (*old)[key]
	if !ok || (match != nil && !match(cur)) {
		return zero, false
	}
	next := make(map[string]V, len(*old))
	for k, x := range *old {
		if k != key {
			next[k] = x
		}
	}
	s.snap.Store(&next)
	m.n.Add(-1)
	return cur, true
}

// Range calls fn for every key and value present in a snapshot of each
// shard, until fn returns false. fn may call other Map methods.
func (m *Map[V]) Range(fn func(key string, v V) bool) {
	for i := range m.shards {
		p := m.shards[i].snap.Load()
		if p == nil {
			continue
		}
		for k, v := range *p {
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
		if p := s.snap.Load(); p != nil {
			m.n.Add(-int64(len(*p)))
			s.snap.Store(nil)
		}
		s.mu.Unlock()
	}
}

func mapLen[V any](p *map[string]V) int {
	if p == nil {
		return 0
	}
	return len(*p)
}
