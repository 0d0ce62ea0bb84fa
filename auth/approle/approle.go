// Package approle logs in to Vault with AppRole: a role_id and a secret_id,
// each an auth.Credential (a string, an environment variable or a file).
// Both are read again at every Login, so a secret_id rotated on disk is used by the next
// login.
//
// The secret_id may be a response-wrapping token (Options.Wrapped). Login
// then checks with sys/wrapping/lookup that the token was created at
// auth/<mount>/role/<role>/secret-id before unwrapping it, and reports a
// token that was already used or has expired as possibly intercepted.
//
// A *Method is safe for concurrent use and holds nothing that must be closed.
package approle

import (
	"context"
	"errors"
	"os"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/internal/login"
	"github.com/vaultly/vaultly/internal/errs"
)

// Options configures an AppRole login. Each credential is an
// auth.Credential (auth.FromString, auth.FromEnv or auth.FromFile), read
// again at every Login.
type Options struct {
	// Mount is where AppRole is enabled. Default "approle" (auth/approle).
	Mount string

	// RoleID is the role_id. Required.
	RoleID auth.Credential

	// SecretID is the secret_id. Default: unset, for roles with
	// bind_secret_id=false.
	SecretID auth.Credential

	// RemoveSecretIDFile deletes SecretID's file once it has been read, as
	// Vault Agent's remove_secret_id_file_after_reading does; SecretID must
	// then come from auth.FromFile. The next Login needs a new file.
	// Default false.
	RemoveSecretIDFile bool

	// Wrapped says SecretID holds a response-wrapping token whose payload
	// is the secret_id. Default false.
	Wrapped bool

	// RoleName is the AppRole role's name. Required when Wrapped: the
	// wrapping token must have been created at
	// auth/<Mount>/role/<RoleName>/secret-id.
	RoleName string
}

// Method logs in with AppRole. Create it with New. It prints as Describe
// for every verb.
type Method struct {
	login.Base
	roleID     auth.Credential
	secretID   auth.Credential
	removeFile bool
	wrapped    bool
	roleName   string
}

var (
	_ auth.Method    = (*Method)(nil)
	_ auth.Describer = (*Method)(nil)
)

// New checks opts and returns the method. A missing role_id, or a setting
// that needs another one, is a Config error.
func New(opts *Options) (*Method, error) {
	if opts == nil {
		opts = &Options{}
	}
	m := &Method{
		Base:       login.NewBase("approle", opts.Mount),
		roleID:     opts.RoleID,
		secretID:   opts.SecretID,
		removeFile: opts.RemoveSecretIDFile,
		wrapped:    opts.Wrapped,
		roleName:   opts.RoleName,
	}
	if !m.roleID.IsSet() {
		return nil, login.Fail(m.Base, errs.Config, "role_id is required")
	}
	if m.removeFile && m.secretID.File() == "" {
		return nil, login.Fail(m.Base, errs.Config, "removing the secret_id file needs a secret_id read from a file")
	}
	if m.wrapped {
		if !m.secretID.IsSet() {
			return nil, login.Fail(m.Base, errs.Config, "a wrapped secret_id needs a secret_id source holding the wrapping token")
		}
		if m.roleName == "" {
			return nil, login.Fail(m.Base, errs.Config, "a wrapped secret_id needs the role name, to check where the wrapping token was created")
		}
	}
	return m, nil
}

// Login reads role_id and secret_id from their sources (unwrapping the
// secret_id when Wrapped) and logs in at auth/<mount>/login.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	roleID, err := login.Credential(m.Base, "role_id", m.roleID)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"role_id": roleID}
	secrets := []string{roleID}
	lc, err := login.Client(m.Base, client)
	if err != nil {
		return nil, err
	}
	if m.secretID.IsSet() {
		sid, err := login.Credential(m.Base, "secret_id", m.secretID)
		if err != nil {
			return nil, err
		}
		if m.removeFile {
			if err := os.Remove(m.secretID.File()); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, login.Fail(m.Base, errs.Config, "cannot remove the secret_id file %s: %v", m.secretID.File(), errors.Unwrap(err))
			}
		}
		if m.wrapped {
			wrapTok := sid
			sid, err = m.unwrap(ctx, lc, wrapTok)
			if err != nil {
				return nil, err
			}
			secrets = append(secrets, wrapTok)
		}
		data["secret_id"] = sid
		secrets = append(secrets, sid)
	}
	return login.WriteWith(ctx, m.Base, lc, "login", data, secrets...)
}

// errIntercepted is the message for a wrapping token that cannot be looked up.
const errIntercepted = "the wrapping token was already used or has expired — it may have been intercepted"

// unwrap checks the wrapping token's creation path and returns its secret_id.
func (m *Method) unwrap(ctx context.Context, lc *api.Client, wrapTok string) (string, error) {
	look, err := lc.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": wrapTok})
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == 400 {
			return "", login.FailCause(m.Base, errs.Unauthenticated, err, errIntercepted)
		}
		return "", login.Error(m.Base, err, wrapTok)
	}
	want := login.Ref(m.Base) + "/role/" + m.roleName + "/secret-id"
	var got string
	if look != nil && look.Data != nil {
		got, _ = look.Data["creation_path"].(string)
	}
	if got != want {
		return "", login.Fail(m.Base, errs.Unauthenticated,
			"refusing wrapping token: created at %q, want %q — it may have been substituted", got, want)
	}
	un, err := lc.Logical().UnwrapWithContext(ctx, wrapTok)
	lc.ClearToken()
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == 400 {
			return "", login.FailCause(m.Base, errs.Unauthenticated, err, errIntercepted)
		}
		return "", login.Error(m.Base, err, wrapTok)
	}
	if un == nil || un.Data == nil {
		return "", login.Fail(m.Base, errs.Unauthenticated, "the wrapping token holds no secret_id")
	}
	sid, _ := un.Data["secret_id"].(string)
	if sid == "" {
		return "", login.Fail(m.Base, errs.Unauthenticated, "the wrapping token holds no secret_id")
	}
	return sid, nil
}
