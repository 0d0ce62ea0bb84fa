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
	h, ok := g.cliHint(e)
	if !ok || h == e.Hint {
		return msg
	}
	c := *e
	c.Hint = h
	// err is e, or e inside the command's own "context: %w" wrappers,
	// whose text ends with e's; re-render that part.
	if lib := e.Error(); strings.HasSuffix(msg, lib) {
		return strings.TrimSuffix(msg, lib) + c.Error()
	}
	return c.Error()
}

// cliHint returns the command's hint for the situation e's cause marks.
func (g *globals) cliHint(e *vaultly.Error) (string, bool) {
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
		return fmt.Sprintf(`check that -mount names a kv mount; the token's policy needs path "sys/internal/ui/mounts/%s" { capabilities = ["read"] }`, m.Mount), true
	case hint.VersionDeleted:
		p := m.Path
		if p == "" {
			p = e.Ref
		}
		if i := strings.IndexAny(p, ":@?"); i >= 0 {
			p = p[:i]
		}
		mount := ""
		if g.mount != "" {
			mount = " -mount=" + g.mount
		}
		return "restore it with 'vaultly versions undelete" + mount + " " + p + " -versions " + strconv.Itoa(m.Version) + "'", true
	}
	return "", false
}
