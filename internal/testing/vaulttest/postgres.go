package vaulttest

import (
	"context"
	"crypto/sha256"
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
// temporary directory that Stop removes; its data directory is a copy of
// the machine's template cluster (pgTemplate) with a superuser password of
// its own. Methods are safe for concurrent use.
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
	// The data directory: a copy of this machine's template cluster (one
	// initdb for every test process: initdb costs ~0.8 s of CPU, a copy
	// ~0.25 s), whose superuser password is changed to this cluster's own
	// once it answers; where no template can be made, initdb here.
	if err := p.chown(dir); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	tmpl, tmplPassword, terr := pgTemplate(binDir, cred)
	if terr == nil {
		terr = copyTree(filepath.Join(tmpl, "data"), data)
	}
	if terr != nil {
		os.RemoveAll(data)
		tmplPassword = ""
		if err := initdb(p, dir, data, p.Password); err != nil {
			return nil, err
		}
	}
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
	if tmplPassword != "" {
		own := p.Password
		p.Password = tmplPassword
		err = p.waitReady(30 * time.Second)
		if err == nil {
			err = p.setPassword(own)
		}
		p.Password = own
	} else {
		err = p.waitReady(30 * time.Second)
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("%w\n%s", err, tail(p.LogPath, 30))
	}
	return p, nil
}

// initdb makes a new cluster in data (dir is its parent, owned by the user
// the server runs as) whose superuser has password.
func initdb(p *Postgres, dir, data, password string) error {
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := p.chown(pwfile); err != nil {
		return err
	}
	cmd := p.command("initdb", "-D", data, "-U", p.User, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

// chown gives path to the user the server runs as (when we are root).
func (p *Postgres) chown(path string) error {
	if p.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
		return fmt.Errorf("chown %s to the postgres user: %w", path, err)
	}
	return nil
}

// setPassword changes the superuser's password (the server answers with the
// current p.Password). The session logs no failed statement, so the
// password never reaches the server's log.
func (p *Postgres) setPassword(password string) error {
	// ALTER ROLE takes no parameters; the password is hex (randHex).
	if err := p.exec("SET log_min_error_statement = panic; ALTER ROLE " + p.User + " PASSWORD '" + password + "'"); err != nil {
		return fmt.Errorf("postgres: set the superuser password: %w", err)
	}
	return nil
}

var (
	pgTmplOnce     sync.Once
	pgTmplDir      string
	pgTmplPassword string
	pgTmplErr      error
)

// pgTemplate returns this machine's template cluster for binDir's
// PostgreSQL, making it on first use: a directory in os.TempDir, 0700,
// owned by this user, holding data/ (a fresh initdb, never started) and
// the file password (0600, its superuser's password). It is made under a
// temporary name and renamed into place, so test processes that race to
// make it all end with the same complete one.
func pgTemplate(binDir string, cred *syscall.Credential) (string, string, error) {
	pgTmplOnce.Do(func() {
		pgTmplDir, pgTmplPassword, pgTmplErr = makePGTemplate(binDir, cred)
	})
	return pgTmplDir, pgTmplPassword, pgTmplErr
}

func makePGTemplate(binDir string, cred *syscall.Credential) (string, string, error) {
	sum := sha256.Sum256([]byte(binDir + "\x00scram-sha-256 UTF8 C v1"))
	final := filepath.Join(os.TempDir(), fmt.Sprintf("vaulttest-pgtemplate-%d-%x", os.Geteuid(), sum[:6]))
	if dir, pw, err := readPGTemplate(final); err == nil {
		return dir, pw, nil
	}
	tmp, err := os.MkdirTemp(os.TempDir(), filepath.Base(final)+".new-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp) // gone once renamed
	// initdb runs as the postgres user when we are root: it writes data/
	// in a directory of its own (tmp/cluster), traversable for it.
	work := filepath.Join(tmp, "cluster")
	if err := os.Mkdir(work, 0o700); err != nil {
		return "", "", err
	}
	pw := "pw-" + randHex(16)
	p := &Postgres{User: "postgres", binDir: binDir, cred: cred, Dir: work}
	if err := p.chown(work); err != nil {
		return "", "", err
	}
	if cred != nil {
		if err := os.Chmod(tmp, 0o711); err != nil {
			return "", "", err
		}
	}
	if err := initdb(p, work, filepath.Join(work, "data"), pw); err != nil {
		return "", "", err
	}
	if err := os.Rename(filepath.Join(work, "data"), filepath.Join(tmp, "data")); err != nil {
		return "", "", err
	}
	if err := os.Remove(work); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, "password"), []byte(pw), 0o600); err != nil {
		return "", "", err
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another process made it first: use that one.
		return readPGTemplate(final)
	}
	return final, pw, nil
}

// readPGTemplate returns a complete template at dir: a directory (not a
// link), 0700 and owned by this user, with data/ and its password.
func readPGTemplate(dir string) (string, string, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 || !ok || int(st.Uid) != os.Geteuid() {
		return "", "", fmt.Errorf("postgres template %s: not a 0700 directory of this user", dir)
	}
	pw, err := os.ReadFile(filepath.Join(dir, "password"))
	if err != nil {
		return "", "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		return "", "", err
	}
	return dir, string(pw), nil
}

// copyTree copies the directory src to dst (which must not exist) with
// modes and owners (cp -a).
func copyTree(src, dst string) error {
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s: %w\n%s", src, err, out)
	}
	return nil
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
	if err := p.exec(query, args...); err != nil {
		// Not the query: it may hold a password (CREATE ROLE … PASSWORD).
		t.Fatalf("vaulttest: postgres exec: %v", err)
	}
}

// exec runs query as the superuser, within 30 s.
func (p *Postgres) exec(query string, args ...any) error {
	db, err := sql.Open("pgx", p.DSN())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, query, args...)
	return err
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
