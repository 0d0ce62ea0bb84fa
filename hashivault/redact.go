package hashivault

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/vaultly/vaultly/internal/redact"
)

// Format prints o for every verb with Token replaced by "[redacted]", so
// logging the Options a program was started with never shows the token.
func (o Options) Format(f fmt.State, verb rune) {
	type plain Options
	p := plain(o)
	p.Token = redact.String(p.Token)
	p.Address, p.ProxyURL = redactURL(p.Address), redactURL(p.ProxyURL)
	if p.Addresses != nil {
		p.Addresses = make([]string, len(o.Addresses))
		for i, a := range o.Addresses {
			p.Addresses[i] = redactURL(a)
		}
	}
	redact.Format(f, verb, "hashivault.Options", p)
}

// LogValue is the redacted %+v text, for log/slog.
func (o Options) LogValue() slog.Value { return redact.LogValue(o) }

// MarshalJSON encodes the redacted %+v text as a JSON string.
func (o Options) MarshalJSON() ([]byte, error) { return redact.JSON(o) }

// redactURL hides the password of a URL with user info
// (http://user:pass@proxy:3128).
func redactURL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return redact.Marker // unparseable but may hold a password
	}
	return u.Redacted()
}

// Format prints the same text as String for every verb (also for a
// FileConfig value, not only a pointer): never the token or auth parameters.
func (c FileConfig) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue is String, for log/slog.
func (c FileConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

// String names the method, mount and parameter names, never their values
// (a parameter may hold a credential).
func (a FileAuth) String() string {
	s := "method=" + a.Method
	if a.Mount != "" {
		s += " mount=" + a.Mount
	}
	if len(a.Params) > 0 {
		s += " params=[" + strings.Join(slices.Sorted(maps.Keys(a.Params)), " ") + "]"
	}
	return s
}

// Format prints String for every verb.
func (a FileAuth) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, a.String()) }

// LogValue is String, for log/slog.
func (a FileAuth) LogValue() slog.Value { return slog.StringValue(a.String()) }

// tokenText holds the Backend's token behind a pointer to a string. A
// *Backend in an unexported field of a caller's struct is printed by fmt
// without its methods, and under a verb that does not suit a pointer (%s,
// %q, %t, ...) fmt follows that pointer and prints the Backend's fields:
// a string field would show the token there, a pointer shows an address.
type tokenText struct{ p *string }

func newTokenText(s string) tokenText { return tokenText{&s} }

func (t tokenText) get() string {
	if t.p == nil {
		return ""
	}
	return *t.p
}

// String names the backend by its address, namespace and mount; never the
// token.
func (b *Backend) String() string {
	if b == nil || b.s == nil {
		return "hashivault.Backend(<nil>)"
	}
	addr := b.s.Address
	if len(b.s.addrs) > 1 {
		as := make([]string, len(b.s.addrs))
		for i, u := range b.s.addrs {
			as[i] = u.Redacted()
		}
		addr = strings.Join(as, ",")
	}
	s := "hashivault.Backend(" + redactURL(addr)
	if b.s.Namespace != "" {
		s += " namespace=" + b.s.Namespace
	}
	return s + " mount=" + b.s.Mount + ")"
}

// Format prints String for every verb, so %v and %+v of a *Backend do not
// reach its token.
func (b *Backend) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.String()) }

// LogValue is String, for log/slog.
func (b *Backend) LogValue() slog.Value { return slog.StringValue(b.String()) }

// MarshalJSON encodes c with the token and every auth parameter value
// replaced by "[redacted]" (so a FileConfig nested in a JSON log line shows
// no credential). WriteConfigFile writes the real values.
func (c FileConfig) MarshalJSON() ([]byte, error) {
	f := c.file()
	f.Token = redact.String(f.Token)
	if f.Auth != nil {
		f.Auth.Params = redactParams(f.Auth.Params)
	}
	return json.Marshal(f)
}

// MarshalJSON encodes a with every parameter value replaced by
// "[redacted]".
func (a FileAuth) MarshalJSON() ([]byte, error) {
	p := fileAuthJSON(a)
	p.Params = redactParams(p.Params)
	return json.Marshal(p)
}

func redactParams(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = redact.String(v)
	}
	return out
}

// fileConfigJSON is the on-disk form of FileConfig: the same fields with no
// redacting methods. Keep it in step with FileConfig (the round-trip test
// in config_test.go compares every field).
type fileConfigJSON struct {
	Address       string        `json:"address"`
	Namespace     string        `json:"namespace,omitempty"`
	CACert        string        `json:"ca_cert,omitempty"`
	CAPath        string        `json:"ca_path,omitempty"`
	ClientCert    string        `json:"client_cert,omitempty"`
	ClientKey     string        `json:"client_key,omitempty"`
	TLSServerName string        `json:"tls_server_name,omitempty"`
	Mount         string        `json:"mount,omitempty"`
	Token         string        `json:"token,omitempty"`
	Auth          *fileAuthJSON `json:"auth,omitempty"`
}

type fileAuthJSON FileAuth

// file returns a copy of c in its on-disk form.
func (c FileConfig) file() fileConfigJSON {
	f := fileConfigJSON{
		Address: c.Address, Namespace: c.Namespace, CACert: c.CACert, CAPath: c.CAPath,
		ClientCert: c.ClientCert, ClientKey: c.ClientKey, TLSServerName: c.TLSServerName,
		Mount: c.Mount, Token: c.Token,
	}
	if c.Auth != nil {
		a := fileAuthJSON(*c.Auth)
		f.Auth = &a
	}
	return f
}

// String describes e by its path, version and field names; never a value.
// (JSON encoding, which the CLI's -format=json uses, keeps the data.)
func (e KVEntry) String() string {
	s := "hashivault.KVEntry{" + strconv.Quote(e.Path)
	if e.Version.Version != 0 {
		s += " version " + strconv.Itoa(e.Version.Version)
	}
	return s + " fields [" + strings.Join(slices.Sorted(maps.Keys(e.Data)), " ") + "]}"
}

// Format prints String for every verb, so printing or logging an entry
// never shows its values. Read Data for them.
func (e KVEntry) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, e.String()) }

// LogValue is String, for log/slog.
func (e KVEntry) LogValue() slog.Value { return slog.StringValue(e.String()) }
