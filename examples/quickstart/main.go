// Command quickstart loads a typed configuration from Vault and prints it
// with the secrets redacted.
//
// It reads two KV v2 entries from the "secret" mount (make demo seeds them):
//
//	secret/myapp/db        username, password (one entry, two fields)
//	secret/myapp/features  flags (a JSON object), max_conns (a number), debug (a bool)
//
// The address and token come from VAULT_ADDR and VAULT_TOKEN, as for the
// vault CLI. Run it with `make demo`, or against your own Vault:
//
//	VAULT_ADDR=https://vault.example.com:8200 VAULT_TOKEN=... go run ./examples/quickstart
//
// This first version uses github.com/hashicorp/vault/api directly; it moves to
// vaultly.Load with the hashivault backend once those land.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/vault/api"
)

// Config is what the application needs, bound to Vault paths.
type Config struct {
	DB       DB
	Features Features
}

// DB comes from secret/myapp/db.
type DB struct {
	Username string   `json:"username"`
	Password Redacted `json:"password"`
}

// Features comes from secret/myapp/features.
type Features struct {
	Flags    map[string]any `json:"flags"`     // a JSON object value
	MaxConns int            `json:"max_conns"` // a JSON number
	Debug    bool           `json:"debug"`     // a JSON bool
}

// Redacted is a string that never prints its value.
type Redacted string

func (Redacted) String() string   { return "[redacted]" }
func (Redacted) GoString() string { return `"[redacted]"` }

// MarshalJSON keeps the value out of JSON output too.
func (Redacted) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// UnmarshalJSON accepts the plain JSON string Vault returns.
func (r *Redacted) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("password: not a string")
	}
	*r = Redacted(s)
	return nil
}

// Reveal returns the plaintext.
func (r Redacted) Reveal() string { return string(r) }

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) error {
	cfg := api.DefaultConfig() // VAULT_ADDR, VAULT_CACERT, ...
	if cfg.Error != nil {
		return cfg.Error
	}
	client, err := api.NewClient(cfg) // VAULT_TOKEN
	if err != nil {
		return err
	}
	if client.Token() == "" {
		return fmt.Errorf("no token: set VAULT_TOKEN")
	}
	fmt.Fprintf(w, "loading config from %s\n", client.Address())
	c, err := load(ctx, client)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "config: %+v\n", *c)
	fmt.Fprintf(w, "db user %s, password of %d characters, max %d connections, debug %v\n",
		c.DB.Username, len(c.DB.Password.Reveal()), c.Features.MaxConns, c.Features.Debug)
	return nil
}

// load reads each entry once and decodes its fields into the typed struct.
func load(ctx context.Context, client *api.Client) (*Config, error) {
	var c Config
	for _, e := range []struct {
		path string
		into any
	}{
		{"myapp/db", &c.DB},
		{"myapp/features", &c.Features},
	} {
		s, err := client.KVv2("secret").Get(ctx, e.path)
		if err != nil {
			return nil, fmt.Errorf("read secret/%s: %w", e.path, err)
		}
		// Vault returns JSON; round-trip the fields through encoding/json so
		// numbers, bools and objects land in typed fields.
		b, err := json.Marshal(s.Data)
		if err != nil {
			return nil, fmt.Errorf("secret/%s: %w", e.path, err)
		}
		if err := json.Unmarshal(b, e.into); err != nil {
			return nil, fmt.Errorf("decode secret/%s: %w", e.path, err)
		}
	}
	return &c, nil
}
