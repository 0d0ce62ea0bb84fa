package vaultly

import (
	"encoding/json"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzParseTag checks that any tag parses or fails cleanly, that a parsed
// tag is self-consistent, and that errors never show the default= text.
func FuzzParseTag(f *testing.F) {
	for _, s := range []string{
		"/myapp/db:password,ttl=5m,version=2,optional", "a,default=x,y", ",prefix=a/{b}", "a/{b}:{c}",
		"a,ttl=nocache", "a,ttl=forever", "a,optional,required", "a,,", "{", "}", "a,default", ":", "a:b:c",
	} {
		f.Add(s)
	}
	const canary = "Qz8fuzzcanary"
	f.Fuzz(func(t *testing.T, tag string) {
		s, err := parseTag(tag)
		if err == nil {
			if s.optional && s.required {
				t.Errorf("parseTag(%q): optional and required both set", tag)
			}
			if s.def != nil && s.required {
				t.Errorf("parseTag(%q): default and required both set", tag)
			}
			if s.ttl < NoCache || s.ttl == 0 && strings.Contains(tag, ",ttl=") && !strings.Contains(tag, "default=") {
				t.Errorf("parseTag(%q): ttl = %v", tag, s.ttl)
			}
			if s.version < 0 {
				t.Errorf("parseTag(%q): version = %d", tag, s.version)
			}
			for _, tm := range []tmpl{s.ref, s.prefix} {
				got, err := tm.expand(func(string) (string, error) { return "X", nil })
				if err != nil || strings.ContainsAny(got, "{}") && !strings.ContainsAny(tm.raw, "{}") {
					t.Errorf("parseTag(%q): expand(%q) = %q, %v", tag, tm.raw, got, err)
				}
			}
		}
		_, err = parseTag(tag + ",default=" + canary)
		if err != nil && strings.Contains(err.Error(), canary) {
			t.Errorf("parseTag(%q + default) = %q: shows the default", tag, err)
		}
	})
}

// castErrorRE is every message a cast failure may have: fixed words, a Go
// type name and an offset. Nothing from the input fits in it.
var castErrorRE = regexp.MustCompile(`^cannot convert value to [\w.\[\]*]+(: (invalid syntax|out of range|invalid duration|not an RFC 3339 time|invalid URL|rejected by UnmarshalText|rejected by UnmarshalJSON|want true/false, 1/0, yes/no or on/off|invalid JSON|invalid JSON at offset \d+|JSON value does not fit [\w.\[\]*]+))?$`)

type fuzzStruct struct{ A []int }

type fuzzEntry struct{ A time.Duration }

// FuzzCast feeds any text to the cast rules of many types: no panic, and a
// failure's message is one of the fixed forms, so it cannot carry input.
func FuzzCast(f *testing.F) {
	for _, s := range []string{"42", "-1", "true", "Off", "1.5e300", "90s", "2026-01-02T15:04:05Z", "http://[::1]:x",
		`{"a":1}`, `["x"]`, `{"a":"b"`, "\x00", "18446744073709551616", `"s"`, "null"} {
		f.Add(s)
	}
	types := []reflect.Type{
		reflect.TypeFor[string](), reflect.TypeFor[[]byte](), reflect.TypeFor[bool](), reflect.TypeFor[int](),
		reflect.TypeFor[int8](), reflect.TypeFor[uint16](), reflect.TypeFor[uint64](), reflect.TypeFor[float32](),
		reflect.TypeFor[time.Duration](), reflect.TypeFor[time.Time](), reflect.TypeFor[*url.URL](),
		reflect.TypeFor[[]string](), reflect.TypeFor[map[string]int](), reflect.TypeFor[fuzzStruct](),
		reflect.TypeFor[[2]bool](), reflect.TypeFor[Secret[int]](), reflect.TypeFor[*Secret[map[string]string]](),
		reflect.TypeFor[json.RawMessage](), reflect.TypeFor[json.Number](),
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, typ := range types {
			err := castString(raw, reflect.New(typ).Elem())
			if err != nil && !castErrorRE.MatchString(err.Error()) {
				t.Errorf("castString(%q, %v) = %q: not a fixed message", raw, typ, err)
			}
		}
		fields := map[string]string{"a": raw, "A": raw}
		for _, typ := range []reflect.Type{reflect.TypeFor[map[string]int](), reflect.TypeFor[fuzzEntry]()} {
			err := castEntry(fields, reflect.New(typ).Elem())
			if err != nil {
				msg := err.Error()
				_, rest, _ := strings.Cut(msg, ": ")
				if !castErrorRE.MatchString(rest) {
					t.Errorf("castEntry(%q, %v) = %q: not a fixed message", raw, typ, msg)
				}
			}
		}
		var sec Secret[int]
		if err := sec.UnmarshalJSON([]byte(raw)); err != nil {
			rest, ok := strings.CutPrefix(err.Error(), "vaultly: decode: invalid argument: ")
			if !ok || !castErrorRE.MatchString(rest) {
				t.Errorf("Secret[int].UnmarshalJSON(%q) = %q: not a fixed message", raw, err)
			}
		}
	})
}
