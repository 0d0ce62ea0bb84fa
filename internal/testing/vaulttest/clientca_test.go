package vaulttest

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func TestClientCA(t *testing.T) {
	t.Parallel()
	ca := NewClientCA(t, "test CA")
	other := NewClientCA(t, "other CA")
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca.PEM)) {
		t.Fatal("CA PEM does not parse")
	}
	for _, tc := range []struct {
		name   string
		issuer *ClientCA
		wantOK bool
	}{
		{"issued by the CA", ca, true},
		{"issued by another CA", other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, k := tc.issuer.Issue(t, "app")
			pair, err := tls.X509KeyPair([]byte(c), []byte(k))
			if err != nil {
				t.Fatalf("X509KeyPair: %v", err)
			}
			leaf, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if leaf.Subject.CommonName != "app" {
				t.Errorf("common name = %q, want %q", leaf.Subject.CommonName, "app")
			}
			_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if gotOK := err == nil; gotOK != tc.wantOK {
				t.Errorf("Verify as a client certificate: err = %v, want ok = %v", err, tc.wantOK)
			}
		})
	}
}
