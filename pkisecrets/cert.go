package pkisecrets

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
)

// Certificate is one certificate with its private key, as issued or signed.
// It is never modified once built; a re-issue makes a new one.
//
// It prints, logs and marshals as its serial number, common name and end
// of validity (String); never the key, which is a redacting PrivateKey.
type Certificate struct {
	Leaf      *x509.Certificate   // the certificate
	Chain     []*x509.Certificate // the CA chain as issued, the issuing CA first
	Serial    string              // the serial number as Vault spells it: "1f:0a:..."
	Issued    time.Time           // when it was received
	Key       PrivateKey          // its private key, in memory only
	LocalKey  bool                // the key was generated here and signed through a CSR (ModeSign)
	tlsCert   *tls.Certificate    // Leaf, the intermediates of Chain, and Key: what handshakes get
	chainPEM  []byte
	servedPEM []byte
}

// NotAfter is the end of the certificate's validity.
func (c *Certificate) NotAfter() time.Time { return c.Leaf.NotAfter }

// Lifetime is how long the certificate is valid from when it was received
// (Vault backdates NotBefore by 30s; that part is not counted).
func (c *Certificate) Lifetime() time.Duration { return c.Leaf.NotAfter.Sub(c.Issued) }

// TLSCertificate returns the certificate as crypto/tls uses it: the leaf
// followed by the intermediate CAs of Chain (self-signed roots are left
// out: peers must have them already), with Key as its PrivateKey and Leaf
// set. It is shared with every handshake: do not modify it.
func (c *Certificate) TLSCertificate() *tls.Certificate { return c.tlsCert }

// CertPEM returns the leaf and the intermediate CAs as PEM, the form a
// server's certificate file usually takes ("fullchain").
func (c *Certificate) CertPEM() []byte { return bytes.Clone(c.servedPEM) }

// ChainPEM returns the CA chain as PEM, the issuing CA first, the file
// peers use to verify this certificate.
func (c *Certificate) ChainPEM() []byte { return bytes.Clone(c.chainPEM) }

// ValidAt reports whether t lies in the certificate's validity period.
func (c *Certificate) ValidAt(t time.Time) bool {
	return !t.Before(c.Leaf.NotBefore) && !t.After(c.Leaf.NotAfter)
}

// String describes the certificate by serial number, common name and end
// of validity; never the key.
func (c *Certificate) String() string {
	if c == nil || c.Leaf == nil {
		return "pkisecrets.Certificate(<nil>)"
	}
	return "pkisecrets.Certificate{serial " + c.Serial + " cn " + strconv.Quote(c.Leaf.Subject.CommonName) +
		" not_after " + c.Leaf.NotAfter.UTC().Format(time.RFC3339) + "}"
}

// Format prints String for every verb, also for a Certificate value.
func (c Certificate) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue is String, for log/slog.
func (c Certificate) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON encodes String as a JSON string.
func (c Certificate) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// newCertificate builds a Certificate from the backend's answer and the
// key: key is the locally generated key for a CSR, or nil to read the
// answer's own key. The key must match the certificate.
func newCertificate(ic *driver.IssuedCert, key crypto.Signer, received time.Time) (*Certificate, error) {
	if ic == nil {
		return nil, errors.New("empty answer")
	}
	leaf, err := x509.ParseCertificate(ic.Certificate)
	if err != nil {
		return nil, errors.New("cannot parse the certificate: " + err.Error())
	}
	c := &Certificate{Leaf: leaf, Serial: driver.FormatSerial(leaf), Issued: received, LocalKey: key != nil}
	for i, d := range ic.Chain {
		ca, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, fmt.Errorf("cannot parse CA certificate %d of the chain: %v", i, err)
		}
		c.Chain = append(c.Chain, ca)
	}
	if key == nil {
		if len(ic.PrivateKey) == 0 {
			return nil, errors.New("the answer holds no private key")
		}
		if key, err = parsePrivateKey(ic.PrivateKey); err != nil {
			return nil, err
		}
	}
	if !samePublic(key.Public(), leaf.PublicKey) {
		return nil, errors.New("the certificate is not for the private key")
	}
	c.Key = newPrivateKey(key)
	served := [][]byte{leaf.Raw}
	c.servedPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	for _, ca := range c.Chain {
		c.chainPEM = append(c.chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})...)
		if !selfSigned(ca) {
			served = append(served, ca.Raw)
			c.servedPEM = append(c.servedPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})...)
		}
	}
	c.tlsCert = &tls.Certificate{Certificate: served, PrivateKey: c.Key, Leaf: leaf}
	return c, nil
}

// selfSigned reports whether ca is a root: it names itself as issuer and
// its signature checks with its own key.
func selfSigned(ca *x509.Certificate) bool {
	return bytes.Equal(ca.RawIssuer, ca.RawSubject) && ca.CheckSignatureFrom(ca) == nil
}

// ParsePEM builds a Certificate from PEM text as a file written from an
// earlier one holds it, in any order: the first CERTIFICATE block is the
// leaf and later ones its CA chain (duplicates dropped), and a PRIVATE KEY
// block (PKCS #8, or "EC PRIVATE KEY" / "RSA PRIVATE KEY") its key, which
// must match the leaf. Other blocks and text between blocks are ignored.
// Issued is the leaf's NotBefore, the file does not say when it was
// received. It is how a certificate still valid on disk is used again
// instead of issuing a new one (vaultly inject's pkiCert does).
//
// Errors are InvalidArgument and say what is missing or does not match;
// never a key's bytes.
func ParsePEM(data []byte) (*Certificate, error) {
	ic := &driver.IssuedCert{}
	seen := map[string]bool{}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			if seen[string(b.Bytes)] {
				continue
			}
			seen[string(b.Bytes)] = true
			if ic.Certificate == nil {
				ic.Certificate = b.Bytes
				continue
			}
			ic.Chain = append(ic.Chain, b.Bytes)
		case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
			if ic.PrivateKey != nil {
				return nil, pemError("the PEM text holds more than one private key")
			}
			ic.PrivateKey = b.Bytes
		}
	}
	switch {
	case ic.Certificate == nil:
		return nil, pemError("the PEM text holds no certificate")
	case ic.PrivateKey == nil:
		return nil, pemError("the PEM text holds no private key")
	}
	leaf, err := x509.ParseCertificate(ic.Certificate)
	if err != nil {
		return nil, pemError("cannot parse the certificate: " + err.Error())
	}
	c, err := newCertificate(ic, nil, leaf.NotBefore)
	if err != nil {
		return nil, pemError(err.Error())
	}
	return c, nil
}

// pemError is ParsePEM's error: InvalidArgument, naming what is wrong.
func pemError(msg string) error {
	return &vaultly.Error{Op: "parse pem", Code: vaultly.InvalidArgument, Err: errors.New(msg)}
}
