// Package redact prints configuration structs that hold credentials
// (tokens, passwords, secret IDs) with those fields replaced by a marker, so
// an Options value passed to fmt or log/slog never shows a credential.
//
// The functions are safe for concurrent use.
package redact

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
)

// Marker replaces a credential that is set. An unset one stays empty, so
// the printed form still shows which fields were given.
const Marker = "[redacted]"

// String returns Marker when s is set and "" otherwise.
func String(s string) string {
	if s == "" {
		return ""
	}
	return Marker
}

// Format writes v for verb and the flags in f. v must be a copy of the
// caller's value in a type without methods (a local `type plain T`) whose
// credential fields are already replaced; under %#v its type name is
// printed as name (e.g. "token.Options").
func Format(f fmt.State, verb rune, name string, v any) {
	s := fmt.Sprintf(fmt.FormatString(f, verb), v)
	if verb == 'v' && f.Flag('#') {
		if t := reflect.TypeOf(v).String(); strings.HasPrefix(s, t) {
			s = name + s[len(t):]
		}
	}
	_, _ = io.WriteString(f, s)
}

// LogValue is the slog form of v: its %+v text, which for a type with a
// redacting Format has every credential replaced.
func LogValue(v any) slog.Value { return slog.StringValue(fmt.Sprintf("%+v", v)) }

// JSON encodes v's redacted %+v text as a JSON string, for the MarshalJSON
// of configuration structs (reached, for example, through a slog JSON
// handler when the struct is nested in another value).
func JSON(v any) ([]byte, error) { return json.Marshal(fmt.Sprintf("%+v", v)) }
