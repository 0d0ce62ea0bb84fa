package vaultly_test

import (
	"sync/atomic"
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/memsecrets"
)

// countingNotifier counts the ChangeNotifier registrations made and removed.
type countingNotifier struct {
	*memsecrets.Backend
	adds, removes atomic.Int32
}

func (c *countingNotifier) OnChange(fn func(string)) func() {
	c.adds.Add(1)
	remove := c.Backend.OnChange(fn)
	return func() {
		c.removes.Add(1)
		remove()
	}
}

// TestStoreCloseRemovesChangeRegistration: each Store registers once with a
// driver.ChangeNotifier and removes that registration on Close; two Stores
// over one backend are independent.
func TestStoreCloseRemovesChangeRegistration(t *testing.T) {
	b := &countingNotifier{Backend: memsecrets.New(nil)}
	b.SetValue("app/key", "v1")
	s1 := vaultly.New(b, &vaultly.Options{KeepBackendOpen: true})
	s2 := vaultly.New(b, &vaultly.Options{KeepBackendOpen: true})
	defer s2.Close()
	for _, s := range []*vaultly.Store{s1, s2} {
		if v, err := s.Get(t.Context(), "app/key"); err != nil || v != "v1" {
			t.Fatalf("Get = %q, %v; want v1", v, err)
		}
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := [2]int32{b.adds.Load(), b.removes.Load()}, [2]int32{2, 1}; got != want {
		t.Errorf("registrations added, removed = %v, want %v", got, want)
	}
	b.SetValue("app/key", "v2") // s2's cached entry must still be dropped
	if v, err := s2.Get(t.Context(), "app/key"); err != nil || v != "v2" {
		t.Errorf("Get on the open Store after a change = %q, %v; want v2", v, err)
	}
}
