package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/hint"
)

// errText is the text the command prints for err: the library's error,
// with the library's hint (which names Options fields and Go methods)
// replaced by the command's own wording of the same advice, chosen by the
// situation the library marked (internal/hint), never by reading the text.
func (g *globals) errText(err error) string {
	msg := err.Error()
	e, ok := errors.AsType[*vaultly.Error](err)
	if !ok {
		return msg
	}
	h, ok := g.cliHint(err, e)
	if !ok || h == e.Hint {
		return msg
	}
	c := *e
	c.Hint = h
	// err is e, or e inside the command's own wrappers, whose text holds
	// e's; re-render that part.
	if lib := e.Error(); strings.Contains(msg, lib) {
		return strings.Replace(msg, lib, c.Error(), 1)
	}
	return c.Error()
}

// onMount ties an error to the KV mount of the entry it is about, so that
// advice can name the entry the way a command takes it (secret/myapp/db).
type onMount struct {
	mount string
	err   error
}

func (e *onMount) Error() string { return e.err.Error() }
func (e *onMount) Unwrap() error { return e.err }

// atMount wraps a non-nil err with the mount it is about.
func atMount(mount string, err error) error {
	if err == nil {
		return nil
	}
	return &onMount{mount, err}
}

// cliHint returns the command's hint for the situation e's cause marks;
// err is what the command returned, e inside it.
func (g *globals) cliHint(err error, e *vaultly.Error) (string, bool) {
	m := hint.Of(e)
	if m == nil {
		return "", false
	}
	switch m.Kind {
	case hint.NoAddress:
		return "give -address, set VAULT_ADDR, or run 'vaultly login'", true
	case hint.NoCredentials:
		return "set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID, or run 'vaultly login'", true
	case hint.KVDetect:
		// Vault describes a mount only to a token with a capability under
		// it: the entry's own policy line is what makes it visible.
		example := m.Mount + "/data/<path>"
		if m.Path != "" {
			example = m.Mount + "/data/" + m.Path
		}
		return fmt.Sprintf(`either no kv mount is at %s, or the token may use no path under it: vault describes a mount only to a token with a capability in it, e.g. path %q { capabilities = ["read"] }; check the mount in the path or -mount`, m.Mount, example), true
	case hint.VersionDeleted:
		p := m.Path
		if p == "" {
			p = e.Ref
		}
		if i := strings.IndexAny(p, ":@?"); i >= 0 {
			p = p[:i]
		}
		if om, ok := errors.AsType[*onMount](err); ok && om.mount != "" {
			p = om.mount + "/" + p
		}
		return "restore it with 'vaultly undelete -versions=" + strconv.Itoa(m.Version) + " " + p + "'", true
	}
	return "", false
}
