// Package fieldtext turns JSON-like field values into the text form of
// driver.Entry fields: strings as they are, every other value as its
// compact JSON encoding.
package fieldtext

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Normalize converts fields to entry text. It fails, naming the field
// (never the value), when a value cannot be encoded as JSON or is not valid
// UTF-8 (see CheckUTF8).
func Normalize(fields map[string]any) (map[string]string, error) {
	if err := CheckUTF8(fields); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		s, err := Text(fields[k])
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
		out[k] = s
	}
	return out, nil
}

// Text converts one value: a string as it is, json.Number and
// json.RawMessage as their (compacted) text, anything else as compact JSON.
func Text(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case json.RawMessage:
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			return "", fmt.Errorf("invalid JSON value")
		}
		return b.String(), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("value of type %T cannot be encoded as JSON", v)
	}
	return string(b), nil
}

// Decode parses a JSON object of fields, keeping numbers exact, and
// converts it to entry text.
func Decode(data []byte) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if len(v) > 0 && v[0] == '"' {
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, err
			}
		} else {
			t, err := Text(v)
			if err != nil {
				return nil, err
			}
			s = t
		}
		out[k] = s
	}
	return out, nil
}
