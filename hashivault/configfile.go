package hashivault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/atomicfile"
)

// FileConfig is the file `vaultly login` writes and New reads as the third
// source of settings, after explicit Options and the VAULT_* environment.
// It holds a token, so it is written with mode 0600 and refused when group
// or others can access it.
type FileConfig struct {
	Address       string `json:"address"`
	Namespace     string `json:"namespace,omitempty"`
	CACert        string `json:"ca_cert,omitempty"`
	CAPath        string `json:"ca_path,omitempty"`
	ClientCert    string `json:"client_cert,omitempty"`
	ClientKey     string `json:"client_key,omitempty"`
	TLSServerName string `json:"tls_server_name,omitempty"`
	Mount         string `json:"mount,omitempty"`
	// Token is the token from the last login, used while it is valid.
	Token string `json:"token,omitempty"`
	// Auth says how to log in again when Token is missing or expired.
	Auth *FileAuth `json:"auth,omitempty"`
}

// FileAuth names an auth method and its parameters, in the form
// authconfig.FromParams takes. Credentials should be given as NAME_env or
// NAME_file parameters rather than values.
type FileAuth struct {
	Method string            `json:"method"`
	Mount  string            `json:"mount,omitempty"`
	Params map[string]string `json:"params,omitempty"`
}

// String returns a description of c without its token.
func (c *FileConfig) String() string {
	if c == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("address=%s namespace=%s mount=%s", c.Address, c.Namespace, c.Mount)
	if c.Token != "" {
		s += " token=[redacted]"
	}
	if c.Auth != nil {
		s += " auth=" + c.Auth.Method
	}
	return s
}

// GoString is String, so %#v does not print the token either.
func (c *FileConfig) GoString() string { return c.String() }

// DefaultConfigPath returns $XDG_CONFIG_HOME/vaultly/config.json, or
// ~/.config/vaultly/config.json when XDG_CONFIG_HOME is not set.
func DefaultConfigPath() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "vaultly", "config.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", &vaultly.Error{Op: "config-path", Backend: backendName, Code: vaultly.Config,
			Err: &vaultError{msg: "no config file location: set XDG_CONFIG_HOME or HOME", cause: err}}
	}
	return filepath.Join(home, ".config", "vaultly", "config.json"), nil
}

// configFileError is a Config error about the config file at path.
func configFileError(op, path string, code vaultly.Code, msg string, cause error) error {
	return &vaultly.Error{Op: op, Ref: path, Backend: backendName, Code: code, Err: &vaultError{msg: msg, cause: cause}}
}

// ReadConfigFile reads the config file at path. Every error is a Config
// error with Op "read-config" and the file as Ref; a missing file also
// satisfies errors.Is(err, fs.ErrNotExist). A file that group or others
// can access, that another user owns (as ssh refuses its config files),
// that is not a regular file or larger than 1 MiB, or that is not valid
// JSON, is refused.
func ReadConfigFile(path string) (*FileConfig, error) {
	const op = "read-config"
	if err := atomicfile.CheckPrivate(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, configFileError(op, path, vaultly.Config, "config file does not exist", err)
		}
		return nil, configFileError(op, path, vaultly.Config, "config file: "+rootMsg(err), err)
	}
	b, err := readOwnFile(path)
	if err != nil {
		return nil, configFileError(op, path, vaultly.Config, "config file "+rootMsg(err), err)
	}
	var c FileConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		// json errors may quote input (a token): name only the file, and
		// keep no cause.
		return nil, configFileError(op, path, vaultly.Config, "config file is not valid: invalid json", nil)
	}
	return &c, nil
}

// maxConfigFile bounds what ReadConfigFile reads: a config file is a few
// hundred bytes.
const maxConfigFile = 1 << 20

// readOwnFile reads the regular file at path after checkConfigOwner. It
// opens without blocking (a FIFO planted at path would block a plain open
// forever) and checks the opened file, not the path, so a file swapped in
// after the check is not the one read. Its errors read after "config file ".
func readOwnFile(path string) ([]byte, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("is not a regular file (%s)", st.Mode().Type())
	}
	if err := checkConfigOwner(st); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxConfigFile {
		return nil, fmt.Errorf("is larger than %d bytes", maxConfigFile)
	}
	return b, nil
}

// checkConfigOwner refuses a config file that is not owned by the current
// user, as ssh refuses ~/.ssh/config: a file planted by another user (in a
// directory they can write to) would otherwise send this process, and its
// login, to a server and token of their choosing. The error names the
// owner and the current user; the caller names the file. Where the system
// has no file owners (Windows) it accepts the file.
func checkConfigOwner(st os.FileInfo) error {
	uid, ok := fileOwner(st)
	if !ok || uid == os.Getuid() {
		return nil
	}
	return fmt.Errorf("is owned by uid %d%s, not by the current user, uid %d%s: refused, as ssh refuses such files; chown it to yourself or remove it",
		uid, userName(uid), os.Getuid(), userName(os.Getuid()))
}

// userName returns " (name)" for uid, or "" when it has no name.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return " (" + u.Username + ")"
	}
	return ""
}

// WriteConfigFile writes c to path atomically with mode 0600, creating the
// directory (0700) if needed. Errors have Op "write-config" and the file as
// Ref.
func WriteConfigFile(path string, c *FileConfig) error {
	const op = "write-config"
	if c == nil {
		return configFileError(op, path, vaultly.InvalidArgument, "nil config", nil)
	}
	b, err := json.MarshalIndent(c.file(), "", "  ") // the real values; FileConfig's MarshalJSON redacts
	if err != nil {
		return configFileError(op, path, vaultly.InvalidArgument, "cannot encode the config", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return configFileError(op, path, vaultly.Config, "config file: "+rootMsg(err), err)
	}
	return nil
}
