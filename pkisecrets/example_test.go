package pkisecrets_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/pkisecrets"
)

// A server and a client with certificates from the same PKI mount talk
// mutual TLS; each certificate is replaced before it expires and the CA
// pool follows a CA rotation, with no restart. Here the PKI engine is
// memsecrets' fake (a local CA); with Vault, pass a *hashivault.Backend.
func Example() {
	ctx := context.Background()
	b := memsecrets.New(nil)
	b.SetPKIRole("pki", "web", memsecrets.PKIRole{TTL: time.Hour})

	server, err := pkisecrets.New(ctx, b, "web", &pkisecrets.Options{CommonName: "localhost"})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close(ctx)
	client, err := pkisecrets.New(ctx, b, "web", &pkisecrets.Options{CommonName: "client.example"})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close(ctx)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig: server.ServerTLSConfig(nil), // mutual TLS against the mount's CAs
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s", r.TLS.PeerCertificates[0].Subject.CommonName)
		}),
	}
	go srv.ServeTLS(ln, "", "") // no files: the certificate comes from GetCertificate
	defer srv.Close()

	tr := &http.Transport{TLSClientConfig: client.ClientTLSConfig(nil)}
	defer tr.CloseIdleConnections()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	resp, err := (&http.Client{Transport: tr}).Get("https://localhost:" + port)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))
	fmt.Println(server.Current().Key) // the key never prints
	fmt.Println(server.Status().Mode) // signed from a key generated here
	// Output:
	// hello client.example
	// pkisecrets.PrivateKey(ecdsa P-256 [redacted])
	// sign
}

// A server on Vault's PKI engine: certificates for "web.example.com" from
// the role pki/roles/web, replaced at about 2/3 of their lifetime, and
// client certificates verified against the mount's CAs.
func ExampleServerTLSConfig() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, nil) // VAULT_ADDR, VAULT_TOKEN, ...
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	cfg, src, err := pkisecrets.ServerTLSConfig(ctx, b, "web", &pkisecrets.Options{
		CommonName: "web.example.com",
		TTL:        24 * time.Hour,
	})
	if err != nil {
		log.Fatal(err) // a *vaultly.Error: PermissionDenied, NotFound (unknown role), ...
	}
	defer src.Close(ctx)
	srv := &http.Server{Addr: ":8443", TLSConfig: cfg}
	log.Fatal(srv.ListenAndServeTLS("", ""))
}

// A client of that server, with its own certificate for mutual TLS.
func ExampleClientTLSConfig() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	cfg, src, err := pkisecrets.ClientTLSConfig(ctx, b, "client", &pkisecrets.Options{CommonName: "billing.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close(ctx)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := hc.Get("https://web.example.com:8443/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
}

// Health for a readiness probe: an error once the certificate is close to
// its end and no replacement could be issued.
func ExampleSource_Health() {
	ctx := context.Background()
	b := memsecrets.New(nil)
	b.SetPKIRole("pki", "web", memsecrets.PKIRole{TTL: time.Hour})
	src, err := pkisecrets.New(ctx, b, "web", &pkisecrets.Options{CommonName: "web.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close(ctx)
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := src.Health(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	_ = mux // serve it next to the application
	fmt.Println(src.Health())
	// Output: <nil>
}
