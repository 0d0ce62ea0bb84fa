package hashivault

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// deadAddr is an address where nothing listens (connection refused).
func deadAddr(t testing.TB) string {
	t.Helper()
	p, err := vaulttest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "http://127.0.0.1:" + strconv.Itoa(p)
}

// sink is another host that must never see a request: it records what
// reaches it.
type sink struct {
	srv    *httptest.Server
	hits   atomic.Int64
	tokens atomic.Int64
}

func newSink(t testing.TB) *sink {
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if r.Header.Get("X-Vault-Token") != "" {
			s.tokens.Add(1)
		}
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"data":{"data":{"value":"from the other host"}}}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// redirectTo answers every request with a redirect to base + the request's
// path and query.
func redirectTo(base string, status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, base+r.URL.RequestURI(), status)
	})
}

// TestRedirectToAnotherHostRefused: vault/api follows a 307 itself and
// sends X-Vault-Token along to any host. A redirect to an address that is
// not configured is not followed: the token never reaches the other host,
// and the error names the refused host, is not retryable (the Store with
// its default retry sends the read once) and carries no token.
func TestRedirectToAnotherHostRefused(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "redirect/app", map[string]any{"value": "v"})
	other := newSink(t)
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2})
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusFound, http.StatusMovedPermanently, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			proxy.Clear()
			proxy.ResetCounts()
			proxy.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/"), Handler: redirectTo(other.srv.URL, status)})
			s := vaultly.New(b, &vaultly.Options{TTL: vaultly.NoCache, KeepBackendOpen: true})
			defer s.Close()
			_, err := s.Get(ctxT(t, 20*time.Second), "redirect/app")
			if code := vaultly.CodeOf(err); code != vaultly.Config {
				t.Errorf("Get through a redirect to another host = %v (code %v), want Config", err, code)
			}
			otherHost := strings.TrimPrefix(other.srv.URL, "http://")
			if msg := fmt.Sprint(err); !strings.Contains(msg, otherHost) || strings.Contains(msg, srv.Token) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s, without the token", msg, otherHost)
			}
			if n := proxy.Count("/v1/secret/data/redirect/app"); n != 1 {
				t.Errorf("reads sent = %d, want 1 (a refused redirect is not retried)", n)
			}
		})
	}
	if h, tok := other.hits.Load(), other.tokens.Load(); h != 0 || tok != 0 {
		t.Errorf("the other host got %d requests (%d with a token), want none", h, tok)
	}
	// The same with a write: the body and the token stay home.
	proxy.Clear()
	proxy.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/"), Handler: redirectTo(other.srv.URL, http.StatusTemporaryRedirect)})
	if _, err := b.Put(ctxT(t, 10*time.Second), "redirect/app", map[string]any{"value": "w"}, nil); vaultly.CodeOf(err) != vaultly.Config {
		t.Errorf("Put through a redirect to another host = %v, want Config", err)
	}
	if h := other.hits.Load(); h != 0 {
		t.Errorf("the other host got %d requests, want none", h)
	}
}

// TestRedirectToConfiguredNode: a redirect to another configured address
// is followed (with the token and the body); when its target does not
// answer, the request goes on to the next configured node.
func TestRedirectToConfiguredNode(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "redirect/ok", map[string]any{"value": "v"})
	p1 := faultproxy.Start(t, srv.Addr, nil)
	p2 := faultproxy.Start(t, srv.Addr, nil)
	dead := deadAddr(t)

	// p1 redirects to p2: followed.
	b := newBackend(t, &Options{Addresses: []string{p1.URL, p2.URL}, Token: srv.Token, KVVersion: 2, HealthInterval: -1})
	p1.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/"), Handler: redirectTo(p2.URL, http.StatusTemporaryRedirect)})
	e, err := b.Read(ctxT(t, 10*time.Second), "redirect/ok", 0)
	if err != nil || e.Fields["value"] != "v" {
		t.Fatalf("Read through a redirect to a configured node = %v, %v; want v", e, err)
	}
	if _, err := b.Put(ctxT(t, 10*time.Second), "redirect/ok", map[string]any{"value": "w"}, nil); err != nil {
		t.Fatalf("Put through a redirect to a configured node: %v", err)
	}
	if n := p2.Count("/v1/secret/data/redirect/ok"); n != 2 {
		t.Errorf("p2 saw %d requests for the entry, want 2 (the redirected read and write)", n)
	}
	if got := srv.Client(t); got != nil {
		sec, err := got.Logical().Read("secret/data/redirect/ok")
		if err != nil || sec.Data["data"].(map[string]any)["value"] != "w" {
			t.Errorf("after the redirected Put, vault has %v, %v; want value w", sec, err)
		}
	}

	// p1 redirects to a dead configured node: the request goes on to p2.
	b2 := newBackend(t, &Options{Addresses: []string{p1.URL, dead, p2.URL}, Token: srv.Token, KVVersion: 2, HealthInterval: -1})
	p1.Clear()
	p1.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/"), Handler: redirectTo(dead, http.StatusTemporaryRedirect)})
	p2.ResetCounts()
	e, err = b2.Read(ctxT(t, 10*time.Second), "redirect/ok", 0)
	if err != nil || e.Fields["value"] != "w" {
		t.Fatalf("Read through a redirect to a dead node = %v, %v; want w from the next node", e, err)
	}
	if n := p2.Count("/v1/secret/data/redirect/ok"); n != 1 {
		t.Errorf("p2 saw %d reads, want 1", n)
	}
	var deadState NodeState
	for _, n := range b2.Nodes() {
		if n.Address == dead {
			deadState = n.State
		}
	}
	if deadState != NodeDown {
		t.Errorf("dead node state = %q, want %q", deadState, NodeDown)
	}
}

// TestFailover: with several addresses, a node that refuses connections
// is skipped (reads and writes), a sealed node's refusal sends even a
// write to the next node, and a write that may have been applied (a 503
// that is not a refusal) is not sent twice.
func TestFailover(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "failover/app", map[string]any{"value": "v"})
	p1 := faultproxy.Start(t, srv.Addr, nil)
	p2 := faultproxy.Start(t, srv.Addr, nil)
	dead := deadAddr(t)
	ctx := ctxT(t, 30*time.Second)

	b := newBackend(t, &Options{Addresses: []string{dead, p1.URL}, Token: srv.Token, KVVersion: 2, HealthInterval: -1})
	if e, err := b.Read(ctx, "failover/app", 0); err != nil || e.Fields["value"] != "v" {
		t.Fatalf("Read with the first node down = %v, %v", e, err)
	}
	if _, err := b.Put(ctx, "failover/app", map[string]any{"value": "v2"}, nil); err != nil {
		t.Fatalf("Put with the first node down: %v", err)
	}
	nodes := b.Nodes()
	if nodes[0].State != NodeDown || nodes[0].Current || !nodes[1].Current {
		t.Errorf("Nodes() = %+v, want the dead node down and the second current", nodes)
	}

	sealed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"errors":["Vault is sealed"]}`)
	})
	b2 := newBackend(t, &Options{Addresses: []string{p1.URL, p2.URL}, Token: srv.Token, KVVersion: 2, HealthInterval: -1})
	p1.ResetCounts()
	p1.Inject(faultproxy.Fault{Handler: sealed}) // sys/health too, as a sealed node
	if _, err := b2.Put(ctx, "failover/app", map[string]any{"value": "v3"}, nil); err != nil {
		t.Fatalf("Put with the first node sealed: %v", err)
	}
	if n1, n2 := p1.Count("/v1/secret/data/failover/app"), p2.Count("/v1/secret/data/failover/app"); n1 != 1 || n2 != 1 {
		t.Errorf("Put sent %d times to the sealed node and %d to the next, want 1 and 1", n1, n2)
	}
	if st := b2.Nodes()[0].State; st != NodeSealed {
		t.Errorf("sealed node state = %q, want %q", st, NodeSealed)
	}

	// A plain 503 to a write: it may have been applied; not sent again.
	p1.Clear()
	b3 := newBackend(t, &Options{Addresses: []string{p1.URL, p2.URL}, Token: srv.Token, KVVersion: 2, HealthInterval: -1})
	p1.ResetCounts()
	p2.ResetCounts()
	p1.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/"), Status: http.StatusServiceUnavailable})
	_, err := b3.Put(ctx, "failover/app", map[string]any{"value": "v4"}, nil)
	if vaultly.CodeOf(err) != vaultly.Unavailable {
		t.Errorf("Put answered a plain 503 = %v, want Unavailable", err)
	}
	if n1, n2 := p1.Count("/v1/secret/data/failover/app"), p2.Count("/v1/secret/data/failover/app"); n1 != 1 || n2 != 0 {
		t.Errorf("Put sent %d times to the failing node and %d to the next, want 1 and 0", n1, n2)
	}
	// ... but a read goes on to the next node.
	if e, err := b3.Read(ctx, "failover/app", 0); err != nil || e.Fields["value"] != "v3" {
		t.Errorf("Read with the first node answering 503 = %v, %v; want v3 from the next node", e, err)
	}

	// Every node failing: the last answer, marked for a breaker above.
	b4 := newBackend(t, &Options{Addresses: []string{p1.URL, dead}, Token: srv.Token, KVVersion: 2, HealthInterval: -1})
	_, err = b4.Read(ctx, "failover/app", 0)
	if vaultly.CodeOf(err) != vaultly.Unavailable || !ClusterUnavailable(err) || !strings.Contains(fmt.Sprint(err), "all 2 vault nodes tried") {
		t.Errorf("Read with every node failing = %v (cluster unavailable %v), want Unavailable saying all 2 nodes were tried", err, ClusterUnavailable(err))
	}
	if e, err := newBackend(t, &Options{Address: p2.URL, Token: srv.Token, KVVersion: 2}).Read(ctx, "failover/app", 0); err != nil || e == nil {
		t.Fatalf("Read through p2: %v", err)
	}
}

// TestAnswerLimit: every answer vaultly reads goes through one limit —
// KV reads, lists, sys, token lookups and logins — and an answer past it
// is Malformed, naming the limit. Against the real server's answers.
func TestAnswerLimit(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "limit/app", map[string]any{"value": strings.Repeat("x", 2000)})
	mount, roleID, secretID := setupAppRole(t, srv, "approle-limit", nil)
	const limit = 150 // every answer below is larger
	b := rootBackend(t, srv, &Options{KVVersion: 2})
	b.r.maxBody = limit // after New, whose own token lookup is larger
	ctx := ctxT(t, 30*time.Second)
	calls := []struct {
		name string
		call func() error
	}{
		{"Read", func() error { _, err := b.Read(ctx, "limit/app", 0); return err }},
		{"GetEntry", func() error { _, err := b.GetEntry(ctx, "limit/app", 0); return err }},
		{"ReadMetadata", func() error { _, err := b.ReadMetadata(ctx, "limit/app"); return err }},
		{"SealStatus", func() error { _, err := b.SealStatus(ctx); return err }},
		{"LookupSelf", func() error { _, err := b.LookupSelf(ctx); return err }},
		{"Call", func() error {
			return b.Call(ctx, func(ctx context.Context, c *api.Client) error {
				_, err := c.Sys().ListMountsWithContext(ctx)
				return err
			})
		}},
		{"login", func() error {
			_, err := New(ctx, &Options{Address: srv.Addr, Auth: appRole(t, mount, roleID, secretID), ConfigFile: "-", MaxResponseBytes: limit})
			return err
		}},
		{"token lookup", func() error {
			_, err := New(ctx, &Options{Address: srv.Addr, Token: srv.Token, ConfigFile: "-", MaxResponseBytes: limit})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if code := vaultly.CodeOf(err); code != vaultly.Malformed || !strings.Contains(fmt.Sprint(err), "150 bytes limit") {
				t.Errorf("%s with a %d-byte answer limit = %v (code %v), want Malformed naming the limit", c.name, limit, err, code)
			}
		})
	}
	// Within the limit, the same calls work.
	big := rootBackend(t, srv, &Options{KVVersion: 2, MaxResponseBytes: 1 << 20})
	if _, err := big.Read(ctx, "limit/app", 0); err != nil {
		t.Errorf("Read with a 1 MiB limit: %v", err)
	}
}

// hugeBody answers 200 with a JSON KV answer whose value is n bytes long,
// streamed; it stops when the client goes away.
func hugeBody(n int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if _, err := io.WriteString(w, `{"data":{"data":{"value":"`); err != nil {
			return
		}
		chunk := []byte(strings.Repeat("a", 64<<10))
		for sent := int64(0); sent < n; sent += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		io.WriteString(w, `"},"metadata":{"version":1}}}`)
	})
}

// TestHugeAnswer: a server sending a 1 GiB answer gets a Malformed error
// naming the limit, quickly (the rest is never read), and the Store does
// not retry it. The limit is 1 MiB here so that the test reads little
// while others share the machine; the 32 MiB default against a 1 GiB
// answer, with its memory, is measured by internal/testing/bounded in a
// process of its own.
func TestHugeAnswer(t *testing.T) {
	t.Parallel()
	if s, err := resolve(&Options{Address: "http://a:1", Token: "t", ConfigFile: "-"}); err != nil || newRouter(s.addrs, s.addrs[0], s.MaxResponseBytes, nil).maxBody != 32<<20 {
		t.Errorf("default answer limit: %v, want 32 MiB", err)
	}
	srv := shared(t)
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2, MaxResponseBytes: 1 << 20})
	proxy.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/"), Handler: hugeBody(1 << 30)})
	s := vaultly.New(b, &vaultly.Options{TTL: vaultly.NoCache, KeepBackendOpen: true})
	defer s.Close()
	start := time.Now()
	_, err := s.Get(ctxT(t, 60*time.Second), "huge/app")
	if code := vaultly.CodeOf(err); code != vaultly.Malformed || !strings.Contains(fmt.Sprint(err), "1 MiB limit") {
		t.Errorf("Get of a 1 GiB answer = %v (code %v), want Malformed naming the 1 MiB limit", err, code)
	}
	if n := proxy.Count("/v1/secret/data/huge/app"); n != 1 {
		t.Errorf("reads sent = %d, want 1 (not retried)", n)
	}
	t.Logf("a 1 GiB answer refused after %v", time.Since(start).Round(time.Millisecond))

	// Content-Length past the limit: refused before reading the body.
	proxy.Clear()
	proxy.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/"), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(64<<20))
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"data":`))
	})})
	if _, err := b.Read(ctxT(t, 10*time.Second), "huge/app", 0); vaultly.CodeOf(err) != vaultly.Malformed {
		t.Errorf("Read of an answer declaring 64 MiB = %v, want Malformed", err)
	}
}

// TestHugeErrorAnswer: an 8 MiB {"errors":[...]} answer does not become
// an 8 MB error line: the message stays short, and so does the
// *api.ResponseError kept in the chain.
func TestHugeErrorAnswer(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2})
	one := strings.Repeat("e", 1000)
	bodies := map[string]string{
		"one huge error":   `{"errors":["` + strings.Repeat("x", 8<<20) + `"]}`,
		"many errors":      `{"errors":[` + strings.TrimSuffix(strings.Repeat(`"`+one+`",`, 8000), ",") + `]}`,
		"not json":         strings.Repeat("<html>", 2<<20),
		"errors not texts": `{"errors":[{"a":"` + strings.Repeat("y", 1<<20) + `"}]}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			proxy.Clear()
			proxy.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/"), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, body)
			})})
			_, err := b.Read(ctxT(t, 10*time.Second), "hugeerr/app", 0)
			if vaultly.CodeOf(err) != vaultly.InvalidArgument {
				t.Errorf("Read = %v, want InvalidArgument (the 400)", vaultly.CodeOf(err))
			}
			if n := len(fmt.Sprint(err)); n > 2000 {
				t.Errorf("error text is %d bytes, want at most 2000", n)
			}
			var re *api.ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("errors.As(*api.ResponseError) failed for %v", err)
			}
			if n := len(re.Error()); n > 8<<10 {
				t.Errorf("the ResponseError in the chain prints %d bytes, want at most 8 KiB", n)
			}
		})
	}
}

// TestMalformedAnswers: a complete answer that is not what Vault sends —
// wrongly typed fields, JSON cut short, an empty 200 — is Malformed, says
// the server's answer was malformed, and is not retried; before, a wrongly
// typed entry read as "not found" and truncated JSON as Unavailable.
func TestMalformedAnswers(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2})
	answers := []struct{ name, body string }{
		{"data is a string", `{"data":{"data":"not an object","metadata":{"version":1}}}`},
		{"data is a list", `{"data":{"data":["a"],"metadata":{"version":1}}}`},
		{"metadata is a string", `{"data":{"data":{"value":"v"},"metadata":"x"}}`},
		{"no data", `{"request_id":"x"}`},
		{"truncated", `{"data":{"data":{"value":"v"`},
		{"empty", ``},
		{"not json", `<html>hello</html>`},
	}
	ops := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Read", func(ctx context.Context) error { _, err := b.Read(ctx, "mal/app", 0); return err }},
		{"GetEntry", func(ctx context.Context) error { _, err := b.GetEntry(ctx, "mal/app", 0); return err }},
		{"Store.Get", func(ctx context.Context) error {
			s := vaultly.New(b, &vaultly.Options{TTL: vaultly.NoCache, KeepBackendOpen: true})
			defer s.Close()
			_, err := s.Get(ctx, "mal/app")
			return err
		}},
	}
	for _, a := range answers {
		for _, op := range ops {
			t.Run(a.name+"/"+op.name, func(t *testing.T) {
				proxy.Clear()
				proxy.ResetCounts()
				proxy.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/"), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
					io.WriteString(w, a.body)
				})})
				err := op.call(ctxT(t, 20*time.Second))
				if code := vaultly.CodeOf(err); code != vaultly.Malformed || !strings.Contains(fmt.Sprint(err), "malformed") {
					t.Errorf("%s of an answer with %s = %v (code %v), want Malformed", op.name, a.name, err, code)
				}
				if n := proxy.Count("/v1/secret/data/mal/app"); n != 1 {
					t.Errorf("reads sent = %d, want 1 (Malformed is not retried)", n)
				}
			})
		}
	}
	// A list whose keys are not a list of strings.
	proxy.Clear()
	proxy.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/metadata/"), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"data":{"keys":"a"}}`)
	})})
	if _, err := b.List(ctxT(t, 10*time.Second), "mal"); vaultly.CodeOf(err) != vaultly.Malformed {
		t.Errorf("List of keys that are not a list = %v, want Malformed", err)
	}
	// A connection cut mid-answer stays Unavailable (it may work again).
	proxy.Clear()
	proxy.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/"), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"data":{"data":`)
		panic(http.ErrAbortHandler)
	})})
	if _, err := b.Read(ctxT(t, 10*time.Second), "mal/app", 0); vaultly.CodeOf(err) != vaultly.Unavailable {
		t.Errorf("Read of an answer cut by the connection = %v, want Unavailable", err)
	}
}

// TestOversizedWrite: a 10 MB value, which the real server refuses with
// 500 "JSON string value exceeds allowed length", is InvalidArgument with a
// hint, and the Store does not send it again (before: Unavailable, and
// retried). A server of its own: parsing 10 and 36 MB requests keeps a dev
// server busy, and the shared one serves real-time tests.
func TestOversizedWrite(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t, nil)
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2})
	s := vaultly.New(b, &vaultly.Options{KeepBackendOpen: true})
	defer s.Close()
	err := s.Put(ctxT(t, 60*time.Second), "oversized/app", map[string]any{"value": strings.Repeat("a", 10_000_000)})
	if code := vaultly.CodeOf(err); code != vaultly.InvalidArgument || !strings.Contains(fmt.Sprint(err), "exceeds allowed length") {
		t.Errorf("Put of a 10 MB value = %v (code %v), want InvalidArgument quoting the server", err, code)
	}
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusInternalServerError {
		t.Errorf("errors.As(*api.ResponseError) = %v, want the server's 500", re)
	}
	if n := proxy.Count("/v1/secret/data/oversized/app"); n != 1 {
		t.Errorf("writes sent = %d, want 1 (not retried)", n)
	}
	// Past max_request_size (32 MiB): 413, InvalidArgument too.
	fields := map[string]any{}
	for i := range 40 {
		fields["k"+strconv.Itoa(i)] = strings.Repeat("a", 900_000)
	}
	if _, err := b.Put(ctxT(t, 60*time.Second), "oversized/app", fields, nil); vaultly.CodeOf(err) != vaultly.InvalidArgument {
		t.Errorf("Put of 36 MB = %v, want InvalidArgument", err)
	}
}

// replicationState is an X-Vault-Index value as Vault Enterprise sends it
// (base64 of v1:cluster:local:replicated:hmac).
func replicationState(local int) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("v1:cluster-a:%d:0:00ff", local)))
}

// TestReadYourWrites: the community server never sends X-Vault-Index; a
// proxy in front of it adds the header to write answers, as Vault
// Enterprise and OpenBao do. The backend keeps the newest state and sends
// it on the requests after the write, with X-Vault-Inconsistent asking a
// node that has not caught up to forward to the active node.
func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2})
	ctx := ctxT(t, 20*time.Second)
	path := "/v1/secret/data/ryw/app"
	isEntry := func(p string) bool { return p == path }

	if _, err := b.Put(ctx, "ryw/app", map[string]any{"value": "v"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(ctx, "ryw/app", 0); err != nil {
		t.Fatal(err)
	}
	for _, r := range proxy.Requests(isEntry) {
		if v := r.Header.Values(api.HeaderIndex); len(v) != 0 {
			t.Errorf("%s %s carried X-Vault-Index %v before any server sent one", r.Method, r.Path, v)
		}
	}
	for i, local := range []int{5, 9} {
		proxy.Clear()
		proxy.ResetCounts()
		proxy.Inject(faultproxy.Fault{Match: func(r *http.Request) bool { return r.Method != http.MethodGet }, Header: http.Header{api.HeaderIndex: {replicationState(local)}}})
		if _, err := b.Put(ctx, "ryw/app", map[string]any{"value": strconv.Itoa(i)}, nil); err != nil {
			t.Fatal(err)
		}
		e, err := b.Read(ctx, "ryw/app", 0)
		if err != nil || e.Fields["value"] != strconv.Itoa(i) {
			t.Fatalf("Read after the write = %v, %v", e, err)
		}
		reqs := proxy.Requests(isEntry)
		if len(reqs) != 2 {
			t.Fatalf("requests = %d, want the write and the read", len(reqs))
		}
		read := reqs[1]
		if got := read.Header.Values(api.HeaderIndex); len(got) != 1 || got[0] != replicationState(local) {
			t.Errorf("read after write %d carried X-Vault-Index %v, want [%s] (the newest state only)", i, got, replicationState(local))
		}
		if got := read.Header.Get(api.HeaderInconsistent); got != "" {
			t.Errorf("read after write %d carried X-Vault-Inconsistent %q, want none (servers refuse it unless configured)", i, got)
		}
	}
}

// TestUnansweredWriteNotDuplicated: a write that reached Vault but whose
// answer was lost (the node died after applying it) is retried by the
// Store; it must not become a second version. And a write lost before
// Vault applied it is applied exactly once.
func TestUnansweredWriteNotDuplicated(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2})
	s := vaultly.New(b, &vaultly.Options{KeepBackendOpen: true})
	defer s.Close()
	kv := srv.Client(t).KVv2("secret")
	for _, tt := range []struct {
		name  string
		fault faultproxy.Fault
	}{
		{"applied, answer lost", faultproxy.Fault{DropAfter: true}},
		{"lost before vault", faultproxy.Fault{Drop: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := unique("unanswered/app")
			f := tt.fault
			f.Match = func(r *http.Request) bool { return r.Method != http.MethodGet && r.URL.Path == "/v1/secret/data/"+path }
			f.Times = 1
			proxy.Inject(f)
			fields := map[string]any{"value": "v", "n": 7, "list": []any{"a", 1.5}}
			if err := s.Put(ctxT(t, 30*time.Second), path, fields); err != nil {
				t.Fatalf("Put whose first answer was lost: %v", err)
			}
			sec, err := kv.Get(ctxT(t, 10*time.Second), path)
			if err != nil {
				t.Fatal(err)
			}
			if sec.VersionMetadata.Version != 1 || sec.Data["value"] != "v" {
				t.Errorf("after the Put: version %d, data %v; want version 1 (written once) with value v", sec.VersionMetadata.Version, sec.Data)
			}
		})
	}
}

// TestRedirectLoop: a node redirecting to itself ends in an Unavailable
// error after one request, not a loop.
func TestRedirectLoop(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2})
	proxy.Inject(faultproxy.Fault{Match: faultproxy.PathPrefix("/v1/secret/"), Handler: redirectTo(proxy.URL, http.StatusTemporaryRedirect)})
	_, err := b.Read(ctxT(t, 10*time.Second), "loop/app", 0)
	if vaultly.CodeOf(err) != vaultly.Unavailable || !strings.Contains(fmt.Sprint(err), "redirected the request back") {
		t.Errorf("Read redirected to itself = %v, want Unavailable", err)
	}
	if n := proxy.Count("/v1/secret/data/loop/app"); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

// TestAnswerCutMidBody: a chunked answer cut by the connection is
// Unavailable ("while reading the answer"), and a Store write whose answer
// is lost after the server applied it is settled, not written twice.
func TestAnswerCutMidBody(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2})
	cut := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"data":{"data":`+strings.Repeat(" ", 4096)) // past the 2 KB net/http buffers: chunked
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	proxy.Inject(faultproxy.Fault{Match: func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/secret/data/cut/")
	}, Handler: cut})
	if _, err := b.Read(ctxT(t, 10*time.Second), "cut/app", 0); vaultly.CodeOf(err) != vaultly.Unavailable || !strings.Contains(fmt.Sprint(err), "while reading the answer") {
		t.Errorf("Read of a chunked answer cut short = %v, want Unavailable, while reading the answer", err)
	}
	proxy.Clear()
	// A write applied by the server whose answer never arrives.
	path := unique("cut/w")
	proxy.Inject(faultproxy.Fault{Match: func(r *http.Request) bool { return r.Method != http.MethodGet && r.URL.Path == "/v1/secret/data/"+path }, DropAfter: true, Times: 1})
	s := vaultly.New(b, &vaultly.Options{KeepBackendOpen: true})
	defer s.Close()
	if err := s.Put(ctxT(t, 20*time.Second), path, map[string]any{"value": "v"}); err != nil {
		t.Fatalf("Put whose answer was lost: %v", err)
	}
	sec, err := srv.Client(t).KVv2("secret").Get(ctxT(t, 10*time.Second), path)
	if err != nil || sec.VersionMetadata.Version != 1 {
		t.Errorf("after the Put: %v, %v; want version 1", sec, err)
	}
}
