package hashivault

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHealthState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		want NodeState
	}{
		{200, NodeActive}, {429, NodeStandby}, {472, NodeDRSecondary}, {473, NodePerfStandby},
		{474, NodeStandbyLagged}, {501, NodeUninitialized}, {503, NodeSealed}, {530, NodeRemoved},
		{500, NodeFailing}, {404, NodeFailing}, {307, NodeFailing},
	}
	for _, tt := range tests {
		if got := healthState(tt.code); got != tt.want {
			t.Errorf("healthState(%d) = %q, want %q", tt.code, got, tt.want)
		}
	}
}

// TestRouteOrder: the active node first, then nodes that can forward or
// may be fine, then failing, sealed, down and removed ones; configured
// order within a rank.
func TestRouteOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		states []NodeState
		want   []int
	}{
		{"nothing known", []NodeState{NodeUnknown, NodeUnknown, NodeUnknown}, []int{0, 1, 2}},
		{"active last configured", []NodeState{NodeStandby, NodeStandby, NodeActive}, []int{2, 0, 1}},
		{"first down", []NodeState{NodeDown, NodeUnknown, NodeUnknown}, []int{1, 2, 0}},
		{"election", []NodeState{NodeDown, NodeStandby, NodeStandby}, []int{1, 2, 0}},
		{"sealed before down", []NodeState{NodeDown, NodeSealed, NodeStandbyLagged}, []int{2, 1, 0}},
		{"removed last", []NodeState{NodeRemoved, NodeUninitialized, NodeFailing, NodePerfStandby}, []int{3, 2, 1, 0}},
		{"one node", []NodeState{NodeDown}, []int{0}},
	}
	for _, tt := range tests {
		if got := routeOrder(tt.states); !cmp.Equal(got, tt.want) {
			t.Errorf("%s: routeOrder(%v) = %v, want %v", tt.name, tt.states, got, tt.want)
		}
	}
}

func TestNodeKey(t *testing.T) {
	t.Parallel()
	same := [][2]string{
		{"https://Vault-1.example:8200", "https://vault-1.example:8200/"},
		{"https://vault", "https://vault:443"},
		{"http://vault", "http://vault:80/v1"},
		{"http://[::1]:8200", "http://[::1]:8200"},
	}
	differ := [][2]string{
		{"https://vault:8200", "http://vault:8200"},
		{"https://vault:8200", "https://vault:8201"},
		{"https://vault-1:8200", "https://vault-2:8200"},
	}
	key := func(s string) string {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return nodeKey(u)
	}
	for _, p := range same {
		if a, b := key(p[0]), key(p[1]); a != b {
			t.Errorf("nodeKey(%s) = %s, nodeKey(%s) = %s; want equal", p[0], a, p[1], b)
		}
	}
	for _, p := range differ {
		if a, b := key(p[0]), key(p[1]); a == b {
			t.Errorf("nodeKey(%s) = nodeKey(%s) = %s; want different", p[0], p[1], a)
		}
	}
}

// TestCheckSchedule: the periodic check waits its interval ±25% (so
// clients started together spread out), and checks after failures are at
// least 250ms and at most 750ms apart.
func TestCheckSchedule(t *testing.T) {
	t.Parallel()
	for _, r := range []float64{0, 0.25, 0.5, 0.999} {
		if got := nextCheck(30*time.Second, r); got < 22500*time.Millisecond || got >= 37500*time.Millisecond {
			t.Errorf("nextCheck(30s, %v) = %v, want in [22.5s, 37.5s)", r, got)
		}
		if got := probeGap(r); got < 250*time.Millisecond || got >= 750*time.Millisecond {
			t.Errorf("probeGap(%v) = %v, want in [250ms, 750ms)", r, got)
		}
	}
	if nextCheck(30*time.Second, 0) == nextCheck(30*time.Second, 0.999) {
		t.Errorf("nextCheck does not depend on its random draw")
	}
}

// probeLog is a fake probe: it records when each round ran and answers
// the states it is given.
type probeLog struct {
	mu     sync.Mutex
	rounds []time.Duration // since start, one per node probed
	start  time.Time
	states []NodeState
}

func (p *probeLog) probe(_ context.Context, n *node) NodeState {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rounds = append(p.rounds, time.Since(p.start))
	for i, s := range p.states {
		if strings.HasSuffix(n.u.Host, string(rune('0'+i))) {
			return s
		}
	}
	return NodeUnknown
}

func testView(n int) *view {
	var addrs []*url.URL
	for i := range n {
		addrs = append(addrs, &url.URL{Scheme: "http", Host: "node:800" + string(rune('0'+i))})
	}
	return newView(addrs)
}

// TestChecker: in fake time, the checker makes a first round at start,
// then one every interval ±25%; a burst of failures makes one round soon,
// not one per failure; its results reorder the view; stop ends it.
func TestChecker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := testView(3)
		p := &probeLog{start: time.Now(), states: []NodeState{NodeStandby, NodeDown, NodeActive}}
		var changes int
		c := startChecker(v, 10*time.Second, p.probe, func(int, NodeState, NodeState) { changes++ })
		synctest.Wait()
		if got := v.order(); !cmp.Equal(got, []int{2, 0, 1}) {
			t.Errorf("order after the first round = %v, want [2 0 1] (active, standby, down)", got)
		}
		if changes != 3 {
			t.Errorf("state changes after the first round = %d, want 3", changes)
		}
		time.Sleep(time.Minute)
		p.mu.Lock()
		periodic := len(p.rounds) / 3
		p.mu.Unlock()
		// 1 at start, then every 7.5..12.5s: 5 to 8 rounds in the minute.
		if periodic < 5 || periodic > 8 {
			t.Errorf("rounds in the first minute = %d, want 5..8 (10s ±25%%)", periodic)
		}
		before := periodic
		for range 100 {
			c.failed()
		}
		time.Sleep(time.Second)
		p.mu.Lock()
		after := len(p.rounds) / 3
		p.mu.Unlock()
		if after-before != 1 {
			t.Errorf("rounds after 100 failures in a burst = %d, want 1", after-before)
		}
		c.stop()
		p.mu.Lock()
		n := len(p.rounds)
		p.mu.Unlock()
		time.Sleep(time.Minute)
		if len(p.rounds) != n {
			t.Errorf("probes ran after stop")
		}
	})
}

// TestCheckerNoPeriodic: a negative interval means no first round and no
// periodic ones; failures still trigger rounds.
func TestCheckerNoPeriodic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := testView(2)
		p := &probeLog{start: time.Now(), states: []NodeState{NodeDown, NodeActive}}
		c := startChecker(v, -1, p.probe, nil)
		defer c.stop()
		time.Sleep(time.Hour)
		if len(p.rounds) != 0 {
			t.Errorf("probes with periodic checks off = %d, want 0", len(p.rounds))
		}
		c.failed()
		synctest.Wait()
		if len(p.rounds) != 2 || !cmp.Equal(v.order(), []int{1, 0}) {
			t.Errorf("after a failure: %d probes, order %v; want 2 and [1 0]", len(p.rounds), v.order())
		}
	})
}
