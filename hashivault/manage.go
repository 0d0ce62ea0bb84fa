package hashivault

// KV management: the write side of the KV secrets engine (put, patch,
// delete, versions, metadata, engine config). Every method goes through
// b.Call (mapped errors, one re-login on an expired token), returns a
// *vaultly.Error, and calls b.NotifyChange(path) after a successful write so
// that a Store on top of the backend drops its cached entry.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/fieldtext"
	"github.com/vaultly/vaultly/internal/hint"
)

// VersionMetadata describes one version of a KV v2 entry.
type VersionMetadata struct {
	Version      int       `json:"version"`
	CreatedTime  time.Time `json:"created_time,omitzero"`
	DeletionTime time.Time `json:"deletion_time,omitzero"` // zero unless soft-deleted
	Destroyed    bool      `json:"destroyed"`
}

// KVEntry is a whole entry as stored, with the metadata of the version read.
type KVEntry struct {
	Path string `json:"path"`
	// Data holds the stored JSON values: strings as string, numbers as
	// json.Number, objects as map[string]any, arrays as []any.
	Data map[string]any `json:"data"`
	// Version is the metadata of the version read; zero on KV v1.
	Version VersionMetadata `json:"version"`
	// CustomMetadata is the entry's custom metadata (KV v2), nil if none.
	CustomMetadata map[string]string `json:"custom_metadata,omitempty"`
}

// Metadata is the metadata of a KV v2 entry (all its versions).
type Metadata struct {
	Path               string            `json:"path"`
	CurrentVersion     int               `json:"current_version"`
	OldestVersion      int               `json:"oldest_version"`
	MaxVersions        int               `json:"max_versions"` // 0: the engine's setting
	CASRequired        bool              `json:"cas_required"`
	DeleteVersionAfter time.Duration     `json:"delete_version_after"` // 0: never
	CreatedTime        time.Time         `json:"created_time,omitzero"`
	UpdatedTime        time.Time         `json:"updated_time,omitzero"`
	CustomMetadata     map[string]string `json:"custom_metadata,omitempty"`
	Versions           []VersionMetadata `json:"versions"` // sorted by version
}

// MetadataUpdate says which metadata fields WriteMetadata changes. A nil
// field is left as it is.
type MetadataUpdate struct {
	// MaxVersions is how many versions to keep (0: the engine's setting).
	// Default nil: unchanged.
	MaxVersions *int
	// CASRequired makes every write to the entry need a check-and-set
	// version. Default nil: unchanged.
	CASRequired *bool
	// DeleteVersionAfter soft-deletes versions this long after they are
	// written (0: never). Default nil: unchanged.
	DeleteVersionAfter *time.Duration
	// CustomMetadata replaces the whole custom metadata map (an empty,
	// non-nil map clears it). Default nil: unchanged.
	CustomMetadata map[string]string
}

// KVConfig is the configuration of a KV v2 engine (its mount).
type KVConfig struct {
	Mount              string        `json:"mount"`
	MaxVersions        int           `json:"max_versions"` // 0: Vault's default (10)
	CASRequired        bool          `json:"cas_required"`
	DeleteVersionAfter time.Duration `json:"delete_version_after"` // 0: never
}

// PutOptions tunes Put. A nil *PutOptions means the defaults.
type PutOptions struct {
	// CAS, when set, makes the write succeed only if the entry's current
	// version is *CAS (0: the entry must not exist yet); otherwise the error
	// has code Conflict. KV v2 only. Default nil: no check.
	CAS *int
}

// PatchOptions tunes Patch. A nil *PatchOptions means the defaults.
type PatchOptions struct {
	// CAS, when set, makes the patch succeed only if the entry's current
	// version is *CAS; otherwise the error has code Conflict. Default nil:
	// no check by the caller (the read-then-write fallback always uses the
	// version it read).
	CAS *int
}

// CAS returns a pointer to version, for PutOptions.CAS and PatchOptions.CAS.
func CAS(version int) *int { return &version }

// Put stores fields as a new version of the entry at path (KV v2) or
// replaces the entry (KV v1), and returns the new version's metadata
// (Version 0 on KV v1). Values are stored as JSON: strings, numbers, bools,
// maps, slices.
func (b *Backend) Put(ctx context.Context, path string, fields map[string]any, opts *PutOptions) (*VersionMetadata, error) {
	const op = "put"
	p, err := vaultly.CleanPath(path)
	if err != nil {
		return nil, badPath(op, path, err)
	}
	if err := checkFields(op, p, fields); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &PutOptions{}
	}
	if fields == nil {
		fields = map[string]any{}
	}
	var out *VersionMetadata
	err = b.kvCall(ctx, p, "", func(ctx context.Context, c *api.Client, v2 bool) error {
		if !v2 {
			if opts.CAS != nil {
				return kvInvalid("check-and-set needs a kv v2 mount")
			}
			if _, err := c.Logical().WriteWithContext(ctx, b.kvV1Path(p), fields); err != nil {
				return kvWriteError(err)
			}
			out = &VersionMetadata{}
			return nil
		}
		body := map[string]any{"data": fields}
		if opts.CAS != nil {
			body["options"] = map[string]any{"cas": *opts.CAS}
		}
		sec, err := c.Logical().WriteWithContext(ctx, b.kvV2Path("data", p), body)
		if err != nil && opts.CAS == nil && unanswered(err) {
			out, err = b.settleWrite(ctx, c, p, fields, err)
			return err
		}
		if err != nil {
			return kvWriteError(err)
		}
		out = kvVersionMeta(kvData(sec))
		return nil
	})
	if err := b.kvWritten(op, p, err); err != nil {
		return nil, err
	}
	return out, nil
}

// settleWrite finds out what became of a KV v2 write that reached a node
// which gave no answer (it died, the connection was reset), so that
// sending it again never makes a second version: it reads the entry back
// (from any node) and, when the latest version holds fields, the write was
// applied; otherwise it writes again with check-and-set on the version it
// read, so that the first write, should it still land, and the second
// cannot both apply. It gives up with the original error when the entry
// cannot be read (a token that may write but not read) or ctx ends.
func (b *Backend) settleWrite(ctx context.Context, c *api.Client, p string, fields map[string]any, orig error) (*VersionMetadata, error) {
	want, err := json.Marshal(fields)
	if err != nil {
		return nil, kvWriteError(orig)
	}
	apiPath := b.kvV2Path("data", p)
	b.log.Debug("vaultly: a write got no answer; reading it back before writing again", "path", p)
	wait := settleFirstWait
	for range settleTries {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, kvWriteError(orig)
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
		sec, nf, err := b.readSecret(ctx, c, apiPath, nil)
		if err != nil {
			if driver.CodeOf(MapError(err)).Retryable() {
				continue
			}
			return nil, kvWriteError(orig)
		}
		raw := kvData(sec)
		vm := kvVersionMeta(raw)
		if nf == nil && sameJSON(raw["data"], want) {
			return vm, nil // the first write was applied
		}
		body := map[string]any{"data": fields, "options": map[string]any{"cas": vm.Version}}
		sec, err = c.Logical().WriteWithContext(ctx, apiPath, body)
		switch {
		case err == nil:
			return kvVersionMeta(kvData(sec)), nil
		case unanswered(err) || driver.CodeOf(kvWriteError(err)) == driver.Conflict:
			continue // read again: one of our writes may have landed
		case driver.CodeOf(MapError(err)).Retryable():
			continue
		}
		return nil, kvWriteError(err)
	}
	return nil, kvWriteError(orig)
}

// How settleWrite waits: first long enough for a write still on its way
// through a dying node to land, then up to 1s between reads.
const (
	settleFirstWait = 200 * time.Millisecond
	settleTries     = 30
)

// sameJSON reports whether v (decoded with json.Number) encodes to the
// same JSON as want.
func sameJSON(v any, want []byte) bool {
	if v == nil {
		return false
	}
	got, err := json.Marshal(v)
	return err == nil && string(got) == string(want)
}

// Patch merges fields into the latest version of the entry at path and
// stores the result as a new version, following JSON merge patch (RFC 7386):
// a nil value removes the field, a map is merged into a map. It uses the
// server's HTTP PATCH; where that is unavailable (a 405 from an old server,
// or a token without the "patch" capability) it falls back to reading the
// latest version and writing the merged data with check-and-set on the
// version read, so a concurrent write is never lost (code Conflict). KV v2
// only: on KV v1 the error has code InvalidArgument. A missing entry is
// NotFound.
func (b *Backend) Patch(ctx context.Context, path string, fields map[string]any, opts *PatchOptions) (*VersionMetadata, error) {
	const op = "patch"
	p, err := vaultly.CleanPath(path)
	if err != nil {
		return nil, badPath(op, path, err)
	}
	if err := checkFields(op, p, fields); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &PatchOptions{}
	}
	var out *VersionMetadata
	err = b.kvCall(ctx, p, "patch needs a kv v2 mount; use put", func(ctx context.Context, c *api.Client, _ bool) error {
		body := map[string]any{"data": fields}
		if opts.CAS != nil {
			body["options"] = map[string]any{"cas": *opts.CAS}
		}
		sec, err := c.Logical().JSONMergePatch(ctx, b.kvV2Path("data", p), body)
		if err == nil {
			out = kvVersionMeta(kvData(sec))
			return nil
		}
		if re, ok := errors.AsType[*api.ResponseError](err); ok {
			// 405: a server without PATCH; 403 (not a bad token): a token
			// without the "patch" capability. Both can read-then-write.
			forbidden := re.StatusCode == http.StatusForbidden && driver.CodeOf(MapError(err)) == driver.PermissionDenied
			switch {
			case re.StatusCode == http.StatusNotFound:
				return errNoEntryToPatch(err)
			case re.StatusCode == http.StatusMethodNotAllowed, forbidden:
				out, err = b.kvReadThenWrite(ctx, c, p, fields, opts.CAS)
				return err
			}
		}
		return kvWriteError(err)
	})
	if err := b.kvWritten(op, p, err); err != nil {
		return nil, err
	}
	return out, nil
}

func (b *Backend) kvReadThenWrite(ctx context.Context, c *api.Client, p string, fields map[string]any, cas *int) (*VersionMetadata, error) {
	sec, nf, err := b.readSecret(ctx, c, b.kvV2Path("data", p), nil)
	if err != nil {
		return nil, err
	}
	data, _ := kvData(sec)["data"].(map[string]any)
	vm := kvVersionMeta(kvData(sec))
	if data == nil {
		return nil, errNoEntryToPatch(nf)
	}
	if cas != nil && *cas != vm.Version {
		return nil, &driver.Error{Code: driver.Conflict, Err: errors.New("check-and-set version does not match the current version")}
	}
	merged := kvMergePatch(data, fields)
	body := map[string]any{"data": merged, "options": map[string]any{"cas": vm.Version}}
	sec, err = c.Logical().WriteWithContext(ctx, b.kvV2Path("data", p), body)
	if err != nil {
		return nil, kvWriteError(err)
	}
	return kvVersionMeta(kvData(sec)), nil
}

// kvMergePatch applies an RFC 7386 merge patch to target (modified in place).
func kvMergePatch(target, patch map[string]any) map[string]any {
	if target == nil {
		target = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(target, k)
		case map[string]any:
			tv, _ := target[k].(map[string]any)
			target[k] = kvMergePatch(tv, pv)
		default:
			target[k] = v
		}
	}
	return target
}

// GetEntry reads the whole entry at path, at version (0: the latest), with
// the version's metadata and, on KV v2, the entry's custom metadata. A
// missing entry, and a soft-deleted or destroyed version, is NotFound (with
// a hint for the latter). On KV v1 version must be 0.
func (b *Backend) GetEntry(ctx context.Context, path string, version int) (*KVEntry, error) {
	const op = "get"
	p, err := vaultly.CleanPath(path)
	if err != nil {
		return nil, badPath(op, path, err)
	}
	ref := p
	if version != 0 {
		ref += "@" + strconv.Itoa(version)
	}
	if version < 0 {
		return nil, vaultly.WrapError(op, ref, b.Name(), kvInvalid("version must not be negative"))
	}
	var out *KVEntry
	err = b.kvCall(ctx, p, "", func(ctx context.Context, c *api.Client, v2 bool) error {
		if !v2 {
			if version != 0 {
				return kvInvalid("versions need a kv v2 mount")
			}
			sec, nf, err := b.readSecret(ctx, c, b.kvV1Path(p), nil)
			if err != nil {
				return err
			}
			if nf == nil && (sec == nil || sec.Data == nil) {
				return malformedField(b.kvV1Path(p), "data", "an object")
			}
			if sec == nil || sec.Data == nil {
				return errNoEntry(nf)
			}
			out = &KVEntry{Path: p, Data: sec.Data}
			return nil
		}
		var q map[string][]string
		if version != 0 {
			q = map[string][]string{"version": {strconv.Itoa(version)}}
		}
		sec, nf, err := b.readSecret(ctx, c, b.kvV2Path("data", p), q)
		if err != nil {
			return err
		}
		raw := kvData(sec)
		vm := kvVersionMeta(raw)
		data, isMap := raw["data"].(map[string]any)
		if nf == nil && !isMap {
			// Vault answers 404 for a missing or deleted version, never 200.
			return malformedField(b.kvV2Path("data", p), "data.data", "an object")
		}
		if md, ok := raw["metadata"]; nf == nil && ok {
			if _, isMap := md.(map[string]any); !isMap && md != nil {
				return malformedField(b.kvV2Path("data", p), "data.metadata", "an object")
			}
		}
		if data == nil {
			return kvVersionNotFound(p, vm, nf)
		}
		out = &KVEntry{Path: p, Data: data, Version: *vm}
		if md, ok := raw["metadata"].(map[string]any); ok {
			out.CustomMetadata = kvStringMap(md["custom_metadata"])
		}
		return nil
	})
	if err != nil {
		return nil, vaultly.WrapError(op, ref, b.Name(), err)
	}
	return out, nil
}

func kvVersionNotFound(p string, vm *VersionMetadata, nf error) error {
	switch {
	case vm.Destroyed:
		return &driver.Error{Code: driver.NotFound, Err: &vaultError{msg: fmt.Sprintf("version %d was destroyed", vm.Version), cause: nf},
			Hint: "a destroyed version cannot be recovered"}
	case !vm.DeletionTime.IsZero():
		return &driver.Error{Code: driver.NotFound,
			Err:  &hint.Mark{Kind: hint.VersionDeleted, Path: p, Version: vm.Version, Err: &vaultError{msg: fmt.Sprintf("version %d was deleted", vm.Version), cause: nf}},
			Hint: undeleteHint(p, vm.Version)}
	}
	return errNoEntry(nf)
}

// undeleteHint is the library's advice for a soft-deleted version (the CLI
// words its own).
func undeleteHint(p string, version int) string {
	return fmt.Sprintf("restore it with Backend.UndeleteVersions(ctx, %q, []int{%d})", p, version)
}

// Delete removes the entry at path for good: on KV v2 every version and the
// metadata (a metadata delete; nothing can be undeleted afterwards — use
// DeleteVersions for a soft delete), on KV v1 the entry. Deleting a missing
// entry is not an error.
func (b *Backend) Delete(ctx context.Context, path string) error {
	const op = "delete"
	p, err := vaultly.CleanPath(path)
	if err != nil {
		return badPath(op, path, err)
	}
	err = b.kvCall(ctx, p, "", func(ctx context.Context, c *api.Client, v2 bool) error {
		target := b.kvV1Path(p)
		if v2 {
			target = b.kvV2Path("metadata", p)
		}
		_, err := c.Logical().DeleteWithContext(ctx, target)
		return err
	})
	return b.kvWritten(op, p, err)
}

// Write stores fields as a new version of the entry at path (driver.Writer).
func (b *Backend) Write(ctx context.Context, path string, fields map[string]any) error {
	_, err := b.Put(ctx, path, fields, nil)
	return err
}

// List returns the names directly under prefix ("" or "/" for the mount's
// root), sorted; names of folders end in '/'. Nothing under prefix is
// NotFound.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	const op = "list"
	p := strings.Trim(prefix, "/")
	if p != "" {
		var err error
		if p, err = vaultly.CleanPath(p); err != nil {
			return nil, badPath(op, prefix, err)
		}
	}
	var out []string
	err := b.kvCall(ctx, p, "", func(ctx context.Context, c *api.Client, v2 bool) error {
		target := strings.TrimSuffix(b.kvV1Path(p), "/")
		if v2 {
			target = strings.TrimSuffix(b.kvV2Path("metadata", p), "/")
		}
		sec, nf, err := b.listSecret(ctx, c, target+"/")
		if err != nil {
			return err
		}
		rawKeys, present := kvData(sec)["keys"]
		keys, isList := rawKeys.([]any)
		if nf == nil && present && !isList {
			return malformedField(target+"/", "data.keys", "a list")
		}
		if len(keys) == 0 {
			return notFound(nf, "nothing under this prefix")
		}
		for _, k := range keys {
			s, ok := k.(string)
			if !ok {
				return malformedField(target+"/", "data.keys", "a list of strings")
			}
			out = append(out, s)
		}
		sort.Strings(out)
		return nil
	})
	if err != nil {
		ref := p
		if ref == "" {
			ref = "/"
		}
		return nil, vaultly.WrapError(op, ref, b.Name(), err)
	}
	return out, nil
}

// DeleteVersions soft-deletes the given versions of the entry at path; they
// can be restored with UndeleteVersions. KV v2 only. A missing entry is
// NotFound.
func (b *Backend) DeleteVersions(ctx context.Context, path string, versions []int) error {
	return b.versionsOp(ctx, "delete-versions", "delete", path, versions)
}

// UndeleteVersions restores soft-deleted versions of the entry at path. KV
// v2 only. A missing entry is NotFound.
func (b *Backend) UndeleteVersions(ctx context.Context, path string, versions []int) error {
	return b.versionsOp(ctx, "undelete-versions", "undelete", path, versions)
}

// DestroyVersions permanently removes the data of the given versions of the
// entry at path (their metadata stays, marked destroyed). KV v2 only. A
// missing entry is NotFound.
func (b *Backend) DestroyVersions(ctx context.Context, path string, versions []int) error {
	return b.versionsOp(ctx, "destroy-versions", "destroy", path, versions)
}

func (b *Backend) versionsOp(ctx context.Context, op, endpoint, path string, versions []int) error {
	p, err := vaultly.CleanPath(path)
	if err != nil {
		return badPath(op, path, err)
	}
	if len(versions) == 0 {
		return vaultly.WrapError(op, p, b.Name(), kvInvalid("no versions given"))
	}
	for _, v := range versions {
		if v <= 0 {
			return vaultly.WrapError(op, p, b.Name(), kvInvalid("versions must be positive integers"))
		}
	}
	err = b.kvCall(ctx, p, "versions need a kv v2 mount", func(ctx context.Context, c *api.Client, _ bool) error {
		// The server accepts version operations on a missing entry without
		// complaint; check first so a typo in the path is reported.
		if _, err := b.kvReadMetadata(ctx, c, p); err != nil {
			return err
		}
		// Vault treats POST and PUT alike: destroy's documented PUT is a write.
		_, err := c.Logical().WriteWithContext(ctx, b.kvV2Path(endpoint, p), map[string]any{"versions": versions})
		return err
	})
	return b.kvWritten(op, p, err)
}

// ReadMetadata reads the metadata of the entry at path: versions, limits,
// custom metadata. KV v2 only. A missing entry is NotFound.
func (b *Backend) ReadMetadata(ctx context.Context, path string) (*Metadata, error) {
	const op = "read-metadata"
	p, err := vaultly.CleanPath(path)
	if err != nil {
		return nil, badPath(op, path, err)
	}
	var out *Metadata
	err = b.kvCall(ctx, p, "metadata needs a kv v2 mount", func(ctx context.Context, c *api.Client, _ bool) error {
		d, err := b.kvReadMetadata(ctx, c, p)
		if err != nil {
			return err
		}
		out = kvMetadata(p, d)
		return nil
	})
	if err != nil {
		return nil, vaultly.WrapError(op, p, b.Name(), err)
	}
	return out, nil
}

// WriteMetadata changes the metadata fields of the entry at path that u
// sets, creating the metadata if the entry does not exist yet. KV v2 only.
func (b *Backend) WriteMetadata(ctx context.Context, path string, u *MetadataUpdate) error {
	const op = "write-metadata"
	p, err := vaultly.CleanPath(path)
	if err != nil {
		return badPath(op, path, err)
	}
	if u == nil {
		u = &MetadataUpdate{}
	}
	body := map[string]any{}
	if u.MaxVersions != nil {
		if *u.MaxVersions < 0 {
			return vaultly.WrapError(op, p, b.Name(), kvInvalid("max_versions must not be negative"))
		}
		body["max_versions"] = *u.MaxVersions
	}
	if u.CASRequired != nil {
		body["cas_required"] = *u.CASRequired
	}
	if u.DeleteVersionAfter != nil {
		if *u.DeleteVersionAfter < 0 {
			return vaultly.WrapError(op, p, b.Name(), kvInvalid("delete_version_after must not be negative"))
		}
		body["delete_version_after"] = u.DeleteVersionAfter.String()
	}
	if u.CustomMetadata != nil {
		body["custom_metadata"] = u.CustomMetadata
	}
	err = b.kvCall(ctx, p, "metadata needs a kv v2 mount", func(ctx context.Context, c *api.Client, _ bool) error {
		if _, err := c.Logical().WriteWithContext(ctx, b.kvV2Path("metadata", p), body); err != nil {
			return kvWriteError(err)
		}
		return nil
	})
	return b.kvWritten(op, p, err)
}

// ReadKVConfig reads the configuration of the backend's KV v2 mount. On KV
// v1 the error has code InvalidArgument.
func (b *Backend) ReadKVConfig(ctx context.Context) (*KVConfig, error) {
	const op = "read-kv-config"
	mount := strings.Trim(b.Mount(), "/")
	var out *KVConfig
	err := b.kvCall(ctx, "", "engine config needs a kv v2 mount", func(ctx context.Context, c *api.Client, _ bool) error {
		// KVPath gives "<engine mount>/config/<sub-path>"; config is per engine.
		cfg := b.kvV2Path("config", "")
		if i := strings.Index(cfg, "config/"); i >= 0 {
			cfg = cfg[:i+len("config")]
		}
		sec, nf, err := b.readSecret(ctx, c, cfg, nil)
		if err != nil {
			return err
		}
		d := kvData(sec)
		if d == nil {
			return notFound(nf, "no kv config")
		}
		out = &KVConfig{
			Mount:              mount,
			MaxVersions:        kvInt(d["max_versions"]),
			CASRequired:        d["cas_required"] == true,
			DeleteVersionAfter: kvDuration(d["delete_version_after"]),
		}
		return nil
	})
	if err != nil {
		return nil, vaultly.WrapError(op, mount, b.Name(), err)
	}
	return out, nil
}

// --- helpers ---

var (
	_ driver.Writer = (*Backend)(nil)
	_ driver.Lister = (*Backend)(nil)
)

// kvCall runs fn through b.Call with the mount's KV version known (v2),
// detecting it first when needed (p, the entry's path, goes into a
// detection error). A non-empty v1Err means the operation needs KV v2: on a
// KV v1 mount it fails with code InvalidArgument and that text, and fn is
// not called.
func (b *Backend) kvCall(ctx context.Context, p, v1Err string, fn func(ctx context.Context, c *api.Client, v2 bool) error) error {
	v, _, err := b.kvLayout(ctx, p)
	if err != nil {
		return err
	}
	if v != 2 && v1Err != "" {
		return kvInvalid("%s", v1Err)
	}
	return b.Call(withOp(ctx, opKVManage), func(ctx context.Context, c *api.Client) error {
		return fn(ctx, c, v == 2)
	})
}

// kvWritten finishes a write to the entry at p: a failure is wrapped once
// as op; a success tells the Store that p changed.
func (b *Backend) kvWritten(op, p string, err error) error {
	if err != nil {
		return vaultly.WrapError(op, p, b.Name(), err)
	}
	b.NotifyChange(p)
	return nil
}

// kvReadMetadata reads the KV v2 metadata of the entry at p; a missing
// entry is NotFound.
func (b *Backend) kvReadMetadata(ctx context.Context, c *api.Client, p string) (map[string]any, error) {
	sec, nf, err := b.readSecret(ctx, c, b.kvV2Path("metadata", p), nil)
	if err != nil {
		return nil, err
	}
	if d := kvData(sec); d != nil {
		return d, nil
	}
	return nil, errNoEntry(nf)
}

// errNoEntry is NotFound with the server's 404 (nf, may be nil) as cause.
func errNoEntry(nf error) error { return notFound(nf, "no entry") }

func errNoEntryToPatch(nf error) error {
	e := notFound(nf, "no entry to patch")
	e.Hint = "Backend.Put creates it"
	return e
}

// badPath gives a path that CleanPath refused the operation's context.
func badPath(op, path string, err error) error {
	e, ok := err.(*vaultly.Error)
	if !ok {
		return vaultly.WrapError(op, path, backendName, err)
	}
	c := *e
	c.Op, c.Ref, c.Backend = op, path, backendName
	return &c
}

// checkFields refuses, before any request, fields Vault would not store as
// given: a name or string that is not valid UTF-8 reaches Vault through
// encoding/json, which replaces the invalid bytes by U+FFFD without a word.
// The InvalidArgument error names the field and suggests base64.
func checkFields(op, p string, fields map[string]any) error {
	if err := fieldtext.CheckUTF8(fields); err != nil {
		return badPath(op, p, driver.NewError(driver.InvalidArgument, err))
	}
	return nil
}

// kvV1Path and kvV2Path return API paths; callers run inside kvCall, so the
// layout is known.
func (b *Backend) kvV1Path(p string) string {
	return b.kv.Load().paths.v1(p)
}

func (b *Backend) kvV2Path(kind, p string) string {
	return b.kv.Load().paths.v2(kind, p)
}

func kvInvalid(format string, args ...any) error {
	return driver.NewError(driver.InvalidArgument, fmt.Errorf(format, args...))
}

// kvWriteError maps a write failure, turning a check-and-set mismatch
// (a 400 from the server) into Conflict.
func kvWriteError(err error) error {
	if re, ok := errors.AsType[*api.ResponseError](err); ok && re.StatusCode == http.StatusBadRequest {
		for _, m := range re.Errors {
			if strings.Contains(m, "did not match the current version") {
				return &driver.Error{Code: driver.Conflict, Err: errors.New("check-and-set version does not match the current version"), Hint: "read the entry again and retry with its current version"}
			}
		}
	}
	return MapError(err)
}

func kvData(s *api.Secret) map[string]any {
	if s == nil {
		return nil
	}
	return s.Data
}

// kvVersionMeta reads the version metadata of a data read (under
// "metadata") or of a write response (at the top level).
func kvVersionMeta(d map[string]any) *VersionMetadata {
	if md, ok := d["metadata"].(map[string]any); ok {
		d = md
	}
	return &VersionMetadata{
		Version:      kvInt(d["version"]),
		CreatedTime:  kvTime(d["created_time"]),
		DeletionTime: kvTime(d["deletion_time"]),
		Destroyed:    d["destroyed"] == true,
	}
}

func kvMetadata(p string, d map[string]any) *Metadata {
	m := &Metadata{
		Path:               p,
		CurrentVersion:     kvInt(d["current_version"]),
		OldestVersion:      kvInt(d["oldest_version"]),
		MaxVersions:        kvInt(d["max_versions"]),
		CASRequired:        d["cas_required"] == true,
		DeleteVersionAfter: kvDuration(d["delete_version_after"]),
		CreatedTime:        kvTime(d["created_time"]),
		UpdatedTime:        kvTime(d["updated_time"]),
		CustomMetadata:     kvStringMap(d["custom_metadata"]),
	}
	vs, _ := d["versions"].(map[string]any)
	for k, v := range vs {
		n, err := strconv.Atoi(k)
		vd, ok := v.(map[string]any)
		if err != nil || !ok {
			continue
		}
		vm := kvVersionMeta(vd)
		vm.Version = n
		m.Versions = append(m.Versions, *vm)
	}
	sort.Slice(m.Versions, func(i, j int) bool { return m.Versions[i].Version < m.Versions[j].Version })
	return m
}

func kvInt(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}

func kvTime(v any) time.Time {
	s, _ := v.(string)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func kvDuration(v any) time.Duration {
	switch d := v.(type) {
	case string:
		x, _ := time.ParseDuration(d)
		return x
	case json.Number:
		i, _ := d.Int64()
		return time.Duration(i) * time.Second
	}
	return 0
}

func kvStringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, x := range m {
		if s, ok := x.(string); ok {
			out[k] = s
		} else {
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}
