package bench_test

import (
	"context"
	"reflect"
	"testing"

	vaultly "github.com/vaultly/vaultly"
)

// The tests here are the quick smoke that `go test ./...` runs: they prove
// the harness measures what the benchmarks claim (a proxy cache hit is a hit,
// a cold key with 200 goroutines is one Vault read, Load is one read per
// path), in a few seconds.

func TestProxyServesFromCache(t *testing.T) {
	hs := getHarness(t)
	ctx := context.Background()
	kv := hs.client(t, hs.proxy.Addr, "").KVv2("secret")
	const path = "bench/proxy-smoke"
	if _, err := hs.raw.KVv2("secret").Put(ctx, path, map[string]any{"value": "v1"}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s, err := kv.Get(ctx, path)
		if err != nil {
			t.Fatalf("read %d through Vault Proxy: %v", i, err)
		}
		if got := s.Data["value"]; got != "v1" {
			t.Errorf("read %d through Vault Proxy = %v, want v1", i, got)
		}
	}
	if got, want := hs.counter.count(kvGet(path)), 1; got != want {
		t.Errorf("reads that reached Vault for 5 proxy reads = %d, want %d (the rest served from the proxy cache)", got, want)
	}
}

func TestColdKey200OneRead(t *testing.T) {
	hs := getHarness(t)
	s := hs.store(t, hs.counter.URL, nil)
	for round := range 10 {
		before := hs.counter.count(kvGet("bench/cold"))
		if err := coldRead(context.Background(), s, 200); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got := hs.counter.count(kvGet("bench/cold")) - before; got != 1 {
			t.Errorf("round %d: 200 goroutines on a cold key made %d Vault reads, want 1", round, got)
		}
	}
}

func TestLoad50TenReads(t *testing.T) {
	hs := getHarness(t)
	s := hs.store(t, hs.counter.URL, &vaultly.Options{TTL: vaultly.NoCache})
	dst := reflect.New(loadStruct())
	before := loadReads(hs.counter)
	if err := s.Load(context.Background(), dst.Interface(), &vaultly.LoadOptions{Parallelism: loadPaths}); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := loadReads(hs.counter)-before, loadPaths; got != want {
		t.Errorf("Load of %d fields made %d Vault reads, want %d", loadPaths*loadKeys, got, want)
	}
	for i := range loadPaths {
		for k := range loadKeys {
			want := "value-" + string(rune('0'+i)) + "-" + string(rune('0'+k))
			if got := dst.Elem().Field(i*loadKeys + k).String(); got != want {
				t.Errorf("field %d.%d = %q, want %q", i, k, got, want)
			}
		}
	}
}

// TestRawReadAndStartup: the floor's raw reader, the hand-written start
// and Load of the 200-field struct all read what was seeded, on loopback.
func TestRawReadAndStartup(t *testing.T) {
	hs := getHarness(t)
	ctx := context.Background()
	d, err := newRawRead(hs.srv.Addr, hs.srv.Token, appPath).get(ctx)
	if err != nil || d["password"] != appFields["password"] {
		t.Fatalf("raw read = %v, %v", d["password"], err)
	}
	if err := handStartup(ctx, hs, hs.srv.Addr); err != nil {
		t.Fatalf("hand-written start: %v", err)
	}
	s := hs.store(t, hs.srv.Addr, nil)
	dst := reflect.New(startStruct())
	if err := s.Load(ctx, dst.Interface(), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := dst.Elem().Field(startKeys*7+3).String(), "start-7-3"; got != want {
		t.Errorf("field P7F3 = %q, want %q", got, want)
	}
	if got := s.Stats().BackendCalls; got != startPaths {
		t.Errorf("backend reads = %d, want %d (one per path)", got, startPaths)
	}
}
