package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

func TestPutGetInterop(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	if err := os.WriteFile(filepath.Join(e.home, "pw.txt"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// vaultly put -> vault kv get
	out := e.must("from-stdin\n", "put", "cli/put/app", "user=app", "pw=@pw.txt", "key=-")
	if want := "secret/data/cli/put/app\n"; !strings.Contains(out, want) || !strings.Contains(out, "version            1\n") {
		t.Errorf("put output %q, want the api path %q and version 1", out, want)
	}
	want := map[string]any{"user": "app", "pw": "from-file\n", "key": "from-stdin\n"} // stdin byte for byte
	if diff := cmp.Diff(want, e.vaultKVData("cli/put/app")); diff != "" {
		t.Errorf("vault kv get after vaultly put (-want +got):\n%s", diff)
	}

	// vault kv put -> vaultly get
	if r := e.vault("kv", "put", "-mount=secret", "cli/put/fromvault", "user=bob", "port=5432"); r.code != 0 {
		t.Fatalf("vault kv put: %s", r.stderr)
	}
	if r := e.vault("kv", "put", "-mount=secret", "cli/put/fromvault", "user=carol", "port=5433"); r.code != 0 {
		t.Fatalf("vault kv put: %s", r.stderr)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"one field prints the value alone", []string{"get", "cli/put/fromvault:user"}, "carol\n"},
		{"uri form", []string{"get", "vault://cli/put/fromvault:user?version=1"}, "bob\n"},
		{"-version", []string{"get", "-version", "1", "cli/put/fromvault:port"}, "5432\n"},
		{"--double-dash flags", []string{"get", "--version=1", "/cli/put/fromvault:user"}, "bob\n"},
		{"json field", []string{"get", "-format=json", "cli/put/fromvault:user"}, "\"carol\"\n"},
		{"file content kept", []string{"get", "cli/put/app:pw"}, "from-file\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.must("", tt.args...); got != tt.want {
				t.Errorf("vaultly %s = %q, want %q", strings.Join(tt.args, " "), got, tt.want)
			}
		})
	}

	t.Run("whole entry table", func(t *testing.T) {
		got := e.must("", "get", "cli/put/fromvault")
		for _, line := range []string{"version            2", "user    carol", "port    5433", "destroyed          false", "secret/data/cli/put/fromvault"} {
			if !strings.Contains(got, line) {
				t.Errorf("table output lacks %q:\n%s", line, got)
			}
		}
	})
	t.Run("whole entry json", func(t *testing.T) {
		var got struct {
			Data struct {
				Data     map[string]string `json:"data"`
				Metadata struct {
					Version int `json:"version"`
				} `json:"metadata"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(e.must("", "get", "-format", "json", "cli/put/fromvault")), &got); err != nil {
			t.Fatal(err)
		}
		if got.Data.Metadata.Version != 2 || !cmp.Equal(got.Data.Data, map[string]string{"user": "carol", "port": "5433"}) {
			t.Errorf("json = %+v", got)
		}
	})

	// CAS
	r := e.run("", "put", "-cas", "0", "cli/put/app", "user=other")
	checkResult(t, "put -cas 0 on an existing entry", r, ExitError, "conflict")
	e.must("", "put", "-cas", "1", "cli/put/app", "user=v2")
	if got := e.vaultKVData("cli/put/app"); !cmp.Equal(got, map[string]any{"user": "v2"}) {
		t.Errorf("after put -cas 1: %v", got)
	}
}

func TestPatchVersionsMetaInterop(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	e.must("", "put", "cli/pvm/app", "a=1", "b=2")
	if out := e.must("", "patch", "cli/pvm/app", "b=two", "c=3"); !strings.Contains(out, "version            2\n") {
		t.Errorf("patch output %q", out)
	}
	if diff := cmp.Diff(map[string]any{"a": "1", "b": "two", "c": "3"}, e.vaultKVData("cli/pvm/app")); diff != "" {
		t.Errorf("vault kv get after patch (-want +got):\n%s", diff)
	}
	e.must("", "put", "cli/pvm/app", "a=3")

	metaVersions := func() map[string]any {
		md := e.vaultJSON("kv", "metadata", "get", "-format=json", "-mount=secret", "cli/pvm/app")
		vs, _ := md["versions"].(map[string]any)
		return vs
	}
	e.must("", "delete", "-versions", "1,2", "cli/pvm/app")
	vs := metaVersions()
	for _, v := range []string{"1", "2"} {
		if d := vs[v].(map[string]any)["deletion_time"]; d == "" {
			t.Errorf("after versions delete, vault shows version %s deletion_time %q", v, d)
		}
	}
	if r := e.vault("kv", "get", "-mount=secret", "-version=2", "cli/pvm/app"); r.code == 0 && !strings.Contains(r.stdout+r.stderr, "deletion_time") {
		t.Errorf("vault kv get of a deleted version: %s", r.stdout)
	}
	e.must("", "undelete", "-versions=2", "cli/pvm/app")
	if d := metaVersions()["2"].(map[string]any)["deletion_time"]; d != "" {
		t.Errorf("after undelete, version 2 deletion_time %q, want empty", d)
	}
	if got := e.must("", "get", "-version", "2", "cli/pvm/app:b"); got != "two\n" {
		t.Errorf("get undeleted version = %q", got)
	}
	e.must("", "destroy", "-yes", "-versions", "2", "cli/pvm/app")
	if d := metaVersions()["2"].(map[string]any)["destroyed"]; d != true {
		t.Errorf("after destroy, vault shows destroyed=%v", d)
	}
	r := e.run("", "get", "-version", "2", "cli/pvm/app")
	checkResult(t, "get destroyed version", r, ExitError, "version 2 was destroyed")

	e.must("", "meta", "put", "-max-versions", "5", "-delete-version-after=2h", "-custom-metadata", "owner=team-a", "-custom-metadata", "tier=1", "cli/pvm/app")
	md := e.vaultJSON("kv", "metadata", "get", "-format=json", "-mount=secret", "cli/pvm/app")
	got := map[string]any{"max_versions": md["max_versions"], "delete_version_after": md["delete_version_after"], "custom_metadata": md["custom_metadata"]}
	want := map[string]any{"max_versions": 5.0, "delete_version_after": "2h0m0s", "custom_metadata": map[string]any{"owner": "team-a", "tier": "1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("vault kv metadata get after meta put (-want +got):\n%s", diff)
	}
	var mj struct {
		Data struct {
			MaxVersions    int               `json:"max_versions"`
			CustomMetadata map[string]string `json:"custom_metadata"`
			Versions       map[string]struct {
				Destroyed bool `json:"destroyed"`
			} `json:"versions"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(e.must("", "metadata", "get", "-format=json", "cli/pvm/app")), &mj); err != nil {
		t.Fatal(err)
	}
	if m := mj.Data; m.MaxVersions != 5 || m.CustomMetadata["owner"] != "team-a" || len(m.Versions) != 3 || !m.Versions["2"].Destroyed {
		t.Errorf("metadata get json = %+v", mj)
	}
	if out := e.must("", "meta", "get", "cli/pvm/app"); !strings.Contains(out, "max_versions            5") || !strings.Contains(out, "Version 2") {
		t.Errorf("meta get table:\n%s", out)
	}

	out := e.must("", "list", "cli/pvm")
	if out != "Keys\n----\napp\n" {
		t.Errorf("list = %q", out)
	}
	if out := e.must("", "list", "-format=json", "cli"); !strings.Contains(out, `"pvm/"`) {
		t.Errorf("list json = %q", out)
	}
	if out := e.must("", "kv-config"); !strings.Contains(out, "mount                   secret") {
		t.Errorf("kv-config = %q", out)
	}

	// delete is a soft delete, asked nothing, undone by undelete.
	if out := e.must("", "delete", "cli/pvm/app"); out != "Success! Data deleted (if it existed) at: secret/data/cli/pvm/app\n" {
		t.Errorf("delete output %q", out)
	}
	if e.vaultKVData("cli/pvm/app") != nil {
		t.Error("vault still reads the latest version after delete")
	}
	e.must("", "undelete", "-versions=3", "cli/pvm/app")
	if e.vaultKVData("cli/pvm/app") == nil {
		t.Error("vault reads nothing after undelete")
	}
	// metadata delete is the permanent one: refused without a terminal,
	// done with -yes.
	r = e.run("", "metadata", "delete", "cli/pvm/app")
	checkResult(t, "metadata delete without -yes and without a terminal", r, ExitUsage, "pass -yes")
	if e.vaultKVData("cli/pvm/app") == nil {
		t.Fatal("entry gone after a refused metadata delete")
	}
	if out := e.must("", "metadata", "delete", "-yes", "cli/pvm/app"); out != "Success! Data deleted (if it existed) at: secret/metadata/cli/pvm/app\n" {
		t.Errorf("metadata delete output %q", out)
	}
	if r := e.vault("kv", "metadata", "get", "-mount=secret", "cli/pvm/app"); r.code == 0 {
		t.Errorf("vault still finds metadata after delete: %s", r.stdout)
	}
}

func TestKV1Mount(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.EnableSecrets(t, "cli-kv1", "kv", map[string]string{"version": "1"})
	e := newEnv(t, srv)
	if out := e.must("", "put", "-mount", "cli-kv1", "app/db", "user=u"); out != "Success! Data written to: cli-kv1/app/db\n" {
		t.Errorf("put on kv v1 = %q", out)
	}
	if r := e.vault("kv", "get", "-mount=cli-kv1", "-field=user", "app/db"); r.stdout != "u" {
		t.Errorf("vault kv get on kv v1 = %q (%s)", r.stdout, r.stderr)
	}
	if got := e.must("", "get", "-mount=cli-kv1", "app/db:user"); got != "u\n" {
		t.Errorf("get on kv v1 = %q", got)
	}
	r := e.run("", "delete", "-mount=cli-kv1", "-versions=1", "app/db")
	checkResult(t, "versions on kv v1", r, ExitError, "kv v2")
	if got := e.must("", "get", "-field=user", "cli-kv1/app/db"); got != "u" {
		t.Errorf("get -field on kv v1 with the mount in the path = %q", got)
	}
	r = e.run("", "patch", "-mount=cli-kv1", "app/db", "a=b")
	checkResult(t, "patch on kv v1", r, ExitError, "kv v2")
	e.must("", "delete", "-mount=cli-kv1", "app/db") // kv v1: removes the entry
	r = e.run("", "get", "-mount=cli-kv1", "app/db")
	checkResult(t, "get after delete on kv v1", r, ExitError, "not found")
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/bad/app", map[string]any{"user": "u"})
	// The expired token's row runs last: the others take the second its
	// TTL needs to run out (waitTokenGone, before that row, makes sure).
	expired := srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"default"}, TTL: "1s", ExplicitMaxTTL: "1s"})
	kv := srv.Client(t).KVv2("secret")

	tests := []struct {
		name      string
		args      []string
		env       []string
		wantCode  int
		wantErr   string
		unwritten string // a path that must not exist afterwards
	}{
		{"unknown path", []string{"get", "cli/bad/none"}, nil, ExitError, "vaultly: get secret/cli/bad/none (vault): not found", ""},
		{"api path", []string{"get", "secret/data/cli/bad/app"}, nil, ExitUsage, "secret/data/cli/bad/app is the HTTP API path of secret/cli/bad/app: write secret/cli/bad/app", ""},
		{"api path in a reference", []string{"get", "vault://secret/data/cli/bad/app:user"}, nil, ExitUsage, "write secret/cli/bad/app", ""},
		{"mount named twice", []string{"get", "-mount=secret", "secret/cli/bad/app"}, nil, ExitError, "the path starts with the mount's name: write -mount=secret cli/bad/app, or secret/cli/bad/app without -mount", ""},
		{"not a kv mount", []string{"get", "cubbyhole/x"}, nil, ExitUsage, `a "cubbyhole" secrets engine, not kv`, ""},
		{"field and key", []string{"get", "-field=user", "cli/bad/app:user"}, nil, ExitUsage, "not both", ""},
		{"missing field", []string{"get", "-field=nope", "cli/bad/app"}, nil, ExitUsage, `field "nope" not present`, ""},
		{"bad VAULT_FORMAT", []string{"get", "cli/bad/app"}, []string{"VAULT_FORMAT=xml"}, ExitUsage, "invalid output format", ""},
		{"raw for a document", []string{"get", "-format=raw", "cli/bad/app"}, nil, ExitUsage, "does not support -format=raw", ""},
		{"put value without a key", []string{"put", "cli/bad/new10", "hunter2-pasted"}, nil, ExitUsage, "field argument 1", "cli/bad/new10"},
		{"put bad json document", []string{"put", "cli/bad/new11", "-"}, nil, ExitUsage, "not a json object", "cli/bad/new11"},
		{"unknown key", []string{"get", "cli/bad/app:nokey"}, nil, ExitError, `no key "nokey"`, ""},
		{"unknown version", []string{"get", "-version", "7", "cli/bad/app"}, nil, ExitError, "not found", ""},
		{"bad reference", []string{"get", "cli/../etc"}, nil, ExitUsage, `invalid reference: path segment ".." not allowed`, ""},
		{"bad uri", []string{"get", "vault://cli/bad/app?ver=1"}, nil, ExitUsage, `unknown query parameter "ver"`, ""},
		{"missing argument", []string{"get"}, nil, ExitUsage, "missing PATH", ""},
		{"put without fields", []string{"put", "cli/bad/new1"}, nil, ExitUsage, "missing PATH and at least one KEY=VALUE", "cli/bad/new1"},
		{"put without a terminal to prompt", []string{"put", "cli/bad/new2", "a=1", "secret"}, nil, ExitUsage, "no terminal to prompt", "cli/bad/new2"},
		{"put from a missing file", []string{"put", "cli/bad/new3", "a=@nofile"}, nil, ExitUsage, `field "a"`, "cli/bad/new3"},
		{"put bad path", []string{"put", "cli//x", "a=1"}, nil, ExitUsage, "empty path segment", ""},
		{"unknown command", []string{"frobnicate"}, nil, ExitUsage, `unknown command "frobnicate"`, ""},
		{"unknown flag", []string{"get", "-nosuchflag", "cli/bad/app"}, nil, ExitUsage, "unknown flag: --nosuchflag", ""},
		{"bad format", []string{"get", "-format=xml", "cli/bad/app"}, nil, ExitUsage, `invalid output format "xml"`, ""},
		{"undelete without -versions", []string{"undelete", "cli/bad/app"}, nil, ExitUsage, "missing -versions", ""},
		{"metadata subcommand missing", []string{"metadata"}, nil, ExitUsage, "missing subcommand", ""},
		{"unseal key in argv", []string{"unseal", "AAAA"}, nil, ExitUsage, "never taken from arguments", ""},
		{"permission denied", []string{"put", "cli/bad/new5", "a=1"}, []string{"VAULT_TOKEN=" + srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"default"}})}, ExitError, "permission denied", "cli/bad/new5"},
		{"no address", []string{"get", "cli/bad/app"}, []string{"VAULT_ADDR="}, ExitError, "no vault address", ""},
		{"skip verify refused for https", []string{"get", "cli/bad/app"}, []string{"VAULT_SKIP_VERIFY=true", "VAULT_ADDR=https://127.0.0.1:1"}, ExitError, "VAULT_SKIP_VERIFY is set: vaultly always verifies TLS", ""},
		{"skip verify garbage", []string{"get", "cli/bad/app"}, []string{"VAULT_SKIP_VERIFY=yes please"}, ExitError, "VAULT_SKIP_VERIFY must be true or false", ""},
		{"patch unknown path", []string{"patch", "cli/bad/new6", "a=1"}, nil, ExitError, "no entry to patch", "cli/bad/new6"},
		{"patch missing field", []string{"patch", "cli/bad/app"}, nil, ExitUsage, "missing KEY=VALUE or -remove-data KEY", ""},
		{"patch set and removed", []string{"patch", "-remove-data=user", "cli/bad/app", "user=x"}, nil, ExitUsage, "both set and removed", ""},
		{"delete bad reference", []string{"delete", "cli/bad/../app"}, nil, ExitUsage, "not allowed", ""},
		{"delete missing argument", []string{"delete"}, nil, ExitUsage, "missing PATH", ""},
		{"rollback without -version", []string{"rollback", "cli/bad/app"}, nil, ExitUsage, "missing -version", ""},
		{"list unknown prefix", []string{"list", "cli/bad/nothing"}, nil, ExitError, "nothing under this prefix", ""},
		{"list too many arguments", []string{"list", "a", "b"}, nil, ExitUsage, "accepts at most 1 arg", ""},
		{"undelete unknown path", []string{"undelete", "-versions", "1", "cli/bad/none"}, nil, ExitError, "not found", ""},
		{"delete bad number", []string{"delete", "-versions", "1,x", "cli/bad/app"}, nil, ExitUsage, `positive integers, not "x"`, ""},
		{"delete zero", []string{"delete", "-versions", "0", "cli/bad/app"}, nil, ExitUsage, "positive", ""},
		{"metadata get unknown path", []string{"metadata", "get", "cli/bad/none"}, nil, ExitError, "read-metadata secret/cli/bad/none (vault): not found", ""},
		{"meta put nothing to change", []string{"meta", "put", "cli/bad/new7"}, nil, ExitUsage, "nothing to change", ""},
		{"meta put bad custom metadata", []string{"meta", "put", "-custom-metadata", "novalue", "cli/bad/new8"}, nil, ExitUsage, "KEY=VALUE", ""},
		{"meta put bad duration", []string{"meta", "put", "-delete-version-after", "soon", "cli/bad/new9"}, nil, ExitUsage, "invalid argument", ""},
		{"kv-config extra argument", []string{"kv-config", "x"}, nil, ExitUsage, "too many arguments", ""},
		{"kv-config unknown mount", []string{"kv-config", "-mount", "nomount"}, nil, ExitError, "either no kv mount is at nomount", ""},
		{"status extra argument", []string{"status", "x"}, nil, ExitUsage, "too many arguments", ""},
		{"logout extra argument", []string{"logout", "x"}, nil, ExitUsage, "too many arguments", ""},
		{"login bad parameter", []string{"login", "-method", "approle", "role_id"}, nil, ExitUsage, "want NAME=VALUE", ""},
		{"doctor bad reference", []string{"doctor", "a//b"}, nil, ExitUsage, "empty path segment", ""},
		{"doctor missing config", []string{"doctor", "-config", "nofile"}, nil, ExitUsage, "-config", ""},
		{"inject missing template file", []string{"inject", "-i", "nofile", "-o", "out"}, nil, ExitUsage, "template", ""},
		{"completion missing shell", []string{"completion"}, nil, ExitUsage, "missing SHELL", ""},
		{"run bad reference", []string{"run", "--", "touch", "ran"}, []string{"X=vault://cli/bad/app:"}, ExitUsage, "environment variable X", ""},
		{"expired token", []string{"put", "cli/bad/new4", "a=1"}, []string{"VAULT_TOKEN=" + expired}, ExitError, "unauthenticated", "cli/bad/new4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "expired token" {
				waitTokenGone(t, srv, expired)
			}
			r := e.runEnv(tt.env, "", tt.args...)
			checkResult(t, "vaultly "+strings.Join(tt.args, " "), r, tt.wantCode, tt.wantErr)
			if strings.Contains(r.stderr, srv.Token) || strings.Contains(r.stderr, expired) {
				t.Errorf("stderr contains a token: %s", r.stderr)
			}
			if strings.Contains(r.stderr, "hunter2") {
				t.Errorf("stderr echoes an argument given where a key was expected: %s", r.stderr)
			}
			if tt.unwritten != "" {
				if _, err := kv.Get(context.Background(), tt.unwritten); !errors.Is(err, api.ErrSecretNotFound) {
					t.Errorf("%s was written (or reading it failed: %v)", tt.unwritten, err)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(e.home, "ran")); err == nil {
		t.Error("run started the command despite a bad reference")
	}
}

// waitTokenGone waits until Vault no longer accepts tok (its TTL ran out).
func waitTokenGone(t *testing.T, srv *vaulttest.Server, tok string) {
	t.Helper()
	c := srv.Client(t)
	for i := 0; i < 100; i++ {
		if _, err := c.Auth().Token().Lookup(tok); err != nil {
			return
		}
		waitABit()
	}
	t.Fatal("token did not expire")
}

func TestSealedServer(t *testing.T) {
	t.Parallel()
	srv := vaultStart(t)
	e := newEnv(t, srv)
	e.must("", "put", "app", "a=1")
	if out := e.must("", "status"); !strings.Contains(out, "Sealed          false") || !strings.Contains(out, "Version         1.21.0") {
		t.Errorf("status:\n%s", out)
	}
	srv.Seal(t)

	r := e.run("", "status")
	checkResult(t, "status while sealed", r, statusSealed, "")
	if !strings.Contains(r.stdout, "Sealed             true") || !strings.Contains(r.stdout, "Unseal Progress    0/1") {
		t.Errorf("status while sealed:\n%s", r.stdout)
	}
	r = e.run("", "get", "app:a")
	checkResult(t, "get while sealed", r, ExitError, "sealed")
	r = e.run("", "put", "app", "a=2")
	checkResult(t, "put while sealed", r, ExitError, "sealed")
	r = e.run("", "unseal")
	checkResult(t, "unseal without keys", r, ExitUsage, "no unseal key on stdin")

	// status and unseal need no token.
	delete(e.vars, "VAULT_TOKEN")
	r = onTTY(t, e, "not-the-key\n", "unseal")
	if r.code != ExitError || strings.Contains(r.stdout, "not-the-key") || !strings.Contains(r.stdout, "Unseal key 1 of 1 (hidden)") {
		t.Errorf("unseal with a wrong key typed at the prompt: exit %d, output %q", r.code, r.stdout)
	}
	r = onTTY(t, e, srv.UnsealKey+"\n", "unseal", "-format=json")
	if r.code != 0 || strings.Contains(r.stdout, srv.UnsealKey) || !strings.Contains(r.stdout, `"sealed": false`) {
		t.Errorf("unseal at the prompt: exit %d, output %q", r.code, r.stdout)
	}
	e.vars["VAULT_TOKEN"] = srv.Token
	waitUnsealed(t, e)
	delete(e.vars, "VAULT_TOKEN")
	srv.Seal(t)
	r = e.run(srv.UnsealKey+"\n", "unseal", "-format=json")
	if r.code != 0 {
		t.Fatalf("unseal: exit %d: %s", r.code, r.stderr)
	}
	var st struct {
		Sealed bool `json:"sealed"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Sealed {
		t.Errorf("unseal output %q (%v), want sealed false", r.stdout, err)
	}
	if strings.Contains(r.stdout+r.stderr, srv.UnsealKey) {
		t.Error("unseal printed the key")
	}
	e.vars["VAULT_TOKEN"] = srv.Token
	waitUnsealed(t, e)
	if got := e.must("", "get", "app:a"); got != "1\n" {
		t.Errorf("get after unseal = %q (nothing written while sealed)", got)
	}
}

func waitUnsealed(t *testing.T, e *env) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if r := e.run("", "get", "app:a"); r.code == 0 {
			return
		}
		waitABit()
	}
}

// TestKVGroup: `vaultly kv X` is `vaultly X`, as a vault user types it
// (`vault kv get …`): the same answers, exit codes and errors.
func TestKVGroup(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	if out := e.must("", "kv", "put", "secret/cli/kvgroup/app", "user=app", "port=5432"); !strings.Contains(out, "version            1\n") {
		t.Errorf("kv put output %q, want version 1", out)
	}
	for _, args := range [][]string{
		{"get", "-field=user", "secret/cli/kvgroup/app"},
		{"get", "-format=json", "-field=port", "-mount=secret", "cli/kvgroup/app"},
		{"list", "secret/cli/kvgroup"},
		{"metadata", "get", "secret/cli/kvgroup/app"},
		{"get", "secret/cli/kvgroup/none"},
		{"get", "-nosuchflag", "secret/cli/kvgroup/app"},
	} {
		plain, kv := e.run("", args...), e.run("", append([]string{"kv"}, args...)...)
		kv.stderr = strings.ReplaceAll(kv.stderr, "'vaultly kv ", "'vaultly ") // the usage hint names the command
		if plain.code != kv.code || plain.stdout != kv.stdout || plain.stderr != kv.stderr {
			t.Errorf("vaultly kv %s = exit %d %q %q; vaultly %s = exit %d %q %q", strings.Join(args, " "), kv.code, kv.stdout, kv.stderr,
				strings.Join(args, " "), plain.code, plain.stdout, plain.stderr)
		}
	}
	if r := e.run("", "kv", "enable-versioning", "secret"); r.code != ExitUsage || !strings.Contains(r.stderr, `unknown command "enable-versioning" for "vaultly kv"`) {
		t.Errorf("kv enable-versioning = exit %d %q, want a usage error naming it", r.code, r.stderr)
	}
}

// TestYAMLLikeVault: -format=yaml prints what the vault CLI prints, byte for
// byte, lists of maps and lists of lists included (a list sits under its
// key, not indented).
func TestYAMLLikeVault(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	doc := filepath.Join(e.home, "doc.json")
	writeFile(t, doc, `{"l":[{"a":1,"b":[1,2]},"x",[3,4]],"m":{"n":{"o":[true]}},"s":"plain"}`)
	if r := e.vault("kv", "put", "-mount=secret", "cli/yaml/app", "@"+doc); r.code != 0 {
		t.Fatalf("vault kv put: exit %d: %s", r.code, r.stderr)
	}
	for _, field := range []string{"l", "m", "s"} {
		v := e.vault("kv", "get", "-format=yaml", "-field="+field, "-mount=secret", "cli/yaml/app")
		w := e.run("", "kv", "get", "-format=yaml", "-field="+field, "-mount=secret", "cli/yaml/app")
		if v.code != 0 || w.code != 0 || v.stdout != w.stdout {
			t.Errorf("-field=%s -format=yaml: vault (exit %d)\n%s\nvaultly (exit %d)\n%s", field, v.code, v.stdout, w.code, w.stdout)
		}
	}
}
