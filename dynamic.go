package vaultly

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/lease"
)

// Dynamic keeps a dynamic secret current: credentials that the backend
// issues afresh and binds to a lease, such as Vault's database/creds/ROLE.
// Its own goroutine (package internal/lease, the one lease engine) renews
// the lease on the schedule the token uses, issues a replacement before the
// lease can no longer be extended (keeping both valid during an overlap),
// and replaces it at once when the lease is found revoked. The backend only
// answers the three lease requests of driver.Leaser.
//
// T is what the secret's fields decode into, by the whole-entry rule of
// Load (a `secret:"PATH"` tag without ":KEY" on a map or struct field): a
// struct gets each exported field from the key named by its json tag, or
// its Go name matched case-insensitively; json:"-" skips a field; a key the
// secret lacks leaves the field zero. A map[string]V gets every key. Values
// follow the cast rules of Load; Secret[T] fields keep them redacted.
// [DatabaseCredentials] fits every database secrets engine.
//
// A *Dynamic is safe for concurrent use. It must be closed: Close stops the
// renewals and the subscribers' goroutines (Store.Close closes the ones
// still open).
type Dynamic[T any] struct {
	path    string
	backend string
	w       *lease.Watcher

	mu  sync.Mutex // guards cur updates, subs, closed, owner, changed
	cur atomic.Pointer[Leased[T]]
	// changed is closed (and replaced) whenever a new generation is
	// published or one is retired; Wait blocks on it.
	changed chan struct{}
	subs    map[*subscriber[T]]struct{}
	closed  bool
	owner   *Store // the Store that closes d if d is still open then
}

// DatabaseCredentials are the fields every database secrets engine returns.
type DatabaseCredentials struct {
	Username string         `json:"username"`
	Password Secret[string] `json:"password"`
}

// Leased is one generation of a dynamic secret, decoded. A Leased is never
// modified once returned; a renewal produces a new one with the same Value.
type Leased[T any] struct {
	Value T
	Lease LeaseInfo
}

// LeaseInfo describes the lease of one generation.
type LeaseInfo struct {
	ID         string    // the lease ID (not a secret: it cannot read the credentials)
	Generation uint64    // 1 for the first secret issued, +1 for each replacement
	Issued     time.Time // when the request that issued it was sent (the lease began at or after)
	Expires    time.Time // when the lease ends unless renewed, at the earliest (counted from when its issue or renewal was sent); zero for a lease without an end
	Renewable  bool
}

// DynamicEventKind says what happened to a dynamic secret.
type DynamicEventKind int

// The kinds of DynamicEvent.
const (
	LeaseRenewed DynamicEventKind = DynamicEventKind(lease.Renewed) // the lease was extended
	LeaseRotated DynamicEventKind = DynamicEventKind(lease.Rotated) // new credentials replaced the previous ones, which stay valid until retired
	LeaseRetired DynamicEventKind = DynamicEventKind(lease.Retired) // a generation must no longer be used
	LeaseFailed  DynamicEventKind = DynamicEventKind(lease.Failed)  // a renewal or issue failed; retried on its own
)

// String returns the kind's lowercase name: "renewed", "rotated",
// "retired" or "failed".
func (k DynamicEventKind) String() string { return lease.Kind(k).String() }

// DynamicEvent is one change, as delivered to subscribers.
type DynamicEvent[T any] struct {
	Kind     DynamicEventKind
	Leased   *Leased[T] // the generation concerned (the new one for LeaseRotated)
	Previous *Leased[T] // LeaseRotated only: the generation replaced
	Err      error      // LeaseFailed only; a *Error (Op "renew" or "issue"), never containing a secret
}

// DynamicOptions configures OpenDynamic. nil means the defaults.
type DynamicOptions struct {
	// Increment is the extension asked for at each renewal. Default: 0, the
	// lease's own duration. Negative is an InvalidArgument error.
	Increment time.Duration
	// RevokeOnClose revokes the leases still alive when the Dynamic is
	// closed. Default: false (they expire on their own).
	RevokeOnClose bool
}

// OpenDynamic issues the dynamic secret at path (a full backend path such
// as "database/creds/app", not a KV reference) through the Store's backend
// and keeps it current until Close. The backend must implement
// driver.Leaser (hashivault and memsecrets do); otherwise the error has
// code Config. T is checked (see Dynamic) before anything is issued. The
// first issue happens before OpenDynamic returns, and its failure is
// returned. Dynamic secrets bypass the Store's cache: every OpenDynamic
// issues its own credentials. Close the Dynamic when done; one still open
// when the Store is closed is closed by Store.Close first (its renewal
// needs the Store's backend).
func OpenDynamic[T any](ctx context.Context, s *Store, path string, opts *DynamicOptions) (*Dynamic[T], error) {
	d := new(Dynamic[T])
	if err := d.open(ctx, s, path, opts); err != nil {
		return nil, err
	}
	if err := s.adopt(d); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Dynamic[T]) open(ctx context.Context, s *Store, path string, opts *DynamicOptions) error {
	const op = "dynamic"
	b := s.Backend()
	if opts == nil {
		opts = &DynamicOptions{}
	}
	name := b.Name()
	ref, err := ParseRef(path)
	if err != nil {
		return err
	}
	if ref.Key != "" || ref.Version != 0 {
		return &Error{Op: op, Ref: path, Backend: name, Code: InvalidArgument, Err: errors.New("a dynamic secret is a path, without key or version")}
	}
	l, ok := b.(driver.Leaser)
	if !ok {
		return &Error{Op: op, Ref: path, Backend: name, Code: Config, Err: errors.New("backend does not issue dynamic secrets")}
	}
	if err := checkDynamicType(reflect.TypeFor[T]()); err != nil {
		return &Error{Op: op, Ref: path, Backend: name, Code: InvalidArgument, Err: err}
	}
	d.path, d.backend, d.subs, d.changed = ref.Path, name, map[*subscriber[T]]struct{}{}, make(chan struct{})
	w, err := lease.Start(ctx, l, ref.Path, &lease.Options{
		Increment:     opts.Increment,
		RevokeOnClose: opts.RevokeOnClose,
		Notify:        d.notify,
		Meters:        s.leases,
	})
	if err != nil {
		return WrapError(op, ref.Path, name, err)
	}
	d.mu.Lock()
	d.w = w
	var derr error
	if d.cur.Load() == nil { // else an event came first and set it
		var v *Leased[T]
		v, derr = d.decode(w.Current(), nil)
		if derr == nil {
			d.cur.Store(v)
		}
	}
	d.mu.Unlock()
	if derr != nil {
		_ = w.Close(ctx)
		return derr
	}
	return nil
}

// Current returns the newest credentials. It never blocks and never returns
// nil. Right after a rotation the previous generation is still valid until
// it is retired (see MinValid), so values taken before stay usable for a
// while.
func (d *Dynamic[T]) Current() *Leased[T] {
	if v := d.cur.Load(); v != nil {
		return v
	}
	// Only between the first issue and OpenDynamic's return.
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur.Load()
}

// MinValid returns the oldest generation that may still be used; every
// generation below it has been retired. It never decreases.
func (d *Dynamic[T]) MinValid() uint64 { return d.w.MinValid() }

// Wait returns the newest credentials once they may be used: at once in
// normal operation, and, when the current generation has been retired
// without a replacement yet (its lease ended while the backend was
// unreachable), as soon as a new one is issued. It returns an error with
// code Unavailable when ctx ends first (the context's error stays
// reachable), or Canceled once the Dynamic is closed.
func (d *Dynamic[T]) Wait(ctx context.Context) (*Leased[T], error) {
	for {
		d.mu.Lock()
		cur, ch, closed := d.cur.Load(), d.changed, d.closed
		d.mu.Unlock()
		if cur != nil && cur.Lease.Generation >= d.w.MinValid() {
			return cur, nil
		}
		if closed {
			return nil, &Error{Op: "wait", Ref: d.path, Backend: d.backend, Code: Canceled, Err: errors.New("dynamic secret is closed")}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, &Error{Op: "wait", Ref: d.path, Backend: d.backend, Code: Unavailable,
				Err: fmt.Errorf("no valid credentials: generation %d was retired and no replacement has been issued yet: %w", cur.Lease.Generation, ctx.Err())}
		}
	}
}

// Subscribe calls fn with every event from now on, in order, one at a time,
// from a goroutine of its own. No event is dropped: events wait in a queue
// while fn runs, so a slow fn delays only its own later events, never the
// renewals or other subscribers. The returned stop ends the subscription and
// waits for a call in progress; events still queued are not delivered.
// Close delivers every queued event, then ends all subscriptions. fn must
// not call stop or Close itself (they wait for fn to return).
func (d *Dynamic[T]) Subscribe(fn func(DynamicEvent[T])) (stop func()) {
	s := &subscriber[T]{fn: fn, wake: make(chan struct{}, 1), done: make(chan struct{})}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		close(s.done)
		return func() {}
	}
	d.subs[s] = struct{}{}
	d.mu.Unlock()
	go s.run()
	return func() {
		d.mu.Lock()
		delete(d.subs, s)
		d.mu.Unlock()
		s.stop(false)
	}
}

// Close stops renewing and waits for the lease goroutine, revokes the
// leases if DynamicOptions.RevokeOnClose is set (ctx bounds that), delivers
// the events already queued to subscribers and waits for them. Safe to call
// more than once.
func (d *Dynamic[T]) Close(ctx context.Context) error {
	err := d.w.Close(ctx)
	d.mu.Lock()
	if !d.closed {
		close(d.changed)
	}
	d.closed = true
	subs := d.subs
	d.subs = map[*subscriber[T]]struct{}{}
	owner := d.owner
	d.mu.Unlock()
	if owner != nil {
		owner.release(d)
	}
	for s := range subs {
		s.stop(true)
	}
	return WrapError("revoke", d.path, d.backend, err)
}

// notify runs on the lease goroutine, one event at a time.
func (d *Dynamic[T]) notify(ev lease.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.cur.Load()
	out := DynamicEvent[T]{Kind: DynamicEventKind(ev.Kind)}
	if ev.Err != nil {
		out.Err = WrapError(ev.Op, d.path, d.backend, ev.Err)
	}
	var err error
	switch ev.Kind {
	case lease.Rotated:
		out.Leased, err = d.decode(ev.Secret, nil)
		out.Previous = cur
	default:
		out.Leased, err = d.decode(ev.Secret, cur)
	}
	if err != nil {
		out = DynamicEvent[T]{Kind: LeaseFailed, Leased: cur, Err: err}
	} else if ev.Kind == lease.Renewed || ev.Kind == lease.Rotated {
		d.cur.Store(out.Leased)
	}
	if ev.Kind == lease.Rotated || ev.Kind == lease.Retired {
		close(d.changed)
		d.changed = make(chan struct{})
	}
	for s := range d.subs {
		s.push(out)
	}
}

// decode converts s; when same holds the same generation its Value is
// reused rather than decoded again.
func (d *Dynamic[T]) decode(s *lease.Secret, same *Leased[T]) (*Leased[T], error) {
	info := LeaseInfo{ID: s.ID(), Generation: s.Generation, Issued: s.Issued, Expires: s.Expires, Renewable: s.Renewable}
	if same != nil && same.Lease.Generation == s.Generation {
		return &Leased[T]{Value: same.Value, Lease: info}, nil
	}
	out := &Leased[T]{Lease: info}
	if err := castEntry(s.Entry.Fields, reflect.ValueOf(&out.Value).Elem()); err != nil {
		return nil, &Error{Op: "dynamic", Ref: d.path, Backend: d.backend, Code: InvalidArgument, Err: err}
	}
	return out, nil
}

// checkDynamicType checks that t takes a whole entry, by Load's rule
// (checkEntryType). A struct field tagged `secret` is an error rather than
// ignored: Dynamic once read keys from `secret:"KEY"`, which now means a
// path, so the message says what to write instead.
func checkDynamicType(t reflect.Type) error {
	if !isWholeEntryType(t) {
		return errors.New("type " + t.String() + " does not take a whole entry: use a struct or a map[string]V")
	}
	if st := unwrapEntryType(t); st.Kind() == reflect.Struct {
		for i := range st.NumField() {
			sf := st.Field(i)
			if tag, ok := sf.Tag.Lookup(tagName); ok {
				key, _, _ := strings.Cut(tag, ",")
				return errors.New("field " + sf.Name + ": a secret tag does not apply to a field of a dynamic secret; name its key with json:" + strconv.Quote(key))
			}
		}
	}
	return checkEntryType(t)
}

// subscriber delivers events in order from its own goroutine.
type subscriber[T any] struct {
	fn   func(DynamicEvent[T])
	mu   sync.Mutex
	q    []DynamicEvent[T]
	end  int // 0 running, 1 drain then stop, 2 stop now
	wake chan struct{}
	done chan struct{}
	once sync.Once
}

func (s *subscriber[T]) push(ev DynamicEvent[T]) {
	s.mu.Lock()
	s.q = append(s.q, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber[T]) stop(drain bool) {
	s.once.Do(func() {
		s.mu.Lock()
		if drain {
			s.end = 1
		} else {
			s.end = 2
		}
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	})
	<-s.done
}

func (s *subscriber[T]) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		if s.end == 2 || (s.end == 1 && len(s.q) == 0) {
			s.mu.Unlock()
			return
		}
		if len(s.q) == 0 {
			s.mu.Unlock()
			<-s.wake
			continue
		}
		ev := s.q[0]
		s.q[0] = DynamicEvent[T]{}
		s.q = s.q[1:]
		s.mu.Unlock()
		s.fn(ev)
	}
}

// dynamicTarget is how OpenDynamics opens a *Dynamic[T] of any T.
type dynamicTarget interface {
	open(ctx context.Context, s *Store, path string, opts *DynamicOptions) error
	Close(ctx context.Context) error
	setOwner(s *Store)
}

// OpenDynamics is the struct-tag form of OpenDynamic. Every field of the
// struct dst points to that has type *Dynamic[T] and a tag
// `dynamic:"PATH"` is set to a newly opened handle for PATH, with opts:
//
//	type Config struct {
//		DB *vaultly.Dynamic[vaultly.DatabaseCredentials] `dynamic:"database/creds/app"`
//	}
//	closeAll, err := vaultly.OpenDynamics(ctx, store, &cfg, nil)
//	...
//	defer closeAll(ctx)
//
// Tags are checked before anything is issued: a `dynamic` tag on a field of
// another type, on an unexported field, or with an empty path is an
// InvalidArgument error naming the field. The fields are opened one after
// the other; if one fails, those already opened are closed, dst is left
// unchanged and the error names the field. The returned function closes
// every handle opened. The `dynamic` tag is separate from Load's `secret`
// tag, so one struct can carry both and Load ignores these fields.
func OpenDynamics(ctx context.Context, s *Store, dst any, opts *DynamicOptions) (closeAll func(context.Context) error, err error) {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil, &Error{Op: "dynamic", Code: InvalidArgument, Err: errors.New("dst must be a non-nil pointer to a struct")}
	}
	root := rv.Elem()
	type plan struct {
		field string
		index int
		path  string
	}
	var plans []plan
	for i := range root.NumField() {
		sf := root.Type().Field(i)
		path, ok := sf.Tag.Lookup("dynamic")
		if !ok {
			continue
		}
		field := root.Type().Name() + "." + sf.Name
		switch {
		case !sf.IsExported():
			return nil, &Error{Op: "dynamic", Ref: path, Code: InvalidArgument, Err: errors.New("field " + field + ": dynamic tag on an unexported field")}
		case sf.Type.Kind() != reflect.Pointer || !sf.Type.Implements(reflect.TypeFor[dynamicTarget]()):
			return nil, &Error{Op: "dynamic", Ref: path, Code: InvalidArgument, Err: errors.New("field " + field + ": type " + sf.Type.String() + " is not a *vaultly.Dynamic[T]")}
		case path == "":
			return nil, &Error{Op: "dynamic", Code: InvalidArgument, Err: errors.New("field " + field + ": empty dynamic path")}
		}
		plans = append(plans, plan{field, i, path})
	}
	opened := make([]reflect.Value, 0, len(plans))
	closeAll = func(ctx context.Context) error {
		var errs []error
		for _, v := range opened {
			errs = append(errs, v.Interface().(dynamicTarget).Close(ctx))
		}
		return errors.Join(errs...)
	}
	for _, p := range plans {
		v := reflect.New(root.Field(p.index).Type().Elem())
		dt := v.Interface().(dynamicTarget)
		err := dt.open(ctx, s, p.path, opts)
		if err == nil {
			err = s.adopt(dt)
		}
		if err != nil {
			_ = closeAll(ctx)
			if e, ok := err.(*Error); ok {
				c := *e
				c.Err = fmt.Errorf("field %s: %w", p.field, e.Err)
				return nil, &c
			}
			return nil, err
		}
		opened = append(opened, v)
	}
	for i, p := range plans {
		root.Field(p.index).Set(opened[i])
	}
	return closeAll, nil
}
