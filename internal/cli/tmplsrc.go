package cli

import (
	"context"
	"encoding/pem"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/pkisecrets"
)

// changeQueue collects the dependencies that changed, from any goroutine,
// for the one goroutine that renders. push never blocks; repeated changes
// of one dependency before take count once.
type changeQueue struct {
	mu      sync.Mutex
	pending map[dep]time.Time // when first seen since the last take
	wake    chan struct{}     // buffered 1: something is pending
}

func newChangeQueue() *changeQueue {
	return &changeQueue{pending: map[dep]time.Time{}, wake: make(chan struct{}, 1)}
}

func (q *changeQueue) push(d dep) {
	if q == nil {
		return
	}
	q.mu.Lock()
	if _, ok := q.pending[d]; !ok {
		q.pending[d] = time.Now()
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns what is pending and forgets it.
func (q *changeQueue) take() map[dep]time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.pending
	q.pending = map[dep]time.Time{}
	return out
}

// dynSecret is one leased secret kept alive for the templates (or the
// environment) that use it, or a non-KV read without a lease (static),
// read again at every rendering.
type dynSecret struct {
	path   string
	d      *vaultly.Dynamic[map[string]string]
	static bool
	unsub  func()
}

func (d *dynSecret) close(ctx context.Context) error {
	if d.d == nil {
		return nil
	}
	if d.unsub != nil {
		d.unsub()
	}
	return d.d.Close(ctx)
}

// dynamic returns the dynamic secret at path (a full Vault path), issuing
// it on first use. Its rotations are pushed to e.changed (and onEvent,
// when set), and logged with the path, never a value.
func (e *tmplEnv) dynamic(ctx context.Context, path string) (*dynSecret, error) {
	if d, ok := e.dyns[path]; ok {
		return d, nil
	}
	s, err := e.k.store(ctx, e.k.defaultMount())
	if err != nil {
		return nil, err
	}
	dd, err := vaultly.OpenDynamic[map[string]string](ctx, s, path, &vaultly.DynamicOptions{RevokeOnClose: e.revoke})
	if err != nil {
		if noLease(err) {
			d := &dynSecret{path: path, static: true}
			e.dyns[path] = d
			return d, nil
		}
		return nil, err
	}
	d := &dynSecret{path: path, d: dd}
	q, logf, onEvent, errText := e.changed, e.logf, e.onEvent, e.k.g.errText
	d.unsub = dd.Subscribe(func(ev vaultly.DynamicEvent[map[string]string]) {
		switch ev.Kind {
		case vaultly.LeaseRotated:
			logf("rotated: %s (generation %d replaces %d)", path, ev.Leased.Lease.Generation, ev.Previous.Lease.Generation)
			q.push(dep{depDynamic, path})
		case vaultly.LeaseFailed:
			logf("lease of %s: %s", path, errText(ev.Err))
		}
		if onEvent != nil {
			onEvent(path, ev)
		}
	})
	e.dyns[path] = d
	return d, nil
}

// noLease reports whether err is the lease engine's refusal of a secret
// that has no lease (hashivault's IssueLease: InvalidArgument, "has no
// lease"), such as a read of transit/keys/NAME.
func noLease(err error) bool {
	return vaultly.CodeOf(err) == vaultly.InvalidArgument && strings.Contains(err.Error(), "has no lease")
}

// certSecret is one certificate issued for pkiCert (or secret's PKI write
// form), shared by the templates that ask for the same path and
// parameters, and due for re-issue at 2/3 of its lifetime.
type certSecret struct {
	key   string
	cert  *pkisecrets.Certificate
	stale atomic.Bool // the re-issue time has come
	timer *time.Timer
}

// reissueAt is when a certificate received at issued and valid until
// notAfter is issued again: at 2/3 of its lifetime, leaving the last third
// for retries (the schedule pkisecrets.Source follows, without jitter).
func reissueAt(issued, notAfter time.Time) time.Time {
	life := notAfter.Sub(issued)
	if life <= 0 {
		return issued
	}
	return issued.Add(life * 2 / 3)
}

func (c *certSecret) set(crt *pkisecrets.Certificate, q *changeQueue) {
	c.stop()
	c.cert = crt
	c.stale.Store(false)
	if q == nil {
		return
	}
	key := c.key
	c.timer = time.AfterFunc(time.Until(reissueAt(crt.Issued, crt.NotAfter())), func() {
		c.stale.Store(true)
		q.push(dep{depCert, key})
	})
}

func (c *certSecret) stop() {
	if c.timer != nil {
		c.timer.Stop()
	}
}

func (c *certSecret) pems() (cert, key, ca string, chain []string) {
	cert = strings.TrimSpace(string(c.cert.CertPEM()))
	if k, err := c.cert.Key.RevealPEM(); err == nil {
		key = strings.TrimSpace(string(k))
	}
	for _, x := range c.cert.Chain {
		chain = append(chain, strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.Raw}))))
	}
	if len(chain) > 0 {
		ca = chain[0]
	}
	return cert, key, ca, chain
}

// ctShape is consul-template's pkiCert result.
func (c *certSecret) ctShape() *tmplCert {
	cert, key, ca, chain := c.pems()
	t := &tmplCert{Cert: cert, Key: key, CA: ca, CACerts: chain}
	t.Data = t
	return t
}

// vaultShape is the answer of Vault's pki/issue, for secret's write form.
func (c *certSecret) vaultShape() *tmplSecret {
	cert, key, ca, chain := c.pems()
	anyChain := make([]any, len(chain))
	for i, s := range chain {
		anyChain[i] = s
	}
	data := map[string]any{
		"certificate":      cert,
		"private_key":      key,
		"private_key_type": keyType(c.cert.Key.Algorithm()),
		"issuing_ca":       ca,
		"ca_chain":         anyChain,
		"serial_number":    c.cert.Serial,
		"expiration":       c.cert.NotAfter().Unix(),
	}
	return &tmplSecret{Data: data, fields: data}
}

// keyType is Vault's private_key_type for an algorithm name.
func keyType(alg string) string {
	a := strings.ToLower(alg)
	switch {
	case strings.Contains(a, "rsa"):
		return "rsa"
	case strings.Contains(a, "ed25519"):
		return "ed25519"
	case strings.Contains(a, "ec"):
		return "ec"
	}
	return a
}
