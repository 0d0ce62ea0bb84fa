package fieldtext

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestText(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{"plain", "plain"},
		{"", ""},
		{json.Number("42"), "42"},
		{json.Number("1.50"), "1.50"},
		{json.RawMessage(`{ "a" : [1, 2] }`), `{"a":[1,2]}`},
		{42, "42"},
		{true, "true"},
		{nil, "null"},
		{map[string]any{"b": 1, "a": "x"}, `{"a":"x","b":1}`},
		{[]any{"eu", "us"}, `["eu","us"]`},
	}
	for _, tt := range tests {
		got, err := Text(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Text(%#v) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestTextErrorsNameNoValue(t *testing.T) {
	if _, err := Text(json.RawMessage(`{"secret-value": `)); err == nil || strings.Contains(err.Error(), "secret-value") {
		t.Errorf("Text(malformed raw JSON) error = %v, want an error without the input", err)
	}
	_, err := Normalize(map[string]any{"pw": make(chan int)})
	if err == nil || !strings.Contains(err.Error(), `"pw"`) {
		t.Errorf("Normalize(unencodable) error = %v, want one naming field \"pw\"", err)
	}
}

func TestDecodeKeepsNumbersExact(t *testing.T) {
	got, err := Decode([]byte(`{"s":"x","n":12345678901234567890,"f":1.10,"b":false,"o":{"k":[1, null]}}`))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := map[string]string{"s": "x", "n": "12345678901234567890", "f": "1.10", "b": "false", "o": `{"k":[1,null]}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode mismatch (-want +got):\n%s", diff)
	}
	if _, err := Decode([]byte(`[1,2]`)); err == nil {
		t.Error("Decode of a JSON array: want an error")
	}
}
