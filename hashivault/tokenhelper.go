package hashivault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"

	"github.com/vaultly/vaultly"
)

// tokenHelperTimeout bounds an external token helper's "get".
const tokenHelperTimeout = 10 * time.Second

// helperToken returns the token the vault CLI's token helper holds: the one
// `vault login` stored. As the vault CLI does, it reads the CLI config file
// (VAULT_CONFIG_PATH, else ~/.vault; for OpenBao BAO_CONFIG_PATH and
// ~/.bao when those are absent): with a token_helper program set, it runs
// "PROGRAM get" (with VAULT_ADDR set to addr, so a helper that keeps one
// token per server gives the right one); without, it reads ~/.vault-token.
// No token there is "" and no error; where says what was read, for logs
// and errors.
func helperToken(ctx context.Context, addr string) (tok, where string, err error) {
	helper, cfg, err := tokenHelperProgram()
	if err != nil {
		return "", cfg, err
	}
	if helper != "" {
		tok, err := runTokenHelper(ctx, helper, addr)
		return tok, "token helper " + helper, err
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", "", nil // no home: no ~/.vault-token
	}
	path := filepath.Join(home, ".vault-token")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", path, nil
	case err != nil:
		return "", path, configFileError("token-helper", path, vaultly.Config, "token file: "+rootMsg(err), err)
	}
	return strings.TrimSpace(string(b)), path, nil
}

// tokenHelperProgram reads the vault CLI config file and returns its
// token_helper (made absolute, as the vault CLI does), or "" when there is
// none; cfg is the file read.
func tokenHelperProgram() (helper, cfg string, err error) {
	cfg = first(os.Getenv("VAULT_CONFIG_PATH"), os.Getenv("BAO_CONFIG_PATH"))
	if cfg == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "", nil
		}
		cfg = filepath.Join(home, ".vault")
		if _, err := os.Stat(cfg); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(filepath.Join(home, ".bao")); err == nil {
				cfg = filepath.Join(home, ".bao")
			}
		}
	}
	b, err := os.ReadFile(cfg)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", cfg, nil
	case err != nil:
		return "", cfg, configFileError("token-helper", cfg, vaultly.Config, "vault cli config: "+rootMsg(err), err)
	}
	helper, err = parseCLIConfig(b)
	if err != nil {
		return "", cfg, configFileError("token-helper", cfg, vaultly.Config, "vault cli config: "+err.Error(), nil)
	}
	if helper != "" && !filepath.IsAbs(helper) {
		if helper, err = filepath.Abs(helper); err != nil {
			return "", cfg, configFileError("token-helper", cfg, vaultly.Config, "vault cli config: token_helper: "+rootMsg(err), err)
		}
	}
	return helper, cfg, nil
}

// parseCLIConfig returns the token_helper of a vault CLI config file (HCL
// or JSON). As in the vault CLI, any other key is an error.
func parseCLIConfig(b []byte) (string, error) {
	root, err := hcl.ParseBytes(b)
	if err != nil {
		return "", errors.New("not valid hcl")
	}
	list, ok := root.Node.(*ast.ObjectList)
	if !ok {
		return "", errors.New("no top-level object")
	}
	for _, item := range list.Items {
		if k := item.Keys[0].Token.Value(); k != "token_helper" {
			return "", fmt.Errorf("invalid key %q on line %d", k, item.Assign.Line)
		}
	}
	var c struct {
		TokenHelper string `hcl:"token_helper"`
	}
	if err := hcl.DecodeObject(&c, list); err != nil {
		return "", errors.New("token_helper must be a string")
	}
	return c.TokenHelper, nil
}

// runTokenHelper runs "helper get" and returns what it prints, trimmed.
// Its stderr is not kept: errors say only how it failed.
func runTokenHelper(ctx context.Context, helper, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, tokenHelperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, helper, "get")
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+addr)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		why := "failed"
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			why = "did not answer within " + tokenHelperTimeout.String()
		case errors.As(err, &ee):
			why = "failed: " + ee.ProcessState.String()
		case errors.Is(err, os.ErrNotExist):
			why = "does not exist"
		}
		return "", configFileError("token-helper", helper, vaultly.Config, "token helper "+why, nil)
	}
	return strings.TrimSpace(out.String()), nil
}
