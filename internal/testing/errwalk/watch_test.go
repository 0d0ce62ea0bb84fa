package errwalk

import (
	"maps"
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/memsecrets"
)

// The rows of watches, freshness and health, added to the main table.
func init() { maps.Copy(table, watchTable) }

var watchTable = map[string]walk{
	"hashivault.Backend.CurrentVersion": {code: vaultly.NotFound, noOp: true, vault: true, call: func(t *testing.T, w *world) error {
		return ignore(w.vault.CurrentVersion(bg, "errwalk/no-such-entry"))
	}},
	"memsecrets.Backend.CurrentVersion": {code: vaultly.NotFound, noOp: true, call: func(t *testing.T, w *world) error {
		return ignore(memsecrets.New(nil).CurrentVersion(bg, "errwalk/none"))
	}},
	"vaultly.Change.MarshalJSON": {never: func(*testing.T, *world) error {
		return ignore(vaultly.NewChange(vaultly.ChangeUpdated, "p", 1, 2, []string{"k"}, nil, nil).MarshalJSON())
	}},
	"vaultly.Health.Err": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		s := vaultly.New(w.down, &vaultly.Options{KeepBackendOpen: true, Logger: quiet})
		defer s.Close()
		return s.Health(bg).Err()
	}},
	"vaultly.Store.Freshness": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		return ignore(w.store.Freshness("errwalk/../x"))
	}},
	"vaultly.Store.Subscribe": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		return ignore(w.store.Subscribe(bg, "errwalk/../x", func(vaultly.Change) {}, nil))
	}},
}
