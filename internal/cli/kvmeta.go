package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/spf13/cobra"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
)

func metadataCmd(g *globals) *cobra.Command {
	c := group("metadata", "Read, change or delete an entry's metadata (KV v2)",
		`  vaultly metadata get secret/myapp/db
  vaultly metadata put -max-versions=5 secret/myapp/db
  vaultly metadata patch -custom-metadata=owner=team-b secret/myapp/db
  vaultly metadata delete secret/myapp/old`,
		metadataGetCmd(g), metadataWriteCmd(g, false), metadataWriteCmd(g, true), metadataDeleteCmd(g))
	c.Aliases = []string{"meta"}
	return c
}

func metadataGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get PATH",
		Short: "Show an entry's metadata and versions",
		Long: `Show the metadata of the entry at PATH (current and oldest version, limits,
custom metadata) and of each version, as 'vault kv metadata get' does
(-format=json prints the same document).

` + pathHelp,
		Example: "  vaultly metadata get secret/myapp/db\n  vaultly metadata get -format=json -mount=secret myapp/db",
		Args:    exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := cleanArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return g.withKV(ctx, p, func(_ *kvConn, t kvTarget, b *hashivault.Backend) error {
				apiPath, err := metadataPath(ctx, b, t)
				if err != nil {
					return err
				}
				var sec *api.Secret
				err = b.Call(ctx, func(ctx context.Context, c *api.Client) error {
					var err error
					sec, err = c.Logical().ReadWithContext(ctx, apiPath)
					return err
				})
				if err != nil {
					return vaultly.WrapError("metadata get", t.String(), b.Name(), err)
				}
				if sec == nil || sec.Data == nil {
					if _, err := b.ReadMetadata(ctx, t.path); err != nil {
						return err
					}
					return vaultly.WrapError("metadata get", t.String(), b.Name(), driver.NewError(driver.NotFound, errors.New("no entry")))
				}
				out := cmd.OutOrStdout()
				if g.structured() {
					return g.printData(out, sec)
				}
				return printMetadataTable(out, apiPath, sec.Data)
			})
		},
	}
}

// printMetadataTable prints metadata the way `vault kv metadata get` does.
func printMetadataTable(w io.Writer, apiPath string, d map[string]any) error {
	fmt.Fprintln(w, padEqualSigns("Metadata Path", len(apiPath)))
	fmt.Fprintln(w, apiPath)
	fmt.Fprintln(w)
	versions, _ := d["versions"].(map[string]any)
	top := make(map[string]any, len(d))
	for k, v := range d {
		if k != "versions" {
			top[k] = v
		}
	}
	fmt.Fprintln(w, headerForMap("Metadata", top))
	if err := printMap(w, top); err != nil {
		return err
	}
	keys := sortedKeys(versions)
	slices.SortFunc(keys, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	for _, k := range keys {
		v, _ := versions[k].(map[string]any)
		fmt.Fprintln(w)
		fmt.Fprintln(w, headerForMap("Version "+k, v))
		if err := printMap(w, v); err != nil {
			return err
		}
	}
	return nil
}

// metadataFlags are the flags of metadata put and patch.
type metadataFlags struct {
	maxVersions int
	casRequired bool
	deleteAfter time.Duration
	custom      []string
}

func (f *metadataFlags) add(c *cobra.Command) {
	c.Flags().IntVar(&f.maxVersions, "max-versions", 0, "versions to keep (0: the engine's setting)")
	c.Flags().BoolVar(&f.casRequired, "cas-required", false, "require check-and-set on every write")
	c.Flags().DurationVar(&f.deleteAfter, "delete-version-after", 0, "soft-delete versions after this long (0: never)")
	c.Flags().StringArrayVar(&f.custom, "custom-metadata", nil, "KEY=VALUE custom metadata (repeatable)")
}

// body returns the metadata fields the flags set, as Vault takes them.
// With merge (patch), an empty VALUE removes KEY from the custom metadata.
func (f *metadataFlags) body(c *cobra.Command, merge bool) (map[string]any, error) {
	fl := c.Flags()
	body := map[string]any{}
	if fl.Changed("max-versions") {
		if f.maxVersions < 0 {
			return nil, usagef("-max-versions must not be negative")
		}
		body["max_versions"] = f.maxVersions
	}
	if fl.Changed("cas-required") {
		body["cas_required"] = f.casRequired
	}
	if fl.Changed("delete-version-after") {
		if f.deleteAfter < 0 {
			return nil, usagef("-delete-version-after must not be negative")
		}
		body["delete_version_after"] = f.deleteAfter.String()
	}
	if fl.Changed("custom-metadata") {
		m := map[string]any{}
		for _, kv := range f.custom {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, usagef("-custom-metadata wants KEY=VALUE, got %q", kv)
			}
			if merge && v == "" {
				m[k] = nil
				continue
			}
			m[k] = v
		}
		body["custom_metadata"] = m
	}
	if len(body) == 0 {
		return nil, usagef("nothing to change: give -max-versions, -cas-required, -delete-version-after or -custom-metadata")
	}
	return body, nil
}

func metadataWriteCmd(g *globals, patch bool) *cobra.Command {
	var f metadataFlags
	use, short, long, example := "put PATH [flags]", "Change an entry's metadata",
		`Change the metadata fields given as flags; the others stay as they are.
-custom-metadata replaces the whole custom metadata map (repeat it for
several keys). Creates the metadata of an entry that does not exist yet.`,
		`  vaultly metadata put -max-versions=5 -delete-version-after=720h secret/myapp/db
  vaultly metadata put -custom-metadata=owner=team-a -custom-metadata=tier=1 secret/myapp/db`
	if patch {
		use, short, long, example = "patch PATH [flags]", "Change some of an entry's metadata, merging custom metadata",
			`Change the metadata fields given as flags, as put does, but merge
-custom-metadata into the existing map (KEY= with no value removes KEY).
Uses Vault's PATCH, which needs the "patch" capability on the metadata path.`,
			`  vaultly metadata patch -custom-metadata=owner=team-b secret/myapp/db
  vaultly metadata patch -custom-metadata=tier= secret/myapp/db   # removes tier`
	}
	c := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long + "\n\n" + pathHelp,
		Example: example,
		Args:    exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := cleanArg(args[0])
			if err != nil {
				return err
			}
			body, err := f.body(cmd, patch)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return g.withKV(ctx, p, func(_ *kvConn, t kvTarget, b *hashivault.Backend) error {
				apiPath, err := metadataPath(ctx, b, t)
				if err != nil {
					return err
				}
				if patch {
					err = b.Call(ctx, func(ctx context.Context, c *api.Client) error {
						_, err := c.Logical().JSONMergePatch(ctx, apiPath, body)
						return err
					})
					if err != nil {
						return vaultly.WrapError("metadata patch", t.String(), b.Name(), err)
					}
				} else if err := b.WriteMetadata(ctx, t.path, metadataUpdate(body)); err != nil {
					return err
				}
				return g.success(cmd.OutOrStdout(), "Data written to", apiPath)
			})
		},
	}
	f.add(c)
	return c
}

// metadataUpdate is body (from metadataFlags.body without merge) as the
// Backend takes it.
func metadataUpdate(body map[string]any) *hashivault.MetadataUpdate {
	var u hashivault.MetadataUpdate
	if v, ok := body["max_versions"].(int); ok {
		u.MaxVersions = &v
	}
	if v, ok := body["cas_required"].(bool); ok {
		u.CASRequired = &v
	}
	if v, ok := body["delete_version_after"].(string); ok {
		d, _ := time.ParseDuration(v)
		u.DeleteVersionAfter = &d
	}
	if m, ok := body["custom_metadata"].(map[string]any); ok {
		u.CustomMetadata = make(map[string]string, len(m))
		for k, v := range m {
			u.CustomMetadata[k], _ = v.(string)
		}
	}
	return &u
}

func metadataDeleteCmd(g *globals) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "delete PATH",
		Short: "Delete an entry with all its versions and metadata (permanent)",
		Long: `Delete the entry at PATH for good: every version and the metadata (on KV v1,
the entry). Nothing can be undeleted afterwards; 'vaultly delete' is the
soft delete that can be undone. Unlike 'vault kv metadata delete', it asks
for confirmation on the terminal unless -yes is given, and refuses without
a terminal.

` + pathHelp,
		Example: `  vaultly metadata delete secret/myapp/old
  vaultly metadata delete -yes secret/myapp/old`,
		Args: exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := cleanArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return g.withKV(ctx, p, func(_ *kvConn, t kvTarget, b *hashivault.Backend) error {
				if !yes {
					if err := g.confirm(fmt.Sprintf("Delete %s with all its versions and metadata? This cannot be undone.", t)); err != nil {
						return err
					}
				}
				apiPath, _, err := b.KVPath(ctx, "metadata", t.path)
				if err != nil {
					return err
				}
				if err := b.Delete(ctx, t.path); err != nil {
					return err
				}
				return g.success(cmd.OutOrStdout(), "Data deleted (if it existed) at", apiPath)
			})
		},
	}
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return c
}

// metadataPath is the API path of t's metadata; on a kv v1 mount, which
// has none, a usage error.
func metadataPath(ctx context.Context, b *hashivault.Backend, t kvTarget) (string, error) {
	apiPath, kvv, err := b.KVPath(ctx, "metadata", t.path)
	if err != nil {
		return "", err
	}
	if kvv == 1 {
		return "", usagef("metadata needs a kv v2 mount; %s is kv v1", t.mount)
	}
	return apiPath, nil
}
