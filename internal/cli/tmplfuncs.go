package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"

	yamlv2 "gopkg.in/yaml.v2"
)

// helperFuncs are the template functions that read nothing from Vault,
// with consul-template's names, argument order (the piped value last) and
// results, so that a consul-template (or Vault Agent) template renders the
// same text:
//
//	env NAME                   the environment variable ("" when unset)
//	toJSON V, toJSONPretty V   encoding/json, surrounding space trimmed
//	toYAML V                   YAML (yaml.v2, as consul-template), trimmed
//	base64Encode S, base64Decode S, base64URLEncode S, base64URLDecode S
//	split SEP S                strings.Split of S trimmed; "" gives []
//	join SEP LIST              strings.Join
//	trimSpace S, toLower S, toUpper S, replaceAll OLD NEW S, indent N S
//	contains NEEDLE LIST, in LIST NEEDLE
//	                           LIST holds NEEDLE (a list element equal to
//	                           it, or a substring of a string)
//	parseJSON S                the JSON value of S ({} for "")
//	parseYAML S                the YAML value of S ({} for ""), string keys
//	toUnescapedJSON V, toUnescapedJSONPretty V
//	                           toJSON without escaping <, > and &
//	parseBool S, parseInt S, parseFloat S
//	trim CUTSET S, trimPrefix P S, trimSuffix P S, toTitle S
//	regexMatch RE S, regexReplaceAll RE REPL S
//	sha256Hex S                the SHA-256 of S in hex
//	timestamp [LAYOUT]         now, RFC 3339 (or a Go layout; "unix": seconds)
//	add B A, subtract B A, multiply B A, divide B A, modulo B A
//	                           A op B (A piped): integers stay integers
//	containsAll L V, containsAny L V
//	                           V (a list) holds every / some element of L
//	loop [START] END           START (0) up to END-1, for range
//
// Errors never quote the value they were given: it may be a secret.
func helperFuncs() template.FuncMap {
	return template.FuncMap{
		"env":             func(name string) string { return os.Getenv(name) },
		"toJSON":          toJSON,
		"toJSONPretty":    toJSONPretty,
		"toYAML":          toYAML,
		"base64Encode":    func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"base64Decode":    b64Decode("base64Decode", base64.StdEncoding),
		"base64URLEncode": func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) },
		"base64URLDecode": b64Decode("base64URLDecode", base64.URLEncoding),
		"split":           split,
		"join":            func(sep string, a []string) string { return strings.Join(a, sep) },
		"trimSpace":       strings.TrimSpace,
		"toLower":         strings.ToLower,
		"toUpper":         strings.ToUpper,
		"replaceAll":      func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"indent":          indent,
		"contains":        func(v, l any) bool { return in(l, v) },
		"in":              in,
		"parseJSON":       parseJSON,
		"parseYAML":       parseYAML,
		"toUnescapedJSON": func(v any) (string, error) { return unescapedJSON("toUnescapedJSON", v, "") },
		"toUnescapedJSONPretty": func(v any) (string, error) {
			return unescapedJSON("toUnescapedJSONPretty", v, "  ")
		},
		"parseBool":       parseFunc("parseBool", strconv.ParseBool),
		"parseInt":        parseFunc("parseInt", func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }),
		"parseFloat":      parseFunc("parseFloat", func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }),
		"trim":            func(cutset, s string) string { return strings.Trim(s, cutset) },
		"trimPrefix":      func(p, s string) string { return strings.TrimPrefix(s, p) },
		"trimSuffix":      func(p, s string) string { return strings.TrimSuffix(s, p) },
		"toTitle":         toTitle,
		"regexMatch":      regexMatch,
		"regexReplaceAll": regexReplaceAll,
		"sha256Hex":       func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) },
		"timestamp":       timestamp,
		"add":             arith("add"),
		"subtract":        arith("subtract"),
		"multiply":        arith("multiply"),
		"divide":          arith("divide"),
		"modulo":          arith("modulo"),
		"containsAll":     func(l, v any) (bool, error) { return containsSome("containsAll", l, v, true) },
		"containsAny":     func(l, v any) (bool, error) { return containsSome("containsAny", l, v, false) },
		"loop":            loop,
	}
}

// parseFunc wraps a strconv parser with an error that names the function,
// not the text.
func parseFunc[T any](name string, parse func(string) (T, error)) func(string) (T, error) {
	return func(s string) (T, error) {
		v, err := parse(strings.TrimSpace(s))
		if err != nil {
			var zero T
			return zero, errors.New(name + ": the text is not a valid value")
		}
		return v, nil
	}
}

// toTitle upper-cases the first letter of each word and leaves the rest.
func toTitle(s string) string {
	var b strings.Builder
	prev := ' '
	for _, r := range s {
		if !unicode.IsLetter(prev) && !unicode.IsDigit(prev) && prev != '\'' {
			r = unicode.ToTitle(r)
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

func regexMatch(re, s string) (bool, error) {
	c, err := regexp.Compile(re)
	if err != nil {
		return false, errors.New("regexMatch: the pattern is not a valid regular expression")
	}
	return c.MatchString(s), nil
}

func regexReplaceAll(re, repl, s string) (string, error) {
	c, err := regexp.Compile(re)
	if err != nil {
		return "", errors.New("regexReplaceAll: the pattern is not a valid regular expression")
	}
	return c.ReplaceAllString(s, repl), nil
}

func timestamp(layout ...string) (string, error) {
	now := time.Now()
	switch {
	case len(layout) == 0:
		return now.Format(time.RFC3339), nil
	case len(layout) > 1:
		return "", errors.New("timestamp: give at most one layout")
	case layout[0] == "unix":
		return strconv.FormatInt(now.Unix(), 10), nil
	}
	return now.Format(layout[0]), nil
}

// number is a template number as an int64 (integer kinds) or a float64.
func number(v any) (i int64, f float64, isInt, ok bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), 0, true, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return int64(rv.Uint()), 0, true, true
	case reflect.Float32, reflect.Float64:
		return 0, rv.Float(), false, true
	}
	return 0, 0, false, false
}

// arith is consul-template's arithmetic: op(b, a) is a op b, so that
// {{ 10 | subtract 3 }} is 7. Two integers give an integer.
func arith(name string) func(b, a any) (any, error) {
	return func(b, a any) (any, error) {
		ai, af, aInt, aok := number(a)
		bi, bf, bInt, bok := number(b)
		if !aok || !bok {
			return nil, errors.New(name + ": want two numbers")
		}
		if aInt && bInt {
			switch name {
			case "add":
				return ai + bi, nil
			case "subtract":
				return ai - bi, nil
			case "multiply":
				return ai * bi, nil
			}
			if bi == 0 {
				return nil, errors.New(name + ": by zero")
			}
			if name == "divide" {
				return ai / bi, nil
			}
			return ai % bi, nil
		}
		if aInt {
			af = float64(ai)
		}
		if bInt {
			bf = float64(bi)
		}
		switch name {
		case "add":
			return af + bf, nil
		case "subtract":
			return af - bf, nil
		case "multiply":
			return af * bf, nil
		case "divide":
			if bf == 0 {
				return nil, errors.New(name + ": by zero")
			}
			return af / bf, nil
		}
		return nil, errors.New(name + ": want two integers")
	}
}

// containsSome reports whether the list v holds every (all) or some
// element of the list l.
func containsSome(name string, l, v any, all bool) (bool, error) {
	lv, vv := reflect.ValueOf(l), reflect.ValueOf(v)
	if !isList(lv) || !isList(vv) {
		return false, errors.New(name + ": want two lists")
	}
	for i := range lv.Len() {
		found := false
		for j := range vv.Len() {
			if reflect.DeepEqual(lv.Index(i).Interface(), vv.Index(j).Interface()) {
				found = true
				break
			}
		}
		if found && !all {
			return true, nil
		}
		if !found && all {
			return false, nil
		}
	}
	return all, nil
}

func isList(v reflect.Value) bool {
	return v.IsValid() && (v.Kind() == reflect.Slice || v.Kind() == reflect.Array)
}

// maxLoop bounds loop's list: a template cannot make vaultly allocate
// without bound.
const maxLoop = 1 << 20

func loop(args ...any) ([]int64, error) {
	var start, end int64
	switch len(args) {
	case 1, 2:
		for i, a := range args {
			n, _, isInt, ok := number(a)
			if !ok || !isInt {
				return nil, errors.New("loop: want integers")
			}
			if len(args) == 1 || i == 1 {
				end = n
			} else {
				start = n
			}
		}
	default:
		return nil, errors.New("loop: give END, or START and END")
	}
	if end-start > maxLoop {
		return nil, fmt.Errorf("loop: more than %d steps", maxLoop)
	}
	var out []int64
	for i := start; i < end; i++ {
		out = append(out, i)
	}
	return out, nil
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", errors.New("toJSON: the value cannot be encoded as JSON")
	}
	return string(bytes.TrimSpace(b)), nil
}

func toJSONPretty(v any) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", errors.New("toJSONPretty: the value cannot be encoded as JSON")
	}
	return string(bytes.TrimSpace(b)), nil
}

func toYAML(v any) (string, error) {
	b, err := yamlv2.Marshal(yamlReady(v))
	if err != nil {
		return "", errors.New("toYAML: the value cannot be encoded as YAML")
	}
	return string(bytes.TrimSpace(b)), nil
}

// yamlReady turns the json.Number values of Vault's answers into the
// numbers they are (yaml.v2 would write them as strings) and a secret
// object into its Data.
func yamlReady(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = yamlReady(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = yamlReady(e)
		}
		return out
	case *tmplSecret:
		return yamlReady(x.Data)
	}
	return v
}

func b64Decode(name string, enc *base64.Encoding) func(string) (string, error) {
	return func(s string) (string, error) {
		b, err := enc.DecodeString(s)
		if err != nil {
			return "", fmt.Errorf("%s: the value is not valid base64", name)
		}
		return string(b), nil
	}
}

func split(sep, s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return []string{}
	}
	return strings.Split(s, sep)
}

func indent(n int, s string) (string, error) {
	if n < 0 {
		return "", errors.New("indent: the number of spaces must not be negative")
	}
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	start := true
	for _, c := range []byte(s) {
		if start && c != '\n' {
			b.WriteString(pad)
		}
		b.WriteByte(c)
		start = c == '\n'
	}
	return b.String(), nil
}

// in reports whether l holds v: an element of a list or array equal to it
// (numbers compared as numbers, strings as strings), or, when l is a
// string, v as a substring.
func in(l, v any) bool {
	lv, vv := reflect.ValueOf(l), reflect.ValueOf(v)
	if !lv.IsValid() || !vv.IsValid() {
		return false
	}
	switch lv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range lv.Len() {
			e := lv.Index(i)
			for e.Kind() == reflect.Interface && !e.IsNil() {
				e = e.Elem()
			}
			if sameScalar(e, vv) {
				return true
			}
		}
	case reflect.String:
		return vv.Kind() == reflect.String && strings.Contains(lv.String(), vv.String())
	}
	return false
}

func sameScalar(a, b reflect.Value) bool {
	switch {
	case isInt(a) && isInt(b):
		return a.Int() == b.Int()
	case isFloat(a) && isFloat(b):
		return a.Float() == b.Float()
	case a.Kind() == reflect.String && b.Kind() == reflect.String:
		return a.String() == b.String()
	}
	return false
}

func isInt(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}

func isFloat(v reflect.Value) bool { return v.Kind() == reflect.Float32 || v.Kind() == reflect.Float64 }

func unescapedJSON(name string, v any, indent string) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return "", errors.New(name + ": the value cannot be encoded as JSON")
	}
	return strings.TrimRight(b.String(), "\r\n"), nil
}

// parseYAML decodes S as consul-template does, with string map keys so that
// the result prints and indexes as parseJSON's does.
func parseYAML(s string) (any, error) {
	if s == "" {
		return map[string]any{}, nil
	}
	var v any
	if err := yamlv2.Unmarshal([]byte(s), &v); err != nil {
		return nil, errors.New("parseYAML: the value is not valid YAML")
	}
	return stringKeys(v), nil
}

// stringKeys turns yaml.v2's map[any]any into map[string]any, deeply.
func stringKeys(v any) any {
	switch t := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = stringKeys(e)
		}
	}
	return v
}

func parseJSON(s string) (any, error) {
	if s == "" {
		return map[string]any{}, nil
	}
	var v any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, errors.New("parseJSON: the value is not valid JSON")
	}
	return v, nil
}
