package vaultly_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vaultly/vaultly"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    vaultly.Ref
		wantStr string
		wantURI string
	}{
		{"myapp/db", vaultly.Ref{Path: "myapp/db"}, "myapp/db", "vault://myapp/db"},
		{"/myapp/db", vaultly.Ref{Path: "myapp/db"}, "myapp/db", "vault://myapp/db"},
		{"myapp/db:password", vaultly.Ref{Path: "myapp/db", Key: "password"}, "myapp/db:password", "vault://myapp/db:password"},
		{"/a:b:c", vaultly.Ref{Path: "a:b", Key: "c"}, "a:b:c", "vault://a:b:c"}, // the key follows the last ':'
		{"vault://myapp/db:password", vaultly.Ref{Path: "myapp/db", Key: "password"}, "myapp/db:password", "vault://myapp/db:password"},
		{"vault:///myapp/db?version=3", vaultly.Ref{Path: "myapp/db", Version: 3}, "myapp/db@3", "vault://myapp/db?version=3"},
		{"vault://myapp/db:k?version=0", vaultly.Ref{Path: "myapp/db", Key: "k"}, "myapp/db:k", "vault://myapp/db:k"},
		{"a b/ü-1.x", vaultly.Ref{Path: "a b/ü-1.x"}, "a b/ü-1.x", "vault://a b/ü-1.x"},
		{"vault://a%3Ab%3F%25", vaultly.Ref{Path: "a:b?%"}, "a:b?%", "vault://a%3Ab%3F%25"},
		{"vault://a:b%3Ac", vaultly.Ref{Path: "a", Key: "b:c"}, "a:b:c", "vault://a:b%3Ac"},
		{"a/.hidden:k", vaultly.Ref{Path: "a/.hidden", Key: "k"}, "a/.hidden:k", "vault://a/.hidden:k"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := vaultly.ParseRef(tc.in)
			if err != nil {
				t.Fatalf("ParseRef(%q) error: %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseRef(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.wantStr {
				t.Errorf("ParseRef(%q).String() = %q, want %q", tc.in, s, tc.wantStr)
			}
			if u := got.URI(); u != tc.wantURI {
				t.Errorf("ParseRef(%q).URI() = %q, want %q", tc.in, u, tc.wantURI)
			}
			again, err := vaultly.ParseRef(got.URI())
			if err != nil || again != got {
				t.Errorf("ParseRef(URI()) = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestParseRefErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // in the message
	}{
		{"", "empty path"},
		{"/", "empty path"},
		{":key", "empty path"},
		{"a:", "empty key"},
		{"a//b", "empty path segment"},
		{"a/b/", "empty path segment"},
		{"a/../b", `segment ".." not allowed`},
		{"../a", `segment ".." not allowed`},
		{"a/./b", `segment "." not allowed`},
		{".", `segment "." not allowed`},
		{"a\x00b", "control"},
		{"a\nb", "control"},
		{"a\x7f", "control"},
		{"a:k\tx", "key contains a control"},
		{"a\xffb", "invalid character"},
		{"vault://a?v=1", `unknown query parameter "v"`},
		{"vault://a?version=x", "version must be a non-negative integer"},
		{"vault://a?version=-1", "version must be a non-negative integer"},
		{"vault://a?version=%zz", "malformed query"},
		{"vault://a%zz", "malformed percent-escape in path"},
		{"vault://a:%zz", "malformed percent-escape in key"},
		{"vault://a%2F..%2Fb", `segment ".." not allowed`},
		{"vault://a:%0A", "key contains a control"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := vaultly.ParseRef(tc.in)
			if err == nil {
				t.Fatalf("ParseRef(%q) = nil error, want one containing %q", tc.in, tc.want)
			}
			if !errors.Is(err, vaultly.ErrInvalidArgument) {
				t.Errorf("ParseRef(%q) error %v is not ErrInvalidArgument", tc.in, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("ParseRef(%q) error = %q, want it to contain %q", tc.in, msg, tc.want)
			}
			if strings.ContainsAny(msg, "\n\x00") {
				t.Errorf("ParseRef(%q) error %q is not one printable line", tc.in, msg)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Errorf("MustParseRef(bad) did not panic")
		}
	}()
	vaultly.MustParseRef("a/../b")
}

func TestCleanPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"/a/b", "a/b", false},
		{"a", "a", false},
		{"a/../b", "", true},
		{"", "", true},
		{"a//b", "", true},
	}
	for _, tc := range tests {
		got, err := vaultly.CleanPath(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("CleanPath(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// FuzzParseRef: any accepted reference is clean, prints and re-parses to
// itself; any rejected one is an InvalidArgument error on one line.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"myapp/db:password", "/a", "vault://a/b:c?version=2", "a/../b", "a//b", "a:", ":", "vault://?version=1", "a\x00", "a:b:c", "ü/ß:k", "vault://a:b%3Ac", "vault://a%3Ab", "vault://a%2F..%2Fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := vaultly.ParseRef(s)
		if err != nil {
			if vaultly.CodeOf(err) != vaultly.InvalidArgument {
				t.Fatalf("ParseRef(%q) error code = %v, want InvalidArgument", s, vaultly.CodeOf(err))
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("ParseRef(%q) error %q spans lines", s, err)
			}
			return
		}
		if r.Path == "" || strings.HasPrefix(r.Path, "/") || r.Version < 0 {
			t.Fatalf("ParseRef(%q) = %+v: empty or rooted path or negative version", s, r)
		}
		for _, seg := range strings.Split(r.Path, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("ParseRef(%q) = %+v: bad segment %q", s, r, seg)
			}
		}
		if !utf8.ValidString(r.Path) || !utf8.ValidString(r.Key) {
			t.Fatalf("ParseRef(%q) = %+v: invalid UTF-8 accepted", s, r)
		}
		for _, c := range r.Path + r.Key {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("ParseRef(%q) = %+v: control character accepted", s, r)
			}
		}
		// The URI form is the canonical round trip (String appends @version,
		// which is not parseable input).
		again, err := vaultly.ParseRef(r.URI())
		if err != nil {
			t.Fatalf("ParseRef(%q).URI() = %q does not parse: %v", s, r.URI(), err)
		}
		if again != r {
			t.Fatalf("ParseRef(URI %q) = %+v, want %+v", r.URI(), again, r)
		}
	})
}
