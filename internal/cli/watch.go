package cli

import (
	"context"
	"fmt"
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

// watchDep starts watching the KV entry of d (resolved through k), pushing
// d to q at each change. It returns nil, with the reason on stderr, when
// it cannot: the caller tries again at the next rendering or restart.
func (g *globals) watchDep(ctx context.Context, w entryWatcher, k *kvConn, q *changeQueue, d dep) (stop func()) {
	t, err := k.resolve(ctx, d.key)
	if err != nil {
		return nil // the reading of the entry reports it
	}
	s, err := k.store(ctx, t.mount)
	if err == nil {
		stop, err = w.watch(ctx, s, t.path, func() { q.push(d) })
	}
	if err != nil {
		fmt.Fprintf(g.io.Err, "vaultly: watch %s: %s\n", d, g.errText(err))
		return nil
	}
	return stop
}
