package cli

import (
	"context"
	"time"

	"github.com/vaultly/vaultly"
)

// entryWatcher tells when KV entries change: it is all inject -watch and
// run -restart/-signal need of the library's change detection. fn is
// called from a goroutine of the watcher's, once per change seen, with
// the entry's cached value already replaced or dropped, so a read after
// fn sees the change. stop ends the watch and waits for a call of fn in
// progress.
type entryWatcher interface {
	watch(ctx context.Context, s *vaultly.Store, path string, fn func()) (stop func(), err error)
}

// storeWatcher is the library's change detection (Store.Subscribe): one
// poller per entry, asking for its current version (one small metadata
// read on KV v2) every interval and reading the entry again only when it
// moved; the new entry replaces the cached one before fn is called.
type storeWatcher struct {
	every time.Duration
}

func (w storeWatcher) watch(ctx context.Context, s *vaultly.Store, path string, fn func()) (func(), error) {
	return s.Subscribe(ctx, path, func(vaultly.Change) { fn() }, &vaultly.ReadOptions{Watch: w.every})
}
