package cli

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/spf13/cobra"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
)

// leaseOut is the lease part of creds and lease renew/lookup output.
type leaseOut struct {
	ID        string `json:"lease_id"`
	Duration  int    `json:"lease_duration"` // seconds
	Renewable bool   `json:"lease_renewable"`
}

func (l leaseOut) rows() []row {
	return []row{
		{"lease_id", l.ID},
		{"lease_duration", durText(time.Duration(l.Duration) * time.Second)},
		{"lease_renewable", strconv.FormatBool(l.Renewable)},
	}
}

func credsCmd(g *globals) *cobra.Command {
	var field string
	c := &cobra.Command{
		Use:   "creds PATH",
		Short: "Issue dynamic credentials (database/creds/ROLE, ...)",
		Long: `Read the dynamic secret at PATH — a full Vault path such as
database/creds/app, not relative to the KV mount — and print its fields
(username, password, ...) with the lease: its id, duration and whether it
is renewable. Every call issues new credentials. vaultly does not keep them
alive: they expire with the lease unless renewed with 'vaultly lease renew'
(or revoked early with 'vaultly lease revoke').

With -field NAME only that field's value is printed, as 'vault read -field'
does (raw, no newline unless stdout is a terminal), for use in $(...); a
field the secret lacks exits with code 1. -format=json prints Vault's answer
as 'vault read -format=json' does: the fields under "data" and the lease id
together.`,
		Example: `  vaultly creds database/creds/app
  vaultly creds -format=json database/creds/app
  vaultly creds -field username database/creds/app`,
		Args: exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := vaultly.CleanPath(args[0])
			if err != nil {
				return &usageError{err}
			}
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			s, err := readDynamic(cmd.Context(), b, p)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if field != "" {
				v, ok := s.Data[field]
				if !ok || v == nil {
					// The lease is left to expire; its id is in no output.
					return usagef("field %q not present in the secret at %s (it has %s)", field, p, strings.Join(quoted(sortedKeys(s.Data)), ", "))
				}
				return g.printField(out, v)
			}
			if g.structured() {
				return g.printData(out, s) // as `vault read -format=json`
			}
			l := leaseOut{ID: s.LeaseID, Duration: s.LeaseDuration, Renewable: s.Renewable}
			rows := l.rows()
			for _, k := range sortedKeys(s.Data) {
				rows = append(rows, row{k, text(s.Data[k])})
			}
			return printTable(out, [2]string{"Key", "Value"}, rows)
		},
	}
	c.Flags().StringVar(&field, "field", "", "print only this field's value (default: every field and the lease)")
	return c
}

func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// readDynamic reads the secret at p (a full Vault path). Nothing there, or
// an answer without data (such as Vault's warning for a KV v2 path lacking
// data/), is NotFound.
func readDynamic(ctx context.Context, b *hashivault.Backend, p string) (*api.Secret, error) {
	var s *api.Secret
	err := b.Call(ctx, func(ctx context.Context, c *api.Client) error {
		var err error
		s, err = c.Logical().ReadWithContext(ctx, p)
		return err
	})
	if err == nil && (s == nil || len(s.Data) == 0) {
		err = driver.NewError(driver.NotFound, errors.New("no secret at the path"))
	}
	if err != nil {
		return nil, vaultly.WrapError("creds", p, b.Name(), err)
	}
	return s, nil
}
