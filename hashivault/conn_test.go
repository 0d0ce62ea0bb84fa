package hashivault

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

func TestConnections(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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

// TestFreshClientsOverlap: with ReuseConnection false every request builds
// its own client (reading the TLS files), and none of them waits for
// another's build. Each build here blocks, as on a slow disk, until all n
// requests are building at once (or 2s pass); the proxy, which holds every
// read 500ms, must then see all n reads in flight together. Builds made
// one at a time under a lock would reach the proxy 2s apart, one by one.
func TestFreshClientsOverlap(t *testing.T) {
	t.Parallel()
	const n = 5
	srv := shared(t)
	srv.PutKV(t, "overlap/app", map[string]any{"value": "v"})
	proxy := faultproxy.Start(t, srv.Addr, nil)
	no := false
	b := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2, ReuseConnection: &no})
	readPath := "/v1/secret/data/overlap/app"
	proxy.Inject(faultproxy.Fault{Match: faultproxy.Path(readPath), Stall: 500 * time.Millisecond})

	var (
		mu       sync.Mutex
		building int
		all      = make(chan struct{})
	)
	realFresh := b.fresh
	b.fresh = func() (*conn, error) {
		c, err := realFresh()
		mu.Lock()
		building++
		if building == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(2 * time.Second):
		}
		return c, err
	}

	var (
		wg       sync.WaitGroup
		errs     = make(chan error, n)
		maxSeen  atomic.Int32
		sampling = make(chan struct{})
	)
	go func() {
		for {
			select {
			case <-sampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
			held := 0
			for _, r := range proxy.Requests(func(p string) bool { return p == readPath }) {
				if r.Status == 0 {
					held++
				}
			}
			if int32(held) > maxSeen.Load() {
				maxSeen.Store(int32(held))
			}
		}
	}()
	for range n {
		wg.Go(func() {
			_, err := b.Read(ctxT(t, 20*time.Second), "overlap/app", 0)
			errs <- err
		})
	}
	wg.Wait()
	close(sampling)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Read: %v", err)
		}
	}
	if got := maxSeen.Load(); got != n {
		t.Errorf("reads in flight together at the proxy = %d, want %d (client builds must not queue on a lock)", got, n)
	}
}
