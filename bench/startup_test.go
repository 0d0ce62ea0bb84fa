package bench_test

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/vault/api"

	vaultly "github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

// startStruct is a config of startPaths × startKeys string fields, each
// tagged with its reference.
func startStruct() reflect.Type {
	var fields []reflect.StructField
	for i := range startPaths {
		for k := range startKeys {
			fields = append(fields, reflect.StructField{
				Name: fmt.Sprintf("P%dF%d", i, k), Type: reflect.TypeFor[string](),
				Tag: reflect.StructTag(fmt.Sprintf(`secret:"%s:f%d"`, startPath(i), k)),
			})
		}
	}
	return reflect.StructOf(fields)
}

// handStartup is what a program without vaultly writes: a vault/api client
// and one goroutine per path, all at once.
func handStartup(ctx context.Context, hs *harness, addr string) error {
	cfg, err := hs.srv.Config()
	if err != nil {
		return err
	}
	cfg.Address = addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		return err
	}
	c.SetToken(hs.srv.Token)
	kv := c.KVv2("secret")
	out := make([]map[string]any, startPaths)
	errs := make([]error, startPaths)
	var wg sync.WaitGroup
	for i := range startPaths {
		wg.Go(func() {
			sec, err := kv.Get(ctx, startPath(i))
			if err == nil {
				out[i] = sec.Data
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return err
		}
		if out[i]["f0"] != "start-"+strconv.Itoa(i)+"-0" {
			return fmt.Errorf("path %d: got %v", i, out[i])
		}
	}
	return nil
}

// BenchmarkStartup is goal 3: a program's start at a LAN-like round trip
// (the slow proxy adds rtt = 2ms to every request to the real server):
// 200 fields over 40 paths.
//
//	via=hand          vault/api client + 40 goroutines, one KVv2.Get each
//	via=vaultly       hashivault.New (its token lookup) + Store + Load, default parallelism
//	via=vaultly-load  Load alone on a fresh Store over a backend made before (no token lookup)
//	par=N             Load alone with LoadOptions.Parallelism N (the curve)
//
// Each op is one whole start; ratios to via=hand are computed by
// scripts/bench.sh from the medians.
func BenchmarkStartup(b *testing.B) {
	hs := getHarness(b)
	ctx := context.Background()
	typ := startStruct()
	check := func(b *testing.B, dst reflect.Value) {
		if got := dst.Elem().Field(0).String(); got != "start-0-0" {
			b.Fatalf("field 0 = %q", got)
		}
	}
	b.Run("via=hand", func(b *testing.B) {
		for b.Loop() {
			if err := handStartup(ctx, hs, hs.slow.URL); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("via=vaultly", func(b *testing.B) {
		for b.Loop() {
			hb, err := hashivault.New(ctx, &hashivault.Options{Address: hs.slow.URL, Token: hs.srv.Token, Mount: "secret", KVVersion: 2, ConfigFile: "-"})
			if err != nil {
				b.Fatal(err)
			}
			s := vaultly.New(hb, nil)
			dst := reflect.New(typ)
			if err := s.Load(ctx, dst.Interface(), nil); err != nil {
				b.Fatal(err)
			}
			check(b, dst)
			s.Close()
		}
	})
	loadWith := func(par int) func(b *testing.B) {
		return func(b *testing.B) {
			hb := hs.backend(b, hs.slow.URL)
			defer hb.Close()
			for b.Loop() {
				s := vaultly.New(hb, &vaultly.Options{KeepBackendOpen: true})
				dst := reflect.New(typ)
				if err := s.Load(ctx, dst.Interface(), &vaultly.LoadOptions{Parallelism: par}); err != nil {
					b.Fatal(err)
				}
				check(b, dst)
				s.Close()
			}
		}
	}
	b.Run("via=vaultly-load", loadWith(0))
	for _, par := range []int{1, 4, 8, 16, 40} {
		b.Run("par="+strconv.Itoa(par), loadWith(par))
	}
}
