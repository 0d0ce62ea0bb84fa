package entrycache

import (
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// TestSweepOffCallerPath: the Slot call that crosses MaxEntries evicts
// nothing itself (nothing is evicted until the sweeper's next look, with
// the clock stopped); the sweeper then evicts in the background with no
// further call.
func TestSweepOffCallerPath(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := New(Options[map[string]string]{TTL: time.Hour, MaxEntries: 10,
			Field: func(m map[string]string, k string) (string, bool) { v, ok := m[k]; return v, ok }})
		defer c.Close()
		for i := range 10 {
			s := c.Slot("k"+strconv.Itoa(i), 0)
			call, _ := s.Join(false)
			c.Finish(s, call, map[string]string{"value": "v"}, nil, true)
		}
		c.Slot("k10", 0) // crosses the bound; must not sweep
		synctest.Wait()  // the sweeper waits for its next look
		if got := c.Evictions(); got != 0 {
			t.Errorf("Evictions() with the sweep blocked = %d, want 0", got)
		}
		time.Sleep(sweepPollMax)
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
			time.Sleep(sweepPollMin)
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
			time.Sleep(sweepPollMin)
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

// TestSweepWokenFarPastBound: a cache a quarter past its bound (faster
// inserts than the sweeper's looks) wakes the sweeper at once, without
// waiting for its next look.
func TestSweepWokenFarPastBound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := New(Options[map[string]string]{TTL: time.Hour, MaxEntries: 100,
			Field: func(m map[string]string, k string) (string, bool) { v, ok := m[k]; return v, ok }})
		defer c.Close()
		for i := range wakeOver(100) {
			c.Slot("k"+strconv.Itoa(i), 0)
		}
		synctest.Wait()
		if got := c.Evictions(); got != 0 {
			t.Fatalf("Evictions() at %d slots, no time passed = %d, want 0 (the next look is due)", wakeOver(100), got)
		}
		c.Slot("one-more", 0) // a quarter past the bound
		synctest.Wait()
		if got := c.slots.Len(); got != 90 {
			t.Errorf("slots after the wake = %d, want 90", got)
		}
	})
}
