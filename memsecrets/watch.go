package memsecrets

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/vaultly/vaultly/driver"
)

// OpVersion is the Call.Op of CurrentVersion.
const OpVersion = "version"

// CurrentVersion returns the latest version's number and whether it was
// deleted or destroyed (driver.Versioner). A missing entry has code
// NotFound. It is recorded in Calls and runs the hook and injected errors
// like Read.
func (b *Backend) CurrentVersion(ctx context.Context, path string) (driver.VersionState, error) {
	if err := b.begin(ctx, Call{Op: OpVersion, Path: path}); err != nil {
		return driver.VersionState{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	vs := b.entries[path]
	if len(vs) == 0 {
		return driver.VersionState{}, driver.NewError(driver.NotFound, errors.New("no entry"))
	}
	last := vs[len(vs)-1]
	return driver.VersionState{Version: len(vs), Deleted: last.deleted && !last.destroyed, Destroyed: last.destroyed}, nil
}

// DeleteVersion soft-deletes version n (0: the latest) of the entry at
// path, as Vault KV v2's delete does: Read of it answers NotFound until
// UndeleteVersion. It reports whether that version exists. Like Set, it
// is not recorded in Calls and announces the change.
func (b *Backend) DeleteVersion(path string, n int) bool {
	return b.markVersion(path, n, func(v *version) { v.deleted = true })
}

// UndeleteVersion undoes DeleteVersion (not DestroyVersion).
func (b *Backend) UndeleteVersion(path string, n int) bool {
	return b.markVersion(path, n, func(v *version) { v.deleted = false })
}

// DestroyVersion destroys version n (0: the latest) of the entry at path:
// its fields are dropped for good and Read of it answers NotFound.
func (b *Backend) DestroyVersion(path string, n int) bool {
	return b.markVersion(path, n, func(v *version) { v.destroyed, v.fields = true, nil })
}

func (b *Backend) markVersion(path string, n int, mark func(*version)) bool {
	path = strings.TrimPrefix(path, "/")
	b.mu.Lock()
	vs := b.entries[path]
	if n == 0 {
		n = len(vs)
	}
	ok := n >= 1 && n <= len(vs)
	if ok {
		mark(&vs[n-1])
	}
	b.mu.Unlock()
	if ok {
		b.listeners.Notify(path)
	}
	return ok
}

// unreadable is the NotFound error for a deleted or destroyed version n.
func (v version) unreadable(n int) error {
	switch {
	case v.destroyed:
		return driver.NewError(driver.NotFound, errors.New("version "+strconv.Itoa(n)+" was destroyed"))
	case v.deleted:
		return driver.NewError(driver.NotFound, errors.New("version "+strconv.Itoa(n)+" was deleted"))
	}
	return nil
}
