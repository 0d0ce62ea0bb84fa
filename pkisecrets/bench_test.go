package pkisecrets

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/vaultly/vaultly/memsecrets"
)

// handshakePair returns a server and a client Source on one fake PKI
// mount, and static configs holding the same certificates with their raw
// keys: what a program that loads PEM files once would use.
func handshakePair(tb testing.TB) (srv, cli *Source, staticServer, staticClient *tls.Config) {
	tb.Helper()
	f := memsecrets.New(nil)
	f.SetPKIRole("pki", "web", memsecrets.PKIRole{TTL: time.Hour})
	var err error
	if srv, err = New(context.Background(), f, "web", &Options{CommonName: "localhost", Logger: quiet()}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close(context.Background()) })
	if cli, err = New(context.Background(), f, "web", &Options{CommonName: "client.test", Logger: quiet()}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cli.Close(context.Background()) })
	raw := func(s *Source) tls.Certificate {
		c := *s.Current().TLSCertificate()
		c.PrivateKey = s.Current().Key.Reveal()
		return c
	}
	staticServer = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{raw(srv)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: srv.CertPool()}
	staticClient = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{raw(cli)},
		RootCAs: cli.CertPool(), ServerName: "localhost"}
	return srv, cli, staticServer, staticClient
}

// handshake runs one full TLS handshake between the two configs over an
// in-memory connection.
func handshake(tb testing.TB, server, client *tls.Config) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	s := tls.Server(c1, server)
	errc := make(chan error, 1)
	go func() { errc <- s.Handshake() }()
	if err := tls.Client(c2, client).Handshake(); err != nil {
		tb.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		tb.Fatalf("server handshake: %v", err)
	}
}

// BenchmarkHandshake compares a full mutual-TLS handshake (TLS 1.3, ECDSA
// P-256) with certificates and CA pools from a Source against the same
// certificates loaded once into a static tls.Config: GetCertificate and
// GetClientCertificate are an atomic load, and the peer is verified by
// VerifyConnection against the pool current at the handshake instead of
// by crypto/tls against a fixed one. Run side by side: the two should be
// within noise.
func BenchmarkHandshake(b *testing.B) {
	srv, cli, staticServer, staticClient := handshakePair(b)
	dynServer := srv.ServerTLSConfig(nil)
	dynClient := cli.ClientTLSConfig(&tls.Config{ServerName: "localhost"})
	for _, bc := range []struct {
		name           string
		server, client *tls.Config
	}{
		{"static", staticServer, staticClient},
		{"source", dynServer, dynClient},
		// Only the server's certificate from the Source, verified by
		// crypto/tls as usual: the cost of GetCertificate alone.
		{"static/GetCertificate", &tls.Config{GetCertificate: srv.GetCertificate}, &tls.Config{RootCAs: cli.CertPool(), ServerName: "localhost"}},
		{"static/Certificates", &tls.Config{Certificates: staticServer.Certificates}, &tls.Config{RootCAs: cli.CertPool(), ServerName: "localhost"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				handshake(b, bc.server, bc.client)
			}
		})
	}
}

// BenchmarkGetCertificate is the handshake's hot path: an atomic load.
func BenchmarkGetCertificate(b *testing.B) {
	srv, _, _, _ := handshakePair(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := srv.GetCertificate(nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGetCertificateAllocatesNothing: the handshake path adds no
// allocation to what crypto/tls does.
func TestGetCertificateAllocatesNothing(t *testing.T) {
	srv, cli, _, _ := handshakePair(t)
	if n := testing.AllocsPerRun(1000, func() { _, _ = srv.GetCertificate(nil) }); n != 0 {
		t.Errorf("GetCertificate allocates %v times per call, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = cli.GetClientCertificate(nil) }); n != 0 {
		t.Errorf("GetClientCertificate allocates %v times per call, want 0", n)
	}
	// And the configs work: one handshake each way.
	handshake(t, srv.ServerTLSConfig(nil), cli.ClientTLSConfig(&tls.Config{ServerName: "localhost"}))
}
