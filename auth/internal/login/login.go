// Package login holds what every vaultly auth method shares: mount path
// normalisation, the login write and error classification that never lets a
// credential into an error message.
package login

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
)

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

// Describe returns "approle at auth/approle".
func Describe(method, mount string) string { return method + " at auth/" + mount }

// Client returns a copy of c, with the same address, TLS, namespace and
// headers but no token, so that a stale token never rides along on a login.
func Client(c *api.Client) (*api.Client, error) {
	if c == nil {
		return nil, &driver.Error{Code: driver.Config, Err: errors.New("login: nil vault client")}
	}
	cc, err := c.CloneWithHeaders()
	if err != nil {
		return nil, &driver.Error{Code: driver.Config, Err: fmt.Errorf("login: clone client: %w", err)}
	}
	cc.ClearToken()
	return cc, nil
}

// Write posts data to auth/<mount>/<path> with a token-less copy of c and
// returns the auth response. secrets are the credential values sent; they
// are removed from any error text the server sends back.
func Write(ctx context.Context, c *api.Client, method, mount, path string, data map[string]any, secrets ...string) (*api.Secret, error) {
	lc, err := Client(c)
	if err != nil {
		return nil, err
	}
	return WriteWith(ctx, lc, method, mount, path, data, secrets...)
}

// WriteWith is Write with a client the caller prepared (it must hold no token).
func WriteWith(ctx context.Context, lc *api.Client, method, mount, path string, data map[string]any, secrets ...string) (*api.Secret, error) {
	sec, err := lc.Logical().WriteWithContext(ctx, "auth/"+mount+"/"+path, data)
	if err != nil {
		return nil, Error(method, mount, err, secrets...)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, &driver.Error{Code: driver.Unknown, Err: NewErr(Describe(method, mount)+": login response has no token", nil)}
	}
	return sec, nil
}

// Err is the cause of every login error: a one-line message that names the
// method and mount and never a credential. The original error (for example
// an *api.ResponseError) stays reachable with errors.As.
// Its fields are unexported so that encoding it (JSON, %+v of the struct)
// shows nothing of the cause.
type Err struct {
	msg   string
	cause error
}

// NewErr returns an *Err with message msg and cause (may be nil).
func NewErr(msg string, cause error) *Err { return &Err{msg: msg, cause: cause} }

func (e *Err) Error() string { return e.msg }
func (e *Err) Unwrap() error { return e.cause }

// Error classifies err from a login request to method at mount and returns a
// *driver.Error whose text has every secret redacted.
func Error(method, mount string, err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	var de *driver.Error
	if errors.As(err, &de) {
		return err
	}
	code, detail := Classify(err)
	msg := Describe(method, mount) + ": login failed"
	if detail != "" {
		msg += ": " + Redact(detail, secrets...)
	}
	return &driver.Error{Code: code, Err: NewErr(msg, err)}
}

// Classify maps a vault/api error to a code and a short description built
// from the server's error list (never the request URL or body).
func Classify(err error) (driver.Code, string) {
	var re *api.ResponseError
	if errors.As(err, &re) {
		detail := fmt.Sprintf("vault answered %d", re.StatusCode)
		if len(re.Errors) > 0 {
			detail += ": " + strings.Join(re.Errors, "; ")
		}
		detail = strings.Join(strings.Fields(detail), " ")
		switch {
		case re.StatusCode == http.StatusTooManyRequests:
			return driver.ResourceExhausted, detail
		case re.StatusCode >= 500:
			return driver.Unavailable, detail
		case re.StatusCode == http.StatusNotFound:
			// Usually "no handler for route": the method is not enabled at this mount.
			return driver.Config, detail + " (is the auth method enabled at this mount?)"
		default:
			return driver.Unauthenticated, detail
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return driver.Canceled, "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return driver.DeadlineExceeded, "deadline exceeded"
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var cv *tls.CertificateVerificationError
	if errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &cv) {
		return driver.Config, "tls: the vault server's certificate cannot be verified (check the CA and server name)"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return driver.Unavailable, "cannot reach vault"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return driver.Unavailable, "cannot reach vault"
	}
	return driver.Unknown, "request failed"
}

// Redact replaces every non-empty secret in s with "[redacted]".
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// Fail returns a *driver.Error with code and a message prefixed by the
// method's description.
func Fail(method, mount string, code driver.Code, format string, args ...any) error {
	return &driver.Error{Code: code, Err: NewErr(Describe(method, mount)+": "+fmt.Sprintf(format, args...), nil)}
}

// Prefix adds the method's description to a credential-source error (from
// package cred), keeping its code.
func Prefix(method, mount string, err error) error {
	var de *driver.Error
	if errors.As(err, &de) {
		return &driver.Error{Code: de.Code, Hint: de.Hint, Err: NewErr(Describe(method, mount)+": "+de.Err.Error(), de.Err)}
	}
	return &driver.Error{Code: driver.Unknown, Err: NewErr(Describe(method, mount)+": "+err.Error(), err)}
}
