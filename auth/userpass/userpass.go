// Package userpass logs in to Vault with the userpass auth method: a username and a
// password, the password an auth.Credential read again at every Login.
//
// A *Method is safe for concurrent use and holds nothing that must be closed.
package userpass

import (
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/internal/login"
)

// Options configures a userpass login.
type Options struct {
	// Mount is where the method is enabled. Default "userpass" (auth/userpass).
	Mount string
	// Username is required.
	Username string
	// Password is required: auth.FromString, auth.FromEnv or auth.FromFile.
	Password auth.Credential
}

// Method logs in with userpass at auth/<mount>/login/<username>. Create it
// with New. It prints as Describe for every verb.
type Method struct{ *login.Password }

var (
	_ auth.Method    = (*Method)(nil)
	_ auth.Describer = (*Method)(nil)
)

// New checks opts and returns the method. A missing username or password
// is a Config error.
func New(opts *Options) (*Method, error) {
	if opts == nil {
		opts = &Options{}
	}
	p, err := login.NewPassword("userpass", opts.Mount, opts.Username, opts.Password)
	if err != nil {
		return nil, err
	}
	return &Method{p}, nil
}
