package bench_test

import (
	"context"
	"slices"
	"testing"
	"time"

	vaultly "github.com/vaultly/vaultly"
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
	apiRead := func() time.Duration {
		t0 := time.Now()
		sec, err := kv.Get(ctx, appPath)
		d := time.Since(t0)
		if err != nil || sec.Data["password"] != want {
			b.Fatalf("vault/api Get: %v", err)
		}
		return d
	}
	vaultlyRead := func() time.Duration {
		t0 := time.Now()
		v, err := s.Get(ctx, appPath+":password")
		d := time.Since(t0)
		if err != nil || v != want {
			b.Fatalf("vaultly Get: %v", err)
		}
		return d
	}
	var apiD, vD []time.Duration
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			apiD = append(apiD, apiRead())
			vD = append(vD, vaultlyRead())
		} else {
			vD = append(vD, vaultlyRead())
			apiD = append(apiD, apiRead())
		}
		i++
	}
	a, v := median(apiD), median(vD)
	b.ReportMetric(float64(a.Nanoseconds()), "vaultapi-p50-ns")
	b.ReportMetric(float64(v.Nanoseconds()), "vaultly-p50-ns")
	b.ReportMetric(float64(v)/float64(a), "vaultly/vaultapi")
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
