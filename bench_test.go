package vaultly_test

import (
	"context"
	"fmt"
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
