package cli

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/token"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/retry"
)

// options returns the backend options the global flags give; empty fields
// resolve from the VAULT_* environment and the saved login.
func (g *globals) options() *hashivault.Options {
	o := &hashivault.Options{
		Address:       g.address,
		Namespace:     g.namespace,
		Mount:         g.mount,
		CACert:        g.caCert,
		CAPath:        g.caPath,
		ClientCert:    g.clientCert,
		ClientKey:     g.clientKey,
		TLSServerName: g.tlsServerName,
		// Warnings (a token Vault rejected, VAULT_SKIP_VERIFY ignored for
		// plain http) go to stderr; routine token events are Debug.
		Logger:    slog.New(slog.NewTextHandler(g.io.Err, &slog.HandlerOptions{Level: g.logLevel})),
		TokenSink: g.tokenSink,
	}
	if g.health != nil {
		o.MeterProvider = g.health.mp
	}
	if os.Getenv("VAULT_TOKEN") == "" && os.Getenv("BAO_TOKEN") == "" {
		switch {
		case g.tokenFile != "":
			m, _ := token.New(&token.Options{Token: auth.FromFile(g.tokenFile)}) // never fails
			o.Auth = m
		case g.configAuth != nil:
			o.Auth = g.configAuth
		}
	}
	return o
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

// storeOptions are the options of the Stores the CLI reads values
// through, as a Go program reads them, so references, default keys,
// missing-key errors and retries behave the same. Entries stay cached until
// Invalidate (run re-checks by invalidating first), so each entry is read
// once however many of its keys are used.
// A config file's vault { retry { num_retries } } sets the attempts
// (g.attempts), within the same budget.
func (g *globals) storeOptions() *vaultly.Options {
	r := readRetry
	if g.attempts > 0 {
		c := *readRetry
		c.MaxAttempts = g.attempts
		r = &c
	}
	return &vaultly.Options{TTL: vaultly.UntilRefreshed, RefreshAhead: -1, Retry: r}
}

// sysClient is for the calls that need no token (status, unseal).
func (g *globals) sysClient() (*hashivault.SysClient, error) {
	return hashivault.NewSysClient(g.options())
}
