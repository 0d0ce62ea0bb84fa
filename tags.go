package vaultly

import (
	"strconv"
	"strings"
	"time"
)

// tagName is the struct tag Load reads.
const tagName = "secret"

// Sentinels for the errors of struct tags and field types, found before any
// I/O (go-envconfig's style). A failing field's *Error has code
// InvalidArgument, and errors.Is matches both ErrInvalidArgument and one of
// these:
//
//	if errors.Is(err, vaultly.ErrUnknownTagOption) { ... }
var (
	// ErrUnknownTagOption: an option name the grammar does not have.
	ErrUnknownTagOption error = tagKind("unknown tag option")
	// ErrInvalidTagOption: an option with a bad or missing value, given
	// twice, or where it does not apply (default= on a whole entry, prefix=
	// on a field that is not a struct or next to a path or other options,
	// optional with required).
	ErrInvalidTagOption error = tagKind("invalid tag option")
	// ErrRequiredWithDefault: required and default= together.
	ErrRequiredWithDefault error = tagKind("tag options required and default= conflict")
	// ErrInvalidTagPath: no path, or a malformed path or key ("..",
	// empty segments or key, control characters, unbalanced braces).
	ErrInvalidTagPath error = tagKind("invalid path in tag")
	// ErrInvalidPlaceholder: a {name} that is not a Go identifier, not in
	// LoadOptions.Vars nor an untagged field, empty, of a type other than
	// string, integer or bool, or naming a secret field.
	ErrInvalidPlaceholder error = tagKind("invalid placeholder")
	// ErrUnexportedField: a tag on an unexported field, or an unexported
	// struct field holding tags.
	ErrUnexportedField error = tagKind("tag on an unexported field")
	// ErrUnsupportedType: a field type the cast rules cannot produce (chan,
	// func, complex, interface, a map without string keys for a whole
	// entry, a pointer to Live, a recursive struct).
	ErrUnsupportedType error = tagKind("unsupported field type")
)

// tagKind is the type of the tag sentinels: each also matches
// ErrInvalidArgument.
type tagKind string

func (k tagKind) Error() string { return "vaultly: " + string(k) }

// Is makes errors.Is(k, ErrInvalidArgument) true.
func (k tagKind) Is(target error) bool { return target == ErrInvalidArgument }

// tagError is one tag or type problem: its message (which names options,
// placeholders and types, never a value or default= text) and its kind.
type tagError struct {
	kind error
	msg  string
}

func (e *tagError) Error() string { return e.msg }
func (e *tagError) Unwrap() error { return e.kind }

func tagErr(kind error, msg string) error { return &tagError{kind: kind, msg: msg} }

// tagSpec is a parsed `secret:"..."` tag. The grammar is
//
//	secret:"[PATH][:KEY][,OPTION]..."
//
// with the options
//
//	ttl=DURATION   cache the entry this long (time.ParseDuration, > 0)
//	ttl=nocache    read from the backend on every access (NoCache)
//	ttl=forever    cache until Refresh or RefreshAll (UntilRefreshed)
//	version=N      pin version N (>= 1) of a versioned entry
//	required       the entry and key must exist (the default)
//	optional       a missing entry or key leaves the field as it is
//	default=TEXT   a missing entry or key gives TEXT (cast like a value);
//	               must be the last option, TEXT runs to the end of the tag
//	               and may contain commas
//	prefix=PATH    only on a nested struct (or pointer to one) without a
//	               path: PATH is prepended to every path inside it
//	watch=DURATION only on a Live field: watch the entry (latest version)
//	               for changes at this interval (ReadOptions.Watch)
//
// PATH, KEY and PATH of prefix= may contain {name} placeholders.
type tagSpec struct {
	ref       tmpl // PATH[:KEY] before interpolation; may be empty
	ttl       time.Duration
	watch     time.Duration
	version   int
	optional  bool
	required  bool
	def       *string
	prefix    tmpl
	hasPrefix bool
	hasRef    bool
	opts      []string // option names in order, for "not allowed here" checks
}

// tmpl is a string with {name} placeholders, split into literal and
// placeholder parts (odd indexes are placeholder names).
type tmpl struct {
	raw   string
	parts []string
}

func (t tmpl) vars() []string {
	var out []string
	for i := 1; i < len(t.parts); i += 2 {
		out = append(out, t.parts[i])
	}
	return out
}

// expand substitutes placeholders with lookup; the error names the
// placeholder, never its value.
func (t tmpl) expand(lookup func(name string) (string, error)) (string, error) {
	if len(t.parts) <= 1 {
		return t.raw, nil
	}
	var b strings.Builder
	for i, p := range t.parts {
		if i%2 == 0 {
			b.WriteString(p)
			continue
		}
		v, err := lookup(p)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func parseTmpl(s string) (tmpl, error) {
	t := tmpl{raw: s}
	rest := s
	for {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t.parts = append(t.parts, rest)
			return t, nil
		}
		if rest[i] == '}' {
			return tmpl{}, tagErr(ErrInvalidTagPath, "unbalanced '}' in path")
		}
		j := strings.IndexByte(rest[i+1:], '}')
		if j < 0 {
			return tmpl{}, tagErr(ErrInvalidTagPath, "unbalanced '{' in path")
		}
		name := rest[i+1 : i+1+j]
		if !isIdent(name) {
			return tmpl{}, tagErr(ErrInvalidPlaceholder, "placeholder {"+name+"} is not a Go identifier")
		}
		t.parts = append(t.parts, rest[:i], name)
		rest = rest[i+1+j+1:]
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// parseTag parses the value of a secret tag. Errors name options, never
// the text of default=.
func parseTag(tag string) (tagSpec, error) {
	var s tagSpec
	refPart, rest, hasOpts := strings.Cut(tag, ",")
	var err error
	if s.ref, err = parseTmpl(refPart); err != nil {
		return tagSpec{}, err
	}
	s.hasRef = refPart != ""
	seen := map[string]bool{}
	for hasOpts {
		var opt string
		if strings.HasPrefix(rest, "default=") {
			opt, rest, hasOpts = rest, "", false
		} else {
			opt, rest, hasOpts = strings.Cut(rest, ",")
		}
		name, val, hasVal := strings.Cut(opt, "=")
		if name == "" {
			return tagSpec{}, tagErr(ErrInvalidTagOption, "empty tag option")
		}
		if seen[name] {
			return tagSpec{}, tagErr(ErrInvalidTagOption, "duplicate tag option "+strconv.Quote(name))
		}
		seen[name] = true
		s.opts = append(s.opts, name)
		needVal := func() error {
			if !hasVal || val == "" {
				return tagErr(ErrInvalidTagOption, "tag option "+name+"= needs a value")
			}
			return nil
		}
		noVal := func() error {
			if hasVal {
				return tagErr(ErrInvalidTagOption, "tag option "+strconv.Quote(name)+" takes no value")
			}
			return nil
		}
		switch name {
		case "ttl":
			if err := needVal(); err != nil {
				return tagSpec{}, err
			}
			switch val {
			case "nocache":
				s.ttl = NoCache
			case "forever":
				s.ttl = UntilRefreshed
			default:
				d, err := time.ParseDuration(val)
				if err != nil || d <= 0 {
					return tagSpec{}, tagErr(ErrInvalidTagOption, "tag option ttl= must be a positive duration, nocache or forever")
				}
				s.ttl = d
			}
		case "watch":
			if err := needVal(); err != nil {
				return tagSpec{}, err
			}
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return tagSpec{}, tagErr(ErrInvalidTagOption, "tag option watch= must be a positive duration")
			}
			s.watch = d
		case "version":
			if err := needVal(); err != nil {
				return tagSpec{}, err
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return tagSpec{}, tagErr(ErrInvalidTagOption, "tag option version= must be an integer >= 1")
			}
			s.version = n
		case "optional":
			if err := noVal(); err != nil {
				return tagSpec{}, err
			}
			s.optional = true
		case "required":
			if err := noVal(); err != nil {
				return tagSpec{}, err
			}
			s.required = true
		case "default":
			if !hasVal {
				return tagSpec{}, tagErr(ErrInvalidTagOption, "tag option default needs '='")
			}
			s.def = &val
		case "prefix":
			if err := needVal(); err != nil {
				return tagSpec{}, err
			}
			if s.prefix, err = parseTmpl(val); err != nil {
				return tagSpec{}, err
			}
			s.hasPrefix = true
		default:
			return tagSpec{}, tagErr(ErrUnknownTagOption, "unknown tag option "+strconv.Quote(name))
		}
	}
	switch {
	case s.optional && s.required:
		return tagSpec{}, tagErr(ErrInvalidTagOption, "tag options optional and required conflict")
	case s.def != nil && s.required:
		return tagSpec{}, tagErr(ErrRequiredWithDefault, "tag options default= and required conflict")
	case s.watch != 0 && s.version != 0:
		return tagSpec{}, tagErr(ErrInvalidTagOption, "tag option watch= follows the latest version and cannot be combined with version=")
	case s.hasPrefix && s.hasRef:
		return tagSpec{}, tagErr(ErrInvalidTagOption, "tag option prefix= is for nested structs and cannot follow a path")
	case s.hasPrefix && len(s.opts) > 1:
		return tagSpec{}, tagErr(ErrInvalidTagOption, "tag option prefix= cannot be combined with other options")
	case !s.hasRef && !s.hasPrefix:
		return tagSpec{}, tagErr(ErrInvalidTagPath, "tag has no path")
	}
	return s, nil
}

// splitRef splits "PATH[:KEY]" at the last ':'; hasKey is false without one.
func splitRef(s string) (path, key string, hasKey bool) {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// joinPath joins a prefix and a (possibly empty) path.
func joinPath(prefix, p string) string {
	prefix = strings.TrimSuffix(prefix, "/")
	p = strings.TrimPrefix(p, "/")
	switch {
	case prefix == "":
		return p
	case p == "":
		return prefix
	}
	return prefix + "/" + p
}
