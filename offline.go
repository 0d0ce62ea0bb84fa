package vaultly

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vaultly/vaultly/driver"
)

// OpenLater returns a backend that opens the real one with open when it is
// first used, so that a Store — and Load, from an offline snapshot (see
// SnapshotOptions) — can start while the server cannot be reached. While
// open fails with a retryable code (Unavailable, ResourceExhausted: the
// server is down, sealed, or busy), every call fails with that error and
// the next call tries open again (one at a time; the Store's outage
// breaker keeps that to one probe at a time); any other failure of open
// (a configuration or credential problem) is returned by every call from
// then on. Once open succeeds every call goes to the backend it returned.
//
// name and defaultKey stand for the backend's Name and DefaultKey until it
// is open (e.g. "vault" and "" for hashivault's "value"). The returned
// backend implements every optional driver interface the Store uses
// (Writer, Lister, ChangeNotifier, Versioner, HealthReporter, Leaser) and
// answers an InvalidArgument "backend does not support ..." error, as the
// Store would, when the real backend lacks one. open runs with the context
// of the call that triggered it (its values and deadline).
//
// It is safe for concurrent use. Close closes the real backend if it was
// opened.
//
//	b := vaultly.OpenLater("vault", "", func(ctx context.Context) (driver.Backend, error) {
//		return hashivault.New(ctx, nil)
//	})
//	s := vaultly.New(b, &vaultly.Options{Snapshot: &vaultly.SnapshotOptions{...}})
func OpenLater(name, defaultKey string, open func(ctx context.Context) (driver.Backend, error)) driver.Backend {
	return &later{name: name, defKey: defaultKey, openFn: open}
}

type later struct {
	name, defKey string
	openFn       func(ctx context.Context) (driver.Backend, error)

	mu        sync.Mutex
	b         driver.Backend // nil until opened
	fatal     error          // a non-retryable failure of open
	closed    bool
	opening   chan struct{} // closed when the open in progress ends; nil when none
	listeners []*laterListener
}

type laterListener struct {
	fn     func(string)
	remove func() // the real backend's, once registered
	gone   bool
}

var (
	_ driver.Backend        = (*later)(nil)
	_ driver.DefaultKeyer   = (*later)(nil)
	_ driver.Writer         = (*later)(nil)
	_ driver.Lister         = (*later)(nil)
	_ driver.ChangeNotifier = (*later)(nil)
	_ driver.Versioner      = (*later)(nil)
	_ driver.HealthReporter = (*later)(nil)
	_ driver.Leaser         = (*later)(nil)
)

var errLaterClosed = driver.NewError(Canceled, errors.New("backend is closed"))

// get returns the real backend, opening it if needed.
func (l *later) get(ctx context.Context) (driver.Backend, error) {
	for {
		l.mu.Lock()
		switch {
		case l.closed:
			l.mu.Unlock()
			return nil, errLaterClosed
		case l.b != nil:
			b := l.b
			l.mu.Unlock()
			return b, nil
		case l.fatal != nil:
			err := l.fatal
			l.mu.Unlock()
			return nil, err
		case l.opening != nil:
			ch := l.opening
			l.mu.Unlock()
			select {
			case <-ch:
				continue // see what it gave
			case <-ctx.Done():
				return nil, driver.NewError(CodeOf(ctx.Err()), ctx.Err())
			}
		}
		ch := make(chan struct{})
		l.opening = ch
		l.mu.Unlock()
		b, err := l.openFn(ctx)
		if err == nil && b == nil {
			err = driver.NewError(Config, errors.New("OpenLater: open returned no backend"))
		}
		l.mu.Lock()
		l.opening = nil
		close(ch)
		switch {
		case err == nil && l.closed:
			l.mu.Unlock()
			_ = b.Close()
			return nil, errLaterClosed
		case err == nil:
			l.b = b
			ls := l.listeners
			l.mu.Unlock()
			if cn, ok := b.(driver.ChangeNotifier); ok {
				for _, ln := range ls {
					l.register(cn, ln)
				}
			}
			return b, nil
		case !CodeOf(err).Retryable() && CodeOf(err) != Canceled && CodeOf(err) != DeadlineExceeded:
			l.fatal = err
		}
		l.mu.Unlock()
		if _, ok := err.(*Error); !ok {
			err = driver.NewError(CodeOf(err), err)
		}
		return nil, err
	}
}

func (l *later) register(cn driver.ChangeNotifier, ln *laterListener) {
	rm := cn.OnChange(ln.fn)
	l.mu.Lock()
	defer l.mu.Unlock()
	if ln.gone {
		rm()
		return
	}
	ln.remove = rm
}

func (l *later) Name() string {
	l.mu.Lock()
	b := l.b
	l.mu.Unlock()
	if b != nil {
		return b.Name()
	}
	return l.name
}

func (l *later) DefaultKey() string {
	l.mu.Lock()
	b := l.b
	l.mu.Unlock()
	if dk, ok := b.(driver.DefaultKeyer); ok && dk.DefaultKey() != "" {
		return dk.DefaultKey()
	}
	return l.defKey
}

func (l *later) Read(ctx context.Context, path string, version int) (*driver.Entry, error) {
	b, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return b.Read(ctx, path, version)
}

func unsupported(what string) error {
	return driver.NewError(InvalidArgument, errors.New("backend does not support "+what))
}

// laterAs returns the real backend (opened if needed) as the optional
// interface I; what names the ability in the error when it lacks it.
func laterAs[I any](ctx context.Context, l *later, what string) (I, error) {
	var zero I
	b, err := l.get(ctx)
	if err != nil {
		return zero, err
	}
	i, ok := b.(I)
	if !ok {
		return zero, unsupported(what)
	}
	return i, nil
}

func (l *later) Write(ctx context.Context, path string, fields map[string]any) error {
	w, err := laterAs[driver.Writer](ctx, l, "writing")
	if err != nil {
		return err
	}
	return w.Write(ctx, path, fields)
}

func (l *later) Delete(ctx context.Context, path string) error {
	w, err := laterAs[driver.Writer](ctx, l, "writing")
	if err != nil {
		return err
	}
	return w.Delete(ctx, path)
}

func (l *later) List(ctx context.Context, prefix string) ([]string, error) {
	ls, err := laterAs[driver.Lister](ctx, l, "listing")
	if err != nil {
		return nil, err
	}
	return ls.List(ctx, prefix)
}

// OnChange registers fn now and with the real backend once it is open (if
// it is a ChangeNotifier).
func (l *later) OnChange(fn func(path string)) (remove func()) {
	ln := &laterListener{fn: fn}
	l.mu.Lock()
	l.listeners = append(l.listeners, ln)
	b := l.b
	l.mu.Unlock()
	if cn, ok := b.(driver.ChangeNotifier); ok {
		l.register(cn, ln)
	}
	return func() {
		l.mu.Lock()
		ln.gone = true
		rm := ln.remove
		for i, x := range l.listeners {
			if x == ln {
				l.listeners = append(l.listeners[:i], l.listeners[i+1:]...)
				break
			}
		}
		l.mu.Unlock()
		if rm != nil {
			rm()
		}
	}
}

// CurrentVersion asks the real backend; one without versions answers 0
// (the Store's watch then compares content).
func (l *later) CurrentVersion(ctx context.Context, path string) (driver.VersionState, error) {
	b, err := l.get(ctx)
	if err != nil {
		return driver.VersionState{}, err
	}
	v, ok := b.(driver.Versioner)
	if !ok {
		return driver.VersionState{}, nil
	}
	return v.CurrentVersion(ctx, path)
}

// Health is the real backend's report, or, before it is open, an
// unreachable one with the error of opening it.
func (l *later) Health(ctx context.Context) driver.Health {
	b, err := l.get(ctx)
	if err != nil {
		return driver.Health{Err: err}
	}
	if hr, ok := b.(driver.HealthReporter); ok {
		return hr.Health(ctx)
	}
	return driver.Health{Reachable: true}
}

func (l *later) IssueLease(ctx context.Context, path string) (*driver.Entry, error) {
	ls, err := laterAs[driver.Leaser](ctx, l, "leases")
	if err != nil {
		return nil, err
	}
	return ls.IssueLease(ctx, path)
}

func (l *later) RenewLease(ctx context.Context, id string, increment time.Duration) (*driver.Lease, error) {
	ls, err := laterAs[driver.Leaser](ctx, l, "leases")
	if err != nil {
		return nil, err
	}
	return ls.RenewLease(ctx, id, increment)
}

func (l *later) RevokeLease(ctx context.Context, id string) error {
	ls, err := laterAs[driver.Leaser](ctx, l, "leases")
	if err != nil {
		return err
	}
	return ls.RevokeLease(ctx, id)
}

// Close closes the real backend if it was opened; later calls fail with
// Canceled. An open in progress is closed when it ends.
func (l *later) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	b := l.b
	l.mu.Unlock()
	if b != nil {
		return b.Close()
	}
	return nil
}

// String names the backend; it never prints a value.
func (l *later) String() string { return "vaultly.OpenLater(" + l.name + ")" }
