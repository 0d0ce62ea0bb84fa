package vaultly

import (
	"github.com/vaultly/vaultly/internal/errs"
)

// Code classifies a failure; see the constants below. Use CodeOf to read it
// from any error returned by vaultly.
type Code = errs.Code

// The codes every vaultly error carries.
const (
	OK                = errs.OK
	Unknown           = errs.Unknown
	NotFound          = errs.NotFound
	PermissionDenied  = errs.PermissionDenied
	Unauthenticated   = errs.Unauthenticated
	Unavailable       = errs.Unavailable       // sealed, 5xx, connection, timeout: retried
	ResourceExhausted = errs.ResourceExhausted // 429: retried, Retry-After honoured
	InvalidArgument   = errs.InvalidArgument   // bad reference, bad tag, failed cast
	Config            = errs.Config            // missing address, conflicting credentials, ...
	Canceled          = errs.Canceled
	DeadlineExceeded  = errs.DeadlineExceeded
	Conflict          = errs.Conflict  // check-and-set mismatch
	Malformed         = errs.Malformed // the server's answer could not be understood: not retried
)

// Sentinels for errors.Is. Every *Error matches the sentinel of its code:
//
//	if errors.Is(err, vaultly.ErrNotFound) { ... }
var (
	ErrNotFound          = errs.Sentinel(NotFound)
	ErrPermissionDenied  = errs.Sentinel(PermissionDenied)
	ErrUnauthenticated   = errs.Sentinel(Unauthenticated)
	ErrUnavailable       = errs.Sentinel(Unavailable)
	ErrResourceExhausted = errs.Sentinel(ResourceExhausted)
	ErrInvalidArgument   = errs.Sentinel(InvalidArgument)
	ErrConfig            = errs.Sentinel(Config)
	ErrCanceled          = errs.Sentinel(Canceled)
	ErrDeadlineExceeded  = errs.Sentinel(DeadlineExceeded)
	ErrConflict          = errs.Sentinel(Conflict)
	ErrMalformed         = errs.Sentinel(Malformed)
)

// Error is the one error type every vaultly package returns — the Store,
// Load, the Vault backend, auth methods, transit, the local backends — and
// the same type as driver.Error. It wraps the cause once and never contains
// a secret value or a token: only the operation, the reference (path and
// key), the backend's name, the code and an optional hint. Its Error text is
// one line: "vaultly: get myapp/db:password (vault): not found: <cause> (hint)".
//
// errors.Is(err, ErrX) matches the sentinel of its code, errors.As reaches
// the cause (for example *api.ResponseError for any HTTP status), and
// RetryAfter holds the delay a server asked for before a retry.
type Error = errs.Error

// CodeOf returns the code of err: the Code of the first *Error in its chain,
// Canceled / DeadlineExceeded for context errors, OK for nil and Unknown
// otherwise.
func CodeOf(err error) Code { return errs.CodeOf(err) }

// WrapError gives err the context op, ref and backend, wrapping the cause
// exactly once: an *Error gets its missing context filled in (on a copy)
// instead of being wrapped again; any other error becomes the cause of a new
// *Error with code CodeOf(err). nil stays nil.
func WrapError(op, ref, backend string, err error) error {
	return errs.Wrap(op, ref, backend, err)
}

// newError builds a *Error with a plain message as cause.
func newError(op, ref string, code Code, msg string) *Error {
	e := errs.Msg(code, msg)
	e.Op, e.Ref = op, ref
	return e
}
