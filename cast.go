package vaultly

import (
	"encoding"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The cast rules turn a backend value (always text: strings as they are,
// other JSON values as their JSON encoding) into a Go value. They are used by
// Load, GetAs, Live and Secret's Unmarshal methods:
//
//   - string: as is; []byte: the bytes of the text, as is (not base64)
//   - bool: true/false, 1/0, yes/no, on/off, in any case
//   - int, int8…int64, uint…uint64, uintptr: base 10, with range checks
//   - float32, float64: strconv.ParseFloat with range checks
//   - time.Duration: time.ParseDuration ("90s", "1h30m")
//   - time.Time: RFC 3339 ("2026-01-02T15:04:05Z", fraction optional)
//   - *url.URL, url.URL: url.Parse
//   - anything whose pointer implements encoding.TextUnmarshaler
//   - anything whose pointer implements json.Unmarshaler (given the text if
//     it is valid JSON, else the text as a JSON string)
//   - slices, arrays, maps and structs: encoding/json
//   - Secret[T] for any T above; *T for any T above
//
// Surrounding white space is ignored for bool, numbers, durations and times,
// kept for strings and []byte. A failure names the target type and a reason,
// never the value: strconv and encoding/json errors quote their input and are
// dropped.

var (
	durationType        = reflect.TypeFor[time.Duration]()
	timeType            = reflect.TypeFor[time.Time]()
	urlType             = reflect.TypeFor[url.URL]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// liveMarker is implemented by *Live[T] (see live.go).
type liveMarker interface {
	liveElem() reflect.Type
}

var liveMarkerType = reflect.TypeFor[liveMarker]()

func isLive(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(liveMarkerType)
}

// castError is a cast failure: the target type and a reason, never the
// value. cause is the error of a user's UnmarshalText or UnmarshalJSON (or
// of encoding/json): errors.Is sees through it (Is), but it is not
// unwrapped, since its text may quote the value.
type castError struct {
	typ    string
	reason string
	cause  error
}

// Is reports whether the cause matches target, so that errors.Is finds a
// sentinel a user's Unmarshal method wrapped.
func (e *castError) Is(target error) bool {
	return e.cause != nil && errors.Is(e.cause, target)
}

func (e *castError) Error() string {
	if e.reason == "" {
		return "cannot convert value to " + e.typ
	}
	return "cannot convert value to " + e.typ + ": " + e.reason
}

func newCastError(t reflect.Type, reason string) error {
	return &castError{typ: t.String(), reason: reason}
}

// strconvReason returns a value-free reason for a strconv error.
func strconvReason(err error) string {
	if errors.Is(err, strconv.ErrRange) {
		return "out of range"
	}
	return "invalid syntax"
}

// jsonReason returns a value-free reason for an encoding/json error. Syntax
// errors carry only an offset; type errors only the Go type. Anything
// else (including errors from user Unmarshal methods, which may quote input)
// becomes a generic reason.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "invalid JSON at offset " + strconv.FormatInt(se.Offset, 10)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// te.Field and te.Value are left out: Field holds map keys and
		// Value can hold the number itself.
		return "JSON value does not fit " + te.Type.String()
	}
	return "invalid JSON"
}

// parseBool accepts true/false, 1/0, yes/no, on/off in any case.
func parseBool(s string) (bool, bool) {
	switch len(s) {
	case 1:
		switch s[0] {
		case '1':
			return true, true
		case '0':
			return false, true
		}
	case 2:
		if strings.EqualFold(s, "on") {
			return true, true
		}
		if strings.EqualFold(s, "no") {
			return false, true
		}
	case 3:
		if strings.EqualFold(s, "yes") {
			return true, true
		}
		if strings.EqualFold(s, "off") {
			return false, true
		}
	case 4:
		if strings.EqualFold(s, "true") {
			return true, true
		}
	case 5:
		if strings.EqualFold(s, "false") {
			return false, true
		}
	}
	return false, false
}

// checkCastable reports, before any I/O, whether values of type t can be
// produced by castString. The error is the reason only; callers add the field.
func checkCastable(t reflect.Type) error {
	if elem, ok := secretElemOf(t); ok {
		return checkCastable(elem)
	}
	switch t {
	case durationType, timeType, urlType:
		return nil
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
		return nil
	}
	if isScalar(t.Kind()) {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		if t.Kind() == reflect.Struct && isLive(t) {
			return tagErr(ErrUnsupportedType, "unsupported type "+t.String()+" inside a value")
		}
		return nil // encoding/json decides at Load time
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Pointer {
			return tagErr(ErrUnsupportedType, "unsupported type "+t.String())
		}
		return checkCastable(t.Elem())
	}
	return tagErr(ErrUnsupportedType, "unsupported type "+t.String())
}

// isScalar reports whether k is a string, bool or number kind: a value
// castString parses from its text and that shares no memory.
func isScalar(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// castString converts raw into dst (settable) with the cast rules.
func castString(raw string, dst reflect.Value) error {
	t := dst.Type()
	if dst.CanAddr() {
		if st, ok := dst.Addr().Interface().(secretTarget); ok {
			inner := reflect.New(st.secretElem()).Elem()
			if err := castString(raw, inner); err != nil {
				return err
			}
			st.newTarget().Set(inner)
			return nil
		}
	}
	switch t {
	case durationType:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return newCastError(t, "invalid duration")
		}
		dst.SetInt(int64(d))
		return nil
	case timeType:
		tm, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(raw))
		if err != nil {
			return newCastError(t, "not an RFC 3339 time")
		}
		dst.Set(reflect.ValueOf(tm))
		return nil
	case urlType:
		u, err := url.Parse(raw)
		if err != nil {
			return newCastError(t, "invalid URL")
		}
		dst.Set(reflect.ValueOf(*u))
		return nil
	}
	if t.Kind() == reflect.Pointer {
		v := reflect.New(t.Elem())
		if err := castString(raw, v.Elem()); err != nil {
			return err
		}
		dst.Set(v)
		return nil
	}
	if dst.CanAddr() {
		switch u := dst.Addr().Interface().(type) {
		case encoding.TextUnmarshaler:
			if err := u.UnmarshalText([]byte(raw)); err != nil {
				return &castError{typ: t.String(), reason: "rejected by UnmarshalText", cause: err}
			}
			return nil
		case json.Unmarshaler:
			var first error
			if json.Valid([]byte(raw)) {
				if first = u.UnmarshalJSON([]byte(raw)); first == nil {
					return nil
				}
			}
			q, _ := json.Marshal(raw)
			if err := u.UnmarshalJSON(q); err != nil {
				return &castError{typ: t.String(), reason: "rejected by UnmarshalJSON", cause: errors.Join(first, err)}
			}
			return nil
		}
	}
	switch t.Kind() {
	case reflect.String:
		dst.SetString(raw)
	case reflect.Bool:
		b, ok := parseBool(strings.TrimSpace(raw))
		if !ok {
			return newCastError(t, "want true/false, 1/0, yes/no or on/off")
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, t.Bits())
		if err != nil {
			return newCastError(t, strconvReason(err))
		}
		dst.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, err := strconv.ParseUint(strings.TrimSpace(raw), 10, t.Bits())
		if err != nil {
			return newCastError(t, strconvReason(err))
		}
		dst.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), t.Bits())
		if err != nil {
			return newCastError(t, strconvReason(err))
		}
		dst.SetFloat(f)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !reflect.PointerTo(t.Elem()).Implements(jsonUnmarshalerType) {
			b := reflect.MakeSlice(t, len(raw), len(raw))
			reflect.Copy(b, reflect.ValueOf([]byte(raw)))
			dst.Set(b)
			return nil
		}
		return castJSON(raw, dst)
	case reflect.Array, reflect.Map, reflect.Struct:
		return castJSON(raw, dst)
	default:
		return newCastError(t, "unsupported type")
	}
	return nil
}

func castJSON(raw string, dst reflect.Value) error {
	v := reflect.New(dst.Type())
	if err := json.Unmarshal([]byte(raw), v.Interface()); err != nil {
		return &castError{typ: dst.Type().String(), reason: jsonReason(err), cause: err}
	}
	dst.Set(v.Elem())
	return nil
}
