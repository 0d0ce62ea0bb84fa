package errwalk

import (
	"context"
	"database/sql/driver"
	"errors"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/lib/pq"
	"go.uber.org/goleak"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/auth/authconfig"
	"github.com/vaultly/vaultly/auth/aws"
	"github.com/vaultly/vaultly/auth/cert"
	"github.com/vaultly/vaultly/auth/jwt"
	"github.com/vaultly/vaultly/auth/kubernetes"
	"github.com/vaultly/vaultly/auth/ldap"
	"github.com/vaultly/vaultly/auth/token"
	"github.com/vaultly/vaultly/auth/userpass"
	vdriver "github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/envsecrets"
	"github.com/vaultly/vaultly/filesecrets"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/retry"
	"github.com/vaultly/vaultly/sqlsecrets"
	"github.com/vaultly/vaultly/transit"
)

const modPath = "github.com/vaultly/vaultly"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, vaulttest.IgnoreIdleConns()...)
}

// walk is one row of the table: how to make the function fail and the
// code its error must have, or why it is not walked.
type walk struct {
	// code is the code the failing call's error has.
	code vaultly.Code
	// call makes the function fail and returns its error.
	call func(t *testing.T, w *world) error
	// vault says the failure is an answer of the real server: the
	// *api.ResponseError must stay reachable with errors.As.
	vault bool
	// noOp says the error may have no op: a driver method's (the Store
	// gives it the op, reference and backend), or a helper's whose caller
	// names the operation (hashivault's Call and MapError, retry.Do).
	noOp bool

	// never, for a function that cannot fail (it encodes a redacted form,
	// closes nothing that can fail), calls it: it must return nil.
	never func(t *testing.T, w *world) error
	// exempt says why a function is not walked at all.
	exempt string
}

// world is what the cases fail against: a real Vault server, backends over
// it (one whose token was revoked after login), transit, and local
// backends.
type world struct {
	srv      *vaulttest.Server
	vault    *hashivault.Backend // root token
	revoked  *hashivault.Backend // its token was revoked after login
	down     *hashivault.Backend // behind a proxy that resets every connection
	transit  *transit.Transit    // over vault, mount "transit"
	tRevoked *transit.Transit    // over revoked
	mem      *memsecrets.Backend
	store    *vaultly.Store // over mem
	envStore *vaultly.Store // over envsecrets, which neither writes nor lists
	dir      string
	closedIP string // http://127.0.0.1:<a port nothing listens on>
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	srv := vaulttest.Start(t, nil)
	w := &world{srv: srv, dir: t.TempDir()}
	open := func(addr, tok string) *hashivault.Backend {
		t.Helper()
		b, err := hashivault.New(ctx, &hashivault.Options{Address: addr, Token: tok, ConfigFile: "-", Logger: quiet})
		if err != nil {
			t.Fatalf("hashivault.New: %v", err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	w.vault = open(srv.Addr, srv.Token)
	tok := srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"default"}})
	w.revoked = open(srv.Addr, tok)
	if err := srv.Client(t).Auth().Token().RevokeOrphan(tok); err != nil {
		t.Fatal(err)
	}
	px := faultproxy.Start(t, srv.Addr, nil)
	w.down = open(px.URL, srv.Token)
	px.Inject(faultproxy.Fault{Drop: true})
	srv.EnableSecrets(t, "transit", "transit", nil)
	var err error
	if w.transit, err = transit.New(w.vault, &transit.Options{Retry: &retry.Policy{MaxAttempts: 1}}); err != nil {
		t.Fatal(err)
	}
	if w.tRevoked, err = transit.New(w.revoked, &transit.Options{Retry: &retry.Policy{MaxAttempts: 1}}); err != nil {
		t.Fatal(err)
	}
	w.mem = memsecrets.New(nil)
	w.store = vaultly.New(w.mem, &vaultly.Options{Retry: &retry.Policy{MaxAttempts: 1}})
	t.Cleanup(func() { w.store.Close() })
	w.envStore = vaultly.New(envsecrets.New(&envsecrets.Options{Environ: func() []string { return nil }}), nil)
	t.Cleanup(func() { w.envStore.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.closedIP = "http://" + l.Addr().String()
	l.Close()
	return w
}

// loginClient is a client of the server with no token, as a backend hands
// to an auth method.
func (w *world) loginClient(t *testing.T) *api.Client {
	c := w.srv.Client(t)
	c.ClearToken()
	return c
}

func (w *world) missing(name string) string { return filepath.Join(w.dir, "missing", name) }

var (
	bg    = context.Background()
	quiet = slog.New(slog.DiscardHandler) // the revoked backend warns at every re-login
)

func ignore[T any](_ T, err error) error { return err }

// the table: every exported function and method returning an error (see
// Exported) has a row.
var table = map[string]walk{
	// --- auth ---
	"auth.Credential.MarshalJSON": {never: func(*testing.T, *world) error { return ignore(auth.FromString("v").MarshalJSON()) }},
	"auth.Credential.MarshalText": {never: func(*testing.T, *world) error { return ignore(auth.FromString("v").MarshalText()) }},
	"auth.Credential.Read": {code: vaultly.Config, call: func(t *testing.T, w *world) error {
		return ignore(auth.FromFile(w.missing("cred")).Read())
	}},
	"auth.MethodFunc.Login": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		return ignore(auth.MethodFunc(func(context.Context, *api.Client) (*api.Secret, error) {
			return nil, errors.New("token service answered 500")
		}).Login(bg, w.loginClient(t)))
	}},
	"auth/approle.New": {code: vaultly.Config, call: func(*testing.T, *world) error { return ignore(approle.New(nil)) }},
	"auth/approle.Method.Login": {code: vaultly.Unauthenticated, vault: true, call: func(t *testing.T, w *world) error {
		m, err := approle.New(&approle.Options{Mount: "not-enabled", RoleID: auth.FromString("r"), SecretID: auth.FromString("s")})
		if err != nil {
			t.Fatal(err)
		}
		return ignore(m.Login(bg, w.loginClient(t)))
	}},
	"auth/authconfig.FromEnv": {code: vaultly.Config, call: func(t *testing.T, _ *world) error {
		t.Setenv("VAULT_TOKEN", "")
		t.Setenv("VAULT_ROLE_ID", "")
		t.Setenv("VAULT_SECRET_ID", "set-without-a-role-id")
		return ignore(authconfig.FromEnv())
	}},
	"auth/authconfig.FromParams": {code: vaultly.Config, call: func(*testing.T, *world) error {
		return ignore(authconfig.FromParams("approle", "", map[string]string{"secretid": "typo"}))
	}},
	"auth/authconfig.Params": {code: vaultly.Config, call: func(*testing.T, *world) error { return ignore(authconfig.Params("nope")) }},
	"auth/aws.New": {code: vaultly.Config, call: func(*testing.T, *world) error {
		return ignore(aws.New(&aws.Options{AccessKeyID: auth.FromString("AKIA")}))
	}},
	"auth/aws.Method.Login": {code: vaultly.Unauthenticated, vault: true, call: func(t *testing.T, w *world) error {
		m, err := aws.New(&aws.Options{Mount: "not-enabled", AccessKeyID: auth.FromString("AKIA0"), SecretAccessKey: auth.FromString("secret0")})
		if err != nil {
			t.Fatal(err)
		}
		return ignore(m.Login(bg, w.loginClient(t)))
	}},
	"auth/cert.New": {code: vaultly.Config, call: func(*testing.T, *world) error { return ignore(cert.New(nil)) }},
	"auth/cert.Method.Login": {code: vaultly.Config, call: func(t *testing.T, w *world) error {
		m, err := cert.New(&cert.Options{CertFile: w.missing("c.pem"), KeyFile: w.missing("k.pem")})
		if err != nil {
			t.Fatal(err)
		}
		return ignore(m.Login(bg, w.loginClient(t)))
	}},
	"auth/jwt.New": {code: vaultly.Config, call: func(*testing.T, *world) error { return ignore(jwt.New(nil)) }},
	"auth/jwt.Method.Login": {code: vaultly.Config, call: func(t *testing.T, w *world) error {
		m, err := jwt.New(&jwt.Options{JWT: auth.FromFile(w.missing("jwt"))})
		if err != nil {
			t.Fatal(err)
		}
		return ignore(m.Login(bg, w.loginClient(t)))
	}},
	"auth/kubernetes.New": {code: vaultly.Config, call: func(*testing.T, *world) error { return ignore(kubernetes.New(nil)) }},
	"auth/kubernetes.Method.Login": {code: vaultly.Config, call: func(t *testing.T, w *world) error {
		m, err := kubernetes.New(&kubernetes.Options{Role: "app", JWTFile: w.missing("sa-token")})
		if err != nil {
			t.Fatal(err)
		}
		return ignore(m.Login(bg, w.loginClient(t)))
	}},
	"auth/ldap.New": {code: vaultly.Config, call: func(*testing.T, *world) error { return ignore(ldap.New(nil)) }},
	"auth/ldap.Method.Login": {code: vaultly.Unauthenticated, vault: true, call: func(t *testing.T, w *world) error {
		m, err := ldap.New(&ldap.Options{Mount: "not-enabled", Username: "u", Password: auth.FromString("p")})
		if err != nil {
			t.Fatal(err)
		}
		return ignore(m.Login(bg, w.loginClient(t)))
	}},
	"auth/token.New": {never: func(*testing.T, *world) error { return ignore(token.New(nil)) }},
	"auth/token.Method.Login": {code: vaultly.Unauthenticated, vault: true, call: func(t *testing.T, w *world) error {
		tok := w.srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"default"}})
		if err := w.srv.Client(t).Auth().Token().RevokeOrphan(tok); err != nil {
			t.Fatal(err)
		}
		m, err := token.New(&token.Options{Token: auth.FromString(tok)})
		if err != nil {
			t.Fatal(err)
		}
		return ignore(m.Login(bg, w.loginClient(t)))
	}},
	"auth/userpass.New": {code: vaultly.Config, call: func(*testing.T, *world) error { return ignore(userpass.New(nil)) }},
	"auth/userpass.Method.Login": {code: vaultly.Unauthenticated, vault: true, call: func(t *testing.T, w *world) error {
		m, err := userpass.New(&userpass.Options{Mount: "not-enabled", Username: "u", Password: auth.FromString("p")})
		if err != nil {
			t.Fatal(err)
		}
		return ignore(m.Login(bg, w.loginClient(t)))
	}},

	// --- driver, envsecrets, filesecrets, memsecrets ---
	"driver.Entry.MarshalJSON": {never: func(*testing.T, *world) error {
		return ignore(vdriver.Entry{Path: "p", Fields: map[string]string{"k": "v"}}.MarshalJSON())
	}},
	"envsecrets.Backend.Close": {never: func(*testing.T, *world) error { return envsecrets.New(nil).Close() }},
	"envsecrets.Backend.Read": {code: vaultly.NotFound, noOp: true, call: func(*testing.T, *world) error {
		return ignore(envsecrets.New(&envsecrets.Options{Environ: func() []string { return nil }}).Read(bg, "app/db", 0))
	}},
	"filesecrets.New": {code: vaultly.Config, call: func(t *testing.T, w *world) error {
		return ignore(filesecrets.New(w.missing("secrets.yaml"), nil))
	}},
	"filesecrets.Parse": {code: vaultly.InvalidArgument, call: func(*testing.T, *world) error {
		return ignore(filesecrets.Parse([]byte("{not json or yaml")))
	}},
	"filesecrets.Backend.Close":       {never: func(t *testing.T, w *world) error { return files(t, w).Close() }},
	"filesecrets.Backend.MarshalJSON": {never: func(t *testing.T, w *world) error { return ignore(files(t, w).MarshalJSON()) }},
	"filesecrets.Backend.Delete":      {code: vaultly.Config, noOp: true, call: func(t *testing.T, w *world) error { return brokenFile(t, w).Delete(bg, "app/db") }},
	"filesecrets.Backend.List":        {code: vaultly.Config, noOp: true, call: func(t *testing.T, w *world) error { return ignore(brokenFile(t, w).List(bg, "app/")) }},
	"filesecrets.Backend.Read":        {code: vaultly.NotFound, noOp: true, call: func(t *testing.T, w *world) error { return ignore(files(t, w).Read(bg, "none", 0)) }},
	"filesecrets.Backend.Write": {code: vaultly.InvalidArgument, noOp: true, call: func(t *testing.T, w *world) error {
		return files(t, w).Write(bg, "app/db", map[string]any{"k": func() {}})
	}},
	"memsecrets.Backend.Close":       {never: func(*testing.T, *world) error { return memsecrets.New(nil).Close() }},
	"memsecrets.Backend.MarshalJSON": {never: func(*testing.T, *world) error { return ignore(memsecrets.New(nil).MarshalJSON()) }},
	"memsecrets.Backend.Delete":      {code: vaultly.Unavailable, noOp: true, call: func(*testing.T, *world) error { return failingMem().Delete(bg, "a") }},
	"memsecrets.Backend.IssueLease": {code: vaultly.NotFound, noOp: true, call: func(t *testing.T, w *world) error {
		return ignore(w.mem.IssueLease(bg, "database/creds/none"))
	}},
	"memsecrets.Backend.List": {code: vaultly.Unavailable, noOp: true, call: func(t *testing.T, w *world) error { return ignore(failingMem().List(bg, "a/")) }},
	"memsecrets.Backend.Read": {code: vaultly.NotFound, noOp: true, call: func(t *testing.T, w *world) error { return ignore(w.mem.Read(bg, "none", 0)) }},
	"memsecrets.Backend.RenewLease": {code: vaultly.NotFound, noOp: true, call: func(t *testing.T, w *world) error {
		return ignore(w.mem.RenewLease(bg, "no-such-lease", 0))
	}},
	"memsecrets.Backend.RevokeLease": {code: vaultly.Unavailable, noOp: true, call: func(t *testing.T, w *world) error {
		return failingMem().RevokeLease(bg, "no-such-lease")
	}},
	"memsecrets.Backend.Write": {code: vaultly.Unavailable, noOp: true, call: func(*testing.T, *world) error {
		return failingMem().Write(bg, "a", map[string]any{"k": "v"})
	}},

	// --- hashivault, against the real server ---
	"hashivault.New": {code: vaultly.Config, call: func(t *testing.T, _ *world) error {
		t.Setenv("VAULT_ADDR", "")
		return ignore(hashivault.New(bg, &hashivault.Options{ConfigFile: "-"}))
	}},
	"hashivault.NewSysClient": {code: vaultly.Config, call: func(*testing.T, *world) error {
		return ignore(hashivault.NewSysClient(&hashivault.Options{Address: "ftp://vault:8200", ConfigFile: "-"}))
	}},
	"hashivault.SysClient.SealStatus": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		return ignore(sysClient(t, w.closedIP).SealStatus(bg))
	}},
	"hashivault.SysClient.Unseal": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		return ignore(sysClient(t, w.closedIP).Unseal(bg, "key"))
	}},
	"hashivault.DefaultConfigPath": {code: vaultly.Config, call: func(t *testing.T, _ *world) error {
		t.Setenv("XDG_CONFIG_HOME", "")
		t.Setenv("HOME", "")
		return ignore(hashivault.DefaultConfigPath())
	}},
	"hashivault.EnvOptions": {code: vaultly.Config, call: func(t *testing.T, _ *world) error {
		t.Setenv("VAULT_SKIP_VERIFY", "true")
		return ignore(hashivault.EnvOptions())
	}},
	"hashivault.ReadConfigFile": {code: vaultly.Config, call: func(t *testing.T, w *world) error {
		err := ignore(hashivault.ReadConfigFile(w.missing("config.json")))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("ReadConfigFile(missing): errors.Is(err, fs.ErrNotExist) = false for %v", err)
		}
		return err
	}},
	"hashivault.WriteConfigFile": {code: vaultly.Config, call: func(*testing.T, *world) error {
		return hashivault.WriteConfigFile("/dev/null/vaultly/config.json", &hashivault.FileConfig{Address: "http://127.0.0.1:8200"})
	}},
	"hashivault.MapError": {code: vaultly.NotFound, noOp: true, call: func(*testing.T, *world) error {
		return hashivault.MapError(&api.ResponseError{StatusCode: 404, HTTPMethod: "GET", URL: "http://127.0.0.1:8200/v1/secret/data/x"})
	}},
	"hashivault.FileAuth.MarshalJSON": {never: func(*testing.T, *world) error {
		return ignore(hashivault.FileAuth{Method: "approle", Params: map[string]string{"secret_id": "s"}}.MarshalJSON())
	}},
	"hashivault.FileConfig.MarshalJSON": {never: func(*testing.T, *world) error { return ignore(hashivault.FileConfig{Token: "t"}.MarshalJSON()) }},
	"hashivault.Options.MarshalJSON":    {never: func(*testing.T, *world) error { return ignore(hashivault.Options{Token: "t"}.MarshalJSON()) }},
	"hashivault.Backend.Call": {code: vaultly.NotFound, vault: true, noOp: true, call: func(t *testing.T, w *world) error {
		return w.vault.Call(bg, func(ctx context.Context, c *api.Client) error {
			_, err := c.Logical().WriteWithContext(ctx, "no-such-mount/x", map[string]any{"k": "v"})
			return err
		})
	}},
	"hashivault.Backend.Close": {never: func(t *testing.T, w *world) error {
		b, err := hashivault.New(bg, &hashivault.Options{Address: w.srv.Addr, Token: w.srv.Token, ConfigFile: "-"})
		if err != nil {
			t.Fatal(err)
		}
		return b.Close()
	}},
	"hashivault.Backend.Capabilities": {code: vaultly.Unauthenticated, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.revoked.Capabilities(bg, "secret/data/app"))
	}},
	"hashivault.Backend.Delete": {code: vaultly.Unauthenticated, noOp: true, vault: true, call: func(t *testing.T, w *world) error {
		return w.revoked.Delete(bg, "app/db")
	}},
	"hashivault.Backend.DeleteVersions": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		return w.revoked.DeleteVersions(bg, "app/db", []int{1})
	}},
	"hashivault.Backend.DestroyVersions": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		return w.revoked.DestroyVersions(bg, "app/db", []int{1})
	}},
	"hashivault.Backend.GetEntry": {code: vaultly.NotFound, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.vault.GetEntry(bg, "errwalk/none", 0))
	}},
	"hashivault.Backend.IssueLease": {code: vaultly.NotFound, noOp: true, call: func(t *testing.T, w *world) error {
		return ignore(w.vault.IssueLease(bg, "database/creds/none"))
	}},
	"hashivault.Backend.KVPath": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		_, _, err := w.revoked.KVPath(bg, "data", "app/db")
		return err
	}},
	"hashivault.Backend.KVVersion": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		return ignore(w.revoked.KVVersion(bg))
	}},
	"hashivault.Backend.List": {code: vaultly.NotFound, noOp: true, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.vault.List(bg, "errwalk/none/"))
	}},
	"hashivault.Backend.LookupSelf": {code: vaultly.Unauthenticated, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.revoked.LookupSelf(bg))
	}},
	"hashivault.Backend.Patch": {code: vaultly.NotFound, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.vault.Patch(bg, "errwalk/none", map[string]any{"k": "v"}, nil))
	}},
	"hashivault.Backend.Put": {code: vaultly.Unauthenticated, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.revoked.Put(bg, "errwalk/put", map[string]any{"k": "v"}, nil))
	}},
	"hashivault.Backend.Read": {code: vaultly.NotFound, noOp: true, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.vault.Read(bg, "errwalk/none", 0))
	}},
	"hashivault.Backend.ReadAPIPath": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		return ignore(w.revoked.ReadAPIPath(bg, "app/db"))
	}},
	"hashivault.Backend.ReadKVConfig": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		return ignore(w.revoked.ReadKVConfig(bg))
	}},
	"hashivault.Backend.ReadMetadata": {code: vaultly.NotFound, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.vault.ReadMetadata(bg, "errwalk/none"))
	}},
	"hashivault.Backend.RenewLease": {code: vaultly.NotFound, noOp: true, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.vault.RenewLease(bg, "database/creds/app/no-such-lease", 0))
	}},
	"hashivault.Backend.RevokeLease": {code: vaultly.Unauthenticated, noOp: true, vault: true, call: func(t *testing.T, w *world) error {
		return w.revoked.RevokeLease(bg, "database/creds/app/no-such-lease")
	}},
	"hashivault.Backend.SealStatus": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		return ignore(w.down.SealStatus(bg))
	}},
	"hashivault.Backend.UndeleteVersions": {code: vaultly.NotFound, vault: true, call: func(t *testing.T, w *world) error {
		return w.vault.UndeleteVersions(bg, "errwalk/none", []int{1})
	}},
	"hashivault.Backend.Unseal": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		return ignore(w.down.Unseal(bg, "key"))
	}},
	"hashivault.Backend.Write": {code: vaultly.Unauthenticated, noOp: true, call: func(t *testing.T, w *world) error {
		return w.revoked.Write(bg, "errwalk/write", map[string]any{"k": "v"})
	}},
	"hashivault.Backend.WriteMetadata": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		n := 3
		return w.revoked.WriteMetadata(bg, "errwalk/meta", &hashivault.MetadataUpdate{MaxVersions: &n})
	}},

	// --- retry, sqlsecrets ---
	"retry.Do": {code: vaultly.InvalidArgument, noOp: true, call: func(*testing.T, *world) error {
		return retry.Do(bg, &retry.Policy{MaxAttempts: -1}, func(context.Context, int) error { return nil })
	}},
	"sqlsecrets.NewConnector": {code: vaultly.Config, call: func(*testing.T, *world) error {
		return ignore(sqlsecrets.NewConnector(nil, nil, nil))
	}},
	"sqlsecrets.Connector.Connect": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		c, err := sqlsecrets.NewConnector(&pq.Driver{}, fixedCreds{}, &sqlsecrets.Options{
			DSN: sqlsecrets.PostgresURL("postgres://" + strings.TrimPrefix(w.closedIP, "http://") + "/app?sslmode=disable&connect_timeout=2")})
		if err != nil {
			t.Fatal(err)
		}
		return ignore(c.Connect(bg))
	}},

	// --- transit, against the real server ---
	"transit.New":             {code: vaultly.Config, call: func(*testing.T, *world) error { return ignore(transit.New(nil, nil)) }},
	"transit.ParseCiphertext": {code: vaultly.InvalidArgument, call: func(*testing.T, *world) error { return ignore(transit.ParseCiphertext("x")) }},
	"transit.DataKey.MarshalJSON": {never: func(t *testing.T, w *world) error {
		return ignore(dataKey(t, w).MarshalJSON())
	}},
	"transit.DataKey.MarshalText": {never: func(t *testing.T, w *world) error {
		return ignore(dataKey(t, w).MarshalText())
	}},
	"transit.DataKey.Open": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		return ignore(dataKey(t, w).Open([]byte("too short"), nil))
	}},
	"transit.DataKey.Seal": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		k := dataKey(t, w)
		k.Destroy()
		return ignore(k.Seal([]byte("p"), nil))
	}},
	"transit.DecryptResult.MarshalJSON": {never: func(*testing.T, *world) error {
		return ignore(transit.DecryptResult{Plaintext: []byte("p")}.MarshalJSON())
	}},
	"transit.EncryptItem.MarshalJSON": {never: func(*testing.T, *world) error {
		return ignore(transit.EncryptItem{Plaintext: []byte("p")}.MarshalJSON())
	}},
	"transit.Transit.CreateKey": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		return w.transit.CreateKey(bg, "a/b", nil)
	}},
	"transit.Transit.Decrypt": {code: vaultly.NotFound, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.transit.Decrypt(bg, "errwalk-none", validCT, nil))
	}},
	"transit.Transit.DecryptBatch": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		return ignore(w.tRevoked.DecryptBatch(bg, "app", []transit.DecryptItem{{Ciphertext: validCT}}))
	}},
	"transit.Transit.Encrypt": {code: vaultly.Unauthenticated, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.tRevoked.Encrypt(bg, "app", []byte("p"), nil, nil))
	}},
	"transit.Transit.EncryptBatch": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		return ignore(w.tRevoked.EncryptBatch(bg, "app", []transit.EncryptItem{{Plaintext: []byte("p")}}, nil))
	}},
	"transit.Transit.GenerateDataKey": {code: vaultly.NotFound, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.transit.GenerateDataKey(bg, "errwalk-none", nil))
	}},
	"transit.Transit.HMAC": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		return ignore(w.tRevoked.HMAC(bg, "app", []byte("p"), nil))
	}},
	"transit.Transit.Key": {code: vaultly.NotFound, call: func(t *testing.T, w *world) error {
		return ignore(w.transit.Key(bg, "errwalk-none"))
	}},
	"transit.Transit.Open": {code: vaultly.NotFound, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.transit.Open(bg, "errwalk-none", &transit.Envelope{Key: validCT, Data: []byte("d")}, nil))
	}},
	"transit.Transit.Rewrap": {code: vaultly.NotFound, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.transit.Rewrap(bg, "errwalk-none", validCT, nil))
	}},
	"transit.Transit.RotateKey": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		return ignore(w.tRevoked.RotateKey(bg, "app"))
	}},
	"transit.Transit.Seal": {code: vaultly.NotFound, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.transit.Seal(bg, "errwalk-none", []byte("p"), nil))
	}},
	"transit.Transit.Sign": {code: vaultly.Unauthenticated, call: func(t *testing.T, w *world) error {
		return ignore(w.tRevoked.Sign(bg, "app", []byte("p"), nil))
	}},
	"transit.Transit.UnwrapDataKey": {code: vaultly.NotFound, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.transit.UnwrapDataKey(bg, "errwalk-none", validCT, nil))
	}},
	"transit.Transit.Verify": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		return ignore(w.transit.Verify(bg, "app", []byte("p"), "not-a-signature", nil))
	}},
	"transit.Transit.VerifyHMAC": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		return ignore(w.transit.VerifyHMAC(bg, "app", []byte("p"), "not-an-hmac", nil))
	}},

	// --- vaultly (the root package), over memsecrets ---
	"vaultly.CleanPath": {code: vaultly.InvalidArgument, call: func(*testing.T, *world) error { return ignore(vaultly.CleanPath("a/../b")) }},
	"vaultly.ParseRef":  {code: vaultly.InvalidArgument, call: func(*testing.T, *world) error { return ignore(vaultly.ParseRef("")) }},
	"vaultly.WrapError": {code: vaultly.NotFound, call: func(*testing.T, *world) error {
		return vaultly.WrapError("get", "a", "b", vdriver.NewError(vdriver.NotFound, errors.New("no entry")))
	}},
	"vaultly.Entry.MarshalJSON": {never: func(t *testing.T, w *world) error {
		w.mem.Set("errwalk/entry", map[string]any{"k": "v"})
		e, err := w.store.Entry(bg, "errwalk/entry", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ignore(e.MarshalJSON())
	}},
	"vaultly.Secret.MarshalJSON": {never: func(*testing.T, *world) error { return ignore(vaultly.NewSecret("v").MarshalJSON()) }},
	"vaultly.Secret.MarshalText": {never: func(*testing.T, *world) error { return ignore(vaultly.NewSecret("v").MarshalText()) }},
	"vaultly.Secret.UnmarshalJSON": {code: vaultly.InvalidArgument, call: func(*testing.T, *world) error {
		var s vaultly.Secret[int]
		return s.UnmarshalJSON([]byte(`"not a number"`))
	}},
	"vaultly.Secret.UnmarshalText": {code: vaultly.InvalidArgument, call: func(*testing.T, *world) error {
		var s vaultly.Secret[int]
		return s.UnmarshalText([]byte("not a number"))
	}},
	"vaultly.GetAs": {code: vaultly.NotFound, call: func(t *testing.T, w *world) error {
		return ignore(vaultly.GetAs[int](bg, w.store, "errwalk/none"))
	}},
	"vaultly.NewLive": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		return ignore(vaultly.NewLive[string](w.store, "a/../b", nil))
	}},
	"vaultly.Live.Get": {code: vaultly.NotFound, call: func(t *testing.T, w *world) error {
		l, err := vaultly.NewLive[string](w.store, "errwalk/none", nil)
		if err != nil {
			t.Fatal(err)
		}
		return ignore(l.Get(bg))
	}},
	"vaultly.Live.MarshalJSON": {never: func(t *testing.T, w *world) error {
		l, _ := vaultly.NewLive[string](w.store, "errwalk/live", nil)
		return ignore(l.MarshalJSON())
	}},
	"vaultly.Live.MarshalText": {never: func(t *testing.T, w *world) error {
		l, _ := vaultly.NewLive[string](w.store, "errwalk/live", nil)
		return ignore(l.MarshalText())
	}},
	"vaultly.OpenDynamic": {code: vaultly.NotFound, call: func(t *testing.T, w *world) error {
		return ignore(vaultly.OpenDynamic[map[string]string](bg, w.store, "database/creds/none", nil))
	}},
	"vaultly.OpenDynamics": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		return ignore(vaultly.OpenDynamics(bg, w.store, struct{}{}, nil))
	}},
	"vaultly.Dynamic.Close": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		mem := memsecrets.New(nil)
		mem.SetRole("database/creds/app", memsecrets.Role{TTL: time.Hour})
		s := vaultly.New(mem, &vaultly.Options{Retry: &retry.Policy{MaxAttempts: 1}})
		defer s.Close()
		d, err := vaultly.OpenDynamic[map[string]string](bg, s, "database/creds/app", &vaultly.DynamicOptions{RevokeOnClose: true})
		if err != nil {
			t.Fatal(err)
		}
		mem.SetError("", vdriver.NewError(vdriver.Unavailable, errors.New("backend down")))
		return d.Close(bg)
	}},
	"vaultly.Dynamic.Wait": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		// The lease (300ms) ends while every replacement fails: its generation
		// is retired and Wait gives up when its context ends.
		mem := memsecrets.New(nil)
		mem.SetRole("database/creds/app", memsecrets.Role{TTL: 300 * time.Millisecond, MaxTTL: 300 * time.Millisecond})
		s := vaultly.New(mem, nil)
		defer s.Close()
		d, err := vaultly.OpenDynamic[map[string]string](bg, s, "database/creds/app", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close(bg)
		mem.SetError("", vdriver.NewError(vdriver.Unavailable, errors.New("backend down")))
		for d.MinValid() < 2 {
			time.Sleep(20 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
		defer cancel()
		return ignore(d.Wait(ctx))
	}},
	"vaultly.Store.Close": {never: func(*testing.T, *world) error { return vaultly.New(memsecrets.New(nil), nil).Close() }},
	"vaultly.Store.Delete": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		return w.envStore.Delete(bg, "a")
	}},
	"vaultly.Store.Entry": {code: vaultly.NotFound, call: func(t *testing.T, w *world) error {
		return ignore(w.store.Entry(bg, "errwalk/none", 0, nil))
	}},
	"vaultly.Store.Get": {code: vaultly.NotFound, call: func(t *testing.T, w *world) error { return ignore(w.store.Get(bg, "errwalk/none")) }},
	"vaultly.Store.GetRef": {code: vaultly.NotFound, call: func(t *testing.T, w *world) error {
		return ignore(w.store.GetRef(bg, vaultly.Ref{Path: "errwalk/none"}, nil))
	}},
	"vaultly.Store.List": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error { return ignore(w.envStore.List(bg, "a/")) }},
	"vaultly.Store.Load": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		return w.store.Load(bg, struct{}{}, nil)
	}},
	"vaultly.Store.Put": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		return w.envStore.Put(bg, "a", map[string]any{"k": "v"})
	}},
	"vaultly.Store.Refresh": {code: vaultly.NotFound, call: func(t *testing.T, w *world) error {
		return w.store.Refresh(bg, "errwalk/none")
	}},
	"vaultly.Store.SaveSnapshot": {code: vaultly.Config, call: func(t *testing.T, w *world) error {
		// A snapshot without a key: nothing can be written.
		s := vaultly.New(memsecrets.New(nil), &vaultly.Options{Snapshot: &vaultly.SnapshotOptions{Path: t.TempDir() + "/s.snap"}})
		defer s.Close()
		return s.SaveSnapshot()
	}},
	"vaultly.Store.RefreshAll": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		mem := memsecrets.New(nil)
		mem.Set("app/db", map[string]any{"k": "v"})
		s := vaultly.New(mem, &vaultly.Options{Retry: &retry.Policy{MaxAttempts: 1}})
		defer s.Close()
		if _, err := s.Get(bg, "app/db:k"); err != nil {
			t.Fatal(err)
		}
		mem.SetError("", vdriver.NewError(vdriver.Unavailable, errors.New("backend down")))
		return s.RefreshAll(bg)
	}},
}

// validCT is a well-formed ciphertext no key here made.
const validCT = transit.Ciphertext("vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")

func files(t *testing.T, w *world) *filesecrets.Backend {
	t.Helper()
	p := filepath.Join(w.dir, "secrets.json")
	if err := os.WriteFile(p, []byte(`{"app/db": {"user": "u"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := filesecrets.New(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// failingMem is a memsecrets backend whose every call fails as a backend
// that is down does.
func failingMem() *memsecrets.Backend {
	b := memsecrets.New(nil)
	b.SetError("", vdriver.NewError(vdriver.Unavailable, errors.New("backend down")))
	return b
}

// brokenFile is a filesecrets backend whose file was overwritten with
// something that does not parse.
func brokenFile(t *testing.T, w *world) *filesecrets.Backend {
	t.Helper()
	b := files(t, w)
	p := filepath.Join(w.dir, "secrets.json")
	if err := os.WriteFile(p, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, future, future); err != nil {
		t.Fatal(err)
	}
	return b
}

func sysClient(t *testing.T, addr string) *hashivault.SysClient {
	t.Helper()
	c, err := hashivault.NewSysClient(&hashivault.Options{Address: addr, ConfigFile: "-"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dataKey(t *testing.T, w *world) *transit.DataKey {
	t.Helper()
	if err := w.transit.CreateKey(bg, "errwalk-dk", nil); err != nil {
		t.Fatal(err)
	}
	k, err := w.transit.GenerateDataKey(bg, "errwalk-dk", nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixedCreds is a sqlsecrets.Source with one set of credentials.
type fixedCreds struct{}

func (fixedCreds) Credentials() sqlsecrets.Credentials {
	return sqlsecrets.Credentials{Username: "app", Password: vaultly.NewSecret("pw"), Generation: 1}
}
func (fixedCreds) MinValid() uint64 { return 1 }

var _ driver.Driver = (*pq.Driver)(nil)

func sentinel(c vaultly.Code) error {
	return map[vaultly.Code]error{
		vaultly.NotFound: vaultly.ErrNotFound, vaultly.PermissionDenied: vaultly.ErrPermissionDenied,
		vaultly.Unauthenticated: vaultly.ErrUnauthenticated, vaultly.Unavailable: vaultly.ErrUnavailable,
		vaultly.ResourceExhausted: vaultly.ErrResourceExhausted, vaultly.InvalidArgument: vaultly.ErrInvalidArgument,
		vaultly.Config: vaultly.ErrConfig, vaultly.Canceled: vaultly.ErrCanceled,
		vaultly.DeadlineExceeded: vaultly.ErrDeadlineExceeded, vaultly.Conflict: vaultly.ErrConflict,
		vaultly.Malformed: vaultly.ErrMalformed,
	}[c]
}

// TestTableListsEveryFunction: the table has a row for every exported
// function and method of the module's public packages that returns an
// error, and no row for one that is gone. A new function fails here until
// it gets a failing case (or a reasoned exemption).
func TestTableListsEveryFunction(t *testing.T) {
	funcs, err := Exported("../../..", modPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(funcs) < 100 {
		t.Fatalf("Exported found %d functions; the walk over the source is broken", len(funcs))
	}
	seen := map[string]bool{}
	for _, f := range funcs {
		seen[f.Key] = true
		if _, ok := table[f.Key]; !ok {
			t.Errorf("%s (%s) returns an error and is not in the error walk's table: add a case that makes it fail, with the code it must have", f.Key, f.Pos)
		}
	}
	for k := range table {
		if !seen[k] {
			t.Errorf("the table has a row for %s, which is no longer an exported function returning an error", k)
		}
	}
}

// TestErrorWalk calls every function of the table with its failing input
// and checks the contract: the error is a *vaultly.Error (errors.As), its
// code is the row's (vaultly.CodeOf, errors.Is with the code's sentinel),
// never Unknown or OK; it names its operation (driver methods excepted,
// whose errors the Store completes), reads as one line, and keeps the
// Vault response error reachable when the failure is Vault's answer.
func TestErrorWalk(t *testing.T) {
	w := newWorld(t)
	for _, key := range slices.Sorted(maps.Keys(table)) {
		row := table[key]
		t.Run(key, func(t *testing.T) {
			switch {
			case row.exempt != "":
				t.Skipf("exempt: %s", row.exempt)
			case row.never != nil:
				if err := row.never(t, w); err != nil {
					t.Errorf("%s: error %v, want nil (the row says it cannot fail)", key, err)
				}
				return
			}
			if row.code == vaultly.OK || row.code == vaultly.Unknown {
				t.Fatalf("the row for %s expects code %v: a failing case must have a real code", key, row.code)
			}
			err := row.call(t, w)
			if err == nil {
				t.Fatalf("%s: error nil, want code %v", key, row.code)
			}
			e, ok := errors.AsType[*vaultly.Error](err)
			if !ok {
				t.Fatalf("%s: error %T %q is not a *vaultly.Error", key, err, err)
			}
			if got := vaultly.CodeOf(err); got != row.code {
				t.Errorf("%s: CodeOf = %v, want %v (error %q)", key, got, row.code, err)
			}
			if !errors.Is(err, sentinel(row.code)) {
				t.Errorf("%s: errors.Is(err, vaultly.Err%v) = false (error %q)", key, row.code, err)
			}
			if !row.noOp && e.Op == "" {
				t.Errorf("%s: error %q has no Op", key, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error text is not one line: %q", key, err)
			}
			if row.vault {
				if _, ok := errors.AsType[*api.ResponseError](err); !ok {
					t.Errorf("%s: the Vault response error is not reachable with errors.As (error %q)", key, err)
				}
			}
		})
	}
}
