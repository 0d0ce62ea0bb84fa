package hashivault

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
)

var _ driver.HealthReporter = (*Backend)(nil)

const opSysHealth = "sys.health"

// Health checks the server with one sys/health request (no token needed)
// and reports it with the token's state (driver.HealthReporter), for
// readiness probes: Err is Unavailable when the server does not answer or
// is sealed or not initialised, and Unauthenticated when the token has
// expired and logging in again fails. A standby that forwards requests is
// healthy. With several Addresses the request goes where requests go (see
// Nodes for each node's state).
func (b *Backend) Health(ctx context.Context) driver.Health {
	var h driver.Health
	var hr *api.HealthResponse
	err := b.Call(withOp(ctx, opSysHealth), func(ctx context.Context, c *api.Client) error {
		var err error
		hr, err = c.Sys().HealthWithContext(ctx)
		return err
	})
	b.mu.Lock()
	lease, loginErr := b.lease, b.loginErr
	b.mu.Unlock()
	if lease.TTL > 0 {
		h.TokenExpires = lease.Obtained.Add(lease.TTL)
	}
	if n := b.lastOK.Load(); n != 0 {
		h.LastSuccess = time.Unix(0, n)
	}
	switch {
	case err != nil:
		h.Err = vaultly.WrapError("health", "", backendName, err)
		return h
	case hr == nil:
		h.Err = vaultly.WrapError("health", "", backendName, malformed("sys/health answered without a body"))
		return h
	}
	h.Reachable, h.Sealed, h.Standby = true, hr.Sealed || !hr.Initialized, hr.Standby || hr.PerformanceStandby
	switch {
	case !hr.Initialized:
		h.Err = healthError(driver.Unavailable, "vault is not initialised")
	case hr.Sealed:
		h.Err = healthError(driver.Unavailable, "vault is sealed")
	case !h.TokenExpires.IsZero() && !time.Now().Before(h.TokenExpires) && loginErr != nil:
		h.Err = &vaultly.Error{Op: "health", Backend: backendName, Code: driver.Unauthenticated,
			Err: &vaultError{msg: "the token expired at " + h.TokenExpires.UTC().Format(time.RFC3339) + " and logging in again fails: " + causeText(loginErr), cause: loginErr}}
	}
	return h
}

func healthError(code driver.Code, msg string) error {
	return &vaultly.Error{Op: "health", Backend: backendName, Code: code, Err: errors.New(msg)}
}
