package bench_test

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	vaultly "github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
)

// genBackend answers every read from memory with a small entry made from
// the path (one field "value" of 24 bytes), recording nothing, so that a
// benchmark of the Store's cache measures the cache.
type genBackend struct{}

func (genBackend) Name() string { return "gen" }
func (genBackend) Close() error { return nil }

// Read is not inlined, so that its results are on the heap as any
// backend's are, also when a benchmark calls it directly.
//
//go:noinline
func (genBackend) Read(_ context.Context, path string, version int) (*driver.Entry, error) {
	return &driver.Entry{Path: path, Version: version, Fields: map[string]string{"value": genValue(path)}}, nil
}

func genValue(path string) string { return "value-of:" + (path + "0123456789abcdef")[:15] }

// refs returns n distinct references "gen/<i>" (made once and shared, so
// that their strings are not counted as cache memory).
var (
	refsMu sync.Mutex
	refsBy = map[int][]string{}
)

func genRefs(n int) []string {
	refsMu.Lock()
	defer refsMu.Unlock()
	if r, ok := refsBy[n]; ok {
		return r
	}
	r := make([]string, n)
	for i := range r {
		r[i] = "gen/" + strconv.Itoa(i)
	}
	refsBy[n] = r
	return r
}

func heapNow() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// dataBytesPerEntry is the heap one small entry's own data takes as the
// backend returns it (driver.Entry, its map and value), measured the same
// way as the cache's heap: what the cache holds beyond it is its overhead.
func dataBytesPerEntry(n int) float64 {
	refs := genRefs(n)
	keep := make([]*driver.Entry, n)
	h0 := heapNow()
	for i, r := range refs {
		keep[i], _ = genBackend{}.Read(context.Background(), r, 0)
	}
	h1 := heapNow()
	runtime.KeepAlive(keep)
	return float64(h1-h0) / float64(n)
}

// fill reads every ref once through s (each a miss that caches an entry).
func fill(b *testing.B, s *vaultly.Store, refs []string) {
	ctx := context.Background()
	for _, r := range refs {
		if _, err := s.Get(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// BenchmarkFill1M is goal 2's fill: n distinct entries cached through
// Store.Get (each a miss: a read from memory, then cached) into a fresh
// Store big enough to keep them all. ns/insert at 1M against 1k shows
// whether filling is linear; heap-B/entry is the heap the Store holds per
// entry beyond the entry's own data (data-B/entry). One op is one fill;
// the 1k case fills and closes 200 Stores one after another per op (each
// closed outside the timer), so that each is a 1k-entry Store in a small
// heap. ref=gomap is the same fill into a plain map[string]*driver.Entry
// (no Store), for what the memory hierarchy and the garbage collector alone
// do to the per-insert cost between 1k and 1M on this machine. Run with
// -benchtime=1x.
func BenchmarkFill1M(b *testing.B) {
	for _, n := range []int{1000, 1_000_000} {
		b.Run("entries="+sizeName(n), func(b *testing.B) {
			refs := genRefs(n)
			reps := max(1, 200_000/n)
			data := dataBytesPerEntry(n)
			var perEntry float64
			var elapsed time.Duration
			for b.Loop() {
				for rep := range reps {
					s := vaultly.New(genBackend{}, &vaultly.Options{TTL: time.Hour, MaxEntries: n + 1})
					b.StopTimer()
					h0 := heapNow()
					b.StartTimer()
					t0 := time.Now()
					fill(b, s, refs)
					elapsed += time.Since(t0)
					b.StopTimer()
					if rep == 0 {
						perEntry = float64(heapNow()-h0)/float64(n) - data
					}
					if got := s.Stats().Entries; got != n {
						b.Fatalf("Entries = %d, want %d", got, n)
					}
					s.Close()
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*n*reps), "ns/insert")
			b.ReportMetric(perEntry, "heap-B/entry")
			b.ReportMetric(data, "data-B/entry")
		})
	}
	for _, n := range []int{1000, 1_000_000} {
		b.Run("ref=gomap/entries="+sizeName(n), func(b *testing.B) {
			refs := genRefs(n)
			reps := max(1, 200_000/n)
			var elapsed time.Duration
			for b.Loop() {
				for range reps {
					runtime.GC()
					t0 := time.Now()
					m := make(map[string]*driver.Entry)
					for _, r := range refs {
						m[r], _ = genBackend{}.Read(context.Background(), r, 0)
					}
					elapsed += time.Since(t0)
					runtime.KeepAlive(m)
				}
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*n*reps), "ns/insert")
		})
	}
}

// BenchmarkHit is the warm hit at 1, 1k, 100k and 1M cached entries: Get
// of one warm key of a Store holding n entries, single goroutine. It also
// reports the Store's heap per entry beyond the entry's own data.
func BenchmarkHit(b *testing.B) {
	for _, n := range []int{1, 1000, 100_000, 1_000_000} {
		b.Run("entries="+sizeName(n), func(b *testing.B) {
			refs := genRefs(n)
			data := dataBytesPerEntry(n)
			h0 := heapNow()
			s := vaultly.New(genBackend{}, &vaultly.Options{TTL: time.Hour, MaxEntries: n + 1})
			defer s.Close()
			fill(b, s, refs)
			perEntry := float64(heapNow()-h0)/float64(n) - data
			ctx := context.Background()
			hot := refs[n/2]
			want := genValue(hot)
			fill(b, s, []string{hot}) // the first hit memoises the key
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if v, err := s.Get(ctx, hot); err != nil || len(v) != len(want) {
					b.Fatalf("Get = %q, %v", v, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(perEntry, "heap-B/entry")
		})
	}
}

// BenchmarkHitAfterChurn: a warm hit after 50 × MaxEntries distinct
// references went through a Store of MaxEntries 10k (evictions by the
// background sweep, dead references removed), the hot key read now and
// then meanwhile. Goal: still <= 50 ns and 0 allocs.
func BenchmarkHitAfterChurn(b *testing.B) {
	const maxEntries = 10_000
	refs := genRefs(50 * maxEntries)
	s := vaultly.New(genBackend{}, &vaultly.Options{TTL: time.Hour, MaxEntries: maxEntries})
	defer s.Close()
	ctx := context.Background()
	hot := "hot/key"
	for i, r := range refs {
		if _, err := s.Get(ctx, r); err != nil {
			b.Fatal(err)
		}
		if i%100 == 0 {
			if _, err := s.Get(ctx, hot); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range 100 { // let the sweeper finish
		if s.Stats().Entries <= maxEntries {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fill(b, s, []string{hot})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Get(ctx, hot); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(st.Entries), "entries")
	b.ReportMetric(float64(st.Evictions), "evictions")
}

// BenchmarkEvictionCrossing is goal 2's crossing: a Store of MaxEntries n
// is filled to n with misses; the next miss crosses the bound. It reports
// the p99 of the 1000 ordinary misses before the crossing (miss-p99-ns),
// the p99 over rounds of the crossing Get itself (crossing-p99-ns), their
// ratio, and the p99 of the 1000 misses after it (after-p99-ns), while the
// background sweep runs. One op is one round; run entries=10k with
// -benchtime=100x.
func BenchmarkEvictionCrossing(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run("entries="+sizeName(n), func(b *testing.B) {
			refs := genRefs(n + 1000)
			ctx := context.Background()
			var ordinary, crossing, after []time.Duration
			timed := func(s *vaultly.Store, r string) time.Duration {
				t0 := time.Now()
				if _, err := s.Get(ctx, r); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			for b.Loop() {
				s := vaultly.New(genBackend{}, &vaultly.Options{TTL: time.Hour, MaxEntries: n})
				fill(b, s, refs[:n-1000])
				for _, r := range refs[n-1000 : n] {
					ordinary = append(ordinary, timed(s, r))
				}
				crossing = append(crossing, timed(s, refs[n]))
				for _, r := range refs[n+1:] {
					after = append(after, timed(s, r))
				}
				s.Close()
			}
			m, c := p99(ordinary), p99(crossing)
			b.ReportMetric(float64(m.Nanoseconds()), "miss-p99-ns")
			b.ReportMetric(float64(c.Nanoseconds()), "crossing-p99-ns")
			b.ReportMetric(float64(c)/float64(m), "crossing/miss-p99")
			b.ReportMetric(float64(p99(after).Nanoseconds()), "after-p99-ns")
		})
	}
}

// p99 returns the 99th percentile of d (nearest rank).
func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*99+99)/100-1)]
}
