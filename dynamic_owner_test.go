package vaultly_test

import (
	"sync/atomic"
	"testing"

	"github.com/vaultly/vaultly"
)

// TestStoreCloseClosesOpenDynamics: a Dynamic (and its subscribers) still
// open when the Store closes is closed first, so its renewal goroutine
// never outlives the backend; closing it afterwards is harmless, and a
// Dynamic closed before is not closed again.
func TestStoreCloseClosesOpenDynamics(t *testing.T) {
	b := &leaserStub{fields: map[string]string{"username": "u", "password": "p"}}
	s := vaultly.New(b, nil)
	d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", nil)
	if err != nil {
		t.Fatal(err)
	}
	var events atomic.Int32
	d.Subscribe(func(vaultly.DynamicEvent[vaultly.DatabaseCredentials]) { events.Add(1) })

	var tagged struct {
		DB *vaultly.Dynamic[vaultly.DatabaseCredentials] `dynamic:"database/creds/other"`
	}
	if _, err := vaultly.OpenDynamics(t.Context(), s, &tagged, nil); err != nil {
		t.Fatal(err)
	}
	tw := b.w // the watcher of the tagged handle
	if err := s.Close(); err != nil {
		t.Fatalf("Store.Close() = %v", err)
	}
	tw.mu.Lock()
	closed := tw.closed
	tw.mu.Unlock()
	if !closed {
		t.Error("Store.Close left the lease watcher of an open Dynamic running")
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
}
