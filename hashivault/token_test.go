package hashivault

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

func appRole(t testing.TB, mount, roleID, secretID string) auth.Method {
	t.Helper()
	m, err := approle.New(&approle.Options{Mount: mount, RoleID: auth.FromString(roleID), SecretID: auth.FromString(secretID)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readers runs n goroutines reading path without a cache until stop is
// closed, each pausing for pause between reads (0: back to back), and
// returns how many reads were made and the errors callers got.
func readers(b *Backend, n int, path string, pause time.Duration, stop <-chan struct{}) (reads int64, errs []error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		count atomic.Int64
	)
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Generous: under -race on a loaded 2-core machine a read
				// can queue for seconds; the point is that none fails.
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := b.Read(ctx, path, 0)
				cancel()
				count.Add(1)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				if pause > 0 {
					select {
					case <-stop:
					case <-time.After(pause):
					}
				}
			}
		})
	}
	wg.Wait()
	return count.Load(), errs
}

func TestReloginOnceWhenRevoked(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "revoke/app", map[string]any{"value": "v"})
	mount, roleID, secretID := setupAppRole(t, srv, "approle-revoke", map[string]any{"token_ttl": "1h"})
	proxy := faultproxy.Start(t, srv.Addr, nil)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := newBackend(t, &Options{Address: proxy.URL, Auth: appRole(t, mount, roleID, secretID), KVVersion: 2, Logger: logger})
	first := b.currentToken()
	loginPath := "/v1/auth/" + mount + "/login"
	if got := proxy.Count(loginPath); got != 1 {
		t.Fatalf("logins after New = %d, want 1", got)
	}
	stop := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		if err := srv.Client(t).Auth().Token().RevokeTreeWithContext(context.Background(), b.currentToken()); err != nil {
			t.Errorf("revoke: %v", err)
		}
		time.Sleep(700 * time.Millisecond)
		close(stop)
	}()
	reads, errs := readers(b, 50, "revoke/app", 0, stop)
	for i, err := range errs {
		if i < 5 {
			t.Errorf("read error: %v", err)
		}
	}
	if len(errs) > 0 {
		t.Errorf("%d of %d reads failed, want 0", len(errs), reads)
	}
	if got := proxy.Count(loginPath); got != 2 {
		t.Errorf("logins = %d, want 2 (start + exactly one after the revocation)", got)
	}
	out := logs.String()
	for _, secret := range []string{first, b.currentToken(), secretID} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain a token or credential:\n%s", out)
		}
	}
	if !strings.Contains(out, "token rejected by vault; logging in again") {
		t.Errorf("logs do not record the re-login:\n%s", out)
	}
	rejected := len(proxy.Requests(func(p string) bool { return p == "/v1/secret/data/revoke/app" }))
	t.Logf("%d reads by 50 goroutines, %d reached vault", reads, rejected)
}

func TestStaticTokenRevoked(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "static/app", map[string]any{"value": "v"})
	tok := srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"root"}, TTL: "1h"})
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Token: tok, KVVersion: 2})
	ctx := ctxT(t, 10*time.Second)
	if _, err := b.Read(ctx, "static/app", 0); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if err := srv.Client(t).Auth().Token().RevokeTreeWithContext(ctx, tok); err != nil {
		t.Fatal(err)
	}
	lookups := proxy.Count("/v1/auth/token/lookup-self")
	start := time.Now()
	for i := range 3 {
		_, err := b.Read(ctx, "static/app", 0)
		if got := driver.CodeOf(err); got != driver.Unauthenticated {
			t.Fatalf("Read #%d after revocation = %v, want code unauthenticated", i, err)
		}
		if strings.Contains(err.Error(), tok) {
			t.Errorf("error contains the token: %q", err)
		}
	}
	// The failed re-login (a token lookup) backs off (at least half of
	// loginBackoffMin, jittered): the next two reads fail fast without
	// another lookup — unless the machine is so loaded that the three
	// reads took longer than the backoff, which allows one more per half
	// of loginBackoffMin elapsed.
	elapsed := time.Since(start)
	allowed := 1 + int(elapsed/(loginBackoffMin/2))
	if got := proxy.Count("/v1/auth/token/lookup-self") - lookups; got < 1 || got > allowed {
		t.Errorf("lookups after revocation = %d in %v, want 1 (login failures back off; up to %d allowed for the time taken)", got, elapsed, allowed)
	}
}

func TestTokenFactory(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "factory/app", map[string]any{"value": "v"})
	var calls atomic.Int32
	factory := auth.MethodFunc(func(ctx context.Context, c *api.Client) (*api.Secret, error) {
		calls.Add(1)
		return srv.Client(t).Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"root"}, TTL: "1h"})
	})
	b := newBackend(t, &Options{Address: srv.Addr, Auth: factory, RevokeOnClose: true})
	if _, err := b.Read(ctxT(t, 5*time.Second), "factory/app", 0); err != nil {
		t.Fatalf("Read: %v", err)
	}
	tok := b.currentToken()
	if err := srv.Client(t).Auth().Token().RevokeTreeWithContext(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(ctxT(t, 5*time.Second), "factory/app", 0); err != nil {
		t.Fatalf("Read after revocation: %v", err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("factory calls = %d, want 2", got)
	}
	tok = b.currentToken()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := srv.Client(t).Auth().Token().LookupWithContext(context.Background(), tok); err == nil {
		t.Errorf("token still valid after Close with RevokeOnClose")
	}
}

func TestRevokeOnClose(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	mount, roleID, secretID := setupAppRole(t, srv, "approle-close", map[string]any{"token_ttl": "1h"})
	static := srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"root"}, TTL: "1h"})
	tests := []struct {
		name      string
		opts      Options
		wantValid bool
	}{
		{name: "approle revoked", opts: Options{Auth: appRole(t, mount, roleID, secretID), RevokeOnClose: true}, wantValid: false},
		{name: "approle kept", opts: Options{Auth: appRole(t, mount, roleID, secretID)}, wantValid: true},
		{name: "caller token never revoked", opts: Options{Token: static, RevokeOnClose: true}, wantValid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Address = srv.Addr
			b := newBackend(t, &o)
			tok := b.currentToken()
			if err := b.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			_, err := srv.Client(t).Auth().Token().LookupWithContext(context.Background(), tok)
			if got := err == nil; got != tt.wantValid {
				t.Errorf("token valid after Close = %v (%v), want %v", got, err, tt.wantValid)
			}
		})
	}
}

func TestSealed(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t, nil)
	srv.PutKV(t, "sealed/app", map[string]any{"value": "v"})
	b := rootBackend(t, srv, nil)
	if _, err := b.Read(ctxT(t, 5*time.Second), "sealed/app", 0); err != nil {
		t.Fatalf("Read: %v", err)
	}
	undetected := rootBackend(t, srv, nil) // has not detected the kv version yet
	srv.Seal(t)

	// Met during the kv version detection, a sealed server is reported as
	// sealed, not as a failed mount lookup.
	_, err := undetected.Read(ctxT(t, 5*time.Second), "sealed/app", 0)
	if got := driver.CodeOf(err); got != driver.Unavailable {
		t.Errorf("Read while sealed, kv version unknown = %v, want code unavailable", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "vault is sealed") || strings.Contains(msg, "mount") {
		t.Errorf("Read while sealed, kv version unknown = %q, want it to say vault is sealed and nothing about mounts", msg)
	}
	if _, ok := errors.AsType[*api.ResponseError](err); !ok {
		t.Errorf("Read while sealed: the 503 is not reachable with errors.As")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = b.Read(ctx, "sealed/app", 0)
	if got := driver.CodeOf(err); got != driver.Unavailable {
		t.Fatalf("Read while sealed = %v, want code unavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Read while sealed took %v, want within the caller's 2s deadline", d)
	}
	srv.Unseal(t)
	e, err := b.Read(ctxT(t, 5*time.Second), "sealed/app", 0)
	if err != nil {
		t.Fatalf("Read after unseal: %v", err)
	}
	if e.Fields["value"] != "v" {
		t.Errorf("Read after unseal = %q, want v", e.Fields["value"])
	}
}

func TestReloginFailures(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "relogin-fail/app", map[string]any{"value": "v"})
	errFactory := errors.New("factory: identity provider down")
	bogus := "hvs.CAESIBogusBogusBogusBogusBogusBogusBogusBogus"
	tests := []struct {
		name      string
		second    func() (*api.Secret, error) // what the factory returns at the re-login
		wantIs    error
		wantCalls int32
		wantText  string // the message says which failure it was
	}{
		{name: "new token rejected too", second: func() (*api.Secret, error) {
			return &api.Secret{Auth: &api.SecretAuth{ClientToken: bogus}}, nil
		}, wantCalls: 2, wantText: "unauthenticated: token rejected; logged in again and the new token was rejected too: vault answered 403"},
		{name: "factory fails", second: func() (*api.Secret, error) { return nil, errFactory }, wantIs: errFactory, wantCalls: 2,
			wantText: "unauthenticated: token rejected and logging in again failed: factory: identity provider down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			factory := auth.MethodFunc(func(ctx context.Context, c *api.Client) (*api.Secret, error) {
				if calls.Add(1) == 1 {
					return &api.Secret{Auth: &api.SecretAuth{ClientToken: bogus}}, nil
				}
				return tt.second()
			})
			b := newBackend(t, &Options{Address: srv.Addr, Auth: factory, KVVersion: 2})
			_, err := b.Read(ctxT(t, 5*time.Second), "relogin-fail/app", 0)
			if got := driver.CodeOf(err); got != driver.Unauthenticated {
				t.Fatalf("Read = %v, want code unauthenticated", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Read error %v does not wrap the factory's error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantText) {
				t.Errorf("Read error = %q, want it to start with %q", err, tt.wantText)
			}
			if _, ok := errors.AsType[*api.ResponseError](err); !ok && tt.wantIs == nil {
				t.Errorf("Read error %v: the rejecting response is not reachable with errors.As", err)
			}
			if strings.Contains(err.Error(), bogus) {
				t.Errorf("error contains the token: %q", err)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("factory calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (slog handlers
// serialise their own writes, but the test reads while goroutines may log).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rejectedReads counts the requests to path the server answered 403.
func rejectedReads(p *faultproxy.Proxy, path string) int {
	n := 0
	for _, r := range p.Requests(func(q string) bool { return q == path }) {
		if r.Status == 403 {
			n++
		}
	}
	return n
}

// inFlight reports whether the proxy holds a request to path that has not
// been answered yet.
func inFlight(p *faultproxy.Proxy, path string) bool {
	for _, r := range p.Requests(func(q string) bool { return q == path }) {
		if r.Status == 0 {
			return true
		}
	}
	return false
}

// TestDeadlineDuringLogin: a login stalled by the proxy does not hold
// anyone hostage. A caller whose token was rejected joins the login in
// progress and leaves it when its own deadline ends (100 ms; tolerance:
// it must return within 2 s, while the login stalls 6 s); the login itself
// runs on a detached context, so when every waiter has left it still
// finishes and installs its token for everyone — no second login.
func TestDeadlineDuringLogin(t *testing.T) {
	t.Parallel()
	const (
		deadline  = 100 * time.Millisecond
		tolerance = 2 * time.Second // on a loaded 2-core machine under -race; the stall is 3x longer
		stall     = 6 * time.Second
	)
	srv := shared(t)
	srv.PutKV(t, "deadline/app", map[string]any{"value": "v"})
	mount, roleID, secretID := setupAppRole(t, srv, "approle-deadline", map[string]any{"token_ttl": "1h"})
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Auth: appRole(t, mount, roleID, secretID), KVVersion: 2, Timeout: 10 * time.Second})
	loginPath := "/v1/auth/" + mount + "/login"
	revoke := func() {
		t.Helper()
		if err := srv.Client(t).Auth().Token().RevokeTreeWithContext(context.Background(), b.currentToken()); err != nil {
			t.Fatalf("revoke: %v", err)
		}
	}
	read := func(d time.Duration) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		start := time.Now()
		_, err := b.Read(ctx, "deadline/app", 0)
		return time.Since(start), err
	}

	t.Run("waiter leaves at its deadline", func(t *testing.T) {
		revoke()
		proxy.Inject(faultproxy.Fault{Match: faultproxy.Path(loginPath), Stall: stall, Times: 1})
		first := make(chan error, 1)
		go func() { _, err := read(30 * time.Second); first <- err }() // starts the login
		waitFor(t, 5*time.Second, "the re-login never reached the proxy", func() bool { return inFlight(proxy, loginPath) })
		// A short read joins the login only if its own read got the 403 in
		// time; on a loaded machine one may not, so try up to 10 (in about
		// 1-2 s of the 6 s stall) and require that at least one did.
		joined := 0
		for i := 0; i < 10 && joined == 0; i++ {
			before := rejectedReads(proxy, "/v1/secret/data/deadline/app")
			took, err := read(deadline)
			if got := driver.CodeOf(err); got != driver.DeadlineExceeded {
				t.Errorf("read #%d with a %v deadline during the login = %v (code %v), want code deadline exceeded", i, deadline, err, got)
			}
			if took > deadline+tolerance {
				t.Errorf("read #%d with a %v deadline returned after %v, want within %v (the login stalls %v)", i, deadline, took, deadline+tolerance, stall)
			}
			if rejectedReads(proxy, "/v1/secret/data/deadline/app") > before {
				joined++
			}
		}
		if joined == 0 {
			t.Errorf("no short read met the rejected token within its deadline, so none waited for the login")
		}
		if !inFlight(proxy, loginPath) {
			t.Fatalf("the login finished before the short reads did; the test proves nothing")
		}
		if err := <-first; err != nil {
			t.Errorf("the read that started the login = %v, want success once the login ends", err)
		}
		if got := proxy.Count(loginPath); got != 2 {
			t.Errorf("logins = %d, want 2 (New, one re-login)", got)
		}
	})

	t.Run("login outlives its waiters and installs its token", func(t *testing.T) {
		revoke()
		before := proxy.Count(loginPath)
		proxy.Inject(faultproxy.Fault{Match: faultproxy.Path(loginPath), Stall: time.Second, Times: 1})
		// The caller that starts the login gives up while it runs.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := b.Read(ctx, "deadline/app", 0); done <- err }()
		waitFor(t, 5*time.Second, "the re-login never reached the proxy", func() bool { return inFlight(proxy, loginPath) })
		cancel()
		select {
		case err := <-done:
			if got := driver.CodeOf(err); got != driver.Canceled {
				t.Errorf("read cancelled during the login = %v (code %v), want code canceled", err, got)
			}
		case <-time.After(tolerance):
			t.Errorf("read cancelled during the login did not return within %v", tolerance)
		}
		waitFor(t, 10*time.Second, "the detached login did not finish", func() bool {
			rs := proxy.Requests(func(q string) bool { return q == loginPath })
			return len(rs) == before+1 && rs[len(rs)-1].Status == 200
		})
		if _, err := read(5 * time.Second); err != nil {
			t.Errorf("read after the detached login = %v, want success", err)
		}
		if got := proxy.Count(loginPath) - before; got != 1 {
			t.Errorf("logins after the revocation = %d, want 1: the detached login's token serves everyone", got)
		}
	})
}

// TestTokenSink: with TokenSink the backend writes its token to the file
// at start and again after a re-login (mode 0600, atomically): the file
// always holds the token the backend uses, which Vault accepts.
func TestTokenSink(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "sink/app", map[string]any{"value": "v"})
	mount, roleID, secretID := setupAppRole(t, srv, "approle-sink", map[string]any{"token_ttl": "1h"})
	sink := filepath.Join(t.TempDir(), "token")
	b := newBackend(t, &Options{Address: srv.Addr, Auth: appRole(t, mount, roleID, secretID), KVVersion: 2, TokenSink: sink})
	check := func(when string) string {
		t.Helper()
		tok, err := os.ReadFile(sink)
		if err != nil || string(tok) != b.currentToken() {
			t.Fatalf("%s: the sink holds %d bytes (%v), not the backend's token", when, len(tok), err)
		}
		if st, err := os.Stat(sink); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: sink mode %v, %v; want 0600", when, st.Mode().Perm(), err)
		}
		c := srv.Client(t)
		c.SetToken(string(tok))
		if _, err := c.Auth().Token().LookupSelfWithContext(t.Context()); err != nil {
			t.Errorf("%s: Vault refuses the sink's token: %v", when, err)
		}
		return string(tok)
	}
	first := check("after New")
	if err := srv.Client(t).Auth().Token().RevokeTreeWithContext(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(t.Context(), "sink/app", 0); err != nil { // meets the revoked token, logs in again
		t.Fatalf("Read after the revocation: %v", err)
	}
	if second := check("after the re-login"); second == first {
		t.Error("the sink still holds the revoked token")
	}
}
