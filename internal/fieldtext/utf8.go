package fieldtext

import (
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"unicode/utf8"
)

// NotUTF8Advice ends the error CheckUTF8 returns.
const NotUTF8Advice = "secrets are stored as text (JSON), which would replace the invalid bytes with U+FFFD; encode binary data first, e.g. as base64"

// CheckUTF8 returns an error naming the first field (in sorted order)
// whose name, or any string in whose value, is not valid UTF-8:
// encoding/json, and so every write to Vault and to a JSON file, replaces
// such bytes by U+FFFD without a word. It looks through maps, slices,
// arrays, pointers, interfaces and exported struct fields, and checks what
// json.Marshaler and encoding.TextMarshaler values encode to; a []byte is
// fine (JSON encodes it as base64). The error never contains a value.
func CheckUTF8(fields map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if !utf8.ValidString(k) {
			return fmt.Errorf("field name %q is not valid UTF-8: %s", k, NotUTF8Advice)
		}
		if !validValue(reflect.ValueOf(fields[k]), 0) {
			return fmt.Errorf("field %q: value is not valid UTF-8: %s", k, NotUTF8Advice)
		}
	}
	return nil
}

// validValue reports whether every string json.Marshal would write for v
// is valid UTF-8. Past a depth of 100 (a cycle, which json refuses
// anyway) it gives up and says yes.
func validValue(v reflect.Value, depth int) bool {
	if !v.IsValid() || depth > 100 {
		return true
	}
	switch v.Kind() {
	case reflect.Interface:
		return v.IsNil() || validValue(v.Elem(), depth+1)
	case reflect.Pointer:
		if v.IsNil() {
			return true
		}
	}
	if v.CanInterface() {
		if b, ok, err := marshaled(v.Interface()); ok {
			return err != nil || utf8.Valid(b) // a failing marshaler fails the write on its own
		}
	}
	switch v.Kind() {
	case reflect.String:
		return utf8.ValidString(v.String())
	case reflect.Pointer:
		return validValue(v.Elem(), depth+1)
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if !validValue(it.Key(), depth+1) || !validValue(it.Value(), depth+1) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return true // base64 in JSON
		}
		for i := range v.Len() {
			if !validValue(v.Index(i), depth+1) {
				return false
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !validValue(v.Field(i), depth+1) {
				return false
			}
		}
	}
	return true
}

// marshaled returns what x encodes itself to, for the types that do
// (json.RawMessage, json.Marshaler, encoding.TextMarshaler).
func marshaled(x any) (b []byte, ok bool, err error) {
	switch m := x.(type) {
	case json.Marshaler:
		b, err = m.MarshalJSON()
		return b, true, err
	case encoding.TextMarshaler:
		b, err = m.MarshalText()
		return b, true, err
	}
	return nil, false, nil
}
