package clustertest

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// TestCluster forms a real 3-node raft cluster and checks what the
// harness (vaulttest.StartCluster) promises: every node a voter, a write through the active node
// readable through a standby (which forwards), a new leader after the
// active node is killed, the killed node back as a standby after Restart,
// step-down moving leadership, and no process or file left after Stop.
func TestCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := vaulttest.StartCluster(t, nil)
	t.Logf("cluster formed in %s", time.Since(start).Round(time.Millisecond))
	if len(c.Nodes) != 3 || c.Token == "" || c.UnsealKey == "" {
		t.Fatalf("cluster = %d nodes, token set %v, key set %v", len(c.Nodes), c.Token != "", c.UnsealKey != "")
	}
	ctx := context.Background()
	act := c.Active(t)
	sb := c.Standby(t)
	if _, err := act.Client(t).KVv2("secret").Put(ctx, "harness", map[string]any{"v": "1"}); err != nil {
		t.Fatalf("put through the active node %s: %v", act.ID, err)
	}
	got, err := sb.Client(t).KVv2("secret").Get(ctx, "harness")
	if err != nil || got.Data["v"] != "1" {
		t.Fatalf("get through standby %s = %v, %v; want v=1 (forwarded)", sb.ID, got, err)
	}

	act.Kill(t)
	if h := act.Health(); h != "down" {
		t.Fatalf("killed node %s health = %s, want down", act.ID, h)
	}
	killed := time.Now()
	next := c.Active(t)
	if next == act {
		t.Fatalf("the killed node is still active")
	}
	t.Logf("new leader %s after %s", next.ID, time.Since(killed).Round(time.Millisecond))
	act.Restart(t)
	if h := act.Health(); h != "standby" {
		t.Errorf("restarted node %s health = %s, want standby", act.ID, h)
	}

	prev := c.StepDown(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if nd := c.Active(t); nd != prev {
			break
		}
		if time.Now().After(deadline) {
			var hs []string
			for _, nd := range c.Nodes {
				hs = append(hs, nd.ID+"="+nd.Health())
			}
			t.Fatalf("no new active node 30s after step-down of %s: %v", prev.ID, hs)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A standby asked not to forward answers 307 to the active node.
	sb = c.Standby(t)
	req, _ := http.NewRequest("GET", sb.Addr+"/v1/secret/data/harness", nil)
	req.Header.Set("X-Vault-Token", c.Token)
	req.Header.Set("X-Vault-No-Request-Forwarding", "true")
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 5 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("standby without forwarding: status %d, want 307", resp.StatusCode)
	}

	dir := c.Dir()
	c.Stop()
	for _, nd := range c.Nodes {
		if h := nd.Health(); h != "down" {
			t.Errorf("%s is %s after Stop", nd.ID, h)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s still exists after Stop (err %v)", dir, err)
	}
}
