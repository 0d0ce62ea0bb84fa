package hashivault_test

import (
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
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
