package hashivault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
)

func TestReadKV2(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	pre := unique("kv2test")
	srv.PutKV(t, pre+"/types", map[string]any{
		"value": "plain", "n": 42, "f": 1.5, "neg": -7, "b": true,
		"obj": map[string]any{"a": 1, "b": []any{"x", nil}}, "arr": []any{1, 2}, "null": nil, "quoted": `a"b`,
	})
	srv.PutKV(t, pre+"/versions", map[string]any{"value": "one"})
	srv.PutKV(t, pre+"/versions", map[string]any{"value": "two"})
	srv.PutKV(t, pre+"/versions", map[string]any{"value": "three"})
	c := srv.Client(t)
	ctx := context.Background()
	kv := c.KVv2("secret")
	if err := kv.DeleteVersions(ctx, pre+"/versions", []int{2}); err != nil {
		t.Fatal(err)
	}
	if err := kv.Destroy(ctx, pre+"/versions", []int{1}); err != nil {
		t.Fatal(err)
	}
	srv.PutKV(t, pre+"/deleted", map[string]any{"value": "gone"})
	if err := kv.Delete(ctx, pre+"/deleted"); err != nil {
		t.Fatal(err)
	}

	b := rootBackend(t, srv, nil)
	if v, err := b.KVVersion(ctx); err != nil || v != 2 {
		t.Fatalf("KVVersion() = %d, %v; want 2", v, err)
	}
	tests := []struct {
		name     string
		path     string
		version  int
		want     map[string]string
		wantVer  int
		wantCode driver.Code
		wantHint string
	}{
		{name: "types", path: pre + "/types", wantVer: 1, want: map[string]string{
			"value": "plain", "n": "42", "f": "1.5", "neg": "-7", "b": "true",
			"obj": `{"a":1,"b":["x",null]}`, "arr": "[1,2]", "null": "null", "quoted": `a"b`,
		}},
		{name: "latest", path: pre + "/versions", wantVer: 3, want: map[string]string{"value": "three"}},
		{name: "pinned", path: pre + "/versions", version: 3, wantVer: 3, want: map[string]string{"value": "three"}},
		{name: "soft-deleted version", path: pre + "/versions", version: 2, wantCode: driver.NotFound, wantHint: `restore it with Backend.UndeleteVersions(ctx, "` + pre + `/versions", []int{2})`},
		{name: "destroyed version", path: pre + "/versions", version: 1, wantCode: driver.NotFound, wantHint: "cannot be recovered"},
		{name: "deleted latest", path: pre + "/deleted", wantCode: driver.NotFound, wantHint: "UndeleteVersions"},
		{name: "missing version", path: pre + "/versions", version: 9, wantCode: driver.NotFound},
		{name: "missing entry", path: pre + "/nothing", wantCode: driver.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := b.Read(ctx, tt.path, tt.version)
			if tt.wantCode != driver.OK {
				if got := driver.CodeOf(err); got != tt.wantCode {
					t.Fatalf("Read(%q, %d) error = %v (code %v), want code %v", tt.path, tt.version, err, got, tt.wantCode)
				}
				var de *driver.Error
				if !errors.As(err, &de) || !strings.Contains(de.Hint, tt.wantHint) {
					t.Errorf("Read(%q, %d) hint = %q, want it to contain %q", tt.path, tt.version, de.Hint, tt.wantHint)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read(%q, %d): %v", tt.path, tt.version, err)
			}
			if diff := cmp.Diff(tt.want, e.Fields); diff != "" {
				t.Errorf("Read(%q, %d) fields mismatch (-want +got):\n%s", tt.path, tt.version, diff)
			}
			if e.Version != tt.wantVer || e.Path != tt.path {
				t.Errorf("Read(%q, %d) = path %q version %d, want %q %d", tt.path, tt.version, e.Path, e.Version, tt.path, tt.wantVer)
			}
			if e.Metadata == nil || e.Metadata.CreatedTime.IsZero() {
				t.Errorf("Read(%q) metadata = %+v, want a created time", tt.path, e.Metadata)
			}
		})
	}
}

func TestReadKV1(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	kvone := unique("kvone")
	srv.EnableSecrets(t, kvone, "kv", map[string]string{"version": "1"})
	srv.Write(t, kvone+"/team/app", map[string]any{"value": "v1", "port": 5432})
	tests := []struct {
		name     string
		opts     Options
		path     string
		version  int
		want     map[string]string
		wantCode driver.Code
	}{
		{name: "detected", opts: Options{Mount: kvone}, path: "team/app", want: map[string]string{"value": "v1", "port": "5432"}},
		{name: "explicit", opts: Options{Mount: kvone, KVVersion: 1}, path: "team/app", want: map[string]string{"value": "v1", "port": "5432"}},
		{name: "mount with prefix", opts: Options{Mount: "/" + kvone + "/team/"}, path: "app", want: map[string]string{"value": "v1", "port": "5432"}},
		{name: "missing", opts: Options{Mount: kvone}, path: "team/none", wantCode: driver.NotFound},
		{name: "version on v1", opts: Options{Mount: kvone}, path: "team/app", version: 2, wantCode: driver.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			b := rootBackend(t, srv, &o)
			e, err := b.Read(context.Background(), tt.path, tt.version)
			if got := driver.CodeOf(err); got != tt.wantCode {
				t.Fatalf("Read(%q) error = %v, want code %v", tt.path, err, tt.wantCode)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, e.Fields); diff != "" {
				t.Errorf("Read(%q) mismatch (-want +got):\n%s", tt.path, diff)
			}
			if v, _ := b.KVVersion(context.Background()); v != 1 {
				t.Errorf("KVVersion() = %d, want 1", v)
			}
		})
	}
}

func TestKVVersionErrors(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	notKV := unique("notkv") // cubbyhole, once used here, is refused by New as a system mount
	srv.EnableSecrets(t, notKV, "transit", nil)
	tests := []struct {
		name  string
		mount string
		want  driver.Code
	}{
		{name: "not kv", mount: notKV, want: driver.Config},
		{name: "no mount", mount: "nosuchmount", want: driver.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := rootBackend(t, srv, &Options{Mount: tt.mount})
			_, err := b.KVVersion(context.Background())
			if got := driver.CodeOf(err); got != tt.want {
				t.Errorf("KVVersion() error = %v, want code %v", err, tt.want)
			}
		})
	}
}

// TestKVVersionPermission: a token that may use nothing under the mount
// cannot detect its kv version (Vault answers 403 on
// sys/internal/ui/mounts/<mount>, whatever policy that path has). The error
// names the entry being read and the policy line that fixes it — and
// writing that very line makes the read work.
func TestKVVersionPermission(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	p := unique("kvperm") + "/app"
	srv.PutKV(t, p, map[string]any{"value": "v"})
	policy := unique("kvperm-policy")
	// The sys path alone does not help: Vault checks access under the mount.
	srv.WritePolicy(t, policy, `path "sys/internal/ui/mounts/secret" { capabilities = ["read"] }`)
	tok := srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{policy}, TTL: "1h"})
	b := rootBackend(t, srv, &Options{Token: tok})
	ctx := ctxT(t, 10*time.Second)

	_, err := b.Read(ctx, p, 0)
	if got := driver.CodeOf(err); got != driver.PermissionDenied {
		t.Fatalf("Read(%q) without access under the mount = %v, want code permission denied", p, err)
	}
	line := `path "secret/data/` + p + `" { capabilities = ["read"] }`
	msg := err.Error()
	for _, want := range []string{"kv version", "mount secret", p, line, "KVVersion"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Read error = %q, want it to contain %q", msg, want)
		}
	}
	if _, ok := errors.AsType[*api.ResponseError](err); !ok {
		t.Errorf("Read error %v: the 403 is not reachable with errors.As", err)
	}
	_, err = b.GetEntry(ctx, p, 0)
	if msg := err.Error(); !strings.Contains(msg, line) || !strings.HasPrefix(msg, "vaultly: get "+p+" (vault): permission denied") {
		t.Errorf("GetEntry error = %q, want op, path and the policy line %q", msg, line)
	}

	srv.WritePolicy(t, policy, line)
	e, err := b.Read(ctx, p, 0)
	if err != nil || e.Fields["value"] != "v" {
		t.Errorf("Read(%q) after writing the hint's policy line = %v, %v; want v", p, e, err)
	}
}

func TestNamespaceAndCallerClient(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "callerclient/x", map[string]any{"value": "ok"})
	cfg, err := srv.Config()
	if err != nil {
		t.Fatal(err)
	}
	caller, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	caller.SetToken(srv.Token)
	b := newBackend(t, &Options{Client: caller})
	e, err := b.Read(context.Background(), "callerclient/x", 0)
	if err != nil {
		t.Fatalf("Read with a caller-owned client: %v", err)
	}
	if e.Fields["value"] != "ok" {
		t.Errorf("Read = %q, want ok", e.Fields["value"])
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The caller's client keeps working after Close, with its own token.
	if caller.Token() != srv.Token {
		t.Errorf("caller's token changed")
	}
	if _, err := caller.KVv2("secret").Get(context.Background(), "callerclient/x"); err != nil {
		t.Errorf("caller's client after Close: %v", err)
	}
	if _, err := b.Read(context.Background(), "callerclient/x", 0); driver.CodeOf(err) != driver.Canceled {
		t.Errorf("Read after Close = %v, want code canceled", err)
	}
	_ = time.Second
}

// FuzzFieldText: a field's text is what json.Unmarshal makes of a JSON
// string, and the compact JSON of any other value, whichever path
// fieldText takes (plainString skips the decoder for strings with nothing
// to decode).
func FuzzFieldText(f *testing.F) {
	for _, s := range []string{`"plain"`, `""`, `"a\"b"`, `"\u00e9t\u00e9"`, `"été"`, "\"\xff\"", `"tab	"`, `42`, `{"a": [1, 2]}`, `"unterminated`, `"a"b"`, `true`, `"\\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if raw != strings.TrimSpace(raw) {
			return // a decoded json.RawMessage has no space around it
		}
		got, err := fieldText(json.RawMessage(raw))
		if !json.Valid([]byte(raw)) {
			if err == nil && strings.HasPrefix(raw, `"`) {
				t.Fatalf("fieldText(%q) = %q, want an error (not valid JSON)", raw, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("fieldText(%q): %v", raw, err)
		}
		var want string
		if strings.HasPrefix(raw, `"`) {
			if err := json.Unmarshal([]byte(raw), &want); err != nil {
				t.Fatal(err)
			}
		} else {
			var buf bytes.Buffer
			if err := json.Compact(&buf, []byte(raw)); err != nil {
				t.Fatal(err)
			}
			want = buf.String()
		}
		if got != want {
			t.Fatalf("fieldText(%q) = %q, want %q", raw, got, want)
		}
	})
}

// TestAddressTrailingSlash: an address written with a trailing slash
// ("http://vault:8200/", as often copied) reads, finds missing and deleted
// entries and lists as without it (the KV read path once made "//v1/",
// which Vault answers with a redirect).
func TestAddressTrailingSlash(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	pre := unique("slash")
	srv.PutKV(t, pre+"/app", map[string]any{"user": "app"})
	srv.PutKV(t, pre+"/gone", map[string]any{"user": "x"})
	ctx := context.Background()
	for _, addr := range []string{srv.Addr + "/", srv.Addr + "//"} {
		b := newBackend(t, &Options{Address: addr, Token: srv.Token})
		if e, err := b.Read(ctx, pre+"/app", 0); err != nil || e.Fields["user"] != "app" {
			t.Errorf("%s: Read = %v, %v", addr, e, err)
		}
		if _, err := b.Read(ctx, pre+"/none", 0); driver.CodeOf(err) != driver.NotFound {
			t.Errorf("%s: Read of a missing entry: %v, want NotFound", addr, err)
		}
		if err := b.Delete(ctx, pre+"/gone"); err != nil {
			t.Fatalf("%s: Delete: %v", addr, err)
		}
		if _, err := b.Read(ctx, pre+"/gone", 0); driver.CodeOf(err) != driver.NotFound {
			t.Errorf("%s: Read of a deleted entry: %v, want NotFound", addr, err)
		}
		if names, err := b.List(ctx, pre); err != nil || len(names) == 0 {
			t.Errorf("%s: List = %v, %v", addr, names, err)
		}
	}
}
