package entrycache_test

import (
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly/internal/entrycache"
)

func newCache(ttl time.Duration, maxEntries int) *entrycache.Cache[map[string]string] {
	return entrycache.New(entrycache.Options[map[string]string]{
		TTL: ttl, RefreshAhead: 0.5, MaxEntries: maxEntries,
		Field: func(m map[string]string, k string) (string, bool) { v, ok := m[k]; return v, ok },
	})
}

func val(v string) map[string]string { return map[string]string{"value": v} }

func cached(s *entrycache.Slot[map[string]string]) string {
	if it := s.Item(); it != nil {
		return it.Value["value"]
	}
	return "<none>"
}

// TestPublishOrder: whatever order reads end in, the cache ends up holding
// the one that began last; an invalidation drops the reads it overtook and
// only those.
func TestPublishOrder(t *testing.T) {
	t.Parallel()
	type read struct {
		name  string
		fresh bool
	}
	tests := []struct {
		name       string
		begin      []read   // in this order
		invalidate int      // Invalidate after this many reads began (-1: never)
		finish     []string // names, in this order
		want       string
	}{
		{"in order", []read{{"r1", false}, {"r2", true}}, -1, []string{"r1", "r2"}, "r2"},
		{"newer first", []read{{"r1", false}, {"r2", true}}, -1, []string{"r2", "r1"}, "r2"},
		{"three, middle last", []read{{"r1", false}, {"r2", true}, {"r3", true}}, -1, []string{"r3", "r1", "r2"}, "r3"},
		{"invalidated before it ended", []read{{"r1", false}}, 1, []string{"r1"}, "<none>"},
		{"read after invalidation kept", []read{{"r1", false}, {"r2", false}}, 1, []string{"r2", "r1"}, "r2"},
		{"read after invalidation kept, old ends first", []read{{"r1", false}, {"r2", false}}, 1, []string{"r1", "r2"}, "r2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(entrycache.UntilRefreshed, 100)
			s := c.Slot("app/a", 0)
			calls := map[string]*entrycache.Call[map[string]string]{}
			for i, r := range tc.begin {
				if i == tc.invalidate {
					c.Invalidate("app/a")
				}
				call, leader := s.Join(r.fresh)
				if !leader {
					t.Fatalf("Join for %s shared a read; want a new one", r.name)
				}
				calls[r.name] = call
			}
			if tc.invalidate == len(tc.begin) {
				c.Invalidate("app/a")
			}
			for _, n := range tc.finish {
				c.Finish(s, calls[n], val(n), nil, true)
				if v, err := calls[n].Result(); err != nil || v["value"] != n {
					t.Errorf("readers of %s got %v, %v; want its own value", n, v, err)
				}
			}
			if got := cached(s); got != tc.want {
				t.Errorf("cached = %s, want %s", got, tc.want)
			}
			if got, want := c.Len(), map[bool]int{true: 1, false: 0}[tc.want != "<none>"]; got != want {
				t.Errorf("Len() = %d, want %d", got, want)
			}
		})
	}
}

// TestJoin: a reader shares the read in flight unless it asks for a fresh
// value, or the entry was invalidated after that read began.
func TestJoin(t *testing.T) {
	t.Parallel()
	c := newCache(time.Minute, 100)
	s := c.Slot("app/a", 0)
	first, leader := s.Join(false)
	if !leader {
		t.Fatal("first Join is not the leader")
	}
	if got, leader := s.Join(false); leader || got != first {
		t.Errorf("second Join(false) = new read %v; want to share the first", leader)
	}
	fresh, leader := s.Join(true)
	if !leader || fresh == first {
		t.Fatal("Join(true) shared a read that began before it")
	}
	if got, leader := s.Join(false); leader || got != fresh {
		t.Errorf("Join(false) after a fresh read began did not share the newest read")
	}
	if got, leader := s.Join(true); !leader || got == fresh {
		t.Errorf("a second Join(true) shared a read that began before it")
	}
	c.Invalidate("app/a")
	if _, leader := s.Join(false); !leader {
		t.Errorf("Join(false) after Invalidate shared a read that began before it")
	}
}

// TestGetHotPath: Get's results for unknown, cold, warm, missing-key and
// expired references, and its hit count.
func TestGetHotPath(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(10*time.Second, 100)
		if _, _, res := c.Get("app/a"); res != entrycache.Unknown {
			t.Errorf("Get(unregistered) = %v, want Unknown", res)
		}
		r := c.Register("app/a", "app/a", 0, "value")
		r2 := c.Register("/app/a", "app/a", 0, "value")
		if r.Slot() != r2.Slot() {
			t.Errorf("two references to one entry have different slots")
		}
		if _, _, res := c.Get("app/a"); res != entrycache.Miss {
			t.Errorf("Get(cold) = %v, want Miss", res)
		}
		call, _ := r.Slot().Join(false)
		c.Finish(r.Slot(), call, val("v1"), nil, true)
		type got struct {
			V   string
			Res entrycache.Result
		}
		get := func(raw string) got { _, v, res := c.Get(raw); return got{v, res} }
		if diff := cmp.Diff(got{"v1", entrycache.Hit}, get("app/a")); diff != "" {
			t.Errorf("Get(warm) mismatch (-want +got):\n%s", diff)
		}
		c.Register("app/a:other", "app/a", 0, "other")
		if diff := cmp.Diff(got{"", entrycache.Miss}, get("app/a:other")); diff != "" {
			t.Errorf("Get(missing key) mismatch (-want +got):\n%s", diff)
		}
		time.Sleep(5 * time.Second) // past the refresh point (at most 50% of 10s)
		synctest.Wait()
		if diff := cmp.Diff(got{"v1", entrycache.HitDue}, get("/app/a")); diff != "" {
			t.Errorf("Get(due) mismatch (-want +got):\n%s", diff)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if diff := cmp.Diff(got{"", entrycache.Miss}, get("app/a")); diff != "" {
			t.Errorf("Get(expired) mismatch (-want +got):\n%s", diff)
		}
		if got := c.Hits(); got != 2 {
			t.Errorf("Hits() = %d, want 2", got)
		}
		c.Clear()
	})
}

// TestFailedReadLeavesNoSlot: a read that fails with nothing cached leaves
// no slot behind; a failure with a value cached keeps it.
func TestFailedReadLeavesNoSlot(t *testing.T) {
	t.Parallel()
	c := newCache(time.Minute, 100)
	r := c.Register("app/missing", "app/missing", 0, "value")
	s := c.SlotOf(r)
	call, _ := s.Join(false)
	c.Finish(s, call, nil, errors.New("not found"), true)
	if _, err := call.Result(); err == nil {
		t.Error("readers got no error")
	}
	if s2 := c.SlotOf(r); s2 == s {
		t.Error("the failed slot is still the reference's slot")
	}
	if got := c.Len(); got != 0 {
		t.Errorf("Len() = %d, want 0", got)
	}

	s = c.Slot("app/a", 0)
	call, _ = s.Join(false)
	c.Finish(s, call, val("v1"), nil, true)
	call, _ = s.Join(true)
	c.Finish(s, call, nil, errors.New("unavailable"), true)
	if got := cached(c.Slot("app/a", 0)); got != "v1" {
		t.Errorf("after a failed refresh cached = %s, want v1", got)
	}
}

// TestEvict: beyond MaxEntries, expired entries go first, then those with
// no hit since the last sweep; the cache shrinks to 90%.
func TestEvict(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testEvict)
}

func testEvict(t *testing.T) {
	c := newCache(time.Hour, 10)
	defer c.Close()
	for i := range 10 {
		raw := fmt.Sprint("k", i)
		r := c.Register(raw, raw, 0, "value")
		call, _ := r.Slot().Join(false)
		c.Finish(r.Slot(), call, val(raw), nil, true)
	}
	for _, raw := range []string{"k3", "k7"} {
		if _, _, res := c.Get(raw); res != entrycache.Hit {
			t.Fatalf("Get(%s) = %v, want Hit", raw, res)
		}
	}
	c.Slot("k10", 0)        // the 11th slot
	time.Sleep(time.Second) // the sweeper's next look (at most 1s away)
	synctest.Wait()         // the sweep ran in the background
	if got := c.Sweeps(); got != 1 {
		t.Errorf("Sweeps() = %d, want 1", got)
	}
	if got := c.Evictions(); got != 2 {
		t.Errorf("Evictions() = %d, want 2 (down to 9 slots)", got)
	}
	for _, raw := range []string{"k3", "k7"} {
		if _, _, res := c.Get(raw); res != entrycache.Hit {
			t.Errorf("hot entry %s was evicted", raw)
		}
	}
	if got := c.Len(); got != 8 {
		t.Errorf("Len() = %d, want 8 cached (9 slots, one empty)", got)
	}
}
