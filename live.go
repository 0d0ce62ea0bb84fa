package vaultly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync/atomic"
)

// Live is a value resolved through a Store each time it is read, for
// secrets that rotate while the program runs. Get returns the Store's
// current value (from its cache, refreshed as the Store's TTL rules say),
// cast to T with the same rules as Load.
//
// A Live field in a struct is bound by Load like any other field: the tag
// is validated, the reference checked and, unless the field is optional,
// the value fetched once so that a missing secret fails the Load. A Live can
// also be built with NewLive. The zero Live is unbound and its Get fails.
//
// Live holds no plaintext of its own beyond the last value it converted,
// and that sits behind a pointer; it prints as the reference only (the
// default= text never shows). Get is safe for concurrent use; a Live is
// valid as long as its Store is open and needs no Close.
type Live[T any] struct {
	l *liveState[T]
}

type liveState[T any] struct {
	s     *Store
	ref   Ref
	whole bool // bind the whole entry (map or struct T, no key)
	opts  ReadOptions
	def   *string
	name  string                       // field path or reference, for errors
	reuse bool                         // reusable(T)
	last  atomic.Pointer[liveValue[T]] // only when T is a plain value (see reusable)
}

type liveValue[T any] struct {
	raw string
	v   T
}

// reusable reports whether a converted T may be handed to several callers:
// true for values that share no memory (strings, bools, numbers, durations,
// times, and Secrets of those). Maps, slices and pointers are converted
// afresh on every Get so that one caller cannot change another's value.
func reusable(t reflect.Type) bool {
	if elem, ok := secretElemOf(t); ok {
		t = elem
	}
	return t == timeType || isScalar(t.Kind())
}

// NewLive returns a Live reading ref through s with the read options o
// (nil: the Store's defaults). It checks ref and T before any I/O: a
// malformed reference or a T the cast rules cannot produce is an
// InvalidArgument error. A map or non-leaf struct T with a reference that
// has no ":key" binds the whole entry, as in Load.
func NewLive[T any](s *Store, ref string, o *ReadOptions) (Live[T], error) {
	r, err := ParseRef(ref)
	if err != nil {
		return Live[T]{}, err
	}
	t := reflect.TypeFor[T]()
	whole := r.Key == "" && isWholeEntryType(t)
	if whole {
		err = checkEntryType(t)
	} else {
		err = checkCastable(t)
	}
	if err != nil {
		return Live[T]{}, &Error{Op: "live", Ref: r.String(), Code: InvalidArgument, Err: err}
	}
	st := &liveState[T]{s: s, ref: r, whole: whole, name: r.String(), reuse: reusable(t)}
	if o != nil {
		st.opts = *o
	}
	return Live[T]{l: st}, nil
}

// Ref returns the reference the Live reads (the zero Ref when unbound).
func (v Live[T]) Ref() Ref {
	if v.l == nil {
		return Ref{}
	}
	return v.l.ref
}

// Get returns the current value. Errors are *Error values; a value that does
// not convert to T is InvalidArgument naming the reference and T, never the
// value. For an optional field a missing secret gives the default= text if
// the tag has one, and otherwise the zero T with a NotFound error.
func (v Live[T]) Get(ctx context.Context) (T, error) {
	var zero T
	l := v.l
	if l == nil {
		return zero, &Error{Op: "live", Code: Config, Err: errors.New("live value is not bound; use Load or NewLive")}
	}
	if l.whole {
		e, err := l.s.Entry(ctx, l.ref.Path, l.ref.Version, &l.opts)
		if err != nil {
			return zero, err
		}
		var out T
		if err := castEntry(e.Fields, reflect.ValueOf(&out).Elem()); err != nil {
			return zero, &Error{Op: "live", Ref: l.name, Code: InvalidArgument, Err: err}
		}
		return out, nil
	}
	raw, err := l.s.GetRef(ctx, l.ref, &l.opts)
	if err != nil {
		if l.def == nil || CodeOf(err) != NotFound {
			return zero, err
		}
		raw = *l.def
	}
	if c := l.last.Load(); c != nil && c.raw == raw {
		return c.v, nil
	}
	var out T
	if err := castString(raw, reflect.ValueOf(&out).Elem()); err != nil {
		return zero, &Error{Op: "live", Ref: l.name, Code: InvalidArgument, Err: err}
	}
	if l.reuse {
		l.last.Store(&liveValue[T]{raw: raw, v: out})
	}
	return out, nil
}

// String returns "live(REF)" or "live(unbound)"; never a value.
func (v Live[T]) String() string {
	if v.l == nil {
		return "live(unbound)"
	}
	return "live(" + v.l.ref.String() + ")"
}

// GoString returns a Go-syntax-like form naming the reference only.
func (v Live[T]) GoString() string {
	return "vaultly.Live[" + typeName[T]() + "](" + v.String() + ")"
}

// Format writes String for every verb (quoted for %q, GoString for %#v).
func (v Live[T]) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = f.Write([]byte(v.GoString()))
	case verb == 'q':
		_, _ = fmt.Fprintf(f, "%q", v.String())
	default:
		_, _ = f.Write([]byte(v.String()))
	}
}

// LogValue implements slog.LogValuer: the reference only.
func (v Live[T]) LogValue() slog.Value { return slog.StringValue(v.String()) }

// MarshalJSON returns the JSON string of String: the reference only.
func (v Live[T]) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%q", v.String())), nil
}

// MarshalText returns String: the reference only.
func (v Live[T]) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// liveTarget is how Load finds and binds a Live of any T.
type liveTarget interface {
	liveMarker
	bindLive(s *Store, ref Ref, whole bool, o ReadOptions, def *string, name string)
}

func (v *Live[T]) liveElem() reflect.Type { return reflect.TypeFor[T]() }

func (v *Live[T]) bindLive(s *Store, ref Ref, whole bool, o ReadOptions, def *string, name string) {
	v.l = &liveState[T]{s: s, ref: ref, whole: whole, opts: o, def: def, name: name, reuse: reusable(reflect.TypeFor[T]())}
}

func liveElemOf(t reflect.Type) reflect.Type {
	return reflect.New(t).Interface().(liveTarget).liveElem()
}
