package hashivault

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/authconfig"
	"github.com/vaultly/vaultly/auth/token"
	"github.com/vaultly/vaultly/internal/hint"
)

// EnvOptions returns the settings the vault CLI's environment gives. It is
// the one place vaultly reads VAULT_* variables; New calls it for every
// field Options leaves empty. Read variables (same names and meaning as the
// vault CLI; for OpenBao, each BAO_* twin — BAO_ADDR, BAO_TOKEN,
// BAO_NAMESPACE, BAO_CACERT, ... — is read when the VAULT_* one is unset or
// empty, so a set VAULT_* variable always wins):
//
//	VAULT_ADDR             Address
//	VAULTLY_ADDRS          Addresses: vaultly's own, comma-separated (the
//	                       vault CLI has no such variable); when set,
//	                       VAULT_ADDR is not used
//	VAULT_NAMESPACE        Namespace
//	VAULT_CACERT           CACert
//	VAULT_CAPATH           CAPath
//	VAULT_CLIENT_CERT      ClientCert
//	VAULT_CLIENT_KEY       ClientKey
//	VAULT_TLS_SERVER_NAME  TLSServerName
//	VAULT_CLIENT_TIMEOUT   Timeout ("30s", or seconds: "30")
//	VAULT_TOKEN            Token
//	VAULT_ROLE_ID          Auth: AppRole at auth/approle; VAULT_ROLE_ID and
//	VAULT_SECRET_ID        VAULT_SECRET_ID are read again at every login
//	VAULT_SKIP_VERIFY      vaultly always verifies TLS: a true value is a
//	                       Config error for an https:// address (and, in
//	                       EnvOptions, for any address but http://); for
//	                       plain http:// addresses, where there is nothing to
//	                       verify, New logs a warning and goes on
//
// VAULT_TOKEN together with VAULT_ROLE_ID or VAULT_SECRET_ID is a Config
// error. Errors (Op "env") name the variable, never its value.
//
// The vault CLI's token helper (~/.vault-token, written by `vault login`,
// or the token_helper program of ~/.vault) is not an environment setting:
// New reads it last, when no other source gave credentials.
//
// The BAO_* variables are for OpenBao 2.x, whose API paths are Vault's.
func EnvOptions() (*Options, error) {
	o, skip, err := envOptions()
	if err == nil && skip && !strings.HasPrefix(o.Address, "http://") {
		err = skipVerifyError()
	}
	if err != nil {
		return nil, vaultly.WrapError("env", "", backendName, err)
	}
	return o, nil
}

// getenv returns VAULT_<name>, or BAO_<name> when that is unset or empty.
func getenv(name string) string {
	return first(os.Getenv("VAULT_"+name), os.Getenv("BAO_"+name))
}

func skipVerifyError() error {
	return configError("VAULT_SKIP_VERIFY is set: vaultly always verifies TLS; unset it and set VAULT_CACERT or VAULT_CAPATH to trust your server's CA")
}

// envOptions reads the environment; skipVerify reports a true
// VAULT_SKIP_VERIFY, which resolve judges once the addresses are known.
func envOptions() (o *Options, skipVerify bool, err error) {
	o = &Options{
		Address:       getenv("ADDR"),
		Addresses:     splitAddrs(os.Getenv("VAULTLY_ADDRS")),
		Namespace:     getenv("NAMESPACE"),
		CACert:        getenv("CACERT"),
		CAPath:        getenv("CAPATH"),
		ClientCert:    getenv("CLIENT_CERT"),
		ClientKey:     getenv("CLIENT_KEY"),
		TLSServerName: getenv("TLS_SERVER_NAME"),
	}
	if v := getenv("SKIP_VERIFY"); v != "" {
		skip, err := strconv.ParseBool(v)
		if err != nil {
			return nil, false, configError("VAULT_SKIP_VERIFY must be true or false")
		}
		skipVerify = skip
	}
	if v := getenv("CLIENT_TIMEOUT"); v != "" {
		d, err := parseSeconds(v)
		if err != nil {
			return nil, false, configError("VAULT_CLIENT_TIMEOUT must be a duration such as 30s or a number of seconds")
		}
		o.Timeout = d
	}
	m, err := authconfig.FromEnv()
	switch {
	case errors.Is(err, authconfig.ErrNoCredentials):
		o.Token = os.Getenv("BAO_TOKEN")
	case err != nil:
		return nil, false, err
	default:
		if _, isToken := m.(*token.Method); isToken {
			o.Token = os.Getenv("VAULT_TOKEN")
		} else {
			o.Auth = m
		}
	}
	return o, skipVerify, nil
}

// splitAddrs splits a comma-separated list of addresses, dropping empty
// items and spaces.
func splitAddrs(v string) []string {
	var out []string
	for a := range strings.SplitSeq(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, errors.New("negative")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("bad duration")
	}
	return d, nil
}

// settings is the result of resolving Options, the environment and the
// config file.
type settings struct {
	Options
	addrs        []*url.URL  // the nodes, never empty after resolve: Addresses, or the one Address
	initialToken string      // token to try first (config file), may be ""
	method       auth.Method // how to (re)log in; never nil after resolve
	created      bool        // method creates tokens (not a token method)
	source       string      // where the credentials came from, for errors and logs
}

// configError is a bare Config error; New and NewSysClient give it Op
// "connect".
func configError(msg string) error {
	return &vaultly.Error{Code: vaultly.Config, Err: errors.New(msg)}
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// resolve merges explicit options, the environment and the config file, in
// that order, field by field. Credentials come from the first source that has
// any: the options, the environment, the config file, a caller-owned
// client's token, then the vault CLI's token helper (see credentials). The
// config file applies only to the address it was saved for: when the
// address comes from the options or the environment and differs, the file
// is ignored. ConfigFile "-" turns off both saved sources, the config file
// and the token helper.
func resolve(opts *Options) (*settings, error) {
	s := &settings{Options: *opts}
	if opts.Token != "" && opts.Auth != nil {
		return nil, configError("options: Token and Auth are both set: give one")
	}
	switch opts.KVVersion {
	case 0, 1, 2:
	default:
		return nil, configError("options: KVVersion must be 0 (detect), 1 or 2")
	}
	if opts.IdleTimeout < 0 || opts.Timeout < 0 {
		return nil, configError("options: IdleTimeout and Timeout must not be negative")
	}
	if opts.MaxResponseBytes < 0 {
		return nil, configError("options: MaxResponseBytes must not be negative (0: the 32 MiB default)")
	}
	env, skipVerify, err := envOptions()
	if err != nil {
		return nil, vaultly.WrapError("env", "", backendName, err)
	}
	var file *FileConfig
	if opts.ConfigFile != "-" {
		path := opts.ConfigFile
		if path == "" {
			if path, err = DefaultConfigPath(); err != nil {
				path = ""
			}
		}
		if path != "" {
			file, err = ReadConfigFile(path)
			if err != nil {
				if !errors.Is(err, os.ErrNotExist) || opts.ConfigFile != "" {
					return nil, err
				}
				file = nil
			}
		}
	}
	if file == nil {
		file = &FileConfig{}
	}
	// Addresses: explicit (Addresses, else Address), then the environment
	// (VAULTLY_ADDRS, else VAULT_ADDR), then the file.
	addrs := opts.Addresses
	switch {
	case len(addrs) > 0:
		if opts.Address != "" && !slices.ContainsFunc(addrs, func(a string) bool { return sameAddr(a, opts.Address) }) {
			return nil, configError("options: Address is not one of Addresses; list every node in Addresses")
		}
	case opts.Address != "":
		addrs = []string{opts.Address}
	case opts.Client != nil:
	case len(env.Addresses) > 0:
		addrs = env.Addresses
	case env.Address != "":
		addrs = []string{env.Address}
	}
	// The file describes one server: when the addresses come from elsewhere
	// and it is not among them, none of it applies (above all not its token).
	if opts.Client != nil || (len(addrs) > 0 && !slices.ContainsFunc(addrs, func(a string) bool { return sameAddr(a, file.Address) })) {
		file = &FileConfig{}
	}
	if len(addrs) == 0 && file.Address != "" {
		addrs = []string{file.Address}
	}
	if opts.Client != nil && len(opts.Addresses) == 0 {
		// The caller's client says where to go.
		addrs = []string{clientBase(opts.Client).String()}
	}
	if len(addrs) == 0 {
		return nil, &vaultly.Error{Code: vaultly.Config, Err: &hint.Mark{Kind: hint.NoAddress, Err: errors.New("no vault address")},
			Hint: "set Options.Address or VAULT_ADDR, or save it with WriteConfigFile"}
	}
	for _, a := range addrs {
		u, err := parseAddr(a)
		if err != nil {
			return nil, err
		}
		if err := checkSkipVerify(skipVerify, u.Scheme, opts.Logger); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(s.addrs, func(o *url.URL) bool {
			return nodeKey(o) == nodeKey(u) && strings.TrimSuffix(o.Path, "/") == strings.TrimSuffix(u.Path, "/")
		}) {
			s.addrs = append(s.addrs, u)
		}
	}
	if opts.Client == nil {
		s.Address = addrs[0]
		s.Addresses = addrs
		s.CACert = first(opts.CACert, env.CACert, file.CACert)
		s.CAPath = first(opts.CAPath, env.CAPath, file.CAPath)
		s.ClientCert = first(opts.ClientCert, env.ClientCert, file.ClientCert)
		s.ClientKey = first(opts.ClientKey, env.ClientKey, file.ClientKey)
		s.TLSServerName = first(opts.TLSServerName, env.TLSServerName, file.TLSServerName)
		if s.ProxyURL != "" {
			if u, err := url.Parse(s.ProxyURL); err != nil || u.Host == "" {
				return nil, configError("options: ProxyURL must be a url such as http://proxy:3128")
			}
		}
	}
	s.Namespace = first(opts.Namespace, env.Namespace, file.Namespace)
	s.Mount = strings.Trim(first(opts.Mount, file.Mount), "/")
	if s.Mount == "" {
		s.Mount = "secret"
	}
	if err := validateMount(s.Mount); err != nil {
		return nil, err
	}
	if s.DefaultKey == "" {
		s.DefaultKey = "value"
	}
	if s.Timeout == 0 {
		s.Timeout = env.Timeout
	}
	if s.Timeout == 0 {
		s.Timeout = 60 * time.Second
	}

	if err := s.credentials(opts, env, file); err != nil {
		return nil, err
	}
	return s, nil
}

// checkSkipVerify judges a true VAULT_SKIP_VERIFY for an address's scheme:
// refused for https (vaultly always verifies), a warning for plain http,
// where there is no certificate to verify.
func checkSkipVerify(skip bool, scheme string, log *slog.Logger) error {
	if !skip {
		return nil
	}
	if scheme != "http" {
		return skipVerifyError()
	}
	if log == nil {
		log = slog.Default()
	}
	log.Warn("VAULT_SKIP_VERIFY is set and ignored: the address is plain http, so there is no certificate to verify; vaultly always verifies TLS for https")
	return nil
}

// credentials picks the credentials: explicit, then the environment, then
// the config file (only for the address it was saved for), then a
// caller-owned client's token, then the vault CLI's token helper
// (~/.vault-token or the configured program) unless opts.ConfigFile is
// "-". vaultly's own saved login comes before the token helper because it
// is bound to the server it was saved for and can log in again, while the
// helper's token is for whatever server VAULT_ADDR names (the vault CLI
// sends it there too); `vaultly logout` makes the helper's token the one
// used.
func (s *settings) credentials(opts, env *Options, file *FileConfig) error {
	var err error
	sameServer := file.Address != "" && slices.ContainsFunc(s.addrs, func(u *url.URL) bool { return sameAddr(u.String(), file.Address) })
	switch {
	case opts.Token != "" || opts.Auth != nil:
		s.source = "options"
		err = s.setCreds(opts.Token, opts.Auth)
	case env.Token != "" || env.Auth != nil:
		s.source = "environment"
		err = s.setCreds(env.Token, env.Auth)
	case sameServer && (file.Token != "" || file.Auth != nil):
		s.source = "config file"
		s.initialToken = file.Token
		if file.Auth != nil {
			m, err := authconfig.FromParams(file.Auth.Method, file.Auth.Mount, file.Auth.Params)
			if err != nil {
				return err
			}
			s.method = m
			_, isTok := m.(*token.Method)
			s.created = !isTok
		} else {
			err = s.setCreds(file.Token, nil)
		}
	case opts.Client != nil && opts.Client.Token() != "":
		s.source = "client"
		err = s.setCreds(opts.Client.Token(), nil)
	default:
		tok, where := "", ""
		if opts.ConfigFile != "-" {
			if tok, where, err = helperToken(context.Background(), s.addrs[0].String()); err != nil {
				return err
			}
		}
		if tok == "" {
			return &vaultly.Error{Code: vaultly.Config, Err: &hint.Mark{Kind: hint.NoCredentials, Err: errors.New("no vault credentials")},
				Hint: "set Options.Token or Options.Auth, VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID, or log in with `vault login` (~/.vault-token)"}
		}
		s.source = where
		err = s.setCreds(tok, nil)
	}
	return err
}

func sameAddr(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// parseAddr parses one vault address.
func parseAddr(a string) (*url.URL, error) {
	u, err := url.Parse(a)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, configError("vault address must be an http:// or https:// url")
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

func (s *settings) setCreds(tok string, m auth.Method) error {
	if m != nil {
		s.method = m
		_, isTok := m.(*token.Method)
		s.created = !isTok
		return nil
	}
	tm, err := token.New(&token.Options{Token: auth.FromString(tok)})
	if err != nil {
		return err
	}
	s.method, s.created = tm, false
	return nil
}
