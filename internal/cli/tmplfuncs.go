package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"text/template"

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
	}
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
