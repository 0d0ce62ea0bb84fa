package vaultly

import (
	"errors"
	"strings"
	"time"

	"github.com/vaultly/vaultly/driver"
)

// Code classifies a failure; see the constants below. Use CodeOf to read it
// from any error returned by vaultly.
type Code = driver.Code

// The codes every vaultly error carries.
const (
	OK                = driver.OK
	Unknown           = driver.Unknown
	NotFound          = driver.NotFound
	PermissionDenied  = driver.PermissionDenied
	Unauthenticated   = driver.Unauthenticated
	Unavailable       = driver.Unavailable       // sealed, 5xx, connection, timeout: retried
	ResourceExhausted = driver.ResourceExhausted // 429: retried, Retry-After honoured
	InvalidArgument   = driver.InvalidArgument   // bad reference, bad tag, failed cast
	Config            = driver.Config            // missing address, conflicting credentials, ...
	Canceled          = driver.Canceled
	DeadlineExceeded  = driver.DeadlineExceeded
	Conflict          = driver.Conflict // check-and-set mismatch
)

// Sentinels for errors.Is. Every *Error matches the sentinel of its code:
//
//	if errors.Is(err, vaultly.ErrNotFound) { ... }
var (
	ErrNotFound          error = codeError(NotFound)
	ErrPermissionDenied  error = codeError(PermissionDenied)
	ErrUnauthenticated   error = codeError(Unauthenticated)
	ErrUnavailable       error = codeError(Unavailable)
	ErrResourceExhausted error = codeError(ResourceExhausted)
	ErrInvalidArgument   error = codeError(InvalidArgument)
	ErrConfig            error = codeError(Config)
	ErrCanceled          error = codeError(Canceled)
	ErrDeadlineExceeded  error = codeError(DeadlineExceeded)
	ErrConflict          error = codeError(Conflict)
)

type codeError Code

func (c codeError) Error() string { return "vaultly: " + Code(c).String() }

// Error is the one error type vaultly returns. It wraps the cause once and
// never contains a secret value or a token: only the operation, the
// reference (path and key), the backend's name and the code.
type Error struct {
	Op      string // what was attempted: "get", "load", "put", "login", ...
	Ref     string // the reference or path involved, if any; never a value
	Backend string // the backend's name, e.g. "vault", "memory"
	Code    Code
	Hint    string        // optional one-line advice
	Err     error         // the cause; reachable with errors.As / errors.Unwrap
	retry   time.Duration // server-requested delay before a retry, if any
}

// Error returns one lowercase line: "vaultly: get myapp/db:password (vault): not found: <cause> (hint)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("vaultly: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteByte(' ')
	}
	if e.Ref != "" {
		b.WriteString(e.Ref)
		b.WriteByte(' ')
	}
	if e.Backend != "" {
		b.WriteString("(" + e.Backend + ") ")
	}
	s := strings.TrimSuffix(b.String(), " ")
	b.Reset()
	b.WriteString(s)
	b.WriteString(": ")
	b.WriteString(e.Code.String())
	if e.Err != nil {
		msg := e.Err.Error()
		// Avoid "not found: not found".
		if msg != e.Code.String() {
			b.WriteString(": ")
			b.WriteString(strings.ReplaceAll(msg, "\n", " "))
		}
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	c, ok := target.(codeError)
	return ok && Code(c) == e.Code
}

// RetryAfter returns the delay the server asked for before a retry, or 0.
func (e *Error) RetryAfter() time.Duration { return e.retry }

// CodeOf returns the code of err: the Code of the first *Error (or backend
// error) in its chain, Canceled / DeadlineExceeded for context errors, OK for
// nil and Unknown otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return driver.CodeOf(err)
}

// WrapError turns any error into a *Error with the given context, wrapping
// the cause exactly once. Backends' own APIs (management, transit, leases)
// use it so their callers see the same error type as Store callers. A *driver.Error is unpacked (its code, hint and
// retry-after are kept, its cause becomes Err); an existing *Error is
// returned with missing context filled in rather than wrapped again.
func WrapError(op, ref, backend string, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		if e.Op == "" || e.Ref == "" || e.Backend == "" {
			c := *e
			if c.Op == "" {
				c.Op = op
			}
			if c.Ref == "" {
				c.Ref = ref
			}
			if c.Backend == "" {
				c.Backend = backend
			}
			return &c
		}
		return e
	}
	out := &Error{Op: op, Ref: ref, Backend: backend, Err: err}
	if de, ok := err.(*driver.Error); ok {
		out.Code, out.Hint, out.retry, out.Err = de.Code, de.Hint, de.RetryAfter, de.Err
		return out
	}
	out.Code = driver.CodeOf(err)
	return out
}

// newError builds a *Error with a plain message as cause.
func newError(op, ref string, code Code, msg string) *Error {
	return &Error{Op: op, Ref: ref, Code: code, Err: errors.New(msg)}
}
