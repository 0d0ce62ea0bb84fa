package vaultly

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// textVal implements encoding.TextUnmarshaler.
type textVal struct{ s string }

func (t *textVal) UnmarshalText(b []byte) error {
	if strings.HasPrefix(string(b), "bad") {
		return &json.SyntaxError{} // an error whose text we must not pass on
	}
	t.s = "text:" + string(b)
	return nil
}

// jsonVal implements json.Unmarshaler only.
type jsonVal struct{ N int }

func (j *jsonVal) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		j.N = n
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if strings.HasPrefix(s, "bad") || strings.HasPrefix(s, "{") {
		return errors.New("jsonVal: bad input " + s) // quotes input: must be dropped
	}
	j.N = len(s)
	return nil
}

type jsonStruct struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

func TestCastString(t *testing.T) {
	t.Parallel()
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tests := []struct {
		name string
		raw  string
		typ  reflect.Type
		want any
	}{
		{"string", " as is\n", reflect.TypeFor[string](), " as is\n"},
		{"bytes", "raw\x00bytes", reflect.TypeFor[[]byte](), []byte("raw\x00bytes")},
		{"bool true", "true", reflect.TypeFor[bool](), true},
		{"bool TRUE", "TRUE", reflect.TypeFor[bool](), true},
		{"bool 1", "1", reflect.TypeFor[bool](), true},
		{"bool 0", "0", reflect.TypeFor[bool](), false},
		{"bool yes", "Yes", reflect.TypeFor[bool](), true},
		{"bool no", "NO", reflect.TypeFor[bool](), false},
		{"bool on", "oN", reflect.TypeFor[bool](), true},
		{"bool off", "Off", reflect.TypeFor[bool](), false},
		{"bool False spaced", " False\n", reflect.TypeFor[bool](), false},
		{"int", "42", reflect.TypeFor[int](), 42},
		{"int negative", "-42", reflect.TypeFor[int](), -42},
		{"int8 max", "127", reflect.TypeFor[int8](), int8(127)},
		{"int8 min", "-128", reflect.TypeFor[int8](), int8(-128)},
		{"int16", "32767", reflect.TypeFor[int16](), int16(32767)},
		{"int32", "-2147483648", reflect.TypeFor[int32](), int32(math.MinInt32)},
		{"int64", "9223372036854775807", reflect.TypeFor[int64](), int64(math.MaxInt64)},
		{"uint", "7", reflect.TypeFor[uint](), uint(7)},
		{"uint8", "255", reflect.TypeFor[uint8](), uint8(255)},
		{"uint16", "65535", reflect.TypeFor[uint16](), uint16(65535)},
		{"uint32", "4294967295", reflect.TypeFor[uint32](), uint32(math.MaxUint32)},
		{"uint64", "18446744073709551615", reflect.TypeFor[uint64](), uint64(math.MaxUint64)},
		{"uintptr", "9", reflect.TypeFor[uintptr](), uintptr(9)},
		{"float32", "1.5", reflect.TypeFor[float32](), float32(1.5)},
		{"float64", "-2.25e3", reflect.TypeFor[float64](), -2250.0},
		{"duration", "1h30m", reflect.TypeFor[time.Duration](), 90 * time.Minute},
		{"time", "2026-01-02T15:04:05Z", reflect.TypeFor[time.Time](), time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)},
		{"time fraction offset", "2026-01-02T15:04:05.5+02:00", reflect.TypeFor[time.Time](), time.Date(2026, 1, 2, 13, 4, 5, 5e8, time.UTC)},
		{"url pointer", "https://db.example:5432/x?y=1", reflect.TypeFor[*url.URL](), mustURL("https://db.example:5432/x?y=1")},
		{"url value", "postgres://h/db", reflect.TypeFor[url.URL](), *mustURL("postgres://h/db")},
		{"text unmarshaler", "abc", reflect.TypeFor[textVal](), textVal{"text:abc"}},
		{"stdlib text unmarshaler", "10.0.0.1", reflect.TypeFor[net.IP](), net.ParseIP("10.0.0.1")},
		{"json unmarshaler number", "42", reflect.TypeFor[jsonVal](), jsonVal{42}},
		{"json unmarshaler bare string", "hello", reflect.TypeFor[jsonVal](), jsonVal{5}},
		{"slice from JSON", `["a","b"]`, reflect.TypeFor[[]string](), []string{"a", "b"}},
		{"array from JSON", `[1,2]`, reflect.TypeFor[[2]int](), [2]int{1, 2}},
		{"map from JSON", `{"a":1,"b":2}`, reflect.TypeFor[map[string]int](), map[string]int{"a": 1, "b": 2}},
		{"struct from JSON", `{"host":"h","port":5432}`, reflect.TypeFor[jsonStruct](), jsonStruct{"h", 5432}},
		{"pointer to int", "5", reflect.TypeFor[*int](), ptr(5)},
		{"secret int", "5", reflect.TypeFor[Secret[int]](), NewSecret(5)},
		{"secret duration", "2s", reflect.TypeFor[Secret[time.Duration]](), NewSecret(2 * time.Second)},
		{"secret map", `{"k":"v"}`, reflect.TypeFor[Secret[map[string]string]](), NewSecret(map[string]string{"k": "v"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkCastable(tt.typ); err != nil {
				t.Fatalf("checkCastable(%v) = %v, want nil", tt.typ, err)
			}
			v := reflect.New(tt.typ).Elem()
			if err := castString(tt.raw, v); err != nil {
				t.Fatalf("castString(%q, %v) = %v, want nil", tt.raw, tt.typ, err)
			}
			got := v.Interface()
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(textVal{}), cmp.Comparer(func(a, b Secret[int]) bool { return a.Reveal() == b.Reveal() }),
				cmp.Comparer(func(a, b Secret[time.Duration]) bool { return a.Reveal() == b.Reveal() }),
				cmp.Comparer(func(a, b Secret[map[string]string]) bool { return cmp.Equal(a.Reveal(), b.Reveal()) })); diff != "" {
				t.Errorf("castString(%q, %v) mismatch (-want +got):\n%s", tt.raw, tt.typ, diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestCastStringErrors(t *testing.T) {
	t.Parallel()
	const canary = "Zq9canaryXw"
	tests := []struct {
		name    string
		raw     string
		typ     reflect.Type
		wantMsg string // substring of the error
	}{
		{"bool", canary, reflect.TypeFor[bool](), "cannot convert value to bool"},
		{"bool t", "t", reflect.TypeFor[bool](), "to bool"},
		{"int syntax", canary, reflect.TypeFor[int](), "cannot convert value to int: invalid syntax"},
		{"int float", "1.5", reflect.TypeFor[int](), "to int: invalid syntax"},
		{"int8 overflow", "128", reflect.TypeFor[int8](), "to int8: out of range"},
		{"int8 underflow", "-129", reflect.TypeFor[int8](), "to int8: out of range"},
		{"int16 overflow", "32768", reflect.TypeFor[int16](), "to int16: out of range"},
		{"int32 overflow", "2147483648", reflect.TypeFor[int32](), "to int32: out of range"},
		{"int64 overflow", "9223372036854775808", reflect.TypeFor[int64](), "to int64: out of range"},
		{"uint8 overflow", "256", reflect.TypeFor[uint8](), "to uint8: out of range"},
		{"uint16 overflow", "65536", reflect.TypeFor[uint16](), "to uint16: out of range"},
		{"uint32 overflow", "4294967296", reflect.TypeFor[uint32](), "to uint32: out of range"},
		{"uint64 overflow", "18446744073709551616", reflect.TypeFor[uint64](), "to uint64: out of range"},
		{"uint negative", "-1", reflect.TypeFor[uint](), "to uint: invalid syntax"},
		{"float32 overflow", "1e39", reflect.TypeFor[float32](), "to float32: out of range"},
		{"float syntax", canary, reflect.TypeFor[float64](), "to float64: invalid syntax"},
		{"duration", canary, reflect.TypeFor[time.Duration](), "to time.Duration: invalid duration"},
		{"duration bare number", "30", reflect.TypeFor[time.Duration](), "to time.Duration"},
		{"time", canary, reflect.TypeFor[time.Time](), "to time.Time: not an RFC 3339 time"},
		{"url", "http://[" + canary, reflect.TypeFor[*url.URL](), "to url.URL: invalid URL"},
		{"text unmarshaler", "bad" + canary, reflect.TypeFor[textVal](), "rejected by UnmarshalText"},
		{"std text unmarshaler", canary, reflect.TypeFor[net.IP](), "to net.IP"},
		{"json unmarshaler", `{"x":"` + canary + `"}`, reflect.TypeFor[jsonVal](), "rejected by UnmarshalJSON"},
		{"json syntax", `{"a":` + canary, reflect.TypeFor[map[string]string](), "invalid JSON at offset"},
		{"json type", `{"a":"` + canary + `"}`, reflect.TypeFor[map[string]int](), "JSON value does not fit int"},
		{"json map key type", `{"` + canary + `":"x"}`, reflect.TypeFor[map[string]int](), "JSON value does not fit int"},
		{"json struct", `{"port":"` + canary + `"}`, reflect.TypeFor[jsonStruct](), "does not fit int"},
		{"slice not JSON", canary + ",b", reflect.TypeFor[[]string](), "invalid JSON"},
		{"secret int", canary, reflect.TypeFor[Secret[int]](), "cannot convert value to int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := reflect.New(tt.typ).Elem()
			err := castString(tt.raw, v)
			if err == nil {
				t.Fatalf("castString(%q, %v) = nil, want error", tt.raw, tt.typ)
			}
			if got := err.Error(); !strings.Contains(got, tt.wantMsg) {
				t.Errorf("castString(%q, %v) = %q, want it to contain %q", tt.raw, tt.typ, got, tt.wantMsg)
			}
			if got := err.Error(); strings.Contains(got, canary) || (len(tt.raw) > 3 && strings.Contains(got, tt.raw)) {
				t.Errorf("castString(%q, %v) = %q: error shows the value", tt.raw, tt.typ, got)
			}
		})
	}
}

func TestCheckCastable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  reflect.Type
		want string // "" = ok
	}{
		{reflect.TypeFor[string](), ""},
		{reflect.TypeFor[*string](), ""},
		{reflect.TypeFor[Secret[[]int]](), ""},
		{reflect.TypeFor[chan int](), "unsupported type chan int"},
		{reflect.TypeFor[func()](), "unsupported type func()"},
		{reflect.TypeFor[complex128](), "unsupported type complex128"},
		{reflect.TypeFor[any](), "unsupported type interface {}"},
		{reflect.TypeFor[**int](), "unsupported type **int"},
		{reflect.TypeFor[Secret[chan int]](), "unsupported type chan int"},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			err := checkCastable(tt.typ)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("checkCastable(%v) = %q, want %q", tt.typ, got, tt.want)
			}
		})
	}
}

var errBadCard = errors.New("bad card number")

// cardNumber rejects its input with an error that quotes it, wrapping a
// sentinel the caller tests for.
type cardNumber string

func (c *cardNumber) UnmarshalText(b []byte) error {
	if !strings.HasPrefix(string(b), "4") {
		return fmt.Errorf("card %q: %w", b, errBadCard)
	}
	*c = cardNumber(b)
	return nil
}

type jsonCard struct{ N string }

func (j *jsonCard) UnmarshalJSON(b []byte) error {
	return fmt.Errorf("card %s: %w", b, errBadCard)
}

type withCard struct {
	Card jsonCard `json:"card"`
}

// chainTexts returns the Error text of err and of everything reachable by
// unwrapping it.
func chainTexts(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, chainTexts(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, chainTexts(e)...)
		}
	}
	return out
}

// TestCastUserErrorReachable: an error from a user's UnmarshalText or
// UnmarshalJSON stays reachable with errors.Is, while its text (which may
// quote the value) is reachable nowhere in the chain.
func TestCastUserErrorReachable(t *testing.T) {
	t.Parallel()
	const canary = "Zq9canaryXw"
	tests := []struct {
		name string
		typ  reflect.Type
		raw  string
	}{
		{"UnmarshalText", reflect.TypeFor[cardNumber](), canary},
		{"UnmarshalText via pointer", reflect.TypeFor[*cardNumber](), canary},
		{"UnmarshalText in Secret", reflect.TypeFor[Secret[cardNumber]](), canary},
		{"UnmarshalJSON", reflect.TypeFor[jsonCard](), `"` + canary + `"`},
		{"UnmarshalJSON not JSON", reflect.TypeFor[jsonCard](), canary},
		{"UnmarshalJSON inside encoding/json", reflect.TypeFor[withCard](), `{"card":"` + canary + `"}`},
		{"UnmarshalText in a slice", reflect.TypeFor[[]cardNumber](), `["` + canary + `"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := castString(tc.raw, reflect.New(tc.typ).Elem())
			if !errors.Is(err, errBadCard) {
				t.Errorf("castString(%v) = %v; want errors.Is(err, errBadCard)", tc.typ, err)
			}
			for _, s := range chainTexts(err) {
				if strings.Contains(s, canary) {
					t.Errorf("castString(%v): %q in the error chain shows the value", tc.typ, s)
				}
			}
		})
	}
}
