// Package driver defines the small interface a vaultly backend implements,
// plus optional interfaces for abilities only some backends have, which the
// portable layer discovers by type assertion:
//
//	DefaultKeyer    the field a reference without ":key" reads, if not "value"
//	Writer          Write and Delete entries
//	Lister          List the names under a prefix
//	ChangeNotifier  announce changes made around the Store (OnChange)
//	Versioner       the current version of an entry, cheaper than a read
//	HealthReporter  reachability, seal and token state, for readiness probes
//	Leaser          issue, renew and revoke leased dynamic secrets
//
// Every method is one request and returns: no method asks the backend to
// run a loop on the caller's behalf. The lease schedule, the cache's
// refreshes and the retries run in package vaultly, which owns their
// goroutines and stops them in Close.
// memsecrets implements every optional interface; drivertest checks each
// one a backend implements.
//
// Application code does not use this package: it uses *vaultly.Store, which
// adds caching, single flight, retries, error wrapping and logging on top of
// a Backend. A backend only reads, writes and classifies its own errors.
package driver

import (
	"context"
	"time"

	"github.com/vaultly/vaultly/internal/errs"
)

// Code classifies a failure. It is the same type as vaultly.Code.
type Code = errs.Code

// The codes a backend may report. Unknown is for errors a backend could not
// classify; the Store treats it as not retryable.
const (
	OK                = errs.OK
	Unknown           = errs.Unknown
	NotFound          = errs.NotFound
	PermissionDenied  = errs.PermissionDenied
	Unauthenticated   = errs.Unauthenticated
	Unavailable       = errs.Unavailable
	ResourceExhausted = errs.ResourceExhausted
	InvalidArgument   = errs.InvalidArgument
	Config            = errs.Config
	Canceled          = errs.Canceled
	DeadlineExceeded  = errs.DeadlineExceeded
	Conflict          = errs.Conflict  // check-and-set mismatch on a write
	Malformed         = errs.Malformed // the server's answer could not be understood
)

// Error is how a backend reports a classified failure. It is the same type
// as vaultly.Error: a backend sets Code and Err (and Hint, RetryAfter when
// it knows them), and the Store fills in Op, Ref and Backend on the same
// value rather than wrapping it again.
//
// Neither Err nor Hint may contain a secret value or a token.
type Error = errs.Error

// NewError returns a *Error with the given code and cause.
func NewError(code Code, err error) *Error { return errs.New(code, err) }

// CodeOf returns the code of the first *Error in err's chain. Context errors
// map to Canceled and DeadlineExceeded; nil maps to OK; anything else to Unknown.
func CodeOf(err error) Code { return errs.CodeOf(err) }

// Entry is one secret entry: every field stored at one path, at one version.
//
// Fields holds each value as text: strings as they are, every other JSON
// value (number, bool, null, object, array) as its compact JSON encoding, so
// that 42 arrives as "42" and {"a":1} as `{"a":1}`.
type Entry struct {
	Path     string
	Version  int               // 0 when the backend has no versions
	Fields   map[string]string // never nil for a found entry
	Metadata *Metadata         // optional
	Lease    *Lease            // set for dynamic secrets that carry a lease
}

// Metadata describes a versioned entry (KV v2 style). Backends fill what they know.
type Metadata struct {
	CreatedTime    time.Time
	DeletionTime   time.Time // zero unless soft-deleted
	Destroyed      bool
	CustomMetadata map[string]string
}

// Lease describes a lease attached to a dynamic secret (see Leaser).
type Lease struct {
	ID        string        // the lease ID; not a secret (it cannot read the secret)
	Duration  time.Duration // time left from when it was issued or renewed; 0 = no end
	Renewable bool          // whether RenewLease may extend it
}

// Backend is what every secret store implements. It must be safe for
// concurrent use.
type Backend interface {
	// Read returns every field of the entry at path. version 0 means the
	// latest. A missing entry is an error with code NotFound, never (nil, nil).
	// path is already validated and cleaned: no leading '/', no '..' or empty
	// segments.
	Read(ctx context.Context, path string, version int) (*Entry, error)

	// Name is a short lowercase name used in errors and logs, e.g. "vault".
	Name() string

	// Close releases what the backend holds. The Store calls it once, from
	// its own Close, only if the Store owns the backend.
	Close() error
}

// DefaultKeyer is implemented by backends whose default field name (used by
// a reference without ":key") is not "value".
type DefaultKeyer interface {
	DefaultKey() string
}

// Writer is implemented by backends that can store entries.
type Writer interface {
	// Write stores fields as a new version of the entry at path.
	Write(ctx context.Context, path string, fields map[string]any) error
	// Delete removes the entry at path with all its versions and metadata.
	Delete(ctx context.Context, path string) error
}

// Lister is implemented by backends that can list entries under a prefix.
type Lister interface {
	// List returns the names directly under prefix; names of folders end in '/'.
	List(ctx context.Context, prefix string) ([]string, error)
}

// ChangeNotifier is implemented by backends whose entries can change through
// calls that bypass the Store (management APIs, a file edited by hand). The
// Store registers fn when it is created and removes it when it is closed;
// the backend calls fn(path) after every change of path it knows of (write,
// patch, delete, undelete, destroy), so the cached entry is dropped.
type ChangeNotifier interface {
	// OnChange adds fn to the functions called on a change and returns a
	// function that removes it. Registrations are independent: each added
	// fn is called (in no set order, possibly concurrently for different
	// changes) until its own remove is called; remove may be called more
	// than once; fn is not called for a change that starts after remove has
	// returned. fn must return quickly and must not call OnChange or a
	// remove function.
	OnChange(fn func(path string)) (remove func())
}
