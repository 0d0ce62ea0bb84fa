package bench_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vaultly/vaultly/internal/testing/paired"
)

// shuffled calls every fn once in each iteration of b.Loop, in a new random
// order each time (a fixed rotation would give each fn the same
// predecessor, whose leftover work on the shared server biases it), and
// returns the median duration of each fn, in the order given.
func shuffled(b *testing.B, fns ...func()) []time.Duration {
	ds := make([][]time.Duration, len(fns))
	rng := rand.New(rand.NewPCG(1, 2))
	order := make([]int, len(fns))
	for i := range order {
		order[i] = i
	}
	for b.Loop() {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			t0 := time.Now()
			fns[k]()
			ds[k] = append(ds[k], time.Since(t0))
		}
	}
	out := make([]time.Duration, len(fns))
	for k, d := range ds {
		out[k] = paired.Median(d)
	}
	return out
}
