package vaulttest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Postgres is a running throwaway PostgreSQL cluster on 127.0.0.1, made with
// Debian's postgresql server binaries (/usr/lib/postgresql/<version>/bin).
//
// Clients authenticate with a password (scram-sha-256), as Vault's database
// secrets engine does. The cluster's files, unix socket and log live in one
// temporary directory that Stop removes. Methods are safe for concurrent use.
type Postgres struct {
	Host     string // always 127.0.0.1
	Port     int
	User     string // superuser
	Password string // superuser password (random)
	Database string // "postgres"
	Dir      string // temporary directory: data/, socket, postgres.log
	LogPath  string // the server's log

	binDir  string
	cred    *syscall.Credential // set when running as root: run as the postgres user
	cmd     *exec.Cmd
	done    chan struct{}
	stopped sync.Once
}

// StartPostgres starts a PostgreSQL cluster for t and stops and removes it
// when t ends; a failed test gets the tail of the server log. When the
// PostgreSQL binaries are missing the test skips, or fails when
// VAULTLY_REQUIRE_VAULT=1 (see Required).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	return startForTest(t, "postgres", PostgresBinDir, NewPostgres)
}

// NewPostgres starts a cluster; the caller must Stop it. For TestMain.
func NewPostgres() (*Postgres, error) {
	binDir, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	return retryPort(func() (*Postgres, error) { return startPostgres(binDir) })
}

var (
	pgBinOnce sync.Once
	pgBinDir  string
	pgBinErr  error
)

// PostgresBinDir returns the directory holding initdb, pg_ctl and postgres
// (the newest /usr/lib/postgresql/<version>/bin), or an error saying how to
// install them.
func PostgresBinDir() (string, error) {
	pgBinOnce.Do(func() { pgBinDir, pgBinErr = findPostgresBin() })
	return pgBinDir, pgBinErr
}

func findPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: 17 > 15 > 9.6.
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[i])), 64)
		vj, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[j])), 64)
		return vi > vj
	})
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("postgresql server binaries not found under /usr/lib/postgresql/*/bin: install them with `apt-get install postgresql` (make test does)")
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// postgresCredential returns the credential to run the server binaries with:
// nil normally, the postgres user's when running as root (initdb and
// postgres refuse to run as root).
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres user to run initdb (apt-get install postgresql creates it): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user uid: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user gid: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func startPostgres(binDir string) (p *Postgres, err error) {
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its parents are 0700 root-owned, which the postgres
	// user cannot traverse. MkdirTemp in $TMPDIR (sticky, world-traversable)
	// is, and Stop removes it.
	dir, err := os.MkdirTemp("", "vaulttest-pg-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	p = &Postgres{
		Host:     "127.0.0.1",
		Port:     port,
		User:     "postgres",
		Password: "pw-" + randHex(16),
		Database: "postgres",
		Dir:      dir,
		LogPath:  filepath.Join(dir, "postgres.log"),
		binDir:   binDir,
		cred:     cred,
		done:     make(chan struct{}),
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		for _, f := range []string{dir, pwfile} {
			if err := os.Chown(f, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("chown %s to the postgres user: %w", f, err)
			}
		}
	}

	data := filepath.Join(dir, "data")
	initdb := p.command("initdb", "-D", data, "-U", p.User, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	os.Remove(pwfile)

	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	// Run the postmaster in the foreground as our child (not `pg_ctl start`,
	// which detaches): if the test binary dies, Pdeathsig takes it down too.
	cmd := p.command("postgres", "-D", data,
		"-c", "listen_addresses="+p.Host,
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p.cmd = cmd
	go waitClose(cmd, logf, p.done)
	if err := p.waitReady(30 * time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%w\n%s", err, tail(p.LogPath, 30))
	}
	return p, nil
}

// command returns a command for one of the server binaries, run as the
// postgres user when we are root, in p.Dir, with a clean PG* environment.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.binDir, name), args...)
	cmd.Dir = p.Dir
	cmd.Env = envWithout("PG")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd
}

func (p *Postgres) waitReady(timeout time.Duration) error {
	db, err := sql.Open("pgx", p.DSN())
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return errors.New("postgres exited during start")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("postgres on %s not ready after %s: %v", p.Addr(), timeout, err)
}

// Addr returns host:port.
func (p *Postgres) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// DSN returns the superuser connection URL,
// postgres://postgres:<password>@127.0.0.1:<port>/postgres?sslmode=disable.
// It contains the password: do not log it.
func (p *Postgres) DSN() string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(p.User, p.Password),
		Host:     p.Addr(),
		Path:     "/" + p.Database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// VaultConnectionURL returns the connection_url for Vault's database secrets
// engine (postgresql-database-plugin), with the {{username}} and {{password}}
// templates Vault fills in; pass User and Password as username and password.
func (p *Postgres) VaultConnectionURL() string {
	return "postgresql://{{username}}:{{password}}@" + p.Addr() + "/" + p.Database + "?sslmode=disable"
}

// DB opens a database/sql handle (driver pgx) as the superuser, closed when
// t ends.
func (p *Postgres) DB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", p.DSN())
	if err != nil {
		t.Fatalf("vaulttest: open postgres: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Exec runs SQL statements as the superuser, failing t on error. Without
// args, query may hold several statements separated by semicolons.
func (p *Postgres) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("pgx", p.DSN())
	if err != nil {
		t.Fatalf("vaulttest: open postgres: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		// Not the query: it may hold a password (CREATE ROLE … PASSWORD).
		t.Fatalf("vaulttest: postgres exec: %v", err)
	}
}

// Stop stops the server (pg_ctl stop -m immediate), waits for it to exit and
// removes its directory. Safe to call twice.
func (p *Postgres) Stop() {
	p.stop()
	os.RemoveAll(p.Dir)
}

func (p *Postgres) stop() {
	p.stopped.Do(func() {
		if p.cmd == nil || p.cmd.Process == nil {
			return
		}
		select {
		case <-p.done:
			return
		default:
		}
		stop := p.command("pg_ctl", "stop", "-D", filepath.Join(p.Dir, "data"), "-m", "immediate", "-w", "-t", "10")
		if err := stop.Run(); err != nil {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGQUIT)
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}
