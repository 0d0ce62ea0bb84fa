package bench_test

import (
	"context"
	"testing"
	"time"

	vaultly "github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/testing/paired"
)

// BenchmarkStoreOverhead is the Store's own cost per uncached read, with no
// network: a backend that answers from memory (genBackend, which records
// nothing). Sub-benchmarks
//
//	via=backend     the backend's Read alone
//	via=store       Store{TTL: NoCache}.Get over it, context.Background()
//	via=store-ctx   the same with a cancellable context (the read runs on
//	                a Store goroutine so that the caller can leave at once)
//
// and paired, which times a backend Read and a Store Get in every
// iteration (alternating) and reports the median difference
// (store-extra-ns) and the allocations of a Store Get minus a backend Read
// (store-extra-allocs).
func BenchmarkStoreOverhead(b *testing.B) {
	mem := genBackend{}
	ctx := context.Background()
	s := vaultly.New(mem, &vaultly.Options{TTL: vaultly.NoCache, KeepBackendOpen: true})
	b.Cleanup(func() { s.Close() })
	read := func() {
		if _, err := mem.Read(ctx, "app/db", 0); err != nil {
			b.Fatal(err)
		}
	}
	get := func(ctx context.Context) {
		if v, err := s.Get(ctx, "app/db"); err != nil || v != genValue("app/db") {
			b.Fatalf("Get = %q, %v", v, err)
		}
	}
	b.Run("via=backend", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			read()
		}
	})
	b.Run("via=store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			get(ctx)
		}
	})
	b.Run("via=store-ctx", func(b *testing.B) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		b.ReportAllocs()
		for b.Loop() {
			get(cctx)
		}
	})
	b.Run("paired", func(b *testing.B) {
		get(ctx)
		extraAllocs := testing.AllocsPerRun(1000, func() { get(ctx) }) - testing.AllocsPerRun(1000, read)
		var diffs []time.Duration
		for i := 0; b.Loop(); i++ {
			var db, ds time.Duration
			if i%2 == 0 {
				t0 := time.Now()
				read()
				t1 := time.Now()
				get(ctx)
				db, ds = t1.Sub(t0), time.Since(t1)
			} else {
				t0 := time.Now()
				get(ctx)
				t1 := time.Now()
				read()
				ds, db = t1.Sub(t0), time.Since(t1)
			}
			diffs = append(diffs, ds-db)
		}
		b.ReportMetric(float64(paired.Median(diffs).Nanoseconds()), "store-extra-ns")
		b.ReportMetric(extraAllocs, "store-extra-allocs")
	})
}
