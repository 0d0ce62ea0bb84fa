package vaultly_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/memsecrets"
)

// TestDynamicWait: Wait answers at once while the current generation is
// valid; after its lease ended in an outage it blocks until the replacement
// is issued (about a second after the backend is back), fails with
// Unavailable when its context ends first, and with Canceled once closed.
func TestDynamicWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		b := memsecrets.New(nil)
		b.SetRole("db/creds/app", memsecrets.Role{TTL: 4 * time.Second, MaxTTL: time.Minute, Granularity: time.Second})
		b.SetHook(func(context.Context, memsecrets.Call) error {
			if el := time.Since(start); el >= time.Second && el < 7*time.Second {
				return &vaultly.Error{Code: vaultly.Unavailable, Err: errors.New("connection refused")}
			}
			return nil
		})
		s := vaultly.New(b, nil)
		defer s.Close()
		d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "db/creds/app", nil)
		if err != nil {
			t.Fatal(err)
		}
		if l, err := d.Wait(t.Context()); err != nil || l.Lease.Generation != 1 {
			t.Fatalf("Wait while valid = %v, %v; want generation 1 at once", l, err)
		}
		time.Sleep(5 * time.Second) // the lease ended at 4s; the backend is down until 7s
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		_, err = d.Wait(ctx)
		cancel()
		if !errors.Is(err, vaultly.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait with a short deadline during the outage = %v; want Unavailable wrapping context.DeadlineExceeded", err)
		}
		l, err := d.Wait(t.Context())
		if err != nil || l.Lease.Generation != 2 {
			t.Fatalf("Wait = %v, %v; want generation 2", l, err)
		}
		if at := time.Since(start); at < 7*time.Second || at > 8*time.Second {
			t.Errorf("Wait returned generation 2 at +%v, want within [7s, 8s]", at)
		}
		if err := d.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Wait(t.Context()); err != nil && !errors.Is(err, vaultly.ErrCanceled) {
			t.Errorf("Wait after Close = %v; want nil (generation 2 is still valid) or Canceled", err)
		}
	})
}
