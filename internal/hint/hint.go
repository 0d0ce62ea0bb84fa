// Package hint names the situations whose advice a Go program and the
// vaultly command need in different words: a library hint names Options
// fields and methods, the command's names flags and subcommands. A library
// error marks its cause with a Kind (Mark); the command finds it (Of) and
// writes its own hint for it, so neither matches the other's text.
//
// The functions are safe for concurrent use.
package hint

import "errors"

// Kind is one situation with advice.
type Kind int

// The kinds.
const (
	_                Kind = iota
	NoAddress             // no Vault address was given anywhere
	NoCredentials         // no token or auth method was given anywhere
	KVDetect              // the token may not read sys/internal/ui/mounts/<mount>
	VersionDeleted        // the version asked for is soft-deleted
	UnlistedRedirect      // a node redirected to an address not configured
	ResponseLimit         // an answer was larger than the response limit
)

// Mark is a cause that carries its Kind and the non-secret details the
// advice needs (a mount, a path, a version); it reads as the error it
// wraps.
type Mark struct {
	Kind Kind
	// Mount, Path and Version are filled where the Kind uses them.
	Mount, Path string
	Version     int
	Err         error
}

func (m *Mark) Error() string { return m.Err.Error() }
func (m *Mark) Unwrap() error { return m.Err }

// Of returns the first Mark in err's chain, or nil.
func Of(err error) *Mark {
	m, _ := errors.AsType[*Mark](err)
	return m
}
