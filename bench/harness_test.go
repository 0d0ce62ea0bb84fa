package bench_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	vaultly "github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// The harness is one real Vault dev server shared by every benchmark in a
// run, a counting reverse proxy in front of it (to count the requests that
// reach Vault), and a Vault Proxy (`vault proxy` from the same binary) with
// its cache on, whose upstream is the counting proxy.
type harness struct {
	srv     *vaulttest.Server
	raw     *api.Client // vault/api straight to the server
	counter *counter    // counting reverse proxy in front of the server
	slow    *counter    // the same, adding rtt before each request (a LAN-like round trip)
	proxy   *vaultProxy
	dir     string
}

var (
	hOnce sync.Once
	h     *harness
	hErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if h != nil {
		h.close()
	}
	if code == 0 {
		if err := goleak.Find(vaulttest.IgnoreIdleConns()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// getHarness starts the shared harness once. When the Vault binary is
// missing, vaulttest.Start skips the test (or fails it under
// VAULTLY_REQUIRE_VAULT=1).
func getHarness(tb testing.TB) *harness {
	tb.Helper()
	if _, err := vaulttest.BinPath(); err != nil {
		vaulttest.Start(tb, nil) // skips or fails with the reason
		return nil
	}
	hOnce.Do(func() { h, hErr = newHarness() })
	if hErr != nil {
		tb.Fatalf("bench harness: %v", hErr)
	}
	return h
}

func newHarness() (*harness, error) {
	srv, err := vaulttest.NewServer(nil)
	if err != nil {
		return nil, err
	}
	hs := &harness{srv: srv}
	ok := false
	defer func() {
		if !ok {
			hs.close()
		}
	}()
	cfg, err := srv.Config()
	if err != nil {
		return nil, err
	}
	if hs.raw, err = api.NewClient(cfg); err != nil {
		return nil, err
	}
	hs.raw.SetToken(srv.Token)
	if hs.counter, err = newCounter(srv.Addr, 0); err != nil {
		return nil, err
	}
	if hs.slow, err = newCounter(srv.Addr, rtt); err != nil {
		return nil, err
	}
	if hs.dir, err = os.MkdirTemp("", "vaultly-bench-"); err != nil {
		return nil, err
	}
	if err := hs.seed(); err != nil {
		return nil, err
	}
	if hs.proxy, err = startProxy(hs.dir, hs.counter.URL, srv.Token); err != nil {
		return nil, err
	}
	ok = true
	return hs, nil
}

func (hs *harness) close() {
	if hs.proxy != nil {
		hs.proxy.stop()
	}
	if hs.counter != nil {
		hs.counter.Close()
	}
	if hs.slow != nil {
		hs.slow.Close()
	}
	if hs.srv != nil {
		hs.srv.Stop()
	}
	if hs.dir != "" {
		os.RemoveAll(hs.dir)
	}
}

// The data every benchmark reads. appFields is one typical secret with 4
// fields.
var appFields = map[string]any{
	"username": "app-user-0001",
	"password": "Zx8#qL2!vN7@pR4$wT9%yU1^sK6&mB3*",
	"host":     "db.internal.example.com:5432",
	"database": "orders",
}

const (
	appPath   = "bench/app"
	loadPaths = 10
	loadKeys  = 5 // 10 paths x 5 keys = 50 fields
	memPaths  = 2000
)

func loadPath(i int) string { return "bench/load/p" + strconv.Itoa(i) }

const (
	startPaths = 40
	startKeys  = 5 // 40 paths x 5 keys = 200 fields
)

func startPath(i int) string { return "bench/start/p" + strconv.Itoa(i) }

func memPath(i int) string { return "bench/mem/s" + strconv.Itoa(i) }

func (hs *harness) seed() error {
	ctx := context.Background()
	kv := hs.raw.KVv2("secret")
	if _, err := kv.Put(ctx, appPath, appFields); err != nil {
		return err
	}
	if _, err := kv.Put(ctx, "bench/cold", map[string]any{"value": "cold-value"}); err != nil {
		return err
	}
	for i := range startPaths {
		f := map[string]any{}
		for k := range startKeys {
			f["f"+strconv.Itoa(k)] = fmt.Sprintf("start-%d-%d", i, k)
		}
		if _, err := kv.Put(ctx, startPath(i), f); err != nil {
			return err
		}
	}
	for i := range loadPaths {
		f := map[string]any{}
		for k := range loadKeys {
			f["f"+strconv.Itoa(k)] = fmt.Sprintf("value-%d-%d", i, k)
		}
		if _, err := kv.Put(ctx, loadPath(i), f); err != nil {
			return err
		}
	}
	return nil
}

var memOnce sync.Once

// seedMem writes memPaths secrets of 4 fields each, 16 at a time, once.
func (hs *harness) seedMem(tb testing.TB) {
	tb.Helper()
	var err error
	memOnce.Do(func() { err = hs.putMem() })
	if err != nil {
		tb.Fatalf("seed: %v", err)
	}
}

func (hs *harness) putMem() error {
	ctx := context.Background()
	kv := hs.raw.KVv2("secret")
	return forEachMemPath(16, func(i int) error {
		f := map[string]any{
			"username": fmt.Sprintf("svc-%05d", i),
			"password": fmt.Sprintf("%032x", i*7919),
			"host":     fmt.Sprintf("db-%d.internal.example.com:5432", i%50),
			"database": "orders",
		}
		_, err := kv.Put(ctx, memPath(i), f)
		return err
	})
}

// forEachMemPath calls fn for every index of the memPaths secrets, at
// most limit at a time, and returns the first error.
func forEachMemPath(limit int, fn func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(limit)
	for i := range memPaths {
		g.Go(func() error { return fn(i) })
	}
	return g.Wait()
}

// backend returns a hashivault backend using the root token, talking to
// addr (the server, or the counting proxy).
func (hs *harness) backend(tb testing.TB, addr string) *hashivault.Backend {
	tb.Helper()
	b, err := hashivault.New(context.Background(), &hashivault.Options{
		Address: addr, Token: hs.srv.Token, Mount: "secret", KVVersion: 2, ConfigFile: "-",
	})
	if err != nil {
		tb.Fatalf("hashivault.New: %v", err)
	}
	return b
}

// store returns a Store over a new backend; it is closed when tb ends.
func (hs *harness) store(tb testing.TB, addr string, opts *vaultly.Options) *vaultly.Store {
	tb.Helper()
	s := vaultly.New(hs.backend(tb, addr), opts)
	tb.Cleanup(func() { s.Close() })
	return s
}

// client returns a vault/api client with the root token for addr.
func (hs *harness) client(tb testing.TB, addr, token string) *api.Client {
	tb.Helper()
	cfg, err := hs.srv.Config()
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if token == "" {
		c.ClearToken()
	} else {
		c.SetToken(token)
	}
	return c
}

// rtt is the delay the slow counter adds to every request: a round trip to
// a Vault server on the same LAN, which the loopback server here lacks.
const rtt = 2 * time.Millisecond

// counter is a reverse proxy in front of the real server that counts
// requests per "METHOD /path" and optionally delays each one.
type counter struct {
	*httptest.Server
	mu sync.Mutex
	n  map[string]int
}

func newCounter(target string, delay time.Duration) (*counter, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	c := &counter{n: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.n[r.Method+" "+r.URL.Path]++
		c.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay) // simulated network latency, not a test of timing
		}
		rp.ServeHTTP(w, r)
	}))
	return c, nil
}

// count returns how many requests "METHOD /path" reached Vault so far.
func (c *counter) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

func kvGet(path string) string { return "GET /v1/secret/data/" + path }

// vaultProxy is a running `vault proxy` process.
type vaultProxy struct {
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// startProxy starts Vault Proxy with its cache on, auto-auth from a token
// file and the API proxy using that token, listening on loopback, with
// upstream as its Vault address. Static KV secrets are cached only with
// cache_static_secrets = true; without it a KV read is forwarded every time.
func startProxy(dir, upstream, token string) (*vaultProxy, error) {
	bin, err := vaulttest.BinPath()
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // a free port can be taken between probe and bind
		port, err := vaulttest.FreePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		conf := fmt.Sprintf(`vault {
  address = %q
}
auto_auth {
  method "token_file" {
    config = {
      token_file_path = %q
    }
  }
}
cache {
  cache_static_secrets = true
}
api_proxy {
  use_auto_auth_token = true
}
listener "tcp" {
  address     = %q
  tls_disable = true
}
`, upstream, tokenFile, addr)
		confPath := filepath.Join(dir, "proxy.hcl")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		logPath := filepath.Join(dir, "proxy.log")
		logf, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "proxy", "-config="+confPath)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, err
		}
		p := &vaultProxy{Addr: "http://" + addr, cmd: cmd, done: make(chan struct{}), log: logPath}
		go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
		if err := p.waitReady(15 * time.Second); err != nil {
			p.stop()
			b, _ := os.ReadFile(logPath)
			lastErr = fmt.Errorf("vault proxy: %v\n%s", err, b)
			continue
		}
		return p, nil
	}
	return nil, lastErr
}

func (p *vaultProxy) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return errors.New("exited")
		default:
		}
		resp, err := http.Get(p.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not ready in time")
}

func (p *vaultProxy) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
