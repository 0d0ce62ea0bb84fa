package redact_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/auth/aws"
	"github.com/vaultly/vaultly/auth/cert"
	"github.com/vaultly/vaultly/auth/jwt"
	"github.com/vaultly/vaultly/auth/kubernetes"
	"github.com/vaultly/vaultly/auth/ldap"
	"github.com/vaultly/vaultly/auth/token"
	"github.com/vaultly/vaultly/auth/userpass"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/envsecrets"
	"github.com/vaultly/vaultly/filesecrets"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/errs"
	"github.com/vaultly/vaultly/internal/lease"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/sqlsecrets"
	"github.com/vaultly/vaultly/transit"
)

// typeRow is what the canary test knows about one exported type of the
// module. Exactly one of make and none is set.
type typeRow struct {
	name string // "<package dir>.<Type>", the root package as "vaultly"

	// make returns values of the type holding secrets wherever the type can
	// hold one, and those secrets.
	make func(e *env) sample
	// none says why the type holds no secret (an interface, a function, an
	// enumeration, settings without a credential, a test helper, ...).
	none string

	// plain, when set, says why the type prints its contents where fmt
	// cannot call its methods (an unexported field of a caller's struct,
	// %p of a value): its secret-bearing fields are exported plain Go
	// values. The README lists these as a limit.
	plain string
	// keepsJSON, when set, says why encoding/json (called directly, not
	// through slog) shows the data.
	keepsJSON string
}

type sample struct {
	values  []any
	secrets []string
}

func one(v any, secrets ...string) sample { return sample{[]any{v}, secrets} }

// env is what the rows build their values from: a real Vault dev server
// (whose root token is a secret to look for) and local backends.
type env struct {
	t   *testing.T
	ctx context.Context
	srv *vaulttest.Server
}

// memStore returns a Store over a memsecrets backend holding the canary at
// app:pw (already read, so cached) and a database role issuing it as a
// password.
func (e *env) memStore() (*vaultly.Store, *memsecrets.Backend) {
	b := memsecrets.New(nil)
	b.Set("app", map[string]any{"pw": canary, "user": "u"})
	b.SetRole("database/creds/app", memsecrets.Role{TTL: time.Hour, MaxTTL: 2 * time.Hour,
		Fields: func(n int) map[string]any { return map[string]any{"username": "u", "password": canary} }})
	s := vaultly.New(b, nil)
	e.t.Cleanup(func() { _ = s.Close() })
	if v, err := vaultly.GetAs[string](e.ctx, s, "app:pw"); err != nil || v != canary {
		e.t.Fatalf("Get(app:pw) = %q, %v", v, err)
	}
	return s, b
}

func (e *env) vaultBackend() *hashivault.Backend {
	b, err := hashivault.New(e.ctx, &hashivault.Options{Address: e.srv.Addr, Token: e.srv.Token, ConfigFile: "-"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = b.Close() })
	return b
}

func (e *env) dynamic() *vaultly.Dynamic[vaultly.DatabaseCredentials] {
	s, _ := e.memStore()
	d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](e.ctx, s, "database/creds/app", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

// causeNamed returns the error of type name (as reflect prints it) in
// err's chain.
func causeNamed(t *testing.T, err error, name string) error {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if reflect.TypeOf(e).String() == name {
			return e
		}
	}
	t.Fatalf("no %s in the chain of %v", name, err)
	return nil
}

var dbCreds = vaultly.DatabaseCredentials{Username: "u", Password: vaultly.NewSecret(canary)}

const (
	noneInterface = "an interface: its implementations have their own rows"
	noneFunc      = "a function type"
	noneEnum      = "an enumeration"
	noneCode      = "an error code"
	noneTestOnly  = "a test helper: it holds a throwaway test server's credentials in exported fields, on purpose"
	noneContainer = "an internal container that prints what it holds, like a Go map; the Store keeps it behind pointers (see the vaultly.Store row)"
)

// exportedTypes has a row for every exported type of every package of the
// module (TestEveryExportedTypeHasARow checks it against the source). A new
// type needs a row: a sample holding secrets, or why it holds none.
var exportedTypes = []typeRow{
	// package vaultly
	{name: "vaultly.Code", none: noneCode},
	{name: "vaultly.DatabaseCredentials", make: func(*env) sample { return one(dbCreds, canary) }},
	{name: "vaultly.Dynamic", make: func(e *env) sample { return one(e.dynamic(), canary) }},
	{name: "vaultly.DynamicEvent", make: func(e *env) sample {
		l := e.dynamic().Current()
		return one(vaultly.DynamicEvent[vaultly.DatabaseCredentials]{Kind: vaultly.LeaseRotated, Leased: l, Previous: l}, canary)
	}},
	{name: "vaultly.DynamicEventKind", none: noneEnum},
	{name: "vaultly.DynamicOptions", none: "durations and flags"},
	{name: "vaultly.Entry", make: func(*env) sample {
		return one(vaultly.Entry{Path: "app", Version: 1, Fields: map[string]string{"pw": canary}}, canary)
	}, plain: "its exported Fields map is the data"},
	{name: "vaultly.Error", make: func(e *env) sample {
		s, _ := e.memStore()
		_, err := vaultly.GetAs[int](e.ctx, s, "app:pw")
		return one(err, canary)
	}},
	{name: "vaultly.LeaseInfo", none: "a lease ID (not a secret: it cannot read the credentials) and times"},
	{name: "vaultly.Leased", make: func(e *env) sample { return one(*e.dynamic().Current(), canary) }},
	{name: "vaultly.Live", make: func(e *env) sample {
		s, _ := e.memStore()
		l := must(vaultly.NewLive[string](s, "app:pw", nil))
		if v, err := l.Get(e.ctx); err != nil || v != canary {
			e.t.Fatalf("Live.Get() = %q, %v", v, err)
		}
		lm := must(vaultly.NewLive[map[string]string](s, "app", nil))
		if _, err := lm.Get(e.ctx); err != nil {
			e.t.Fatal(err)
		}
		return sample{[]any{l, lm}, []string{canary}}
	}},
	{name: "vaultly.LoadOptions", none: "interpolation variables (names of paths, not secrets) and a parallelism"},
	{name: "vaultly.Options", none: "cache, retry and logging settings"},
	{name: "vaultly.ReadOptions", none: "a TTL"},
	{name: "vaultly.Ref", none: "a path, key and version"},
	{name: "vaultly.Secret", make: func(*env) sample {
		return sample{[]any{vaultly.NewSecret(canary), vaultly.NewSecret([]byte(canary)),
			vaultly.NewSecret(map[string]string{"k": canary}), vaultly.NewSecret(dbCreds), vaultly.NewSecret([1]string{canary})}, []string{canary}}
	}},
	{name: "vaultly.Stats", none: "counters"},
	{name: "vaultly.OutagePolicy", none: "a count, a duration and a flag"},
	{name: "vaultly.SnapshotOptions", none: "file paths, an environment variable's name and durations; the key is read from the file or variable, never held here"},
	{name: "vaultly.SnapshotInfo", none: "a file path, counts, times and errors (which name the file, never its content)"},
	{name: "vaultly.SnapshotError", none: "a file path, a kind and a detail; never the file's content or the key"},
	{name: "internal/outage.Breaker", none: "state, counters and the backend's last error (backend errors hold no secret)"},
	{name: "internal/outage.OpenError", none: "a time, a count and the backend's last error"},
	{name: "internal/outage.Options", none: "durations and functions"},
	{name: "internal/outage.State", none: "a time, counts and the backend's last error"},
	{name: "vaultly.Store", make: func(e *env) sample {
		s, _ := e.memStore()
		hs := vaultly.New(e.vaultBackend(), nil)
		e.t.Cleanup(func() { _ = hs.Close() })
		if _, err := hs.Get(e.ctx, "redact/app:pw"); err != nil {
			e.t.Fatal(err)
		}
		return sample{[]any{s, hs}, []string{canary, e.srv.Token}}
	}},
	{name: "vaultly.Value", make: func(*env) sample { return one(vaultly.NewSecret(canary), canary) }},

	// auth and its methods
	{name: "auth.Credential", make: func(*env) sample { return one(auth.FromString(canary), canary) }},
	{name: "auth.Describer", none: noneInterface},
	{name: "auth.Method", none: noneInterface},
	{name: "auth.MethodFunc", none: noneFunc},
	{name: "auth/approle.Method", make: func(e *env) sample {
		return one(must(approle.New(&approle.Options{RoleID: auth.FromString(canary + "-role"), SecretID: auth.FromString(canary)})), canary)
	}},
	{name: "auth/approle.Options", make: func(*env) sample {
		return one(approle.Options{RoleID: auth.FromString(canary + "-role"), SecretID: auth.FromString(canary)}, canary)
	}},
	{name: "auth/aws.Method", make: func(e *env) sample {
		return one(must(aws.New(&aws.Options{Role: "r", Region: "us-east-1", AccessKeyID: auth.FromString("AKIA" + canary),
			SecretAccessKey: auth.FromString(canary), SessionToken: auth.FromString(canary + "-session")})), canary)
	}},
	{name: "auth/aws.Options", make: func(*env) sample {
		return one(aws.Options{AccessKeyID: auth.FromString("id"), SecretAccessKey: auth.FromString(canary), SessionToken: auth.FromString(canary)}, canary)
	}},
	{name: "auth/cert.Method", make: func(e *env) sample {
		return one(must(cert.New(&cert.Options{CertFile: "/c.pem", KeyFile: "/k.pem"})))
	}},
	{name: "auth/cert.Options", none: "the paths of a certificate and a key file, read at each login"},
	// auth/internal/login is reached through the methods that embed it
	// and the errors they return.
	{name: "auth/internal/login.Base", make: func(e *env) sample {
		m := must(approle.New(&approle.Options{RoleID: auth.FromString("r"), SecretID: auth.FromString(canary)}))
		return one(m.Base, canary)
	}},
	{name: "auth/internal/login.Err", make: func(e *env) sample {
		m := must(userpass.New(&userpass.Options{Username: "u", Password: auth.FromString(canary)}))
		_, err := hashivault.New(e.ctx, &hashivault.Options{Address: e.srv.Addr, Auth: m, ConfigFile: "-"})
		return one(causeNamed(e.t, err, "*login.Err"), canary)
	}},
	{name: "auth/internal/login.Password", make: func(e *env) sample {
		m := must(ldap.New(&ldap.Options{Username: "u", Password: auth.FromString(canary)}))
		return one(m.Password, canary)
	}},
	{name: "auth/jwt.Method", make: func(e *env) sample {
		return one(must(jwt.New(&jwt.Options{JWT: auth.FromString(canary), Role: "r"})), canary)
	}},
	{name: "auth/jwt.Options", make: func(*env) sample { return one(jwt.Options{JWT: auth.FromString(canary), Role: "r"}, canary) }},
	{name: "auth/kubernetes.Method", make: func(e *env) sample {
		return one(must(kubernetes.New(&kubernetes.Options{Role: "r", JWTFile: "/var/run/token"})))
	}},
	{name: "auth/kubernetes.Options", none: "a role and the path of the token file, read at each login"},
	{name: "auth/ldap.Method", make: func(e *env) sample {
		return one(must(ldap.New(&ldap.Options{Username: "u", Password: auth.FromString(canary)})), canary)
	}},
	{name: "auth/ldap.Options", make: func(*env) sample { return one(ldap.Options{Username: "u", Password: auth.FromString(canary)}, canary) }},
	{name: "auth/token.Method", make: func(e *env) sample {
		return one(must(token.New(&token.Options{Token: auth.FromString(canary)})), canary)
	}},
	{name: "auth/token.Options", make: func(*env) sample { return one(token.Options{Token: auth.FromString(canary)}, canary) }},
	{name: "auth/userpass.Method", make: func(e *env) sample {
		return one(must(userpass.New(&userpass.Options{Username: "u", Password: auth.FromString(canary)})), canary)
	}},
	{name: "auth/userpass.Options", make: func(*env) sample {
		return one(userpass.Options{Username: "u", Password: auth.FromString(canary)}, canary)
	}},

	// driver and drivertest
	{name: "driver.Backend", none: noneInterface},
	{name: "driver.ChangeNotifier", none: noneInterface},
	{name: "driver.Code", none: noneCode},
	{name: "driver.DefaultKeyer", none: noneInterface},
	{name: "driver.Entry", make: func(*env) sample {
		return one(driver.Entry{Path: "app", Version: 1, Fields: map[string]string{"pw": canary}, Lease: &driver.Lease{ID: "l/1"}}, canary)
	}, plain: "its exported Fields map is the data"},
	{name: "driver.Error", make: func(*env) sample { return one(driver.NewError(errs.NotFound, errors.New("no entry"))) }},
	{name: "driver.Lease", none: "a lease ID (not a secret) and a duration"},
	{name: "driver.Leaser", none: noneInterface},
	{name: "driver.Lister", none: noneInterface},
	{name: "driver.Metadata", none: "times and custom metadata (not secret in Vault's model)"},
	{name: "driver.Writer", none: noneInterface},
	{name: "drivertest.Capabilities", none: "flags"},
	{name: "drivertest.CertHarness", none: noneInterface},
	{name: "drivertest.Harness", none: noneInterface},
	{name: "drivertest.HarnessMaker", none: noneFunc},
	{name: "drivertest.LeaseHarness", none: noneInterface},

	// local backends
	{name: "envsecrets.Backend", make: func(*env) sample {
		return one(envsecrets.New(&envsecrets.Options{Environ: func() []string { return []string{"APP_PW=" + canary} }}), canary)
	}},
	{name: "envsecrets.Options", none: "a prefix, a name and a function"},
	{name: "filesecrets.Backend", make: func(e *env) sample {
		f := filepath.Join(e.t.TempDir(), "secrets.json")
		if err := os.WriteFile(f, []byte(`{"app":{"pw":"`+canary+`"}}`), 0o600); err != nil {
			e.t.Fatal(err)
		}
		b := must(filesecrets.New(f, nil))
		if _, err := b.Read(e.ctx, "app", 0); err != nil {
			e.t.Fatal(err)
		}
		return one(b, canary)
	}},
	{name: "filesecrets.Options", none: "a name"},
	{name: "memsecrets.Backend", make: func(e *env) sample {
		_, b := e.memStore()
		if _, err := b.IssueLease(e.ctx, "database/creds/app"); err != nil {
			e.t.Fatal(err)
		}
		b.SetError("broken", errors.New("injected"))
		return one(b, canary)
	}},
	{name: "memsecrets.Call", none: "an operation, a path, a version and a lease ID"},
	{name: "memsecrets.LeaseState", none: "a lease ID, a path and times"},
	{name: "memsecrets.Options", none: "a name and a default key"},
	{name: "memsecrets.Role", none: "durations and a function (Fields) that makes the values"},

	// hashivault
	{name: "hashivault.Backend", make: func(e *env) sample { return one(e.vaultBackend(), e.srv.Token) }},
	{name: "hashivault.FileAuth", make: func(*env) sample {
		return one(hashivault.FileAuth{Method: "approle", Params: map[string]string{"role_id": "r", "secret_id": canary}}, canary)
	}, plain: "its exported Params map holds the credentials as the config file has them"},
	{name: "hashivault.FileConfig", make: func(*env) sample {
		return one(hashivault.FileConfig{Address: "http://127.0.0.1:1", Token: canary,
			Auth: &hashivault.FileAuth{Method: "approle", Params: map[string]string{"role_id": "r", "secret_id": canary}}}, canary)
	}, plain: "its exported Token string is the config file's content"},
	{name: "hashivault.KVConfig", none: "a mount's settings"},
	{name: "hashivault.KVEntry", make: func(*env) sample {
		return one(hashivault.KVEntry{Path: "app", Data: map[string]any{"pw": canary}}, canary)
	}, plain: "its exported Data map is the data", keepsJSON: "its JSON is the CLI's -format=json output"},
	{name: "hashivault.Metadata", none: "versions, times and custom metadata (not secret in Vault's model)"},
	{name: "hashivault.MetadataUpdate", none: "settings and custom metadata"},
	{name: "hashivault.Options", make: func(e *env) sample {
		return one(hashivault.Options{Address: "https://u:" + canary + "@vault:8200", Token: canary, ProxyURL: "http://u:" + canary + "@proxy:3128",
			Addresses: []string{"https://u:" + canary + "@vault:8200", "https://u:" + canary + "@vault-2:8200"},
			Auth:      must(approle.New(&approle.Options{RoleID: auth.FromString("r"), SecretID: auth.FromString(canary)}))}, canary)
	}, plain: "its exported Token string (and user info in Address, Addresses and ProxyURL) are plain strings"},
	{name: "hashivault.NodeState", none: noneEnum},
	{name: "hashivault.NodeStatus", none: "a node's address (user info redacted) and state"},
	{name: "hashivault.PatchOptions", none: "a check-and-set version"},
	{name: "hashivault.PutOptions", none: "a check-and-set version"},
	{name: "hashivault.SealStatus", none: "the server's seal state"},
	{name: "hashivault.SysClient", make: func(e *env) sample {
		return one(must(hashivault.NewSysClient(&hashivault.Options{Address: e.srv.Addr, Token: e.srv.Token, ConfigFile: "-"})), e.srv.Token)
	}},
	{name: "hashivault.TokenDetails", none: "a token's name, policies and TTL; not the token"},
	{name: "hashivault.VersionMetadata", none: "a version's number and times"},

	// sqlsecrets and transit
	{name: "sqlsecrets.Connector", make: func(e *env) sample {
		c := must(sqlsecrets.NewConnector(stdlib.GetDefaultDriver(), sqlsecrets.FromDynamic(e.dynamic()),
			&sqlsecrets.Options{DSN: sqlsecrets.PostgresURL("postgres://127.0.0.1:1/app")}))
		return one(c, canary)
	}},
	{name: "sqlsecrets.Credentials", make: func(*env) sample {
		return one(sqlsecrets.Credentials{Username: "u", Password: vaultly.NewSecret(canary), Generation: 1}, canary)
	}},
	{name: "sqlsecrets.Options", none: "a function"},
	{name: "sqlsecrets.Source", none: noneInterface},
	{name: "sqlsecrets.Waiter", none: noneInterface},
	{name: "transit.Caller", none: noneInterface},
	{name: "transit.Ciphertext", none: "a ciphertext: not secret"},
	{name: "transit.DataKey", make: func(e *env) sample {
		tr := must(transit.New(e.vaultBackend(), nil))
		k := must(tr.GenerateDataKey(e.ctx, "redact", nil))
		pt := k.Reveal()
		return one(k, string(pt), e.srv.Token)
	}},
	{name: "transit.DataKeyOptions", none: "a size and a derivation context (not secret)"},
	{name: "transit.DecryptItem", none: "a ciphertext and a derivation context"},
	{name: "transit.DecryptResult", make: func(*env) sample {
		return sample{[]any{transit.DecryptResult{Plaintext: []byte(canary)}, []transit.DecryptResult{{Plaintext: []byte(canary)}}}, []string{canary}}
	}, plain: "its exported Plaintext is the data"},
	{name: "transit.EncryptItem", make: func(*env) sample { return one(transit.EncryptItem{Plaintext: []byte(canary)}, canary) },
		plain: "its exported Plaintext is the data"},
	{name: "transit.EncryptOptions", none: "a key version"},
	{name: "transit.EncryptResult", none: "a ciphertext and an error"},
	{name: "transit.Envelope", none: "a wrapped key and a ciphertext"},
	{name: "transit.HMAC", none: "an HMAC: not secret"},
	{name: "transit.HMACOptions", none: "an algorithm and a key version"},
	{name: "transit.KeyInfo", none: "a key's name, type and versions"},
	{name: "transit.KeyOptions", none: "a key type"},
	{name: "transit.Options", none: "a mount, a name and a retry policy"},
	{name: "transit.RewrapOptions", none: "a key version and a derivation context"},
	{name: "transit.SignOptions", none: "algorithms, a key version and a derivation context"},
	{name: "transit.Signature", none: "a signature: not secret"},
	{name: "transit.Transit", make: func(e *env) sample { return one(must(transit.New(e.vaultBackend(), nil)), e.srv.Token) }},

	// retry and the internal packages
	{name: "retry.Policy", none: "durations and functions"},
	{name: "internal/cache.Map", none: noneContainer},
	{name: "internal/cli.IO", none: "three streams"},
	{name: "internal/entrycache.Cache", none: noneContainer},
	{name: "internal/entrycache.Call", none: noneContainer},
	{name: "internal/entrycache.Counter", none: "a counter"},
	{name: "internal/entrycache.Item", none: noneContainer},
	{name: "internal/entrycache.Options", none: "durations and a function"},
	{name: "internal/entrycache.Ref", none: "a path, version and key"},
	{name: "internal/entrycache.Result", none: noneEnum},
	{name: "internal/entrycache.Slot", none: noneContainer},
	{name: "internal/errs.Code", none: noneCode},
	{name: "internal/errs.Error", make: func(e *env) sample {
		s, _ := e.memStore()
		_, err := vaultly.GetAs[time.Duration](e.ctx, s, "app:pw")
		return one(err, canary)
	}},
	{name: "internal/hint.Kind", none: noneEnum},
	{name: "internal/hint.Mark", none: "a mount, a path, a version and an error"},
	{name: "internal/lease.Event", make: func(*env) sample {
		s := &lease.Secret{Entry: &driver.Entry{Fields: map[string]string{"password": canary}, Lease: &driver.Lease{ID: "p/1"}}}
		return one(lease.Event{Kind: lease.Rotated, Secret: s, Previous: s}, canary)
	}},
	{name: "internal/lease.Kind", none: noneEnum},
	{name: "internal/lease.Options", none: "durations and functions"},
	{name: "internal/lease.Secret", make: func(*env) sample {
		return one(lease.Secret{Entry: &driver.Entry{Fields: map[string]string{"password": canary}, Lease: &driver.Lease{ID: "p/1"}}, Generation: 1}, canary)
	}, plain: "its exported Entry is the data, as issued"},
	{name: "internal/lease.Watcher", make: func(e *env) sample {
		_, b := e.memStore()
		w := must(lease.Start(e.ctx, b, "database/creds/app", nil))
		e.t.Cleanup(func() { _ = w.Close(context.Background()) })
		return one(w, canary)
	}},
	{name: "internal/notify.Listeners", none: "functions"},
	{name: "internal/renew.Lease", none: "times and flags"},
	{name: "internal/renew.Loop", none: "a renewal schedule's state"},
	{name: "internal/renew.Options", none: "a policy and functions"},
	{name: "internal/renew.Policy", none: "fractions and durations"},
	{name: "internal/renew.Target", none: noneInterface},
	{name: "internal/testing/errwalk.Func", none: "a function's name and position"},
	{name: "internal/testing/faultproxy.Fault", none: noneTestOnly},
	{name: "internal/testing/faultproxy.Proxy", none: noneTestOnly},
	{name: "internal/testing/faultproxy.Request", none: noneTestOnly},
	{name: "internal/testing/vaulttest.ClientCA", none: noneTestOnly},
	{name: "internal/testing/vaulttest.Cluster", none: noneTestOnly},
	{name: "internal/testing/vaulttest.ClusterOptions", none: noneTestOnly},
	{name: "internal/testing/vaulttest.DatabaseRole", none: noneTestOnly},
	{name: "internal/testing/vaulttest.Node", none: noneTestOnly},
	{name: "internal/testing/vaulttest.Options", none: noneTestOnly},
	{name: "internal/testing/vaulttest.Postgres", none: noneTestOnly},
	{name: "internal/testing/vaulttest.STS", none: noneTestOnly},
	{name: "internal/testing/vaulttest.Server", none: noneTestOnly},
	{name: "internal/testing/vaulttest.ServiceAccount", none: noneTestOnly},
	{name: "internal/testing/vaulttest.Shared", none: noneTestOnly},
	{name: "internal/testing/vaulttest.TokenReviewer", none: noneTestOnly},
}
