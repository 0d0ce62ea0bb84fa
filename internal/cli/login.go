package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"
	"github.com/spf13/cobra"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth/authconfig"
	"github.com/vaultly/vaultly/hashivault"
)

// secretParams are login parameters whose value is a credential.
var secretParams = []string{"token", "password", "secret_id", "jwt", "access_key", "secret_key", "session_token"}

func loginCmd(g *globals) *cobra.Command {
	var method, path string
	c := &cobra.Command{
		Use:   "login -method METHOD [PARAM=VALUE...]",
		Short: "Log in and save the address and credentials for later commands",
		Long: `Log in with an auth method, check the token, and save the address, the token
and what is needed to log in again to $XDG_CONFIG_HOME/vaultly/config.json
(~/.config/vaultly/config.json), mode 0600, written atomically. Later
commands (and programs using vaultly's Vault backend) read it after the flags
and the VAULT_* environment.

Methods and parameters (see package auth/authconfig): approle (role_id,
secret_id), userpass and ldap (username, password), jwt (role, jwt),
kubernetes (role, jwt_file), cert (cert_file, key_file, name), aws (role,
region, ...), token (token). Every credential parameter NAME also has the
forms NAME_file=PATH and NAME_env=VARIABLE, read again at each login: prefer
them to NAME=VALUE, which other users can see in the process list and which
is saved in the file. Without a password (userpass, ldap) or token (token,
when VAULT_TOKEN is unset), vaultly asks for it without echo; a credential
typed at the prompt is used once and not saved, only the token it gives.`,
		Example: `  vaultly login -method userpass username=alice
  vaultly login -method approle role_id_file=/etc/app/role-id secret_id_file=/etc/app/secret-id
  vaultly login -address https://vault.example.com:8200 -method token token_file=/run/token`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			method = strings.ToLower(method)
			params := map[string]string{}
			for i, a := range args {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					// Name the position, not the text: it may be a credential.
					return usagef("login parameter %d: want NAME=VALUE", i+1)
				}
				if _, dup := params[k]; dup {
					return usagef("login parameter %q given twice", k)
				}
				params[k] = v
				if slices.Contains(secretParams, k) {
					fmt.Fprintf(g.io.Err, "Warning: %s given on the command line can be seen by other users and is saved in the config file; prefer %s_file= or %s_env=, or the prompt.\n", k, k, k)
				}
			}
			env, err := hashivault.EnvOptions()
			if err != nil {
				return vaultly.WrapError("login", "", "vault", err)
			}
			prompted := map[string]string{}
			if name := promptParam(method, params, env.Token != ""); name != "" {
				// Check the other parameters before asking.
				check := maps.Clone(params)
				check[name] = "x"
				if _, err := authconfig.FromParams(method, path, check); err != nil {
					return &usageError{vaultly.WrapError("login", "", "vault", err)}
				}
				v, err := g.prompt(name+" (or give "+name+"_file= or "+name+"_env=)", "")
				if err != nil {
					return err
				}
				prompted[name] = v
			}
			all := maps.Clone(params)
			maps.Copy(all, prompted)
			m, err := authconfig.FromParams(method, path, all)
			if err != nil {
				return &usageError{vaultly.WrapError("login", "", "vault", err)}
			}
			opts := g.options()
			opts.Auth = m
			opts.ConfigFile = "-" // log in with exactly what was given
			b, err := hashivault.New(ctx, opts)
			if err != nil {
				return vaultly.WrapError("login", "", "vault", err)
			}
			defer b.Close()
			info, err := b.LookupSelf(ctx)
			if err != nil {
				return err
			}
			var addr, tok string
			if err := b.Call(ctx, func(_ context.Context, c *api.Client) error {
				addr, tok = c.Address(), c.Token()
				return nil
			}); err != nil {
				return vaultly.WrapError("login", "", "vault", err)
			}
			fc := &hashivault.FileConfig{
				Address:   addr,
				Namespace: b.Namespace(),
				CACert:    first(g.caCert, env.CACert),
				CAPath:    first(g.caPath, env.CAPath),
				Mount:     g.mount,
				Token:     tok,
			}
			if len(prompted) == 0 && !(method == "token" && params["token"] != "") {
				fc.Auth = &hashivault.FileAuth{Method: method, Mount: path, Params: params}
			}
			if method == "token" && len(params) == 0 {
				fc.Auth = nil // the token came from VAULT_TOKEN or the prompt: save the token only
			}
			file, err := hashivault.DefaultConfigPath()
			if err != nil {
				return vaultly.WrapError("login", "", "vault", err)
			}
			if err := hashivault.WriteConfigFile(file, fc); err != nil {
				return vaultly.WrapError("login", "", "vault", err)
			}
			if g.structured() {
				return g.printData(cmd.OutOrStdout(), map[string]any{
					"address": addr, "method": method, "display_name": info.DisplayName,
					"policies": info.Policies, "ttl": info.TTL.String(), "config_file": file,
				})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s (policies: %s; ttl %s).\nSaved to %s (mode 0600).\n",
				addr, info.DisplayName, strings.Join(info.Policies, ", "), durText(info.TTL), file)
			return nil
		},
	}
	c.Flags().StringVar(&method, "method", "token", "auth method: approle, userpass, ldap, jwt, kubernetes, cert, aws or token")
	c.Flags().StringVar(&path, "path", "", "mount path of the auth method (default: the method's name)")
	return c
}

// promptParam returns the credential to ask for when none was given.
func promptParam(method string, params map[string]string, envToken bool) string {
	has := func(n string) bool {
		return params[n] != "" || params[n+"_file"] != "" || params[n+"_env"] != ""
	}
	switch method {
	case "userpass", "ldap":
		if !has("password") {
			return "password"
		}
	case "token":
		if !has("token") && !envToken {
			return "token"
		}
	}
	return ""
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func logoutCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		Short:   "Remove the saved login",
		Long:    "Remove the config file 'vaultly login' wrote. The token itself is not revoked.",
		Example: "  vaultly logout",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			file, err := hashivault.DefaultConfigPath()
			if err != nil {
				return vaultly.WrapError("logout", "", "vault", err)
			}
			err = os.Remove(file)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				fmt.Fprintf(cmd.OutOrStdout(), "Not logged in (no %s).\n", file)
				return nil
			case err != nil:
				return fmt.Errorf("logout: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed %s.\n", file)
			return nil
		},
	}
}
