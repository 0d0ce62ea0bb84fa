package sqlsecrets

import (
	"net/url"
	"strings"

	"github.com/vaultly/vaultly/internal/redact"
)

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
