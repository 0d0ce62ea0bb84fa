package transit

import (
	"errors"
	"strconv"
	"strings"

	vaultly "github.com/vaultly/vaultly"
)

// Ciphertext is a transit ciphertext, "vault:v<N>:<base64>". It is not
// secret: it may be stored, logged and printed.
type Ciphertext string

// Version returns the key version that encrypted c, or 0 when c is not of
// the form "vault:v<N>:...".
func (c Ciphertext) Version() int { return version(string(c)) }

// Valid reports whether c has the transit form "vault:v<N>:<data>".
func (c Ciphertext) Valid() bool { return c.Version() > 0 }

// ParseCiphertext checks that s has the transit form and returns it typed.
// The error is a *vaultly.Error with code InvalidArgument; it does not
// quote s.
func ParseCiphertext(s string) (Ciphertext, error) {
	c := Ciphertext(s)
	if !c.Valid() {
		return "", &vaultly.Error{Op: "parse ciphertext", Code: vaultly.InvalidArgument, Err: errors.New("ciphertext is not of the form vault:v<N>:<data>")}
	}
	return c, nil
}

// Signature is a transit signature, "vault:v<N>:<base64>".
type Signature string

// Version returns the key version that made s, or 0 when malformed.
func (s Signature) Version() int { return version(string(s)) }

// HMAC is a transit HMAC, "vault:v<N>:<base64>".
type HMAC string

// Version returns the key version that made h, or 0 when malformed.
func (h HMAC) Version() int { return version(string(h)) }

// version parses the N out of "vault:vN:rest" (rest non-empty).
func version(s string) int {
	rest, ok := strings.CutPrefix(s, "vault:v")
	if !ok {
		return 0
	}
	num, data, ok := strings.Cut(rest, ":")
	if !ok || data == "" || num == "" || num[0] == '0' || len(num) > 9 {
		return 0
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 {
		return 0
	}
	return n
}
