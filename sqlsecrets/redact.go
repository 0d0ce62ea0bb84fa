package sqlsecrets

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/vaultly/vaultly/internal/redact"
)

// Format prints c for every verb with Password replaced by "[redacted]".
// The password is reachable only as the field itself.
func (c Credentials) Format(f fmt.State, verb rune) {
	type plain Credentials
	p := plain(c)
	p.Password = redact.String(p.Password)
	redact.Format(f, verb, "sqlsecrets.Credentials", p)
}

// LogValue is the redacted %+v text, for log/slog.
func (c Credentials) LogValue() slog.Value { return redact.LogValue(c) }

// MarshalJSON encodes c with Password replaced by "[redacted]".
func (c Credentials) MarshalJSON() ([]byte, error) {
	type plain Credentials
	p := plain(c)
	p.Password = redact.String(p.Password)
	return json.Marshal(p)
}

// scrubbedError is a driver error whose text quoted the password (some
// drivers echo the data source name); the original stays reachable through
// errors.Is/As (database/sql looks for driver.ErrBadConn).
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

// scrub returns err with the password, raw or URL-escaped as in a DSN,
// replaced by "[redacted]"; err itself when its text holds neither.
func scrub(err error, password string) error {
	if err == nil || password == "" {
		return err
	}
	msg := err.Error()
	out := msg
	for _, p := range []string{password, url.PathEscape(password), url.QueryEscape(password), url.UserPassword("", password).String()[1:]} {
		if len(p) >= 4 {
			out = strings.ReplaceAll(out, p, redact.Marker)
		}
	}
	if out == msg {
		return err
	}
	return &scrubbedError{msg: out, cause: err}
}
