// Package cred reads a login credential from its source (a literal string,
// an environment variable or a file) at the moment it is needed. Nothing is
// cached: every call reads the source again, so a rotated file or variable
// is picked up by the next login.
package cred

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/vaultly/vaultly/driver"
)

// Source names where one credential comes from. At most one of Value, Env
// and File should be set; Count reports how many are.
type Source struct {
	Name  string // parameter name used in errors, e.g. "secret_id"; never the value
	Value string
	Env   string
	File  string
}

// Count returns how many of Value, Env and File are set.
func (s Source) Count() int {
	n := 0
	for _, v := range []string{s.Value, s.Env, s.File} {
		if v != "" {
			n++
		}
	}
	return n
}

// IsSet reports whether any source is set.
func (s Source) IsSet() bool { return s.Count() > 0 }

// Check returns a Config error when more than one source is set.
func (s Source) Check() error {
	if s.Count() > 1 {
		return &driver.Error{Code: driver.Config, Err: fmt.Errorf("%s: give only one of %s, %s_env and %s_file", s.Name, s.Name, s.Name, s.Name)}
	}
	return nil
}

// Read returns the credential, read now from its source. File contents are
// trimmed of surrounding white space (a trailing newline is usual). An empty
// credential is a Config error naming the source, never the value.
func (s Source) Read() (string, error) {
	var v string
	switch {
	case s.Value != "":
		v = s.Value
	case s.Env != "":
		v = strings.TrimSpace(os.Getenv(s.Env))
		if v == "" {
			return "", configErr("%s: environment variable %s is empty or not set", s.Name, s.Env)
		}
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return "", configErr("%s: file %s does not exist", s.Name, s.File)
			}
			return "", configErr("%s: cannot read file %s: %v", s.Name, s.File, errors.Unwrap(err))
		}
		v = strings.TrimSpace(string(b))
		if v == "" {
			return "", configErr("%s: file %s is empty", s.Name, s.File)
		}
	default:
		return "", configErr("%s is not set", s.Name)
	}
	return v, nil
}

func configErr(format string, args ...any) error {
	return &driver.Error{Code: driver.Config, Err: fmt.Errorf(format, args...)}
}
