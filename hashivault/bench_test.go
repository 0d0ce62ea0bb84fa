package hashivault_test

import (
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/paired"
)

// BenchmarkRead compares, on the same server in one run, an uncached read
// through vaultly (the backend alone, and a Store with caching off) with
// vault/api's own KVv2().Get, and a cached Store read with both.
//
//	go test ./hashivault -run '^$' -bench BenchmarkRead -benchmem
func BenchmarkRead(b *testing.B) {
	srv := hashivault.Shared(b)
	srv.PutKV(b, "bench/app", map[string]any{"username": "app", "password": "hunter2", "port": 5432, "tls": true})
	ctx := b.Context()

	b.Run("vault-api-KVv2-Get", func(b *testing.B) {
		kv := srv.Client(b).KVv2("secret")
		for b.Loop() {
			s, err := kv.Get(ctx, "bench/app")
			if err != nil || s.Data["password"] != "hunter2" {
				b.Fatalf("Get = %v, %v", s, err)
			}
		}
	})
	back := hashivault.NewBackend(b, &hashivault.Options{Address: srv.Addr, Token: srv.Token, KVVersion: 2})
	b.Run("vaultly-backend-Read", func(b *testing.B) {
		for b.Loop() {
			e, err := back.Read(ctx, "bench/app", 0)
			if err != nil || e.Fields["password"] != "hunter2" {
				b.Fatalf("Read = %v, %v", e, err)
			}
		}
	})
	b.Run("vaultly-store-uncached", func(b *testing.B) {
		s := vaultly.New(back, &vaultly.Options{TTL: vaultly.NoCache, KeepBackendOpen: true})
		defer s.Close()
		for b.Loop() {
			v, err := s.Get(ctx, "bench/app:password")
			if err != nil || v != "hunter2" {
				b.Fatalf("Get = %q, %v", v, err)
			}
		}
	})
	b.Run("vaultly-store-cached", func(b *testing.B) {
		s := vaultly.New(back, &vaultly.Options{KeepBackendOpen: true})
		defer s.Close()
		if _, err := s.Get(ctx, "bench/app:password"); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			v, err := s.Get(ctx, "bench/app:password")
			if err != nil || v != "hunter2" {
				b.Fatalf("Get = %q, %v", v, err)
			}
		}
	})
}

// BenchmarkReadPaired interleaves the three uncached reads in every
// iteration (rotating which goes first), so that all see the same machine load, and reports each one's
// median and the ratio of vaultly's to vault/api's. This is the figure to
// compare on a busy machine; BenchmarkRead's separate runs drift with load.
//
//	go test ./hashivault -run '^$' -bench BenchmarkReadPaired -benchtime=3000x
func BenchmarkReadPaired(b *testing.B) {
	srv := hashivault.Shared(b)
	srv.PutKV(b, "bench/app", map[string]any{"username": "app", "password": "hunter2", "port": 5432, "tls": true})
	ctx := b.Context()
	kv := srv.Client(b).KVv2("secret")
	back := hashivault.NewBackend(b, &hashivault.Options{Address: srv.Addr, Token: srv.Token, KVVersion: 2})
	s := vaultly.New(back, &vaultly.Options{TTL: vaultly.NoCache, KeepBackendOpen: true})
	defer s.Close()
	d := paired.Run(b,
		func() {
			if _, err := kv.Get(ctx, "bench/app"); err != nil {
				b.Fatal(err)
			}
		},
		func() {
			if _, err := back.Read(ctx, "bench/app", 0); err != nil {
				b.Fatal(err)
			}
		},
		func() {
			if _, err := s.Get(ctx, "bench/app:password"); err != nil {
				b.Fatal(err)
			}
		},
	)
	api, bk, st := d[0], d[1], d[2]
	b.ReportMetric(float64(api.Microseconds()), "vaultapi-p50-µs")
	b.ReportMetric(float64(bk.Microseconds()), "backend-p50-µs")
	b.ReportMetric(float64(st.Microseconds()), "store-p50-µs")
	b.ReportMetric(float64(bk)/float64(api), "backend/vaultapi")
	b.ReportMetric(float64(st)/float64(api), "store/vaultapi")
}
