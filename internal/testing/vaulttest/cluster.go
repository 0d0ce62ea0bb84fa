package vaulttest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"
)

// ClusterOptions configures StartCluster. A nil *ClusterOptions means 3 nodes.
type ClusterOptions struct {
	// Nodes is the number of Vault servers. Default 3.
	Nodes int
	// KVMount, if not "-", is where a KV v2 engine is mounted once the
	// cluster is up, as a dev server has it. Default "secret".
	KVMount string
	// TLS serves the API over HTTPS: node N listens on 127.0.0.N with a
	// certificate, from a CA of the cluster's own (Cluster.CACert), that
	// names only its own address — so a client that checked every node
	// against one name would fail on all but one. Default false (HTTP on
	// 127.0.0.1).
	TLS bool
}

// Cluster is a real Vault HA cluster on integrated storage (raft): N
// `vault server` processes on 127.0.0.1, initialised with one unseal key,
// every node unsealed and joined as a voter. Timing is shortened with
// performance_multiplier = 1 (a new leader is elected in ~1.5–3.3 s after
// the active node dies; see shared/notes/vault-facts.md).
//
// A Cluster started with StartCluster stops every process and removes its
// files when the test ends. Its methods are safe for concurrent use.
type Cluster struct {
	Nodes     []*Node
	Token     string // root token
	UnsealKey string
	CACert    string // with TLS: the PEM file of the CA that issued the nodes' certificates
	CAPEM     []byte // with TLS: the same, in memory

	dir string
	bin string
	tls bool
}

// Node is one server of a Cluster. Its API and cluster ports stay the same
// across Kill/Restart, as a restarted node in a real deployment keeps its
// address.
type Node struct {
	ID          string // node1, node2, ...
	Addr        string // API address, e.g. http://127.0.0.1:39123 (https://127.0.0.N:port with TLS)
	ClusterAddr string // e.g. https://127.0.0.1:39124
	LogPath     string

	c       *Cluster
	dir     string
	config  string
	mu      sync.Mutex // guards cmd, done
	cmd     *exec.Cmd
	done    chan struct{}
	logFile *os.File
}

// StartCluster starts and forms a cluster for t (about 5–10 s on 2 cores,
// ~0.2 GB per node) and stops it when t ends.
func StartCluster(t testing.TB, opts *ClusterOptions) *Cluster {
	t.Helper()
	bin, err := BinPath()
	if err != nil {
		unavailable(t, "%v", err)
	}
	if opts == nil {
		opts = &ClusterOptions{}
	}
	c, err := newCluster(bin, opts)
	if c != nil {
		t.Cleanup(func() {
			if t.Failed() {
				for _, n := range c.Nodes {
					t.Logf("%s log (%s):\n%s", n.ID, n.LogPath, tail(n.LogPath, 25))
				}
			}
			c.Stop()
		})
	}
	if err != nil {
		t.Fatalf("vaulttest: cluster: %v", err)
	}
	return c
}

func newCluster(bin string, opts *ClusterOptions) (*Cluster, error) {
	n := opts.Nodes
	if n <= 0 {
		n = 3
	}
	dir, err := os.MkdirTemp("", "vaultcluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, tls: opts.TLS}
	var ca *ClientCA
	if opts.TLS {
		if ca, err = newCA("vaulttest cluster CA"); err != nil {
			return c, err
		}
		c.CAPEM = []byte(ca.PEM)
		c.CACert = filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(c.CACert, c.CAPEM, 0o600); err != nil {
			return c, err
		}
	}
	ports := make([]int, 0, 2*n)
	for len(ports) < 2*n {
		p, err := FreePort()
		if err != nil {
			return c, err
		}
		if !containsInt(ports, p) {
			ports = append(ports, p)
		}
	}
	for i := range n {
		id := "node" + strconv.Itoa(i+1)
		host, scheme := "127.0.0.1", "http"
		if opts.TLS {
			host, scheme = "127.0.0."+strconv.Itoa(i+1), "https"
		}
		nd := &Node{
			ID:          id,
			Addr:        scheme + "://" + host + ":" + strconv.Itoa(ports[2*i]),
			ClusterAddr: "https://" + host + ":" + strconv.Itoa(ports[2*i+1]),
			c:           c,
			dir:         filepath.Join(dir, id),
		}
		nd.LogPath = filepath.Join(nd.dir, "vault.log")
		nd.config = filepath.Join(nd.dir, "config.hcl")
		if err := os.MkdirAll(filepath.Join(nd.dir, "raft"), 0o700); err != nil {
			return c, err
		}
		if opts.TLS {
			cert, key, err := ca.issueServer(net.ParseIP(host))
			if err != nil {
				return c, err
			}
			if err := os.WriteFile(filepath.Join(nd.dir, "cert.pem"), []byte(cert), 0o600); err != nil {
				return c, err
			}
			if err := os.WriteFile(filepath.Join(nd.dir, "key.pem"), []byte(key), 0o600); err != nil {
				return c, err
			}
		}
		c.Nodes = append(c.Nodes, nd)
	}
	for _, nd := range c.Nodes {
		if err := os.WriteFile(nd.config, []byte(c.hcl(nd)), 0o600); err != nil {
			return c, err
		}
		if err := nd.start(); err != nil {
			return c, err
		}
	}
	if err := c.form(opts); err != nil {
		return c, err
	}
	return c, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (c *Cluster) hcl(nd *Node) string {
	listenerTLS := "tls_disable     = true"
	if c.tls {
		listenerTLS = fmt.Sprintf("tls_cert_file   = %q\n  tls_key_file    = %q", filepath.Join(nd.dir, "cert.pem"), filepath.Join(nd.dir, "key.pem"))
	}
	return fmt.Sprintf(`storage "raft" {
  path                         = %q
  node_id                      = %q
  performance_multiplier       = 1
  autopilot_reconcile_interval = "1s"
  autopilot_update_interval    = "500ms"
}
listener "tcp" {
  address         = %q
  cluster_address = %q
  %s
}
api_addr      = %q
cluster_addr  = %q
disable_mlock = true
ui            = false
log_level     = "info"
`, filepath.Join(nd.dir, "raft"), nd.ID,
		hostPort(nd.Addr), hostPort(nd.ClusterAddr), listenerTLS,
		nd.Addr, nd.ClusterAddr)
}

// hostPort is the host:port of an address.
func hostPort(addr string) string {
	_, hp, _ := strings.Cut(addr, "://")
	return hp
}

// start runs the node's server process (its data directory is kept).
func (nd *Node) start() error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil {
		return fmt.Errorf("%s is already running", nd.ID)
	}
	logf, err := os.OpenFile(nd.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(nd.c.bin, "server", "-config="+nd.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = nd.dir
	cmd.Env = envWithout("VAULT_")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", nd.ID, err)
	}
	done := make(chan struct{})
	nd.cmd, nd.done, nd.logFile = cmd, done, logf
	go waitClose(cmd, logf, done)
	return nil
}

// client returns a client for the node with the root token, vault/api's
// retries off and forwarding as configured by the server.
func (nd *Node) client() (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, cfg.Error
	}
	cfg.Address = nd.Addr
	cfg.MaxRetries = 0
	cfg.Timeout = 5 * time.Second
	if nd.c.tls {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACertBytes: nd.c.CAPEM}); err != nil {
			return nil, err
		}
	}
	// A standby answers 307 to the leader; do not follow it here: the
	// harness talks to exactly the node it names.
	cfg.HttpClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(nd.c.Token)
	return c, nil
}

// Client returns a client for this node with the root token.
func (nd *Node) Client(t testing.TB) *api.Client {
	t.Helper()
	c, err := nd.client()
	if err != nil {
		t.Fatalf("vaulttest: %s client: %v", nd.ID, err)
	}
	return c
}

// Health is the node's sys/health answer: "active", "standby",
// "perfstandby", "sealed", "uninitialized", "down" (no answer) or
// "status N" for anything else.
func (nd *Node) Health() string {
	hc := &http.Client{Timeout: 2 * time.Second}
	if nd.c.tls {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(nd.c.CAPEM)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		defer tr.CloseIdleConnections()
		hc.Transport = tr
	}
	resp, err := hc.Get(nd.Addr + "/v1/sys/health")
	if err != nil {
		return "down"
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case 200:
		return "active"
	case 429:
		return "standby"
	case 473:
		return "perfstandby"
	case 501:
		return "uninitialized"
	case 503:
		return "sealed"
	}
	return "status " + strconv.Itoa(resp.StatusCode)
}

// form initialises node 1, unseals every node and waits until all are
// voters and one is active.
func (c *Cluster) form(opts *ClusterOptions) error {
	first := c.Nodes[0]
	if err := waitAnswer(first, 30*time.Second); err != nil {
		return err
	}
	cl, err := first.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	init, err := cl.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	c.Token, c.UnsealKey = init.RootToken, init.Keys[0]
	if err := first.unseal(ctx); err != nil {
		return err
	}
	if err := c.waitActive(ctx); err != nil {
		return err
	}
	cl.SetToken(c.Token)
	if _, err := cl.Logical().WriteWithContext(ctx, "sys/storage/raft/autopilot/configuration",
		map[string]any{"server_stabilization_time": "1s", "cleanup_dead_servers": false}); err != nil {
		return fmt.Errorf("autopilot configuration: %w", err)
	}
	// The other nodes join the way `vault operator raft join` and `vault
	// operator unseal` do it, all at once: a join request (no retry), then
	// the key, with which the node answers the leader's challenge. (A
	// retry_join stanza instead made each node wait for its 2 s retry
	// loop twice: ~5 s more per cluster.)
	var g errgroup.Group
	for _, nd := range c.Nodes[1:] {
		g.Go(func() error { return c.join(ctx, nd, first) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// A node that joined a cluster unseals twice in Vault 1.21 ("vault is
	// unsealed / entering standby mode" logged twice, seen with retry_join
	// and with the explicit join) and runs two standby loops; once such a
	// node is active, `operator step-down` answers 204 and does nothing.
	// Restarting each joined node once (it then unseals once, from its own
	// raft data) gives a cluster that behaves like a long-running one. They
	// restart all at once, before autopilot makes them voters: the first
	// node alone is the quorum until then, so no restart can cost it.
	if err := c.restart(ctx, c.Nodes[1:]); err != nil {
		return err
	}
	// Autopilot promotes a non-voter once it has been healthy for
	// server_stabilization_time (1 s here). Seen once (five clusters forming
	// at once on 2 cores, when the restart came after the promotion): both
	// joined nodes stayed non-voters for 30 s. A node not promoted within
	// 10 s is restarted again, at most twice.
	for attempt := 1; ; attempt++ {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.waitVoters(wctx)
		wcancel()
		if err == nil {
			break
		}
		stuck, lerr := c.nonVoters(ctx)
		if attempt == 3 || ctx.Err() != nil || lerr != nil || len(stuck) == 0 {
			return fmt.Errorf("%w (autopilot: %s)", err, c.autopilotSummary(ctx))
		}
		if err := c.restart(ctx, stuck); err != nil {
			return err
		}
	}
	if opts.KVMount != "-" {
		mount := opts.KVMount
		if mount == "" {
			mount = "secret"
		}
		ac, err := c.ActiveClient()
		if err != nil {
			return err
		}
		if err := ac.Sys().MountWithContext(ctx, mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
			return fmt.Errorf("mount kv at %s: %w", mount, err)
		}
		// KV v2 upgrades its storage in the background after mounting.
		for {
			if _, err := ac.Logical().ReadWithContext(ctx, mount+"/config"); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("kv mount %s not ready: %w", mount, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// join makes nd, a new node, join leader's cluster and unseals it. A
// join that does not end with nd unsealed within 15 s (seen once, with six
// clusters forming at once on 2 cores: the join answered, the leader never
// added the node, and it stayed "not initialized") is started again from
// an empty node, at most twice.
func (c *Cluster) join(ctx context.Context, nd, leader *Node) error {
	var last error
	for attempt := 1; attempt <= 3; attempt++ {
		if attempt > 1 {
			if err := nd.wipe(); err != nil {
				return err
			}
		}
		if last = c.joinOnce(ctx, nd, leader); last == nil || ctx.Err() != nil {
			return last
		}
	}
	return last
}

func (c *Cluster) joinOnce(ctx context.Context, nd, leader *Node) error {
	if err := waitAnswer(nd, 30*time.Second); err != nil {
		return err
	}
	cl, err := nd.client()
	if err != nil {
		return err
	}
	req := &api.RaftJoinRequest{LeaderAPIAddr: leader.Addr}
	if c.tls {
		req.LeaderCACert = string(c.CAPEM)
	}
	resp, err := cl.Sys().RaftJoinWithContext(ctx, req)
	if err != nil {
		return fmt.Errorf("%s: raft join: %w", nd.ID, err)
	}
	if !resp.Joined {
		return fmt.Errorf("%s: raft join: not joined", nd.ID)
	}
	uctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return nd.unseal(uctx)
}

// wipe kills nd, empties its raft data and starts it again, as a new node.
func (nd *Node) wipe() error {
	nd.signal(syscall.SIGKILL)
	raft := filepath.Join(nd.dir, "raft")
	if err := os.RemoveAll(raft); err != nil {
		return err
	}
	if err := os.Mkdir(raft, 0o700); err != nil {
		return err
	}
	return nd.start()
}

// initialized reports whether nd answers that it is initialized (its data
// holds the cluster), asking for up to 2 s.
func (nd *Node) initialized(ctx context.Context) bool {
	cl, err := nd.client()
	if err != nil {
		return false
	}
	for range 10 {
		if st, err := cl.Sys().SealStatusWithContext(ctx); err == nil && st.Initialized {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
	return false
}

// restart stops each of nodes (SIGTERM), starts it again from its data
// and unseals it, all at once. A node whose data turns out not to hold the
// cluster (its join did not take) joins again.
func (c *Cluster) restart(ctx context.Context, nodes []*Node) error {
	var g errgroup.Group
	for _, nd := range nodes {
		g.Go(func() error {
			nd.signal(syscall.SIGTERM)
			if err := nd.start(); err != nil {
				return err
			}
			if err := waitAnswer(nd, 30*time.Second); err != nil {
				return err
			}
			if !nd.initialized(ctx) {
				return c.join(ctx, nd, c.Nodes[0])
			}
			return nd.unseal(ctx)
		})
	}
	return g.Wait()
}

// nonVoters are the nodes the raft configuration does not list as voters.
func (c *Cluster) nonVoters(ctx context.Context) ([]*Node, error) {
	ac, err := c.ActiveClient()
	if err != nil {
		return nil, err
	}
	sec, err := ac.Logical().ReadWithContext(ctx, "sys/storage/raft/configuration")
	if err != nil {
		return nil, err
	}
	voter := map[string]bool{}
	cfg, _ := sec.Data["config"].(map[string]any)
	servers, _ := cfg["servers"].([]any)
	for _, s := range servers {
		if m, ok := s.(map[string]any); ok {
			id, _ := m["node_id"].(string)
			voter[id] = m["voter"] == true
		}
	}
	var out []*Node
	for _, nd := range c.Nodes {
		if !voter[nd.ID] {
			out = append(out, nd)
		}
	}
	return out, nil
}

// autopilotSummary is autopilot's view of each server (status, health,
// last contact), for an error that says why a node is not promoted.
func (c *Cluster) autopilotSummary(ctx context.Context) string {
	ac, err := c.ActiveClient()
	if err != nil {
		return err.Error()
	}
	sec, err := ac.Logical().ReadWithContext(ctx, "sys/storage/raft/autopilot/state")
	if err != nil || sec == nil {
		return fmt.Sprintf("state not read: %v", err)
	}
	servers, _ := sec.Data["servers"].(map[string]any)
	var parts []string
	for id, v := range servers {
		m, _ := v.(map[string]any)
		parts = append(parts, fmt.Sprintf("%s status=%v healthy=%v last_contact=%v stable_since=%v", id, m["status"], m["healthy"], m["last_contact"], m["stable_since"]))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

func waitAnswer(nd *Node, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if h := nd.Health(); h != "down" {
			return nil
		}
		nd.mu.Lock()
		done := nd.done
		nd.mu.Unlock()
		select {
		case <-done:
			return fmt.Errorf("%s exited during start:\n%s", nd.ID, tail(nd.LogPath, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s does not answer after %s", nd.ID, timeout)
}

// unseal unseals nd. A joining node answers "not initialized" until its
// join has fetched the seal configuration; a key it accepted while
// joining is applied by Vault itself once the join completes. So a key is
// sent again only after an error, never after an accepted one: a second
// unseal of a node that is already unsealing starts a second standby loop
// in Vault 1.21, after which step-down requests to that node are ignored.
func (nd *Node) unseal(ctx context.Context) error {
	cl, err := nd.client()
	if err != nil {
		return err
	}
	for {
		st, err := cl.Sys().SealStatusWithContext(ctx)
		if err == nil && st.Initialized && !st.Sealed {
			return nil
		}
		if err == nil && st.Initialized && st.Progress == 0 {
			st, err = cl.Sys().UnsealWithContext(ctx, nd.c.UnsealKey)
			if err == nil && !st.Sealed {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("unseal %s: %v (last error: %v)", nd.ID, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// pollUntil calls check every `every` until it returns nil, or until ctx
// ends: then the last check's error, wrapped with ctx's.
func pollUntil(ctx context.Context, every time.Duration, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v (%w)", err, ctx.Err())
		case <-time.After(every):
		}
	}
}

func (c *Cluster) waitActive(ctx context.Context) error {
	return pollUntil(ctx, 100*time.Millisecond, func() error { _, err := c.active(); return err })
}

// waitVoters waits until every node is a raft voter and healthy.
func (c *Cluster) waitVoters(ctx context.Context) error {
	if err := pollUntil(ctx, 200*time.Millisecond, func() error { return c.checkVoters(ctx) }); err != nil {
		return fmt.Errorf("cluster not formed: %w", err)
	}
	return nil
}

func (c *Cluster) checkVoters(ctx context.Context) error {
	non, err := c.nonVoters(ctx)
	if err != nil {
		return err
	}
	if len(non) > 0 {
		return fmt.Errorf("%d of %d nodes are voters", len(c.Nodes)-len(non), len(c.Nodes))
	}
	for _, nd := range c.Nodes {
		if h := nd.Health(); h != "active" && h != "standby" {
			return fmt.Errorf("%s is %s", nd.ID, h)
		}
	}
	return nil
}

// WaitHealthy waits up to 60 s until every node is unsealed and a voter,
// one is active, and raft's autopilot reports the cluster healthy (so
// losing any one node keeps a quorum).
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := pollUntil(ctx, 200*time.Millisecond, func() error {
		if err := c.checkVoters(ctx); err != nil {
			return err
		}
		return c.checkAutopilot(ctx)
	})
	if err != nil {
		t.Fatalf("vaulttest: cluster not healthy after 60s: %v", err)
	}
}

func (c *Cluster) checkAutopilot(ctx context.Context) error {
	ac, err := c.ActiveClient()
	if err != nil {
		return err
	}
	sec, err := ac.Logical().ReadWithContext(ctx, "sys/storage/raft/autopilot/state")
	if err != nil {
		return err
	}
	if sec == nil || sec.Data["healthy"] != true {
		return errors.New("autopilot reports the cluster unhealthy")
	}
	return nil
}

// Running reports whether the node's process runs (it may not answer yet).
func (nd *Node) Running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.cmd != nil
}

// active returns the node whose sys/health says active.
func (c *Cluster) active() (*Node, error) {
	for _, nd := range c.Nodes {
		if nd.Health() == "active" {
			return nd, nil
		}
	}
	return nil, errors.New("no node is active")
}

// Active returns the active node, waiting up to 30 s for one.
func (c *Cluster) Active(t testing.TB) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var nd *Node
	err := pollUntil(ctx, 100*time.Millisecond, func() (err error) { nd, err = c.active(); return err })
	if err != nil {
		t.Fatalf("vaulttest: no active node after 30s: %v", err)
	}
	return nd
}

// ActiveClient returns a root client for the node active now.
func (c *Cluster) ActiveClient() (*api.Client, error) {
	nd, err := c.active()
	if err != nil {
		return nil, err
	}
	return nd.client()
}

// Standby returns a node other than the active one that is a healthy standby.
func (c *Cluster) Standby(t testing.TB) *Node {
	t.Helper()
	act := c.Active(t)
	for _, nd := range c.Nodes {
		if nd != act && nd.Health() == "standby" {
			return nd
		}
	}
	t.Fatalf("vaulttest: no standby node")
	return nil
}

// Addrs returns every node's API address, node 1 first.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, nd := range c.Nodes {
		out[i] = nd.Addr
	}
	return out
}

// Kill sends SIGKILL to the node and waits for it to exit (its data stays).
func (nd *Node) Kill(t testing.TB) {
	t.Helper()
	nd.signal(syscall.SIGKILL)
}

// Stop stops the node gracefully (SIGTERM) and waits for it to exit.
func (nd *Node) Stop() {
	nd.signal(syscall.SIGTERM)
}

func (nd *Node) signal(sig syscall.Signal) {
	nd.mu.Lock()
	cmd, done := nd.cmd, nd.done
	nd.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	nd.mu.Lock()
	if nd.cmd == cmd {
		nd.cmd, nd.done = nil, nil
	}
	nd.mu.Unlock()
}

// Restart starts a stopped or killed node again from its data and unseals
// it; it waits until the node is active or a standby again.
func (nd *Node) Restart(t testing.TB) {
	t.Helper()
	if err := nd.start(); err != nil {
		t.Fatalf("vaulttest: restart %s: %v", nd.ID, err)
	}
	if err := waitAnswer(nd, 30*time.Second); err != nil {
		t.Fatalf("vaulttest: restart %s: %v", nd.ID, err)
	}
	nd.Unseal(t)
}

// Unseal unseals the node and waits until it is active or a standby.
func (nd *Node) Unseal(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := nd.unseal(ctx); err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	for {
		if h := nd.Health(); h == "active" || h == "standby" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("vaulttest: %s is %s 30s after unseal", nd.ID, nd.Health())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Seal seals the node.
func (nd *Node) Seal(t testing.TB) {
	t.Helper()
	if err := nd.Client(t).Sys().SealWithContext(context.Background()); err != nil {
		t.Fatalf("vaulttest: seal %s: %v", nd.ID, err)
	}
}

// StepDown makes the active node give up leadership (vault operator
// step-down); another node becomes active in ~0.5–2.5 s.
func (c *Cluster) StepDown(t testing.TB) *Node {
	t.Helper()
	act := c.Active(t)
	if err := act.Client(t).Sys().StepDownWithContext(context.Background()); err != nil {
		t.Fatalf("vaulttest: step-down %s: %v", act.ID, err)
	}
	return act
}

// Dir is the directory that holds the nodes' configuration, data and logs;
// Stop removes it.
func (c *Cluster) Dir() string { return c.dir }

// Stop kills every node (their data is removed next, so nothing needs
// an orderly shutdown) and removes the cluster's files. Safe to call twice.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, nd := range c.Nodes {
		wg.Go(func() { nd.signal(syscall.SIGKILL) })
	}
	wg.Wait()
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}
