package vaultly_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/sqlsecrets"
)

// A database pool whose credentials come from Vault's database secrets
// engine and rotate under it without a failed query. (Needs a Vault server
// and a database, so it is compiled but not run.)
func ExampleOpenDynamic() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, nil) // VAULT_ADDR, VAULT_TOKEN, ...
	if err != nil {
		log.Fatal(err)
	}
	store := vaultly.New(b, nil)
	defer store.Close()

	creds, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](ctx, store, "database/creds/app",
		&vaultly.DynamicOptions{RevokeOnClose: true})
	if err != nil {
		log.Fatal(err)
	}
	defer creds.Close(ctx)

	stop := creds.Subscribe(func(ev vaultly.DynamicEvent[vaultly.DatabaseCredentials]) {
		fmt.Println(ev.Kind, ev.Leased.Lease.Generation, ev.Leased.Value.Username) // the password prints as [redacted]
	})
	defer stop()

	c, err := sqlsecrets.NewConnector(stdlib.GetDefaultDriver(), sqlsecrets.FromDynamic(creds),
		&sqlsecrets.Options{DSN: sqlsecrets.PostgresURL("postgres://db.internal:5432/app?sslmode=verify-full")})
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		log.Fatal(err)
	}
}

// The struct-tag form: every `dynamic:"PATH"` field is opened at once, and
// closeAll closes them all. memsecrets' fake leases stand in for Vault's
// database secrets engine here so the example runs; over hashivault.New the
// code is the same.
func ExampleOpenDynamics() {
	ctx := context.Background()
	b := memsecrets.New(nil)
	b.SetRole("database/creds/reports", memsecrets.Role{TTL: time.Hour})
	b.SetRole("database/creds/billing", memsecrets.Role{TTL: time.Hour})
	store := vaultly.New(b, nil)
	defer store.Close()

	var cfg struct {
		Reports *vaultly.Dynamic[vaultly.DatabaseCredentials] `dynamic:"database/creds/reports"`
		Billing *vaultly.Dynamic[vaultly.DatabaseCredentials] `dynamic:"database/creds/billing"`
	}
	closeAll, err := vaultly.OpenDynamics(ctx, store, &cfg, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer closeAll(ctx)
	fmt.Println(cfg.Reports.Current().Value.Username, cfg.Reports.Current().Value.Password)
	fmt.Printf("%+v\n", cfg.Billing.Current().Value)
	// Output:
	// reports-1 [redacted]
	// {Username:billing-1 Password:[redacted]}
}
