package driver

import "context"

// Versioner is implemented by backends that can tell the current version of
// an entry more cheaply than reading it (Vault KV v2: one metadata read,
// current_version). The Store's watch (vaultly.Options.Watch,
// Store.Subscribe) polls it and reads the entry again only when the version
// moved. A backend without it is polled by reading the entry and comparing
// its fields.
//
// It is one request: the backend runs no loop; the Store owns the pollers
// and their schedule.
type Versioner interface {
	// CurrentVersion returns the state of the latest version of the entry
	// at path (validated and cleaned as for Read). Version is the number
	// Read(ctx, path, 0) reports as Entry.Version while that version is
	// readable; 0 (with a nil error) means the backend keeps no version
	// numbers for path (a KV v1 mount), so the caller compares content
	// instead, and a backend that knows this without a request must not
	// send one. Otherwise an entry that does not exist, or whose
	// metadata was deleted, is an error with code NotFound.
	CurrentVersion(ctx context.Context, path string) (VersionState, error)
}

// VersionState is the state of an entry's latest version.
type VersionState struct {
	Version   int  // the latest version's number; 0: the backend has none (compare content)
	Deleted   bool // the latest version is soft-deleted (Read answers NotFound)
	Destroyed bool // the latest version is destroyed (Read answers NotFound)
}

// Readable reports whether Read of the latest version would find it.
func (v VersionState) Readable() bool { return !v.Deleted && !v.Destroyed }
