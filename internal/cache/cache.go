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

// Map is a concurrent map from string keys to values of type V, built for
// many more reads than writes, and for millions of keys. It is a typed
// sync.Map, which since Go 1.24 is a concurrent hash-trie: a read is a few
// atomic loads down the trie, takes no lock and allocates nothing; a write
// locks one trie node and allocates one leaf, so it costs O(log Len) and
// filling the map is linear, not quadratic as a copy-on-write snapshot map
// would be. Len is kept in a counter.
//
// The zero Map is ready to use.
type Map[V comparable] struct {
	m sync.Map
	n atomic.Int64
}

// Load returns the value stored under key, if any.
func (m *Map[V]) Load(key string) (V, bool) {
	v, ok := m.m.Load(key)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

// LoadOrStore returns the value under key if there is one (loaded true);
// otherwise it stores v and returns it.
func (m *Map[V]) LoadOrStore(key string, v V) (actual V, loaded bool) {
	a, loaded := m.m.LoadOrStore(key, v)
	if !loaded {
		m.n.Add(1)
	}
	return a.(V), loaded
}

// Delete removes key and returns the value it had, if any.
func (m *Map[V]) Delete(key string) (V, bool) {
	return m.CompareAndDelete(key, nil)
}

// CompareAndDelete removes key if match is nil or match(current) reports
// true, and returns the removed value.
func (m *Map[V]) CompareAndDelete(key string, match func(V) bool) (V, bool) {
	var zero V
	for {
		a, ok := m.m.Load(key)
		if !ok {
			return zero, false
		}
		cur := a.(V)
		if match != nil && !match(cur) {
			return zero, false
		}
		if m.m.CompareAndDelete(key, cur) {
			m.n.Add(-1)
			return cur, true
		}
		// Replaced or deleted meanwhile: look again.
	}
}

// Range calls fn for every key and value present, until fn returns false.
// fn may call other Map methods. Range sees each key at most once; keys
// stored or deleted during Range may or may not be seen.
func (m *Map[V]) Range(fn func(key string, v V) bool) {
	m.m.Range(func(k, v any) bool { return fn(k.(string), v.(V)) })
}

// Len returns the number of keys.
func (m *Map[V]) Len() int { return int(m.n.Load()) }

// Clear removes every key.
func (m *Map[V]) Clear() {
	m.m.Range(func(k, v any) bool {
		if m.m.CompareAndDelete(k, v) {
			m.n.Add(-1)
		}
		return true
	})
}
