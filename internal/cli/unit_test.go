package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
)

func TestNormalizeArgs(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"get", "-address=http://x", "-format", "json", "a:b"}, []string{"get", "--address=http://x", "--format", "json", "a:b"}},
		{[]string{"--format=json", "-h", "-i", "t", "-o", "f"}, []string{"--format=json", "-h", "-i", "t", "-o", "f"}},
		{[]string{"run", "-no-mask", "--", "sh", "-c", "-exit"}, []string{"run", "--no-mask", "--", "sh", "-c", "-exit"}},
		{[]string{"put", "p", "k=-", "-", "-1"}, []string{"put", "p", "k=-", "-", "-1"}},
		{[]string{"-versions=1,2", "-yes"}, []string{"--versions=1,2", "--yes"}},
		{nil, []string{}},
		{[]string{"run", "-no-mask", "ls", "-la", "-address=x"}, []string{"run", "--no-mask", "ls", "-la", "-address=x"}},
		{[]string{"-address", "http://x", "run", "-signal", "HUP", "-interval", "1s", "app", "-flag"}, []string{"--address", "http://x", "run", "--signal", "HUP", "--interval", "1s", "app", "-flag"}},
		{[]string{"get", "-version", "2", "a", "-format=json"}, []string{"get", "--version", "2", "a", "--format=json"}},
		{[]string{"run", "-secret", "secret/app", "-prefix", "DB_", "-kill-timeout", "5s", "-no-mask", "app", "-x"}, []string{"run", "--secret", "secret/app", "--prefix", "DB_", "--kill-timeout", "5s", "--no-mask", "app", "-x"}},
		{[]string{"lease", "revoke", "-prefix", "-format=json", "db/creds/"}, []string{"lease", "revoke", "--prefix", "--format=json", "db/creds/"}},
	}
	for _, tt := range tests {
		got := NormalizeArgs(tt.in)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("NormalizeArgs(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestMasker(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		writes  []string
		want    string
	}{
		{"whole", []string{"s3cret"}, []string{"a s3cret b\n"}, "a ***** b\n"},
		{"split across writes", []string{"s3cret"}, []string{"a s3", "cr", "et b"}, "a ***** b"},
		{"split byte by byte", []string{"abc"}, strings.Split("xabcxab", ""), "x*****xab"},
		{"overlapping, longest wins", []string{"pass", "password"}, []string{"my password"}, "my *****"},
		{"repeated", []string{"xx"}, []string{"xxxxx"}, "**********x"},
		{"prefix held then released", []string{"secret"}, []string{"sec", "ond"}, "second"},
		{"empty secret ignored", []string{""}, []string{"abc"}, "abc"},
		{"no secrets", nil, []string{"abc", "def"}, "abcdef"},
		{"several secrets", []string{"one", "two"}, []string{"one two three"}, "***** ***** three"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			m := newMasker(&buf, tt.secrets)
			for _, w := range tt.writes {
				if n, err := m.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("masked %q = %q, want %q", tt.writes, got, tt.want)
			}
		})
	}
}

func TestMaskerConcurrent(t *testing.T) {
	var buf bytes.Buffer
	m := newMasker(&buf, []string{"topsecret"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				m.Write([]byte("topsecret\n"))
			}
		})
	}
	wg.Wait()
	m.Close()
	if strings.Contains(buf.String(), "topsecret") || strings.Count(buf.String(), "*****\n") != 800 {
		t.Errorf("concurrent writes: %d masked lines, secret present %v", strings.Count(buf.String(), "*****\n"), strings.Contains(buf.String(), "topsecret"))
	}
}

func TestRefsIn(t *testing.T) {
	text := "DB=vault://app/db:password\nURL=\"vault://app/api?version=2\"\n{{ secret \"app/x:y\" }} {{secret   \"vault://app/z\"}}\nplain=1"
	want := []string{"vault://app/db:password", "vault://app/api?version=2", "vault://app/z", "app/x:y", "vault://app/z"}
	if diff := cmp.Diff(want, refsIn(text)); diff != "" {
		t.Errorf("refsIn (-want +got):\n%s", diff)
	}
}

func TestEnvRefs(t *testing.T) {
	got, err := envRefs([]string{"A=vault://app/db:pw", "B=plain", "C=vault://app/db?version=3", "D="})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]vaultly.Ref{"A": {Path: "app/db", Key: "pw"}, "C": {Path: "app/db", Version: 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("envRefs (-want +got):\n%s", diff)
	}
	if _, err := envRefs([]string{"X=vault://a/../b"}); err == nil || !strings.Contains(err.Error(), "environment variable X") {
		t.Errorf("envRefs with a bad reference: %v", err)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{usagef("x"), ExitUsage},
		{&exitError{code: 42}, 42},
		{vaultly.WrapError("get", "a", "vault", driver.NewError(driver.NotFound, errors.New("no"))), ExitError},
		{vaultly.WrapError("get", "a", "vault", driver.NewError(driver.PermissionDenied, errors.New("no"))), ExitError},
		{func() error { _, err := vaultly.ParseRef("a/../b"); return err }(), ExitUsage},
		{errors.New("plain"), ExitError},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestParseFields(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "doc.json")
	if err := os.WriteFile(doc, []byte(`{"port": 5432, "on": true, "name": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  map[string]any
	}{
		{"values, stdin byte for byte", []string{"a=1", "b=", "c=x=y", "d=-"}, "from stdin\n",
			map[string]any{"a": "1", "b": "", "c": "x=y", "d": "from stdin\n"}},
		{"escaped @", []string{`e=\@literal`}, "", map[string]any{"e": "@literal"}},
		{"json document from a file", []string{"@" + doc, "extra=1"}, "",
			map[string]any{"port": json.Number("5432"), "on": true, "name": "x", "extra": "1"}},
		{"json document from stdin", []string{"-"}, `{"k": "v"}`, map[string]any{"k": "v"}},
	}
	for _, tt := range tests {
		g := &globals{io: IO{In: strings.NewReader(tt.stdin)}}
		got, err := g.parseFields(tt.args)
		if err != nil {
			t.Errorf("%s: parseFields(%q): %v", tt.name, tt.args, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: parseFields (-want +got):\n%s", tt.name, diff)
		}
	}
	for _, bad := range [][]string{{"=v"}, {"a=1", "a=2"}, {"a=-", "b=-"}, {"a"}, {"-", "a=-"}, {"@" + doc, "name=y"}, {"@/nonexistent.json"}} {
		g := &globals{io: IO{In: strings.NewReader(`{"a": "1"}`)}}
		_, err := g.parseFields(bad)
		if ExitCode(err) != ExitUsage {
			t.Errorf("parseFields(%q) = %v, want a usage error", bad, err)
		}
	}
	// A secret typed where a key was expected is never echoed.
	g := &globals{io: IO{In: strings.NewReader("")}}
	_, err := g.parseFields([]string{"a=1", "hunter2-typed-as-key"})
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "field argument 2") {
		t.Errorf("parseFields with a lone value: %v, want an error naming argument 2 and not its text", err)
	}
	// A malformed json document is described by position, not quoted.
	g = &globals{io: IO{In: strings.NewReader(`{"pw": "hunter2", oops}`)}}
	_, err = g.parseFields([]string{"-"})
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "oops") {
		t.Errorf("parseFields with bad json: %v, want an error without the text", err)
	}
}

func TestMaskForms(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   []string
	}{
		{"short values are not masked", []string{"ab", "1", "true"}, nil},
		{"a value, its base64 forms", []string{"s3cr?>"}, []string{"s3cr?>", "s3cr?\\u003e", "czNjcj8+", "czNjcj8-"}},
		{"lines of a pem, not its armour", []string{"-----BEGIN K-----\nAAAABBBB\nCCCCDDDD\n-----END K-----\n"},
			[]string{"-----BEGIN K-----\nAAAABBBB\nCCCCDDDD\n-----END K-----\n", "AAAABBBB", "CCCCDDDD",
				`-----BEGIN K-----\nAAAABBBB\nCCCCDDDD\n-----END K-----\n`,
				"LS0tLS1CRUdJTiBLLS0tLS0KQUFBQUJCQkIKQ0NDQ0REREQKLS0tLS1FTkQgSy0tLS0tCg"}},
	}
	for _, tt := range tests {
		got := maskForms(tt.values)
		if diff := cmp.Diff(tt.want, dedupe(got)); diff != "" {
			t.Errorf("%s: maskForms (-want +got):\n%s", tt.name, diff)
		}
	}
	// A masker learns values while it runs (a rotated value, -signal).
	var buf bytes.Buffer
	m := newMasker(&buf, []string{"first-secret"})
	m.Write([]byte("first-secret "))
	m.add([]string{"second-secret"})
	m.Write([]byte("second-secret\n"))
	m.Close()
	if got := buf.String(); got != "***** *****\n" {
		t.Errorf("masker after add = %q", got)
	}
}

// dedupe drops repeated strings, keeping the first of each.
func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestJSONFieldsRefusesInvalidUTF8: a whole JSON document given to put (as
// @file or -) with bytes that are not UTF-8 is refused, not stored with
// U+FFFD in their place; the error shows no byte of it.
func TestJSONFieldsRefusesInvalidUTF8(t *testing.T) {
	doc := []byte("{\"k\":\"canary-\xff\xfe-value\"}")
	m, err := jsonFields(doc)
	if err == nil {
		t.Fatalf("jsonFields(invalid UTF-8) = %v, nil; want an error", m)
	}
	if strings.Contains(err.Error(), "canary") || !strings.Contains(err.Error(), "base64") {
		t.Errorf("error = %q; want base64 advice and no value", err)
	}
	if _, err := jsonFields([]byte(`{"k":"h\u00e9llo"}`)); err != nil {
		t.Errorf("jsonFields(valid UTF-8) = %v", err)
	}
}
