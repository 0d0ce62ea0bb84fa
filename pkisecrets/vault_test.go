package pkisecrets

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

var mountSeq atomic.Int64

// vaultPKI mounts a PKI engine with a root CA and roles on the shared dev
// server and returns the server and the mount path.
func vaultPKI(t *testing.T, roles ...vaulttest.PKIRole) (*vaulttest.Server, string) {
	t.Helper()
	srv := sharedSrv.Get(t)
	mount := fmt.Sprintf("pki-%d", mountSeq.Add(1))
	srv.EnablePKI(t, mount, roles...)
	return srv, mount
}

// vaultBackend is a Backend on addr (the server or a proxy in front of it)
// with token, closed when t ends.
func vaultBackend(t *testing.T, addr, token string) *hashivault.Backend {
	t.Helper()
	b, err := hashivault.New(context.Background(), &hashivault.Options{Address: addr, Token: token, ConfigFile: "-", Logger: quiet()})
	if err != nil {
		t.Fatalf("hashivault.New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// svcRole allows localhost (with 127.0.0.1) and names under svc.test.
func svcRole(name, ttl string) vaulttest.PKIRole {
	return vaulttest.PKIRole{Name: name, AllowedDomains: "svc.test", AllowSubdomains: true,
		TTL: ttl, MaxTTL: "5m", KeyType: "ec", KeyBits: 256}
}

// handshakeLog records what the server served and what the client
// presented, at each handshake.
type handshakeLog struct {
	mu       sync.Mutex
	served   []servedCert
	clientCA map[string]int // issuer CN of the client certificates seen
}

type servedCert struct {
	at   time.Time
	leaf *x509.Certificate
}

// serveLogged starts an HTTPS server with src's config, recording every
// certificate it serves and every client certificate's issuer.
func serveLogged(t *testing.T, src *Source, hl *handshakeLog) string {
	t.Helper()
	cfg := src.ServerTLSConfig(nil)
	get := cfg.GetCertificate
	cfg.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := get(h)
		hl.mu.Lock()
		hl.served = append(hl.served, servedCert{time.Now(), c.Leaf})
		hl.mu.Unlock()
		return c, err
	}
	verify := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		err := verify(cs)
		if err == nil {
			hl.mu.Lock()
			hl.clientCA[cs.PeerCertificates[0].Issuer.CommonName]++
			hl.mu.Unlock()
		}
		return err
	}
	return serve(t, cfg).URL
}

// hammer makes requests with cfg to url from n goroutines, each on a new
// connection (a full handshake), until stop is closed; it returns the
// number of successes and the failures.
func hammer(cfg *tls.Config, url string, n int, stop <-chan struct{}) (ok *atomic.Int64, failures func() []string, wait func()) {
	ok = new(atomic.Int64)
	var mu sync.Mutex
	var fails []string
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = errors.New(resp.Status)
					}
				}
				if err != nil {
					mu.Lock()
					fails = append(fails, time.Now().Format("15:04:05.000")+" "+err.Error())
					mu.Unlock()
				} else {
					ok.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	return ok, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), fails...) }, wg.Wait
}

// TestVaultRotationUnderLoad: an HTTPS server on ServerTLSConfig and a
// client on ClientTLSConfig, both with 10s certificates from Vault, make
// requests for 60s, each on a new connection (the soak tier; otherwise 3s
// certificates until the server's certificate has changed 4 times, at
// most 15s). Mid-run a new root CA is generated and made the mount's
// default at once. No handshake fails, the server's certificate changes
// at least 4 times, every certificate served was valid when served, both
// sides move to the new CA within two certificate lifetimes without a
// restart, and certificates from the old CA keep working on both sides,
// after the move and at the end of the run.
func TestVaultRotationUnderLoad(t *testing.T) {
	t.Parallel()
	var (
		// The run lasts at least minRun and ends once the server has
		// served 5 certificates, at the latest after run. Quick tier:
		// each certificate is replaced at most 77% into its (< 3s) life,
		// so 4 replacements take < 9.2s plus the issue requests; 15s is
		// the tolerance for a loaded machine.
		minRun    = vaulttest.SoakOr(60*time.Second, 0)
		run       = vaulttest.SoakOr(60*time.Second, 15*time.Second)
		ttl       = vaulttest.SoakOr(10*time.Second, 3*time.Second)
		rotateAt  = vaulttest.SoakOr(25*time.Second, 3*time.Second)
		caRefresh = ttl / 2
	)
	srv, mount := vaultPKI(t, svcRole("svc", ttl.String()), svcRole("long", "2m"))
	b := vaultBackend(t, srv.Addr, srv.Token)
	ctx := context.Background()

	server, err := New(ctx, b, "svc", &Options{Mount: mount, CommonName: "localhost", IPSANs: []string{"127.0.0.1"}, CARefresh: caRefresh, Logger: quiet()})
	if err != nil {
		t.Fatalf("server Source: %v", err)
	}
	defer server.Close(ctx)
	client, err := New(ctx, b, "svc", &Options{Mount: mount, CommonName: "client.svc.test", CARefresh: caRefresh, Logger: quiet()})
	if err != nil {
		t.Fatalf("client Source: %v", err)
	}
	defer client.Close(ctx)
	oldRoot := server.CACerts()[0]
	// Certificates from the old CA that outlive the rotation.
	oldServer, err := Issue(ctx, b, "long", &Options{Mount: mount, CommonName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	oldClient, err := Issue(ctx, b, "long", &Options{Mount: mount, CommonName: "old.svc.test"})
	if err != nil {
		t.Fatal(err)
	}

	hl := &handshakeLog{clientCA: map[string]int{}}
	url := strings.Replace(serveLogged(t, server, hl), "127.0.0.1", "localhost", 1)
	oldSrvCfg := server.ServerTLSConfig(nil)
	oldSrvCfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return oldServer.TLSCertificate(), nil }
	oldURL := strings.Replace(serve(t, oldSrvCfg).URL, "127.0.0.1", "localhost", 1)
	// oldCAWorks checks that certificates from the old CA are accepted by
	// both sides.
	oldCAWorks := func(when string) {
		t.Helper()
		oldCli := client.ClientTLSConfig(nil)
		oldCli.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return oldClient.TLSCertificate(), nil }
		if _, err := get(oldCli, url); err != nil {
			t.Errorf("%s: a client certificate from the old CA, to a server on the new one: %v", when, err)
		}
		if _, err := get(client.ClientTLSConfig(nil), oldURL); err != nil {
			t.Errorf("%s: a client on the new CA, to a server certificate from the old one: %v", when, err)
		}
	}
	stop := make(chan struct{})
	ok, failures, wait := hammer(client.ClientTLSConfig(nil), url, 2, stop)
	start := time.Now()

	time.Sleep(rotateAt)
	rotatedAt := time.Now()
	newID := srv.PKINewRoot(t, mount, mount+"-root-2", true)
	t.Logf("new root %s made the default at +%v", newID, rotatedAt.Sub(start).Round(time.Millisecond))

	// Within two certificate lifetimes both sides re-issue from the new
	// CA (each replaces its certificate at most 77% into its life). Wait
	// for that, and for a CA refresh on each side after its move (every
	// ttl/2), then check that the old CA's certificates are still
	// accepted by both.
	newCA := "vaulttest " + mount + "-root-2"
	sides := []*Source{server, client}
	movedAt := make([]time.Time, len(sides))
	settled := func() bool {
		all := true
		for i, s := range sides {
			if movedAt[i].IsZero() && s.Current().Chain[0].Subject.CommonName == newCA {
				movedAt[i] = time.Now()
			}
			all = all && !movedAt[i].IsZero() && s.Status().CARefreshed.After(movedAt[i])
		}
		return all
	}
	for !settled() && time.Since(rotatedAt) < 2*ttl {
		time.Sleep(20 * time.Millisecond)
	}
	for i, s := range sides {
		if got := s.Current().Chain[0].Subject.CommonName; got != newCA {
			t.Errorf("%v: %v after the rotation its certificate is from %q, want the new root", s, 2*ttl, got)
		} else {
			t.Logf("%v: on the new root %v after the rotation", s, movedAt[i].Sub(rotatedAt).Round(time.Millisecond))
		}
	}
	oldCAWorks("after the move")

	served := func() int {
		hl.mu.Lock()
		defer hl.mu.Unlock()
		serials := map[string]bool{}
		for _, s := range hl.served {
			serials[s.leaf.SerialNumber.String()] = true
		}
		return len(serials)
	}
	for time.Since(start) < run && (time.Since(start) < minRun || served() < 5) {
		time.Sleep(20 * time.Millisecond)
	}
	oldCAWorks("at the end")
	close(stop)
	wait()
	ran := time.Since(start)

	if f := failures(); len(f) > 0 {
		t.Errorf("%d of %d requests failed; first: %s", len(f), int(ok.Load())+len(f), strings.Join(f[:min(len(f), 5)], "; "))
	}
	hl.mu.Lock()
	defer hl.mu.Unlock()
	serials := map[string]bool{}
	var fromNew, fromOld int
	for _, s := range hl.served {
		if s.at.Before(s.leaf.NotBefore) || s.at.After(s.leaf.NotAfter) {
			t.Errorf("at %v the server served %s, valid %v..%v", s.at, s.leaf.SerialNumber, s.leaf.NotBefore, s.leaf.NotAfter)
		}
		if s.leaf.CheckSignatureFrom(oldRoot) == nil {
			fromOld++
		} else {
			fromNew++
		}
		serials[s.leaf.SerialNumber.String()] = true
	}
	t.Logf("%v: %d requests; %d handshakes served %d server certificates (%d from the old CA, %d from the new); client certificates by issuer: %v",
		ran.Round(time.Millisecond), ok.Load(), len(hl.served), len(serials), fromOld, fromNew, hl.clientCA)
	if len(serials) < 5 {
		t.Errorf("the server's certificate changed %d times in %v, want at least 4", len(serials)-1, ran.Round(time.Millisecond))
	}
	if fromOld == 0 || fromNew == 0 {
		t.Errorf("served %d certificates from the old CA and %d from the new, want both", fromOld, fromNew)
	}
	if len(hl.clientCA) < 2 {
		t.Errorf("client certificates seen from %d CAs, want both (old and new)", len(hl.clientCA))
	}
	if want := int64(ran / (120 * time.Millisecond)); ok.Load() < want {
		t.Errorf("only %d requests in %v, want at least %d", ok.Load(), ran.Round(time.Millisecond), want)
	}
}

// TestVaultOutage: Vault is unreachable (every request to it is dropped
// by a fault proxy) for 15s around the moment the server's 60s
// certificate is due for replacement (the soak tier; otherwise 2.75s
// around a 10s certificate's). Handshakes keep succeeding on the current
// certificates, the failed issues are retried, and the replacement is
// issued as soon as Vault answers again, before the certificate expires.
func TestVaultOutage(t *testing.T) {
	t.Parallel()
	var (
		ttl    = vaulttest.SoakOr(60*time.Second, 10*time.Second)
		lead   = vaulttest.SoakOr(4*time.Second, 2*time.Second) // the outage starts this long before the due time
		length = vaulttest.SoakOr(15*time.Second, 2750*time.Millisecond)
	)
	srv, mount := vaultPKI(t, svcRole("svc", ttl.String()))
	proxy := faultproxy.Start(t, srv.Addr, nil)
	b := vaultBackend(t, proxy.URL, srv.Token)
	ctx := context.Background()

	server, err := New(ctx, b, "svc", &Options{Mount: mount, CommonName: "localhost", Logger: quiet()})
	if err != nil {
		t.Fatalf("server Source: %v", err)
	}
	defer server.Close(ctx)
	client, err := New(ctx, b, "svc", &Options{Mount: mount, CommonName: "client.svc.test", Logger: quiet()})
	if err != nil {
		t.Fatalf("client Source: %v", err)
	}
	defer client.Close(ctx)
	first := server.Current()

	hl := &handshakeLog{clientCA: map[string]int{}}
	url := strings.Replace(serveLogged(t, server, hl), "127.0.0.1", "localhost", 1)
	stop := make(chan struct{})
	ok, failures, wait := hammer(client.ClientTLSConfig(nil), url, 1, stop)

	// The outage starts lead before the replacement is due (at 2/3 of the
	// lifetime from its arrival, ±10%: at most 76.7% of it) and lasts
	// length, so it ends at least 0.233×lifetime + lead - length before the
	// end of the certificate: 2.7s in the soak tier, 1.3s otherwise (the
	// lifetime from arrival is over ttl - 1s: Vault's NotAfter has whole
	// seconds). The failed issue at the due time is at least 11s (0.75s)
	// before the outage ends.
	due := server.Status().NextIssue
	time.Sleep(time.Until(due.Add(-lead)))
	proxy.Inject(faultproxy.Fault{Drop: true})
	outage := time.Now()
	okBefore := ok.Load()
	time.Sleep(length)
	st := server.Status()
	dropped := len(proxy.Requests(func(p string) bool { return strings.Contains(p, "/sign/") }))
	proxy.Clear()
	ended := time.Now()
	okDuring := ok.Load() - okBefore

	if server.Current() != first {
		t.Fatal("the server's certificate changed while Vault was unreachable")
	}
	if st.Failures == 0 || vaultly.CodeOf(st.LastError) != vaultly.Unavailable {
		t.Errorf("Status at the end of the outage: %d failures, last error %v; want failed issues, Unavailable", st.Failures, st.LastError)
	}
	t.Logf("outage from %v before the due time; %d sign requests reached the proxy; last error: %v", due.Sub(outage), dropped, st.LastError)

	// Retries wait at most half of what is left: the replacement comes
	// before the certificate ends, with at least half of the 2.7s (1.3s)
	// above left as the tolerance for a loaded machine.
	for server.Current() == first && time.Now().Before(first.NotAfter()) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wait()
	if server.Current() == first {
		t.Fatalf("no replacement before the certificate expired (%v after the outage ended)", first.NotAfter().Sub(ended))
	}
	t.Logf("replaced %v after the outage ended, %v before the old certificate's end; %d requests (%d during the outage)",
		server.Current().Issued.Sub(ended).Round(time.Millisecond), first.NotAfter().Sub(server.Current().Issued).Round(time.Millisecond), ok.Load(), okDuring)
	if f := failures(); len(f) > 0 {
		t.Errorf("%d requests failed; first: %s", len(f), strings.Join(f[:min(len(f), 5)], "; "))
	}
	if st := server.Status(); st.Failures != 0 || st.LastError != nil {
		t.Errorf("Status after the replacement: %d failures, last error %v", st.Failures, st.LastError)
	}
	hl.mu.Lock()
	defer hl.mu.Unlock()
	for _, s := range hl.served {
		if s.at.After(s.leaf.NotAfter) {
			t.Errorf("at %v the server served %s, expired at %v", s.at, s.leaf.SerialNumber, s.leaf.NotAfter)
		}
	}
}

// TestVaultModes: signing a local key is the default where the role and
// policy allow it; each key type is generated and signed; a role that
// refuses the key type, or a policy without sign, falls back to issue; a
// policy with neither fails with PermissionDenied.
func TestVaultModes(t *testing.T) {
	t.Parallel()
	srv, mount := vaultPKI(t,
		svcRole("ec", "1m"),
		vaulttest.PKIRole{Name: "any", AllowedDomains: "svc.test", AllowSubdomains: true, TTL: "1m", KeyType: "any"},
	)
	root := vaultBackend(t, srv.Addr, srv.Token)
	policy := func(name string, paths ...string) *hashivault.Backend {
		var hcl string
		for _, p := range paths {
			hcl += `path "` + mount + "/" + p + `" { capabilities = ["update"] }` + "\n"
		}
		if hcl == "" {
			hcl = `path "` + mount + `/roles/*" { capabilities = ["read"] }`
		}
		srv.WritePolicy(t, mount+"-"+name, hcl)
		return vaultBackend(t, srv.Addr, srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{mount + "-" + name}}))
	}
	signOnly := policy("sign", "sign/ec")
	issueOnly := policy("issue", "issue/ec")
	neither := policy("none")
	ctx := context.Background()

	tests := []struct {
		name     string
		b        *hashivault.Backend
		role     string
		opts     Options
		wantMode Mode
		wantKey  string // the certificate's public key
		wantCode vaultly.Code
	}{
		{"default: sign a P-256 key", root, "ec", Options{}, ModeSign, "ecdsa P-256", vaultly.OK},
		{"P-384 for a role of any key type", root, "any", Options{KeyType: ECDSAP384}, ModeSign, "ecdsa P-384", vaultly.OK},
		{"RSA 2048", root, "any", Options{KeyType: RSA2048}, ModeSign, "rsa 2048", vaultly.OK},
		{"Ed25519", root, "any", Options{KeyType: Ed25519}, ModeSign, "ed25519", vaultly.OK},
		{"role refuses the key type: issue", root, "ec", Options{KeyType: RSA2048}, ModeIssue, "ecdsa P-256", vaultly.OK},
		{"ModeIssue", root, "ec", Options{Mode: ModeIssue}, ModeIssue, "ecdsa P-256", vaultly.OK},
		{"role that only signs, ModeIssue", root, "any", Options{Mode: ModeIssue}, 0, "", vaultly.InvalidArgument},
		{"policy allows sign only", signOnly, "ec", Options{}, ModeSign, "ecdsa P-256", vaultly.OK},
		{"policy allows issue only: issue", issueOnly, "ec", Options{}, ModeIssue, "ecdsa P-256", vaultly.OK},
		{"policy allows neither", neither, "ec", Options{}, 0, "", vaultly.PermissionDenied},
		{"ModeSign with a policy for issue only", issueOnly, "ec", Options{Mode: ModeSign}, 0, "", vaultly.PermissionDenied},
		{"unknown role", root, "nope", Options{}, 0, "", vaultly.NotFound},
		{"name the role does not allow", root, "ec", Options{CommonName: "evil.example.com"}, 0, "", vaultly.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := tt.opts
			opts.Mount = mount
			if opts.CommonName == "" {
				opts.CommonName = "a.svc.test"
			}
			opts.Logger = quiet()
			s, err := New(ctx, tt.b, tt.role, &opts)
			if got := vaultly.CodeOf(err); got != tt.wantCode {
				t.Fatalf("New: %v, want code %v", err, tt.wantCode)
			}
			if err != nil {
				if !strings.Contains(err.Error(), mount+"/") {
					t.Errorf("error %q does not name the request path", err)
				}
				return
			}
			defer s.Close(ctx)
			c := s.Current()
			if got := s.Status().Mode; got != tt.wantMode {
				t.Errorf("Mode = %v, want %v", got, tt.wantMode)
			}
			if got := algorithm(c.Leaf.PublicKey); got != tt.wantKey {
				t.Errorf("certificate key = %s, want %s", got, tt.wantKey)
			}
			if got := c.Key.Algorithm(); got != tt.wantKey {
				t.Errorf("Key.Algorithm() = %s, want %s", got, tt.wantKey)
			}
			// The key is the certificate's: a handshake with it works.
			if _, err := tls.X509KeyPair(c.CertPEM(), must(c.Key.RevealPEM())); err != nil {
				t.Errorf("X509KeyPair(CertPEM, RevealPEM): %v", err)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestVaultIssuePEM: the one-shot Issue gives the files a program needs,
// with the names and SANs asked for.
func TestVaultIssuePEM(t *testing.T) {
	t.Parallel()
	srv, mount := vaultPKI(t, vaulttest.PKIRole{Name: "web", AllowedDomains: "svc.test", AllowSubdomains: true,
		AllowedURISANs: "spiffe://svc.test/*", TTL: "1h", KeyType: "any"})
	b := vaultBackend(t, srv.Addr, srv.Token)
	c, err := Issue(context.Background(), b, "web", &Options{Mount: mount, CommonName: "a.svc.test",
		AltNames: []string{"b.svc.test"}, IPSANs: []string{"10.0.0.1"}, URISANs: []string{"spiffe://svc.test/a"}, TTL: 90 * time.Second})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	blk, rest := pem.Decode(c.CertPEM())
	if blk == nil || blk.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Errorf("CertPEM is not one certificate (a root CA has no intermediates)")
	}
	leaf := must(x509.ParseCertificate(blk.Bytes))
	if got := fmt.Sprint(leaf.DNSNames, leaf.IPAddresses, leaf.URIs); got != "[a.svc.test b.svc.test] [10.0.0.1] [spiffe://svc.test/a]" {
		t.Errorf("SANs = %s", got)
	}
	if d := time.Until(leaf.NotAfter); d < 80*time.Second || d > 91*time.Second {
		t.Errorf("NotAfter in %v, want 90s", d)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.ChainPEM()) {
		t.Fatal("ChainPEM holds no certificate")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "b.svc.test"}); err != nil {
		t.Errorf("the certificate does not verify against ChainPEM: %v", err)
	}
	kb, _ := pem.Decode(must(c.Key.RevealPEM()))
	key := must(x509.ParsePKCS8PrivateKey(kb.Bytes))
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() || !k.PublicKey.Equal(leaf.PublicKey) {
			t.Error("RevealPEM: not the certificate's P-256 key")
		}
	case *rsa.PrivateKey, ed25519.PrivateKey:
		t.Errorf("RevealPEM: %T, want the default ECDSA P-256", k)
	}
	if !c.LocalKey {
		t.Error("LocalKey = false; the default for a role that signs is a local key")
	}
}

// TestVaultRevocation: with RevokePrevious the replaced certificate is
// revoked in Vault; with RevokeOnClose, Close revokes the current one.
// Vault does not put a certificate on its CRL within 2s of its end, so the
// lifetime (15s in the soak tier, 14s otherwise) is long enough to leave
// more than that after the replacement: it comes at most 76.7% into a
// lifetime of over 14s (13s) from arrival (Vault's NotAfter has whole
// seconds), with at least 3.2s (3.0s) left: 1.2s (1.0s) more than Vault
// needs, the tolerance for the sign and revoke requests on a loaded
// machine. This lifetime bounds the test's length.
func TestVaultRevocation(t *testing.T) {
	t.Parallel()
	ttl := vaulttest.SoakOr(15*time.Second, 14*time.Second)
	srv, mount := vaultPKI(t, svcRole("svc", ttl.String()))
	b := vaultBackend(t, srv.Addr, srv.Token)
	ctx := context.Background()
	s, err := New(ctx, b, "svc", &Options{Mount: mount, CommonName: "a.svc.test", RevokePrevious: true, RevokeOnClose: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	firstCert := s.Current()
	first := firstCert.Serial
	deadline := time.Now().Add(30 * time.Second) // the replacement is due after about 2/3 of the lifetime
	for !srv.PKIRevoked(t, mount)[first] && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !srv.PKIRevoked(t, mount)[first] {
		t.Fatalf("the first certificate %s is not revoked 30s later (generation %d)", first, s.Status().Generation)
	}
	t.Logf("the first certificate was revoked %v after it arrived, %v before its end (Vault needs 2s)",
		time.Since(firstCert.Issued).Round(time.Millisecond), time.Until(firstCert.NotAfter()).Round(time.Millisecond))
	cur := s.Current().Serial
	if srv.PKIRevoked(t, mount)[cur] {
		t.Errorf("the current certificate %s is revoked", cur)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !srv.PKIRevoked(t, mount)[cur] {
		t.Errorf("the current certificate %s is not revoked after Close with RevokeOnClose", cur)
	}
}
