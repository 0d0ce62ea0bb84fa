package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/errs"
)

// Credential is one login credential — a token, a role_id or secret_id, a
// password, a JWT, an access key — and where it comes from: a value in the
// program (FromString), an environment variable (FromEnv) or a file
// (FromFile). Every method reads it again at each login, through Read, so a
// secret_id rotated on disk or a refreshed variable is used by the next
// login. The zero Credential is unset. vault/api's approle.SecretID
// (FromString, FromEnv, FromFile) is the model.
//
// A Credential redacts itself: String, GoString, every fmt verb, slog
// (LogValue), MarshalJSON and MarshalText show [vaultly.Redacted] for a
// value, and only the name of the variable or the path of the file for the
// others — never what they hold. The source is kept behind a pointer, so even a
// Credential in an unexported field of a caller's struct, which fmt prints
// without calling its methods, shows an address and not the value.
//
// A Credential is immutable and safe for concurrent use.
type Credential struct{ src *source }

// source is the kind (its first byte) followed by the value, the variable's
// name or the file's path. It is a string, not a struct, because fmt prints
// a pointer to a struct reached through an unexported field as &{...} under
// a wrong verb (%!s(*T=&{...})), but a pointer to a string as an address.
type source string

type sourceKind byte

const (
	fromString sourceKind = 's'
	fromEnv    sourceKind = 'e'
	fromFile   sourceKind = 'f'
)

func (s *source) kind() sourceKind { return sourceKind((*s)[0]) }
func (s *source) v() string        { return string((*s)[1:]) }

// FromString returns a credential whose value is v. An empty v gives the
// unset Credential.
func FromString(v string) Credential { return newCredential(fromString, v) }

// FromEnv returns a credential read from the environment variable name at
// each Read. An empty name gives the unset Credential.
func FromEnv(name string) Credential { return newCredential(fromEnv, name) }

// FromFile returns a credential read from the file at path at each Read.
// An empty path gives the unset Credential.
func FromFile(path string) Credential { return newCredential(fromFile, path) }

func newCredential(k sourceKind, v string) Credential {
	if v == "" {
		return Credential{}
	}
	src := source(string(rune(k)) + v)
	return Credential{src: &src}
}

// IsSet reports whether c has a source.
func (c Credential) IsSet() bool { return c.src != nil }

// Env returns the name of the environment variable c is read from, or "".
func (c Credential) Env() string { return c.sourceOf(fromEnv) }

// File returns the path of the file c is read from, or "".
func (c Credential) File() string { return c.sourceOf(fromFile) }

func (c Credential) sourceOf(k sourceKind) string {
	if c.src == nil || c.src.kind() != k {
		return ""
	}
	return c.src.v()
}

// Read returns the credential, read now from its source. White space
// around the content of a variable or file is removed (a trailing newline
// is usual); a value is returned as given. An unset credential, an empty or
// unset variable, and a missing, unreadable or empty file are Config errors
// (*vaultly.Error, code Config) that name the variable or file, never what
// it holds.
func (c Credential) Read() (string, error) {
	if c.src == nil {
		return "", readErr("credential is not set")
	}
	switch c.src.kind() {
	case fromEnv:
		v := strings.TrimSpace(os.Getenv(c.src.v()))
		if v == "" {
			return "", readErr("environment variable " + c.src.v() + " is empty or not set")
		}
		return v, nil
	case fromFile:
		b, err := os.ReadFile(c.src.v())
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return "", readErr("file " + c.src.v() + " does not exist")
			}
			// The *fs.PathError's Err (e.g. "permission denied") names no content.
			return "", &errs.Error{Op: "read credential", Code: errs.Config,
				Err: fmt.Errorf("cannot read file %s: %w", c.src.v(), errors.Unwrap(err))}
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", readErr("file " + c.src.v() + " is empty")
		}
		return v, nil
	}
	return c.src.v(), nil
}

func readErr(msg string) error {
	return &errs.Error{Op: "read credential", Code: errs.Config, Err: errors.New(msg)}
}

// String returns "" when c is unset, [vaultly.Redacted] for a value, "env:NAME"
// for an environment variable and "file:PATH" for a file.
func (c Credential) String() string {
	if c.src == nil {
		return ""
	}
	switch c.src.kind() {
	case fromEnv:
		return "env:" + c.src.v()
	case fromFile:
		return "file:" + c.src.v()
	}
	return vaultly.Redacted
}

// GoString returns the Go expression that makes c, with a value shown as
// [vaultly.Redacted]: auth.FromEnv("NAME"), auth.FromString("[redacted]"), ...
func (c Credential) GoString() string {
	if c.src == nil {
		return "auth.Credential{}"
	}
	switch c.src.kind() {
	case fromEnv:
		return "auth.FromEnv(" + strconv.Quote(c.src.v()) + ")"
	case fromFile:
		return "auth.FromFile(" + strconv.Quote(c.src.v()) + ")"
	}
	return `auth.FromString("` + vaultly.Redacted + `")`
}

// Format writes String for every verb and flag (quoted for %q, GoString
// for %#v), so that no verb reaches the value.
func (c Credential) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, c.GoString())
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(c.String()))
	default:
		_, _ = io.WriteString(f, c.String())
	}
}

// LogValue implements slog.LogValuer: String.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalText returns String.
func (c Credential) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// MarshalJSON returns String as a JSON string.
func (c Credential) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }
