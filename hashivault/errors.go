package hashivault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
)

// backendName is the Backend every error of this package carries.
const backendName = "vault"

// vaultError is the cause MapError puts in a *driver.Error: a one-line,
// scrubbed message, with the original error (for example *api.ResponseError)
// reachable through errors.As.
type vaultError struct {
	msg   string
	cause error
}

func (e *vaultError) Error() string { return e.msg }
func (e *vaultError) Unwrap() error { return e.cause }

// tokenRE matches Vault token formats: service (hvs.), batch (hvb.),
// recovery (hvr.) and legacy "s."/"b." tokens.
var tokenRE = regexp.MustCompile(`\b(hv[sbr]\.[A-Za-z0-9_\-]{20,}|[sb]\.[A-Za-z0-9]{24})\b`)

// scrub removes anything shaped like a Vault token, and the given literal
// secrets, from s, and folds it onto one line.
func scrub(s string, secrets ...string) string {
	s = tokenRE.ReplaceAllString(s, "[redacted]")
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	return s
}

// MapError classifies any error from vault/api or the network as a
// *driver.Error, keeping the original reachable with errors.As:
//
//	404                                NotFound
//	403 with "invalid token", 401      Unauthenticated
//	403 otherwise                      PermissionDenied
//	400, 405                           InvalidArgument
//	412, 5xx                           Unavailable ("vault is sealed" when it is)
//	429                                ResourceExhausted
//	refused, reset, EOF, net timeout   Unavailable
//	caller's context ended             Canceled / DeadlineExceeded
//	TLS certificate not trusted        Config
//
// A *driver.Error is returned unchanged; nil gives nil. The message is one
// line without tokens. RetryAfter is filled by Backend.Call, which sees the
// response headers.
func MapError(err error) error {
	return mapError(err)
}

func mapError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	if de, ok := errors.AsType[*driver.Error](err); ok {
		return de
	}
	code, msg := classify(err)
	return &driver.Error{Code: code, Err: &vaultError{msg: scrub(msg, secrets...), cause: err}}
}

func classify(err error) (driver.Code, string) {
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		return classifyResponse(re)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return driver.Canceled, "request canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return driver.DeadlineExceeded, "request deadline exceeded"
	}
	var (
		ue     *url.Error
		where  string
		uaErr  x509.UnknownAuthorityError
		hnErr  x509.HostnameError
		ciErr  x509.CertificateInvalidError
		verErr *tls.CertificateVerificationError
	)
	if errors.As(err, &ue) {
		where = " (" + ue.Op + " " + stripQuery(ue.URL) + ")"
	}
	switch {
	case errors.As(err, &uaErr), errors.As(err, &hnErr), errors.As(err, &ciErr), errors.As(err, &verErr):
		return driver.Config, "tls: cannot verify the vault server's certificate" + where + ": " + rootMsg(err) + "; set CACert/VAULT_CACERT to trust its CA"
	case errors.Is(err, syscall.ECONNREFUSED):
		return driver.Unavailable, "connection refused" + where
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return driver.Unavailable, "connection reset" + where
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return driver.Unavailable, "connection closed by server" + where
	}
	if ne, ok := errors.AsType[net.Error](err); ok {
		if ne.Timeout() {
			return driver.Unavailable, "timeout" + where
		}
		return driver.Unavailable, "network error" + where + ": " + rootMsg(err)
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return driver.Unavailable, "network error" + where + ": " + rootMsg(err)
	}
	return driver.Unknown, rootMsg(err)
}

func classifyResponse(re *api.ResponseError) (driver.Code, string) {
	if isSealed(re) {
		// Whatever was asked, the answer is about the server.
		return driver.Unavailable, "vault is sealed"
	}
	msg := fmt.Sprintf("vault answered %d", re.StatusCode)
	if u, err := url.Parse(re.URL); err == nil {
		msg += " to " + re.HTTPMethod + " " + u.Path
	}
	var errs []string
	for _, e := range re.Errors {
		for line := range strings.SplitSeq(e, "\n") {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
			if line == "" || strings.HasSuffix(line, "error occurred:") || strings.HasSuffix(line, "errors occurred:") {
				continue
			}
			if re.RawError && len(line) > 200 {
				line = line[:200] + "..."
			}
			errs = append(errs, line)
		}
	}
	if len(errs) > 0 {
		msg += ": " + strings.Join(errs, "; ")
	}
	switch s := re.StatusCode; {
	case s == http.StatusNotFound:
		return driver.NotFound, msg
	case s == http.StatusUnauthorized, s == http.StatusForbidden && isInvalidToken(re):
		return driver.Unauthenticated, msg
	case s == http.StatusForbidden:
		return driver.PermissionDenied, msg
	case s == http.StatusTooManyRequests:
		return driver.ResourceExhausted, msg
	case s == http.StatusPreconditionFailed, s >= 500:
		return driver.Unavailable, msg
	case s == http.StatusBadRequest, s == http.StatusMethodNotAllowed:
		return driver.InvalidArgument, msg
	}
	return driver.Unknown, msg
}

// isInvalidToken reports whether re is Vault's answer to an invalid,
// expired or revoked token: 403 with "invalid token" among the errors.
func isInvalidToken(re *api.ResponseError) bool {
	if re.StatusCode != http.StatusForbidden && re.StatusCode != http.StatusUnauthorized {
		return false
	}
	for _, e := range re.Errors {
		if strings.Contains(e, "invalid token") || strings.Contains(e, "token expired") {
			return true
		}
	}
	return re.StatusCode == http.StatusUnauthorized
}

// causeText is the text of err without the "code: " an *Error puts in
// front, for quoting one error inside another.
func causeText(err error) string {
	if e, ok := err.(*driver.Error); ok && e.Err != nil {
		return e.Err.Error()
	}
	return err.Error()
}

// isSealed reports whether re is a sealed server's answer.
func isSealed(re *api.ResponseError) bool {
	if re.StatusCode != http.StatusServiceUnavailable {
		return false
	}
	for _, e := range re.Errors {
		if strings.Contains(e, "Vault is sealed") {
			return true
		}
	}
	return false
}

// badToken reports whether err (from any layer) says the token is invalid.
func badToken(err error) bool {
	re, ok := errors.AsType[*api.ResponseError](err)
	return ok && isInvalidToken(re)
}

func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// rootMsg is the innermost error's text, which for network errors is the
// useful part ("connection refused") without the URL.
func rootMsg(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
