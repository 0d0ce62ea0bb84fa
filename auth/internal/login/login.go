// Package login holds what every vaultly auth method shares: the embedded
// Base (name, mount, printed forms), mount path normalisation, the login
// write, and error classification that never lets a credential into an
// error message.
package login

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/internal/errs"
)

// Op is the operation every auth error names.
const Op = "login"

// Mount normalises a mount path: "", "/approle/", "auth/approle" all become
// "approle" (the default when empty is def).
func Mount(mount, def string) string {
	m := strings.Trim(mount, "/")
	m = strings.TrimPrefix(m, "auth/")
	m = strings.Trim(m, "/")
	if m == "" {
		return def
	}
	return m
}

// Base is embedded in every method type: it names the method and its mount
// and gives the method Describe, Format and LogValue, which print "approle
// at auth/apps" for every verb and never a credential the method holds.
// Its fields are unexported, so nothing outside this package changes them.
type Base struct{ method, mount string }

// NewBase returns the Base of method at mount ("" and the usual spellings
// normalise as Mount does; the default mount is the method's name).
func NewBase(method, mount string) Base { return Base{method: method, mount: Mount(mount, method)} }

// Describe returns "<method> at auth/<mount>".
func (b Base) Describe() string { return b.method + " at auth/" + b.mount }

// Format prints Describe for every verb, so printing a method never shows
// the credential it holds.
func (b Base) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.Describe()) }

// LogValue is Describe, for log/slog.
func (b Base) LogValue() slog.Value { return slog.StringValue(b.Describe()) }

// Method returns the method's name, e.g. "approle".
func Method(b Base) string { return b.method }

// MountOf returns the normalised mount, e.g. "approle".
func MountOf(b Base) string { return b.mount }

// Ref returns "auth/<mount>", the reference auth errors carry.
func Ref(b Base) string { return "auth/" + b.mount }

// Err is the cause of every login error: a one-line message that names the
// method and never a credential. The original error (for example an
// *api.ResponseError) stays reachable with errors.As. Its fields are
// unexported so that encoding it (JSON, %+v of the struct) shows nothing of
// the cause.
type Err struct {
	msg   string
	cause error
}

// NewErr returns an *Err with message msg and cause (may be nil).
func NewErr(msg string, cause error) *Err { return &Err{msg: msg, cause: cause} }

func (e *Err) Error() string { return e.msg }
func (e *Err) Unwrap() error { return e.cause }

// Fail returns a *vaultly.Error of code for b (op "login", ref
// "auth/<mount>") whose message is "<method>: " and the formatted text. It
// is for settings and answers the method checks itself; format and args
// must hold no credential.
func Fail(b Base, code errs.Code, format string, args ...any) error {
	return &errs.Error{Op: Op, Ref: Ref(b), Code: code, Err: NewErr(b.method+": "+fmt.Sprintf(format, args...), nil)}
}

// FailCause is Fail with a cause kept reachable through errors.As, for a
// message the method writes about a server answer (backend "vault").
func FailCause(b Base, code errs.Code, cause error, msg string) error {
	return &errs.Error{Op: Op, Ref: Ref(b), Backend: "vault", Code: code, Err: NewErr(b.method+": "+msg, cause)}
}

// Credential reads c, the method's credential called param (e.g.
// "secret_id"), and names the method and param in a read error, which keeps
// its code and stays reachable with errors.As.
func Credential(b Base, param string, c auth.Credential) (string, error) {
	v, err := c.Read()
	if err != nil {
		return "", Prefix(b, param, err)
	}
	return v, nil
}

// Prefix gives err (a credential read error, an error of a caller's func)
// the method's op and ref and the message "<method>: <param>: <err>" (no
// param when it is "" or the method's name),
// keeping its code (Unknown when it has none), hint and chain.
func Prefix(b Base, param string, err error) error {
	msg := b.method + ": "
	if param != "" && param != b.method {
		msg += param + ": "
	}
	out := &errs.Error{Op: Op, Ref: Ref(b), Code: errs.CodeOf(err)}
	if e, ok := errors.AsType[*errs.Error](err); ok {
		out.Hint = e.Hint
		if e.Err != nil {
			msg += e.Err.Error()
		} else {
			msg += e.Code.String()
		}
	} else {
		msg += err.Error()
	}
	out.Err = NewErr(msg, err)
	return out
}

// Client returns a copy of c, with the same address, TLS, namespace and
// headers but no token, so that a stale token never rides along on a login.
func Client(b Base, c *api.Client) (*api.Client, error) {
	if c == nil {
		return nil, Fail(b, errs.Config, "nil vault client")
	}
	cc, err := c.CloneWithHeaders()
	if err != nil {
		return nil, &errs.Error{Op: Op, Ref: Ref(b), Code: errs.Config, Err: NewErr(b.method+": cannot copy the vault client", err)}
	}
	cc.ClearToken()
	return cc, nil
}

// Write posts data to auth/<mount>/<path> with a token-less copy of c and
// returns the auth response. secrets are the credential values sent; they
// are removed from any error text the server sends back.
func Write(ctx context.Context, b Base, c *api.Client, path string, data map[string]any, secrets ...string) (*api.Secret, error) {
	lc, err := Client(b, c)
	if err != nil {
		return nil, err
	}
	return WriteWith(ctx, b, lc, path, data, secrets...)
}

// WriteWith is Write with a client the caller prepared (it must hold no token).
func WriteWith(ctx context.Context, b Base, lc *api.Client, path string, data map[string]any, secrets ...string) (*api.Secret, error) {
	sec, err := lc.Logical().WriteWithContext(ctx, "auth/"+b.mount+"/"+path, data)
	if err != nil {
		return nil, Error(b, err, secrets...)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, FailCause(b, errs.Malformed, nil, "the login response has no token")
	}
	return sec, nil
}

// Error classifies err from a login request of b and returns a
// *vaultly.Error whose text has every secret redacted. An *Error already in
// err's chain keeps its code.
func Error(b Base, err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*errs.Error](err); ok {
		return Prefix(b, "", err)
	}
	code, detail, hint := Classify(err)
	return &errs.Error{Op: Op, Ref: Ref(b), Backend: "vault", Code: code, Hint: hint,
		Err: NewErr(b.method+": "+Redact(detail, secrets...), err)}
}

// Classify maps a vault/api error to a code, a short description built
// from the server's error list (never the request URL or body) and a hint.
func Classify(err error) (code errs.Code, detail, hint string) {
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		detail := fmt.Sprintf("vault answered %d", re.StatusCode)
		if msgs := serverErrors(re.Errors); len(msgs) > 0 {
			detail += ": " + strings.Join(msgs, "; ")
		}
		switch {
		case re.StatusCode == http.StatusTooManyRequests:
			return errs.ResourceExhausted, detail, ""
		case re.StatusCode >= 500:
			return errs.Unavailable, detail, ""
		case re.StatusCode == http.StatusNotFound:
			// Usually "no handler for route": the method is not enabled at this mount.
			return errs.Config, detail, "is the auth method enabled at this mount?"
		default:
			return errs.Unauthenticated, detail, ""
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return errs.Canceled, "canceled", ""
	case errors.Is(err, context.DeadlineExceeded):
		return errs.DeadlineExceeded, "deadline exceeded", ""
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var cv *tls.CertificateVerificationError
	if errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &cv) {
		return errs.Config, "tls: the vault server's certificate cannot be verified", "check the CA and the server name"
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return errs.Unavailable, "cannot reach vault", ""
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return errs.Unavailable, "cannot reach vault", ""
	}
	return errs.Unknown, "request failed", ""
}

// serverErrors flattens Vault's error list into one-line messages: a
// multi-error ("2 errors occurred:\n\t* permission denied\n\t* invalid
// token") becomes its items, and white space is folded.
func serverErrors(list []string) []string {
	var out []string
	for _, e := range list {
		for line := range strings.SplitSeq(e, "\n") {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
			if line == "" || strings.HasSuffix(line, "error occurred:") || strings.HasSuffix(line, "errors occurred:") {
				continue
			}
			out = append(out, strings.Join(strings.Fields(line), " "))
		}
	}
	return out
}

// Redact replaces every secret of 4 or more characters in s with
// "[redacted]" (a shorter one would match ordinary text).
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, vaultly.Redacted)
		}
	}
	return s
}
