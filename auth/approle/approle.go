// Package approle logs in to Vault with AppRole: a role_id and a secret_id,
// each read from a string, an environment variable or a file. Both are read
// again at every Login, so a secret_id rotated on disk is used by the next
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
	"github.com/vaultly/vaultly/auth/internal/cred"
	"github.com/vaultly/vaultly/auth/internal/login"
	"github.com/vaultly/vaultly/driver"
)

// Options configures an AppRole login. Each credential has three possible
// sources; give at most one of them.
type Options struct {
	// Mount is where AppRole is enabled. Default "approle" (auth/approle).
	Mount string

	// RoleID, RoleIDEnv (an environment variable name) or RoleIDFile (a
	// path) give the role_id. One is required.
	RoleID, RoleIDEnv, RoleIDFile string

	// SecretID, SecretIDEnv or SecretIDFile give the secret_id, read at
	// every Login. Default: no secret_id (for roles with bind_secret_id=false).
	SecretID, SecretIDEnv, SecretIDFile string

	// RemoveSecretIDFile deletes SecretIDFile once it has been read, as Vault
	// Agent's remove_secret_id_file_after_reading does. The next Login then
	// needs a new file. Default false.
	RemoveSecretIDFile bool

	// Wrapped says the secret_id source holds a response-wrapping token
	// whose payload is the secret_id. Default false.
	Wrapped bool

	// RoleName is the AppRole role's name. Required when Wrapped: the
	// wrapping token must have been created at
	// auth/<Mount>/role/<RoleName>/secret-id.
	RoleName string
}

// Method logs in with AppRole. Create it with New.
type Method struct {
	mount      string
	roleID     cred.Source
	secretID   cred.Source
	removeFile bool
	wrapped    bool
	roleName   string
}

var (
	_ auth.Method    = (*Method)(nil)
	_ auth.Describer = (*Method)(nil)
)

// New checks opts and returns the method. Missing or conflicting sources
// are Config errors.
func New(opts *Options) (*Method, error) {
	if opts == nil {
		opts = &Options{}
	}
	m := &Method{
		mount:      login.Mount(opts.Mount, "approle"),
		roleID:     cred.Source{Name: "role_id", Value: opts.RoleID, Env: opts.RoleIDEnv, File: opts.RoleIDFile},
		secretID:   cred.Source{Name: "secret_id", Value: opts.SecretID, Env: opts.SecretIDEnv, File: opts.SecretIDFile},
		removeFile: opts.RemoveSecretIDFile,
		wrapped:    opts.Wrapped,
		roleName:   opts.RoleName,
	}
	for _, s := range []cred.Source{m.roleID, m.secretID} {
		if err := s.Check(); err != nil {
			return nil, login.Prefix("approle", m.mount, err)
		}
	}
	if !m.roleID.IsSet() {
		return nil, login.Fail("approle", m.mount, driver.Config, "role_id is required (role_id, role_id_env or role_id_file)")
	}
	if m.removeFile && opts.SecretIDFile == "" {
		return nil, login.Fail("approle", m.mount, driver.Config, "remove_secret_id_file needs secret_id_file")
	}
	if m.wrapped {
		if !m.secretID.IsSet() {
			return nil, login.Fail("approle", m.mount, driver.Config, "wrapped needs a secret_id source holding the wrapping token")
		}
		if m.roleName == "" {
			return nil, login.Fail("approle", m.mount, driver.Config, "wrapped needs role (the role name) to check where the wrapping token was created")
		}
	}
	return m, nil
}

// Describe returns "approle at auth/<mount>".
func (m *Method) Describe() string { return login.Describe("approle", m.mount) }

// Login reads role_id and secret_id from their sources (unwrapping the
// secret_id when Wrapped) and logs in at auth/<mount>/login.
func (m *Method) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	roleID, err := m.roleID.Read()
	if err != nil {
		return nil, login.Prefix("approle", m.mount, err)
	}
	data := map[string]any{"role_id": roleID}
	secrets := []string{roleID}
	lc, err := login.Client(client)
	if err != nil {
		return nil, err
	}
	if m.secretID.IsSet() {
		sid, err := m.secretID.Read()
		if err != nil {
			return nil, login.Prefix("approle", m.mount, err)
		}
		if m.removeFile {
			if err := os.Remove(m.secretID.File); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, login.Fail("approle", m.mount, driver.Config, "cannot remove secret_id_file %s: %v", m.secretID.File, errors.Unwrap(err))
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
	return login.WriteWith(ctx, lc, "approle", m.mount, "login", data, secrets...)
}

// errIntercepted is the message for a wrapping token that cannot be looked up.
const errIntercepted = "the wrapping token was already used or has expired — it may have been intercepted"

// unwrap checks the wrapping token's creation path and returns its secret_id.
func (m *Method) unwrap(ctx context.Context, lc *api.Client, wrapTok string) (string, error) {
	look, err := lc.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": wrapTok})
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == 400 {
			return "", &driver.Error{Code: driver.Unauthenticated, Err: login.NewErr(m.Describe()+": "+errIntercepted, err)}
		}
		return "", login.Error("approle", m.mount, err, wrapTok)
	}
	want := "auth/" + m.mount + "/role/" + m.roleName + "/secret-id"
	var got string
	if look != nil && look.Data != nil {
		got, _ = look.Data["creation_path"].(string)
	}
	if got != want {
		return "", login.Fail("approle", m.mount, driver.Unauthenticated,
			"refusing wrapping token: created at %q, want %q — it may have been substituted", got, want)
	}
	un, err := lc.Logical().UnwrapWithContext(ctx, wrapTok)
	lc.ClearToken()
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == 400 {
			return "", &driver.Error{Code: driver.Unauthenticated, Err: login.NewErr(m.Describe()+": "+errIntercepted, err)}
		}
		return "", login.Error("approle", m.mount, err, wrapTok)
	}
	if un == nil || un.Data == nil {
		return "", login.Fail("approle", m.mount, driver.Unauthenticated, "wrapping token holds no secret_id")
	}
	sid, _ := un.Data["secret_id"].(string)
	if sid == "" {
		return "", login.Fail("approle", m.mount, driver.Unauthenticated, "wrapping token holds no secret_id")
	}
	return sid, nil
}
