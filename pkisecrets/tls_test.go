package pkisecrets

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaultly/vaultly/memsecrets"
)

// tlsPair is a server and a client Source on one fake PKI mount.
func tlsPair(t *testing.T, f *memsecrets.Backend, serverOpts, clientOpts *Options) (srv, cli *Source) {
	t.Helper()
	f.SetPKIRole("pki", "web", memsecrets.PKIRole{TTL: time.Hour})
	if serverOpts == nil {
		serverOpts = &Options{CommonName: "localhost", IPSANs: []string{"127.0.0.1"}}
	}
	if clientOpts == nil {
		clientOpts = &Options{CommonName: "client.test"}
	}
	srv = mustNew(t, f, serverOpts)
	t.Cleanup(func() { srv.Close(context.Background()) })
	cli = mustNew(t, f, clientOpts)
	t.Cleanup(func() { cli.Close(context.Background()) })
	return srv, cli
}

// testServer is an HTTPS server on 127.0.0.1 answering "hello <client CN>".
type testServer struct{ URL string }

// serve starts an HTTPS server with cfg as is (httptest's StartTLS would
// add its own certificate, which crypto/tls prefers when there is no SNI).
func serve(t *testing.T, cfg *tls.Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cn := "anonymous"
			if len(r.TLS.PeerCertificates) > 0 {
				cn = r.TLS.PeerCertificates[0].Subject.CommonName
			}
			io.WriteString(w, "hello "+cn)
		}),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go hs.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { hs.Close() })
	return &testServer{URL: "https://" + ln.Addr().String()}
}

func get(cfg *tls.Config, url string) (string, error) {
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// localhostURL turns https://127.0.0.1:port into https://localhost:port.
func localhostURL(hs *testServer) string {
	return strings.Replace(hs.URL, "127.0.0.1", "localhost", 1)
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	f := memsecrets.New(nil)
	srv, cli := tlsPair(t, f, nil, nil)
	hs := serve(t, srv.ServerTLSConfig(nil))
	got, err := get(cli.ClientTLSConfig(nil), localhostURL(hs))
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	if want := "hello client.test"; got != want {
		t.Errorf("GET = %q, want %q", got, want)
	}
	// By IP address: not in SNI, so the name comes from ServerName.
	if _, err := get(cli.ClientTLSConfig(nil), hs.URL); err == nil || !strings.Contains(err.Error(), "no server name") {
		t.Errorf("GET by IP without ServerName = %v, want the no-server-name refusal", err)
	}
	if _, err := get(cli.ClientTLSConfig(&tls.Config{ServerName: "127.0.0.1"}), hs.URL); err != nil {
		t.Errorf("GET by IP with ServerName 127.0.0.1: %v", err)
	}
}

func TestTLSRefusals(t *testing.T) {
	t.Parallel()
	f := memsecrets.New(nil)
	srv, cli := tlsPair(t, f, nil, nil)
	// Another mount: another CA.
	foreign := memsecrets.New(nil)
	fsrv, fcli := tlsPair(t, foreign, nil, nil)
	hs := serve(t, srv.ServerTLSConfig(nil))
	fhs := serve(t, fsrv.ServerTLSConfig(nil))

	noCert := cli.ClientTLSConfig(nil)
	noCert.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }

	tests := []struct {
		name string
		cfg  *tls.Config
		url  string
		want string // in the error
	}{
		{"client certificate from a foreign CA", fcli.ClientTLSConfig(nil), localhostURL(hs), "tls:"},
		{"no client certificate", noCert, localhostURL(hs), "tls:"},
		{"server certificate from a foreign CA", cli.ClientTLSConfig(nil), localhostURL(fhs), "unknown authority"},
		{"wrong host name", cli.ClientTLSConfig(&tls.Config{ServerName: "other.test"}), hs.URL, "other.test"},
		{"caller's RootCAs without the CA", cli.ClientTLSConfig(&tls.Config{RootCAs: x509.NewCertPool()}), localhostURL(hs), "unknown authority"},
		{"InsecureSkipVerify is not honoured", cli.ClientTLSConfig(&tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}), localhostURL(fhs), "unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := get(tt.cfg, tt.url)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("GET = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	// The caller's own RootCAs with the right CA work.
	if _, err := get(cli.ClientTLSConfig(&tls.Config{RootCAs: srv.CertPool()}), localhostURL(hs)); err != nil {
		t.Errorf("GET with RootCAs = the server's pool: %v", err)
	}
}

func TestServerConfigClientAuthModes(t *testing.T) {
	t.Parallel()
	f := memsecrets.New(nil)
	srv, cli := tlsPair(t, f, nil, nil)
	// A client with no certificate of its own that trusts the mount's CA.
	plain := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: srv.CertPool()}
	var peerSeen bool
	tests := []struct {
		name    string
		base    *tls.Config
		client  *tls.Config
		wantErr bool
	}{
		{"no client auth: any client", &tls.Config{}, plain, false},
		{"verify if given: none given", &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven}, plain, false},
		{"verify if given: ours given", &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven}, cli.ClientTLSConfig(nil), false},
		{"required: none given", &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}, plain, true},
		{"caller's VerifyConnection runs after ours", &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert,
			VerifyConnection: func(cs tls.ConnectionState) error { peerSeen = len(cs.PeerCertificates) > 0; return nil }},
			cli.ClientTLSConfig(nil), false},
		{"caller's VerifyConnection can refuse", &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert,
			VerifyConnection: func(tls.ConnectionState) error { return errors.New("not this one") }},
			cli.ClientTLSConfig(nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := serve(t, srv.ServerTLSConfig(tt.base))
			_, err := get(tt.client, localhostURL(hs))
			if (err != nil) != tt.wantErr {
				t.Errorf("GET = %v, want error %v", err, tt.wantErr)
			}
		})
	}
	if !peerSeen {
		t.Error("the caller's VerifyConnection did not see the client's certificate")
	}
}

// TestHandshakeSeesRotation: after a re-issue, new handshakes get the new
// certificate without any reconfiguration.
func TestHandshakeSeesRotation(t *testing.T) {
	t.Parallel()
	f := memsecrets.New(nil)
	f.SetPKIRole("pki", "short", memsecrets.PKIRole{TTL: 3 * time.Second})
	_, cli := tlsPair(t, f, nil, nil)
	short, err := New(context.Background(), f, "short", &Options{CommonName: "localhost", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close(context.Background())
	hs := serve(t, short.ServerTLSConfig(nil))
	seen := map[string]bool{}
	cfg := cli.ClientTLSConfig(nil)
	next := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		seen[cs.PeerCertificates[0].SerialNumber.String()] = true
		return next(cs)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 2 && time.Now().Before(deadline) {
		if _, err := get(cfg, localhostURL(hs)); err != nil {
			t.Fatalf("GET: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(seen) < 2 {
		t.Errorf("handshakes saw %d server certificates in 20s with a 3s lifetime, want a new one (re-issue after about 2s)", len(seen))
	}
}
