// Package paired times several operations side by side in one benchmark,
// so that all of them see the same machine load; on a busy machine their
// ratio is steadier than that of separate sub-benchmarks. It is for
// benchmarks only. Run must be called from the benchmark's goroutine.
package paired

import (
	"slices"
	"testing"
	"time"
)

// Run calls every fn once in each iteration of b.Loop, rotating which one
// goes first, and returns the median duration of each fn, in the order
// given. An fn reports its own failure with b.Fatal.
func Run(b *testing.B, fns ...func()) []time.Duration {
	ds := make([][]time.Duration, len(fns))
	for i := 0; b.Loop(); i++ {
		for j := range fns {
			k := (i + j) % len(fns)
			t0 := time.Now()
			fns[k]()
			ds[k] = append(ds[k], time.Since(t0))
		}
	}
	out := make([]time.Duration, len(fns))
	for k, d := range ds {
		out[k] = Median(d)
	}
	return out
}

// Median returns the median of d (the upper one of an even count), or 0
// for none. d is not changed.
func Median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
