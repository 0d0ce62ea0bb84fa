package transit_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/vaultly/vaultly/transit"
)

// BenchmarkEncrypt compares, against one real Vault server in one run,
// transit encrypt through vaultly and through vault/api's Logical().Write
// (what a hand-written client does). Run with:
//
//	go test ./transit -run '^$' -bench Encrypt -benchmem -count 6 | benchstat -col /via -
func BenchmarkEncrypt(b *testing.B) {
	e := setup(b)
	e.key(b, "bench", "aes256-gcm96", nil)
	ctx := context.Background()
	plain := []byte("4111 1111 1111 1111")

	b.Run("via=vaultapi", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := e.raw.Logical().WriteWithContext(ctx, e.mount+"/encrypt/bench", map[string]any{
				"plaintext": base64.StdEncoding.EncodeToString(plain),
			})
			if err != nil || s.Data["ciphertext"] == nil {
				b.Fatalf("vault/api encrypt: %v", err)
			}
		}
	})
	b.Run("via=vaultly", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.tr.Encrypt(ctx, "bench", plain, nil, nil); err != nil {
				b.Fatalf("Encrypt: %v", err)
			}
		}
	})
}

// BenchmarkDecrypt is the same comparison for decrypt.
func BenchmarkDecrypt(b *testing.B) {
	e := setup(b)
	e.key(b, "bench", "aes256-gcm96", nil)
	ctx := context.Background()
	ct, err := e.tr.Encrypt(ctx, "bench", []byte("4111 1111 1111 1111"), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("via=vaultapi", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := e.raw.Logical().WriteWithContext(ctx, e.mount+"/decrypt/bench", map[string]any{"ciphertext": string(ct)})
			if err != nil {
				b.Fatalf("vault/api decrypt: %v", err)
			}
			if _, err := base64.StdEncoding.DecodeString(s.Data["plaintext"].(string)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("via=vaultly", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.tr.Decrypt(ctx, "bench", ct, nil); err != nil {
				b.Fatalf("Decrypt: %v", err)
			}
		}
	})
}

// BenchmarkEncryptBatch100 shows what batching buys: 100 plaintexts in one
// request, versus BenchmarkEncrypt's one per request.
func BenchmarkEncryptBatch100(b *testing.B) {
	e := setup(b)
	e.key(b, "bench", "aes256-gcm96", nil)
	ctx := context.Background()
	items := make([]transit.EncryptItem, 100)
	for i := range items {
		items[i].Plaintext = []byte("4111 1111 1111 1111")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.tr.EncryptBatch(ctx, "bench", items, nil); err != nil {
			b.Fatal(err)
		}
	}
}
