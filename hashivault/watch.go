package hashivault

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
)

var _ driver.Versioner = (*Backend)(nil)

// kvMetaResponse is the part of a KV v2 metadata answer a watch needs.
type kvMetaResponse struct {
	Data *struct {
		CurrentVersion *int `json:"current_version"`
		Versions       map[string]struct {
			DeletionTime string `json:"deletion_time"`
			Destroyed    bool   `json:"destroyed"`
		} `json:"versions"`
	} `json:"data"`
}

// CurrentVersion returns the state of the latest version of the entry at
// path (driver.Versioner): on a KV v2 mount one read of its metadata
// (current_version, and whether that version is deleted or destroyed),
// which needs the "read" capability on <mount>/metadata/<path>; on a KV
// v1 mount Version 0 without a request (KV v1 keeps no versions: the
// Store's watch compares content instead). A missing entry, or one whose
// metadata was deleted, is NotFound.
func (b *Backend) CurrentVersion(ctx context.Context, path string) (driver.VersionState, error) {
	if err := ctx.Err(); err != nil {
		return driver.VersionState{}, mapError(err)
	}
	v, p, err := b.kvLayout(ctx, path)
	if err != nil {
		return driver.VersionState{}, err
	}
	if v == 1 {
		return driver.VersionState{}, nil
	}
	apiPath := p.v2("metadata", path)
	var st driver.VersionState
	err = b.Call(b.withPath(withOp(ctx, opKVVersion), path), func(ctx context.Context, c *api.Client) error {
		body, nf, err := b.rawGet(ctx, c, apiPath, nil)
		if err != nil {
			return err
		}
		if nf != nil {
			return notFound(nf, "no entry at %s", apiPath)
		}
		st, err = parseVersionState(apiPath, body, time.Now())
		return err
	})
	return st, err
}

// parseVersionState reads a KV v2 metadata answer from apiPath. A deletion
// time in the future (delete_version_after) is not a deletion yet.
func parseVersionState(apiPath string, body []byte, now time.Time) (driver.VersionState, error) {
	var r kvMetaResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return driver.VersionState{}, malformedJSON(apiPath, err)
	}
	if r.Data == nil || r.Data.CurrentVersion == nil {
		return driver.VersionState{}, malformedField(apiPath, "data.current_version", "a number")
	}
	n := *r.Data.CurrentVersion
	if n <= 0 {
		// Metadata without a version (written by metadata put alone).
		return driver.VersionState{}, notFound(nil, "no version at %s", apiPath)
	}
	st := driver.VersionState{Version: n}
	if m, ok := r.Data.Versions[strconv.Itoa(n)]; ok {
		st.Destroyed = m.Destroyed
		if !st.Destroyed && m.DeletionTime != "" {
			if dt, err := time.Parse(time.RFC3339Nano, m.DeletionTime); err == nil && !dt.After(now) {
				st.Deleted = true
			}
		}
	}
	return st, nil
}
