package bench_test

import (
	"context"
	"testing"

	vaultly "github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/testing/paired"
)

// BenchmarkKVReadPaired does one vault/api KVv2 Get and one uncached vaultly
// Get in every iteration (alternating which goes first), so both see the
// same machine load, and reports each one's median latency and their ratio.
// On a busy machine this is the figure for "uncached vaultly vs vault/api";
// BenchmarkKVRead's separate sub-benchmarks drift with the load.
func BenchmarkKVReadPaired(b *testing.B) {
	hs := getHarness(b)
	ctx := context.Background()
	kv := hs.raw.KVv2("secret")
	s := hs.store(b, hs.srv.Addr, &vaultly.Options{TTL: vaultly.NoCache})
	want := appFields["password"].(string)
	d := paired.Run(b,
		func() {
			sec, err := kv.Get(ctx, appPath)
			if err != nil || sec.Data["password"] != want {
				b.Fatalf("vault/api Get: %v", err)
			}
		},
		func() {
			v, err := s.Get(ctx, appPath+":password")
			if err != nil || v != want {
				b.Fatalf("vaultly Get: %v", err)
			}
		},
	)
	a, v := d[0], d[1]
	b.ReportMetric(float64(a.Nanoseconds()), "vaultapi-p50-ns")
	b.ReportMetric(float64(v.Nanoseconds()), "vaultly-p50-ns")
	b.ReportMetric(float64(v)/float64(a), "vaultly/vaultapi")
}
