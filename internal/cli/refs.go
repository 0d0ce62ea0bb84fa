package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vaultly/vaultly"
)

// parseRefAt parses a reference found at where (an environment variable,
// a template) without ever echoing it: a reference may have been pasted
// with a password in it (vault://user:password@host/...), so errors name
// where, and why, not the text.
func parseRefAt(where, s string) (vaultly.Ref, error) {
	if rest, ok := strings.CutPrefix(s, vaultly.URIScheme); ok {
		if authority, _, _ := strings.Cut(rest, "/"); strings.Contains(authority, "@") {
			return vaultly.Ref{}, usagef("%s: a vault:// reference names a path, not a server: it has no user@ or user:password@ part (the address and credentials come from -address, VAULT_ADDR, VAULT_TOKEN, ...)", where)
		}
	}
	r, err := vaultly.ParseRef(s)
	if err != nil {
		if e, ok := errors.AsType[*vaultly.Error](err); ok {
			c := *e
			c.Ref = where // the library's Ref is the text itself
			return vaultly.Ref{}, &usageError{&c}
		}
		return vaultly.Ref{}, usagef("%s: not a valid reference", where)
	}
	return r, nil
}

// refReader reads references through one Store per mount, resolving the
// mount of each path as `vault kv` does (secret/myapp/db:password), so
// run, inject and doctor read exactly what get reads. Not safe for
// concurrent use.
type refReader struct {
	k *kvConn
}

// read returns the value ref names. where (a variable, a template) goes
// into errors.
func (r *refReader) read(ctx context.Context, where string, ref vaultly.Ref) (string, error) {
	t, err := r.k.resolve(ctx, ref.Path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	s, err := r.k.store(ctx, t.mount)
	if err != nil {
		return "", err
	}
	ref.Path = t.path
	v, err := s.GetRef(ctx, ref, nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, atTarget(t, err))
	}
	return v, nil
}
