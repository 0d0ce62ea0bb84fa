package vaultly_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/memsecrets"
)

func benchStore(b *testing.B) *vaultly.Store {
	mem := memsecrets.New(nil)
	mem.Set("myapp/db", map[string]any{"username": "app", "password": "hunter2"})
	s := vaultly.New(mem, nil) // default TTL: every read below is a fresh hit
	b.Cleanup(func() { s.Close() })
	if _, err := s.Get(context.Background(), "myapp/db:password"); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkGetHit is a warm Get: run with -cpu 1,2.
func BenchmarkGetHit(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(ctx, "myapp/db:password"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetHitSerial is a warm Get from one goroutine.
func BenchmarkGetHitSerial(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "myapp/db:password"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetRefHit is a warm GetRef with a parsed reference.
func BenchmarkGetRefHit(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	r := vaultly.MustParseRef("myapp/db:password")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetRef(ctx, r, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetHitManyKeys reads 1000 warm keys round robin.
func BenchmarkGetHitManyKeys(b *testing.B) {
	mem := memsecrets.New(nil)
	refs := make([]string, 1000)
	for i := range refs {
		refs[i] = fmt.Sprintf("app/k%d", i)
		mem.SetValue(refs[i], "v")
	}
	s := vaultly.New(mem, nil)
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	for _, r := range refs {
		s.Get(ctx, r)
	}
	b.ResetTimer() // the warm-up's allocations are not the hit path's
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Get(ctx, refs[i%len(refs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkGetMiss is a read that always goes to the (in-memory) backend.
func BenchmarkGetMiss(b *testing.B) {
	mem := memsecrets.New(nil)
	mem.SetValue("k", "v")
	s := vaultly.New(mem, &vaultly.Options{TTL: vaultly.NoCache})
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "k"); err != nil {
			b.Fatal(err)
		}
		if b.N%1024 == 0 {
			mem.ResetCalls()
		}
	}
}

// BenchmarkCachedEntryMemory reports the heap held per cached entry of 4
// fields (about 20-byte values), Store overhead included, as B/entry.
func BenchmarkCachedEntryMemory(b *testing.B) {
	const n = 5000
	for b.Loop() {
		mem := memsecrets.New(nil)
		refs := make([]string, n)
		for i := range n {
			refs[i] = fmt.Sprintf("apps/app%04d/db", i)
			mem.Set(refs[i], map[string]any{
				"username": fmt.Sprintf("user-%015d", i), "password": fmt.Sprintf("pass-%015d", i),
				"host": fmt.Sprintf("db-%017d", i), "port": 5432,
			})
		}
		ctx := context.Background()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := vaultly.New(mem, nil)
		for _, r := range refs {
			if _, err := s.Get(ctx, r+":password"); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/entry")
		runtime.KeepAlive(s)
		s.Close()
	}
}
