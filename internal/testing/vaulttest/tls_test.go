package vaulttest

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

func TestDevTLS(t *testing.T) {
	t.Parallel()
	s := Start(t, &Options{TLS: true})
	if !strings.HasPrefix(s.Addr, "https://127.0.0.1:") {
		t.Fatalf("Addr = %q, want https://127.0.0.1:<port>", s.Addr)
	}
	if s.CACert == "" {
		t.Fatal("CACert is empty for a -dev-tls server")
	}

	t.Run("vault/api with the CA", func(t *testing.T) {
		c := s.Client(t)
		s.PutKV(t, "tls/check", map[string]any{"k": "v"})
		got, err := c.KVv2("secret").Get(context.Background(), "tls/check")
		if err != nil {
			t.Fatalf("KVv2 Get over TLS: %v", err)
		}
		if got.Data["k"] != "v" {
			t.Errorf("k = %v, want v", got.Data["k"])
		}
	})

	health := s.Addr + "/v1/sys/health"
	for _, tc := range []struct {
		name        string
		client      *http.Client
		wantUnknown bool // want x509.UnknownAuthorityError
	}{
		{"http client trusting the CA", s.HTTPClient(t), false},
		{"system roots only", &http.Client{Transport: &http.Transport{}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tc.client.Do(req)
			if resp != nil {
				resp.Body.Close()
			}
			tc.client.CloseIdleConnections()
			var unknown x509.UnknownAuthorityError
			if got := errors.As(err, &unknown); got != tc.wantUnknown {
				t.Fatalf("GET %s: err = %v, want unknown-authority error %v", health, err, tc.wantUnknown)
			}
			if err == nil && resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: status %d, want 200", health, resp.StatusCode)
			}
		})
	}

	t.Run("vault/api without the CA", func(t *testing.T) {
		cfg := api.DefaultConfig()
		cfg.Address = s.Addr
		cfg.MaxRetries = 0
		// DefaultConfig reads VAULT_CACERT & co; start from system roots only.
		if err := cfg.ConfigureTLS(&api.TLSConfig{}); err != nil {
			t.Fatal(err)
		}
		c, err := api.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken(s.Token)
		_, err = c.Logical().ReadWithContext(context.Background(), "sys/mounts")
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("Read without the CA: err = %v, want x509.UnknownAuthorityError", err)
		}
		if err != nil && strings.Contains(err.Error(), s.Token) {
			t.Error("error text contains the token")
		}
	})
}
