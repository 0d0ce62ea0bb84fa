package sqlsecrets_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/sqlsecrets"
)

// chainLinks returns every error in err's tree: Unwrap() error and
// Unwrap() []error, depth first.
func chainLinks(err error) []error {
	if err == nil {
		return nil
	}
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, chainLinks(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, chainLinks(e)...)
		}
	}
	return out
}

// heldStrings returns every string and []byte reachable from v, exported
// fields or not, through pointers, interfaces, slices, arrays and maps
// (each pointer visited once): what a caller reaching the value with
// errors.As, or a reflection-based logger, could read.
func heldStrings(v reflect.Value, seen map[uintptr]bool, depth int, out *[]string) {
	if !v.IsValid() || depth > 12 {
		return
	}
	switch v.Kind() {
	case reflect.String:
		*out = append(*out, v.String())
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		heldStrings(v.Elem(), seen, depth+1, out)
	case reflect.Interface:
		heldStrings(v.Elem(), seen, depth+1, out)
	case reflect.Struct:
		for i := range v.NumField() {
			heldStrings(v.Field(i), seen, depth+1, out)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			*out = append(*out, string(v.Bytes()))
			return
		}
		fallthrough
	case reflect.Array:
		for i := range min(v.Len(), 256) {
			heldStrings(v.Index(i), seen, depth+1, out)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			heldStrings(it.Key(), seen, depth+1, out)
			heldStrings(it.Value(), seen, depth+1, out)
		}
	}
}

// passwordForms are the password and the texts it turns into in a DSN or
// an error message: URL-escaped, Go-quoted, and its first and last 6
// bytes (a message that cuts the DSN short, or quotes the piece url.Parse
// choked on).
func passwordForms(pw string) []string {
	forms := []string{pw, url.PathEscape(pw), url.QueryEscape(pw), url.UserPassword("", pw).String()[1:],
		strconv.Quote(pw), strconv.QuoteToASCII(pw), pw[:6], pw[len(pw)-6:]}
	return forms
}

// checkChainHoldsNoPassword fails when any error of err's tree shows the
// password in its text or its printed forms, or holds it in any field.
func checkChainHoldsNoPassword(t *testing.T, err error, pw string) {
	t.Helper()
	for i, link := range chainLinks(err) {
		texts := []string{link.Error(), fmt.Sprintf("%+v", link), fmt.Sprintf("%#v", link)}
		heldStrings(reflect.ValueOf(link), map[uintptr]bool{}, 0, &texts)
		for _, s := range texts {
			for _, f := range passwordForms(pw) {
				if strings.Contains(s, f) {
					t.Errorf("link %d (%T) of the error chain holds the password (as %q) in %q", i, link, f, s)
				}
			}
		}
	}
}

// urlDriver is a driver without DriverContext whose Open parses its DSN as
// a URL and returns url.Parse's error (which keeps the raw DSN and quotes
// the piece it choked on), marked as a bad connection, as drivers do.
type urlDriver struct{}

func (urlDriver) Open(dsn string) (driver.Conn, error) {
	if _, err := url.Parse(dsn); err != nil {
		return nil, fmt.Errorf("cannot open: %w", errors.Join(err, driver.ErrBadConn))
	}
	return nil, fmt.Errorf("cannot open %s: %w", dsn, driver.ErrBadConn)
}

// concatDSN builds a URL DSN by concatenation, without escaping (a common
// Options.DSN mistake that makes url.Parse fail on some passwords).
func concatDSN(hostport string) func(u, p string) string {
	return func(u, p string) string {
		return "postgres://" + u + ":" + p + "@" + hostport + "/postgres?sslmode=disable"
	}
}

type sqlState interface {
	error
	SQLState() string
}

// TestConnectErrorChainHoldsNoPassword connects with bad credentials and
// broken DSNs through a URL-parsing driver and the real pgx and lib/pq
// drivers against a real PostgreSQL: no error in the returned chain may
// show or hold the password, while the codes stay reachable (CodeOf,
// driver.ErrBadConn for database/sql, net.Error for connection failures,
// the SQLSTATE of the server's answer).
func TestConnectErrorChainHoldsNoPassword(t *testing.T) {
	t.Parallel()
	pg := sharedPG.get(t)
	closed := func() string { // a port nobody listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	tests := []struct {
		name      string
		drv       driver.Driver
		dsn       func(u, p string) string
		pw        string
		code      vaultly.Code
		badConn   bool   // errors.Is(err, driver.ErrBadConn)
		netErr    bool   // errors.As(err, *net.Error)
		state     string // SQLSTATE through errors.As(err, *interface{ SQLState() string })
		wantInMsg string // what of the driver's message must survive
	}{
		{name: "url driver, slash in password", drv: urlDriver{}, dsn: concatDSN("db:5432"), pw: "c4n4ry/pw%zz-s3kr1tXq",
			code: vaultly.Unknown, badConn: true, wantInMsg: "cannot open: parse"},
		{name: "url driver, DSN quoted", drv: urlDriver{}, dsn: sqlsecrets.PostgresURL("postgres://db:5432/app"), pw: `c4n4ry"pw\-s3kr1tXq`,
			code: vaultly.Unknown, badConn: true, wantInMsg: "cannot open postgres://app:"},
		{name: "pgx, wrong password", drv: stdlib.GetDefaultDriver(), dsn: sqlsecrets.PostgresURL("postgres://" + pg.Addr() + "/postgres?sslmode=disable"),
			pw: "c4n4ry-wrong-s3kr1tXq", code: vaultly.Unknown, state: "28P01", wantInMsg: "password authentication failed"},
		{name: "pgx, nobody listening", drv: stdlib.GetDefaultDriver(), dsn: sqlsecrets.PostgresURL("postgres://" + closed + "/postgres?sslmode=disable&connect_timeout=5"),
			pw: "c4n4ry-nolisten-s3kr1tXq", code: vaultly.Unavailable, netErr: true, wantInMsg: "connection refused"},
		{name: "pgx, slash in password", drv: stdlib.GetDefaultDriver(), dsn: concatDSN(pg.Addr()), pw: "c4n4ry/pw%zz-s3kr1tXq",
			code: vaultly.Unknown, wantInMsg: "cannot parse `postgres://app:"},
		{name: "lib/pq, wrong password", drv: &pq.Driver{}, dsn: sqlsecrets.PostgresURL("postgres://" + pg.Addr() + "/postgres?sslmode=disable"),
			pw: "c4n4ry-wrong-s3kr1tXq", code: vaultly.Unknown, state: "28P01", wantInMsg: "password authentication failed"},
		{name: "lib/pq, slash in password", drv: &pq.Driver{}, dsn: concatDSN(pg.Addr()), pw: "c4n4ry/pw%zz-s3kr1tXq",
			code: vaultly.Unknown, wantInMsg: "parse"},
		{name: "lib/pq, nobody listening", drv: &pq.Driver{}, dsn: sqlsecrets.PostgresURL("postgres://" + closed + "/postgres?sslmode=disable"),
			pw: "c4n4ry-nolisten-s3kr1tXq", code: vaultly.Unavailable, netErr: true, wantInMsg: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fixedSource{sqlsecrets.Credentials{Username: "app", Password: vaultly.NewSecret(tt.pw), Generation: 1}}
			c, err := sqlsecrets.NewConnector(tt.drv, src, &sqlsecrets.Options{DSN: tt.dsn})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Connect(t.Context())
			if err == nil {
				t.Fatal("Connect() = nil error")
			}
			checkChainHoldsNoPassword(t, err, tt.pw)
			if got := vaultly.CodeOf(err); got != tt.code {
				t.Errorf("CodeOf(%v) = %v, want %v", err, got, tt.code)
			}
			if _, ok := errors.AsType[*vaultly.Error](err); !ok {
				t.Errorf("errors.As(%v, **vaultly.Error) = false", err)
			}
			if got := errors.Is(err, driver.ErrBadConn); got != tt.badConn {
				t.Errorf("errors.Is(%v, driver.ErrBadConn) = %v, want %v", err, got, tt.badConn)
			}
			if _, got := errors.AsType[net.Error](err); got != tt.netErr {
				t.Errorf("errors.As(%v, *net.Error) = %v, want %v", err, got, tt.netErr)
			}
			var st string
			if s, ok := errors.AsType[sqlState](err); ok {
				st = s.SQLState()
			}
			if st != tt.state {
				t.Errorf("SQLState through errors.As = %q, want %q", st, tt.state)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("Connect error = %q, want the driver's message (%q) kept", err, tt.wantInMsg)
			}
		})
	}
}

// TestConnectErrorContext: a cancelled caller gets Canceled, through the
// redacted chain too.
func TestConnectErrorContext(t *testing.T) {
	src := fixedSource{sqlsecrets.Credentials{Username: "app", Password: vaultly.NewSecret("c4n4ry-s3kr1tXq"), Generation: 1}}
	c, err := sqlsecrets.NewConnector(stdlib.GetDefaultDriver(), src, &sqlsecrets.Options{DSN: sqlsecrets.PostgresURL("postgres://10.255.255.1:5432/db")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.Connect(ctx)
	if got := vaultly.CodeOf(err); got != vaultly.Canceled || !errors.Is(err, context.Canceled) {
		t.Errorf("Connect(cancelled) = %v (code %v), want Canceled and errors.Is(context.Canceled)", err, got)
	}
	checkChainHoldsNoPassword(t, err, "c4n4ry-s3kr1tXq")
}

// TestScrubText: every form of the password and every piece of one at
// least 4 bytes long leaves the text; the rest stays.
func TestScrubText(t *testing.T) {
	tests := []struct{ pw, msg, want string }{
		{"hunter2-pw", "auth failed for hunter2-pw", "auth failed for [redacted]"},
		{"p@ss/w:rd", "dsn postgres://u:p%40ss%2Fw%3Ard@h", "dsn postgres://u:[redacted]@h"},
		{"p@ss/w:rd", `parse "postgres://u:p@ss/w:rd@h": invalid port ":p@ss" after host`, `parse "postgres://u:[redacted]@h": invalid port ":[redacted]" after host`},
		{`a"b\c-long`, `dsn "x:a\"b\\c-long@h"`, `dsn "x:[redacted]@h"`},
		{"secretvalue", "password=secretv… (truncated)", "password=[redacted]… (truncated)"},
		{"secretvalue", "…tvalue@host", "…[redacted]@host"},
		{"secretvalue", "sec is not a piece long enough", "sec is not a piece long enough"},
		{"abc", "abc and ab", "[redacted] and ab"},
		{"", "nothing to scrub", "nothing to scrub"},
	}
	for _, tt := range tests {
		if got := sqlsecrets.ScrubText(tt.msg, tt.pw); got != tt.want {
			t.Errorf("scrubText(%q, %q) = %q, want %q", tt.msg, tt.pw, got, tt.want)
		}
	}
}
