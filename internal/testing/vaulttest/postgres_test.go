package vaulttest

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPostgresSelect1(t *testing.T) {
	t.Parallel()
	p := StartPostgres(t)
	db := p.DB(t)
	var got int
	if err := db.QueryRowContext(context.Background(), "SELECT 1").Scan(&got); err != nil {
		t.Fatalf("SELECT 1: %v", err)
	}
	if got != 1 {
		t.Errorf("SELECT 1 = %d, want 1", got)
	}
}

func TestPostgresHarness(t *testing.T) {
	t.Parallel()
	p := StartPostgres(t)

	t.Run("superuser", func(t *testing.T) {
		var user string
		var super bool
		err := p.DB(t).QueryRowContext(context.Background(),
			"SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&user, &super)
		if err != nil {
			t.Fatal(err)
		}
		if user != p.User || !super {
			t.Errorf("current_user, rolsuper = %q, %v; want %q, true", user, super, p.User)
		}
	})

	t.Run("exec", func(t *testing.T) {
		p.Exec(t, "CREATE TABLE harness (n int); INSERT INTO harness VALUES (1), (2)")
		p.Exec(t, "INSERT INTO harness VALUES ($1)", 40)
		var sum int
		if err := p.DB(t).QueryRowContext(context.Background(), "SELECT sum(n) FROM harness").Scan(&sum); err != nil {
			t.Fatal(err)
		}
		if sum != 43 {
			t.Errorf("sum(n) = %d, want 43", sum)
		}
	})

	t.Run("password required", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			password string
			wantOK   bool
		}{
			{"right password", p.Password, true},
			{"wrong password", "not-" + p.Password, false},
			// The cluster is a copy of the machine's template: the
			// template's superuser password no longer opens it.
			{"the template's password", templatePassword(t), false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u, err := url.Parse(p.DSN())
				if err != nil {
					t.Fatal(err)
				}
				u.User = url.UserPassword(p.User, tc.password)
				db, err := sql.Open("pgx", u.String())
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				err = db.PingContext(context.Background())
				if got := err == nil; got != tc.wantOK {
					t.Errorf("Ping with %s: err = %v, want success %v", tc.name, err, tc.wantOK)
				}
			})
		}
	})

	t.Run("dsn", func(t *testing.T) {
		u, err := url.Parse(p.DSN())
		if err != nil {
			t.Fatal(err)
		}
		pw, _ := u.User.Password()
		got := []string{u.Scheme, u.User.Username(), pw, u.Hostname(), u.Port(), u.Path, u.RawQuery}
		want := []string{"postgres", p.User, p.Password, "127.0.0.1", p.Addr()[len("127.0.0.1:"):], "/postgres", "sslmode=disable"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DSN() parts mismatch (-want +got):\n%s", diff)
		}
		if got, want := p.VaultConnectionURL(), "postgresql://{{username}}:{{password}}@"+p.Addr()+"/postgres?sslmode=disable"; got != want {
			t.Errorf("VaultConnectionURL() = %q, want %q", got, want)
		}
		if strings.Contains(p.VaultConnectionURL(), p.Password) {
			t.Error("VaultConnectionURL() contains the password")
		}
	})
}

func TestPostgresStopRemovesEverything(t *testing.T) {
	t.Parallel()
	if _, err := PostgresBinDir(); err != nil {
		unavailable(t, "%v", err)
	}
	p, err := NewPostgres()
	if err != nil {
		t.Fatal(err)
	}
	pid := p.cmd.Process.Pid
	p.Stop()
	p.Stop() // twice is fine

	if _, err := os.Stat(p.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Stop, Stat(%s) err = %v, want not exist", p.Dir, err)
	}
	// Backends exit with the postmaster; the process group must be empty.
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(-pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has processes 5s after Stop", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	db, err := sql.Open("pgx", p.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err == nil {
		t.Error("Ping after Stop succeeded, want an error")
	}
}

// templatePassword is the superuser password of the template cluster the
// test clusters are copied from.
func templatePassword(t *testing.T) string {
	t.Helper()
	bin, err := PostgresBinDir()
	if err != nil {
		t.Fatal(err)
	}
	cred, err := postgresCredential()
	if err != nil {
		t.Fatal(err)
	}
	_, pw, err := pgTemplate(bin, cred)
	if err != nil {
		t.Fatalf("no template cluster: %v", err)
	}
	return pw
}
