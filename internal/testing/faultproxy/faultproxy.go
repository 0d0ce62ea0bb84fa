// Package faultproxy is a reverse proxy for tests that sits in front of a
// real Vault server and, on demand, answers with an error status (500, 502,
// 503, 429 with Retry-After, 412), stalls, drops the connection, adds
// headers to the server's answer, or lets a hostile handler answer (a
// redirect elsewhere, a 1 GiB body, truncated JSON). It counts and
// timestamps every request by path, so tests can assert how many logins,
// renewals and reads reached the server, and which headers they carried.
//
// A *Proxy is safe for concurrent use and must be closed (Start closes it
// when the test ends).
package faultproxy

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fault is what the proxy does to matching requests instead of (or before)
// forwarding them.
type Fault struct {
	// Match selects requests; nil matches every request. See Path and PathPrefix.
	Match func(r *http.Request) bool
	// Status, when non-zero, is answered without forwarding, with a body in
	// Vault's error format.
	Status int
	// RetryAfter is sent as the Retry-After header with Status (e.g. "2").
	RetryAfter string
	// Stall delays the request by this long before forwarding (or before
	// answering Status). A negative Stall holds the request until the
	// client gives up or the proxy closes.
	Stall time.Duration
	// Drop closes the connection abruptly (TCP reset) without answering.
	Drop bool
	// DropAfter forwards the request to the server, then closes the
	// connection abruptly without passing the answer on: the server did
	// the work (a write is applied), the client never learns it.
	DropAfter bool
	// Handler, when set, answers the request instead of the server: a
	// broken or hostile answer (it plays a bad server, not Vault).
	Handler http.Handler
	// Header is added to the server's answer of a forwarded request (e.g.
	// X-Vault-Index, which the community server never sends).
	Header http.Header
	// Times limits the fault to this many matching requests; 0 means until
	// Clear.
	Times int
}

// Path matches requests whose URL path is exactly p (e.g. "/v1/auth/approle/login").
func Path(p string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.URL.Path == p }
}

// PathPrefix matches requests whose URL path starts with p.
func PathPrefix(p string) func(*http.Request) bool {
	return func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, p) }
}

// Request is one request the proxy saw.
type Request struct {
	Time   time.Time
	Method string
	Path   string
	Status int // the status returned to the client; 0 when dropped or still in flight
	// Header is the request's headers, X-Vault-Token removed.
	Header http.Header
}

// Proxy forwards to a target server and injects faults. Create it with New
// or Start.
type Proxy struct {
	// URL is the proxy's base URL (http://127.0.0.1:port).
	URL string

	srv    *httptest.Server
	rp     *httputil.ReverseProxy
	ctx    context.Context
	cancel context.CancelFunc

	conns atomic.Int64

	mu     sync.Mutex
	faults []*Fault
	log    []*Request
}

// New starts a proxy to target (e.g. a vaulttest.Server's Addr). transport
// reaches the target; nil means a clone of http.DefaultTransport that keeps
// up to 64 idle connections to it (the default keeps 2, so a test's 50
// concurrent readers opened a new connection to Vault for almost every
// request: ~5,000 in TIME-WAIT in one 9 s test); pass the
// server's HTTPClient transport for a TLS target.
func New(target string, transport http.RoundTripper) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	if transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		transport = tr
	}
	p := &Proxy{}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = u.Host
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, http.StatusBadGateway, "", "faultproxy: upstream: "+err.Error())
		},
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			p.conns.Add(1)
		}
	}
	p.srv.Start()
	p.URL = p.srv.URL
	return p, nil
}

// Start is New for a test: it fails t on error and closes the proxy when t
// ends.
func Start(t testing.TB, target string, transport http.RoundTripper) *Proxy {
	t.Helper()
	p, err := New(target, transport)
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// Close stops the proxy, releasing stalled requests, and waits for its
// handlers to return.
func (p *Proxy) Close() {
	p.cancel()
	p.srv.CloseClientConnections()
	p.srv.Close()
	if tr, ok := p.rp.Transport.(interface{ CloseIdleConnections() }); ok {
		tr.CloseIdleConnections()
	}
}

// Inject adds a fault. Faults are tried in the order added; the first that
// matches a request applies.
func (p *Proxy) Inject(f Fault) {
	p.mu.Lock()
	p.faults = append(p.faults, &f)
	p.mu.Unlock()
}

// Clear removes every fault.
func (p *Proxy) Clear() {
	p.mu.Lock()
	p.faults = nil
	p.mu.Unlock()
}

// Count returns how many requests with URL path path the proxy has seen
// (faulted ones included).
func (p *Proxy) Count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.log {
		if r.Path == path {
			n++
		}
	}
	return n
}

// Requests returns every request seen so far whose path matches match (nil
// for all), oldest first.
func (p *Proxy) Requests(match func(path string) bool) []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Request
	for _, r := range p.log {
		if match == nil || match(r.Path) {
			out = append(out, *r)
		}
	}
	return out
}

// Conns returns how many client connections the proxy has accepted.
func (p *Proxy) Conns() int { return int(p.conns.Load()) }

// ResetCounts forgets the requests seen so far.
func (p *Proxy) ResetCounts() {
	p.mu.Lock()
	p.log = nil
	p.mu.Unlock()
}

func (p *Proxy) pick(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, f := range p.faults {
		if f.Match != nil && !f.Match(r) {
			continue
		}
		c := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				p.faults = append(p.faults[:i:i], p.faults[i+1:]...)
			}
		}
		return &c
	}
	return nil
}

// begin logs r as it arrives, so that counts include requests still in
// flight; finish sets the status it got.
func (p *Proxy) begin(r *http.Request) *Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := r.Header.Clone()
	h.Del("X-Vault-Token")
	req := &Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Header: h}
	p.log = append(p.log, req)
	return req
}

func (p *Proxy) finish(req *Request, status int) {
	p.mu.Lock()
	req.Status = status
	p.mu.Unlock()
}

// statusRecorder captures the status the reverse proxy writes.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	i := p.begin(r)
	f := p.pick(r)
	if f != nil && f.Stall != 0 {
		var timer <-chan time.Time
		if f.Stall > 0 {
			t := time.NewTimer(f.Stall)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-timer:
		case <-r.Context().Done():
			p.finish(i, 0)
			return
		case <-p.ctx.Done():
			p.finish(i, 0)
			return
		}
	}
	if f != nil && f.DropAfter {
		p.rp.ServeHTTP(httptest.NewRecorder(), r)
	}
	switch {
	case f != nil && (f.Drop || f.DropAfter):
		p.finish(i, 0)
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST instead of FIN
		}
		conn.Close()
		return
	case f != nil && f.Status != 0:
		p.finish(i, f.Status)
		writeError(w, f.Status, f.RetryAfter, "faultproxy: injected "+http.StatusText(f.Status))
		return
	case f != nil && f.Handler != nil:
		rec := &statusRecorder{ResponseWriter: w}
		f.Handler.ServeHTTP(rec, r)
		p.finish(i, rec.status)
		return
	}
	if f != nil && f.Header != nil {
		for k, vs := range f.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
	}
	rec := &statusRecorder{ResponseWriter: w}
	p.rp.ServeHTTP(rec, r)
	p.finish(i, rec.status)
}

func writeError(w http.ResponseWriter, status int, retryAfter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
}
