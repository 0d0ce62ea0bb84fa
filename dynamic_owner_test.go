package vaultly_test

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/memsecrets"
)

// TestStoreCloseClosesOpenDynamics: a Dynamic (and its subscribers) still
// open when the Store closes is closed first, so its lease goroutine never
// outlives the backend (synctest.Test would report the goroutine left
// behind); closing it afterwards is harmless.
func TestStoreCloseClosesOpenDynamics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetRole("database/creds/app", memsecrets.Role{TTL: time.Minute})
		b.SetRole("database/creds/other", memsecrets.Role{TTL: time.Minute})
		s := vaultly.New(b, nil)
		d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", &vaultly.DynamicOptions{RevokeOnClose: true})
		if err != nil {
			t.Fatal(err)
		}
		var events atomic.Int32
		d.Subscribe(func(vaultly.DynamicEvent[vaultly.DatabaseCredentials]) { events.Add(1) })

		var tagged struct {
			DB *vaultly.Dynamic[vaultly.DatabaseCredentials] `dynamic:"database/creds/other"`
		}
		if _, err := vaultly.OpenDynamics(t.Context(), s, &tagged, &vaultly.DynamicOptions{RevokeOnClose: true}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // a few renewals
		if events.Load() == 0 {
			t.Fatal("no renewal events in a minute with a 1m TTL")
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Store.Close() = %v", err)
		}
		for _, st := range b.Leases("") {
			if !st.Revoked {
				t.Errorf("lease %s not revoked by Store.Close: its Dynamic was left open", st.ID)
			}
		}
		n := b.CallCount(memsecrets.OpRenew, "database/creds/app")
		time.Sleep(5 * time.Minute)
		if got := b.CallCount(memsecrets.OpRenew, "database/creds/app"); got != n {
			t.Errorf("renewals after Store.Close: %d, want 0", got-n)
		}
		// A closed Dynamic takes no new subscribers: the returned stop is a no-op.
		stop := d.Subscribe(func(vaultly.DynamicEvent[vaultly.DatabaseCredentials]) { events.Add(1) })
		stop()
		if err := d.Close(t.Context()); err != nil {
			t.Errorf("Dynamic.Close after Store.Close = %v, want nil", err)
		}
		if _, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", nil); vaultly.CodeOf(err) != vaultly.Canceled {
			t.Errorf("OpenDynamic on a closed Store: error = %v, want code %v", err, vaultly.Canceled)
		}
	})
}
