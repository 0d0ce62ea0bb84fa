package vaultly

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// DefaultKey is the field a reference without ":key" reads, unless the
// backend declares another (driver.DefaultKeyer).
const DefaultKey = "value"

// URIScheme is the scheme of the URI form of a reference:
// vault://PATH[:KEY][?version=N].
const URIScheme = "vault://"

// Ref names one value: a field of an entry at a path, optionally at a
// version. Paths are relative to the backend's mount.
type Ref struct {
	Path    string // cleaned: no leading '/', no empty, '.' or '..' segments
	Key     string // "" means the backend's default key
	Version int    // 0 means the latest version
}

// ParseRef parses "path[:key]" (leading '/' optional) or the URI form
// "vault://path[:key][?version=N]". The key is what follows the last ':'.
// Errors have code InvalidArgument and name the input, which is a reference
// and never a secret.
func ParseRef(s string) (Ref, error) {
	in := s
	var r Ref
	if rest, ok := strings.CutPrefix(s, URIScheme); ok {
		s = rest
		if p, q, ok := strings.Cut(s, "?"); ok {
			s = p
			vals, err := url.ParseQuery(q)
			if err != nil {
				return Ref{}, refError(in, "malformed query")
			}
			for k := range vals {
				if k != "version" {
					return Ref{}, refError(in, fmt.Sprintf("unknown query parameter %q", k))
				}
			}
			if v := vals.Get("version"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return Ref{}, refError(in, "version must be a non-negative integer")
				}
				r.Version = n
			}
		}
	}
	path := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		path, r.Key = s[:i], s[i+1:]
		if r.Key == "" {
			return Ref{}, refError(in, "empty key after ':'")
		}
		if err := checkChars(r.Key); err != "" {
			return Ref{}, refError(in, "key "+err)
		}
	}
	p, msg := cleanPath(path)
	if msg != "" {
		return Ref{}, refError(in, msg)
	}
	r.Path = p
	return r, nil
}

// MustParseRef is like ParseRef but panics on error; for references that are
// constants in the program.
func MustParseRef(s string) Ref {
	r, err := ParseRef(s)
	if err != nil {
		panic(err)
	}
	return r
}

// String returns the reference in "path[:key]" form, with "@version" appended
// when pinned (the form used in errors and logs).
func (r Ref) String() string {
	s := r.Path
	if r.Key != "" {
		s += ":" + r.Key
	}
	if r.Version != 0 {
		s += "@" + strconv.Itoa(r.Version)
	}
	return s
}

// URI returns the reference in vault://path[:key][?version=N] form.
func (r Ref) URI() string {
	s := URIScheme + r.Path
	if r.Key != "" {
		s += ":" + r.Key
	}
	if r.Version != 0 {
		s += "?version=" + strconv.Itoa(r.Version)
	}
	return s
}

// CleanPath validates and cleans an entry path (no key): the leading '/' is
// dropped; empty, '.' and '..' segments and control characters are rejected
// with an InvalidArgument error.
func CleanPath(p string) (string, error) {
	c, msg := cleanPath(p)
	if msg != "" {
		return "", refError(p, msg)
	}
	return c, nil
}

func cleanPath(p string) (string, string) {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "", "empty path"
	}
	if msg := checkChars(p); msg != "" {
		return "", "path " + msg
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return "", "empty path segment"
		case ".", "..":
			return "", "path segment " + strconv.Quote(seg) + " not allowed"
		}
	}
	return p, ""
}

func checkChars(s string) string {
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == '\uFFFD' {
			return "contains a control or invalid character"
		}
	}
	return ""
}

func refError(in, msg string) *Error {
	return newError("parse", strconv.Quote(in), InvalidArgument, "invalid reference: "+msg)
}
