//go:build bindstub

package vaultly

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultly/vaultly/driver"
)

// Dynamic keeps a dynamic secret current: credentials that the backend
// issues afresh and binds to a lease, such as Vault's database/creds/ROLE.
// The backend renews the lease, issues a replacement before the lease can no
// longer be extended (keeping both valid during an overlap), and replaces it
// at once when the lease is found revoked.
//
// T is the struct the secret's fields decode into, with the cast rules of
// Load: each exported field reads the key named by its `secret:"KEY"` tag,
// or its name in lower case; Secret[T] fields keep the value redacted.
// [DatabaseCredentials] fits every database secrets engine.
//
// A *Dynamic is safe for concurrent use. It must be closed: Close stops the
// backend's renewals and the subscribers' goroutines.
type Dynamic[T any] struct {
	path    string
	backend string
	w       driver.LeaseWatcher
	fields  []dynField

	mu     sync.Mutex // guards cur updates, subs, closed
	cur    atomic.Pointer[Leased[T]]
	subs   map[*subscriber[T]]struct{}
	closed bool
}

// DatabaseCredentials are the fields every database secrets engine returns.
type DatabaseCredentials struct {
	Username string         `secret:"username"`
	Password Secret[string] `secret:"password"`
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
	Issued     time.Time // when the secret was issued
	Expires    time.Time // when the lease ends unless renewed
	Renewable  bool
}

// DynamicEventKind says what happened to a dynamic secret.
type DynamicEventKind = driver.LeaseEventKind

// The kinds of DynamicEvent.
const (
	LeaseRenewed = driver.LeaseRenewed // the lease was extended
	LeaseRotated = driver.LeaseRotated // new credentials replaced the previous ones, which stay valid until retired
	LeaseRetired = driver.LeaseRetired // a generation must no longer be used
	LeaseFailed  = driver.LeaseFailed  // a renewal or issue failed; retried on its own
)

// DynamicEvent is one change, as delivered to subscribers.
type DynamicEvent[T any] struct {
	Kind     DynamicEventKind
	Leased   *Leased[T] // the generation concerned (the new one for LeaseRotated)
	Previous *Leased[T] // LeaseRotated only: the generation replaced
	Err      error      // LeaseFailed only; a *Error, never containing a secret
}

// DynamicOptions configures OpenDynamic. nil means the defaults.
type DynamicOptions struct {
	// Increment is the extension asked for at each renewal. Default: 0, the
	// lease's own duration.
	Increment time.Duration
	// RevokeOnClose revokes the leases still alive when the Dynamic is
	// closed. Default: false (they expire on their own).
	RevokeOnClose bool
}

// OpenDynamic issues the dynamic secret at path through b and keeps it
// current until Close. b must implement driver.Leaser (hashivault.Backend
// does); otherwise the error has code Config. The first issue happens before
// OpenDynamic returns, and its failure is returned.
func OpenDynamic[T any](ctx context.Context, b driver.Backend, path string, opts *DynamicOptions) (*Dynamic[T], error) {
	const op = "dynamic"
	if opts == nil {
		opts = &DynamicOptions{}
	}
	name := b.Name()
	ref, err := ParseRef(path)
	if err != nil {
		return nil, err
	}
	if ref.Key != "" || ref.Version != 0 {
		return nil, &Error{Op: op, Ref: path, Backend: name, Code: InvalidArgument, Err: errors.New("a dynamic secret is a path, without key or version")}
	}
	l, ok := b.(driver.Leaser)
	if !ok {
		return nil, &Error{Op: op, Ref: path, Backend: name, Code: Config, Err: errors.New("backend does not issue dynamic secrets")}
	}
	fields, err := dynFields(reflect.TypeFor[T]())
	if err != nil {
		return nil, &Error{Op: op, Ref: path, Backend: name, Code: InvalidArgument, Err: err}
	}
	d := &Dynamic[T]{path: ref.Path, backend: name, fields: fields, subs: map[*subscriber[T]]struct{}{}}
	w, err := l.Lease(ctx, ref.Path, &driver.LeaseOptions{
		Increment:     opts.Increment,
		RevokeOnClose: opts.RevokeOnClose,
		Notify:        d.notify,
	})
	if err != nil {
		return nil, WrapError(op, ref.Path, name, err)
	}
	d.w = w
	d.mu.Lock()
	first := d.cur.Load() == nil
	var derr error
	if first {
		var v *Leased[T]
		v, derr = d.decode(w.Current(), nil)
		if derr == nil {
			d.cur.Store(v)
		}
	}
	d.mu.Unlock()
	if derr != nil {
		_ = w.Close(ctx)
		return nil, derr
	}
	return d, nil
}

// Current returns the newest credentials. It never blocks and never returns
// nil. Right after a rotation the previous generation is still valid until
// it is retired (see MinValid), so values taken before stay usable for a
// while.
func (d *Dynamic[T]) Current() *Leased[T] {
	if v := d.cur.Load(); v != nil {
		return v
	}
	// Only between the backend's first issue and OpenDynamic's return.
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur.Load()
}

// MinValid returns the oldest generation that may still be used; every
// generation below it has been retired. It never decreases.
func (d *Dynamic[T]) MinValid() uint64 { return d.w.MinValid() }

// Subscribe calls fn with every event from now on, in order, one at a time,
// from a goroutine of its own. No event is dropped: events wait in a queue
// while fn runs, so a slow fn delays only its own later events, never the
// renewals or other subscribers. The returned stop ends the subscription and
// waits for a call in progress; events still queued are not delivered.
// Close delivers every queued event, then ends all subscriptions.
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

// Close stops renewing, revokes the leases if DynamicOptions.RevokeOnClose
// is set (ctx bounds that), delivers the events already queued to
// subscribers and waits for them. Safe to call more than once.
func (d *Dynamic[T]) Close(ctx context.Context) error {
	err := d.w.Close(ctx)
	d.mu.Lock()
	d.closed = true
	subs := d.subs
	d.subs = map[*subscriber[T]]struct{}{}
	d.mu.Unlock()
	for s := range subs {
		s.stop(true)
	}
	return WrapError("revoke", d.path, d.backend, err)
}

// notify runs on the backend's lease goroutine.
func (d *Dynamic[T]) notify(ev driver.LeaseEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.cur.Load()
	out := DynamicEvent[T]{Kind: ev.Kind}
	if ev.Err != nil {
		out.Err = WrapError("renew", d.path, d.backend, ev.Err)
	}
	var err error
	switch ev.Kind {
	case driver.LeaseRenewed:
		out.Leased, err = d.decode(ev.Leased, cur)
	case driver.LeaseRotated:
		out.Leased, err = d.decode(ev.Leased, nil)
		out.Previous = cur
	default:
		out.Leased, err = d.decode(ev.Leased, cur)
	}
	if err != nil {
		out = DynamicEvent[T]{Kind: LeaseFailed, Leased: cur, Err: err}
	} else if ev.Kind == driver.LeaseRenewed || ev.Kind == driver.LeaseRotated {
		d.cur.Store(out.Leased)
	}
	for s := range d.subs {
		s.push(out)
	}
}

// decode converts l; when same holds the same generation its Value is
// reused rather than decoded again.
func (d *Dynamic[T]) decode(l *driver.Leased, same *Leased[T]) (*Leased[T], error) {
	info := LeaseInfo{Generation: l.Generation, Issued: l.Issued, Expires: l.Expires, Renewable: l.Renewable}
	if l.Entry.Lease != nil {
		info.ID = l.Entry.Lease.ID
	}
	if same != nil && same.Lease.Generation == l.Generation {
		return &Leased[T]{Value: same.Value, Lease: info}, nil
	}
	out := &Leased[T]{Lease: info}
	v := reflect.ValueOf(&out.Value).Elem()
	for _, f := range d.fields {
		raw, ok := l.Entry.Fields[f.key]
		if !ok {
			if f.optional {
				continue
			}
			return nil, &Error{Op: "dynamic", Ref: d.path + ":" + f.key, Backend: d.backend, Code: NotFound, Err: errors.New("field " + f.name + ": key not in the issued secret")}
		}
		if err := castString(raw, v.FieldByIndex(f.index)); err != nil {
			return nil, &Error{Op: "dynamic", Ref: d.path + ":" + f.key, Backend: d.backend, Code: InvalidArgument, Err: errors.New("field " + f.name + ": " + err.Error())}
		}
	}
	return out, nil
}

type dynField struct {
	name     string
	key      string
	index    []int
	optional bool
}

// dynFields lists the fields of T that a dynamic secret fills. Tag grammar:
// `secret:"KEY"` or `secret:"KEY,optional"`; `secret:"-"` skips the field.
func dynFields(t reflect.Type) ([]dynField, error) {
	if t.Kind() != reflect.Struct {
		return nil, errors.New("type " + t.String() + " is not a struct")
	}
	var out []dynField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("secret")
		if !sf.IsExported() {
			if hasTag {
				return nil, errors.New("field " + sf.Name + ": tag on an unexported field")
			}
			continue
		}
		if tag == "-" {
			continue
		}
		key, opt, _ := strings.Cut(tag, ",")
		f := dynField{name: sf.Name, key: key, index: sf.Index}
		switch opt {
		case "":
		case "optional":
			f.optional = true
		default:
			return nil, errors.New("field " + sf.Name + ": unknown tag option " + opt)
		}
		if strings.ContainsAny(key, "/:") {
			return nil, errors.New("field " + sf.Name + ": tag must be a key, not a path")
		}
		if f.key == "" {
			f.key = strings.ToLower(sf.Name)
		}
		if err := checkCastable(sf.Type); err != nil {
			return nil, errors.New("field " + sf.Name + ": " + err.Error())
		}
		out = append(out, f)
	}
	return out, nil
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
