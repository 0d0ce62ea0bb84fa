package hashivault

// The health view of the Vault nodes a backend may talk to (Options.Addresses).

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// NodeState is what the backend last learnt about a Vault node, from its
// sys/health answer or from a request sent to it.
type NodeState string

// The states of a node.
const (
	NodeUnknown       NodeState = "unknown"        // not checked yet
	NodeActive        NodeState = "active"         // sys/health 200: the leader
	NodeStandby       NodeState = "standby"        // 429: forwards to the active node (or redirects)
	NodePerfStandby   NodeState = "perf-standby"   // 473 (Enterprise): serves reads itself
	NodeStandbyLagged NodeState = "standby-lagged" // 474: standby whose link to the active node is unhealthy
	NodeDRSecondary   NodeState = "dr-secondary"   // 472 (Enterprise): cannot serve requests
	NodeSealed        NodeState = "sealed"         // 503, or a request answered "Vault is sealed"
	NodeUninitialized NodeState = "uninitialized"  // 501
	NodeRemoved       NodeState = "removed"        // 530: removed from the raft cluster
	NodeDown          NodeState = "down"           // no answer: connection refused, reset, timeout
	NodeFailing       NodeState = "failing"        // an unexpected status, or a 5xx to a request
)

// rank orders states for routing: lower is tried first.
func (s NodeState) rank() int {
	switch s {
	case NodeActive:
		return 0
	case NodeStandby, NodePerfStandby, NodeUnknown:
		return 1
	case NodeStandbyLagged:
		return 2
	case NodeFailing:
		return 3
	case NodeSealed:
		return 4
	case NodeDown, NodeUninitialized, NodeDRSecondary:
		return 5
	}
	return 6 // removed
}

// NodeStatus is one node of the health view (Backend.Nodes).
type NodeStatus struct {
	Address string    `json:"address"`
	State   NodeState `json:"state"`
	// Current is true for the node requests go to first.
	Current bool `json:"current"`
	// Checked is when State was last learnt (zero: never).
	Checked time.Time `json:"checked,omitzero"`
}

// healthState maps a sys/health status code (queried without standbyok,
// so every state has its own code) to a node state.
func healthState(code int) NodeState {
	switch code {
	case http.StatusOK:
		return NodeActive
	case http.StatusTooManyRequests:
		return NodeStandby
	case 472:
		return NodeDRSecondary
	case 473:
		return NodePerfStandby
	case 474:
		return NodeStandbyLagged
	case http.StatusNotImplemented:
		return NodeUninitialized
	case http.StatusServiceUnavailable:
		return NodeSealed
	case 530:
		return NodeRemoved
	}
	return NodeFailing
}

// node is one configured address and what is known about it.
type node struct {
	u   *url.URL // scheme, host and path prefix
	key string   // scheme://host, lowercase, default port made explicit

	// guarded by view.mu
	state   NodeState
	checked time.Time
}

// view is the health view shared by every client of one Backend. It is
// safe for concurrent use; its lock is never held across I/O.
type view struct {
	nodes []*node

	mu sync.Mutex
}

// nodeKey is the scheme and host of u in the form used to compare
// addresses: lowercase, with the scheme's default port made explicit.
func nodeKey(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return strings.ToLower(u.Scheme) + "://" + host + ":" + port
}

func newView(addrs []*url.URL) *view {
	v := &view{}
	for _, u := range addrs {
		v.nodes = append(v.nodes, &node{u: u, key: nodeKey(u), state: NodeUnknown})
	}
	return v
}

// lookup returns the index of the configured node with u's scheme and
// host, or -1.
func (v *view) lookup(u *url.URL) int {
	k := nodeKey(u)
	for i, n := range v.nodes {
		if n.key == k {
			return i
		}
	}
	return -1
}

// order returns the node indexes in the order a request tries them.
func (v *view) order() []int {
	v.mu.Lock()
	states := make([]NodeState, len(v.nodes))
	for i, n := range v.nodes {
		states[i] = n.state
	}
	v.mu.Unlock()
	return routeOrder(states)
}

// routeOrder is the pure routing rule: nodes by the rank of their state
// (the active node first; down, sealed, uninitialised and removed ones
// last), in configured order within a rank.
func routeOrder(states []NodeState) []int {
	idx := make([]int, len(states))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return states[a].rank() - states[b].rank() })
	return idx
}

// set records what a request or a health check learnt about node i.
func (v *view) set(i int, s NodeState, now time.Time) {
	v.mu.Lock()
	v.nodes[i].state, v.nodes[i].checked = s, now
	v.mu.Unlock()
}

// answered records that node i answered a request normally: a node thought
// down, sealed or failing is reachable again (its exact state comes with
// the next check); an active or standby node stays what it is.
func (v *view) answered(i int, now time.Time) {
	v.mu.Lock()
	n := v.nodes[i]
	if n.state.rank() >= NodeFailing.rank() {
		n.state, n.checked = NodeUnknown, now
	}
	v.mu.Unlock()
}

// demote records that node i, thought active, answered that it is not.
func (v *view) demote(i int, now time.Time) {
	v.mu.Lock()
	if n := v.nodes[i]; n.state == NodeActive {
		n.state, n.checked = NodeStandby, now
	}
	v.mu.Unlock()
}

func (v *view) status() []NodeStatus {
	order := v.order()
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]NodeStatus, len(v.nodes))
	for i, n := range v.nodes {
		out[i] = NodeStatus{Address: n.u.Redacted(), State: n.state, Checked: n.checked, Current: len(order) > 0 && order[0] == i}
	}
	return out
}

// Health checks: probe on failure (at most one round every ~0.5s) plus a
// slow periodic round, in one goroutine owned by the Backend.

const (
	defaultHealthInterval = 30 * time.Second
	probeGapMin           = 250 * time.Millisecond // a round after a failure waits at least this since the last one,
	probeGapSpread        = 500 * time.Millisecond // plus a random part of this
	probeTimeout          = 2 * time.Second
	healthBodyLimit       = 64 << 10
)

// nextCheck is the wait before the next periodic round: interval ±25%,
// from r in [0, 1), so clients started together drift apart.
func nextCheck(interval time.Duration, r float64) time.Duration {
	return time.Duration(float64(interval) * (0.75 + 0.5*r))
}

// probeGap is the least time between two rounds of checks, from r in [0, 1).
func probeGap(r float64) time.Duration {
	return probeGapMin + time.Duration(r*float64(probeGapSpread))
}

// checker runs the health checks of a view.
type checker struct {
	v        *view
	probe    func(ctx context.Context, n *node) NodeState
	interval time.Duration // <0: no periodic round (and no first round)
	onChange func(i int, from, to NodeState)

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// startChecker starts the goroutine; stop ends it and waits.
func startChecker(v *view, interval time.Duration, probe func(ctx context.Context, n *node) NodeState, onChange func(i int, from, to NodeState)) *checker {
	c := &checker{v: v, probe: probe, interval: interval, onChange: onChange, kick: make(chan struct{}, 1), done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.loop()
	return c
}

// failed asks for a round of checks soon (a request met a failing node).
// It never blocks.
func (c *checker) failed() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checker) stop() {
	if c == nil {
		return
	}
	c.cancel()
	<-c.done
}

func (c *checker) loop() {
	defer close(c.done)
	periodic := time.NewTimer(0) // a first round at start, unless periodic rounds are off
	if c.interval < 0 {
		periodic.Stop()
	}
	defer periodic.Stop()
	var last time.Time
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-periodic.C:
		case <-c.kick:
			if wait := time.Until(last.Add(probeGap(rand.Float64()))); !last.IsZero() && wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-c.ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
		c.round()
		last = time.Now()
		// Requests that failed during the round asked about the old state.
		select {
		case <-c.kick:
		default:
		}
		if c.interval >= 0 {
			if !periodic.Stop() {
				select {
				case <-periodic.C:
				default:
				}
			}
			periodic.Reset(nextCheck(c.interval, rand.Float64()))
		}
	}
}

// round checks every node at once.
func (c *checker) round() {
	ctx, cancel := context.WithTimeout(c.ctx, probeTimeout)
	defer cancel()
	states := make([]NodeState, len(c.v.nodes))
	var wg sync.WaitGroup
	for i, n := range c.v.nodes {
		wg.Go(func() { states[i] = c.probe(ctx, n) })
	}
	wg.Wait()
	if c.ctx.Err() != nil {
		return
	}
	now := time.Now()
	for i, s := range states {
		c.v.mu.Lock()
		from := c.v.nodes[i].state
		c.v.mu.Unlock()
		c.v.set(i, s, now)
		if from != s && c.onChange != nil {
			c.onChange(i, from, s)
		}
	}
}

// httpProbe returns a probe that asks node n for sys/health through rt,
// without a token.
func httpProbe(rt http.RoundTripper) func(ctx context.Context, n *node) NodeState {
	hc := &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return func(ctx context.Context, n *node) NodeState {
		u := *n.u
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/sys/health"
		u.RawQuery = ""
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return NodeFailing
		}
		resp, err := hc.Do(req)
		if err != nil {
			return NodeDown
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, healthBodyLimit))
		resp.Body.Close()
		return healthState(resp.StatusCode)
	}
}
