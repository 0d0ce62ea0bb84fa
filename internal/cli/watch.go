package cli

import (
	"context"
	"maps"
	"sync"
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

// pollWatcher watches an entry by reading it again every interval and
// comparing the version and fields with what it read before; a change (or
// the entry's appearance or disappearance) drops the Store's cached entry
// and calls fn. One goroutine per watched entry, stopped by stop.
type pollWatcher struct {
	every time.Duration
}

func (p pollWatcher) watch(ctx context.Context, s *vaultly.Store, path string, fn func()) (func(), error) {
	read := func(ctx context.Context) (*vaultly.Entry, error) {
		e, err := s.Entry(ctx, path, 0, &vaultly.ReadOptions{TTL: vaultly.NoCache})
		if vaultly.CodeOf(err) == vaultly.NotFound {
			return nil, nil
		}
		return e, err
	}
	last, err := read(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			e, err := read(ctx)
			if err != nil || sameEntry(last, e) {
				continue // a failed read is tried again at the next tick
			}
			last = e
			s.Invalidate(path)
			fn()
		}
	})
	return func() { cancel(); wg.Wait() }, nil
}

func sameEntry(a, b *vaultly.Entry) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Version == b.Version && maps.Equal(a.Fields, b.Fields)
}
