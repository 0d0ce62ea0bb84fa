// Package authconfig builds a vaultly auth method from a method name and
// string parameters: the form used by the CLI's `login` flags, the saved
// config file and the VAULT_* environment.
//
// Unknown parameters are Config errors, so a typo never silently drops a
// setting. Every credential parameter has three forms: NAME (the value),
// NAME_env (an environment variable to read at each login) and NAME_file (a
// file to read at each login); give at most one. Boolean parameters take
// "true" or "false".
//
// Parameters by method (mount defaults to the method's usual path):
//
//	token       token | token_env | token_file
//	            (none: VAULT_TOKEN, then ~/.vault-token, as the vault CLI)
//	approle     role_id | role_id_env | role_id_file            (required)
//	            secret_id | secret_id_env | secret_id_file
//	            remove_secret_id_file  delete secret_id_file after reading
//	            wrapped                secret_id is a response-wrapping token
//	            role                   role name (required with wrapped=true)
//	userpass    username, password | password_env | password_file
//	ldap        username, password | password_env | password_file
//	kubernetes  role, jwt_file (default: the service-account token path)
//	jwt         role, jwt | jwt_env | jwt_file
//	cert        cert_file, key_file (client certificate), name (cert role, optional)
//	aws         role, region (default us-east-1), sts_endpoint, server_id_header,
//	            access_key | access_key_env | access_key_file,
//	            secret_key | secret_key_env | secret_key_file,
//	            session_token | session_token_env | session_token_file
//	            (no keys: the standard AWS credential chain)
//
// Functions here are safe for concurrent use.
package authconfig

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/auth/aws"
	"github.com/vaultly/vaultly/auth/cert"
	"github.com/vaultly/vaultly/auth/jwt"
	"github.com/vaultly/vaultly/auth/kubernetes"
	"github.com/vaultly/vaultly/auth/ldap"
	"github.com/vaultly/vaultly/auth/token"
	"github.com/vaultly/vaultly/auth/userpass"
	"github.com/vaultly/vaultly/internal/errs"
)

// builder makes a method from the mount and a parameter reader.
type builder func(mount string, p *params) (auth.Method, error)

var builders = map[string]builder{
	"token":      buildToken,
	"approle":    buildAppRole,
	"userpass":   buildUserpass,
	"ldap":       buildLDAP,
	"kubernetes": buildKubernetes,
	"jwt":        buildJWT,
	"cert":       buildCert,
	"aws":        buildAWS,
}

// Methods returns the method names FromParams accepts, sorted.
func Methods() []string {
	names := make([]string, 0, len(builders))
	for n := range builders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Params returns the parameter names the named method accepts, sorted, for
// building CLI flags or validating a config file. An unknown method is a
// Config error.
func Params(method string) ([]string, error) {
	b, ok := builders[strings.ToLower(method)]
	if !ok {
		return nil, configErr("unknown auth method %q (known: %s)", method, strings.Join(Methods(), ", "))
	}
	p := &params{method: method, mount: method, m: map[string]string{}, used: map[string]bool{}}
	_, _ = b("", p) // reads every parameter before validating; the error is expected
	names := make([]string, 0, len(p.used))
	for k := range p.used {
		names = append(names, k)
	}
	slices.Sort(names)
	return names, nil
}

// FromParams builds the named method mounted at mount ("" for its default)
// from params; see the package doc for each method's parameter names. An
// unknown method or parameter, or a bad value, is a Config error that names
// the parameter and never its value.
func FromParams(method, mount string, values map[string]string) (auth.Method, error) {
	b, ok := builders[strings.ToLower(method)]
	if !ok {
		return nil, configErr("unknown auth method %q (known: %s)", method, strings.Join(Methods(), ", "))
	}
	p := &params{method: method, mount: mount, m: values, used: map[string]bool{}}
	if p.mount == "" {
		p.mount = strings.ToLower(method)
	}
	m, err := b(mount, p)
	if err := p.unused(); err != nil {
		return nil, err
	}
	if p.err != nil {
		return nil, p.err
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ErrNoCredentials is returned by FromEnv when the environment holds no
// Vault credentials; callers fall back to their next configuration source.
var ErrNoCredentials = &errs.Error{Op: "login", Code: errs.Config, Err: errors.New("no vault credentials in the environment: set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID")}

// FromEnv builds a method from the vault CLI's environment:
//
//   - VAULT_ROLE_ID (and optionally VAULT_SECRET_ID): AppRole at auth/approle,
//     both read from the environment again at every login;
//   - VAULT_TOKEN: the token method, reading VAULT_TOKEN at every login.
//
// Both set is a Config error; neither is ErrNoCredentials. VAULT_SECRET_ID
// without VAULT_ROLE_ID is a Config error.
func FromEnv() (auth.Method, error) {
	tok := os.Getenv("VAULT_TOKEN") != ""
	role := os.Getenv("VAULT_ROLE_ID") != ""
	sid := os.Getenv("VAULT_SECRET_ID") != ""
	switch {
	case tok && (role || sid):
		return nil, configErr("VAULT_TOKEN and AppRole (VAULT_ROLE_ID/VAULT_SECRET_ID) are both set: give one")
	case sid && !role:
		return nil, configErr("VAULT_SECRET_ID is set without VAULT_ROLE_ID")
	case role:
		o := &approle.Options{RoleID: auth.FromEnv("VAULT_ROLE_ID")}
		if sid {
			o.SecretID = auth.FromEnv("VAULT_SECRET_ID")
		}
		return approle.New(o)
	case tok:
		return token.New(&token.Options{Token: auth.FromEnv("VAULT_TOKEN")})
	}
	return nil, ErrNoCredentials
}

func buildToken(mount string, p *params) (auth.Method, error) {
	return token.New(&token.Options{Mount: mount, Token: p.cred("token")})
}

func buildAppRole(mount string, p *params) (auth.Method, error) {
	o := &approle.Options{Mount: mount, RoleID: p.cred("role_id"), SecretID: p.cred("secret_id"),
		RemoveSecretIDFile: p.bool("remove_secret_id_file"), Wrapped: p.bool("wrapped"), RoleName: p.str("role")}
	return approle.New(o)
}

func buildUserpass(mount string, p *params) (auth.Method, error) {
	return userpass.New(&userpass.Options{Mount: mount, Username: p.str("username"), Password: p.cred("password")})
}

func buildLDAP(mount string, p *params) (auth.Method, error) {
	return ldap.New(&ldap.Options{Mount: mount, Username: p.str("username"), Password: p.cred("password")})
}

func buildKubernetes(mount string, p *params) (auth.Method, error) {
	return kubernetes.New(&kubernetes.Options{Mount: mount, Role: p.str("role"), JWTFile: p.str("jwt_file")})
}

func buildJWT(mount string, p *params) (auth.Method, error) {
	return jwt.New(&jwt.Options{Mount: mount, Role: p.str("role"), JWT: p.cred("jwt")})
}

func buildCert(mount string, p *params) (auth.Method, error) {
	return cert.New(&cert.Options{Mount: mount, Name: p.str("name"), CertFile: p.str("cert_file"), KeyFile: p.str("key_file")})
}

func buildAWS(mount string, p *params) (auth.Method, error) {
	return aws.New(&aws.Options{Mount: mount, Role: p.str("role"), Region: p.str("region"),
		STSEndpoint: p.str("sts_endpoint"), ServerID: p.str("server_id_header"),
		AccessKeyID: p.cred("access_key"), SecretAccessKey: p.cred("secret_key"), SessionToken: p.cred("session_token")})
}

// params reads parameters, remembers which were used and keeps the first
// bad value's error.
type params struct {
	method, mount string
	m             map[string]string
	used          map[string]bool
	err           error
}

func (p *params) str(name string) string {
	p.used[name] = true
	return p.m[name]
}

// cred returns the credential NAME, NAME_env or NAME_file gives; more than
// one of them is an error.
func (p *params) cred(name string) auth.Credential {
	v, env, file := p.str(name), p.str(name+"_env"), p.str(name+"_file")
	n := 0
	for _, s := range []string{v, env, file} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		p.fail("%s: give only one of %s, %s_env and %s_file", p.method, name, name, name)
	}
	switch {
	case v != "":
		return auth.FromString(v)
	case env != "":
		return auth.FromEnv(env)
	}
	return auth.FromFile(file)
}

func (p *params) fail(format string, args ...any) {
	if p.err == nil {
		p.err = &errs.Error{Op: "login", Ref: "auth/" + strings.Trim(p.mount, "/"), Code: errs.Config, Err: fmt.Errorf(format, args...)}
	}
}

func (p *params) bool(name string) bool {
	switch strings.ToLower(p.str(name)) {
	case "", "false", "0", "no":
		return false
	case "true", "1", "yes":
		return true
	}
	p.fail("%s: parameter %s must be true or false", p.method, name)
	return false
}

func (p *params) unused() error {
	var bad []string
	for k := range p.m {
		if !p.used[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	known := make([]string, 0, len(p.used))
	for k := range p.used {
		known = append(known, k)
	}
	slices.Sort(known)
	p.err = nil
	p.fail("%s: unknown parameter(s) %s (known: %s)", p.method, strings.Join(bad, ", "), strings.Join(known, ", "))
	return p.err
}

func configErr(format string, args ...any) error {
	return &errs.Error{Op: "login", Code: errs.Config, Err: fmt.Errorf(format, args...)}
}
