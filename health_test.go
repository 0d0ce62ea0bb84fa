package vaultly_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/memsecrets"
)

// TestHealthLeasesAtRisk: a dynamic secret whose renewal fails is at risk
// in Store.Health until a renewal succeeds; a Store with nothing wrong is
// OK with a nil Err.
func TestHealthLeasesAtRisk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memsecrets.New(nil)
		b.SetRole("database/creds/app", memsecrets.Role{TTL: time.Minute, MaxTTL: time.Hour})
		s := vaultly.New(b, &vaultly.Options{Logger: discard()})
		defer s.Close()
		d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close(t.Context())
		if h := s.Health(t.Context()); !h.OK() || h.Err() != nil || len(h.LeasesAtRisk) != 0 {
			t.Fatalf("Health with a fresh lease = %+v, %v; want OK", h, h.Err())
		}
		b.SetError("", driver.NewError(driver.Unavailable, errors.New("sealed")))
		time.Sleep(50 * time.Second) // past the first renewal (at 42-80% of the minute, so by 48 s)
		synctest.Wait()
		h := s.Health(t.Context())
		if diff := cmp.Diff([]string{"database/creds/app"}, h.LeasesAtRisk); diff != "" || vaultly.CodeOf(h.Err()) != vaultly.Unavailable {
			t.Errorf("Health while renewals fail: LeasesAtRisk diff %s, Err %v; want the path, Unavailable", diff, h.Err())
		}
		b.SetError("", nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if h := s.Health(t.Context()); !h.OK() {
			t.Errorf("Health after renewals work again = %+v, want OK", h)
		}
	})
}
