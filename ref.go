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
// In the URI form, path and key are percent-decoded after that split (so
// %3A is a ':' inside the path and %3F a '?').
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
	uri := len(s) != len(in)
	path := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		path, r.Key = s[:i], s[i+1:]
		if r.Key == "" {
			return Ref{}, refError(in, "empty key after ':'")
		}
		if uri && strings.Contains(r.Key, "%") {
			k, err := url.PathUnescape(r.Key)
			if err != nil {
				return Ref{}, refError(in, "malformed percent-escape in key")
			}
			r.Key = k
		}
		if err := checkChars(r.Key); err != "" {
			return Ref{}, refError(in, "key "+err)
		}
	}
	if uri && strings.Contains(path, "%") {
		p, err := url.PathUnescape(path)
		if err != nil {
			return Ref{}, refError(in, "malformed percent-escape in path")
		}
		path = p
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

// URI returns the reference in vault://path[:key][?version=N] form. In
// path and key, '%' and '?' are percent-escaped, and ':' in the key (and in
// the path of a reference without key), so that ParseRef(r.URI()) == r.
func (r Ref) URI() string {
	p := uriEscaper.Replace(r.Path)
	if r.Key == "" {
		p = strings.ReplaceAll(p, ":", "%3A")
	}
	s := URIScheme + p
	if r.Key != "" {
		s += ":" + strings.ReplaceAll(uriEscaper.Replace(r.Key), ":", "%3A")
	}
	if r.Version != 0 {
		s += "?version=" + strconv.Itoa(r.Version)
	}
	return s
}

var uriEscaper = strings.NewReplacer("%", "%25", "?", "%3F")

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
