package hashivault

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// TestHealth: against a real server, healthy while unsealed (reachable,
// the token's expiry, the last success), Unavailable and sealed once
// sealed, Unavailable and unreachable once stopped.
func TestHealth(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t, nil)
	tok := srv.CreateToken(t, &api.TokenCreateRequest{TTL: "1h"})
	b := rootBackend(t, srv, &Options{Token: tok})
	ctx := ctxT(t, 20*time.Second)
	h := b.Health(ctx)
	if h.Err != nil || !h.Reachable || h.Sealed || h.Standby || h.LastSuccess.IsZero() {
		t.Fatalf("Health of an unsealed dev server = %+v, want reachable, unsealed, a last success, no error", h)
	}
	if left := time.Until(h.TokenExpires); left < 50*time.Minute || left > time.Hour {
		t.Errorf("TokenExpires in %v, want about 1h", left)
	}
	srv.Seal(t)
	h = b.Health(ctx)
	if !h.Reachable || !h.Sealed || driver.CodeOf(h.Err) != driver.Unavailable {
		t.Errorf("Health while sealed = %+v, want reachable, sealed, Unavailable", h)
	}
	srv.Stop()
	h = b.Health(ctx)
	if h.Reachable || driver.CodeOf(h.Err) != driver.Unavailable {
		t.Errorf("Health of a stopped server = %+v, want unreachable, Unavailable", h)
	}
}
