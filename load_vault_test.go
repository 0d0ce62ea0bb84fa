package vaultly_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// countingBackend counts reads on the way to the real backend.
type countingBackend struct {
	driver.Backend
	reads atomic.Int64
}

func (c *countingBackend) Read(ctx context.Context, path string, version int) (*driver.Entry, error) {
	c.reads.Add(1)
	return c.Backend.Read(ctx, path, version)
}

// sharedVault is the dev server the Vault tests of this package share
// (each uses its own paths); TestMain stops it.
var sharedVault vaulttest.Shared

func vaultStore(t testing.TB, v *vaulttest.Server, opts *vaultly.Options) (*vaultly.Store, *countingBackend) {
	t.Helper()
	b, err := hashivault.New(context.Background(), &hashivault.Options{Address: v.Addr, Token: v.Token, ConfigFile: "-"})
	if err != nil {
		t.Fatalf("hashivault.New() = %v", err)
	}
	cb := &countingBackend{Backend: b}
	s := vaultly.New(cb, opts)
	t.Cleanup(func() { _ = s.Close() })
	return s, cb
}

// TestLoadVault binds a struct to entries of a real Vault KV v2 mount: JSON
// numbers, bools, arrays and objects as Vault stores them, pinned versions,
// whole entries, nested prefixes, Live fields that follow a new version.
func TestLoadVault(t *testing.T) {
	t.Parallel()
	v := sharedVault.Get(t)
	v.PutKV(t, "myapp/prod/db", map[string]any{"username": "app", "password": "v1-pw", "port": 6432, "tls": true})
	v.PutKV(t, "myapp/prod/db", map[string]any{"username": "app", "password": "v2-pw", "port": 6432, "tls": true})
	v.PutKV(t, "myapp/settings", map[string]any{
		"timeout": "30s", "ratio": 0.25, "hosts": []any{"a", "b"}, "limits": map[string]any{"rps": 10, "burst": 20},
		"since": "2026-01-02T15:04:05Z",
	})
	v.PutKV(t, "myapp/prod/api", map[string]any{"key": "k-1", "url": "https://api.example/v1"})
	v.PutKV(t, "myapp/token", map[string]any{"value": "tok-1"})

	type API struct {
		Key vaultly.Value `secret:":key"`
		URL string        `secret:":url"`
	}
	type Settings struct {
		Timeout time.Duration  `json:"timeout"`
		Ratio   float64        `json:"ratio"`
		Hosts   []string       `json:"hosts"`
		Limits  map[string]int `json:"limits"`
	}
	type Config struct {
		Env      string
		User     string                            `secret:"/myapp/{Env}/db:username"`
		Password vaultly.Value                     `secret:"myapp/{Env}/db:password"`
		OldPW    vaultly.Value                     `secret:"myapp/{Env}/db:password,version=1"`
		Port     uint16                            `secret:"myapp/{Env}/db:port"`
		TLS      bool                              `secret:"myapp/{Env}/db:tls"`
		Ratio    float32                           `secret:"myapp/settings:ratio"`
		Hosts    []string                          `secret:"myapp/settings:hosts"`
		Limits   map[string]int                    `secret:"myapp/settings:limits"`
		Since    time.Time                         `secret:"myapp/settings:since"`
		Settings Settings                          `secret:"myapp/settings"`
		API      *API                              `secret:",prefix=myapp/{Env}/api"`
		Token    vaultly.Live[vaultly.Value]       `secret:"myapp/token,ttl=nocache"`
		Region   string                            `secret:"myapp/settings:region,default=eu-west-1"`
		Whole    vaultly.Secret[map[string]string] `secret:"myapp/{Env}/api"`
	}
	s, cb := vaultStore(t, v, nil)
	cfg := Config{Env: "prod"}
	if err := s.Load(t.Context(), &cfg, nil); err != nil {
		t.Fatalf("Load() = %v", err)
	}
	tok, err := cfg.Token.Get(t.Context())
	if err != nil {
		t.Fatalf("Token.Get() = %v", err)
	}
	type view struct {
		User, Password, OldPW, APIKey, APIURL, Token, Region string
		Port                                                 uint16
		TLS                                                  bool
		Ratio                                                float32
		Hosts                                                []string
		Limits                                               map[string]int
		Since                                                time.Time
		Settings                                             Settings
		Whole                                                map[string]string
	}
	got := view{
		User: cfg.User, Password: cfg.Password.Reveal(), OldPW: cfg.OldPW.Reveal(), APIKey: cfg.API.Key.Reveal(),
		APIURL: cfg.API.URL, Token: tok.Reveal(), Region: cfg.Region, Port: cfg.Port, TLS: cfg.TLS, Ratio: cfg.Ratio,
		Hosts: cfg.Hosts, Limits: cfg.Limits, Since: cfg.Since, Settings: cfg.Settings, Whole: cfg.Whole.Reveal(),
	}
	want := view{
		User: "app", Password: "v2-pw", OldPW: "v1-pw", APIKey: "k-1", APIURL: "https://api.example/v1",
		Token: "tok-1", Region: "eu-west-1", Port: 6432, TLS: true, Ratio: 0.25, Hosts: []string{"a", "b"},
		Limits: map[string]int{"rps": 10, "burst": 20}, Since: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		Settings: Settings{Timeout: 30 * time.Second, Ratio: 0.25, Hosts: []string{"a", "b"}, Limits: map[string]int{"rps": 10, "burst": 20}},
		Whole:    map[string]string{"key": "k-1", "url": "https://api.example/v1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load() from Vault mismatch (-want +got):\n%s", diff)
	}
	// 5 distinct (path, version): db@0, db@1, settings, api, token. The
	// Live Get after Load reads again (ttl=nocache).
	if got := cb.reads.Load(); got != 6 {
		t.Errorf("backend reads = %d, want 6 (5 for Load, 1 for Token.Get)", got)
	}

	// Rotation: a new version is what the Live field returns next.
	v.PutKV(t, "myapp/token", map[string]any{"value": "tok-2"})
	if tok, err := cfg.Token.Get(t.Context()); err != nil || tok.Reveal() != "tok-2" {
		t.Errorf("Token.Get() after rotation = %v, %v; want tok-2", tok.Reveal(), err)
	}
	if s := fmt.Sprintf("%v %+v", cfg, cfg); strings.Contains(s, "pw") || strings.Contains(s, "tok-") || strings.Contains(s, "k-1") {
		t.Errorf("fmt of the loaded config shows a secret: %s", s)
	}
}

// TestLoadVaultMissing checks that every missing field is named, against
// the real server's not-found answers (missing entry, missing version,
// missing key, destroyed version).
func TestLoadVaultMissing(t *testing.T) {
	t.Parallel()
	v := sharedVault.Get(t)
	v.PutKV(t, "app/db", map[string]any{"user": "u"})
	type Config struct {
		User    string `secret:"app/db:user"`
		Pass    string `secret:"app/db:password"`
		API     string `secret:"app/api:key"`
		Old     string `secret:"app/db:user,version=7"`
		Opt     string `secret:"app/none:k,optional"`
		Default int    `secret:"app/none:n,default=3"`
	}
	s, _ := vaultStore(t, v, nil)
	var cfg Config
	err := s.Load(t.Context(), &cfg, nil)
	if !errors.Is(err, vaultly.ErrNotFound) {
		t.Fatalf("Load() = %v, want NotFound", err)
	}
	for _, w := range []string{"3 fields failed", "Config.Pass app/db:password (vault)", "Config.API app/api:key (vault)", "Config.Old app/db:user@7 (vault)"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Load() = %q, want it to contain %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "Config.User") || strings.Contains(err.Error(), "Config.Opt") {
		t.Errorf("Load() = %q names fields that did not fail", err)
	}
}

func vaultFifty(t testing.TB, v *vaulttest.Server) {
	for p, f := range fiftyData() {
		m := map[string]any{}
		for k, val := range f {
			m[k] = val
		}
		v.PutKV(t, p, m)
	}
}

// TestLoadVault50Fields10Paths: 50 fields over 10 paths are 10 reads of the
// real server.
func TestLoadVault50Fields10Paths(t *testing.T) {
	t.Parallel()
	v := sharedVault.Get(t)
	vaultFifty(t, v)
	s, cb := vaultStore(t, v, nil)
	var f Fifty
	if err := s.Load(t.Context(), &f, nil); err != nil {
		t.Fatal(err)
	}
	if got := cb.reads.Load(); got != 10 {
		t.Errorf("backend reads = %d, want 10", got)
	}
	if f.F07.Reveal() != "v1-2" {
		t.Errorf("F07 = %q, want v1-2", f.F07.Reveal())
	}
}

// BenchmarkLoadVault compares Load of 50 fields over 10 Vault paths (10
// parallel reads, caching off) with 50 sequential vault/api KVv2 reads.
func BenchmarkLoadVault(b *testing.B) {
	v := sharedVault.Get(b)
	vaultFifty(b, v)
	ctx := context.Background()
	b.Run("vaultly-Load-50-fields-10-paths", func(b *testing.B) {
		s, cb := vaultStore(b, v, &vaultly.Options{TTL: vaultly.NoCache})
		cb.reads.Store(0)
		for b.Loop() {
			var f Fifty
			if err := s.Load(ctx, &f, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cb.reads.Load())/float64(b.N), "vault-reads/op")
	})
	b.Run("vault-api-50-sequential-reads", func(b *testing.B) {
		kv := v.Client(b).KVv2("secret")
		for b.Loop() {
			for i := range 50 {
				p, k := i/5, i%5
				sec, err := kv.Get(ctx, fmt.Sprintf("svc/p%d", p))
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := sec.Data[fmt.Sprintf("k%d", k)]; !ok {
					b.Fatal("missing key")
				}
			}
		}
	})
}

// TestLiveVaultTTL is a real-time check of the whole chain against the
// server: a Live field with ttl=2s keeps serving its cached value for 2 s
// after a new version is written to Vault, then returns the new one. The
// lower bound is exact (the entry is read after loaded, and served until
// its TTL has passed); the upper bound allows 8 s more for a loaded
// machine.
func TestLiveVaultTTL(t *testing.T) {
	t.Parallel()
	v := sharedVault.Get(t)
	v.PutKV(t, "app/token", map[string]any{"value": "t1"})
	s, cb := vaultStore(t, v, &vaultly.Options{RefreshAhead: -1})
	type App struct {
		Token vaultly.Live[string] `secret:"app/token,ttl=2s"`
	}
	var app App
	loaded := time.Now() // the entry is fetched after this, so it expires after loaded+4s
	if err := s.Load(t.Context(), &app, nil); err != nil {
		t.Fatal(err)
	}
	v.PutKV(t, "app/token", map[string]any{"value": "t2"})
	if got, err := app.Token.Get(t.Context()); err != nil || got != "t1" {
		t.Errorf("Get() within the ttl = %q, %v; want the cached t1", got, err)
	}
	deadline := loaded.Add(10 * time.Second)
	for {
		got, err := app.Token.Get(t.Context())
		if err != nil {
			t.Fatalf("Get() = %v", err)
		}
		if got == "t2" {
			if el := time.Since(loaded); el < 2*time.Second {
				t.Errorf("new value after %v, want it only after the 2s ttl", el)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get() still %q 10s after Load, want t2 after the 2s ttl (tolerance 8s)", got)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if got := cb.reads.Load(); got != 2 {
		t.Errorf("Vault reads = %d, want 2 (Load and one after the ttl)", got)
	}
}
