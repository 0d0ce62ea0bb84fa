// Command quickstart loads a typed configuration from Vault with vaultly and
// prints it with the secrets redacted.
//
// It reads two KV v2 entries from the "secret" mount (make demo seeds them):
//
//	secret/myapp/db        username, password (one entry, two fields: one read)
//	secret/myapp/features  flags (a JSON object), max_conns (a number), debug (a bool)
//
// The address and credentials resolve like the vault CLI's: VAULT_ADDR and
// VAULT_TOKEN (or VAULT_ROLE_ID / VAULT_SECRET_ID, VAULT_CACERT, ...), then the
// file `vaultly login` saves. Run it with `make demo`, or against your own Vault:
//
//	VAULT_ADDR=https://vault.example.com:8200 VAULT_TOKEN=... go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

// Config is what the application needs, bound to Vault paths by tags.
type Config struct {
	DB struct {
		Username string                 `secret:"myapp/db:username"`
		Password vaultly.Secret[string] `secret:"myapp/db:password"` // redacted in every printed form
	}
	Features struct {
		Flags    map[string]any `secret:"myapp/features:flags"`     // a JSON object
		MaxConns int            `secret:"myapp/features:max_conns"` // a JSON number
		Debug    bool           `secret:"myapp/features:debug"`     // a JSON bool
		Timeout  time.Duration  `secret:"myapp/features:timeout,default=5s"`
	}
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) error {
	// nil options: address and token from VAULT_* (as the vault CLI), then the
	// config file `vaultly login` writes. The token is renewed in the background.
	backend, err := hashivault.New(ctx, nil)
	if err != nil {
		return err
	}
	store := vaultly.New(backend, &vaultly.Options{TTL: 5 * time.Minute}) // the store owns and closes the backend
	defer store.Close()

	fmt.Fprintf(w, "loading config from Vault (mount %q)\n", backend.Mount())
	var cfg Config
	if err := store.Load(ctx, &cfg, nil); err != nil {
		return err // names every missing field, never a value
	}
	fmt.Fprintf(w, "config: %+v\n", cfg)
	slog.New(slog.NewTextHandler(w, nil)).Info("loaded", "db_user", cfg.DB.Username, "db_password", cfg.DB.Password)
	fmt.Fprintf(w, "db user %s, password of %d characters, max %d connections, debug %v, timeout %s\n",
		cfg.DB.Username, len(cfg.DB.Password.Reveal()), cfg.Features.MaxConns, cfg.Features.Debug, cfg.Features.Timeout)
	st := store.Stats()
	fmt.Fprintf(w, "6 fields from 2 entries: %d Vault reads\n", st.BackendCalls)
	return nil
}
