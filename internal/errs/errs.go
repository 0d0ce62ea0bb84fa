// Package errs holds the one error type every vaultly layer returns. It is
// re-exported by package vaultly (for applications) and package driver (for
// backends), as gocloud's gcerrors re-exports internal/gcerr: a backend
// classifies a failure into an *Error with a Code, and the portable layer
// fills in the operation, reference and backend name on the same value
// instead of wrapping it a second time.
package errs

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Code classifies a failure. The values are stable.
type Code int

// The codes. Unknown is for errors nobody could classify; it is not retried.
const (
	OK Code = iota
	Unknown
	NotFound
	PermissionDenied
	Unauthenticated
	Unavailable
	ResourceExhausted
	InvalidArgument
	Config
	Canceled
	DeadlineExceeded
	Conflict  // check-and-set mismatch on a write
	Malformed // the server's answer could not be understood (bad JSON, wrong types, too large)
)

var codeNames = [...]string{
	OK:                "ok",
	Unknown:           "unknown",
	NotFound:          "not found",
	PermissionDenied:  "permission denied",
	Unauthenticated:   "unauthenticated",
	Unavailable:       "unavailable",
	ResourceExhausted: "resource exhausted",
	InvalidArgument:   "invalid argument",
	Config:            "configuration",
	Canceled:          "canceled",
	DeadlineExceeded:  "deadline exceeded",
	Conflict:          "conflict",
	Malformed:         "malformed response",
}

// String returns the code's lowercase name, as used in error messages.
func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "unknown"
}

// Retryable reports whether a failure with this code may succeed if the same
// request is sent again later.
func (c Code) Retryable() bool { return c == Unavailable || c == ResourceExhausted }

// sentinel is the value behind vaultly.ErrNotFound and friends.
type sentinel Code

func (s sentinel) Error() string { return "vaultly: " + Code(s).String() }

// Sentinel returns the value errors.Is matches for every *Error with code c.
func Sentinel(c Code) error { return sentinel(c) }

// Error is the one error type of vaultly. It wraps its cause once and never
// contains a secret value or a token: only the operation, the reference
// (path and key), the backend's name, the code and a hint.
//
// A backend sets Code and Err (and Hint, RetryAfter when it knows them);
// the Store and the other public entry points fill Op, Ref and Backend.
type Error struct {
	Op      string // what was attempted: "get", "load", "put", "login", ...
	Ref     string // the reference or path involved, if any; never a value
	Backend string // the backend's name, e.g. "vault", "memory"
	Code    Code
	Hint    string // optional one-line advice
	Err     error  // the cause; reachable with errors.As / errors.Unwrap; may be nil
	// RetryAfter is the delay the server asked for before a retry
	// (Retry-After on a 429), or 0.
	RetryAfter time.Duration
}

// New returns an *Error with the given code and cause.
func New(code Code, err error) *Error { return &Error{Code: code, Err: err} }

// Msg returns an *Error with the given code and a plain message as cause.
func Msg(code Code, msg string) *Error { return &Error{Code: code, Err: errors.New(msg)} }

// Error returns one line. With context: "vaultly: get myapp/db:password
// (vault): not found: <cause> (hint)"; a backend's bare classification
// reads "not found: <cause> (hint)".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" || e.Ref != "" || e.Backend != "" {
		b.WriteString("vaultly:")
		if e.Op != "" {
			b.WriteString(" " + e.Op)
		}
		if e.Ref != "" {
			b.WriteString(" " + e.Ref)
		}
		if e.Backend != "" {
			b.WriteString(" (" + e.Backend + ")")
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Code.String())
	if e.Err != nil {
		// Avoid "not found: not found".
		if msg := e.Err.Error(); msg != e.Code.String() {
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
	s, ok := target.(sentinel)
	return ok && Code(s) == e.Code
}

// CodeOf returns the code of the first *Error in err's chain; Canceled or
// DeadlineExceeded for context errors; OK for nil; Unknown otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	}
	return Unknown
}

// Wrap gives err the context op, ref and backend, wrapping it at most once:
//   - nil stays nil;
//   - an *Error (err itself, not one deeper in a chain) gets the missing
//     context filled in, on a copy; an *Error with all three set is
//     returned as it is;
//   - anything else becomes the cause of a new *Error whose code is
//     CodeOf(err), so a chain that holds an *Error keeps its code, hint and
//     retry delay.
func Wrap(op, ref, backend string, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		if e.Op != "" && e.Ref != "" && e.Backend != "" {
			return e
		}
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
	out := &Error{Op: op, Ref: ref, Backend: backend, Code: CodeOf(err), Err: err}
	if inner, ok := errors.AsType[*Error](err); ok {
		out.Hint, out.RetryAfter = inner.Hint, inner.RetryAfter
	}
	return out
}
