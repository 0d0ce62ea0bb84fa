package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// TestVaultSideBySide runs the same command lines through the real vault
// CLI (the pinned server binary is the vault CLI) and through vaultly,
// against one dev server, each on its own twin path (secret/sbs/vault/...
// and secret/sbs/vaultly/...), and compares what a script sees: exit codes,
// -field bytes, the shape of the -format=json documents and their values
// at jq-like paths, and the "Success!" lines. Steps run in order: each
// builds on the state the previous ones left, in both twins alike.
func TestVaultSideBySide(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	docPath := filepath.Join(e.home, "doc.json")
	if err := os.WriteFile(docPath, []byte(`{"doc_user": "from-json", "doc_port": 5432}`), 0o600); err != nil {
		t.Fatal(err)
	}

	// A step: args with {p} for the twin's mount-qualified path and {r}
	// for it relative to the mount; what to compare.
	type step struct {
		name  string
		args  []string
		stdin string
		// vaultlyExtra are flags vaultly needs where it deliberately differs
		// (documented in the README's "coming from vault kv" table).
		vaultlyExtra []string
		code         int      // both must exit with it
		jq           []string // -format=json: these values must be equal
		shape        bool     // -format=json: the documents have the same shape
		stdout       bool     // stdout must be equal (after the twin paths are unified)
	}
	steps := []step{
		{name: "put", args: []string{"kv", "put", "-format=json", "{p}", "user=app", "password=s3cret", "n=5"}, shape: true, jq: []string{".data.version", ".data.destroyed", ".data.deletion_time", ".mount_type"}},
		{name: "get json", args: []string{"kv", "get", "-format=json", "{p}"}, shape: true,
			jq: []string{".data.data", ".data.data.password", ".data.metadata.version", ".data.metadata.destroyed", ".mount_type", ".lease_duration"}},
		{name: "get -field", args: []string{"kv", "get", "-field=password", "{p}"}, stdout: true},
		{name: "get -field of a number", args: []string{"kv", "get", "-field=n", "{p}"}, stdout: true},
		{name: "get -field json", args: []string{"kv", "get", "-format=json", "-field=password", "{p}"}, stdout: true},
		{name: "get -mount", args: []string{"kv", "get", "-mount=secret", "-format=json", "{r}"}, shape: true, jq: []string{".data.data"}},
		{name: "get yaml", args: []string{"kv", "get", "-format=yaml", "-field=user", "{p}"}, stdout: true},
		{name: "get missing field", args: []string{"kv", "get", "-field=nope", "{p}"}, code: 1},
		{name: "get missing path", args: []string{"kv", "get", "{p}-missing"}, code: 2},
		{name: "get missing version", args: []string{"kv", "get", "-version=9", "{p}"}, code: 2},
		{name: "get unknown flag", args: []string{"kv", "get", "-nosuchflag", "{p}"}, code: 1},
		{name: "get without path", args: []string{"kv", "get"}, code: 1},
		{name: "patch", args: []string{"kv", "patch", "-format=json", "{p}", "password=n3w", "extra=x"}, shape: true, jq: []string{".data.version"}},
		{name: "patch -remove-data", args: []string{"kv", "patch", "-remove-data=extra", "-format=json", "{p}"}, shape: true, jq: []string{".data.version"}},
		{name: "after patch", args: []string{"kv", "get", "-format=json", "{p}"}, jq: []string{".data.data", ".data.metadata.version"}},
		{name: "patch missing path", args: []string{"kv", "patch", "{p}-missing", "a=b"}, code: 2},
		{name: "put from json file", args: []string{"kv", "put", "{p}-doc", "@" + docPath}, code: 0},
		{name: "get from json file", args: []string{"kv", "get", "-format=json", "{p}-doc"}, jq: []string{".data.data"}},
		{name: "put from stdin", args: []string{"kv", "put", "{p}-stdin", "pem=-"}, stdin: "line one\nline two\n"},
		{name: "stdin byte for byte", args: []string{"kv", "get", "-field=pem", "{p}-stdin"}, stdout: true},
		{name: "whole document from stdin", args: []string{"kv", "put", "{p}-stdin", "-"}, stdin: `{"a": "1", "b": true}`},
		{name: "document from stdin kept", args: []string{"kv", "get", "-format=json", "{p}-stdin"}, jq: []string{".data.data"}},
		{name: "list", args: []string{"kv", "list", "-format=json", "secret/sbs/{tool}"}, stdout: true},
		{name: "list table", args: []string{"kv", "list", "secret/sbs/{tool}/"}, stdout: true},
		{name: "list missing", args: []string{"kv", "list", "secret/sbs/{tool}/nothing"}, code: 2},
		{name: "delete", args: []string{"kv", "delete", "{p}"}, stdout: true},
		{name: "deleted: -field fails", args: []string{"kv", "get", "-field=password", "{p}"}, code: 2},
		{name: "undelete", args: []string{"kv", "undelete", "-versions=3", "{p}"}, stdout: true},
		{name: "undeleted", args: []string{"kv", "get", "-field=password", "{p}"}, stdout: true},
		{name: "delete -versions", args: []string{"kv", "delete", "-versions=1", "{p}"}, stdout: true},
		{name: "deleted version", args: []string{"kv", "get", "-version=1", "-field=password", "{p}"}, code: 2},
		{name: "destroy", args: []string{"kv", "destroy", "-versions=2", "{p}"}, vaultlyExtra: []string{"-yes"}, stdout: true},
		{name: "destroyed", args: []string{"kv", "metadata", "get", "-format=json", "{p}"}, shape: true,
			jq: []string{".data.current_version", ".data.versions.1.destroyed", ".data.versions.2.destroyed", ".data.versions.3.destroyed", ".data.max_versions"}},
		{name: "destroyed version", args: []string{"kv", "get", "-version=2", "-field=password", "{p}"}, code: 2},
		{name: "rollback", args: []string{"kv", "rollback", "-version=3", "-format=json", "{p}"}, shape: true, jq: []string{".data.version"}},
		{name: "rolled back", args: []string{"kv", "get", "-format=json", "{p}"}, jq: []string{".data.data", ".data.metadata.version"}},
		{name: "rollback to a destroyed version", args: []string{"kv", "rollback", "-version=2", "{p}"}, code: 2},
		{name: "metadata put", args: []string{"kv", "metadata", "put", "-max-versions=5", "-custom-metadata=owner=team-a", "-custom-metadata=tier=1", "{p}"}, stdout: true},
		{name: "metadata patch", args: []string{"kv", "metadata", "patch", "-custom-metadata=tier=2", "-custom-metadata=env=prod", "{p}"}, stdout: true},
		{name: "metadata get", args: []string{"kv", "metadata", "get", "-format=json", "{p}"}, shape: true,
			jq: []string{".data.max_versions", ".data.custom_metadata", ".data.current_version", ".data.cas_required", ".data.delete_version_after"}},
		{name: "metadata get missing", args: []string{"kv", "metadata", "get", "{p}-missing"}, code: 2},
		{name: "metadata delete", args: []string{"kv", "metadata", "delete", "{p}"}, vaultlyExtra: []string{"-yes"}, stdout: true},
		{name: "gone for good", args: []string{"kv", "get", "{p}"}, code: 2},
		{name: "metadata gone", args: []string{"kv", "metadata", "get", "{p}"}, code: 2},
	}

	type out struct {
		r   result
		doc any
	}
	vault := vaultBin(t)
	// runTwin runs step s for tool; it runs beside the other twin's run of
	// the same step (on the test goroutine or not), so it returns errors
	// rather than failing the test.
	runTwin := func(tool string, s step) (out, error) {
		p := "secret/sbs/" + tool + "/app"
		var args []string
		for _, a := range s.args {
			a = strings.ReplaceAll(a, "{p}", p)
			a = strings.ReplaceAll(a, "{r}", strings.TrimPrefix(p, "secret/"))
			args = append(args, strings.ReplaceAll(a, "{tool}", tool))
		}
		var r result
		var err error
		if tool == "vault" {
			r, err = e.execErr(vault, vaultCLIEnv, s.stdin, args...)
		} else {
			// vaultly takes the vault kv command line without "kv".
			args = args[1:]
			n := 1 // the command: get, put, ... or metadata get, ...
			if args[0] == "metadata" {
				n = 2
			}
			args = slices.Concat(args[:n], s.vaultlyExtra, args[n:])
			r, err = e.execErr(binary, nil, s.stdin, args...)
		}
		if err != nil {
			return out{}, err
		}
		r.stdout = strings.ReplaceAll(r.stdout, "sbs/"+tool+"/", "sbs/T/")
		r.stdout = strings.ReplaceAll(r.stdout, "sbs/"+tool+"\n", "sbs/T\n")
		o := out{r: r}
		if s.shape || len(s.jq) > 0 {
			if err := json.Unmarshal([]byte(r.stdout), &o.doc); err != nil {
				return o, fmt.Errorf("%s: %s: not json: %v\n%s\nstderr: %s", s.name, tool, err, r.stdout, r.stderr)
			}
		}
		return o, nil
	}
	for _, s := range steps {
		// The twins are independent: run the step in both at once.
		var v out
		var verr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			v, verr = runTwin("vault", s)
		}()
		vy, vyerr := runTwin("vaultly", s)
		<-done
		if err := errors.Join(verr, vyerr); err != nil {
			t.Fatal(err)
		}
		if v.r.code != s.code {
			t.Fatalf("%s: vault %v exited %d, want %d (the test's expectation is wrong)\nstdout: %s\nstderr: %s", s.name, s.args, v.r.code, s.code, v.r.stdout, v.r.stderr)
		}
		if vy.r.code != v.r.code {
			t.Errorf("%s: vaultly exited %d, vault %d\nvaultly stdout: %s\nvaultly stderr: %s", s.name, vy.r.code, v.r.code, vy.r.stdout, vy.r.stderr)
			continue
		}
		if s.stdout && vy.r.stdout != v.r.stdout {
			t.Errorf("%s: stdout differs\nvault:   %q\nvaultly: %q", s.name, v.r.stdout, vy.r.stdout)
		}
		if s.shape {
			if diff := cmp.Diff(shape(v.doc), shape(vy.doc)); diff != "" {
				t.Errorf("%s: json shape differs (-vault +vaultly):\n%s", s.name, diff)
			}
		}
		for _, q := range s.jq {
			gv, gvy := jq(v.doc, q), jq(vy.doc, q)
			if gv == nil {
				t.Errorf("%s: vault has nothing at %s (the test's path is wrong)", s.name, q)
			}
			if diff := cmp.Diff(gv, gvy); diff != "" {
				t.Errorf("%s: %s differs (-vault +vaultly):\n%s", s.name, q, diff)
			}
		}
	}
}

// vaultBin is the vault CLI: the pinned server binary.
func vaultBin(t *testing.T) string {
	t.Helper()
	bin, err := vaulttest.BinPath()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// shape replaces every scalar of a decoded JSON document by its type, so
// two documents compare equal when they have the same keys and kinds.
// Objects keyed by version numbers keep their keys.
func shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = shape(x)
		}
		return m
	case []any:
		if len(v) == 0 {
			return []any{}
		}
		return []any{shape(v[0])}
	case nil:
		return "null"
	default:
		return reflect.TypeOf(v).String()
	}
}

// jq returns the value at a jq-like path (.data.data.password; a segment
// may be an object key or an array index).
func jq(v any, path string) any {
	for _, seg := range strings.Split(strings.TrimPrefix(path, "."), ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			var i int
			if _, err := fmt.Sscan(seg, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// TestShapeAndJQ: the comparison helpers see the differences they must.
func TestShapeAndJQ(t *testing.T) {
	var a, b, c any
	for s, p := range map[string]*any{
		`{"data": {"data": {"k": "v"}, "metadata": {"version": 1}}, "warnings": null}`: &a,
		`{"data": {"data": {"k": "w"}, "metadata": {"version": 2}}, "warnings": null}`: &b,
		`{"data": {"data": {"k": "v"}, "metadata": {"version": "1"}}}`:                 &c,
	} {
		if err := json.Unmarshal([]byte(s), p); err != nil {
			t.Fatal(err)
		}
	}
	if !cmp.Equal(shape(a), shape(b)) {
		t.Error("same keys and kinds: shapes differ")
	}
	if cmp.Equal(shape(a), shape(c)) {
		t.Error("a number became a string and warnings went missing: shapes equal")
	}
	if got := jq(a, ".data.data.k"); got != "v" {
		t.Errorf("jq(.data.data.k) = %v, want v", got)
	}
	if got := jq(b, ".data.metadata.version"); got != 2.0 {
		t.Errorf("jq(.data.metadata.version) = %v, want 2", got)
	}
	if got := jq(a, ".data.nope.x"); got != nil {
		t.Errorf("jq(missing) = %v, want nil", got)
	}
	keys := func(m map[string]any) []string {
		var k []string
		for x := range m {
			k = append(k, x)
		}
		sort.Strings(k)
		return k
	}
	if got := keys(shape(a).(map[string]any)); !slices.Equal(got, []string{"data", "warnings"}) {
		t.Errorf("shape keys = %v", got)
	}
}

// TestVaultLoginThenVaultly: after `vault login` (the real vault CLI, its
// default token helper ~/.vault-token, or a token_helper program set in
// ~/.vault), vaultly reads with no other setup; VAULT_TOKEN comes first and
// vaultly's own saved login for the same address comes before the token
// helper.
func TestVaultLoginThenVaultly(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.WritePolicy(t, "cli-vlogin-a", `path "secret/data/cli/vlogin/a" { capabilities = ["read"] }`)
	srv.WritePolicy(t, "cli-vlogin-b", `path "secret/data/cli/vlogin/b" { capabilities = ["read"] }`)
	srv.PutKV(t, "cli/vlogin/a", map[string]any{"value": "read-with-a"})
	srv.PutKV(t, "cli/vlogin/b", map[string]any{"value": "read-with-b"})
	tokA := srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"cli-vlogin-a"}})
	tokB := srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"cli-vlogin-b"}})
	vault := vaultBin(t)

	// reads reports which of the two entries vaultly can read: the token
	// it used.
	reads := func(e *env, extra ...string) string {
		t.Helper()
		var can []string
		for _, p := range []string{"a", "b"} {
			if r := e.runEnv(extra, "", "get", "-field=value", "secret/cli/vlogin/"+p); r.code == 0 {
				can = append(can, p)
			} else if r.code != ExitError || strings.Contains(r.stderr, tokA) || strings.Contains(r.stderr, tokB) {
				t.Errorf("get %s: exit %d, stderr %q", p, r.code, r.stderr)
			}
		}
		return strings.Join(can, ",")
	}

	t.Run("default token helper", func(t *testing.T) {
		e := newEnv(t, srv)
		delete(e.vars, "VAULT_TOKEN")
		if got := reads(e); got != "" {
			t.Fatalf("before vault login vaultly reads %q", got)
		}
		if r := e.exec(vault, vaultCLIEnv, "", "login", "-no-print", tokA); r.code != 0 {
			t.Fatalf("vault login: %s", r.stderr)
		}
		if _, err := os.Stat(filepath.Join(e.home, ".vault-token")); err != nil {
			t.Fatalf("vault login wrote no ~/.vault-token: %v", err)
		}
		if got := e.must("", "get", "-field=value", "secret/cli/vlogin/a"); got != "read-with-a" {
			t.Errorf("vaultly get after vault login = %q", got)
		}
		if got := reads(e, "VAULT_TOKEN="+tokB); got != "b" {
			t.Errorf("with VAULT_TOKEN set vaultly reads %q, want b (VAULT_TOKEN first, as in vault)", got)
		}
		// vaultly's own login for this address comes before the helper.
		e.must("", "login", "-method", "token", "token="+tokB)
		if got := reads(e); got != "b" {
			t.Errorf("with a saved vaultly login and ~/.vault-token, vaultly reads %q, want b (the saved login)", got)
		}
		e.must("", "logout")
		if got := reads(e); got != "a" {
			t.Errorf("after vaultly logout vaultly reads %q, want a (the token helper's)", got)
		}
	})

	t.Run("token helper program", func(t *testing.T) {
		e := newEnv(t, srv)
		delete(e.vars, "VAULT_TOKEN")
		store := filepath.Join(e.home, "helper-store")
		helper := filepath.Join(e.home, "helper.sh")
		// Keeps one token per VAULT_ADDR, as real helpers do.
		script := "#!/bin/sh\nf=\"" + store + ".$(printf %s \"$VAULT_ADDR\" | tr -c 'a-zA-Z0-9' _)\"\n" +
			"case \"$1\" in get) [ ! -f \"$f\" ] || cat \"$f\" ;; store) cat > \"$f\" ;; erase) rm -f \"$f\" ;; esac\n"
		if err := os.WriteFile(helper, []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.home, ".vault"), []byte(`token_helper = "`+helper+`"`+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := e.exec(vault, vaultCLIEnv, "", "login", "-no-print", tokB); r.code != 0 {
			t.Fatalf("vault login through the helper: %s", r.stderr)
		}
		if _, err := os.Stat(filepath.Join(e.home, ".vault-token")); err == nil {
			t.Fatal("vault login wrote ~/.vault-token although a helper is configured")
		}
		if got := reads(e); got != "b" {
			t.Errorf("after vault login through a helper vaultly reads %q, want b", got)
		}
		// VAULT_CONFIG_PATH names another config, without a helper: the
		// default ~/.vault-token (none here) is used.
		if got := reads(e, "VAULT_CONFIG_PATH="+filepath.Join(e.home, "none.hcl")); got != "" {
			t.Errorf("with VAULT_CONFIG_PATH to a config without a helper vaultly reads %q, want nothing", got)
		}
		if err := os.WriteFile(filepath.Join(e.home, "bad.hcl"), []byte(`token_helpr = "x"`), 0o600); err != nil {
			t.Fatal(err)
		}
		r := e.runEnv([]string{"VAULT_CONFIG_PATH=" + filepath.Join(e.home, "bad.hcl")}, "", "get", "secret/cli/vlogin/b")
		checkResult(t, "a config with an unknown key", r, ExitError, `invalid key "token_helpr"`)
		if err := os.WriteFile(helper, []byte("#!/bin/sh\necho \"leaked-$1\" >&2\nexit 3\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		r = e.run("", "get", "secret/cli/vlogin/b")
		checkResult(t, "a failing token helper", r, ExitError, "token helper failed: exit status 3")
		if strings.Contains(r.stderr, "leaked") {
			t.Errorf("the helper's stderr reached the error: %s", r.stderr)
		}
	})
}

// TestVersion: vaultly version and -version print the module version and
// the server's; an unreachable server is shown, not an error.
func TestVersion(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	var v versionInfo
	if err := json.Unmarshal([]byte(e.must("", "version", "-format=json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Version == "" || !strings.HasPrefix(v.Go, "go") || v.ServerVersion != "1.21.0" || v.ServerAddress != srv.Addr {
		t.Errorf("version -format=json = %+v, want a version, the go version and server 1.21.0 at %s", v, srv.Addr)
	}
	out := e.must("", "-version")
	if !strings.HasPrefix(out, "vaultly ") || !strings.Contains(out, "Server "+srv.Addr+": vault 1.21.0") {
		t.Errorf("vaultly -version = %q", out)
	}
	r := e.runEnv([]string{"VAULT_ADDR=" + closedAddr(t)}, "", "version")
	if r.code != 0 || !strings.Contains(r.stdout, "not reachable") {
		t.Errorf("version with an unreachable server: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestTLSFlags: -client-cert, -client-key and -tls-server-name reach the
// connection (a missing file is an error naming the flag's file).
func TestTLSFlags(t *testing.T) {
	t.Parallel()
	g := &globals{clientCert: "/c.pem", clientKey: "/k.pem", tlsServerName: "vault.internal", io: IO{Err: io.Discard}}
	o := g.options()
	if o.ClientCert != "/c.pem" || o.ClientKey != "/k.pem" || o.TLSServerName != "vault.internal" {
		t.Errorf("options() = cert %q key %q name %q", o.ClientCert, o.ClientKey, o.TLSServerName)
	}
	srv := shared(t)
	e := newEnv(t, srv)
	missing := filepath.Join(e.home, "no-such-cert.pem")
	r := e.run("", "get", "-client-cert", missing, "-client-key", missing, "cli/x:y")
	checkResult(t, "get with a missing -client-cert", r, ExitError, "no-such-cert.pem")
}

// TestKVDetectAdviceWorks: the policy line the error suggests when the KV
// version cannot be detected is one that, applied, makes the same command
// work on Vault 1.21 (which describes a mount only to a token with some
// capability under it).
func TestKVDetectAdviceWorks(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "cli/detect/app", map[string]any{"value": "seen"})
	srv.WritePolicy(t, "cli-detect", `path "other-mount/*" { capabilities = ["read"] }`) // nothing under secret/
	e := newEnv(t, srv)
	e.vars["VAULT_TOKEN"] = srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"cli-detect"}})
	r := e.run("", "get", "cli/detect/app:value")
	line := regexp.MustCompile(`path "([^"]+)" \{ capabilities = \["read"\] \}`).FindStringSubmatch(r.stderr)
	if r.code != ExitError || line == nil || strings.Contains(r.stderr, `path "sys/internal/ui/mounts`) {
		t.Fatalf("get without access: exit %d, stderr %q; want the entry's policy line", r.code, r.stderr)
	}
	srv.WritePolicy(t, "cli-detect", `path "`+line[1]+`" { capabilities = ["read"] }`)
	if got := e.must("", "get", "cli/detect/app:value"); got != "seen\n" {
		t.Errorf("with the advised policy, get = %q", got)
	}
}
