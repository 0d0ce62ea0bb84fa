package hashivault

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// changes records the paths a backend reports through OnChange.
type changes struct {
	mu    sync.Mutex
	paths []string
}

func (c *changes) record(b *Backend) *changes {
	b.OnChange(func(p string) {
		c.mu.Lock()
		c.paths = append(c.paths, p)
		c.mu.Unlock()
	})
	return c
}

func (c *changes) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.paths
	c.paths = nil
	return p
}

// rawKV2 reads path from the "secret" mount with vault/api directly: the
// independent view the management calls are checked against.
func rawKV2(t *testing.T, srv *vaulttest.Server, path string) *api.KVSecret {
	t.Helper()
	s, err := srv.Client(t).KVv2("secret").Get(context.Background(), path)
	if err != nil {
		t.Fatalf("vault/api KVv2 Get(%q): %v", path, err)
	}
	return s
}

func wantCode(t *testing.T, what string, err error, want vaultly.Code) {
	t.Helper()
	if got := vaultly.CodeOf(err); got != want {
		t.Fatalf("%s: code %v (err %v), want %v", what, got, err, want)
	}
	if _, ok := errors.AsType[*vaultly.Error](err); !ok {
		t.Fatalf("%s: error %T is not a *vaultly.Error", what, err)
	}
}

func TestManagePutGetKV2(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	b := rootBackend(t, srv, nil)
	ch := new(changes).record(b)
	ctx := ctxT(t, 30*time.Second)

	vm, err := b.Put(ctx, "/manage/put/app", map[string]any{"user": "app", "port": 5432, "tls": true}, nil)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if vm.Version != 1 || vm.CreatedTime.IsZero() {
		t.Errorf("Put = %+v, want version 1 with a created time", vm)
	}
	if got, want := ch.take(), []string{"manage/put/app"}; !slices.Equal(got, want) {
		t.Errorf("OnChange paths = %v, want %v", got, want)
	}
	raw := rawKV2(t, srv, "manage/put/app")
	if diff := cmp.Diff(map[string]any{"user": "app", "port": json.Number("5432"), "tls": true}, raw.Data); diff != "" {
		t.Errorf("stored data (-want +got):\n%s", diff)
	}

	// CAS: matching version succeeds, stale version is Conflict and writes nothing.
	if _, err := b.Put(ctx, "manage/put/app", map[string]any{"user": "v2"}, &PutOptions{CAS: CAS(1)}); err != nil {
		t.Fatalf("Put with CAS 1: %v", err)
	}
	_, err = b.Put(ctx, "manage/put/app", map[string]any{"user": "stale"}, &PutOptions{CAS: CAS(1)})
	wantCode(t, "Put with stale CAS", err, vaultly.Conflict)
	_, err = b.Put(ctx, "manage/put/app", map[string]any{"user": "new"}, &PutOptions{CAS: CAS(0)})
	wantCode(t, "Put with CAS 0 on an existing entry", err, vaultly.Conflict)
	if got := rawKV2(t, srv, "manage/put/app").Data["user"]; got != "v2" {
		t.Errorf("after failed CAS writes, user = %v, want v2", got)
	}

	e, err := b.GetEntry(ctx, "manage/put/app", 0)
	if err != nil {
		t.Fatalf("GetEntry: %v", err)
	}
	if e.Version.Version != 2 || e.Path != "manage/put/app" || e.Data["user"] != "v2" {
		t.Errorf("GetEntry latest = %+v, want version 2 user v2", e)
	}
	e, err = b.GetEntry(ctx, "manage/put/app", 1)
	if err != nil {
		t.Fatalf("GetEntry version 1: %v", err)
	}
	if e.Version.Version != 1 || e.Data["port"] != json.Number("5432") {
		t.Errorf("GetEntry version 1 = %+v, want version 1 port 5432", e)
	}

	tests := []struct {
		name    string
		path    string
		version int
		code    vaultly.Code
		msg     string
	}{
		{"missing entry", "manage/put/none", 0, vaultly.NotFound, "get manage/put/none (vault): not found"},
		{"missing version", "manage/put/app", 9, vaultly.NotFound, "not found"},
		{"escaping path", "manage/../x", 0, vaultly.InvalidArgument, "not allowed"},
		{"negative version", "manage/put/app", -1, vaultly.InvalidArgument, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.GetEntry(ctx, tt.path, tt.version)
			wantCode(t, "GetEntry", err, tt.code)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("GetEntry(%q, %d) error %q, want it to contain %q", tt.path, tt.version, err, tt.msg)
			}
		})
	}
}

func TestManagePatch(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	root := rootBackend(t, srv, nil)
	ctx := ctxT(t, 30*time.Second)
	if _, err := root.Put(ctx, "manage/patch/app", map[string]any{"a": "1", "b": "2", "obj": map[string]any{"x": 1, "y": 2}}, nil); err != nil {
		t.Fatal(err)
	}
	// A token without the "patch" capability takes the read-then-write path.
	srv.WritePolicy(t, "manage-nopatch", `
path "secret/data/manage/patch/*" { capabilities = ["create", "read", "update"] }
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }`)
	noPatch := rootBackend(t, srv, &Options{Token: srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"manage-nopatch"}})})

	tests := []struct {
		name  string
		b     *Backend
		patch map[string]any
		want  map[string]any
	}{
		{"server patch", root, map[string]any{"b": "two", "c": "3"},
			map[string]any{"a": "1", "b": "two", "c": "3", "obj": map[string]any{"x": json.Number("1"), "y": json.Number("2")}}},
		{"server patch removes with null and merges objects", root, map[string]any{"c": nil, "obj": map[string]any{"y": nil, "z": "new"}},
			map[string]any{"a": "1", "b": "two", "obj": map[string]any{"x": json.Number("1"), "z": "new"}}},
		{"read-then-write fallback", noPatch, map[string]any{"a": "one", "obj": map[string]any{"x": nil}, "d": "4"},
			map[string]any{"a": "one", "b": "two", "d": "4", "obj": map[string]any{"z": "new"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rawKV2(t, srv, "manage/patch/app").VersionMetadata.Version
			ch := new(changes).record(tt.b)
			vm, err := tt.b.Patch(ctx, "manage/patch/app", tt.patch, nil)
			if err != nil {
				t.Fatalf("Patch: %v", err)
			}
			if vm.Version != before+1 {
				t.Errorf("Patch version = %d, want %d", vm.Version, before+1)
			}
			got := rawKV2(t, srv, "manage/patch/app")
			if diff := cmp.Diff(tt.want, got.Data); diff != "" {
				t.Errorf("data after patch (-want +got):\n%s", diff)
			}
			if got, want := ch.take(), []string{"manage/patch/app"}; !slices.Equal(got, want) {
				t.Errorf("OnChange paths = %v, want %v", got, want)
			}
		})
	}

	cur := rawKV2(t, srv, "manage/patch/app").VersionMetadata.Version
	errTests := []struct {
		name string
		b    *Backend
		path string
		opts *PatchOptions
		code vaultly.Code
	}{
		{"missing entry", root, "manage/patch/none", nil, vaultly.NotFound},
		{"missing entry, fallback", noPatch, "manage/patch/none", nil, vaultly.NotFound},
		{"stale cas", root, "manage/patch/app", &PatchOptions{CAS: CAS(cur - 1)}, vaultly.Conflict},
		{"stale cas, fallback", noPatch, "manage/patch/app", &PatchOptions{CAS: CAS(cur - 1)}, vaultly.Conflict},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.b.Patch(ctx, tt.path, map[string]any{"a": "x"}, tt.opts)
			wantCode(t, "Patch", err, tt.code)
		})
	}
	if got := rawKV2(t, srv, "manage/patch/app").VersionMetadata.Version; got != cur {
		t.Errorf("after failed patches version = %d, want %d (nothing written)", got, cur)
	}
}

func TestManageVersionsAndDelete(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	b := rootBackend(t, srv, nil)
	ch := new(changes).record(b)
	ctx := ctxT(t, 30*time.Second)
	const p = "manage/versions/app"
	for _, v := range []string{"one", "two", "three"} {
		if _, err := b.Put(ctx, p, map[string]any{"value": v}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ch.take()

	if err := b.DeleteVersions(ctx, p, []int{1, 2}); err != nil {
		t.Fatalf("DeleteVersions: %v", err)
	}
	_, err := b.GetEntry(ctx, p, 2)
	wantCode(t, "GetEntry of a deleted version", err, vaultly.NotFound)
	if want := `(restore it with Backend.UndeleteVersions(ctx, "` + p + `", []int{2}))`; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error %q, want the library's hint %q", err, want)
	}
	if err := b.UndeleteVersions(ctx, p, []int{2}); err != nil {
		t.Fatalf("UndeleteVersions: %v", err)
	}
	if e, err := b.GetEntry(ctx, p, 2); err != nil || e.Data["value"] != "two" {
		t.Errorf("GetEntry(2) after undelete = %v, %v; want two", e, err)
	}
	if err := b.DestroyVersions(ctx, p, []int{2}); err != nil {
		t.Fatalf("DestroyVersions: %v", err)
	}
	_, err = b.GetEntry(ctx, p, 2)
	wantCode(t, "GetEntry of a destroyed version", err, vaultly.NotFound)
	if !strings.Contains(err.Error(), "destroyed") {
		t.Errorf("error %q, want it to say destroyed", err)
	}

	md, err := b.ReadMetadata(ctx, p)
	if err != nil {
		t.Fatalf("ReadMetadata: %v", err)
	}
	type vstate struct {
		V         int
		Deleted   bool
		Destroyed bool
	}
	var got []vstate
	for _, v := range md.Versions {
		got = append(got, vstate{v.Version, !v.DeletionTime.IsZero(), v.Destroyed})
	}
	want := []vstate{{1, true, false}, {2, false, true}, {3, false, false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("version states (-want +got):\n%s", diff)
	}
	if md.CurrentVersion != 3 {
		t.Errorf("CurrentVersion = %d, want 3", md.CurrentVersion)
	}
	if got, want := ch.take(), []string{p, p, p}; !slices.Equal(got, want) {
		t.Errorf("OnChange paths = %v, want %v", got, want)
	}

	errTests := []struct {
		name     string
		path     string
		versions []int
		code     vaultly.Code
	}{
		{"missing entry", "manage/versions/none", []int{1}, vaultly.NotFound},
		{"no versions", p, nil, vaultly.InvalidArgument},
		{"zero version", p, []int{0}, vaultly.InvalidArgument},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			for name, fn := range map[string]func(context.Context, string, []int) error{
				"DeleteVersions": b.DeleteVersions, "UndeleteVersions": b.UndeleteVersions, "DestroyVersions": b.DestroyVersions,
			} {
				wantCode(t, name, fn(ctx, tt.path, tt.versions), tt.code)
			}
		})
	}

	if err := b.Delete(ctx, p); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got, want := ch.take(), []string{p}; !slices.Equal(got, want) {
		t.Errorf("OnChange paths after Delete = %v, want %v", got, want)
	}
	_, err = b.ReadMetadata(ctx, p)
	wantCode(t, "ReadMetadata after Delete", err, vaultly.NotFound)
	if s, err := srv.Client(t).Logical().Read("secret/metadata/" + p); err != nil || s != nil {
		t.Errorf("raw metadata read after Delete = %v, %v; want nothing", s, err)
	}
}

func TestManageMetadataListConfig(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	b := rootBackend(t, srv, nil)
	ctx := ctxT(t, 30*time.Second)
	for _, p := range []string{"manage/list/a", "manage/list/b", "manage/list/dir/c"} {
		if _, err := b.Put(ctx, p, map[string]any{"value": "x"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	names, err := b.List(ctx, "manage/list")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := []string{"a", "b", "dir/"}; !slices.Equal(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
	if names, err := b.List(ctx, "/"); err != nil || !slices.Contains(names, "manage/") {
		t.Errorf("List(/) = %v, %v; want it to contain manage/", names, err)
	}
	_, err = b.List(ctx, "manage/list/none")
	wantCode(t, "List of an empty prefix", err, vaultly.NotFound)

	mv, cas, dva := 4, true, 90*time.Minute
	err = b.WriteMetadata(ctx, "manage/list/a", &MetadataUpdate{MaxVersions: &mv, CASRequired: &cas, DeleteVersionAfter: &dva, CustomMetadata: map[string]string{"owner": "team-a"}})
	if err != nil {
		t.Fatalf("WriteMetadata: %v", err)
	}
	md, err := b.ReadMetadata(ctx, "manage/list/a")
	if err != nil {
		t.Fatalf("ReadMetadata: %v", err)
	}
	want := &Metadata{Path: "manage/list/a", CurrentVersion: 1, MaxVersions: 4, CASRequired: true, DeleteVersionAfter: dva,
		CustomMetadata: map[string]string{"owner": "team-a"}, Versions: []VersionMetadata{{Version: 1}}}
	ignore := cmpopts.IgnoreFields(Metadata{}, "CreatedTime", "UpdatedTime")
	ignoreV := cmpopts.IgnoreFields(VersionMetadata{}, "CreatedTime", "DeletionTime")
	if diff := cmp.Diff(want, md, ignore, ignoreV); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	// A partial update keeps the other fields.
	mv = 7
	if err := b.WriteMetadata(ctx, "manage/list/a", &MetadataUpdate{MaxVersions: &mv}); err != nil {
		t.Fatal(err)
	}
	md, _ = b.ReadMetadata(ctx, "manage/list/a")
	if md.MaxVersions != 7 || !md.CASRequired || md.CustomMetadata["owner"] != "team-a" || md.DeleteVersionAfter != dva {
		t.Errorf("after partial update metadata = %+v, want max 7 and the rest unchanged", md)
	}
	// cas_required now applies to writes without CAS.
	_, err = b.Put(ctx, "manage/list/a", map[string]any{"value": "y"}, nil)
	wantCode(t, "Put without CAS on a cas_required entry", err, vaultly.InvalidArgument)
	// Raw view agrees.
	raw, err := srv.Client(t).KVv2("secret").GetMetadata(context.Background(), "manage/list/a")
	if err != nil {
		t.Fatal(err)
	}
	if raw.MaxVersions != 7 || !raw.CASRequired || raw.CustomMetadata["owner"] != "team-a" {
		t.Errorf("raw metadata = %+v", raw)
	}

	cfg, err := b.ReadKVConfig(ctx)
	if err != nil {
		t.Fatalf("ReadKVConfig: %v", err)
	}
	if cfg.Mount != "secret" || cfg.CASRequired {
		t.Errorf("ReadKVConfig = %+v, want mount secret without cas_required", cfg)
	}
}

func TestManageKV1(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.EnableSecrets(t, "manage-kv1", "kv", map[string]string{"version": "1"})
	b := rootBackend(t, srv, &Options{Mount: "manage-kv1"})
	ch := new(changes).record(b)
	ctx := ctxT(t, 30*time.Second)

	vm, err := b.Put(ctx, "app/db", map[string]any{"user": "u", "n": 1}, nil)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if vm.Version != 0 {
		t.Errorf("Put on kv v1 version = %d, want 0", vm.Version)
	}
	raw, err := srv.Client(t).Logical().Read("manage-kv1/app/db")
	if err != nil || raw == nil || raw.Data["user"] != "u" {
		t.Fatalf("raw read = %v, %v", raw, err)
	}
	e, err := b.GetEntry(ctx, "app/db", 0)
	if err != nil {
		t.Fatalf("GetEntry: %v", err)
	}
	if diff := cmp.Diff(map[string]any{"user": "u", "n": json.Number("1")}, e.Data); diff != "" {
		t.Errorf("GetEntry data (-want +got):\n%s", diff)
	}
	if names, err := b.List(ctx, "app"); err != nil || !slices.Equal(names, []string{"db"}) {
		t.Errorf("List = %v, %v; want [db]", names, err)
	}

	unsupported := map[string]func() error{
		"Put with CAS":     func() error { _, err := b.Put(ctx, "app/db", nil, &PutOptions{CAS: CAS(1)}); return err },
		"Patch":            func() error { _, err := b.Patch(ctx, "app/db", map[string]any{"a": "b"}, nil); return err },
		"GetEntry version": func() error { _, err := b.GetEntry(ctx, "app/db", 2); return err },
		"DeleteVersions":   func() error { return b.DeleteVersions(ctx, "app/db", []int{1}) },
		"UndeleteVersions": func() error { return b.UndeleteVersions(ctx, "app/db", []int{1}) },
		"DestroyVersions":  func() error { return b.DestroyVersions(ctx, "app/db", []int{1}) },
		"ReadMetadata":     func() error { _, err := b.ReadMetadata(ctx, "app/db"); return err },
		"WriteMetadata":    func() error { return b.WriteMetadata(ctx, "app/db", &MetadataUpdate{}) },
		"ReadKVConfig":     func() error { _, err := b.ReadKVConfig(ctx); return err },
	}
	for name, fn := range unsupported {
		t.Run(name, func(t *testing.T) {
			err := fn()
			wantCode(t, name, err, vaultly.InvalidArgument)
			if !strings.Contains(err.Error(), "kv v2") {
				t.Errorf("%s error %q, want it to name kv v2", name, err)
			}
		})
	}

	if err := b.Delete(ctx, "app/db"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = b.GetEntry(ctx, "app/db", 0)
	wantCode(t, "GetEntry after Delete", err, vaultly.NotFound)
	if got, want := ch.take(), []string{"app/db", "app/db"}; !slices.Equal(got, want) {
		t.Errorf("OnChange paths = %v, want %v", got, want)
	}
}

func TestManagePermissionDenied(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.WritePolicy(t, "manage-readonly", `
path "secret/data/manage/ro/*" { capabilities = ["read"] }
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }`)
	srv.PutKV(t, "manage/ro/x", map[string]any{"value": "v"})
	b := rootBackend(t, srv, &Options{Token: srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"manage-readonly"}})})
	ch := new(changes).record(b)
	ctx := ctxT(t, 30*time.Second)
	_, err := b.Put(ctx, "manage/ro/x", map[string]any{"value": "w"}, nil)
	wantCode(t, "Put without permission", err, vaultly.PermissionDenied)
	err = b.Delete(ctx, "manage/ro/x")
	wantCode(t, "Delete without permission", err, vaultly.PermissionDenied)
	if got := ch.take(); len(got) != 0 {
		t.Errorf("OnChange called after failed writes: %v", got)
	}
	if got := rawKV2(t, srv, "manage/ro/x").Data["value"]; got != "v" {
		t.Errorf("value after failed writes = %v, want v", got)
	}
}

func TestSysSealUnsealAndDoctorHelpers(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t, nil) // sealed below: not the shared server
	ctx := ctxT(t, 30*time.Second)
	b := rootBackend(t, srv, nil)

	st, err := b.SealStatus(ctx)
	if err != nil {
		t.Fatalf("SealStatus: %v", err)
	}
	if st.Sealed || !st.Initialized || st.Threshold != 1 || st.Shares != 1 || !strings.HasPrefix("v"+st.Version, vaulttest.Version) {
		t.Errorf("SealStatus = %+v, want unsealed 1/1 of %s", st, vaulttest.Version)
	}

	// Doctor helpers.
	srv.WritePolicy(t, "manage-doctor", `path "secret/data/doc/*" { capabilities = ["read"] }`)
	tb := rootBackend(t, srv, &Options{Token: srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"manage-doctor"}, DisplayName: "doc"}), KVVersion: 2})
	info, err := tb.LookupSelf(ctx)
	if err != nil {
		t.Fatalf("LookupSelf: %v", err)
	}
	if !slices.Contains(info.Policies, "manage-doctor") || info.TTL <= 0 {
		t.Errorf("LookupSelf = %+v, want policy manage-doctor and a ttl", info)
	}
	capTests := []struct {
		path     string
		wantAPI  string
		wantRead bool
	}{
		{"doc/app", "secret/data/doc/app", true},
		{"other/app", "secret/data/other/app", false},
	}
	var apis []string
	for _, tt := range capTests {
		api, err := tb.ReadAPIPath(ctx, tt.path)
		if err != nil || api != tt.wantAPI {
			t.Errorf("ReadAPIPath(%q) = %q, %v; want %q", tt.path, api, err, tt.wantAPI)
		}
		caps, err := tb.Capabilities(ctx, api)
		if err != nil {
			t.Fatalf("Capabilities(%q): %v", api, err)
		}
		if CanRead(caps) != tt.wantRead {
			t.Errorf("Capabilities(%q) = %v, CanRead %v, want %v", api, caps, CanRead(caps), tt.wantRead)
		}
		apis = append(apis, api)
	}
	wantPolicy := "path \"secret/data/doc/app\" {\n  capabilities = [\"read\"]\n}\n\npath \"secret/data/other/app\" {\n  capabilities = [\"read\"]\n}\n"
	if got := ReadPolicy(append(apis, apis[0])); got != wantPolicy {
		t.Errorf("ReadPolicy = %q, want %q", got, wantPolicy)
	}
	// The policy ReadPolicy prints, once written, grants the read.
	srv.WritePolicy(t, "manage-doctor", ReadPolicy(apis))
	if caps, err := tb.Capabilities(ctx, "secret/data/other/app"); err != nil || !CanRead(caps) {
		t.Errorf("after applying ReadPolicy, Capabilities = %v, %v; want read", caps, err)
	}

	srv.Seal(t)
	sc, err := NewSysClient(&Options{Address: srv.Addr, ConfigFile: "-"})
	if err != nil {
		t.Fatalf("NewSysClient: %v", err)
	}
	if sc.Address() != srv.Addr {
		t.Errorf("Address = %q, want %q", sc.Address(), srv.Addr)
	}
	st, err = sc.SealStatus(ctx)
	if err != nil || !st.Sealed || st.Progress != 0 {
		t.Fatalf("SealStatus while sealed = %+v, %v; want sealed", st, err)
	}
	_, err = b.GetEntry(ctx, "doc/app", 0)
	wantCode(t, "GetEntry while sealed", err, vaultly.Unavailable)

	const badKey = "AAAAbm90LWEta2V5LWF0LWFsbA=="
	_, err = sc.Unseal(ctx, badKey)
	if err == nil {
		t.Fatal("Unseal with a wrong key succeeded")
	}
	if strings.Contains(err.Error(), badKey) {
		t.Errorf("Unseal error contains the key: %q", err)
	}
	_, err = sc.Unseal(ctx, "  ")
	wantCode(t, "Unseal with an empty key", err, vaultly.InvalidArgument)
	st, err = sc.Unseal(ctx, srv.UnsealKey)
	if err != nil || st.Sealed {
		t.Fatalf("Unseal = %+v, %v; want unsealed", st, err)
	}
}

// A Store on top of the backend drops its cached entry when a management
// call changes it, so the next Get sees the new value without waiting for
// the TTL.
func TestManageInvalidatesStore(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	b := rootBackend(t, srv, nil)
	ctx := ctxT(t, 30*time.Second)
	store := vaultly.New(b, &vaultly.Options{TTL: time.Hour})
	t.Cleanup(func() { store.Close() })
	const ref = "manage/store/app:value"

	steps := []struct {
		name   string
		change func() error
		want   string // "" means NotFound
	}{
		{"put", func() error {
			_, err := b.Put(ctx, "manage/store/app", map[string]any{"value": "one"}, nil)
			return err
		}, "one"},
		{"put again", func() error {
			_, err := b.Put(ctx, "manage/store/app", map[string]any{"value": "two"}, nil)
			return err
		}, "two"},
		{"patch", func() error {
			_, err := b.Patch(ctx, "manage/store/app", map[string]any{"value": "three"}, nil)
			return err
		}, "three"},
		{"delete latest version", func() error { return b.DeleteVersions(ctx, "manage/store/app", []int{3}) }, ""},
		{"undelete", func() error { return b.UndeleteVersions(ctx, "manage/store/app", []int{3}) }, "three"},
		{"delete", func() error { return b.Delete(ctx, "manage/store/app") }, ""},
	}
	for _, st := range steps {
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := store.Get(ctx, ref)
		switch {
		case st.want == "" && vaultly.CodeOf(err) != vaultly.NotFound:
			t.Errorf("after %s: Get = %q, %v; want NotFound", st.name, got, err)
		case st.want != "" && (err != nil || got != st.want):
			t.Errorf("after %s: Get = %q, %v; want %q", st.name, got, err, st.want)
		}
	}
}
