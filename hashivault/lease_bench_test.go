package hashivault_test

import (
	"context"
	"testing"

	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// BenchmarkIssueCredentials issues database credentials from the real Vault
// database secrets engine (PostgreSQL behind it): through vault/api directly
// (one Logical().Read) and through vaultly (Backend.Lease, which issues,
// starts the renewal goroutine, and Close, which stops it).
//
//	go test ./hashivault -run '^$' -bench IssueCredentials -benchtime 200x
func BenchmarkIssueCredentials(b *testing.B) {
	v := vaulttest.Start(b, nil)
	pg := vaulttest.StartPostgres(b)
	path := v.ConfigureDatabase(b, pg, "database", vaulttest.DatabaseRole{Name: "app", DefaultTTL: "1m", MaxTTL: "2m"})
	ctx := context.Background()

	b.Run("vault-api", func(b *testing.B) {
		c := v.Client(b)
		for b.Loop() {
			s, err := c.Logical().ReadWithContext(ctx, path)
			if err != nil || s == nil || s.LeaseID == "" {
				b.Fatalf("read %s: %v", path, err)
			}
		}
	})
	b.Run("vaultly", func(b *testing.B) {
		be, err := hashivault.New(ctx, &hashivault.Options{Address: v.Addr, Token: v.Token, ConfigFile: "-"})
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		for b.Loop() {
			w, err := be.Lease(ctx, path, nil)
			if err != nil {
				b.Fatalf("lease %s: %v", path, err)
			}
			w.Close(ctx)
		}
	})
}
