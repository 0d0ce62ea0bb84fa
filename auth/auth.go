// Package auth defines how vaultly logs in to Vault. Each login method lives
// in its own package below this one (auth/token, auth/approle, ...). Every
// credential they take is a Credential — a value (FromString), an
// environment variable (FromEnv) or a file (FromFile) — read again at every
// Login, so a rotated secret_id or service-account token is picked up by the
// next login, and redacted in every printed form.
//
// Every error of this package and of the methods is a *vaultly.Error with
// op "login" (or "read credential"), so vaultly.CodeOf and errors.Is(err,
// vaultly.ErrConfig) and friends work on it.
//
// Method is deliberately the same shape as vault/api's api.AuthMethod, so the
// upstream helper modules can be passed where a Method is expected.
// Credential and MethodFunc are safe for concurrent use.
package auth

import (
	"context"
	"errors"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/internal/errs"
)

// Method logs in to Vault and returns the auth response (token, TTL,
// renewable). Implementations must be safe for concurrent use, must not
// cache the credential they read, and must never put a credential in an error.
type Method interface {
	Login(ctx context.Context, client *api.Client) (*api.Secret, error)
}

// MethodFunc adapts a function to Method: a token factory for custom logins.
type MethodFunc func(ctx context.Context, client *api.Client) (*api.Secret, error)

// Login calls f. An error of f is returned as a *vaultly.Error with op
// "login": one f returned keeps its code; a context error is Canceled or
// DeadlineExceeded, and any other error Unauthenticated, with f's error as
// the cause.
func (f MethodFunc) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	sec, err := f(ctx, client)
	if err != nil {
		code := errs.CodeOf(err)
		if code == errs.Unknown {
			if _, ok := errors.AsType[*errs.Error](err); !ok {
				code = errs.Unauthenticated
			}
		}
		if e, ok := err.(*errs.Error); ok {
			return sec, errs.Wrap("login", "", "", e)
		}
		return sec, &errs.Error{Op: "login", Code: code, Err: err}
	}
	return sec, nil
}

// Describer is implemented by methods that can name themselves for errors
// and logs, e.g. "approle at auth/approle". Never includes a credential.
type Describer interface {
	Describe() string
}

var _ Method = MethodFunc(nil)
var _ api.AuthMethod = Method(nil)
