package clustertest

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// TestTLSNamesPerNode runs a TLS cluster whose node N listens on 127.0.0.N
// with a certificate naming only 127.0.0.N. A backend given every node
// checks each against its own name: every node shows in the health view
// as active or standby (a node whose certificate failed verification would
// show as down), and uncached reads go on with 0 errors when the active
// node dies (the reads move to nodes verified against their own names).
// With TLSServerName set to node 1's address, that one name is checked for
// every node, and the other two fail.
func TestTLSNamesPerNode(t *testing.T) {
	t.Parallel()
	c := vaulttest.StartCluster(t, &vaulttest.ClusterOptions{TLS: true})
	ctx := context.Background()
	if _, err := c.Active(t).Client(t).KVv2("secret").Put(ctx, "tls/app", map[string]any{"value": "v"}); err != nil {
		t.Fatal(err)
	}
	newBackend := func(o *hashivault.Options) *hashivault.Backend {
		o.Addresses, o.CACertPEM, o.Token, o.KVVersion, o.ConfigFile = c.Addrs(), c.CAPEM, c.Token, 2, "-"
		nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		b, err := hashivault.New(nctx, o)
		if err != nil {
			t.Fatalf("hashivault.New: %v", err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	// states waits for the first round of health checks.
	states := func(b *hashivault.Backend) map[string]hashivault.NodeState {
		deadline := time.Now().Add(10 * time.Second)
		for {
			out := map[string]hashivault.NodeState{}
			checked := 0
			for _, n := range b.Nodes() {
				out[n.Address] = n.State
				if !n.Checked.IsZero() {
					checked++
				}
			}
			if checked == len(c.Nodes) || time.Now().After(deadline) {
				return out
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	u, err := url.Parse(c.Nodes[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	one := newBackend(&hashivault.Options{TLSServerName: u.Hostname()})
	for addr, st := range states(one) {
		ok := st == hashivault.NodeActive || st == hashivault.NodeStandby
		if first := addr == c.Nodes[0].Addr; first != ok {
			t.Errorf("with TLSServerName 127.0.0.1: %s is %s; want only node 1 reachable", addr, st)
		}
	}

	b := newBackend(&hashivault.Options{})
	for addr, st := range states(b) {
		if st != hashivault.NodeActive && st != hashivault.NodeStandby {
			t.Errorf("%s is %s, want active or standby (verified against its own address)", addr, st)
		}
	}
	s := vaultly.New(b, &vaultly.Options{TTL: vaultly.NoCache, KeepBackendOpen: true})
	defer s.Close()
	var reads, errs atomic.Int64
	var first atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(readPause):
				}
				if _, err := s.Get(ctx, "tls/app"); err != nil {
					errs.Add(1)
					first.CompareAndSwap(nil, err.Error())
				}
				reads.Add(1)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	active := c.Active(t)
	active.Kill(t)
	d := newActive(t, c, active)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("TLS cluster, active node killed (new leader after %v): %d uncached reads, %d errors", d.Round(time.Millisecond), reads.Load(), errs.Load())
	if errs.Load() != 0 {
		t.Errorf("%d of %d reads failed, want 0; first: %v", errs.Load(), reads.Load(), first.Load())
	}
}
