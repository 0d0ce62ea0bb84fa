package pkisecrets_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/pkisecrets"
)

// TestParsePEM: the PEM of an issued certificate, its key and chain, in any
// order and with the chain repeated, gives back the same certificate; a
// file without a key, or with another certificate's key, is refused
// without showing the key.
func TestParsePEM(t *testing.T) {
	b := memsecrets.New(nil)
	b.SetPKIRole("pki", "web", memsecrets.PKIRole{TTL: time.Hour})
	ctx := context.Background()
	issue := func(cn string) (*pkisecrets.Certificate, string) {
		c, err := pkisecrets.Issue(ctx, b, "web", &pkisecrets.Options{CommonName: cn, Mode: pkisecrets.ModeIssue})
		if err != nil {
			t.Fatal(err)
		}
		k, err := c.Key.RevealPEM()
		if err != nil {
			t.Fatal(err)
		}
		return c, string(k)
	}
	c, key := issue("a.svc.test")
	text := string(c.ChainPEM()) + "some text\n" + key + string(c.CertPEM()) + string(c.ChainPEM())
	// The leaf must come first among the certificates: put it there.
	text = string(c.CertPEM()) + text
	got, err := pkisecrets.ParsePEM([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != c.Serial || !got.Leaf.Equal(c.Leaf) || len(got.Chain) != len(c.Chain) || !got.Issued.Equal(c.Leaf.NotBefore) {
		t.Errorf("ParsePEM = %v (chain %d, issued %v), want %v (chain %d)", got, len(got.Chain), got.Issued, c, len(c.Chain))
	}
	if string(got.CertPEM()) != string(c.CertPEM()) || got.TLSCertificate() == nil {
		t.Error("ParsePEM's certificate PEM or TLS certificate differs")
	}
	other, otherKey := issue("b.svc.test")
	for name, in := range map[string]string{
		"no key":          string(c.CertPEM()),
		"no certificate":  key,
		"another's key":   string(c.CertPEM()) + otherKey,
		"two keys":        string(c.CertPEM()) + key + otherKey,
		"not PEM at all":  "hello",
		"the other first": string(other.CertPEM()) + key,
	} {
		_, err := pkisecrets.ParsePEM([]byte(in))
		if err == nil {
			t.Errorf("%s: ParsePEM succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), "PRIVATE") || strings.Contains(err.Error(), key[40:80]) {
			t.Errorf("%s: the error shows the key: %v", name, err)
		}
	}
}
