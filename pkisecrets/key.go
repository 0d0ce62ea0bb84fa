package pkisecrets

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/vaultly/vaultly"
)

// KeyType is the kind of key generated for a certificate signed from a
// local key (ModeSign, and ModeAuto when the role allows signing).
type KeyType int

// The key types. The zero value is ECDSAP256.
const (
	ECDSAP256 KeyType = iota // ECDSA on NIST P-256: small, fast, accepted everywhere
	ECDSAP384                // ECDSA on NIST P-384
	RSA2048                  // RSA, 2048 bits; slow to generate (tens of milliseconds)
	RSA3072                  // RSA, 3072 bits
	RSA4096                  // RSA, 4096 bits; slow to generate (up to seconds)
	Ed25519                  // Ed25519 (not accepted by every TLS peer or browser)
)

var keyTypeNames = [...]string{
	ECDSAP256: "ec-p256", ECDSAP384: "ec-p384",
	RSA2048: "rsa-2048", RSA3072: "rsa-3072", RSA4096: "rsa-4096",
	Ed25519: "ed25519",
}

// String returns the key type's name: "ec-p256", "ec-p384", "rsa-2048",
// "rsa-3072", "rsa-4096" or "ed25519".
func (k KeyType) String() string {
	if k >= 0 && int(k) < len(keyTypeNames) {
		return keyTypeNames[k]
	}
	return "KeyType(" + strconv.Itoa(int(k)) + ")"
}

// ParseKeyType returns the key type named s: a name String returns, or
// "ec" (P-256), "rsa" (2048 bits) or Vault's spelling of the pair
// "ec"/"rsa" with bits ("ec-256", "ec-384").
func ParseKeyType(s string) (KeyType, error) {
	switch s {
	case "ec", "ecdsa", "ec-256", "ec-p256", "p256":
		return ECDSAP256, nil
	case "ec-384", "ec-p384", "p384":
		return ECDSAP384, nil
	case "rsa", "rsa-2048":
		return RSA2048, nil
	case "rsa-3072":
		return RSA3072, nil
	case "rsa-4096":
		return RSA4096, nil
	case "ed25519":
		return Ed25519, nil
	}
	return 0, &vaultly.Error{Op: "parse key type", Ref: s, Code: vaultly.InvalidArgument,
		Err: errors.New("unknown key type " + strconv.Quote(s) + ": want ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519")}
}

func (k KeyType) valid() bool { return k >= 0 && int(k) < len(keyTypeNames) }

// generate returns a new private key of type k.
func (k KeyType) generate() (crypto.Signer, error) {
	switch k {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case Ed25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, errors.New("unknown key type " + k.String())
}

// PrivateKey is a certificate's private key, held in memory only. It is a
// crypto.Signer (so it goes straight into a tls.Certificate, and crypto/tls
// signs with it) that never shows the key: String, GoString, every fmt
// verb, slog (LogValue), encoding/json and encoding.TextMarshaler give
// "[redacted]" and the key's algorithm. The key sits behind a pointer, so a
// PrivateKey in an unexported field of a caller's struct, which fmt prints
// without calling methods, shows an address.
//
// Reveal and RevealPEM are the two ways to the key itself; grep for them
// to audit where it goes. The zero PrivateKey holds no key: its Sign fails.
// A PrivateKey is immutable and safe for concurrent use.
type PrivateKey struct {
	p *heldKey
}

type heldKey struct {
	s    crypto.Signer
	algo string
}

func newPrivateKey(s crypto.Signer) PrivateKey {
	return PrivateKey{&heldKey{s: s, algo: algorithm(s.Public())}}
}

// algorithm names a public key's type, e.g. "ecdsa P-256", "rsa 2048".
func algorithm(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return "rsa " + strconv.Itoa(k.N.BitLen())
	case ed25519.PublicKey:
		return "ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// noKey is the error of using the zero PrivateKey.
func noKey(op string) error {
	return &vaultly.Error{Op: op, Code: vaultly.InvalidArgument, Err: errors.New("the PrivateKey holds no key")}
}

// IsSet reports whether k holds a key.
func (k PrivateKey) IsSet() bool { return k.p != nil }

// Algorithm names the key's type and size: "ecdsa P-256", "rsa 2048",
// "ed25519"; "" for the zero PrivateKey.
func (k PrivateKey) Algorithm() string {
	if k.p == nil {
		return ""
	}
	return k.p.algo
}

// Public returns the public key (crypto.Signer); nil for the zero PrivateKey.
func (k PrivateKey) Public() crypto.PublicKey {
	if k.p == nil {
		return nil
	}
	return k.p.s.Public()
}

// Sign signs digest with the key (crypto.Signer), as the key's own Sign
// does.
func (k PrivateKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if k.p == nil {
		return nil, noKey("key sign")
	}
	return k.p.s.Sign(r, digest, opts)
}

// Reveal returns the key itself (*ecdsa.PrivateKey, *rsa.PrivateKey or
// ed25519.PrivateKey), which prints in clear. Prefer using k as the
// crypto.Signer it is.
func (k PrivateKey) Reveal() crypto.Signer {
	if k.p == nil {
		return nil
	}
	return k.p.s
}

// RevealPEM returns the key as a PKCS #8 "PRIVATE KEY" PEM block, for
// writing to a 0600 file (vaultly cert issue does) or handing to a program
// that reads PEM.
func (k PrivateKey) RevealPEM() ([]byte, error) {
	if k.p == nil {
		return nil, noKey("key reveal")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.p.s)
	if err != nil {
		return nil, &vaultly.Error{Op: "key reveal", Code: vaultly.InvalidArgument, Err: errors.New("cannot encode the " + k.p.algo + " key as PKCS #8")}
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// String returns "[redacted]" with the key's algorithm, never the key.
func (k PrivateKey) String() string {
	if k.p == nil {
		return "pkisecrets.PrivateKey(none)"
	}
	return "pkisecrets.PrivateKey(" + k.p.algo + " [redacted])"
}

// GoString is String, for %#v.
func (k PrivateKey) GoString() string { return k.String() }

// Format prints String for every verb and flag.
func (k PrivateKey) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = io.WriteString(f, strconv.Quote(k.String()))
		return
	}
	_, _ = io.WriteString(f, k.String())
}

// LogValue implements slog.LogValuer: String.
func (k PrivateKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalJSON encodes String as a JSON string.
func (k PrivateKey) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(k.String())), nil }

// MarshalText returns String.
func (k PrivateKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// parsePrivateKey reads a DER private key as PKCS #8, or else PKCS #1 or
// SEC 1. Errors never quote the input.
func parsePrivateKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("the private key cannot sign")
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("the private key is neither PKCS #8, SEC 1 nor PKCS #1")
}

// samePublic reports whether a and b are the same public key.
func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
