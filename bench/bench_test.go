package bench_test

import (
	"context"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/vault/api"

	vaultly "github.com/vaultly/vaultly"
)

// BenchmarkKVRead reads one field of one KV v2 secret, side by side against
// the same server in one run:
//
//	via=vaultapi        vault/api's KVv2("secret").Get, no cache
//	via=vaultly-nocache Store{TTL: NoCache} over hashivault: every read goes to Vault
//	via=vaultly-cached  Store with the default TTL, warm: an in-process hit
//	via=proxy-cached    vault/api against Vault Proxy (cache_static_secrets): a proxy cache hit
//
// Compare with: benchstat -col /via
func BenchmarkKVRead(b *testing.B) {
	hs := getHarness(b)
	ctx := context.Background()
	want := appFields["password"].(string)
	ref := appPath + ":password"

	b.Run("via=vaultapi", func(b *testing.B) {
		kv := hs.raw.KVv2("secret")
		apiReads(b, kv, want)
	})
	b.Run("via=vaultly-nocache", func(b *testing.B) {
		s := hs.store(b, hs.srv.Addr, &vaultly.Options{TTL: vaultly.NoCache})
		b.ReportAllocs()
		for b.Loop() {
			v, err := s.Get(ctx, ref)
			if err != nil {
				b.Fatal(err)
			}
			if v != want {
				b.Fatalf("Get = %q", v)
			}
		}
		b.ReportMetric(float64(s.Stats().BackendCalls)/float64(b.N), "vault-reads/op")
	})
	b.Run("via=vaultly-cached", func(b *testing.B) {
		s := hs.store(b, hs.srv.Addr, nil)
		if _, err := s.Get(ctx, ref); err != nil {
			b.Fatal(err)
		}
		before := s.Stats().BackendCalls
		b.ReportAllocs()
		for b.Loop() {
			v, err := s.Get(ctx, ref)
			if err != nil {
				b.Fatal(err)
			}
			if len(v) != len(want) {
				b.Fatalf("Get = %q", v)
			}
		}
		b.ReportMetric(float64(s.Stats().BackendCalls-before)/float64(b.N), "vault-reads/op")
	})
	b.Run("via=proxy-cached", func(b *testing.B) {
		kv := hs.client(b, hs.proxy.Addr, "").KVv2("secret")
		if _, err := kv.Get(ctx, appPath); err != nil { // warm the proxy cache
			b.Fatal(err)
		}
		before := hs.counter.count(kvGet(appPath))
		apiReads(b, kv, want)
		b.ReportMetric(float64(hs.counter.count(kvGet(appPath))-before)/float64(b.N), "vault-reads/op")
	})
}

// apiReads reads appPath through kv in b.Loop, as vault/api users do,
// and checks the password it gets.
func apiReads(b *testing.B, kv *api.KVv2, want string) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s, err := kv.Get(ctx, appPath)
		if err != nil {
			b.Fatal(err)
		}
		if s.Data["password"] != want {
			b.Fatalf("password = %v", s.Data["password"])
		}
	}
}

// loadStruct builds a struct type with 50 string fields tagged with refs
// over 10 paths (5 keys each).
func loadStruct() reflect.Type {
	var fields []reflect.StructField
	for i := range loadPaths {
		for k := range loadKeys {
			fields = append(fields, reflect.StructField{
				Name: "F" + strconv.Itoa(i) + "_" + strconv.Itoa(k),
				Type: reflect.TypeFor[string](),
				Tag:  reflect.StructTag(`secret:"` + loadPath(i) + ":f" + strconv.Itoa(k) + `"`),
			})
		}
	}
	return reflect.StructOf(fields)
}

// loadReads is the number of KV reads of the load paths c saw.
func loadReads(c *counter) int {
	n := 0
	for i := range loadPaths {
		n += c.count(kvGet(loadPath(i)))
	}
	return n
}

// BenchmarkLoad50 fills 50 fields spread over 10 Vault paths, both through
// a counting proxy (so vault-reads/op is measured, not assumed):
//
//	via=vaultly-load        Store.Load (NoCache): one read per path, 10 at a time
//	via=vaultapi-sequential 50 KVv2 Gets one after the other, one per field
//
// rtt=0 is the loopback server; rtt=2ms adds a 2 ms delay before every
// request, as a Vault server on the same LAN would. On loopback the two
// cores are shared by the client and Vault itself, so parallel reads
// cannot overlap much; with a real round trip they do.
func BenchmarkLoad50(b *testing.B) {
	hs := getHarness(b)
	ctx := context.Background()
	typ := loadStruct()
	for _, c := range []struct {
		name string
		c    *counter
	}{{"rtt=0", hs.counter}, {"rtt=2ms", hs.slow}} {
		b.Run(c.name+"/via=vaultly-load", func(b *testing.B) {
			s := hs.store(b, c.c.URL, &vaultly.Options{TTL: vaultly.NoCache})
			before := loadReads(c.c)
			b.ReportAllocs()
			for b.Loop() {
				dst := reflect.New(typ)
				if err := s.Load(ctx, dst.Interface(), &vaultly.LoadOptions{Parallelism: loadPaths}); err != nil {
					b.Fatal(err)
				}
				if got := dst.Elem().Field(loadKeys*loadPaths - 1).String(); got != "value-9-4" {
					b.Fatalf("last field = %q", got)
				}
			}
			b.ReportMetric(float64(loadReads(c.c)-before)/float64(b.N), "vault-reads/op")
		})
		b.Run(c.name+"/via=vaultapi-sequential", func(b *testing.B) {
			kv := hs.client(b, c.c.URL, hs.srv.Token).KVv2("secret")
			before := loadReads(c.c)
			b.ReportAllocs()
			for b.Loop() {
				dst := reflect.New(typ).Elem()
				for i := range loadPaths {
					for k := range loadKeys {
						s, err := kv.Get(ctx, loadPath(i))
						if err != nil {
							b.Fatal(err)
						}
						v, _ := s.Data["f"+strconv.Itoa(k)].(string)
						dst.Field(i*loadKeys + k).SetString(v)
					}
				}
				if got := dst.Field(loadKeys*loadPaths - 1).String(); got != "value-9-4" {
					b.Fatalf("last field = %q", got)
				}
			}
			b.ReportMetric(float64(loadReads(c.c)-before)/float64(b.N), "vault-reads/op")
		})
	}
}

// coldRead makes n goroutines read the same cold key at once (released
// together) and returns the first error.
func coldRead(ctx context.Context, s *vaultly.Store, n int) error {
	s.Invalidate("bench/cold")
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, n)
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			v, err := s.Get(ctx, "bench/cold")
			if err == nil && v != "cold-value" {
				err = &vaultly.Error{Op: "get", Ref: "bench/cold", Code: vaultly.Unknown}
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkColdKey times a read of a key that is not cached, by 1 goroutine
// and by 200 at once, and counts the reads that reach Vault per operation
// (target: 1, and 200 goroutines no slower than 2x one).
func BenchmarkColdKey(b *testing.B) {
	hs := getHarness(b)
	ctx := context.Background()
	for _, n := range []int{1, 200} {
		b.Run("goroutines="+strconv.Itoa(n), func(b *testing.B) {
			s := hs.store(b, hs.counter.URL, nil)
			before := hs.counter.count(kvGet("bench/cold"))
			b.ReportAllocs()
			for b.Loop() {
				if err := coldRead(ctx, s, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(hs.counter.count(kvGet("bench/cold"))-before)/float64(b.N), "vault-reads/op")
		})
	}
}

// BenchmarkMemoryPerCachedSecret caches memPaths secrets of 4 fields each
// (every field read once through its own reference, as an application
// does) and reports the growth of the live heap per secret, after GC.
// Run with -benchtime=1x: each operation fills a fresh Store.
func BenchmarkMemoryPerCachedSecret(b *testing.B) {
	hs := getHarness(b)
	hs.seedMem(b)
	ctx := context.Background()
	keys := []string{"username", "password", "host", "database"}
	var perSecret float64
	for b.Loop() {
		backend := hs.backend(b, hs.srv.Addr)
		s := vaultly.New(backend, &vaultly.Options{TTL: vaultly.UntilRefreshed})
		// Warm the backend's connections and KV layout before the baseline.
		if _, err := s.Get(ctx, appPath+":password"); err != nil {
			b.Fatal(err)
		}
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		err := forEachMemPath(8, func(i int) error {
			for _, k := range keys {
				if _, err := s.Get(ctx, memPath(i)+":"+k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		if st := s.Stats(); st.Entries < memPaths {
			b.Fatalf("Stats().Entries = %d, want >= %d", st.Entries, memPaths)
		}
		perSecret = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / memPaths
		runtime.KeepAlive(s)
		s.Close()
	}
	b.ReportMetric(perSecret, "B/secret")
}
