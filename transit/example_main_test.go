package transit_test

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// exampleServer is the server startExampleVault started (nil without a
// Vault binary).
var exampleServer *vaulttest.Server

// startExampleVault starts the dev server the examples read through the
// environment, as a program would (VAULT_ADDR, VAULT_TOKEN), with transit
// mounted at "transit", the ed25519 key "release" ExampleTransit_Sign signs
// with and the key "documents" ExampleTransit_Seal takes data keys from
// (the other examples' keys are created on first use). The tests use it too
// (exampleServer), each with a transit mount of its own, and pass its
// address explicitly. Without a Vault binary (and without
// VAULTLY_REQUIRE_VAULT) only the tests run, which skip; the examples,
// which cannot skip, are left out. stop stops the server.
func startExampleVault() (stop func(), err error) {
	if _, err := vaulttest.BinPath(); err != nil {
		if vaulttest.Required() {
			return nil, err
		}
		flag.Parse()
		if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "" {
			_ = f.Value.Set("^Test")
		}
		return func() {}, nil
	}
	srv, err := vaulttest.NewServer(nil)
	if err != nil {
		return nil, err
	}
	if err := exampleSetup(srv); err != nil {
		srv.Stop()
		return nil, err
	}
	os.Setenv("VAULT_ADDR", srv.Addr)
	os.Setenv("VAULT_TOKEN", srv.Token)
	exampleServer = srv
	return srv.Stop, nil
}

func exampleSetup(srv *vaulttest.Server) error {
	cfg, err := srv.Config()
	if err != nil {
		return err
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return err
	}
	c.SetToken(srv.Token)
	ctx := context.Background()
	if err := c.Sys().MountWithContext(ctx, "transit", &api.MountInput{Type: "transit"}); err != nil {
		return fmt.Errorf("mount transit: %w", err)
	}
	for name, typ := range map[string]string{"release": "ed25519", "documents": "aes256-gcm96"} {
		if _, err := c.Logical().WriteWithContext(ctx, "transit/keys/"+name, map[string]any{"type": typ}); err != nil {
			return fmt.Errorf("create the %s key: %w", name, err)
		}
	}
	return nil
}
