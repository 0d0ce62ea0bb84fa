package sqlsecrets

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/vaultly/vaultly/internal/redact"
)

// A database driver's error cannot be passed on as it is: drivers echo the
// data source name in their text (raw, escaped, quoted, or the piece
// url.Parse choked on), and keep it in their values — pgx's
// *pgconn.ConnectError holds the whole configuration, password included,
// and *url.Error the raw DSN. So the chain is replaced by a copy that holds
// only the scrubbed text and the facts callers test: the sentinels below
// (errors.Is), whether it was a network error and a timeout (errors.As to
// net.Error), and the server's SQLSTATE (errors.As to an error with a
// SQLState() string method, as *pgconn.PgError and *pq.Error have).

// sentinels are the well-known errors whose errors.Is survives redaction.
var sentinels = []error{
	driver.ErrBadConn, driver.ErrSkip, driver.ErrRemoveArgument,
	context.Canceled, context.DeadlineExceeded, os.ErrDeadlineExceeded,
	net.ErrClosed, io.EOF, io.ErrUnexpectedEOF,
	syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.ETIMEDOUT,
	syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EPIPE,
}

// driverError is the redacted copy of a driver's error.
type driverError struct {
	msg string
	is  []error // the sentinels the original matched
}

func (e *driverError) Error() string { return e.msg }

// Is reports whether the original error matched target, one of sentinels.
func (e *driverError) Is(target error) bool { return slices.Contains(e.is, target) }

// netDriverError is a driverError whose original was a network error.
type netDriverError struct {
	driverError
	timeout bool
}

func (e *netDriverError) Timeout() bool   { return e.timeout }
func (e *netDriverError) Temporary() bool { return e.timeout }

// stateDriverError is a driverError whose original carried the server's
// SQLSTATE (e.g. 28P01, invalid_password).
type stateDriverError struct {
	driverError
	state string
}

func (e *stateDriverError) SQLState() string { return e.state }

// redacted returns the redacted copy of err, a database driver's error for
// a connection made with password: its text with every form of the
// password (see scrubText) replaced by "[redacted]", on one line, and no
// reference to err.
func redacted(err error, password string) error {
	if err == nil {
		return nil
	}
	base := driverError{msg: scrubText(oneLine(err.Error()), password)}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			base.is = append(base.is, s)
		}
	}
	if ne, ok := networkError(err); ok {
		return &netDriverError{driverError: base, timeout: ne.Timeout()}
	}
	if st, ok := errors.AsType[interface {
		error
		SQLState() string
	}](err); ok && st.SQLState() != "" {
		return &stateDriverError{driverError: base, state: st.SQLState()}
	}
	return &base
}

// networkError finds a net.Error in err's tree other than a *url.Error
// (which is a net.Error for any parse failure, network or not).
func networkError(err error) (net.Error, bool) {
	for err != nil {
		if ne, ok := err.(net.Error); ok {
			if _, isURL := err.(*url.Error); !isURL {
				return ne, true
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if ne, ok := networkError(e); ok {
					return ne, true
				}
			}
			return nil, false
		default:
			return nil, false
		}
	}
	return nil, false
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// minFragment is the shortest piece of the password scrubText removes on
// its own (a DSN cut short in a message, or the piece url.Parse quotes:
// `invalid port ":pa"`). Shorter pieces are too common to tell apart.
const minFragment = 4

// passwordForms returns the password as it may appear in a DSN or a
// message: raw, URL-escaped (path, query, user info), Go-quoted, and with
// libpq's backslash escapes.
func passwordForms(password string) []string {
	unquote := func(q string) string { return q[1 : len(q)-1] }
	forms := []string{password, url.PathEscape(password), url.QueryEscape(password),
		strings.TrimPrefix(url.UserPassword("", password).String(), ":"),
		unquote(strconv.Quote(password)), unquote(strconv.QuoteToASCII(password)),
		strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(password)}
	for _, f := range slices.Clone(forms) {
		forms = append(forms, unquote(strconv.Quote(f))) // an escaped DSN, quoted again (%q of a URL)
	}
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(forms)
}

// scrubText replaces in msg every form of password and every piece of one
// at least minFragment bytes long (or the whole password, if shorter) by
// "[redacted]". It may remove a little more than the password where the
// message shares such a piece with it; it never leaves one.
func scrubText(msg, password string) string {
	if password == "" {
		return msg
	}
	forms := passwordForms(password)
	minLen := min(minFragment, len(password))
	var b strings.Builder
	for i := 0; i < len(msg); {
		n := 0
		for _, f := range forms {
			n = max(n, longestPieceAt(msg[i:], f))
		}
		if n >= minLen {
			b.WriteString(redact.Marker)
			i += n
			continue
		}
		b.WriteByte(msg[i])
		i++
	}
	return b.String()
}

// longestPieceAt returns the length of the longest prefix of s that occurs
// in form.
func longestPieceAt(s, form string) int {
	n := 0
	for l := 1; l <= len(s) && l <= len(form); l++ {
		if !strings.Contains(form, s[:l]) {
			break
		}
		n = l
	}
	return n
}
