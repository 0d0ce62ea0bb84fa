package sqlsecrets_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/sqlsecrets"
)

// echoDriver is a driver without DriverContext whose Open fails quoting its
// DSN, as some drivers do.
type echoDriver struct{}

func (echoDriver) Open(dsn string) (driver.Conn, error) {
	return nil, errors.New("cannot parse " + dsn + ": " + driver.ErrBadConn.Error())
}

type fixedSource struct{ c sqlsecrets.Credentials }

func (s fixedSource) Credentials() sqlsecrets.Credentials { return s.c }
func (s fixedSource) MinValid() uint64                    { return 0 }

// TestConnectErrorHidesPassword: a driver error that quotes the DSN reaches
// the caller without the password, raw or escaped.
func TestConnectErrorHidesPassword(t *testing.T) {
	for _, pw := range []string{"pw-c4n4ry-secret", "p@ss/w:rd c4n4ry"} {
		src := fixedSource{sqlsecrets.Credentials{Username: "app", Password: vaultly.NewSecret(pw), Generation: 1}}
		c, err := sqlsecrets.NewConnector(echoDriver{}, src, &sqlsecrets.Options{DSN: sqlsecrets.PostgresURL("postgres://127.0.0.1:1/db")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Connect(context.Background())
		if err == nil {
			t.Fatalf("Connect with password %q: no error, want the driver's", pw)
		}
		for _, leak := range []string{pw, "c4n4ry"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("Connect error = %q, contains %q", err, leak)
			}
		}
		if !strings.Contains(err.Error(), "cannot parse postgres://app:") {
			t.Errorf("Connect error = %q, want the driver's message kept", err)
		}
	}
}

// TestCredentialsInUnexportedField: fmt cannot call methods on a value in an
// unexported field, so the password must sit behind a pointer to stay hidden.
func TestCredentialsInUnexportedField(t *testing.T) {
	const canary = "canary-pw-7f3a"
	holder := struct {
		creds sqlsecrets.Credentials
	}{sqlsecrets.Credentials{Username: "app", Password: vaultly.NewSecret(canary), Generation: 3}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if got := fmt.Sprintf(verb, holder); strings.Contains(got, canary) || strings.Contains(got, fmt.Sprintf("%x", canary)) {
			t.Errorf("Sprintf(%q, holder) = %q: shows the password", verb, got)
		}
	}
	if got := holder.creds.Password.Reveal(); got != canary {
		t.Errorf("Password.Reveal() = %q, want %q", got, canary)
	}
}
