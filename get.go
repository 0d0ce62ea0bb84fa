package vaultly

import (
	"context"
	"reflect"
	"strconv"
	"strings"
)

// GetAs reads ref through s, like Store.Get, and converts the value to T with
// the cast rules of Load. string, int and bool take a fast path that does
// not allocate on a warm (cached) key; other types go through reflection.
//
// A value that does not convert is an InvalidArgument *Error naming ref and
// T, never the value. GetAs is safe for concurrent use.
func GetAs[T any](ctx context.Context, s *Store, ref string) (T, error) {
	var out T
	raw, err := s.Get(ctx, ref)
	if err != nil {
		return out, err
	}
	// Fast paths: no reflection and no allocation.
	switch p := any(&out).(type) {
	case *string:
		*p = raw
		return out, nil
	case *int:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, strconv.IntSize)
		if err != nil {
			return out, getCastError(ref, &castError{typ: "int", reason: strconvReason(err)})
		}
		*p = int(n)
		return out, nil
	case *bool:
		b, ok := parseBool(strings.TrimSpace(raw))
		if !ok {
			return out, getCastError(ref, &castError{typ: "bool", reason: "want true/false, 1/0, yes/no or on/off"})
		}
		*p = b
		return out, nil
	}
	return getSlow[T](ref, raw)
}

// getSlow converts with reflection; apart so that GetAs's own variables do
// not escape.
func getSlow[T any](ref, raw string) (T, error) {
	var out T
	if err := castString(raw, reflect.ValueOf(&out).Elem()); err != nil {
		var zero T
		return zero, getCastError(ref, err)
	}
	return out, nil
}

func getCastError(ref string, err error) error {
	if r, perr := ParseRef(ref); perr == nil {
		ref = r.String()
	}
	return &Error{Op: "get", Ref: ref, Code: InvalidArgument, Err: err}
}
