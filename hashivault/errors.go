package hashivault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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
//	413, 500 "exceeds allowed ..."     InvalidArgument (a write larger than the server takes)
//	412, 5xx                           Unavailable ("vault is sealed" when it is)
//	429                                ResourceExhausted
//	refused, reset, EOF, net timeout   Unavailable
//	caller's context ended             Canceled / DeadlineExceeded
//	TLS certificate not trusted        Config
//	redirect to an unlisted address    Config (not followed)
//	an answer past MaxResponseBytes,
//	invalid or truncated JSON          Malformed
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
	e := &driver.Error{Code: code, Err: &vaultError{msg: scrub(msg, secrets...), cause: err}}
	if code == driver.InvalidArgument && isTooLargeWrite(err) {
		e.Hint = "vault refuses requests past its max_request_size (32 MiB by default) and JSON strings over 1 MiB; store large data elsewhere"
	}
	return e
}

func classify(err error) (driver.Code, string) {
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		return classifyResponse(re)
	}
	if tl, ok := errors.AsType[*tooLargeError](err); ok {
		return driver.Malformed, tl.Error()
	}
	if rd, ok := errors.AsType[*redirectError](err); ok {
		return driver.Config, rd.Error()
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
	ne, fromNode := errors.AsType[*nodeError](err)
	_, inBody := errors.AsType[*bodyError](err)
	switch {
	case fromNode:
		where = " (" + ne.method + " " + ne.url + ")"
	case errors.As(err, &ue):
		where = " (" + ue.Op + " " + stripQuery(ue.URL) + ")"
	}
	transportErr := fromNode || inBody || ue != nil
	if inBody {
		where = " while reading the answer" + where
	}
	if !transportErr {
		// A complete answer that could not be parsed.
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
			return driver.Malformed, "the server's answer was malformed: not valid json (" + jsonErrText(err) + ")"
		case errors.As(err, &te):
			return driver.Malformed, "the server's answer was malformed: " + jsonErrText(err)
		case errors.Is(err, io.EOF):
			return driver.Malformed, "the server's answer was malformed: empty"
		}
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

// jsonErrText describes a JSON decoding error without quoting the input
// (an UnmarshalTypeError names the field and types, a SyntaxError the
// offset; neither carries the value).
func jsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := te.Field
		if f == "" {
			f = "a value"
		}
		return "field " + f + " is a json " + te.Value + ", want " + te.Type.String()
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "it ends too early"
	}
	return "cannot be decoded"
}

// isTooLargeWrite reports whether err is Vault refusing a request for its
// size: 413 (past max_request_size), or 500 with one of the JSON limits
// ("JSON string value exceeds allowed length", "... entry count", ...) or
// the storage's "value being too large".
func isTooLargeWrite(err error) bool {
	re, ok := errors.AsType[*api.ResponseError](err)
	if !ok {
		return false
	}
	if re.StatusCode == http.StatusRequestEntityTooLarge {
		return true
	}
	if re.StatusCode != http.StatusInternalServerError {
		return false
	}
	for _, e := range re.Errors {
		if (strings.HasPrefix(e, "JSON ") && strings.Contains(e, "exceeds allowed")) || strings.Contains(e, "value being too large") || strings.Contains(e, "key being too large") {
			return true
		}
	}
	return false
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
	more := 0
	for _, e := range re.Errors {
		for line := range strings.SplitSeq(e, "\n") {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
			if line == "" || strings.HasSuffix(line, "error occurred:") || strings.HasSuffix(line, "errors occurred:") {
				continue
			}
			if len(errs) == maxErrLines {
				more++
				continue
			}
			errs = append(errs, cutText(printable(line), maxErrLine))
		}
	}
	if len(errs) > 0 {
		msg += ": " + strings.Join(errs, "; ")
	}
	if more > 0 {
		msg += fmt.Sprintf(" (%d more not shown)", more)
	}
	switch s := re.StatusCode; {
	case isTooLargeWrite(re):
		return driver.InvalidArgument, msg
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

// maxErrLines and maxErrLine bound how much of a server's error text goes
// into an error message.
const (
	maxErrLines = 4
	maxErrLine  = 200
)

// printable replaces control characters (a hostile server's terminal
// escapes) with spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// clusterDownError marks an error that every one of several configured
// nodes returned (ClusterUnavailable).
type clusterDownError struct {
	nodes int
	err   error
}

func (e *clusterDownError) Error() string { return e.err.Error() }
func (e *clusterDownError) Unwrap() error { return e.err }

// markAllNodes adds to a retryable error that every configured node failed.
func markAllNodes(err error, n int) error {
	de, ok := err.(*driver.Error)
	if !ok || !de.Code.Retryable() {
		return err
	}
	c := *de
	c.Err = &vaultError{msg: causeText(de) + fmt.Sprintf(" (all %d vault nodes tried)", n), cause: &clusterDownError{nodes: n, err: de.Err}}
	return &c
}

// ClusterUnavailable reports whether err is a failure that every one of
// the backend's configured nodes (Options.Addresses, two or more) gave for
// the same request: none answered, or each was sealed or knew of no active
// node. A layer above the backend (an outage breaker) can treat such an
// error as "Vault is down", not as one node's trouble.
func ClusterUnavailable(err error) bool {
	_, ok := errors.AsType[*clusterDownError](err)
	return ok
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
