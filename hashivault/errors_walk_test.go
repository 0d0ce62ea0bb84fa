package hashivault

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
)

// errCase is one exported function or method called with an input that
// fails, and what its error must be.
type errCase struct {
	fn   string // "New", "Backend.Read", "SysClient.Unseal", ...
	why  string // the failing input
	call func() error
	code vaultly.Code
	op   string // the Op it must carry; "" for a bare classification (Store-facing RPCs, MapError, Call)
	ref  string // the Ref it must carry, when non-empty
	resp int    // status of the *api.ResponseError errors.As must reach; 0: none
	text string // a substring the message must contain, when non-empty
}

// noErrorFuncs are the exported functions and methods whose error result
// cannot be produced by a failing input: the redacting encoders marshal
// plain strings and maps.
var noErrorFuncs = []string{"Options.MarshalJSON", "FileConfig.MarshalJSON", "FileAuth.MarshalJSON"}

// TestEveryErrorIsAVaultlyError walks every exported function and method of
// the package that returns an error, each with an input that fails, and
// checks the contract: the error is a *vaultly.Error (errors.As, errors.Is
// with its code's sentinel, vaultly.CodeOf), it carries the operation, the
// path and Backend "vault" where they mean something, the Vault response
// stays reachable with errors.As for every status (404 included), and the
// text is one line without a token. A new exported function that returns
// an error fails the test until it has a case here.
func TestEveryErrorIsAVaultlyError(t *testing.T) {
	clearEnv(t)
	srv := shared(t)
	ctx := ctxT(t, 60*time.Second)
	srv.PutKV(t, "walk/app", map[string]any{"value": "v"})
	mount, roleID, secretID := setupAppRole(t, srv, "approle-walk", map[string]any{"token_ttl": "1h"})

	b := rootBackend(t, srv, &Options{KVVersion: 2})
	kv1 := unique("walkkv1")
	srv.EnableSecrets(t, kv1, "kv", map[string]string{"version": "1"})
	b1 := rootBackend(t, srv, &Options{Mount: kv1, KVVersion: 1})
	closed := rootBackend(t, srv, &Options{KVVersion: 2})
	closed.Close()

	// Behind a proxy that answers 503 to everything once the backend is
	// up: every call fails on its own request (kv version known) or on
	// the detection (kv version not known yet).
	proxy := faultproxy.Start(t, srv.Addr, nil)
	down := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2})
	detect := newBackend(t, &Options{Address: proxy.URL, Token: srv.Token})
	revoking := newBackend(t, &Options{Address: proxy.URL, Auth: appRole(t, mount, roleID, secretID), RevokeOnClose: true})
	sc, err := NewSysClient(&Options{Address: proxy.URL, ConfigFile: "-"})
	if err != nil {
		t.Fatalf("NewSysClient: %v", err)
	}
	proxy.Inject(faultproxy.Fault{Status: 503})

	missingFile := filepath.Join(t.TempDir(), "none.json")
	badJSON := filepath.Join(t.TempDir(), "bad.json")
	if err := WriteConfigFile(badJSON, &FileConfig{Address: "http://x"}); err != nil {
		t.Fatal(err)
	}
	if err := writeRaw(badJSON, "{not json"); err != nil {
		t.Fatal(err)
	}
	bogus := "hvs.CAESIBogusBogusBogusBogusBogusBogusBogusBogus"
	e := func(_ any, err error) error { return err }
	e2 := func(_ any, _ int, err error) error { return err }

	cases := []errCase{
		// Constructors and configuration.
		{fn: "New", why: "no address", call: func() error { return e(New(ctx, &Options{Token: "x", ConfigFile: "-"})) },
			code: vaultly.Config, op: "connect", text: "no vault address"},
		{fn: "New", why: "missing explicit config file", call: func() error { return e(New(ctx, &Options{ConfigFile: missingFile})) },
			code: vaultly.Config, op: "read-config", ref: missingFile, text: "does not exist"},
		{fn: "New", why: "rejected token", call: func() error { return e(New(ctx, &Options{Address: srv.Addr, Token: bogus, ConfigFile: "-"})) },
			code: vaultly.Unauthenticated, op: "login", resp: 403},
		{fn: "New", why: "server down", call: func() error {
			return e(New(ctx, &Options{Address: proxy.URL, Token: srv.Token, ConfigFile: "-"}))
		}, code: vaultly.Unavailable, op: "login", resp: 503},
		{fn: "New", why: "Address not among Addresses", call: func() error {
			return e(New(ctx, &Options{Address: "http://x:1", Addresses: []string{"http://a:1", "http://b:1"}, Token: "x", ConfigFile: "-"}))
		}, code: vaultly.Config, op: "connect", text: "not one of Addresses"},
		{fn: "New", why: "every node down", call: func() error {
			return e(New(ctx, &Options{Addresses: []string{proxy.URL, deadAddr(t)}, Token: srv.Token, ConfigFile: "-", HealthInterval: -1}))
		}, code: vaultly.Unavailable, op: "login", resp: 503},
		{fn: "New", why: "answer past MaxResponseBytes", call: func() error {
			return e(New(ctx, &Options{Address: srv.Addr, Token: srv.Token, ConfigFile: "-", MaxResponseBytes: 64}))
		}, code: vaultly.Malformed, op: "login", text: "64 bytes limit"},
		{fn: "EnvOptions", why: "VAULT_SKIP_VERIFY", call: func() error {
			t.Setenv("VAULT_SKIP_VERIFY", "true")
			defer clearEnv(t)
			return e(EnvOptions())
		}, code: vaultly.Config, op: "env", text: "VAULT_SKIP_VERIFY"},
		{fn: "DefaultConfigPath", why: "no home", call: func() error {
			t.Setenv("XDG_CONFIG_HOME", "")
			t.Setenv("HOME", "")
			return e(DefaultConfigPath())
		}, code: vaultly.Config, op: "config-path"},
		{fn: "ReadConfigFile", why: "missing", call: func() error { return e(ReadConfigFile(missingFile)) },
			code: vaultly.Config, op: "read-config", ref: missingFile},
		{fn: "ReadConfigFile", why: "invalid json", call: func() error { return e(ReadConfigFile(badJSON)) },
			code: vaultly.Config, op: "read-config", ref: badJSON, text: "invalid json"},
		{fn: "WriteConfigFile", why: "nil config", call: func() error { return WriteConfigFile(missingFile, nil) },
			code: vaultly.InvalidArgument, op: "write-config", ref: missingFile},
		{fn: "NewSysClient", why: "no address", call: func() error { return e(NewSysClient(&Options{ConfigFile: "-"})) },
			code: vaultly.Config, op: "connect"},
		{fn: "MapError", why: "403", call: func() error {
			return MapError(&api.ResponseError{StatusCode: 403, HTTPMethod: "GET", URL: "http://x/v1/a", Errors: []string{"permission denied"}})
		}, code: vaultly.PermissionDenied, resp: 403},

		// The Store-facing RPCs: a bare classification the Store wraps.
		{fn: "Backend.Read", why: "missing entry", call: func() error { return e(b.Read(ctx, "walk/none", 0)) },
			code: vaultly.NotFound, resp: 404},
		{fn: "Backend.Read", why: "missing entry kv1", call: func() error { return e(b1.Read(ctx, "none", 0)) },
			code: vaultly.NotFound, resp: 404},
		{fn: "Backend.Read", why: "server down", call: func() error { return e(down.Read(ctx, "walk/app", 0)) },
			code: vaultly.Unavailable, resp: 503},
		{fn: "Backend.CurrentVersion", why: "missing entry", call: func() error { return e(b.CurrentVersion(ctx, "walk/none")) },
			code: vaultly.NotFound, resp: 404},
		{fn: "Backend.CurrentVersion", why: "server down", call: func() error { return e(down.CurrentVersion(ctx, "walk/app")) },
			code: vaultly.Unavailable, resp: 503},
		{fn: "Backend.Call", why: "server down", call: func() error {
			return down.Call(ctx, func(ctx context.Context, c *api.Client) error {
				_, err := c.Logical().ReadWithContext(ctx, "secret/data/walk/app")
				return err
			})
		}, code: vaultly.Unavailable, resp: 503},
		{fn: "Backend.IssueLease", why: "server down", call: func() error { return e(down.IssueLease(ctx, "database/creds/x")) },
			code: vaultly.Unavailable, resp: 503},
		{fn: "Backend.RenewLease", why: "server down", call: func() error { return e(down.RenewLease(ctx, "database/creds/x/abc", time.Minute)) },
			code: vaultly.Unavailable, resp: 503},
		{fn: "Backend.RevokeLease", why: "server down", call: func() error { return down.RevokeLease(ctx, "database/creds/x/abc") },
			code: vaultly.Unavailable, resp: 503},
		{fn: "Backend.IssueCert", why: "server down", call: func() error { return e(down.IssueCert(ctx, "pki", "web", nil)) },
			code: vaultly.Unavailable, resp: 503},
		{fn: "Backend.SignCSR", why: "server down", call: func() error { return e(down.SignCSR(ctx, "pki", "web", []byte{1}, nil)) },
			code: vaultly.Unavailable, resp: 503},
		{fn: "Backend.CACerts", why: "server down", call: func() error { return e(down.CACerts(ctx, "pki")) },
			code: vaultly.Unavailable, resp: 503},
		{fn: "Backend.RevokeCert", why: "not a certificate", call: func() error { return down.RevokeCert(ctx, "pki", []byte("x")) },
			code: vaultly.InvalidArgument},

		// Management: op, path and backend filled.
		{fn: "Backend.GetEntry", why: "missing", call: func() error { return e(b.GetEntry(ctx, "walk/none", 0)) },
			code: vaultly.NotFound, op: "get", ref: "walk/none", resp: 404},
		{fn: "Backend.GetEntry", why: "missing kv1", call: func() error { return e(b1.GetEntry(ctx, "none", 0)) },
			code: vaultly.NotFound, op: "get", ref: "none", resp: 404},
		{fn: "Backend.GetEntry", why: "server down", call: func() error { return e(down.GetEntry(ctx, "walk/app", 0)) },
			code: vaultly.Unavailable, op: "get", ref: "walk/app", resp: 503},
		{fn: "Backend.GetEntry", why: "detection, server down", call: func() error { return e(detect.GetEntry(ctx, "walk/app", 0)) },
			code: vaultly.Unavailable, op: "get", ref: "walk/app", resp: 503},
		{fn: "Backend.Put", why: "bad path", call: func() error { return e(b.Put(ctx, "walk/../x", nil, nil)) },
			code: vaultly.InvalidArgument, op: "put"},
		{fn: "Backend.Put", why: "server down", call: func() error { return e(down.Put(ctx, "walk/app", map[string]any{"v": "w"}, nil)) },
			code: vaultly.Unavailable, op: "put", ref: "walk/app", resp: 503},
		{fn: "Backend.Write", why: "server down", call: func() error { return down.Write(ctx, "walk/app", map[string]any{"v": "w"}) },
			code: vaultly.Unavailable, op: "put", ref: "walk/app", resp: 503},
		{fn: "Backend.Patch", why: "missing", call: func() error { return e(b.Patch(ctx, "walk/none", map[string]any{"v": "w"}, nil)) },
			code: vaultly.NotFound, op: "patch", ref: "walk/none", resp: 404},
		{fn: "Backend.Patch", why: "server down", call: func() error { return e(down.Patch(ctx, "walk/app", map[string]any{"v": "w"}, nil)) },
			code: vaultly.Unavailable, op: "patch", ref: "walk/app", resp: 503},
		{fn: "Backend.Delete", why: "server down", call: func() error { return down.Delete(ctx, "walk/app") },
			code: vaultly.Unavailable, op: "delete", ref: "walk/app", resp: 503},
		{fn: "Backend.List", why: "missing prefix", call: func() error { return e(b.List(ctx, "walk/none")) },
			code: vaultly.NotFound, op: "list", ref: "walk/none", resp: 404},
		{fn: "Backend.List", why: "server down", call: func() error { return e(down.List(ctx, "walk")) },
			code: vaultly.Unavailable, op: "list", ref: "walk", resp: 503},
		{fn: "Backend.DeleteVersions", why: "missing", call: func() error { return b.DeleteVersions(ctx, "walk/none", []int{1}) },
			code: vaultly.NotFound, op: "delete-versions", ref: "walk/none", resp: 404},
		{fn: "Backend.UndeleteVersions", why: "server down", call: func() error { return down.UndeleteVersions(ctx, "walk/app", []int{1}) },
			code: vaultly.Unavailable, op: "undelete-versions", ref: "walk/app", resp: 503},
		{fn: "Backend.DestroyVersions", why: "no versions", call: func() error { return b.DestroyVersions(ctx, "walk/app", nil) },
			code: vaultly.InvalidArgument, op: "destroy-versions", ref: "walk/app"},
		{fn: "Backend.ReadMetadata", why: "missing", call: func() error { return e(b.ReadMetadata(ctx, "walk/none")) },
			code: vaultly.NotFound, op: "read-metadata", ref: "walk/none", resp: 404},
		{fn: "Backend.WriteMetadata", why: "server down", call: func() error { return down.WriteMetadata(ctx, "walk/app", nil) },
			code: vaultly.Unavailable, op: "write-metadata", ref: "walk/app", resp: 503},
		{fn: "Backend.ReadKVConfig", why: "kv v1", call: func() error { return e(b1.ReadKVConfig(ctx)) },
			code: vaultly.InvalidArgument, op: "read-kv-config", ref: kv1},
		{fn: "Backend.ReadKVConfig", why: "server down", call: func() error { return e(down.ReadKVConfig(ctx)) },
			code: vaultly.Unavailable, op: "read-kv-config", ref: "secret", resp: 503},
		{fn: "Backend.KVVersion", why: "server down", call: func() error { return e(detect.KVVersion(ctx)) },
			code: vaultly.Unavailable, op: "kv-version", ref: "secret", resp: 503},
		{fn: "Backend.KVPath", why: "server down", call: func() error { return e2(detect.KVPath(ctx, "data", "walk/app")) },
			code: vaultly.Unavailable, op: "kv-path", ref: "walk/app", resp: 503},
		{fn: "Backend.ReadAPIPath", why: "server down", call: func() error { return e(detect.ReadAPIPath(ctx, "walk/app")) },
			code: vaultly.Unavailable, op: "read-api-path", ref: "walk/app", resp: 503},
		{fn: "Backend.Capabilities", why: "server down", call: func() error { return e(down.Capabilities(ctx, "secret/data/walk/app")) },
			code: vaultly.Unavailable, op: "capabilities", ref: "secret/data/walk/app", resp: 503},
		{fn: "Backend.LookupSelf", why: "server down", call: func() error { return e(down.LookupSelf(ctx)) },
			code: vaultly.Unavailable, op: "lookup-token", resp: 503},
		{fn: "Backend.SealStatus", why: "server down", call: func() error { return e(down.SealStatus(ctx)) },
			code: vaultly.Unavailable, op: "seal-status", resp: 503},
		{fn: "Backend.Unseal", why: "empty key", call: func() error { return e(down.Unseal(ctx, " ")) },
			code: vaultly.InvalidArgument, op: "unseal"},
		{fn: "Backend.Unseal", why: "closed", call: func() error { return e(closed.Unseal(ctx, "k")) },
			code: vaultly.Canceled, op: "unseal"},
		{fn: "Backend.Close", why: "revoke fails", call: func() error { return revoking.Close() },
			code: vaultly.Unavailable, op: "close", resp: 503},
		{fn: "SysClient.SealStatus", why: "server down", call: func() error { return e(sc.SealStatus(ctx)) },
			code: vaultly.Unavailable, op: "seal-status", resp: 503},
		{fn: "SysClient.Unseal", why: "server down", call: func() error { return e(sc.Unseal(ctx, "k")) },
			code: vaultly.Unavailable, op: "unseal", resp: 503},
	}
	for _, tt := range cases {
		t.Run(tt.fn+"/"+tt.why, func(t *testing.T) {
			err := tt.call()
			checkVaultlyError(t, tt, err, srv.Token, bogus, secretID)
		})
	}

	t.Run("every exported function has a case", func(t *testing.T) {
		have := map[string]bool{}
		for _, c := range cases {
			have[c.fn] = true
		}
		for _, fn := range exportedErrorFuncs(t) {
			if !have[fn] && !slices.Contains(noErrorFuncs, fn) {
				t.Errorf("%s returns an error but has no case in TestEveryErrorIsAVaultlyError", fn)
			}
		}
	})
}

func checkVaultlyError(t *testing.T, tt errCase, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s (%s) = nil error, want code %v", tt.fn, tt.why, tt.code)
	}
	ve, ok := err.(*vaultly.Error)
	if !ok {
		t.Fatalf("%s (%s) error %T (%v) is not a *vaultly.Error", tt.fn, tt.why, err, err)
	}
	if got := vaultly.CodeOf(err); got != tt.code {
		t.Errorf("%s (%s): CodeOf = %v, want %v (%v)", tt.fn, tt.why, got, tt.code, err)
	}
	if !errors.Is(err, errsSentinel(tt.code)) {
		t.Errorf("%s (%s): errors.Is(err, sentinel of %v) = false", tt.fn, tt.why, tt.code)
	}
	var as *vaultly.Error
	if !errors.As(err, &as) {
		t.Errorf("%s (%s): errors.As(err, **vaultly.Error) = false", tt.fn, tt.why)
	}
	if ve.Op != tt.op {
		t.Errorf("%s (%s): Op = %q, want %q (%v)", tt.fn, tt.why, ve.Op, tt.op, err)
	}
	if tt.ref != "" && ve.Ref != tt.ref {
		t.Errorf("%s (%s): Ref = %q, want %q (%v)", tt.fn, tt.why, ve.Ref, tt.ref, err)
	}
	if wantBackend := map[bool]string{true: "vault", false: ""}[tt.op != ""]; ve.Backend != wantBackend {
		t.Errorf("%s (%s): Backend = %q, want %q (%v)", tt.fn, tt.why, ve.Backend, wantBackend, err)
	}
	var re *api.ResponseError
	if got := errors.As(err, &re); got != (tt.resp != 0) || (got && re.StatusCode != tt.resp) {
		status := 0
		if got {
			status = re.StatusCode
		}
		t.Errorf("%s (%s): errors.As(*api.ResponseError) = %v (status %d), want status %d (%v)", tt.fn, tt.why, got, status, tt.resp, err)
	}
	msg := err.Error()
	if tt.text != "" && !strings.Contains(msg, tt.text) {
		t.Errorf("%s (%s) = %q, want it to contain %q", tt.fn, tt.why, msg, tt.text)
	}
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("%s (%s): error spans lines: %q", tt.fn, tt.why, msg)
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("%s (%s): error contains a token or credential: %q", tt.fn, tt.why, msg)
		}
	}
}

func errsSentinel(c vaultly.Code) error {
	switch c {
	case vaultly.NotFound:
		return vaultly.ErrNotFound
	case vaultly.PermissionDenied:
		return vaultly.ErrPermissionDenied
	case vaultly.Unauthenticated:
		return vaultly.ErrUnauthenticated
	case vaultly.Unavailable:
		return vaultly.ErrUnavailable
	case vaultly.ResourceExhausted:
		return vaultly.ErrResourceExhausted
	case vaultly.InvalidArgument:
		return vaultly.ErrInvalidArgument
	case vaultly.Config:
		return vaultly.ErrConfig
	case vaultly.Canceled:
		return vaultly.ErrCanceled
	case vaultly.DeadlineExceeded:
		return vaultly.ErrDeadlineExceeded
	case vaultly.Conflict:
		return vaultly.ErrConflict
	case vaultly.Malformed:
		return vaultly.ErrMalformed
	}
	return errors.New("no sentinel")
}

// exportedErrorFuncs lists the package's exported functions and methods
// (of exported types) whose last result is an error, as "Func" or
// "Type.Method", from its non-test source.
func exportedErrorFuncs(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		{
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || !fd.Name.IsExported() || fd.Type.Results == nil {
					continue
				}
				res := fd.Type.Results.List
				if id, ok := res[len(res)-1].Type.(*ast.Ident); !ok || id.Name != "error" {
					continue
				}
				name := fd.Name.Name
				if fd.Recv != nil {
					typ := fd.Recv.List[0].Type
					if st, ok := typ.(*ast.StarExpr); ok {
						typ = st.X
					}
					id, ok := typ.(*ast.Ident)
					if !ok || !id.IsExported() {
						continue
					}
					name = id.Name + "." + name
				}
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	if len(out) < 20 {
		t.Fatalf("found only %d exported functions returning an error: the parser missed the package", len(out))
	}
	return out
}

func writeRaw(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
