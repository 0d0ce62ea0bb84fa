package hashivault

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// TestCallerClientMustVerifyTLS: a caller-supplied *api.Client configured
// with Insecure (what VAULT_SKIP_VERIFY does through api.DefaultConfig) is
// refused by New and NewSysClient, against a real TLS server; the same
// client with the CA works.
func TestCallerClientMustVerifyTLS(t *testing.T) {
	srv := vaulttest.Start(t, &vaulttest.Options{TLS: true})
	srv.PutKV(t, "tlsclient/app", map[string]any{"value": "v"})
	tests := []struct {
		name     string
		tls      api.TLSConfig
		wantCode driver.Code
	}{
		{"insecure", api.TLSConfig{Insecure: true}, driver.Config},
		{"insecure with CA", api.TLSConfig{Insecure: true, CACert: srv.CACert}, driver.Config},
		{"verified", api.TLSConfig{CACert: srv.CACert}, driver.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			cfg := api.DefaultConfig()
			cfg.Address = srv.Addr
			if err := cfg.ConfigureTLS(&tt.tls); err != nil {
				t.Fatal(err)
			}
			c, err := api.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := ctxT(t, 10*time.Second)
			b, err := New(ctx, &Options{Client: c, Token: srv.Token, ConfigFile: "-"})
			if err == nil {
				t.Cleanup(func() { b.Close() })
				_, err = b.Read(ctx, "tlsclient/app", 0)
			}
			if got := driver.CodeOf(err); got != tt.wantCode {
				t.Errorf("New+Read with a %s client: error = %v, want code %v", tt.name, err, tt.wantCode)
			}
			_, err = NewSysClient(&Options{Client: c, ConfigFile: "-"})
			if got := vaultly.CodeOf(err); got != tt.wantCode {
				t.Errorf("NewSysClient with a %s client: error = %v, want code %v", tt.name, err, tt.wantCode)
			}
		})
	}
}
