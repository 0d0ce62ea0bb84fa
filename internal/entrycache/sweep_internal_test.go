package entrycache

import (
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// TestSweepOffCallerPath: the Slot call that crosses MaxEntries returns
// while a sweep cannot run (held at a gate), evicting nothing itself;
// the sweeper then evicts in the background with no further call.
func TestSweepOffCallerPath(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := New(Options[map[string]string]{TTL: time.Hour, MaxEntries: 10,
			Field: func(m map[string]string, k string) (string, bool) { v, ok := m[k]; return v, ok }})
		gate := make(chan struct{})
		c.beforeSweep = func() { <-gate }
		defer c.Close()
		for i := range 10 {
			s := c.Slot("k"+strconv.Itoa(i), 0)
			call, _ := s.Join(false)
			c.Finish(s, call, map[string]string{"value": "v"}, nil, true)
		}
		c.Slot("k10", 0) // crosses the bound; must not wait for the sweep
		synctest.Wait()  // the sweeper is held at the gate
		if got := c.Evictions(); got != 0 {
			t.Errorf("Evictions() with the sweep blocked = %d, want 0", got)
		}
		close(gate)
		synctest.Wait()
		if got, want := c.Evictions(), uint64(2); got != want {
			t.Errorf("Evictions() after the background sweep = %d, want %d", got, want)
		}
		if got := c.slots.Len(); got != 9 {
			t.Errorf("slots after the sweep = %d, want 9 (90%% of MaxEntries)", got)
		}
	})
}

// TestSweepRemovesDeadRefs: references whose slot was evicted are removed
// by the sweep, and beyond 4 × MaxEntries references the unused ones too,
// so that churn of distinct references cannot grow the table.
func TestSweepRemovesDeadRefs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := New(Options[map[string]string]{TTL: time.Hour, MaxEntries: 10,
			Field: func(m map[string]string, k string) (string, bool) { v, ok := m[k]; return v, ok }})
		defer c.Close()
		for i := range 1000 {
			p := "p" + strconv.Itoa(i)
			r := c.Register(p, p, 0, "value")
			s := c.SlotOf(r)
			call, _ := s.Join(false)
			c.Finish(s, call, map[string]string{"value": "v"}, nil, true)
			synctest.Wait()
		}
		if got := c.refs.Len(); got > 4*10 {
			t.Errorf("refs after 1000 distinct references = %d, want <= 40", got)
		}
		if got := c.slots.Len(); got > 10 {
			t.Errorf("slots = %d, want <= 10", got)
		}
		// Many references to one entry: those with no hit go beyond the limit.
		c = New(Options[map[string]string]{TTL: time.Hour, MaxEntries: 10,
			Field: func(m map[string]string, k string) (string, bool) { v, ok := m[k]; return v, ok }})
		defer c.Close()
		s := c.Slot("one", 0)
		call, _ := s.Join(false)
		c.Finish(s, call, map[string]string{"value": "v"}, nil, true)
		hot := c.Register("one:value", "one", 0, "value")
		for i := range 200 {
			c.Register("one:k"+strconv.Itoa(i), "one", 0, "k"+strconv.Itoa(i))
			if _, _, res := c.Get("one:value"); res != Hit {
				t.Fatalf("Get(hot) = %v, want Hit", res)
			}
			synctest.Wait()
		}
		// A reference goes once it was idle for two sweeps: the newest few
		// may still be there.
		if got := c.refs.Len(); got > 4*10+4 {
			t.Errorf("refs after 200 distinct references to one entry = %d, want <= 44 (the limit and the newest)", got)
		}
		if r, ok := c.refs.Load("one:value"); !ok || r != hot {
			t.Errorf("the hot reference was removed")
		}
	})
}
