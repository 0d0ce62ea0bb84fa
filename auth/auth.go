// Package auth defines how vaultly logs in to Vault. Each login method lives
// in its own package below this one (auth/token, auth/approle, ...), and each
// re-reads its credential source (file, environment) at every Login, so a
// rotated secret_id or service-account token is picked up by the next login.
//
// Method is deliberately the same shape as vault/api's api.AuthMethod, so the
// upstream helper modules can be passed where a Method is expected.
package auth

import (
	"context"

	"github.com/hashicorp/vault/api"
)

// Method logs in to Vault and returns the auth response (token, TTL,
// renewable). Implementations must be safe for concurrent use, must not
// cache the credential they read, and must never put a credential in an error.
type Method interface {
	Login(ctx context.Context, client *api.Client) (*api.Secret, error)
}

// MethodFunc adapts a function to Method: a token factory for custom logins.
type MethodFunc func(ctx context.Context, client *api.Client) (*api.Secret, error)

// Login calls f.
func (f MethodFunc) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	return f(ctx, client)
}

// Describer is implemented by methods that can name themselves for errors
// and logs, e.g. "approle at auth/approle". Never includes a credential.
type Describer interface {
	Describe() string
}

var _ Method = MethodFunc(nil)
var _ api.AuthMethod = Method(nil)
