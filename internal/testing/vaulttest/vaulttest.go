// Package vaulttest starts real Vault servers (and, in postgres.go, real
// PostgreSQL clusters) for tests. Nothing here imitates Vault.
//
// The server binary is the one pinned in tools/vault/go.mod, found through
// VAULTLY_VAULT_BIN, the build cache that scripts/vault-bin.sh fills, or a
// `vault` on PATH that reports the pinned version. When it is missing the
// test skips with a message saying how to get it — or fails, when
// VAULTLY_REQUIRE_VAULT=1 (as `make test` and CI set it).
//
// Start and StartPostgres stop their process and remove its files when the
// test ends; NewServer and NewPostgres (for TestMain) must be stopped with
// Stop. The methods of Server and Postgres are safe for concurrent use.
package vaulttest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// Version is the Vault server version the tests are pinned to; it must match
// tools/vault/go.mod (a test checks).
const Version = "v1.21.0"

// Required reports whether a missing Vault or PostgreSQL must fail the test
// instead of skipping it (VAULTLY_REQUIRE_VAULT=1).
func Required() bool { return os.Getenv("VAULTLY_REQUIRE_VAULT") == "1" }

// unavailable skips or fails t, depending on Required.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (VAULTLY_REQUIRE_VAULT=1)", msg)
	}
	t.Skipf("%s; run `make test`, or set VAULTLY_REQUIRE_VAULT=1 to make this a failure", msg)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// BinPath returns the path of the pinned vault binary, or an error saying how
// to build it.
func BinPath() (string, error) {
	binOnce.Do(func() { binPath, binErr = findBin() })
	return binPath, binErr
}

func findBin() (string, error) {
	if p := os.Getenv("VAULTLY_VAULT_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("VAULTLY_VAULT_BIN=%s: %w", p, err)
		}
		return p, nil
	}
	cache := os.Getenv("VAULTLY_CACHE")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache", "vaultly")
		}
	}
	if cache != "" {
		p := filepath.Join(cache, "vault-"+Version, "vault")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("vault"); err == nil {
		out, err := exec.Command(p, "version").Output()
		if err == nil && bytes.Contains(out, []byte("Vault "+Version)) {
			return p, nil
		}
	}
	return "", fmt.Errorf("vault server %s not found: build it with `scripts/vault-bin.sh` (about 6 minutes once) or set VAULTLY_VAULT_BIN", Version)
}

// Options configures a dev server. The zero value is a plain HTTP dev server.
type Options struct {
	TLS  bool     // -dev-tls: HTTPS listener with a generated CA (Server.CACert)
	Args []string // extra arguments for `vault server`
	Env  []string // extra environment for the server process
}

// Server is a running `vault server -dev` on 127.0.0.1.
type Server struct {
	Addr      string // e.g. http://127.0.0.1:39123
	Token     string // root token
	UnsealKey string // the dev server's single unseal key
	CACert    string // path of the CA certificate (TLS only)
	CertDir   string // directory with the dev TLS files (TLS only)
	LogPath   string // the server's combined output

	dir     string // temporary directory: log, TLS files; removed by Stop
	cmd     *exec.Cmd
	done    chan struct{}
	stopped sync.Once
}

// Start starts a dev server for t and stops it when t ends. A failed test
// gets the tail of the server log.
func Start(t testing.TB, opts *Options) *Server {
	t.Helper()
	return startForTest(t, "vault server", BinPath, func() (*Server, error) { return NewServer(opts) })
}

// NewServer starts a dev server; the caller must Stop it. For TestMain.
func NewServer(opts *Options) (*Server, error) {
	if opts == nil {
		opts = &Options{}
	}
	bin, err := BinPath()
	if err != nil {
		return nil, err
	}
	return retryPort(func() (*Server, error) { return start(bin, opts) })
}

func start(bin string, opts *Options) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vaulttest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Token: "root-" + randHex(12), LogPath: filepath.Join(dir, "vault.log"), dir: dir, done: make(chan struct{})}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	// The root token goes through the environment, not argv, so ps does not show it.
	args := []string{"server", "-dev", "-dev-listen-address=" + listen, "-dev-no-store-token"}
	scheme := "http"
	if opts.TLS {
		s.CertDir = filepath.Join(dir, "tls")
		if err := os.Mkdir(s.CertDir, 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+s.CertDir)
		s.CACert = filepath.Join(s.CertDir, "vault-ca.pem")
		scheme = "https"
	}
	args = append(args, opts.Args...)
	s.Addr = scheme + "://" + listen

	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) // holds the root token
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	cmd.Env = append(append(envWithout("VAULT_"), "VAULT_DEV_ROOT_TOKEN_ID="+s.Token), opts.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start vault: %w", err)
	}
	s.cmd = cmd
	go waitClose(cmd, logf, s.done)
	// -dev-tls writes its CA a moment after the process starts.
	for i := 0; opts.TLS && i < 300; i++ {
		if _, err := os.Stat(s.CACert); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.waitReady(30 * time.Second); err != nil {
		err = fmt.Errorf("%w\n%s", err, tail(s.LogPath, 30))
		s.Stop()
		return nil, err
	}
	// The dev banner with the unseal key is printed a moment after the
	// server starts answering; wait for it so Seal/Unseal work at once.
	for i := 0; i < 200; i++ {
		if s.UnsealKey = parseUnsealKey(s.LogPath); s.UnsealKey != "" {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	return s, nil
}

// envWithout is the environment minus the variables whose name starts with
// prefix, so a developer's own settings (VAULT_*, PG*) do not leak into a
// test server.
func envWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

// process is a server Start or StartPostgres runs for a test.
type process interface {
	Stop()
	logPath() string
}

func (s *Server) logPath() string   { return s.LogPath }
func (p *Postgres) logPath() string { return p.LogPath }

// startForTest starts a server for t with newServer and stops it when t
// ends; a failed test gets the tail of the server log (what names it).
// When find reports the binaries missing, t skips or fails (see Required).
func startForTest[P process](t testing.TB, what string, find func() (string, error), newServer func() (P, error)) P {
	t.Helper()
	if _, err := find(); err != nil {
		unavailable(t, "%v", err)
	}
	p, err := newServer()
	if err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log (%s):\n%s", what, p.logPath(), tail(p.logPath(), 40))
		}
		p.Stop()
	})
	return p
}

// retryPort runs start up to three times: the free port it probes may be
// taken by another process between probe and bind.
func retryPort[P any](start func() (P, error)) (P, error) {
	var lastErr error
	for range 3 {
		p, err := start()
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	var zero P
	return zero, lastErr
}

// waitClose waits for cmd, then closes its log file and done.
func waitClose(cmd *exec.Cmd, logf *os.File, done chan struct{}) {
	cmd.Wait()
	logf.Close()
	close(done)
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c, err := s.newClient()
	if err != nil {
		return err
	}
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("vault server exited during start")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		h, err := c.Sys().HealthWithContext(ctx)
		cancel()
		if err == nil && h.Initialized && !h.Sealed {
			// Dev mode mounts secret/ (KV v2) right after unsealing; wait for it
			// so the first test request does not race the mount.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := c.Logical().ReadWithContext(ctx, "secret/config")
			cancel()
			if err == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("vault server at %s not ready after %s", s.Addr, timeout)
}

// Stop stops the server, waits for it to exit and removes its temporary
// directory (log, TLS files). Safe to call twice.
func (s *Server) Stop() {
	s.stopped.Do(func() {
		if s.dir != "" {
			defer os.RemoveAll(s.dir)
		}
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		// SIGKILL: a dev server keeps its data in memory and Stop throws
		// it away, so there is nothing to shut down in order; SIGTERM
		// would cost ~0.5 s per server (Vault seals and stops its
		// listeners first), paid by every test that starts one.
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	})
}

// Config returns an api.Config for the server (with the CA for TLS servers),
// with vault/api's own retries off.
func (s *Server) Config() (*api.Config, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, cfg.Error
	}
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	if s.CACert != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: s.CACert}); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func (s *Server) newClient() (*api.Client, error) {
	cfg, err := s.Config()
	if err != nil {
		return nil, err
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(s.Token)
	return c, nil
}

// Client returns a new client authenticated with the root token.
func (s *Server) Client(t testing.TB) *api.Client {
	t.Helper()
	c, err := s.newClient()
	if err != nil {
		t.Fatalf("vaulttest: client: %v", err)
	}
	return c
}

// Write writes data at a logical path with the root token (e.g.
// "secret/data/app" with {"data": {...}} for KV v2) and returns the response.
func (s *Server) Write(t testing.TB, path string, data map[string]any) *api.Secret {
	t.Helper()
	sec, err := s.Client(t).Logical().WriteWithContext(context.Background(), path, data)
	if err != nil {
		t.Fatalf("vaulttest: write %s: %v", path, err)
	}
	return sec
}

// PutKV writes fields as a new version at path in the KV v2 mount "secret".
func (s *Server) PutKV(t testing.TB, path string, fields map[string]any) {
	t.Helper()
	if _, err := s.Client(t).KVv2("secret").Put(context.Background(), path, fields); err != nil {
		t.Fatalf("vaulttest: kv put secret/%s: %v", path, err)
	}
}

// EnableSecrets mounts a secrets engine of type typ at path. For "kv" pass
// options like map[string]string{"version": "1"}.
func (s *Server) EnableSecrets(t testing.TB, path, typ string, options map[string]string) {
	t.Helper()
	err := s.Client(t).Sys().MountWithContext(context.Background(), path, &api.MountInput{Type: typ, Options: options})
	if err != nil {
		t.Fatalf("vaulttest: mount %s at %s: %v", typ, path, err)
	}
}

// EnableAuth enables an auth method of type typ at auth/<path>.
func (s *Server) EnableAuth(t testing.TB, path, typ string) {
	t.Helper()
	err := s.Client(t).Sys().EnableAuthWithOptionsWithContext(context.Background(), path, &api.EnableAuthOptions{Type: typ})
	if err != nil {
		t.Fatalf("vaulttest: enable auth %s at %s: %v", typ, path, err)
	}
}

// WritePolicy creates or replaces an ACL policy.
func (s *Server) WritePolicy(t testing.TB, name, hcl string) {
	t.Helper()
	if err := s.Client(t).Sys().PutPolicyWithContext(context.Background(), name, hcl); err != nil {
		t.Fatalf("vaulttest: policy %s: %v", name, err)
	}
}

// CreateToken creates a token (child of root) and returns its secret ID.
// Example: CreateToken(t, &api.TokenCreateRequest{Policies: []string{"app"}, TTL: "4s", ExplicitMaxTTL: "8s"}).
func (s *Server) CreateToken(t testing.TB, req *api.TokenCreateRequest) string {
	t.Helper()
	sec, err := s.Client(t).Auth().Token().CreateWithContext(context.Background(), req)
	if err != nil {
		t.Fatalf("vaulttest: create token: %v", err)
	}
	return sec.Auth.ClientToken
}

// Seal seals the server.
func (s *Server) Seal(t testing.TB) {
	t.Helper()
	if err := s.Client(t).Sys().SealWithContext(context.Background()); err != nil {
		t.Fatalf("vaulttest: seal: %v", err)
	}
}

// Unseal unseals the server with the dev unseal key and waits until it
// serves requests again.
func (s *Server) Unseal(t testing.TB) {
	t.Helper()
	if s.UnsealKey == "" {
		t.Fatal("vaulttest: no unseal key found in the dev server's output")
	}
	c := s.Client(t)
	st, err := c.Sys().UnsealWithContext(context.Background(), s.UnsealKey)
	if err != nil {
		t.Fatalf("vaulttest: unseal: %v", err)
	}
	if st.Sealed {
		t.Fatal("vaulttest: still sealed after unseal")
	}
	if err := s.waitReady(30 * time.Second); err != nil {
		t.Fatalf("vaulttest: after unseal: %v", err)
	}
}

// HTTPClient returns an *http.Client that trusts the server's CA.
func (s *Server) HTTPClient(t testing.TB) *http.Client {
	t.Helper()
	cfg, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.HttpClient
}

var (
	unsealRE = regexp.MustCompile(`Unseal Key: (\S+)`)
	// bannerSecretRE matches the dev banner's secrets, kept out of test logs.
	bannerSecretRE = regexp.MustCompile(`(Root Token|Unseal Key): \S+`)
)

func parseUnsealKey(logPath string) string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	if m := unsealRE.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, bannerSecretRE.ReplaceAllString(sc.Text(), "$1: [redacted]"))
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
