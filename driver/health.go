package driver

import (
	"context"
	"time"
)

// HealthReporter is implemented by backends that can tell, for readiness
// probes, whether they can serve: the server reachable and unsealed, the
// token valid. vaultly.Store.Health includes the report.
type HealthReporter interface {
	// Health checks the backend now (Vault: one unauthenticated sys/health
	// request) and reports what it found and what it knows of its token.
	// It does not fail: a problem is in Health.Err. ctx bounds the check.
	Health(ctx context.Context) Health
}

// Health is a backend's report. It holds no secret.
type Health struct {
	Reachable bool // the server answered the check
	Sealed    bool // the server is sealed (or not initialised)
	Standby   bool // the node answering is a standby (it forwards requests)
	// TokenExpires is when the token expires unless renewed; zero for a
	// token without expiry or when there is none.
	TokenExpires time.Time
	// LastSuccess is the end of the last request that succeeded; zero if
	// none yet.
	LastSuccess time.Time
	// Err is nil when the backend can serve, else a *Error saying why
	// (Unavailable: unreachable or sealed; Unauthenticated: the token
	// expired and logging in fails).
	Err error
}
