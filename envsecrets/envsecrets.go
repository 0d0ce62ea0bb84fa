// Package envsecrets is a vaultly backend that reads secrets from
// environment variables, for development and for platforms that inject
// secrets into the environment.
//
// # Mapping
//
// A reference path[:key] names the variable
//
//	PREFIX + NAME(path)                  for the default key "value"
//	PREFIX + NAME(path) + "__" + NAME(key)  for any other key
//
// where NAME upper-cases ASCII letters and turns every character other than
// A–Z and 0–9 into '_'. With Prefix "APP_":
//
//	myapp/db            → APP_MYAPP_DB
//	myapp/db:password   → APP_MYAPP_DB__PASSWORD
//	/payments/api-key   → APP_PAYMENTS_API_KEY
//
// Read(path) collects every such variable into one entry: the variable
// PREFIX+NAME(path) becomes the field "value" and each PREFIX+NAME(path)+"__"+X
// becomes the field lower(X). The mapping is not one-to-one (my-app/db and
// my_app/db share names; keys are matched case-insensitively); choose paths
// and keys that differ in letters or digits. Values are used as they are;
// there are no versions (Read with a version other than 0 is NotFound).
//
// The environment is read at every Read, so changes made with os.Setenv are
// seen once the Store's cache expires. A *Backend is safe for concurrent use
// and holds nothing that needs closing.
package envsecrets

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/vaultly/vaultly/driver"
)

// Options configures a Backend. A nil *Options means defaults.
type Options struct {
	// Prefix is prepended to every variable name, as is (include the
	// separator, e.g. "APP_"). Default: "" (no prefix).
	Prefix string

	// Environ returns the environment as "NAME=value" strings.
	// Default: os.Environ. Tests may pass their own.
	Environ func() []string

	// Name is the backend's name in errors and logs. Default: "env".
	Name string
}

// Backend reads secrets from environment variables. Create it with New.
type Backend struct {
	prefix  string
	environ func() []string
	name    string
}

var _ driver.Backend = (*Backend)(nil)

// New returns a Backend over the process environment (or Options.Environ).
func New(opts *Options) *Backend {
	b := &Backend{environ: os.Environ, name: "env"}
	if opts != nil {
		b.prefix = opts.Prefix
		if opts.Environ != nil {
			b.environ = opts.Environ
		}
		if opts.Name != "" {
			b.name = opts.Name
		}
	}
	return b
}

// VarName returns the environment variable that holds key of the entry at
// path, following the mapping in the package documentation. key "" or
// "value" names the default variable.
func (b *Backend) VarName(path, key string) string {
	n := b.prefix + Name(strings.TrimPrefix(path, "/"))
	if key != "" && key != "value" {
		n += "__" + Name(key)
	}
	return n
}

// Name maps a path or key to its part of a variable name: ASCII letters
// upper-cased, digits kept, everything else '_'.
func Name(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			sb.WriteByte(c - 'a' + 'A')
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			sb.WriteByte(c)
		default:
			sb.WriteByte('_')
		}
	}
	return sb.String()
}

// Name returns the backend's name ("env" unless Options.Name is set).
func (b *Backend) Name() string { return b.name }

// Read returns the entry at path built from the environment. An entry with
// no variable is NotFound; a done ctx is Canceled or DeadlineExceeded.
func (b *Backend) Read(ctx context.Context, path string, version int) (*driver.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, driver.NewError(driver.CodeOf(err), err)
	}
	if version != 0 {
		return nil, driver.NewError(driver.NotFound, errors.New("environment variables have no versions"))
	}
	base := b.VarName(path, "")
	fields := map[string]string{}
	for _, kv := range b.environ() {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if name == base {
			fields["value"] = val
		} else if k, ok := strings.CutPrefix(name, base+"__"); ok && k != "" {
			fields[strings.ToLower(k)] = val
		}
	}
	if len(fields) == 0 {
		return nil, driver.NewError(driver.NotFound, errors.New("no variable "+base+" or "+base+"__*"))
	}
	return &driver.Entry{Path: path, Fields: fields}, nil
}

// Close does nothing.
func (b *Backend) Close() error { return nil }
