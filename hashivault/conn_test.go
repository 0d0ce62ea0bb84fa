package hashivault

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

func TestConnections(t *testing.T) {
	srv := shared(t)
	srv.PutKV(t, "conn/app", map[string]any{"value": "v"})
	no := false
	tests := []struct {
		name      string
		opts      Options
		gap       time.Duration // pause between reads
		wantConns int           // connections for 5 reads (after New)
	}{
		{name: "one long-lived client", wantConns: 0},
		{name: "fresh client per call", opts: Options{ReuseConnection: &no}, wantConns: 5},
		{name: "idle timeout recreates", opts: Options{IdleTimeout: 50 * time.Millisecond}, gap: 120 * time.Millisecond, wantConns: 5},
		{name: "idle timeout not reached", opts: Options{IdleTimeout: time.Minute}, gap: 10 * time.Millisecond, wantConns: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy := faultproxy.Start(t, srv.Addr, nil)
			o := tt.opts
			o.Address, o.Token, o.KVVersion = proxy.URL, srv.Token, 2
			b := newBackend(t, &o)
			before := proxy.Conns()
			for range 5 {
				time.Sleep(tt.gap)
				if _, err := b.Read(ctxT(t, 5*time.Second), "conn/app", 0); err != nil {
					t.Fatalf("Read: %v", err)
				}
			}
			if got := proxy.Conns() - before; got != tt.wantConns {
				t.Errorf("new connections for 5 reads = %d, want %d", got, tt.wantConns)
			}
		})
	}
}

func TestProxyURL(t *testing.T) {
	srv := shared(t)
	srv.PutKV(t, "proxied/app", map[string]any{"value": "v"})
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := rootBackend(t, srv, &Options{ProxyURL: proxy.URL, KVVersion: 2})
	if _, err := b.Read(ctxT(t, 5*time.Second), "proxied/app", 0); err != nil {
		t.Fatalf("Read through ProxyURL: %v", err)
	}
	if got := proxy.Count("/v1/secret/data/proxied/app"); got != 1 {
		t.Errorf("proxy saw %d reads, want 1", got)
	}
}

func TestTLS(t *testing.T) {
	srv := vaulttest.Start(t, &vaulttest.Options{TLS: true})
	srv.PutKV(t, "tls/app", map[string]any{"value": "v"})
	pem, err := os.ReadFile(srv.CACert)
	if err != nil {
		t.Fatal(err)
	}
	caDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(caDir, "ca.pem"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		opts     Options
		env      map[string]string
		wantCode driver.Code
	}{
		{name: "CACert", opts: Options{CACert: srv.CACert}},
		{name: "CACertPEM", opts: Options{CACertPEM: pem}},
		{name: "CAPath", opts: Options{CAPath: caDir}},
		{name: "VAULT_CACERT", env: map[string]string{"VAULT_CACERT": srv.CACert}},
		{name: "untrusted", wantCode: driver.Config},
		{name: "wrong server name", opts: Options{CACert: srv.CACert, TLSServerName: "not-vault.example"}, wantCode: driver.Config},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			o := tt.opts
			o.Address, o.Token, o.ConfigFile = srv.Addr, srv.Token, "-"
			ctx := ctxT(t, 10*time.Second)
			b, err := New(ctx, &o)
			if err == nil {
				t.Cleanup(func() { b.Close() })
				_, err = b.Read(ctx, "tls/app", 0)
			}
			if got := driver.CodeOf(err); got != tt.wantCode {
				t.Fatalf("New+Read error = %v, want code %v", err, tt.wantCode)
			}
		})
	}
}
