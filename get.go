package vaultly

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// GetAs reads ref through s, like Store.Get, and converts the value to T with
// the cast rules that Load, Live and Secret's Unmarshal methods also use.
// Backend values are text: strings as they are, other JSON values as their
// JSON encoding (42 as "42", objects and arrays as JSON).
//
//   - string as is; []byte: the bytes of the text as is (not base64)
//   - bool: true/false, 1/0, yes/no, on/off, in any case
//   - int, int8…int64, uint…uint64, uintptr: base 10, with range checks
//   - float32, float64: strconv.ParseFloat, with range checks
//   - time.Duration: time.ParseDuration ("90s", "1h30m"); time.Time: RFC 3339
//   - url.URL and *url.URL: url.Parse
//   - types whose pointer implements encoding.TextUnmarshaler, then
//     json.Unmarshaler (given the text if it is valid JSON, else the text as
//     a JSON string)
//   - slices, arrays, maps and structs: encoding/json
//   - Secret[T] and *T of any of these
//
// Surrounding white space is ignored for bools, numbers, durations and
// times. string, int, int64, float64, bool and time.Duration take a fast
// path that does not allocate on a warm (cached) key; other types go through
// reflection.
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
	case *int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return out, getCastError(ref, &castError{typ: "int64", reason: strconvReason(err)})
		}
		*p = n
		return out, nil
	case *float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return out, getCastError(ref, &castError{typ: "float64", reason: strconvReason(err)})
		}
		*p = f
		return out, nil
	case *time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return out, getCastError(ref, &castError{typ: "time.Duration", reason: "invalid duration"})
		}
		*p = d
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
