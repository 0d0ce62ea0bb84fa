// Package pkisecrets keeps TLS certificates from Vault's PKI secrets engine
// (or any backend implementing driver.CertIssuer) current inside the
// process, behind a tls.Config: no PEM files, no reload, no restart.
//
// A Source obtains a certificate for a role when it is created and
// replaces it before it expires:
//
//   - by default the key is generated here (ECDSA P-256; see KeyType) and
//     only a certificate signing request goes to Vault (<mount>/sign/<role>),
//     so the private key never leaves the process; when the role or the
//     token's policy does not allow signing, Vault issues key and
//     certificate together (<mount>/issue/<role>) — see Mode;
//   - the replacement is issued at about 2/3 of the certificate's lifetime,
//     with jitter (the renewal schedule of package internal/renew that
//     tokens and leases use); handshakes keep getting the current
//     certificate until the new one is in place, then get the new one;
//   - a failed issue is retried with jittered backoff bounded by the
//     certificate's end (never more than half the time left), and logged;
//     Status and Health say when the end is near and issuing keeps
//     failing;
//   - the CA certificates of the mount are kept in a pool that follows CA
//     rotation: refreshed periodically (Options.CARefresh), at once when a
//     peer's certificate names an unknown authority, and when a new
//     certificate comes with a new chain. Every issuer of the mount stays
//     trusted while Vault lists it, so certificates from the old CA keep
//     working until they expire;
//   - with RevokePrevious, each replaced certificate is revoked (in the
//     background, never on a handshake), and with RevokeOnClose every
//     certificate still valid is revoked by Close.
//
// ServerTLSConfig and ClientTLSConfig (functions and methods) build the
// tls.Config: GetCertificate / GetClientCertificate return the current
// certificate (an atomic load: no lock, no allocation), and the peer's
// certificate is verified against the pool current at the handshake.
//
// The private key is held as a PrivateKey, which never prints, logs or
// marshals (every fmt verb, slog, JSON); Certificate prints its serial
// number and names only. Errors are *vaultly.Error values.
//
// A *Source is safe for concurrent use. It runs three goroutines (the
// certificate's schedule, the CA pool's refreshes, revocations), started by
// New and stopped by Close, which must be called. Issue starts none.
package pkisecrets

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/renew"
)

// Mode says how a certificate is obtained.
type Mode int

// The modes. The zero value is ModeAuto.
const (
	// ModeAuto signs a CSR for a locally generated key, and falls back to
	// ModeIssue for good when Vault refuses the sign request with
	// PermissionDenied (the policy allows issue only) or InvalidArgument
	// (the role refuses the key type) and the issue request succeeds.
	ModeAuto Mode = iota
	// ModeSign generates the key here and has Vault sign a CSR
	// (<mount>/sign/<role>, policy capability "update"). The key never
	// leaves the process.
	ModeSign
	// ModeIssue has Vault generate key and certificate (<mount>/issue/<role>,
	// capability "update"); the key travels in the response. The role's
	// key_type decides the key; KeyType is ignored.
	ModeIssue
)

var modeNames = [...]string{ModeAuto: "auto", ModeSign: "sign", ModeIssue: "issue"}

// String returns "auto", "sign" or "issue".
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode returns the mode named s ("auto", "sign" or "issue").
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if n == s {
			return Mode(i), nil
		}
	}
	return 0, &vaultly.Error{Op: "parse mode", Ref: s, Code: vaultly.InvalidArgument,
		Err: errors.New("unknown mode " + strconv.Quote(s) + ": want auto, sign or issue")}
}

// Options configures a Source (and Issue). A nil *Options means the
// defaults, which ask for a certificate with no names: most roles need at
// least CommonName.
type Options struct {
	// Mount is the PKI engine's mount path. Default "pki".
	Mount string
	// CommonName is the subject's CN; Vault adds it to the DNS SANs unless
	// the role excludes it. Default: "" (only for roles that do not
	// require a CN).
	CommonName string
	// AltNames are DNS names and email addresses for the SANs. Default none.
	AltNames []string
	// IPSANs are IP addresses for the SANs, e.g. "127.0.0.1". Default none.
	IPSANs []string
	// URISANs are URIs for the SANs, e.g. "spiffe://example.org/web".
	// Default none.
	URISANs []string
	// TTL is the lifetime asked for, at least 1s, in whole seconds; Vault
	// caps it at the role's max_ttl. Default: 0, the role's ttl.
	TTL time.Duration
	// Mode is how certificates are obtained. Default ModeAuto: sign a
	// locally generated key when the role and policy allow it, else issue.
	Mode Mode
	// KeyType is the key generated for signing. Default ECDSAP256. The
	// role's key_type must accept it ("any" accepts every type; "ec" with
	// key_bits 256 accepts only ECDSAP256).
	KeyType KeyType
	// RevokePrevious revokes each certificate once its replacement is in
	// place, in the background (policy: "update" on <mount>/revoke).
	// Default false: replaced certificates expire on their own.
	RevokePrevious bool
	// RevokeOnClose has Close revoke every certificate this Source obtained
	// that has not expired, the current one included. Default false.
	RevokeOnClose bool
	// CARefresh is how often the pool of CA certificates is read again.
	// Default: 0, one minute. Negative: never on a timer, only when a peer
	// presents a certificate from an unknown CA or a new certificate comes
	// with a new chain.
	CARefresh time.Duration
	// Logger receives the schedule's events, never a key: failed issues
	// and CA refreshes are Warn (Error once the certificate has expired),
	// the fall-back from sign to issue is Info, routine re-issues are Debug.
	// Default (nil): slog.Default().
	Logger *slog.Logger
	// MeterProvider receives the Source's metrics: certificates obtained
	// and CA reads by result code, and the seconds until the current
	// certificate expires, with the mount and role as attributes (never a
	// key, serial or name of the certificate). Default (nil): none.
	MeterProvider metric.MeterProvider
}

// Status is a snapshot of a Source, for health checks and diagnostics.
type Status struct {
	Serial      string    // the current certificate's serial number
	CommonName  string    // its CN
	NotAfter    time.Time // its end of validity
	Issued      time.Time // when it was received
	Generation  uint64    // 1 for the first certificate, +1 for each replacement
	Mode        Mode      // how it was obtained: ModeSign or ModeIssue
	NextIssue   time.Time // when its replacement (or the next retry) is due; zero after Close
	Failures    int       // failed issues since the last success
	LastError   error     // the last failed issue (a *vaultly.Error), nil after a success
	CACerts     int       // certificates in the CA pool
	CARefreshed time.Time // the last successful read of the mount's CAs
	CAError     error     // the last failed read, nil after a success
}

// Source keeps one certificate current. Create it with New; Close it when
// done.
type Source struct{ *source }

// source is a Source's state, behind a pointer: fmt prints a *Source kept in
// an unexported field of a caller's struct without calling its methods, and
// under a verb that does not suit a pointer (%s, %q, ...) follows it and
// reads the fields — racing with the Source's goroutines. Behind one more
// pointer it prints an address.
type source struct {
	ci          driver.CertIssuer
	mount, role string
	backend     string
	req         driver.CertRequest
	csr         *x509.CertificateRequest
	keyType     KeyType
	revokePrev  bool
	revokeClose bool
	caEvery     time.Duration
	log         *slog.Logger
	rnd         func() float64
	mp          metric.MeterProvider
	tel         *certMeters // metrics.go; nil without a MeterProvider

	cur atomic.Pointer[Certificate]
	cas atomic.Pointer[caSet]

	caMu   sync.Mutex          // serialises publishing the CA pool (no I/O under it)
	listed []*x509.Certificate // the mount's CAs as last read; guarded by caMu

	mu         sync.Mutex // guards the fields below; never held across I/O
	mode       Mode       // ModeIssue once ModeAuto has fallen back
	generation uint64
	nextIssue  time.Time
	failures   int
	lastErr    error
	caAt       time.Time
	caErr      error
	alive      []*Certificate // obtained and not yet expired, for RevokeOnClose
	caNext     chan struct{}  // closed when the next CA refresh to start completes
	closed     bool

	caWake    chan struct{}
	revokeq   chan *Certificate
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// caSet is one published state of the CA pool.
type caSet struct {
	pool  *x509.CertPool
	certs []*x509.Certificate
}

const (
	caTimeout     = 10 * time.Second // one read of the mount's CAs
	revokeTimeout = 10 * time.Second // one revocation
	caWait        = 5 * time.Second  // how long a handshake waits for a CA refresh
	minCAGap      = time.Second      // CA refreshes asked for by handshakes: at most one per gap
	revokeQueue   = 64
)

// New obtains a certificate for role and starts keeping it current. The
// first certificate and the first read of the mount's CAs happen before New
// returns, and their failure is returned (nothing keeps running then). The
// goroutines run on a context detached from ctx (values kept, cancellation
// dropped) until Close.
//
// ci is normally a *hashivault.Backend; it must stay open until Close.
func New(ctx context.Context, ci driver.CertIssuer, role string, opts *Options) (*Source, error) {
	s, err := configure(ci, role, opts)
	if err != nil {
		return nil, err
	}
	s.tel = newCertMeters(s, s.mp)
	first, err := s.obtain(ctx)
	s.tel.issued(err)
	if err != nil {
		s.tel.close()
		return nil, err
	}
	s.cur.Store(first)
	s.generation = 1
	s.alive = []*Certificate{first}
	if err := s.refreshCA(ctx); err != nil {
		s.tel.close()
		return nil, err
	}
	s.caNext = make(chan struct{})
	s.caWake = make(chan struct{}, 1)
	s.revokeq = make(chan *Certificate, revokeQueue)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(3)
	go s.certLoop(loopCtx)
	go s.caLoop(loopCtx)
	go s.revokeLoop(loopCtx)
	return s, nil
}

// Issue obtains one certificate for role, as New's first one, and returns
// it: nothing keeps running and nothing needs closing. It is for one-shot
// uses (vaultly cert issue, a template function that renders PEM);
// CertPEM, ChainPEM and Key.RevealPEM give the files.
func Issue(ctx context.Context, ci driver.CertIssuer, role string, opts *Options) (*Certificate, error) {
	s, err := configure(ci, role, opts)
	if err != nil {
		return nil, err
	}
	return s.obtain(ctx)
}

// configure checks the options, before any request.
func configure(ci driver.CertIssuer, role string, opts *Options) (*Source, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Source{&source{ci: ci, role: role, backend: "vault", keyType: opts.KeyType, mode: opts.Mode,
		revokePrev: opts.RevokePrevious, revokeClose: opts.RevokeOnClose,
		caEvery: opts.CARefresh, log: opts.Logger, rnd: mrand.Float64, mp: opts.MeterProvider}}
	if n, ok := ci.(interface{ Name() string }); ok {
		s.backend = n.Name()
	}
	bad := func(msg string) error {
		return &vaultly.Error{Op: "cert config", Ref: role, Backend: s.backend, Code: vaultly.InvalidArgument, Err: errors.New(msg)}
	}
	if ci == nil {
		return nil, &vaultly.Error{Op: "cert config", Ref: role, Code: vaultly.Config, Err: errors.New("no certificate issuer (backend is nil)")}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.caEvery == 0 {
		s.caEvery = time.Minute
	}
	s.mount = strings.Trim(opts.Mount, "/")
	if s.mount == "" {
		s.mount = "pki"
	}
	if role == "" || strings.ContainsAny(role, "/?#%") || strings.ContainsFunc(role, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, bad("role " + strconv.Quote(role) + " is not a valid role name")
	}
	if !opts.Mode.valid() {
		return nil, bad("Mode " + opts.Mode.String() + " is not a mode")
	}
	if !opts.KeyType.valid() {
		return nil, bad("KeyType " + opts.KeyType.String() + " is not a key type")
	}
	if opts.TTL < 0 || (opts.TTL > 0 && opts.TTL < time.Second) {
		return nil, bad("TTL " + opts.TTL.String() + " must be 0 (the role's) or at least 1s")
	}
	s.req = driver.CertRequest{CommonName: opts.CommonName, TTL: opts.TTL,
		AltNames: clean(opts.AltNames), IPSANs: clean(opts.IPSANs), URISANs: clean(opts.URISANs)}
	s.csr = &x509.CertificateRequest{Subject: pkix.Name{CommonName: opts.CommonName}}
	for _, n := range s.req.AltNames {
		if strings.Contains(n, "@") {
			s.csr.EmailAddresses = append(s.csr.EmailAddresses, n)
		} else {
			s.csr.DNSNames = append(s.csr.DNSNames, n)
		}
	}
	for i, ip := range s.req.IPSANs {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, bad("IPSANs[" + strconv.Itoa(i) + "] " + strconv.Quote(ip) + " is not an IP address")
		}
		s.csr.IPAddresses = append(s.csr.IPAddresses, net.IP(a.AsSlice()))
	}
	for i, u := range s.req.URISANs {
		p, err := url.Parse(u)
		if err != nil || p.Scheme == "" {
			return nil, bad("URISANs[" + strconv.Itoa(i) + "] " + strconv.Quote(u) + " is not an absolute URI")
		}
		s.csr.URIs = append(s.csr.URIs, p)
	}
	return s, nil
}

func (m Mode) valid() bool { return m >= 0 && int(m) < len(modeNames) }

// clean drops empty and surrounding-space entries.
func clean(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (s *Source) ref(op string) string { return s.mount + "/" + op + "/" + s.role }

// obtain gets one certificate by the current mode.
func (s *Source) obtain(ctx context.Context) (*Certificate, error) {
	s.mu.Lock()
	mode := s.mode
	s.mu.Unlock()
	switch mode {
	case ModeSign:
		return s.signOnce(ctx)
	case ModeIssue:
		return s.issueOnce(ctx)
	}
	c, err := s.signOnce(ctx)
	if err == nil {
		return c, nil
	}
	code := vaultly.CodeOf(err)
	if code != vaultly.PermissionDenied && code != vaultly.InvalidArgument {
		return nil, err
	}
	c, ierr := s.issueOnce(ctx)
	if ierr != nil {
		if code == vaultly.PermissionDenied {
			return nil, ierr // signing is not allowed: issue's failure is the one that matters
		}
		return nil, err
	}
	s.mu.Lock()
	s.mode = ModeIssue
	s.mu.Unlock()
	s.log.Info("vaultly: certificates for this role are issued by Vault, key included, because signing a local key was refused",
		"mount", s.mount, "role", s.role, "sign_error", err.Error())
	return c, nil
}

// signOnce generates a key and has its CSR signed.
func (s *Source) signOnce(ctx context.Context) (*Certificate, error) {
	const op = "cert sign"
	ref := s.ref("sign")
	key, err := s.keyType.generate()
	if err != nil {
		return nil, &vaultly.Error{Op: op, Ref: ref, Backend: s.backend, Code: vaultly.Unknown, Err: errors.New("generating a " + s.keyType.String() + " key failed")}
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, s.csr, key)
	if err != nil {
		return nil, &vaultly.Error{Op: op, Ref: ref, Backend: s.backend, Code: vaultly.InvalidArgument, Err: errors.New("cannot create the certificate request: " + err.Error())}
	}
	ic, err := s.ci.SignCSR(ctx, s.mount, s.role, csr, &s.req)
	if err != nil {
		return nil, vaultly.WrapError(op, ref, s.backend, err)
	}
	c, err := newCertificate(ic, key, time.Now())
	if err != nil {
		return nil, &vaultly.Error{Op: op, Ref: ref, Backend: s.backend, Code: vaultly.Malformed, Err: err}
	}
	return c, nil
}

// issueOnce has the backend generate key and certificate.
func (s *Source) issueOnce(ctx context.Context) (*Certificate, error) {
	const op = "cert issue"
	ref := s.ref("issue")
	ic, err := s.ci.IssueCert(ctx, s.mount, s.role, &s.req)
	if err != nil {
		return nil, vaultly.WrapError(op, ref, s.backend, err)
	}
	c, err := newCertificate(ic, nil, time.Now())
	if err != nil {
		return nil, &vaultly.Error{Op: op, Ref: ref, Backend: s.backend, Code: vaultly.Malformed, Err: err}
	}
	return c, nil
}

// Current returns the current certificate; never nil.
func (s *Source) Current() *Certificate { return s.cur.Load() }

// GetCertificate returns the current certificate, for tls.Config's
// GetCertificate (servers). It never blocks, takes no lock and allocates
// nothing. After Close it keeps returning the last certificate.
func (s *Source) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cur.Load().tlsCert, nil
}

// GetClientCertificate returns the current certificate, for tls.Config's
// GetClientCertificate (clients of mutual TLS), whatever CAs the server
// names: during a CA rotation the server may trust more than it lists.
func (s *Source) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return s.cur.Load().tlsCert, nil
}

// CertPool returns the pool of the mount's CA certificates as of now. The
// pool is replaced, never modified, when the CAs change: a tls.Config that
// holds it in RootCAs or ClientCAs does not follow a CA rotation, the
// configs of ServerTLSConfig and ClientTLSConfig do.
func (s *Source) CertPool() *x509.CertPool { return s.cas.Load().pool }

// CACerts returns the CA certificates in the pool as of now.
func (s *Source) CACerts() []*x509.Certificate {
	return append([]*x509.Certificate(nil), s.cas.Load().certs...)
}

// Status returns a snapshot of the Source.
func (s *Source) Status() Status {
	c := s.cur.Load()
	mode := ModeIssue
	if c.LocalKey {
		mode = ModeSign
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{
		Serial: c.Serial, CommonName: c.Leaf.Subject.CommonName, NotAfter: c.NotAfter(), Issued: c.Issued,
		Generation: s.generation, Mode: mode, NextIssue: s.nextIssue,
		Failures: s.failures, LastError: s.lastErr,
		CACerts: len(s.cas.Load().certs), CARefreshed: s.caAt, CAError: s.caErr,
	}
}

// Health returns nil while the certificate is fine, and an Unavailable
// *vaultly.Error when it has expired, or when less than a sixth of its
// lifetime is left and issuing its replacement keeps failing (the error
// wraps the last failure). For readiness probes.
func (s *Source) Health() error {
	c := s.cur.Load()
	st := s.Status()
	left := time.Until(c.NotAfter())
	var msg string
	switch {
	case left <= 0:
		msg = "certificate " + c.Serial + " expired at " + c.NotAfter().UTC().Format(time.RFC3339)
	case st.Failures > 0 && nearExpiry(left, c.Lifetime()):
		msg = "certificate " + c.Serial + " expires in " + left.Round(time.Second).String() + " and issuing its replacement keeps failing"
	default:
		return nil
	}
	err := errors.New(msg)
	if st.LastError != nil {
		err = fmt.Errorf("%s: %w", msg, st.LastError)
	}
	return &vaultly.Error{Op: "cert health", Ref: s.ref("issue"), Backend: s.backend, Code: vaultly.Unavailable, Err: err}
}

// Close stops the goroutines and waits for them; revokes the replaced
// certificates still queued for revocation (RevokePrevious) and, with
// RevokeOnClose, every certificate obtained that has not expired; ctx
// bounds the revocations. Handshakes keep getting the last certificate.
// Safe to call more than once; later calls return the first result.
func (s *Source) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.tel.close()
		s.mu.Lock()
		s.closed = true
		close(s.caNext)
		s.nextIssue = time.Time{}
		alive := s.alive
		s.alive = nil
		s.mu.Unlock()
		var todo []*Certificate
		seen := map[*Certificate]bool{}
	drain:
		for {
			select {
			case c := <-s.revokeq:
				if !seen[c] {
					seen[c] = true
					todo = append(todo, c)
				}
			default:
				break drain
			}
		}
		if s.revokeClose {
			for _, c := range alive {
				if !seen[c] {
					seen[c] = true
					todo = append(todo, c)
				}
			}
		}
		now := time.Now()
		var errs []error
		for _, c := range todo {
			if !now.Before(c.NotAfter()) {
				continue
			}
			if err := s.ci.RevokeCert(ctx, s.mount, c.Leaf.Raw); err != nil {
				errs = append(errs, err)
			}
		}
		s.closeErr = vaultly.WrapError("cert revoke", s.mount+"/revoke", s.backend, errors.Join(errs...))
	})
	return s.closeErr
}

// certLoop replaces the certificate on the schedule.
func (s *Source) certLoop(ctx context.Context) {
	defer s.wg.Done()
	cur := s.cur.Load()
	next := nextIssue(cur.Issued, cur.NotAfter(), s.rnd())
	s.setNext(next)
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	attempt := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ctx.Err() != nil {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout(time.Until(cur.NotAfter())))
		c, err := s.obtain(rctx)
		cancel()
		if ctx.Err() == nil {
			s.tel.issued(err)
		}
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		if err != nil {
			attempt++
			left := cur.NotAfter().Sub(now)
			next = now.Add(retryDelay(attempt, left, s.rnd()))
			s.failed(cur, err, attempt, next, left)
		} else {
			attempt = 0
			prev := cur
			cur = c
			s.install(c)
			next = nextIssue(c.Issued, c.NotAfter(), s.rnd())
			s.setNext(next)
			s.log.Debug("vaultly: certificate replaced", "mount", s.mount, "role", s.role,
				"serial", c.Serial, "previous", prev.Serial, "not_after", c.NotAfter(), "next_issue", next)
			if s.revokePrev {
				s.queueRevoke(prev)
			}
		}
		t.Reset(max(time.Until(next), 0))
	}
}

func (s *Source) setNext(t time.Time) {
	s.mu.Lock()
	s.nextIssue = t
	s.mu.Unlock()
}

// install publishes c as the current certificate.
func (s *Source) install(c *Certificate) {
	s.cur.Store(c)
	now := time.Now()
	s.mu.Lock()
	s.generation++
	s.failures, s.lastErr = 0, nil
	keep := s.alive[:0]
	for _, a := range s.alive {
		if now.Before(a.NotAfter()) {
			keep = append(keep, a)
		}
	}
	s.alive = append(keep, c)
	s.mu.Unlock()
	s.publishCAs(nil) // c's chain may name a new CA
}

// failed records and reports a failed issue.
func (s *Source) failed(cur *Certificate, err error, attempt int, next time.Time, left time.Duration) {
	s.mu.Lock()
	s.failures, s.lastErr, s.nextIssue = attempt, err, next
	s.mu.Unlock()
	args := []any{"mount", s.mount, "role", s.role, "serial", cur.Serial, "error", err.Error(),
		"failures", attempt, "expires_in", left.Round(time.Millisecond), "retry_in", time.Until(next).Round(time.Millisecond)}
	switch {
	case left <= 0:
		s.log.Error("vaultly: certificate expired and issuing its replacement keeps failing; peers will refuse it", args...)
	case nearExpiry(left, cur.Lifetime()):
		s.log.Warn("vaultly: certificate expires soon and issuing its replacement keeps failing", args...)
	default:
		s.log.Warn("vaultly: issuing a replacement certificate failed; the current one is still valid", args...)
	}
}

// queueRevoke hands c to the revocation goroutine without waiting.
func (s *Source) queueRevoke(c *Certificate) {
	select {
	case s.revokeq <- c:
	default:
		s.log.Warn("vaultly: too many certificates waiting for revocation; this one is left to expire",
			"mount", s.mount, "serial", c.Serial, "not_after", c.NotAfter())
	}
}

// revokeLoop revokes the certificates queued by RevokePrevious.
func (s *Source) revokeLoop(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-s.revokeq:
			s.revoke(ctx, c)
		}
	}
}

// revoke revokes c, retrying a transient failure twice while c is valid.
func (s *Source) revoke(ctx context.Context, c *Certificate) {
	for attempt := 0; ; attempt++ {
		if !time.Now().Before(c.NotAfter()) {
			return // expired: nothing left to revoke
		}
		rctx, cancel := context.WithTimeout(ctx, revokeTimeout)
		err := s.ci.RevokeCert(rctx, s.mount, c.Leaf.Raw)
		cancel()
		if ctx.Err() != nil {
			// Close takes over: put it back for Close to revoke.
			select {
			case s.revokeq <- c:
			default:
			}
			return
		}
		if err == nil {
			s.forget(c)
			s.log.Debug("vaultly: replaced certificate revoked", "mount", s.mount, "serial", c.Serial)
			return
		}
		if attempt >= 2 || !vaultly.CodeOf(err).Retryable() {
			s.log.Warn("vaultly: revoking a replaced certificate failed; it stays valid until it expires",
				"mount", s.mount, "serial", c.Serial, "not_after", c.NotAfter(),
				"error", vaultly.WrapError("cert revoke", s.mount+"/revoke", s.backend, err).Error())
			return
		}
		t := time.NewTimer(renew.Backoff(attempt, time.Second, 10*time.Second, s.rnd()))
		select {
		case <-ctx.Done():
			t.Stop()
			select {
			case s.revokeq <- c:
			default:
			}
			return
		case <-t.C:
		}
	}
}

// forget drops a revoked certificate from those RevokeOnClose revokes.
func (s *Source) forget(c *Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, a := range s.alive {
		if a == c {
			s.alive = append(s.alive[:i], s.alive[i+1:]...)
			return
		}
	}
}

// refreshCA reads the mount's CAs and publishes the pool.
func (s *Source) refreshCA(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, caTimeout)
	defer cancel()
	ders, err := s.ci.CACerts(ctx, s.mount)
	if err == nil && len(ders) == 0 {
		err = driver.NewError(driver.NotFound, errors.New(s.mount+" has no CA certificate"))
	}
	var certs []*x509.Certificate
	if err == nil {
		for i, d := range ders {
			c, perr := x509.ParseCertificate(d)
			if perr != nil {
				err = driver.NewError(driver.Malformed, fmt.Errorf("cannot parse CA certificate %d: %v", i, perr))
				break
			}
			certs = append(certs, c)
		}
	}
	s.tel.caRefreshed(err)
	if err != nil {
		err = vaultly.WrapError("cert ca", s.mount, s.backend, err)
		s.mu.Lock()
		s.caErr = err
		s.mu.Unlock()
		return err
	}
	s.publishCAs(certs)
	s.mu.Lock()
	s.caAt, s.caErr = time.Now(), nil
	s.mu.Unlock()
	return nil
}

// publishCAs stores the pool made of the mount's CAs (listed, or the last
// ones read when nil) and the current certificate's chain.
func (s *Source) publishCAs(listed []*x509.Certificate) {
	s.caMu.Lock()
	defer s.caMu.Unlock()
	if listed != nil {
		s.listed = listed
	}
	var certs []*x509.Certificate
	seen := map[string]bool{}
	add := func(c *x509.Certificate) {
		if !seen[string(c.Raw)] {
			seen[string(c.Raw)] = true
			certs = append(certs, c)
		}
	}
	for _, c := range s.listed {
		add(c)
	}
	if cur := s.cur.Load(); cur != nil {
		for _, c := range cur.Chain {
			add(c)
		}
	}
	if old := s.cas.Load(); old != nil && sameCerts(old.certs, certs) {
		return
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	s.cas.Store(&caSet{pool: pool, certs: certs})
}

func sameCerts(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// caLoop refreshes the CA pool on its timer and when asked.
func (s *Source) caLoop(ctx context.Context) {
	defer s.wg.Done()
	last := time.Now()
	next := time.Time{}
	if s.caEvery > 0 {
		next = last.Add(s.caEvery)
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	attempt := 0
	for {
		var fire <-chan time.Time
		if !next.IsZero() {
			t.Reset(max(time.Until(next), 0))
			fire = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-fire:
		case <-s.caWake:
			if gap := minCAGap - time.Since(last); gap > 0 {
				t.Reset(gap)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}
		s.mu.Lock()
		done := s.caNext
		s.caNext = make(chan struct{})
		s.mu.Unlock()
		err := s.refreshCA(ctx)
		last = time.Now()
		close(done)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			attempt++
			limit := 30 * time.Second
			if s.caEvery > 0 {
				limit = min(limit, s.caEvery)
			}
			d := renew.Backoff(attempt-1, time.Second, limit, s.rnd())
			next = last.Add(d)
			s.log.Warn("vaultly: reading the CA certificates failed; the previous pool stays in use",
				"mount", s.mount, "error", err.Error(), "retry_in", d.Round(time.Millisecond))
			continue
		}
		attempt = 0
		next = time.Time{}
		if s.caEvery > 0 {
			next = last.Add(s.caEvery)
		}
	}
}

// awaitCARefresh asks for a CA refresh and waits up to d for one that
// started after the call to complete. It reports whether one did.
func (s *Source) awaitCARefresh(d time.Duration) bool {
	s.mu.Lock()
	if s.closed || s.caNext == nil {
		s.mu.Unlock()
		return false
	}
	ch := s.caNext
	s.mu.Unlock()
	select {
	case s.caWake <- struct{}{}:
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// String names the Source by mount, role and current serial number; never
// the key.
func (s *Source) String() string {
	if s == nil || s.source == nil {
		return "pkisecrets.Source(<nil>)"
	}
	str := "pkisecrets.Source(" + s.mount + " role " + s.role
	if c := s.cur.Load(); c != nil {
		str += " serial " + c.Serial
	}
	return str + ")"
}

// Format prints String for every verb.
func (s *Source) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue is String, for log/slog.
func (s *Source) LogValue() slog.Value { return slog.StringValue(s.String()) }
