package vaultly_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/testing/paired"
	"github.com/vaultly/vaultly/memsecrets"
)

// hitConfigs are the Store configurations whose warm Get is compared side
// by side (go test -bench 'Hit/' -count 10 | benchstat): today's default,
// a no-op meter, a watch on every entry with a no-op meter, and a watch
// with the OpenTelemetry SDK collecting.
func hitConfigs() []struct {
	name string
	opts func() *vaultly.Options
} {
	return []struct {
		name string
		opts func() *vaultly.Options
	}{
		{"default", func() *vaultly.Options { return nil }},
		{"noop-meter", func() *vaultly.Options {
			return &vaultly.Options{MeterProvider: noop.NewMeterProvider()}
		}},
		{"watch+noop-meter", func() *vaultly.Options {
			return &vaultly.Options{Watch: time.Second, MeterProvider: noop.NewMeterProvider()}
		}},
		{"watch+sdk-meter", func() *vaultly.Options {
			return &vaultly.Options{Watch: time.Second, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))}
		}},
	}
}

func watchedStore(tb testing.TB, o *vaultly.Options) *vaultly.Store {
	mem := memsecrets.New(nil)
	mem.Set("myapp/db", map[string]any{"username": "app", "password": "hunter2"})
	s := vaultly.New(mem, o)
	tb.Cleanup(func() { s.Close() })
	if _, err := s.Get(context.Background(), "myapp/db:password"); err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkWatchHit is a warm Get under each configuration.
func BenchmarkWatchHit(b *testing.B) {
	for _, c := range hitConfigs() {
		b.Run(c.name, func(b *testing.B) {
			s := watchedStore(b, c.opts())
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
		})
	}
}

// TestWatchHitAllocs: a warm Get, GetRef and Live.Get allocate nothing
// with a watch on and a meter (no-op or SDK) installed.
func TestWatchHitAllocs(t *testing.T) {
	for _, c := range hitConfigs() {
		s := watchedStore(t, c.opts())
		ctx := context.Background()
		r := vaultly.MustParseRef("myapp/db:password")
		live, err := vaultly.NewLive[string](s, "myapp/db:password", nil)
		if err != nil {
			t.Fatal(err)
		}
		fns := map[string]func(){
			"Get":      func() { _, _ = s.Get(ctx, "myapp/db:password") },
			"GetRef":   func() { _, _ = s.GetRef(ctx, r, nil) },
			"Live.Get": func() { _, _ = live.Get(ctx) },
		}
		for name, fn := range fns {
			fn()
			if got := testing.AllocsPerRun(200, fn); got != 0 {
				t.Errorf("%s, %s on a warm key: %v allocs/op, want 0", c.name, name, got)
			}
		}
	}
}

// BenchmarkWatchHitPaired times a batch of 1000 warm Gets on each
// configuration in turn, in one loop, so they share the machine's load,
// and reports each one's ns per Get and its ratio to the default Store
// (the target: within 1.10).
func BenchmarkWatchHitPaired(b *testing.B) {
	cfgs := hitConfigs()
	ctx := context.Background()
	fns := make([]func(), len(cfgs))
	for i, c := range cfgs {
		s := watchedStore(b, c.opts())
		fns[i] = func() {
			for range 1000 {
				if _, err := s.Get(ctx, "myapp/db:password"); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportAllocs()
	ds := paired.Run(b, fns...)
	for i, c := range cfgs {
		b.ReportMetric(float64(ds[i].Nanoseconds())/1000, c.name+"-ns/get")
		if i > 0 {
			b.ReportMetric(float64(ds[i])/float64(ds[0]), c.name+"/default")
		}
	}
}
