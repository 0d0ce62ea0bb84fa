package cache_test

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly/internal/cache"
)

func TestMap(t *testing.T) {
	var m cache.Map[int]
	if _, ok := m.Load("a"); ok {
		t.Fatal("Load on empty map found a value")
	}
	for i := range 200 {
		if v, loaded := m.LoadOrStore(fmt.Sprint("k", i), i); loaded || v != i {
			t.Fatalf("LoadOrStore(k%d) = %d, %v; want %d, false", i, v, loaded, i)
		}
	}
	if v, loaded := m.LoadOrStore("k7", 99); !loaded || v != 7 {
		t.Errorf("LoadOrStore(existing k7) = %d, %v; want 7, true", v, loaded)
	}
	if got := m.Len(); got != 200 {
		t.Errorf("Len() = %d, want 200", got)
	}
	if v, ok := m.Delete("k3"); !ok || v != 3 {
		t.Errorf("Delete(k3) = %d, %v; want 3, true", v, ok)
	}
	if _, ok := m.Delete("k3"); ok {
		t.Errorf("second Delete(k3) found a value")
	}
	if _, ok := m.CompareAndDelete("k4", func(v int) bool { return v == 5 }); ok {
		t.Errorf("CompareAndDelete(k4, ==5) deleted")
	}
	if _, ok := m.CompareAndDelete("k4", func(v int) bool { return v == 4 }); !ok {
		t.Errorf("CompareAndDelete(k4, ==4) did not delete")
	}
	if got := m.Len(); got != 198 {
		t.Errorf("Len() after 2 deletes = %d, want 198", got)
	}
	var keys []string
	m.Range(func(k string, v int) bool {
		if k != fmt.Sprint("k", v) {
			t.Errorf("Range saw %q = %d", k, v)
		}
		keys = append(keys, k)
		return true
	})
	if len(keys) != 198 {
		t.Errorf("Range visited %d keys, want 198", len(keys))
	}
	n := 0
	m.Range(func(string, int) bool { n++; return n < 5 })
	if n != 5 {
		t.Errorf("Range stopped after %d, want 5", n)
	}
	m.Clear()
	if got := m.Len(); got != 0 {
		t.Errorf("Len() after Clear = %d", got)
	}
	if _, ok := m.Load("k1"); ok {
		t.Errorf("Load after Clear found a value")
	}
}

func TestMapConcurrent(t *testing.T) {
	var m cache.Map[int]
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprint(g, "-", i%100) // each goroutine deletes only its own keys
				m.LoadOrStore(k, i%100)
				if v, ok := m.Load(k); !ok || v != i%100 {
					t.Errorf("goroutine %d: Load(%s) = %d, %v", g, k, v, ok)
					return
				}
				if i%7 == 0 {
					m.Delete(k)
				}
			}
		})
	}
	wg.Wait()
	var keys []string
	m.Range(func(k string, _ int) bool { keys = append(keys, k); return true })
	sort.Strings(keys)
	if len(keys) != m.Len() {
		t.Errorf("Range saw %d keys, Len() = %d", len(keys), m.Len())
	}
}

func TestFresh(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		age  time.Duration
		ttl  time.Duration
		want bool
	}{
		{0, time.Minute, true},
		{59 * time.Second, time.Minute, true},
		{time.Minute, time.Minute, false},
		{0, cache.NoCache, false},
		{0, 0, false},
		{1000 * time.Hour, cache.UntilRefreshed, true},
	}
	for _, tc := range tests {
		if got := cache.Fresh(t0.Add(tc.age), t0, tc.ttl); got != tc.want {
			t.Errorf("Fresh(age %v, ttl %v) = %v, want %v", tc.age, tc.ttl, got, tc.want)
		}
	}
}

func TestStaleUsable(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		age, ttl, maxStale time.Duration
		want               bool
	}{
		{2 * time.Minute, time.Minute, 0, false},
		{2 * time.Minute, time.Minute, 2 * time.Minute, true},
		{3*time.Minute - 1, time.Minute, 2 * time.Minute, true},
		{3 * time.Minute, time.Minute, 2 * time.Minute, false},
		{time.Hour, cache.NoCache, time.Hour, false},
		{time.Hour, cache.UntilRefreshed, time.Second, true},
		{time.Hour, time.Hour, cache.UntilRefreshed, true}, // no overflow
	}
	for _, tc := range tests {
		if got := cache.StaleUsable(t0.Add(tc.age), t0, tc.ttl, tc.maxStale); got != tc.want {
			t.Errorf("StaleUsable(age %v, ttl %v, max %v) = %v, want %v", tc.age, tc.ttl, tc.maxStale, got, tc.want)
		}
	}
}

func TestRefreshAfter(t *testing.T) {
	tests := []struct {
		ttl   time.Duration
		ahead float64
		r     float64
		want  time.Duration
	}{
		{100 * time.Second, 0.75, 0, 75 * time.Second},
		{100 * time.Second, 0.75, 0.5, 67500 * time.Millisecond},
		{100 * time.Second, 0.5, 1, 40 * time.Second}, // full jitter: 20% earlier
		{100 * time.Second, 0.5, 7, 40 * time.Second}, // r clamped
		{100 * time.Second, 0, 0.5, 0},
		{100 * time.Second, 1, 0.5, 0},
		{100 * time.Second, -1, 0.5, 0},
		{cache.NoCache, 0.75, 0.5, 0},
		{cache.UntilRefreshed, 0.75, 0.5, 0},
	}
	for _, tc := range tests {
		if got := cache.RefreshAfter(tc.ttl, tc.ahead, tc.r); got != tc.want {
			t.Errorf("RefreshAfter(%v, %v, %v) = %v, want %v", tc.ttl, tc.ahead, tc.r, got, tc.want)
		}
	}
	// Property: for r in [0,1) the point lies in [ttl·ahead·0.8, ttl·ahead] and below ttl.
	for i := range 1000 {
		r := float64(i) / 1000
		ttl := time.Duration(i+1) * time.Second
		got := cache.RefreshAfter(ttl, 0.75, r)
		lo, hi := time.Duration(float64(ttl)*0.75*0.8), time.Duration(float64(ttl)*0.75)
		if got < lo || got > hi || got >= ttl {
			t.Fatalf("RefreshAfter(%v, 0.75, %v) = %v, want in [%v, %v]", ttl, r, got, lo, hi)
		}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got := []bool{
		cache.RefreshDue(t0.Add(74*time.Second), t0, 100*time.Second, 0.75, 0),
		cache.RefreshDue(t0.Add(75*time.Second), t0, 100*time.Second, 0.75, 0),
		cache.RefreshDue(t0.Add(99*time.Second), t0, 100*time.Second, -1, 0),
	}
	if diff := cmp.Diff([]bool{false, true, false}, got); diff != "" {
		t.Errorf("RefreshDue mismatch (-want +got):\n%s", diff)
	}
}

func TestRefreshRetryDelay(t *testing.T) {
	tests := []struct{ ttl, want time.Duration }{
		{time.Second, time.Second},
		{30 * time.Second, 3 * time.Second},
		{5 * time.Minute, 30 * time.Second},
		{time.Hour, time.Minute},
	}
	for _, tc := range tests {
		if got := cache.RefreshRetryDelay(tc.ttl); got != tc.want {
			t.Errorf("RefreshRetryDelay(%v) = %v, want %v", tc.ttl, got, tc.want)
		}
	}
}

// TestMapOverlay: keys stored and deleted since the last fold are seen
// (and not seen) exactly like folded ones, across folds, re-adds and
// Compact; Range and Len agree; a read allocates nothing.
func TestMapOverlay(t *testing.T) {
	var m cache.Map[int]
	want := map[string]int{}
	check := func(stage string) {
		t.Helper()
		for k, v := range want {
			if got, ok := m.Load(k); !ok || got != v {
				t.Fatalf("%s: Load(%s) = %d, %v; want %d, true", stage, k, got, ok, v)
			}
		}
		for _, k := range []string{"absent", "k-1"} {
			if _, ok := m.Load(k); ok {
				t.Fatalf("%s: Load(%s) found a value", stage, k)
			}
		}
		seen := map[string]int{}
		m.Range(func(k string, v int) bool { seen[k] = v; return true })
		if diff := cmp.Diff(want, seen); diff != "" {
			t.Fatalf("%s: Range mismatch (-want +got):\n%s", stage, diff)
		}
		if m.Len() != len(want) {
			t.Fatalf("%s: Len() = %d, want %d", stage, m.Len(), len(want))
		}
	}
	for i := range 5000 { // many folds
		k := fmt.Sprint("k", i)
		m.LoadOrStore(k, i)
		want[k] = i
	}
	check("filled")
	for i := 0; i < 5000; i += 3 { // deletes of folded keys: tombstones, then folds
		k := fmt.Sprint("k", i)
		if _, ok := m.Delete(k); !ok {
			t.Fatalf("Delete(%s) found nothing", k)
		}
		delete(want, k)
	}
	check("deleted")
	for i := 0; i < 5000; i += 6 { // re-add some deleted keys with new values
		k := fmt.Sprint("k", i)
		if v, loaded := m.LoadOrStore(k, -i); loaded || v != -i {
			t.Fatalf("re-add LoadOrStore(%s) = %d, %v", k, v, loaded)
		}
		want[k] = -i
	}
	check("re-added")
	m.Compact()
	check("compacted")
	if n := testing.AllocsPerRun(100, func() { m.Load("k1") }); n != 0 {
		t.Errorf("Load allocates %v times, want 0", n)
	}
}
