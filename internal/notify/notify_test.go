package notify

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestListeners(t *testing.T) {
	var l Listeners
	var got []string
	rec := func(name string) func(string) {
		return func(p string) { got = append(got, name+":"+p) }
	}
	l.Notify("nobody") // empty: nothing happens
	removeA := l.Add(rec("a"))
	removeB := l.Add(rec("b"))
	removeA2 := l.Add(rec("a")) // the same function twice is two registrations
	l.Notify("p1")
	removeA()
	removeA() // twice is fine
	l.Notify("p2")
	removeB()
	removeA2()
	l.Notify("p3")
	want := []string{"a:p1", "b:p1", "a:p1", "b:p2", "a:p2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if n := l.Len(); n != 0 {
		t.Errorf("Len() after removing all = %d, want 0", n)
	}
}

// TestListenersConcurrent runs Add, remove and Notify together (for -race):
// a registration never removed is called by every Notify.
func TestListenersConcurrent(t *testing.T) {
	var l Listeners
	var mu sync.Mutex
	kept := 0
	l.Add(func(string) { mu.Lock(); kept++; mu.Unlock() })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				rm := l.Add(func(string) {})
				l.Notify("p")
				rm()
			}
		})
	}
	wg.Wait()
	if kept != 8*200 {
		t.Errorf("the kept listener was called %d times, want %d", kept, 8*200)
	}
	if n := l.Len(); n != 1 {
		t.Errorf("Len() = %d, want 1", n)
	}
}
