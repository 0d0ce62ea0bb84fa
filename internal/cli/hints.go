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
	c := *e
	changed := false
	if h, ok := g.cliHint(err, e); ok && h != e.Hint {
		c.Hint, changed = h, true
	}
	// An entry is named as commands take it: with its mount.
	if ot, ok := errors.AsType[*onTarget](err); ok && ot.t.path != "" &&
		strings.HasPrefix(c.Ref, ot.t.path) && !strings.HasPrefix(c.Ref, ot.t.String()) {
		c.Ref, changed = ot.t.mount+"/"+c.Ref, true
	}
	if !changed {
		return msg
	}
	// err is e, or e inside the command's own wrappers, whose text holds
	// e's; re-render that part.
	if lib := e.Error(); strings.Contains(msg, lib) {
		return strings.Replace(msg, lib, c.Error(), 1)
	}
	return c.Error()
}

// onTarget ties an error to the entry it is about, so that messages and
// advice name the entry the way a command takes it (secret/myapp/db), not
// relative to its mount as the library does.
type onTarget struct {
	t   kvTarget
	err error
}

func (e *onTarget) Error() string { return e.err.Error() }
func (e *onTarget) Unwrap() error { return e.err }

// atTarget wraps a non-nil err with the entry it is about.
func atTarget(t kvTarget, err error) error {
	if err == nil {
		return nil
	}
	return &onTarget{t, err}
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
		return "set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID, or run 'vaultly login' (or 'vault login')", true
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
		flags := "-versions=" + strconv.Itoa(m.Version)
		if ot, ok := errors.AsType[*onTarget](err); ok {
			p = ot.t.mount + "/" + p
		} else if g.mount != "" {
			flags = "-mount=" + g.mount + " " + flags
		}
		return "restore it with 'vaultly undelete " + flags + " " + p + "'", true
	case hint.UnlistedRedirect:
		return "list every vault node in VAULTLY_ADDRS (comma-separated) so that a standby's redirect to it is followed", true
	case hint.ResponseLimit:
		// The command has no setting for the limit: no Vault answer
		// comes near it.
		return "no vault answer is normally that large: check that the address is a vault server's", true
	}
	return "", false
}
