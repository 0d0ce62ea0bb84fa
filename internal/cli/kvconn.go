package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/hashivault"
)

// kvTarget is where an entry lives: a KV mount and the path inside it.
type kvTarget struct {
	mount string // without a trailing '/'
	path  string // relative to mount; "" for the mount's root
}

// String is the mount-prefixed form, as `vault kv` takes it.
func (t kvTarget) String() string {
	if t.path == "" {
		return t.mount + "/"
	}
	return t.mount + "/" + t.path
}

// mountInfo is what sys/internal/ui/mounts said about a mount.
type mountInfo struct {
	path    string // with a trailing '/', e.g. "secret/"
	typ     string // the secrets engine: "kv", "generic", "database", "pki", ...
	version int    // KV version, 1 or 2; 0 for an engine that is not KV
}

// isKV reports whether the mount is a KV (or generic, KV v1's old name)
// secrets engine.
func (m mountInfo) isKV() bool { return m.typ == "" || m.typ == "kv" || m.typ == "generic" }

// kvConn is one command's connection to Vault's KV mounts. It resolves
// paths to mounts the way `vault kv` does and holds one Backend per mount
// (and one Store per mount whose values are read through a Store). The
// first Backend logs in; the others use its token, so a command logs in
// once whatever mounts it touches. Close closes everything. Not safe for
// concurrent use.
type kvConn struct {
	g        *globals
	primary  *hashivault.Backend
	backends map[string]*hashivault.Backend // by mount, the primary included
	stores   map[string]*vaultly.Store      // by mount
	mounts   []mountInfo                    // seen so far
}

// kv connects and logs in. The caller closes the result.
func (g *globals) kv(ctx context.Context) (*kvConn, error) {
	b, err := g.backend(ctx)
	if err != nil {
		return nil, err
	}
	return &kvConn{g: g, primary: b, backends: map[string]*hashivault.Backend{b.Mount(): b}, stores: map[string]*vaultly.Store{}}, nil
}

// Close closes every Store and Backend, the primary last (the others
// borrow its token).
func (k *kvConn) Close() error {
	var errs []error
	for m, s := range k.stores {
		errs = append(errs, s.Close()) // closes its backend
		delete(k.backends, m)
	}
	for m, b := range k.backends {
		if b != k.primary {
			errs = append(errs, b.Close())
		}
		delete(k.backends, m)
	}
	errs = append(errs, k.primary.Close())
	return errors.Join(errs...)
}

// defaultMount is the mount of a path that names none: -mount, else the
// saved login's, else "secret".
func (k *kvConn) defaultMount() string { return k.primary.Mount() }

// apiPrefixes are the KV v2 HTTP API segments a path copied from a policy
// or a curl command carries after the mount.
var apiPrefixes = []string{"data/", "metadata/", "delete/", "undelete/", "destroy/"}

// resolve finds the mount of p (a path as a command got it: "secret/app/db"
// or, with -mount, "app/db"). With -mount, p is relative to it. Otherwise,
// as `vault kv` does, sys/internal/ui/mounts/<p> names the mount p starts
// with; when the token may see no mount there (Vault answers 403 both for
// a path under no mount and for one the token has no capability under), p
// is relative to the default mount. A KV v2 path that still carries its
// API segment (secret/data/app/db) is refused with the form to write, and
// a path under a mount that is not KV is refused with the advice to use
// creds.
func (k *kvConn) resolve(ctx context.Context, p string) (kvTarget, error) {
	t, m, err := k.resolveAny(ctx, p)
	if err != nil {
		return kvTarget{}, err
	}
	if !m.isKV() {
		return kvTarget{}, usagef("%s is under %s, a %q secrets engine, not kv (for dynamic secrets: 'vaultly creds PATH')", strings.Trim(p, "/"), m.path, m.typ)
	}
	if m.version == 2 {
		for _, seg := range apiPrefixes {
			if inner, ok := strings.CutPrefix(t.path+"/", seg); ok {
				inner = strings.TrimSuffix(inner, "/")
				right := kvTarget{t.mount, inner}
				return kvTarget{}, usagef("%s is the HTTP API path of %s: write %s (or -mount=%s %s)", strings.Trim(p, "/"), right, right, t.mount, inner)
			}
		}
	}
	return t, nil
}

// resolveAny is resolve for any secrets engine: it returns the target and
// what is known of its mount (typ "" when the mount was not looked up:
// -mount, or a path the token may see no mount of; both mean KV). For a
// mount that is not KV, the target's path is relative to it and the full
// Vault path is t.String(). The KV v2 API segment is left in place.
func (k *kvConn) resolveAny(ctx context.Context, p string) (kvTarget, mountInfo, error) {
	dir := strings.HasSuffix(p, "/") // a list prefix keeps its slash
	p = strings.Trim(p, "/")
	withSlash := func(s string) string {
		if dir && s != "" {
			return s + "/"
		}
		return s
	}
	if k.g.mountSet {
		mount := strings.Trim(k.g.mount, "/")
		return kvTarget{mount: mount, path: withSlash(p)}, mountInfo{path: mount + "/"}, nil // taken as KV, unchecked
	}
	if p == "" {
		return kvTarget{mount: k.defaultMount()}, mountInfo{path: k.defaultMount() + "/"}, nil
	}
	m, ok := k.knownMount(p)
	if !ok {
		var err error
		m, ok, err = k.lookupMount(ctx, p)
		if err != nil {
			return kvTarget{}, mountInfo{}, err
		}
	}
	if !ok {
		return kvTarget{mount: k.defaultMount(), path: withSlash(p)}, mountInfo{path: k.defaultMount() + "/"}, nil
	}
	rest := strings.TrimSuffix(strings.TrimPrefix(p+"/", m.path), "/")
	return kvTarget{mount: strings.TrimSuffix(m.path, "/"), path: withSlash(rest)}, m, nil
}

// knownMount returns the mount already seen that p starts with.
func (k *kvConn) knownMount(p string) (mountInfo, bool) {
	best := mountInfo{}
	for _, m := range k.mounts {
		if strings.HasPrefix(p+"/", m.path) && len(m.path) > len(best.path) {
			best = m
		}
	}
	return best, best.path != ""
}

// lookupMount asks Vault which mount p is under. ok is false when no mount
// the token may see is there (403), or the answer's mount is not a prefix
// of p (a namespace's mount). Every mount seen is remembered, KV or not.
func (k *kvConn) lookupMount(ctx context.Context, p string) (mountInfo, bool, error) {
	var sec *api.Secret
	err := k.primary.Call(ctx, func(ctx context.Context, c *api.Client) error {
		var err error
		sec, err = c.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+strings.TrimSuffix(p, "/"))
		return err
	})
	switch {
	case vaultly.CodeOf(err) == vaultly.PermissionDenied:
		return mountInfo{}, false, nil
	case err != nil:
		return mountInfo{}, false, vaultly.WrapError("resolve mount", p, k.primary.Name(), err)
	case sec == nil || sec.Data == nil:
		return mountInfo{}, false, nil
	}
	path, _ := sec.Data["path"].(string)
	typ, _ := sec.Data["type"].(string)
	if path == "" || !strings.HasPrefix(p+"/", path) {
		return mountInfo{}, false, nil
	}
	if typ == "" {
		typ = "kv"
	}
	m := mountInfo{path: path, typ: typ}
	if m.isKV() {
		m.version = 1
		if opts, ok := sec.Data["options"].(map[string]any); ok && opts["version"] == "2" {
			m.version = 2
		}
	}
	k.mounts = append(k.mounts, m)
	return m, true, nil
}

// kvVersion returns the KV version seen for mount, or 0 when unknown.
func (k *kvConn) kvVersion(mount string) int {
	for _, m := range k.mounts {
		if m.path == mount+"/" {
			return m.version
		}
	}
	return 0
}

// backend returns the Backend of mount, creating it on first use with the
// primary's token.
func (k *kvConn) backend(ctx context.Context, mount string) (*hashivault.Backend, error) {
	if b, ok := k.backends[mount]; ok {
		return b, nil
	}
	o := k.g.options()
	o.Mount = mount
	o.KVVersion = k.kvVersion(mount)
	o.Auth = borrowedToken(k.primary)
	o.Token = ""
	b, err := hashivault.New(ctx, o)
	if err != nil {
		return nil, vaultly.WrapError("connect", mount, "vault", err)
	}
	k.backends[mount] = b
	return b, nil
}

// refreshAll reads again what the Stores hold, for run's waiting start:
// an attempt must see what was written since the one before. Errors are
// left to the attempt.
func (k *kvConn) refreshAll(ctx context.Context) {
	for _, s := range k.stores {
		_ = s.RefreshAll(ctx)
	}
}

// store returns the Store over mount's Backend.
func (k *kvConn) store(ctx context.Context, mount string) (*vaultly.Store, error) {
	if s, ok := k.stores[mount]; ok {
		return s, nil
	}
	b, err := k.backend(ctx, mount)
	if err != nil {
		return nil, err
	}
	o := k.g.storeOptions()
	if k.g.health != nil {
		o.MeterProvider = k.g.health.mp
	}
	s := vaultly.New(b, o)
	k.stores[mount] = s
	k.g.health.add(mount, s)
	return s, nil
}

// target resolves p and returns the Backend of its mount.
func (k *kvConn) target(ctx context.Context, p string) (kvTarget, *hashivault.Backend, error) {
	t, err := k.resolve(ctx, p)
	if err != nil {
		return kvTarget{}, nil, err
	}
	b, err := k.backend(ctx, t.mount)
	if err != nil {
		return kvTarget{}, nil, err
	}
	return t, b, nil
}

// borrowedToken is the auth method of a mount's Backend other than the
// primary: its "login" is the primary's current token, which the primary
// renews and replaces. It reports no TTL, so the borrower never renews or
// revokes it; when Vault rejects it, the borrower asks again and gets the
// token the primary has by then.
func borrowedToken(primary *hashivault.Backend) auth.Method {
	return auth.MethodFunc(func(ctx context.Context, _ *api.Client) (*api.Secret, error) {
		var tok string
		err := primary.Call(ctx, func(_ context.Context, c *api.Client) error {
			tok = c.Token()
			return nil
		})
		if err != nil {
			return nil, err
		}
		return &api.Secret{Auth: &api.SecretAuth{ClientToken: tok}}, nil
	})
}

// mountNamedHint is the advice for a path not found under an explicit
// -mount when the path starts with that mount's own name.
func (k *kvConn) mountNamedHint(t kvTarget, err error) error {
	first, rest, _ := strings.Cut(t.path, "/")
	if !k.g.mountSet || first != t.mount || rest == "" || vaultly.CodeOf(err) != vaultly.NotFound {
		return err
	}
	return fmt.Errorf("%w (the path starts with the mount's name: write -mount=%s %s, or %s without -mount)", err, t.mount, rest, t.path)
}
