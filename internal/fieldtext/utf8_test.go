package fieldtext

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type textish string

func (t textish) MarshalText() ([]byte, error) { return []byte(t), nil }

type jsonish struct{ raw string }

func (j *jsonish) MarshalJSON() ([]byte, error) { return []byte(j.raw), nil }

func TestCheckUTF8(t *testing.T) {
	const bad = "a\xffb"
	type inner struct {
		Name   string
		hidden string // json skips it, so may hold anything
	}
	tests := []struct {
		name   string
		fields map[string]any
		want   string // "" for valid; else a text the error contains
	}{
		{"valid", map[string]any{"k": "héllo ✓", "n": 1, "b": true, "nil": nil, "t": time.Unix(0, 0)}, ""},
		{"bytes are base64", map[string]any{"k": []byte(bad)}, ""},
		{"unexported struct field", map[string]any{"k": inner{Name: "n", hidden: bad}}, ""},
		{"string", map[string]any{"a": "ok", "k": bad}, `field "k": value is not valid UTF-8`},
		{"key", map[string]any{bad: "v"}, `field name "a\xffb" is not valid UTF-8`},
		{"map key inside", map[string]any{"k": map[string]any{bad: 1}}, `field "k"`},
		{"slice", map[string]any{"k": []string{"x", bad}}, `field "k"`},
		{"array", map[string]any{"k": [2]any{"x", bad}}, `field "k"`},
		{"pointer", map[string]any{"k": &[]string{bad}}, `field "k"`},
		{"struct field", map[string]any{"k": inner{Name: bad}}, `field "k"`},
		{"json.RawMessage", map[string]any{"k": json.RawMessage(`"` + bad + `"`)}, `field "k"`},
		{"json.Number", map[string]any{"k": json.Number(bad)}, `field "k"`},
		{"TextMarshaler", map[string]any{"k": textish(bad)}, `field "k"`},
		{"json.Marshaler", map[string]any{"k": &jsonish{`"` + bad + `"`}}, `field "k"`},
		{"valid json.Marshaler", map[string]any{"k": &jsonish{`"ok"`}}, ""},
		{"first field in order", map[string]any{"z": bad, "b": bad}, `field "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckUTF8(tt.fields)
			if tt.want == "" {
				if err != nil {
					t.Errorf("CheckUTF8 = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "base64") {
				t.Errorf("CheckUTF8 = %v, want an error containing %q and suggesting base64", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "a\xffb") {
				t.Errorf("CheckUTF8 error %q contains the raw bytes", err)
			}
		})
	}
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	if err := CheckUTF8(map[string]any{"k": cyclic}); err != nil {
		t.Errorf("CheckUTF8(cycle) = %v, want nil (json refuses the cycle itself)", err)
	}
}
