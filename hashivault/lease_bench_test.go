package hashivault_test

import (
	"context"
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// BenchmarkIssueCredentials issues database credentials from the real Vault
// database secrets engine (PostgreSQL behind it): through vault/api directly
// (one Logical().Read), through the Backend's IssueLease (the same request,
// mapped to a driver.Entry), and through vaultly.OpenDynamic (which issues
// and starts the lease goroutine) + Close (which stops it).
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
	be, err := hashivault.New(ctx, &hashivault.Options{Address: v.Addr, Token: v.Token, ConfigFile: "-"})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	b.Run("IssueLease", func(b *testing.B) {
		for b.Loop() {
			if _, err := be.IssueLease(ctx, path); err != nil {
				b.Fatalf("issue %s: %v", path, err)
			}
		}
	})
	b.Run("OpenDynamic", func(b *testing.B) {
		s := vaultly.New(be, &vaultly.Options{KeepBackendOpen: true})
		defer s.Close()
		for b.Loop() {
			d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](ctx, s, path, nil)
			if err != nil {
				b.Fatalf("open %s: %v", path, err)
			}
			d.Close(ctx)
		}
	})
}
