package driver

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"
)

// CertIssuer is implemented by backends that issue X.509 certificates from
// a role, such as Vault's PKI secrets engine. It is four requests and
// nothing else: the backend runs no goroutine of its own. The portable
// layer (package pkisecrets) generates keys, decides when to issue a
// replacement, keeps the pool of CA certificates fresh and revokes, from
// goroutines it starts and stops.
//
// mount is the engine's mount path (e.g. "pki"); role names the role whose
// rules a certificate must follow (e.g. "web"). Certificates are DER.
//
// Errors are *Error values whose codes the portable layer acts on:
//
//	NotFound          no such mount or role
//	InvalidArgument   the request breaks the role's rules (a name it does
//	                  not allow, a TTL above its maximum, a key type it
//	                  refuses, issuing from a role that only signs)
//	PermissionDenied  the token may not use this endpoint (issuing and
//	                  signing are separate permissions)
//	Unavailable, ...  transient; retried with backoff
type CertIssuer interface {
	// IssueCert has the backend generate a key pair and a certificate for
	// it (Vault: <mount>/issue/<role>). The result's PrivateKey is set.
	IssueCert(ctx context.Context, mount, role string, req *CertRequest) (*IssuedCert, error)

	// SignCSR has the backend sign csr, a DER PKCS #10 certificate request
	// whose key the caller holds (Vault: <mount>/sign/<role>). req names
	// the same subject and SANs as csr. The result's PrivateKey is nil.
	SignCSR(ctx context.Context, mount, role string, csr []byte, req *CertRequest) (*IssuedCert, error)

	// CACerts returns the CA certificates a peer's certificate from mount
	// may chain to: every issuer of the mount and the certificates of its
	// chain, without duplicates, the default issuer first.
	CACerts(ctx context.Context, mount string) ([][]byte, error)

	// RevokeCert revokes cert, a certificate that mount issued (Vault:
	// <mount>/revoke). Revoking a certificate that has expired or is
	// already revoked is not an error.
	RevokeCert(ctx context.Context, mount string, cert []byte) error
}

// CertRequest is what a certificate is asked for. Names are checked by the
// role; nothing here is secret.
type CertRequest struct {
	CommonName string        // the subject's CN; "" when the role does not require one
	AltNames   []string      // DNS names and email addresses
	IPSANs     []string      // IP addresses, in text form
	URISANs    []string      // URIs, e.g. spiffe://example.org/web
	TTL        time.Duration // the lifetime asked for, in whole seconds; 0: the role's default
}

// IssuedCert is a certificate as the backend returned it.
//
// PrivateKey is a secret: String, Format (every verb), LogValue and
// MarshalJSON describe the certificate by serial number and common name and
// never show the key.
type IssuedCert struct {
	Certificate []byte   // the certificate (DER)
	Chain       [][]byte // the CA chain (DER), the issuing CA first, as the backend returned it
	PrivateKey  []byte   // IssueCert only: the key, PKCS #8 DER; nil for SignCSR
}

// String names the certificate by serial number and common name; never the
// key.
func (c IssuedCert) String() string {
	s := "driver.IssuedCert{"
	if leaf, err := x509.ParseCertificate(c.Certificate); err == nil {
		s += "serial " + FormatSerial(leaf) + " cn " + strconv.Quote(leaf.Subject.CommonName)
	} else {
		s += "unparsed certificate"
	}
	s += " chain " + strconv.Itoa(len(c.Chain))
	if c.PrivateKey != nil {
		s += " private key [redacted]"
	}
	return s + "}"
}

// Format prints String for every verb.
func (c IssuedCert) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue is String, for log/slog.
func (c IssuedCert) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON encodes String as a JSON string.
func (c IssuedCert) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// FormatSerial spells cert's serial number as Vault does: lowercase hex
// bytes separated by colons ("1f:0a:..."), the form Vault's revocation
// lists and audit logs use.
func FormatSerial(cert *x509.Certificate) string {
	if cert == nil || cert.SerialNumber == nil {
		return ""
	}
	const hexdigits = "0123456789abcdef"
	b := cert.SerialNumber.Bytes()
	if len(b) == 0 {
		return "00"
	}
	out := make([]byte, 0, 3*len(b))
	for i, x := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexdigits[x>>4], hexdigits[x&0xf])
	}
	return string(out)
}
