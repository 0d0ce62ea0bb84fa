// Package clustertest runs vaultly against a real 3-node Vault HA cluster
// on integrated storage (raft) while nodes die, step down and restart,
// with the load the cluster issue was measured with: 20 cached readers, 20
// uncached readers and 2 writers through vaultly.Stores with the default
// retry policy. Under the soak tier (VAULTLY_SOAK=1, as make test sets
// it) every scenario runs 3 times with nodes away 8 s; otherwise once with
// nodes away 3 s (VAULTLY_CLUSTER_RUNS overrides the count). Each run is on
// one shared cluster and must show 0 errors to callers and 0 lost or
// duplicated writes.
//
// TestCluster (harness_test.go) checks the harness's own promises, and
// TestTLSNamesPerNode per-node TLS names, each on a cluster of its own.
//
// It is its own package so that its minute or two of wall time runs in
// parallel with the other packages' tests.
package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

func TestMain(m *testing.M) {
	// The tests wait on Vault's elections and restarts: outside the soak
	// tier the four parts of TestSurviveTheCluster, TestCluster and
	// TestTLSNamesPerNode all run at once (6 clusters); the soak tier
	// keeps the default (2 at a time), as its margins were measured.
	if !vaulttest.Soak() {
		vaulttest.ParallelWaiting(6)
	}
	vaulttest.UnsetVaultEnv()
	before := goleak.IgnoreCurrent()
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(append(vaulttest.IgnoreIdleConns(), before)...); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

const (
	cachedReaders   = 20
	uncachedReaders = 20
	writers         = 2
	keys            = 10
	readPause       = 20 * time.Millisecond // per reader between reads: ~2000 reads/s in all
	writePause      = 50 * time.Millisecond
)

var (
	// away is how long a killed node stays down in the "back after"
	// scenarios; loadBefore and loadAfter how long the load runs before
	// the event and after it is over.
	away       = vaulttest.SoakOr(8*time.Second, 3*time.Second)
	loadBefore = vaulttest.SoakOr(time.Second, 500*time.Millisecond)
	loadAfter  = vaulttest.SoakOr(2*time.Second, time.Second)
)

// result is what the callers of one run saw.
type result struct {
	cachedReads, uncachedReads, writes  int64
	cachedErrs, uncachedErrs, writeErrs int64
	slowest                             time.Duration // the longest call
	errs                                []string      // the first few errors
	written                             []writeRec    // successful writes, to check afterwards
}

type writeRec struct {
	path string
	n    int
}

// load runs the readers and writers on b until stop is called.
type load struct {
	wg                       sync.WaitGroup
	stopCh                   chan struct{}
	mu                       sync.Mutex
	res                      result
	cached, uncached, wstore *vaultly.Store
	finish                   func()
}

func startLoad(b *hashivault.Backend, prefix string) *load {
	l := &load{stopCh: make(chan struct{})}
	l.cached = vaultly.New(b, &vaultly.Options{TTL: 500 * time.Millisecond, KeepBackendOpen: true})
	l.uncached = vaultly.New(b, &vaultly.Options{TTL: vaultly.NoCache, KeepBackendOpen: true})
	l.wstore = vaultly.New(b, &vaultly.Options{TTL: vaultly.NoCache, KeepBackendOpen: true})
	var atomics struct{ cr, ur, w, ce, ue, we, slow atomic.Int64 }
	note := func(counter *atomic.Int64, start time.Time, err error) {
		if d := time.Since(start); int64(d) > atomics.slow.Load() {
			atomics.slow.Store(int64(d))
		}
		if err == nil {
			return
		}
		counter.Add(1)
		l.mu.Lock()
		if len(l.res.errs) < 5 {
			l.res.errs = append(l.res.errs, err.Error())
		}
		l.mu.Unlock()
	}
	reader := func(s *vaultly.Store, reads, errs *atomic.Int64, i int) {
		defer l.wg.Done()
		for n := 0; ; n++ {
			select {
			case <-l.stopCh:
				return
			case <-time.After(readPause):
			}
			start := time.Now()
			v, err := s.Get(context.Background(), "load/k"+strconv.Itoa((i+n)%keys))
			if err == nil && v != "v" {
				err = fmt.Errorf("read %q, want v", v)
			}
			reads.Add(1)
			note(errs, start, err)
		}
	}
	for i := range cachedReaders {
		l.wg.Add(1)
		go reader(l.cached, &atomics.cr, &atomics.ce, i)
	}
	for i := range uncachedReaders {
		l.wg.Add(1)
		go reader(l.uncached, &atomics.ur, &atomics.ue, i)
	}
	for w := range writers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; ; n++ {
				select {
				case <-l.stopCh:
					return
				case <-time.After(writePause):
				}
				p := fmt.Sprintf("%s/w%d/%d", prefix, w, n)
				start := time.Now()
				err := l.wstore.Put(context.Background(), p, map[string]any{"n": strconv.Itoa(n)})
				atomics.w.Add(1)
				note(&atomics.we, start, err)
				if err == nil {
					l.mu.Lock()
					l.res.written = append(l.res.written, writeRec{p, n})
					l.mu.Unlock()
				}
			}
		}()
	}
	finish := func() {
		l.res.cachedReads, l.res.uncachedReads, l.res.writes = atomics.cr.Load(), atomics.ur.Load(), atomics.w.Load()
		l.res.cachedErrs, l.res.uncachedErrs, l.res.writeErrs = atomics.ce.Load(), atomics.ue.Load(), atomics.we.Load()
		l.res.slowest = time.Duration(atomics.slow.Load())
	}
	l.finish = finish
	return l
}

func (l *load) stop() result {
	close(l.stopCh)
	l.wg.Wait()
	l.finish()
	l.cached.Close()
	l.uncached.Close()
	l.wstore.Close()
	return l.res
}

// counter is a slog.Handler that counts the backend's debug records by
// message: how many redirects were followed, nodes found not answering.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) Enabled(context.Context, slog.Level) bool { return true }
func (c *counter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.n[r.Message]++
	c.mu.Unlock()
	return nil
}
func (c *counter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *counter) WithGroup(string) slog.Handler      { return c }

func (c *counter) get(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[msg]
}

// scenario is one event under load.
type scenario struct {
	name string
	// client returns the backend's options for this run; active is the
	// active node and standbys the others.
	client func(c *vaulttest.Cluster, active *vaulttest.Node, standbys []*vaulttest.Node) *hashivault.Options
	// check, if set, verifies the backend's view before the event.
	check func(t *testing.T, b *hashivault.Backend, active *vaulttest.Node, standbys []*vaulttest.Node)
	// redirects: the scenario must see standbys redirect (and the
	// backend follow them to a configured node).
	redirects bool
	// event acts on the cluster; it returns when the event is over (the
	// cluster has an active node again, a killed node is back if it
	// comes back within the event).
	event func(t *testing.T, c *vaulttest.Cluster, active *vaulttest.Node, standbys []*vaulttest.Node) string
	// cluster: outside the soak tier the scenarios run on four clusters
	// at once, and this one on cluster number cluster (0 to 3; the groups
	// take about as long: 5–7 s each).
	cluster int
}

func addrs(nodes ...*vaulttest.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Addr
	}
	return out
}

// onFirstStandby checks that requests go to the first standby.
func onFirstStandby(t *testing.T, b *hashivault.Backend, _ *vaulttest.Node, standbys []*vaulttest.Node) {
	t.Helper()
	for _, n := range b.Nodes() {
		if n.Current && n.Address != standbys[0].Addr {
			t.Fatalf("requests go to %s, want the standby %s: %+v", n.Address, standbys[0].Addr, b.Nodes())
		}
	}
}

// onActive waits until the backend's health view sends requests to the
// active node.
func onActive(t *testing.T, b *hashivault.Backend, active *vaulttest.Node, _ []*vaulttest.Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, n := range b.Nodes() {
			if n.Current && n.Address == active.Addr && n.State == hashivault.NodeActive {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the health view does not send requests to the active node %s: %+v", active.Addr, b.Nodes())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newActive waits until a node other than old is active.
func newActive(t *testing.T, c *vaulttest.Cluster, old *vaulttest.Node) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if a := c.Active(t); a != old {
			return time.Since(start)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no new active node 30s after %s went away", old.ID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var scenarios = []scenario{
	{
		// The client's requests go to a standby (which forwards them);
		// the leader dies: the standby redirects to the dead leader until
		// it notices, then answers 500/503 until a new leader is elected.
		name: "leader killed, client on a standby",
		client: func(_ *vaulttest.Cluster, active *vaulttest.Node, sb []*vaulttest.Node) *hashivault.Options {
			return &hashivault.Options{Addresses: addrs(sb[0], sb[1], active), HealthInterval: -1}
		},
		check:     onFirstStandby,
		redirects: true,
		event: func(t *testing.T, c *vaulttest.Cluster, active *vaulttest.Node, _ []*vaulttest.Node) string {
			active.Kill(t)
			d := newActive(t, c, active)
			return fmt.Sprintf("new leader after %v", d.Round(time.Millisecond))
		},
	},
	{
		// The client's node is the leader (its health view found it) and
		// dies; it comes back after away (8s in the soak tier) as a standby.
		name:    "client's node (the leader) killed, back after " + away.String(),
		cluster: 1,
		client: func(_ *vaulttest.Cluster, active *vaulttest.Node, sb []*vaulttest.Node) *hashivault.Options {
			return &hashivault.Options{Addresses: addrs(sb[0], active, sb[1])}
		},
		check: onActive,
		event: func(t *testing.T, c *vaulttest.Cluster, active *vaulttest.Node, _ []*vaulttest.Node) string {
			active.Kill(t)
			d := newActive(t, c, active)
			time.Sleep(away - d)
			active.Restart(t)
			return fmt.Sprintf("new leader after %v", d.Round(time.Millisecond))
		},
	},
	{
		// The client's node is a standby and dies; back after away.
		name:    "client's node (a standby) killed, back after " + away.String(),
		cluster: 2,
		client: func(_ *vaulttest.Cluster, active *vaulttest.Node, sb []*vaulttest.Node) *hashivault.Options {
			return &hashivault.Options{Addresses: addrs(sb[0], sb[1], active), HealthInterval: -1}
		},
		check: onFirstStandby,
		event: func(t *testing.T, _ *vaulttest.Cluster, _ *vaulttest.Node, sb []*vaulttest.Node) string {
			sb[0].Kill(t)
			time.Sleep(away)
			sb[0].Restart(t)
			return "standby down " + away.String()
		},
	},
	{
		name:    "step-down",
		cluster: 2,
		client: func(c *vaulttest.Cluster, _ *vaulttest.Node, _ []*vaulttest.Node) *hashivault.Options {
			return &hashivault.Options{Addresses: c.Addrs()}
		},
		check: onActive,
		event: func(t *testing.T, c *vaulttest.Cluster, _ *vaulttest.Node, _ []*vaulttest.Node) string {
			prev := c.StepDown(t)
			d := newActive(t, c, prev)
			return fmt.Sprintf("new leader after %v", d.Round(time.Millisecond))
		},
	},
	{
		// One address only (no other node to go to): the node restarts,
		// and the default retry rides it out.
		name:    "single-address client, its node restarted",
		cluster: 3,
		client: func(_ *vaulttest.Cluster, _ *vaulttest.Node, sb []*vaulttest.Node) *hashivault.Options {
			return &hashivault.Options{Address: sb[0].Addr}
		},
		event: func(t *testing.T, _ *vaulttest.Cluster, _ *vaulttest.Node, sb []*vaulttest.Node) string {
			start := time.Now()
			sb[0].Kill(t)
			// A restarted node answers again within ~0.1-0.3s here; wait
			// so that it is away for ~2.5s, as a real restart is.
			time.Sleep(2300 * time.Millisecond)
			sb[0].Restart(t)
			return fmt.Sprintf("node down %v", time.Since(start).Round(time.Millisecond))
		},
	},
}

// TestSurviveTheCluster runs every scenario against one real cluster.
func TestSurviveTheCluster(t *testing.T) {
	t.Parallel()
	runs := vaulttest.SoakOr(3, 1)
	if v := os.Getenv("VAULTLY_CLUSTER_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("VAULTLY_CLUSTER_RUNS=%q: want a positive number", v)
		}
		runs = n
	}
	// Outside the soak tier the scenarios run on four clusters at once
	// (scenario.cluster), so that the package takes about a third as long.
	split := !vaulttest.Soak()
	onCluster := func(t *testing.T, n int) {
		c := vaulttest.StartCluster(t, nil)
		root := c.Nodes[0].Client(t)
		ctx := context.Background()
		for i := range keys {
			if _, err := root.KVv2("secret").Put(ctx, "load/k"+strconv.Itoa(i), map[string]any{"value": "v"}); err != nil {
				t.Fatal(err)
			}
		}
		if n == 0 {
			t.Run("writes through a standby", func(t *testing.T) { writesThroughStandby(t, c) })
		}
		for si, sc := range scenarios {
			if split && sc.cluster != n {
				continue
			}
			for run := 1; run <= runs; run++ {
				t.Run(fmt.Sprintf("%s/%d", sc.name, run), func(t *testing.T) { survive(t, c, si, sc, run) })
			}
		}
	}
	if !split {
		onCluster(t, 0)
		return
	}
	for n := range 4 {
		t.Run(fmt.Sprintf("cluster %d", n+1), func(t *testing.T) {
			t.Parallel()
			onCluster(t, n)
		})
	}
}

// healthyRoles waits until c is healthy and returns its active node and
// the standbys.
func healthyRoles(t *testing.T, c *vaulttest.Cluster) (active *vaulttest.Node, standbys []*vaulttest.Node) {
	t.Helper()
	c.WaitHealthy(t)
	active = c.Active(t)
	for _, n := range c.Nodes {
		if n != active {
			standbys = append(standbys, n)
		}
	}
	return active, standbys
}

// survive runs scenario sc (number si) once, as run number run, on c
// under load and checks what the callers saw.
func survive(t *testing.T, c *vaulttest.Cluster, si int, sc scenario, run int) {
	ctx := context.Background()
	active, standbys := healthyRoles(t, c)
	o := sc.client(c, active, standbys)
	logs := &counter{n: map[string]int{}}
	o.Token, o.KVVersion, o.ConfigFile, o.Logger = c.Token, 2, "-", slog.New(logs)
	nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	b, err := hashivault.New(nctx, o)
	cancel()
	if err != nil {
		t.Fatalf("hashivault.New: %v", err)
	}
	defer b.Close()
	if sc.check != nil {
		sc.check(t, b, active, standbys)
	}
	prefix := fmt.Sprintf("survive/s%d/r%d", si, run)
	l := startLoad(b, prefix)
	time.Sleep(loadBefore)
	what := sc.event(t, c, active, standbys)
	time.Sleep(loadAfter)
	res := l.stop()
	for _, n := range c.Nodes {
		if !n.Running() {
			n.Restart(t)
		}
	}
	c.WaitHealthy(t)
	lost, dup := checkWrites(t, c, res.written)
	t.Logf("%s: %d cached reads, %d uncached reads, %d writes; errors: %d cached, %d uncached, %d writes; slowest call %v; %d lost, %d duplicated writes; %d redirects followed, %d sends to a node that did not answer, %d refusals (5xx) passed to another node",
		what, res.cachedReads, res.uncachedReads, res.writes, res.cachedErrs, res.uncachedErrs, res.writeErrs, res.slowest.Round(time.Millisecond), lost, dup,
		logs.get("vaultly: following a redirect"), logs.get("vaultly: vault node did not answer"), logs.get("vaultly: vault node refused the request; trying another"))
	if res.cachedErrs+res.uncachedErrs+res.writeErrs != 0 {
		t.Errorf("callers saw %d cached, %d uncached and %d write errors, want 0; first: %q", res.cachedErrs, res.uncachedErrs, res.writeErrs, res.errs)
	}
	if lost+dup != 0 {
		t.Errorf("%d writes lost, %d duplicated; want 0", lost, dup)
	}
	if n := logs.get("vaultly: following a redirect"); sc.redirects && n == 0 {
		t.Errorf("no redirect was followed: the standby did not redirect to the dead leader, so this run did not test that")
	}
	if res.uncachedReads < 100 || res.writes < 10 {
		t.Errorf("only %d uncached reads and %d writes: the load did not run", res.uncachedReads, res.writes)
	}
}

// checkWrites reads every acknowledged write back from the active node:
// it must be there with its value (not lost) and as version 1 (not
// written twice).
func checkWrites(t *testing.T, c *vaulttest.Cluster, written []writeRec) (lost, dup int) {
	t.Helper()
	kv := c.Active(t).Client(t).KVv2("secret")
	ctx := context.Background()
	for _, w := range written {
		s, err := kv.Get(ctx, w.path)
		if err != nil || s.Data["n"] != strconv.Itoa(w.n) {
			lost++
			t.Errorf("write %s: read back %v, %v; want n=%d", w.path, s, err, w.n)
			continue
		}
		if s.VersionMetadata == nil || s.VersionMetadata.Version != 1 {
			dup++
			t.Errorf("write %s is at version %v, want 1 (written once)", w.path, s.VersionMetadata)
		}
	}
	return lost, dup
}

// writesThroughStandby checks how a write sent to a standby reaches the
// active node: with the active node listed, the standby redirects it
// (asked not to forward it, so that a leader dying mid-forward cannot
// leave it ambiguous) and the backend follows; with the active node not
// listed, the standby is asked again and forwards it. Either way the
// write makes exactly one version.
func writesThroughStandby(t *testing.T, c *vaulttest.Cluster) {
	active, sb := healthyRoles(t, c)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		addrs []string
		log   string // the debug record the write must leave
	}{
		{"active node listed", addrs(sb[0], sb[1], active), "vaultly: following a redirect"},
		{"active node not listed", addrs(sb[0], sb[1]), "vaultly: a standby redirected a write to an unlisted address; sending it again for the standby to forward"},
	} {
		logs := &counter{n: map[string]int{}}
		b, err := hashivault.New(ctx, &hashivault.Options{Addresses: tc.addrs, HealthInterval: -1, Token: c.Token, KVVersion: 2, ConfigFile: "-", Logger: slog.New(logs)})
		if err != nil {
			t.Fatalf("%s: hashivault.New: %v", tc.name, err)
		}
		p := "standby-write/" + tc.name
		vm, err := b.Put(ctx, p, map[string]any{"n": "1"}, nil)
		b.Close()
		if err != nil {
			t.Fatalf("%s: Put: %v", tc.name, err)
		}
		if vm.Version != 1 {
			t.Errorf("%s: Put made version %d, want 1", tc.name, vm.Version)
		}
		if logs.get(tc.log) != 1 {
			t.Errorf("%s: %d records %q, want 1 (records: %v)", tc.name, logs.get(tc.log), tc.log, logs.n)
		}
		s, err := active.Client(t).KVv2("secret").Get(ctx, p)
		if err != nil || s.Data["n"] != "1" || s.VersionMetadata.Version != 1 {
			t.Errorf("%s: read back %v, %v; want n=1 at version 1", tc.name, s, err)
		}
	}
}
