package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/spf13/cobra"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
)

func leaseCmd(g *globals) *cobra.Command {
	return group("lease", "Renew, revoke or look up the lease of a dynamic secret",
		`  vaultly lease lookup database/creds/app/AbC123
  vaultly lease renew -increment 1h database/creds/app/AbC123
  vaultly lease revoke database/creds/app/AbC123
  vaultly lease revoke -prefix database/creds/app`,
		leaseRenewCmd(g), leaseRevokeCmd(g), leaseLookupCmd(g))
}

func leaseRenewCmd(g *globals) *cobra.Command {
	var increment time.Duration
	c := &cobra.Command{
		Use:   "renew LEASE_ID",
		Short: "Extend a lease",
		Long: `Ask Vault to extend the lease LEASE_ID by -increment (default: the lease's
own duration) and print the lease as renewed. Vault may grant less than
asked — a lease never outlives its role's max TTL — and then its warning is
shown on stderr. An unknown or expired lease exits with code 3.`,
		Example: `  vaultly lease renew database/creds/app/AbC123
  vaultly lease renew -increment 1h database/creds/app/AbC123`,
		Args: exactArgs("LEASE_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if increment < 0 {
				return usagef("-increment must not be negative")
			}
			if increment%time.Second != 0 {
				return usagef("-increment must be whole seconds")
			}
			id, err := leaseID(args[0])
			if err != nil {
				return err
			}
			return g.withLease(cmd, "lease renew", id, func(ctx context.Context, b *hashivault.Backend) error {
				var s *api.Secret
				err := b.Call(ctx, func(ctx context.Context, c *api.Client) error {
					var err error
					s, err = c.Sys().RenewWithContext(ctx, id, int(increment/time.Second))
					return err
				})
				if err == nil && s == nil {
					err = driver.NewError(driver.Unknown, errors.New("empty response to a lease renewal"))
				}
				if err != nil {
					return err
				}
				// Vault warns when it granted less than asked (max TTL).
				for _, w := range s.Warnings {
					fmt.Fprintln(g.io.Err, "Warning: "+strings.Join(strings.Fields(w), " "))
				}
				if g.structured() {
					return g.printData(cmd.OutOrStdout(), s) // as `vault lease renew -format=json`
				}
				l := leaseOut{ID: s.LeaseID, Duration: s.LeaseDuration, Renewable: s.Renewable}
				return printTable(cmd.OutOrStdout(), [2]string{"Key", "Value"}, l.rows())
			})
		},
	}
	c.Flags().DurationVar(&increment, "increment", 0, "extension to ask for, e.g. 1h (default: the lease's own duration)")
	return c
}

func leaseRevokeCmd(g *globals) *cobra.Command {
	var prefix bool
	c := &cobra.Command{
		Use:   "revoke LEASE_ID",
		Short: "Revoke a lease (or every lease under a prefix) now",
		Long: `Revoke the lease LEASE_ID at once: the credentials it holds stop working
(for a database secret, the user is dropped). With -prefix, LEASE_ID is a
prefix such as database/creds/app and every lease under it is revoked; that
needs sudo on sys/leases/revoke-prefix. Vault treats revoking a lease that
does not exist (any more) as done, so that is not an error.`,
		Example: `  vaultly lease revoke database/creds/app/AbC123
  vaultly lease revoke -prefix database/creds/app`,
		Args: exactArgs("LEASE_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := leaseID(args[0])
			if err != nil {
				return err
			}
			op := "lease revoke"
			if prefix {
				op = "lease revoke-prefix"
			}
			return g.withLease(cmd, op, id, func(ctx context.Context, b *hashivault.Backend) error {
				err := b.Call(ctx, func(ctx context.Context, c *api.Client) error {
					if prefix {
						return c.Sys().RevokePrefixWithContext(ctx, id)
					}
					return c.Sys().RevokeWithContext(ctx, id)
				})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if g.structured() {
					return g.printData(out, map[string]any{"lease_id": id, "prefix": prefix, "revoked": true})
				}
				if prefix {
					_, err = fmt.Fprintf(out, "Revoked every lease under %s\n", id)
					return err
				}
				_, err = fmt.Fprintf(out, "Revoked %s\n", id)
				return err
			})
		},
	}
	c.Flags().BoolVar(&prefix, "prefix", false, "revoke every lease whose id starts with LEASE_ID")
	return c
}

func leaseLookupCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "lookup LEASE_ID",
		Short: "Show a lease's issue and expiry times and TTL",
		Long: `Show the lease LEASE_ID: when it was issued, last renewed and expires, its
remaining TTL and whether it is renewable. An unknown or expired lease exits
with code 3.`,
		Example: `  vaultly lease lookup database/creds/app/AbC123
  vaultly lease lookup -format=json database/creds/app/AbC123`,
		Args: exactArgs("LEASE_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := leaseID(args[0])
			if err != nil {
				return err
			}
			return g.withLease(cmd, "lease lookup", id, func(ctx context.Context, b *hashivault.Backend) error {
				var s *api.Secret
				err := b.Call(ctx, func(ctx context.Context, c *api.Client) error {
					var err error
					s, err = c.Sys().LookupWithContext(ctx, id)
					return err
				})
				if err == nil && (s == nil || s.Data == nil) {
					err = driver.NewError(driver.NotFound, errors.New("no such lease"))
				}
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if g.structured() {
					return g.printData(out, s) // as `vault lease lookup -format=json`
				}
				var rows []row
				for _, k := range sortedKeys(s.Data) {
					v := text(s.Data[k])
					if k == "ttl" {
						if n, err := strconv.Atoi(v); err == nil {
							v = durText(time.Duration(n) * time.Second)
						}
					}
					if s.Data[k] == nil {
						v = "n/a"
					}
					rows = append(rows, row{k, v})
				}
				return printTable(out, [2]string{"Key", "Value"}, rows)
			})
		},
	}
}

// leaseID checks a LEASE_ID argument (or a -prefix): a Vault path, so the
// same rules as any path, before any request. A trailing '/' is dropped.
func leaseID(arg string) (string, error) {
	id, err := vaultly.CleanPath(strings.TrimSuffix(arg, "/"))
	if err != nil {
		return "", &usageError{err}
	}
	return id, nil
}

// withLease connects, runs fn and wraps its error once as op on lease id,
// with Vault's answers for an unknown lease mapped to NotFound.
func (g *globals) withLease(cmd *cobra.Command, op, id string, fn func(ctx context.Context, b *hashivault.Backend) error) error {
	b, err := g.backend(cmd.Context())
	if err != nil {
		return err
	}
	defer b.Close()
	if err := fn(cmd.Context(), b); err != nil {
		return leaseError(op, id, b.Name(), err)
	}
	return nil
}

// leaseError wraps err as a *vaultly.Error. Vault answers an unknown,
// revoked or expired lease id with a 400 ("invalid lease", "lease not
// found", "lease expired"); that is NotFound here, so scripts see exit 3.
func leaseError(op, id, backend string, err error) error {
	out := vaultly.WrapError(op, id, backend, err)
	e, ok := out.(*vaultly.Error)
	if !ok {
		return out
	}
	re, ok := errors.AsType[*api.ResponseError](err)
	if !ok || re.StatusCode != http.StatusBadRequest {
		return out
	}
	msg := strings.ToLower(strings.Join(re.Errors, "; "))
	for _, s := range []string{"invalid lease", "lease not found", "lease expired", "lease is not renewable"} {
		if strings.Contains(msg, s) {
			c := *e
			if s == "lease is not renewable" {
				c.Code, c.Hint = vaultly.InvalidArgument, "the lease cannot be extended; issue new credentials"
			} else {
				c.Code, c.Hint = vaultly.NotFound, "no live lease with this id"
			}
			return &c
		}
	}
	return out
}
