// Package notify is the registry behind every driver.ChangeNotifier: a set
// of functions called with the path of each change, where each registration
// returns its own remove function.
//
// A *Listeners is safe for concurrent use; its zero value is empty and
// ready. It starts nothing and needs no closing.
package notify

import (
	"slices"
	"sync"
)

// Listeners is a set of change functions.
type Listeners struct {
	mu sync.Mutex
	ls []*listener // elements below len are never changed in place: Notify reads them unlocked
}

type listener struct{ fn func(path string) }

// Add registers fn and returns a function that removes it. Each Add is a
// registration of its own, even for the same fn; remove may be called more
// than once.
func (l *Listeners) Add(fn func(path string)) (remove func()) {
	e := &listener{fn: fn}
	l.mu.Lock()
	l.ls = append(l.ls, e)
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if i := slices.Index(l.ls, e); i >= 0 {
			// A copy: a Notify in progress may be reading the old slice.
			l.ls = slices.Delete(slices.Clone(l.ls), i, i+1)
		}
	}
}

// Notify calls every registered function with path, in the order they were
// added, outside the lock: a function removed while Notify runs may still be
// called by that Notify, never by one that starts after its remove returned.
func (l *Listeners) Notify(path string) {
	l.mu.Lock()
	ls := l.ls
	l.mu.Unlock()
	for _, e := range ls {
		e.fn(path)
	}
}

// Len returns the number of registered functions.
func (l *Listeners) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ls)
}
