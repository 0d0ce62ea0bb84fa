package hashivault

// The HTTP transport under vault/api. Every request vaultly sends — KV,
// sys, auth logins, leases, transit — goes through it, so this is the one
// place that bounds answers, routes requests across the configured nodes,
// follows (or refuses) redirects and carries X-Vault-Index.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/hint"
)

const (
	// DefaultMaxResponseBytes is the default Options.MaxResponseBytes.
	DefaultMaxResponseBytes = 32 << 20

	// errorBodyLimit is how much of an error answer (status >= 400) is
	// read; errorKeep and errorLineMax bound what of it reaches error text.
	errorBodyLimit = 1 << 20
	errorKeep      = 8
	errorLineMax   = 512
	rawErrorMax    = 1 << 10
)

// router is the part of the transport shared by every client of one
// Backend: the node list and its health view, the answer limit and the
// replication state (X-Vault-Index) seen so far. Safe for concurrent use.
type router struct {
	v       *view
	base    *url.URL // the api client's address: request paths start with its path
	maxBody int64
	log     *slog.Logger
	check   *checker // nil when health checks do not run (one node, SysClient)
	baseIdx int      // the node that is the api client's own address, or -1
	one     []int    // the routing order of a single node: [0]

	mu    sync.Mutex
	index []string // replication states, merged as vault/api does
}

func newRouter(addrs []*url.URL, base *url.URL, maxBody int64, log *slog.Logger) *router {
	if maxBody <= 0 {
		maxBody = DefaultMaxResponseBytes
	}
	if log == nil {
		log = slog.Default()
	}
	r := &router{v: newView(addrs), base: base, maxBody: maxBody, log: log, baseIdx: -1, one: []int{0}}
	for i, n := range r.v.nodes {
		if n.key == nodeKey(base) && strings.TrimSuffix(n.u.Path, "/") == strings.TrimSuffix(base.Path, "/") {
			r.baseIdx = i
			break
		}
	}
	return r
}

// startChecks starts the health checks of a view of several nodes, with
// probes sent through rt.
func (r *router) startChecks(rt http.RoundTripper, interval time.Duration) {
	if len(r.v.nodes) < 2 {
		return
	}
	if interval == 0 {
		interval = defaultHealthInterval
	}
	r.check = startChecker(r.v, interval, httpProbe(rt), func(i int, from, to NodeState) {
		r.log.Debug("vaultly: vault node state changed", "node", r.v.nodes[i].u.Redacted(), "from", string(from), "to", string(to))
	})
}

func (r *router) stop() { r.check.stop() }

// transport is the http.RoundTripper of one vaultly HTTP client: rt sends,
// r decides.
type transport struct {
	rt http.RoundTripper
	r  *router
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.r.roundTrip(t.rt, req)
}

// BaseTransport returns the transport under vaultly's; with
// WithBaseTransport, a login method that needs its own TLS settings (cert
// auth adds a client certificate) clones the base and keeps vaultly's
// routing and limits on top.
func (t *transport) BaseTransport() http.RoundTripper { return t.rt }

// WithBaseTransport returns vaultly's transport (same nodes, health view
// and limits) over rt.
func (t *transport) WithBaseTransport(rt http.RoundTripper) http.RoundTripper {
	return &transport{rt: rt, r: t.r}
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach rt.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Errors the transport returns (inside the *url.Error of net/http). They
// never contain a token: only addresses, methods and paths. A refused
// redirect and an answer past the limit come already classified (a
// *driver.Error), so every layer that maps errors — MapError, the auth
// methods' own classification — keeps their code.

// errRedirect is the error for a redirect that is not followed.
func errRedirect(from, to string) error {
	return &driver.Error{Code: driver.Config, Err: &hint.Mark{Kind: hint.UnlistedRedirect, Err: &redirectError{from: from, to: to}},
		Hint: "list every vault node in Options.Addresses (or VAULTLY_ADDRS) so that a standby's redirect to it is followed"}
}

// errTooLarge is the error for an answer past the limit.
func errTooLarge(limit int64) error {
	return &driver.Error{Code: driver.Malformed, Err: &hint.Mark{Kind: hint.ResponseLimit, Err: &tooLargeError{limit}},
		Hint: "Options.MaxResponseBytes raises the limit"}
}

// redirectError is a redirect to an address that is not configured.
type redirectError struct{ from, to string }

func (e *redirectError) Error() string {
	if e.to == "" {
		return "vault at " + e.from + " answered a redirect without a valid location"
	}
	return "vault at " + e.from + " redirected to " + e.to + ", which is not a configured vault address; not followed"
}

// tooLargeError is an answer larger than the limit.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return "the server's answer is larger than the " + sizeText(e.limit) + " limit"
}

// nodeError is a failure to get an answer from one node: the request was
// not sent, or no answer came back. It names the node the request went to.
type nodeError struct {
	method, url string
	sent        bool // the request was written out: it may have reached the server
	err         error
}

func (e *nodeError) Error() string { return e.method + " " + e.url + ": " + e.err.Error() }
func (e *nodeError) Unwrap() error { return e.err }

// unanswered reports whether err is a write that was sent to a node which
// gave no answer (reset, timeout): it may or may not have been applied.
func unanswered(err error) bool {
	ne, ok := errors.AsType[*nodeError](err)
	return ok && ne.sent && !idempotent(ne.method)
}

// bodyError is a failure while reading an answer's body (a connection
// closed or reset mid-answer), as opposed to an answer that was complete
// but could not be parsed.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "reading the answer: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// headerNoForwarding asks a standby to redirect a request instead of
// forwarding it to the active node.
const headerNoForwarding = "X-Vault-No-Request-Forwarding"

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, "LIST":
		return true
	}
	return false
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// notAppliedTexts are the errors with which a Vault node refuses a request
// it did not (and will not) apply: sealed, or a standby that knows of no
// active node. Such a request, a write included, may go to another node.
var notAppliedTexts = []string{
	"Vault is sealed",
	"local node not active",
	"active cluster node not found",
	"no active Vault instance found",
	"node is not active",
	"Vault is in standby mode",
	"please forward to the active node",
}

func notApplied(body []byte) bool {
	for _, s := range notAppliedTexts {
		if bytes.Contains(body, []byte(s)) {
			return true
		}
	}
	return false
}

// nodeURL is the URL of the request for node i: the node's scheme, host
// and path prefix, then the request's path after the client's own prefix.
func (r *router) nodeURL(i int, req *url.URL) *url.URL {
	n := r.v.nodes[i].u
	rel := strings.TrimPrefix(req.Path, strings.TrimSuffix(r.base.Path, "/"))
	u := *req
	u.Scheme, u.Host, u.User = n.Scheme, n.Host, nil
	u.Path = strings.TrimSuffix(n.Path, "/") + rel
	u.RawPath = ""
	return &u
}

// roundTrip sends req to the nodes in the view's order until one gives an
// answer that is not a node failure:
//
//   - not sent (connection refused, DNS, TLS handshake): the next node,
//     whatever the method;
//   - sent but no answer (reset, timeout): the next node for a read; for a
//     write the error is returned, since it may have been applied;
//   - 503/502/504: the next node for a read; for a write only when the
//     node said it did not apply it (sealed, no active node);
//   - 500 "local node not active" and the like: the next node;
//   - 412 (the node has not caught up with the X-Vault-Index sent): the
//     next node, whatever the method (nothing was applied);
//   - a redirect to a configured node: that node next (once per request);
//     to any other address: an error naming it, and the token never
//     leaves for it (a write asked not to be forwarded goes to the same
//     node again, which may then forward it).
//
// Each node is tried at most once per request; the Store's retry policy
// spaces the attempts. When every node failed, the last node's answer (or
// error) is returned.
func (r *router) roundTrip(rt http.RoundTripper, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	ci, _ := ctx.Value(callInfoKey{}).(*callInfo)
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	read := idempotent(req.Method)
	queue := r.one
	// A standby forwards a write to the active node, and when the active
	// node dies on the way it answers as if it had not (a redirect, or 503
	// "no active Vault instance found") though the write may have been
	// applied: sending it to the next node would apply it twice. With more
	// than one node, writes ask standbys not to forward them, so that such
	// an answer means "not applied" and the write follows the redirect to
	// the active node itself.
	noForward := false
	if len(r.v.nodes) > 1 {
		queue = r.v.order()
		noForward = !read
	}
	var triedArr [8]bool
	var tried []bool
	if len(r.v.nodes) <= len(triedArr) {
		tried = triedArr[:len(r.v.nodes)]
	} else {
		tried = make([]bool, len(r.v.nodes))
	}
	var (
		target   map[int]*url.URL // redirect locations, by node
		lastResp *http.Response
		lastErr  error
	)
	drop := func() {
		if lastResp != nil {
			lastResp.Body.Close()
			lastResp = nil
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		if tried[i] {
			continue
		}
		tried[i] = true
		u := target[i]
		switch {
		case u != nil:
		case i == r.baseIdx:
			u = req.URL
		default:
			u = r.nodeURL(i, req.URL)
		}
		resp, sent, err := r.send(rt, req, u, body, noForward)
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				drop()
				return nil, err
			}
			r.v.set(i, NodeDown, now)
			r.check.failed()
			r.log.Debug("vaultly: vault node did not answer", "node", r.v.nodes[i].u.Redacted(), "method", req.Method, "sent", sent, "error", rootMsg(err))
			if sent && !read {
				drop()
				return nil, err // may have been applied: the caller decides
			}
			lastErr = err // an earlier node's answer, if any, says more
			continue
		}
		if isRedirect(resp.StatusCode) {
			loc, lerr := resp.Location()
			discard(resp)
			from := r.v.nodes[i].key
			if lerr != nil {
				drop()
				return nil, errRedirect(from, "")
			}
			j := r.v.lookup(loc)
			if j < 0 && noForward {
				// The node is a standby that would have forwarded the
				// write to an active node this client cannot reach by
				// name: it did not apply it, so it may forward it now.
				r.log.Debug("vaultly: a standby redirected a write to an unlisted address; sending it again for the standby to forward", "node", from, "to", strings.ToLower(loc.Scheme)+"://"+loc.Host)
				noForward, tried[i] = false, false
				queue = append([]int{i}, queue...)
				continue
			}
			if j < 0 {
				drop()
				return nil, errRedirect(from, strings.ToLower(loc.Scheme)+"://"+loc.Host)
			}
			r.log.Debug("vaultly: following a redirect", "from", from, "to", r.v.nodes[j].key, "status", resp.StatusCode)
			if !tried[j] {
				lu := *loc
				lu.User = nil
				if target == nil {
					target = map[int]*url.URL{}
				}
				target[j] = &lu
				queue = append([]int{j}, queue...)
			}
			continue
		}
		if resp.StatusCode == http.StatusPreconditionFailed && r.hasIndex() {
			b, _ := readUpTo(resp.Body, errorBodyLimit)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			r.log.Debug("vaultly: vault node has not caught up with this client's writes; trying another", "node", r.v.nodes[i].u.Redacted())
			drop()
			lastResp, lastErr = resp, nil
			continue
		}
		if s := resp.StatusCode; s == http.StatusInternalServerError || s == http.StatusBadGateway || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout {
			b, _ := readUpTo(resp.Body, errorBodyLimit)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			refused := notApplied(b)
			if refused || s != http.StatusInternalServerError {
				// The node, not the request, is the problem.
				switch {
				case bytes.Contains(b, []byte("Vault is sealed")):
					r.v.set(i, NodeSealed, now)
				case refused:
					r.v.demote(i, now)
				default:
					r.v.set(i, NodeFailing, now)
				}
				r.check.failed()
				drop()
				if refused || read {
					r.log.Debug("vaultly: vault node refused the request; trying another", "node", r.v.nodes[i].u.Redacted(), "method", req.Method, "status", s)
					lastResp, lastErr = resp, nil
					continue
				}
				return r.finish(req, resp, ci) // a write that may have been applied
			}
		}
		r.v.answered(i, now)
		drop()
		return r.finish(req, resp, ci)
	}
	if lastResp != nil {
		if ci != nil && len(r.v.nodes) > 1 {
			ci.allNodes.Store(int32(len(r.v.nodes)))
		}
		return r.finish(req, lastResp, ci)
	}
	if lastErr == nil {
		// Only redirects between nodes already tried (a loop).
		lastErr = &driver.Error{Code: driver.Unavailable, Err: errors.New("vault redirected the request back to a node already tried")}
	}
	if ci != nil && len(r.v.nodes) > 1 {
		ci.allNodes.Store(int32(len(r.v.nodes)))
	}
	return nil, lastErr
}

// send sends one copy of req to u. sent reports whether the request was
// written out (so a failure may have reached the server).
//
// A read is not traced (whether it was sent does not change what happens
// next: it may go to another node either way), and a read to the client's
// own address with nothing to add goes out as it is, without a copy.
func (r *router) send(rt http.RoundTripper, req *http.Request, u *url.URL, body []byte, noForward bool) (resp *http.Response, sent bool, err error) {
	read := idempotent(req.Method)
	out := req
	var wrote atomic.Bool
	if !read || u != req.URL || body != nil || r.hasIndex() {
		ctx := req.Context()
		if !read {
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
				if i.Err == nil {
					wrote.Store(true)
				}
			}})
		}
		out = req.Clone(ctx)
		out.URL, out.Host = u, ""
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
			out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			out.ContentLength = int64(len(body))
		}
		r.require(out.Header)
		if noForward {
			out.Header.Set(headerNoForwarding, "true")
		}
	}
	resp, err = rt.RoundTrip(out)
	if err != nil {
		sent := read || wrote.Load()
		return nil, sent, &nodeError{method: req.Method, url: stripQuery(u.Scheme + "://" + u.Host + u.Path), sent: sent, err: err}
	}
	return resp, true, nil
}

// finish records the replication state of an answer and bounds its body.
// A failure to read the body is a nodeError (sent): for a write, the
// answer to an applied request was lost.
func (r *router) finish(req *http.Request, resp *http.Response, ci *callInfo) (*http.Response, error) {
	at := req.URL
	if resp.Request != nil {
		at = resp.Request.URL // the node it went to
	}
	where := stripQuery(at.Scheme + "://" + at.Host + at.Path)
	r.record(resp.Header)
	if resp.StatusCode >= 400 {
		b, cut := readUpTo(resp.Body, errorBodyLimit)
		resp.Body.Close()
		b = trimErrorBody(b, cut)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Del("Content-Length")
		return resp, nil
	}
	if resp.ContentLength > r.maxBody {
		resp.Body.Close()
		if ci != nil {
			ci.tooLarge.Store(r.maxBody)
		}
		return nil, errTooLarge(r.maxBody)
	}
	if resp.ContentLength < 0 {
		// No length given (a chunked answer: Vault's over ~2 KB): read it
		// here, up to the limit, so that an answer past it fails before
		// vault/api copies it (its ParseSecret keeps two buffers).
		b, err := io.ReadAll(io.LimitReader(resp.Body, r.maxBody+1))
		resp.Body.Close()
		switch {
		case err != nil:
			return nil, &nodeError{method: req.Method, url: where, sent: true, err: &bodyError{err}}
		case int64(len(b)) > r.maxBody:
			if ci != nil {
				ci.tooLarge.Store(r.maxBody)
			}
			return nil, errTooLarge(r.maxBody)
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		return resp, nil
	}
	resp.Body = &limitedBody{rc: resp.Body, left: r.maxBody, limit: r.maxBody, ci: ci, method: req.Method, url: where}
	return resp, nil
}

// record keeps the replication state of an answer (X-Vault-Index, sent by
// Vault Enterprise and OpenBao >= 2.7), merged with the ones seen before
// as vault/api's ReadYourWrites does.
func (r *router) record(h http.Header) {
	s := h.Get(api.HeaderIndex)
	if s == "" {
		return
	}
	r.mu.Lock()
	r.index = api.MergeReplicationStates(r.index, s)
	r.mu.Unlock()
}

// require puts the replication states seen so far on a request (vault/api's
// RequireState, as its ReadYourWrites does), so a node that has not caught
// up answers 412 instead of older data; roundTrip then tries another node,
// and the Store retries a 412 from all of them. X-Vault-Inconsistent
// (forward instead of 412) is not sent: servers refuse it with a 400
// unless allow_forwarding_via_header is configured (Vault 1.21 community
// edition: "forwarding via header X-Vault-Inconsistent=forward-active-node
// disabled in configuration").
func (r *router) require(h http.Header) {
	r.mu.Lock()
	states := append([]string(nil), r.index...)
	r.mu.Unlock()
	if len(states) == 0 || len(h.Values(api.HeaderIndex)) > 0 {
		return
	}
	for _, s := range states {
		h.Add(api.HeaderIndex, s)
	}
}

func (r *router) hasIndex() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.index) > 0
}

// limitedBody ends an answer's body with a tooLargeError past limit bytes
// and marks read errors as bodyErrors.
type limitedBody struct {
	rc          io.ReadCloser
	left, limit int64
	ci          *callInfo
	method, url string // for the errors
}

func (l *limitedBody) fail(err error) error {
	return &nodeError{method: l.method, url: l.url, sent: true, err: &bodyError{err}}
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		n, err := l.rc.Read(one[:])
		switch {
		case n > 0:
			if l.ci != nil {
				l.ci.tooLarge.Store(l.limit)
			}
			return 0, errTooLarge(l.limit)
		case err == nil || err == io.EOF:
			return 0, err
		}
		return 0, l.fail(err)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	if err != nil && err != io.EOF {
		err = l.fail(err)
	}
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }

// readUpTo reads at most n bytes of r; cut reports that r had more (or
// failed before its end).
func readUpTo(r io.Reader, n int64) (b []byte, cut bool) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if int64(len(b)) > n {
		return b[:n], true
	}
	return b, err != nil
}

// discard reads a little of a body that is not used, so the connection
// may be reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// trimErrorBody bounds an error answer before vault/api turns it into
// error text: a JSON object keeps its other fields (a KV 404 describes the
// deleted version) and at most errorKeep errors of errorLineMax bytes each;
// anything else (cut, or not JSON) keeps its first rawErrorMax bytes.
func trimErrorBody(b []byte, cut bool) []byte {
	if !cut {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err == nil && obj != nil {
			raw, ok := obj["errors"]
			if !ok {
				return b
			}
			var errs []string
			if err := json.Unmarshal(raw, &errs); err != nil {
				errs = []string{"(the server's errors field is not a list of strings)"}
			}
			if len(errs) <= errorKeep && !anyLonger(errs, errorLineMax) {
				return b
			}
			out := make([]string, 0, errorKeep+1)
			for i, e := range errs {
				if i == errorKeep {
					out = append(out, fmt.Sprintf("(%d more errors not shown)", len(errs)-errorKeep))
					break
				}
				out = append(out, cutText(e, errorLineMax))
			}
			enc, _ := json.Marshal(out)
			obj["errors"] = enc
			nb, err := json.Marshal(obj)
			if err == nil {
				return nb
			}
		}
	}
	if len(b) > rawErrorMax || cut {
		return []byte(cutText(string(b), rawErrorMax))
	}
	return b
}

func anyLonger(ss []string, n int) bool {
	for _, s := range ss {
		if len(s) > n {
			return true
		}
	}
	return false
}

// cutText cuts s to at most n bytes at a rune boundary, marking the cut.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "...(cut)"
}
