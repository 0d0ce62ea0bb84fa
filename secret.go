package vaultly

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"unsafe"
)

// Redacted is what every printed, logged or marshalled form of a Secret (and
// of a Live) shows instead of the value.
const Redacted = "[redacted]"

// Secret holds a value that must not leak: it prints, logs and marshals as
// [Redacted] through String, GoString, every fmt verb, slog (LogValuer),
// encoding/json and encoding.TextMarshaler. The plaintext sits behind an
// untyped pointer, so even a Secret in an unexported field of a caller's
// struct — which fmt prints field by field without calling methods — shows
// as an address under every verb, flag and width, whatever T is.
// [Secret.Reveal] is the one way out.
//
// The zero Secret holds the zero value of T. A Secret is immutable once
// built and safe for concurrent use; copies share the plaintext.
//
// Load fills Secret[T] fields with the cast rules of T; UnmarshalJSON and
// UnmarshalText build one from configuration files.
type Secret[T any] struct {
	// p is a *T. It is an unsafe.Pointer, not a *T, because fmt follows a
	// *T reached through an unexported field when the verb does not suit a
	// pointer: %s of a *struct, *[]byte, *map or *array prints
	// %!s(*T=&{...}) with the plaintext in it. fmt prints an unsafe.Pointer
	// as an address for every verb, and reflection-based dumpers that walk
	// unexported fields cannot follow it without knowing T.
	p unsafe.Pointer
}

// Value is the common case: a secret string.
type Value = Secret[string]

// NewSecret returns a Secret holding v.
func NewSecret[T any](v T) Secret[T] { return Secret[T]{p: unsafe.Pointer(&v)} }

// Reveal returns the plaintext. It is the only way to read a Secret; grep for
// it to audit where secrets are used.
func (s Secret[T]) Reveal() T {
	if s.p == nil {
		var zero T
		return zero
	}
	return *(*T)(s.p)
}

// IsSet reports whether s was built with a value (by NewSecret, Load or an
// Unmarshal method), as opposed to being the zero Secret.
func (s Secret[T]) IsSet() bool { return s.p != nil }

// String returns [Redacted].
func (s Secret[T]) String() string { return Redacted }

// GoString returns a redacted Go-syntax form, for %#v.
func (s Secret[T]) GoString() string {
	return "vaultly.Secret[" + typeName[T]() + "](" + Redacted + ")"
}

// Format writes [Redacted] for every verb (quoted for %q, Go syntax for %#v),
// so that no verb or flag reaches the value.
func (s Secret[T]) Format(f fmt.State, verb rune) { formatRedacted(f, verb, s.GoString()) }

// LogValue implements slog.LogValuer: the value logs as [Redacted].
func (s Secret[T]) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON returns the JSON string "[redacted]".
func (s Secret[T]) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns [Redacted].
func (s Secret[T]) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// UnmarshalText sets s from text with the cast rules of T (see Load). Errors
// name the target type, never the text.
func (s *Secret[T]) UnmarshalText(text []byte) error {
	p := new(T)
	if err := castString(string(text), reflect.ValueOf(p).Elem()); err != nil {
		return &Error{Op: "decode", Code: InvalidArgument, Err: err}
	}
	s.p = unsafe.Pointer(p)
	return nil
}

// UnmarshalJSON sets s from JSON: a JSON string is converted with the cast
// rules of T, as Load would convert it (so "5432" fills a Secret[int] and
// "abc" a Secret[[]byte] with the three bytes, not base64); any other JSON
// value is decoded into T by encoding/json. Errors name the target type,
// never the input.
func (s *Secret[T]) UnmarshalJSON(data []byte) error {
	var str string
	if len(data) > 0 && data[0] == '"' && json.Unmarshal(data, &str) == nil {
		return s.UnmarshalText([]byte(str))
	}
	p := new(T)
	if err := json.Unmarshal(data, p); err != nil {
		return &Error{Op: "decode", Code: InvalidArgument,
			Err: newCastError(reflect.TypeFor[T](), jsonReason(err))}
	}
	s.p = unsafe.Pointer(p)
	return nil
}

// secretTarget is how Load and the cast rules find a Secret of any T.
type secretTarget interface {
	secretElem() reflect.Type
	// newTarget allocates fresh plaintext storage, installs it and returns
	// it as an addressable value to cast into.
	newTarget() reflect.Value
}

func (s *Secret[T]) secretElem() reflect.Type { return reflect.TypeFor[T]() }

func (s *Secret[T]) newTarget() reflect.Value {
	p := new(T)
	s.p = unsafe.Pointer(p)
	return reflect.ValueOf(p).Elem()
}

var secretTargetType = reflect.TypeFor[secretTarget]()

// secretElemOf returns T when t is Secret[T].
func secretElemOf(t reflect.Type) (reflect.Type, bool) {
	if t.Kind() != reflect.Struct || !reflect.PointerTo(t).Implements(secretTargetType) {
		return nil, false
	}
	return reflect.New(t).Interface().(secretTarget).secretElem(), true
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

// formatRedacted writes the redacted marker for any verb.
func formatRedacted(f fmt.State, verb rune, goSyntax string) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, goSyntax)
	case verb == 'q':
		_, _ = io.WriteString(f, `"`+Redacted+`"`)
	default:
		_, _ = io.WriteString(f, Redacted)
	}
}
