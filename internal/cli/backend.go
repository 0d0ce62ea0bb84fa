package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/retry"
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

// readRetry is the retry policy of the CLI's reads: a few quick attempts
// for a sealed, restarting or overloaded server, then the error, so a
// command never hangs for the library's 30s default budget.
var readRetry = &retry.Policy{MaxAttempts: 3, Initial: 200 * time.Millisecond, Budget: 10 * time.Second}

// store connects, logs in and returns a Store over the backend: the CLI
// reads secret values through it, as a Go program does, so references,
// default keys, missing-key errors and retries behave the same. Entries
// stay cached until Invalidate (run re-checks by invalidating first), so
// each entry is read once however many of its keys are used. The caller
// closes the Store, which closes the backend.
func (g *globals) store(ctx context.Context) (*vaultly.Store, error) {
	b, err := g.backend(ctx)
	if err != nil {
		return nil, err
	}
	return vaultly.New(b, &vaultly.Options{TTL: vaultly.UntilRefreshed, RefreshAhead: -1, Retry: readRetry}), nil
}

// sysClient is for the calls that need no token (status, unseal).
func (g *globals) sysClient() (*hashivault.SysClient, error) {
	return hashivault.NewSysClient(g.options())
}
