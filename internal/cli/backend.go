package cli

import (
	"context"
	"log/slog"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

// options returns the backend options the global flags give; empty fields
// resolve from the VAULT_* environment and the saved login.
func (g *globals) options() *hashivault.Options {
	return &hashivault.Options{
		Address:   g.address,
		Namespace: g.namespace,
		Mount:     g.mount,
		CACert:    g.caCert,
		CAPath:    g.caPath,
		// One-shot commands report failures as their error; only the
		// long-running `run` logs background warnings (token renewal).
		Logger: slog.New(slog.NewTextHandler(g.io.Err, &slog.HandlerOptions{Level: g.logLevel})),
	}
}

// backend connects and logs in. The caller closes it.
func (g *globals) backend(ctx context.Context) (*hashivault.Backend, error) {
	b, err := hashivault.New(ctx, g.options())
	if err != nil {
		return nil, vaultly.WrapError("connect", "", "vault", err)
	}
	return b, nil
}

// sysClient is for the calls that need no token (status, unseal).
func (g *globals) sysClient() (*hashivault.SysClient, error) {
	return hashivault.NewSysClient(g.options())
}
