package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

func getCmd(g *globals) *cobra.Command {
	var version int
	c := &cobra.Command{
		Use:   "get PATH[:KEY]",
		Short: "Read an entry, or one field of it",
		Long: `Read the entry at PATH (relative to the KV mount) and print its fields and
metadata, or with :KEY print only that field's value, alone on its line, for
use in $(...). PATH may also be a reference: vault://PATH[:KEY][?version=N].
A missing entry, field or version exits with code 3.`,
		Example: `  vaultly get myapp/db
  vaultly get myapp/db:password
  vaultly get -version 2 -format=json myapp/db
  export DB_PASSWORD="$(vaultly get myapp/db:password)"`,
		Args: exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := vaultly.ParseRef(args[0])
			if err != nil {
				return &usageError{err}
			}
			if cmd.Flags().Changed("version") {
				if version < 0 {
					return usagef("-version must not be negative")
				}
				ref.Version = version
			}
			out := cmd.OutOrStdout()
			if ref.Key != "" {
				// A value: read through a Store, as a program reads it.
				s, err := g.store(cmd.Context())
				if err != nil {
					return err
				}
				defer s.Close()
				v, err := s.GetRef(cmd.Context(), ref, nil)
				if err != nil {
					return err
				}
				if g.format == "json" {
					return printJSON(out, v)
				}
				_, err = fmt.Fprintln(out, v)
				return err
			}
			// The whole entry with its metadata and JSON types: the KV view.
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			e, err := b.GetEntry(cmd.Context(), ref.Path, ref.Version)
			if err != nil {
				return err
			}
			if g.format == "json" {
				return printJSON(out, e)
			}
			if e.Version.Version != 0 {
				section(out, "Metadata")
				rows := []row{
					{"created_time", timeText(e.Version.CreatedTime)},
					{"custom_metadata", customText(e.CustomMetadata)},
					{"deletion_time", timeText(e.Version.DeletionTime)},
					{"destroyed", strconv.FormatBool(e.Version.Destroyed)},
					{"version", strconv.Itoa(e.Version.Version)},
				}
				if err := printTable(out, [2]string{"Key", "Value"}, rows); err != nil {
					return err
				}
				fmt.Fprintln(out)
				section(out, "Data")
			}
			var rows []row
			for _, k := range sortedKeys(e.Data) {
				rows = append(rows, row{k, text(e.Data[k])})
			}
			return printTable(out, [2]string{"Key", "Value"}, rows)
		},
	}
	c.Flags().IntVar(&version, "version", 0, "version to read (default: the latest)")
	return c
}

func customText(m map[string]string) string {
	if len(m) == 0 {
		return "<nil>"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+":"+m[k])
	}
	return "map[" + strings.Join(parts, " ") + "]"
}

const fieldsHelp = `Each field is KEY=VALUE, KEY=@FILE (the file's content), KEY=- (read from
stdin; once) or just KEY (prompt for the value without echo; needs a
terminal). Prefer @FILE, - or the prompt for secrets: arguments are visible
to other users of the machine and kept in shell history.`

func putCmd(g *globals) *cobra.Command {
	var cas int
	c := &cobra.Command{
		Use:   "put PATH KEY=VALUE...",
		Short: "Write a new version of an entry",
		Long: `Write the given fields as a new version of the entry at PATH (the previous
fields are replaced; use patch to change some). With -cas N the write
succeeds only if the current version is N (0: the entry must not exist).

` + fieldsHelp,
		Example: `  vaultly put myapp/db username=app password=@password.txt
  vaultly put myapp/api token            # prompts for the value
  generate-key | vaultly put myapp/signing key=-
  vaultly put -cas 3 myapp/db username=app password=@password.txt`,
		Args: minArgs(2, "PATH and at least one KEY=VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts hashivault.PutOptions
			if cmd.Flags().Changed("cas") {
				if cas < 0 {
					return usagef("-cas must not be negative")
				}
				opts.CAS = hashivault.CAS(cas)
			}
			return g.writeFields(cmd, args, "Wrote", func(b *hashivault.Backend, p string, fields map[string]any) (*hashivault.VersionMetadata, error) {
				return b.Put(cmd.Context(), p, fields, &opts)
			})
		},
	}
	c.Flags().IntVar(&cas, "cas", 0, "check-and-set: write only if the current version is N (0: only if absent)")
	return c
}

func patchCmd(g *globals) *cobra.Command {
	var cas int
	c := &cobra.Command{
		Use:   "patch PATH KEY=VALUE...",
		Short: "Change some fields of an entry, keeping the others",
		Long: `Merge the given fields into the latest version of the entry at PATH and
store the result as a new version. Uses Vault's PATCH; where the token may
not patch, reads and writes back with check-and-set, so a concurrent write
is never lost. KV v2 only.

` + fieldsHelp,
		Example: `  vaultly patch myapp/db password=@new-password.txt
  vaultly patch -cas 4 myapp/db password=-`,
		Args: minArgs(2, "PATH and at least one KEY=VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts hashivault.PatchOptions
			if cmd.Flags().Changed("cas") {
				opts.CAS = hashivault.CAS(cas)
			}
			return g.writeFields(cmd, args, "Patched", func(b *hashivault.Backend, p string, fields map[string]any) (*hashivault.VersionMetadata, error) {
				return b.Patch(cmd.Context(), p, fields, &opts)
			})
		},
	}
	c.Flags().IntVar(&cas, "cas", 0, "check-and-set: patch only if the current version is N")
	return c
}

// writeFields is put and patch once their own flags are checked: it reads
// PATH and the KEY=VALUE fields from args, writes them with write and
// prints the new version as verb ("Wrote", "Patched").
func (g *globals) writeFields(cmd *cobra.Command, args []string, verb string, write func(b *hashivault.Backend, p string, fields map[string]any) (*hashivault.VersionMetadata, error)) error {
	p, err := vaultly.CleanPath(args[0])
	if err != nil {
		return &usageError{err}
	}
	fields, err := g.parseFields(args[1:])
	if err != nil {
		return err
	}
	b, err := g.backend(cmd.Context())
	if err != nil {
		return err
	}
	defer b.Close()
	vm, err := write(b, p, fields)
	if err != nil {
		return err
	}
	return g.printWrite(cmd.OutOrStdout(), verb, p, vm)
}

func (g *globals) printWrite(w io.Writer, verb, p string, vm *hashivault.VersionMetadata) error {
	if g.format == "json" {
		return printJSON(w, map[string]any{"path": p, "version": vm.Version, "created_time": vm.CreatedTime})
	}
	if vm.Version == 0 {
		_, err := fmt.Fprintf(w, "%s %s\n", verb, p)
		return err
	}
	_, err := fmt.Fprintf(w, "%s %s version %d\n", verb, p, vm.Version)
	return err
}

// parseFields reads KEY=VALUE arguments; see fieldsHelp.
func (g *globals) parseFields(args []string) (map[string]any, error) {
	fields := make(map[string]any, len(args))
	usedStdin := false
	for i, a := range args {
		k, v, hasValue := strings.Cut(a, "=")
		if k == "" {
			// Name the position, not the text: the value may be a secret.
			return nil, usagef("field argument %d has an empty key", i+1)
		}
		if _, dup := fields[k]; dup {
			return nil, usagef("field %q given twice", k)
		}
		switch {
		case !hasValue:
			s, err := g.prompt("value of " + k + " (or give " + k + "=@FILE or " + k + "=-)")
			if err != nil {
				return nil, err
			}
			fields[k] = s
		case v == "-":
			if usedStdin {
				return nil, usagef("field %q: only one field can be read from stdin", k)
			}
			usedStdin = true
			b, err := io.ReadAll(g.io.In)
			if err != nil {
				return nil, fmt.Errorf("field %q: read stdin: %w", k, err)
			}
			fields[k] = strings.TrimSuffix(string(b), "\n")
		case strings.HasPrefix(v, "@"):
			b, err := os.ReadFile(v[1:])
			if err != nil {
				return nil, usagef("field %q: %v", k, err)
			}
			fields[k] = string(b)
		default:
			fields[k] = v
		}
	}
	return fields, nil
}

// prompt asks for what (e.g. "value for password") on the terminal on
// stdin and reads it without echo; without a terminal it is a usage error.
func (g *globals) prompt(what string) (string, error) {
	f, ok := g.stdinFile()
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("no terminal to prompt for the %s: give it as a file or on stdin", what)
	}
	b, err := readHidden(int(f.Fd()), func() {
		fmt.Fprintf(g.io.Err, "%s%s (hidden): ", strings.ToUpper(what[:1]), what[1:])
	})
	fmt.Fprintln(g.io.Err)
	if err != nil {
		return "", fmt.Errorf("read from terminal: %w", err)
	}
	return string(b), nil
}

// confirm asks a yes/no question on the terminal; without one it refuses.
func (g *globals) confirm(question string) error {
	f, ok := g.stdinFile()
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return usagef("refusing without confirmation: stdin is not a terminal; pass -yes")
	}
	fmt.Fprint(g.io.Err, question+" [y/N]: ")
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return &exitError{code: ExitError, msg: "aborted"}
}

func deleteCmd(g *globals) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "delete PATH",
		Short: "Delete an entry with all its versions and metadata (permanent)",
		Long: `Delete the entry at PATH for good: every version and the metadata (on KV v1,
the entry). Nothing can be undeleted afterwards; to hide versions in a way
that can be undone use 'versions delete'. Asks for confirmation on the
terminal unless -yes is given, and refuses without a terminal.`,
		Example: `  vaultly delete myapp/old
  vaultly delete -yes myapp/old`,
		Args: exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := vaultly.CleanPath(args[0])
			if err != nil {
				return &usageError{err}
			}
			if !yes {
				if err := g.confirm(fmt.Sprintf("Delete %s with all its versions and metadata? This cannot be undone.", p)); err != nil {
					return err
				}
			}
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			if err := b.Delete(cmd.Context(), p); err != nil {
				return err
			}
			if g.format == "json" {
				return printJSON(cmd.OutOrStdout(), map[string]any{"path": p, "deleted": true})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s\n", p)
			return err
		},
	}
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return c
}

func listCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list [PREFIX]",
		Short: "List the entries under a prefix",
		Long: `List the names directly under PREFIX (default: the mount's root); folder
names end in '/'. Nothing under PREFIX exits with code 3.`,
		Example: `  vaultly list
  vaultly list myapp/
  vaultly list -format=json myapp`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			names, err := b.List(cmd.Context(), prefix)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.format == "json" {
				return printJSON(out, names)
			}
			fmt.Fprintln(out, "Keys")
			fmt.Fprintln(out, "----")
			for _, n := range names {
				fmt.Fprintln(out, n)
			}
			return nil
		},
	}
}

func versionsCmd(g *globals) *cobra.Command {
	mk := func(name, short, long string, confirm bool, do func(b *hashivault.Backend) func(cmd *cobra.Command, p string, vs []int) error) *cobra.Command {
		var versions []int
		var yes bool
		c := &cobra.Command{
			Use:     name + " PATH -versions N[,N...]",
			Short:   short,
			Long:    long,
			Example: fmt.Sprintf("  vaultly versions %s -versions 1,2 myapp/db", name),
			Args:    exactArgs("PATH"),
			RunE: func(cmd *cobra.Command, args []string) error {
				p, err := vaultly.CleanPath(args[0])
				if err != nil {
					return &usageError{err}
				}
				if len(versions) == 0 {
					return usagef("missing -versions")
				}
				for _, v := range versions {
					if v <= 0 {
						return usagef("-versions must be positive integers")
					}
				}
				if confirm && !yes {
					if err := g.confirm(fmt.Sprintf("Destroy versions %s of %s? This cannot be undone.", intsText(versions), p)); err != nil {
						return err
					}
				}
				b, err := g.backend(cmd.Context())
				if err != nil {
					return err
				}
				defer b.Close()
				if err := do(b)(cmd, p, versions); err != nil {
					return err
				}
				if g.format == "json" {
					return printJSON(cmd.OutOrStdout(), map[string]any{"path": p, "versions": versions, "operation": name})
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "Done: %s versions %s of %s\n", name, intsText(versions), p)
				return err
			},
		}
		c.Flags().IntSliceVar(&versions, "versions", nil, "comma-separated version numbers (required)")
		if confirm {
			c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
		}
		return c
	}
	return group("versions", "Delete, undelete or destroy versions of an entry (KV v2)",
		"  vaultly versions delete -versions 3 myapp/db\n  vaultly versions undelete -versions 3 myapp/db",
		mk("delete", "Soft-delete versions (undo with undelete)",
			"Mark the given versions of the entry at PATH deleted; their data is kept and\n'versions undelete' restores them.", false,
			func(b *hashivault.Backend) func(*cobra.Command, string, []int) error {
				return func(cmd *cobra.Command, p string, vs []int) error { return b.DeleteVersions(cmd.Context(), p, vs) }
			}),
		mk("undelete", "Restore soft-deleted versions",
			"Restore the given soft-deleted versions of the entry at PATH.", false,
			func(b *hashivault.Backend) func(*cobra.Command, string, []int) error {
				return func(cmd *cobra.Command, p string, vs []int) error { return b.UndeleteVersions(cmd.Context(), p, vs) }
			}),
		mk("destroy", "Destroy versions for good",
			"Remove the data of the given versions of the entry at PATH permanently. Asks\nfor confirmation on the terminal unless -yes is given.", true,
			func(b *hashivault.Backend) func(*cobra.Command, string, []int) error {
				return func(cmd *cobra.Command, p string, vs []int) error { return b.DestroyVersions(cmd.Context(), p, vs) }
			}),
	)
}

func intsText(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func metaCmd(g *globals) *cobra.Command {
	get := &cobra.Command{
		Use:     "get PATH",
		Short:   "Show an entry's metadata and versions",
		Example: "  vaultly meta get myapp/db\n  vaultly meta get -format=json myapp/db",
		Args:    exactArgs("PATH"),
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
			m, err := b.ReadMetadata(cmd.Context(), p)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.format == "json" {
				return printJSON(out, m)
			}
			section(out, "Metadata")
			rows := []row{
				{"cas_required", strconv.FormatBool(m.CASRequired)},
				{"created_time", timeText(m.CreatedTime)},
				{"current_version", strconv.Itoa(m.CurrentVersion)},
				{"custom_metadata", customText(m.CustomMetadata)},
				{"delete_version_after", durText(m.DeleteVersionAfter)},
				{"max_versions", strconv.Itoa(m.MaxVersions)},
				{"oldest_version", strconv.Itoa(m.OldestVersion)},
				{"updated_time", timeText(m.UpdatedTime)},
			}
			if err := printTable(out, [2]string{"Key", "Value"}, rows); err != nil {
				return err
			}
			for i := len(m.Versions) - 1; i >= 0; i-- {
				v := m.Versions[i]
				fmt.Fprintln(out)
				section(out, fmt.Sprintf("Version %d", v.Version))
				rows := []row{
					{"created_time", timeText(v.CreatedTime)},
					{"deletion_time", timeText(v.DeletionTime)},
					{"destroyed", strconv.FormatBool(v.Destroyed)},
				}
				if err := printTable(out, [2]string{"Key", "Value"}, rows); err != nil {
					return err
				}
			}
			return nil
		},
	}
	var (
		maxVersions int
		casRequired bool
		deleteAfter time.Duration
		custom      []string
	)
	put := &cobra.Command{
		Use:   "put PATH [flags]",
		Short: "Change an entry's metadata",
		Long: `Change the metadata fields given as flags; the others stay as they are.
-custom-metadata replaces the whole custom metadata map (repeat it for
several keys).`,
		Example: `  vaultly meta put -max-versions 5 -delete-version-after 720h myapp/db
  vaultly meta put -custom-metadata owner=team-a -custom-metadata tier=1 myapp/db
  vaultly meta put -cas-required=true myapp/db`,
		Args: exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := vaultly.CleanPath(args[0])
			if err != nil {
				return &usageError{err}
			}
			var u hashivault.MetadataUpdate
			fl := cmd.Flags()
			if fl.Changed("max-versions") {
				if maxVersions < 0 {
					return usagef("-max-versions must not be negative")
				}
				u.MaxVersions = &maxVersions
			}
			if fl.Changed("cas-required") {
				u.CASRequired = &casRequired
			}
			if fl.Changed("delete-version-after") {
				if deleteAfter < 0 {
					return usagef("-delete-version-after must not be negative")
				}
				u.DeleteVersionAfter = &deleteAfter
			}
			if fl.Changed("custom-metadata") {
				u.CustomMetadata = map[string]string{}
				for _, kv := range custom {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return usagef("-custom-metadata wants KEY=VALUE, got %q", kv)
					}
					u.CustomMetadata[k] = v
				}
			}
			if u.MaxVersions == nil && u.CASRequired == nil && u.DeleteVersionAfter == nil && u.CustomMetadata == nil {
				return usagef("nothing to change: give -max-versions, -cas-required, -delete-version-after or -custom-metadata")
			}
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			if err := b.WriteMetadata(cmd.Context(), p, &u); err != nil {
				return err
			}
			if g.format == "json" {
				return printJSON(cmd.OutOrStdout(), map[string]any{"path": p, "updated": true})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Updated metadata of %s\n", p)
			return err
		},
	}
	put.Flags().IntVar(&maxVersions, "max-versions", 0, "versions to keep (0: the engine's setting)")
	put.Flags().BoolVar(&casRequired, "cas-required", false, "require check-and-set on every write")
	put.Flags().DurationVar(&deleteAfter, "delete-version-after", 0, "soft-delete versions after this long (0: never)")
	put.Flags().StringArrayVar(&custom, "custom-metadata", nil, "KEY=VALUE custom metadata (repeatable; replaces the map)")
	return group("meta", "Read or change an entry's metadata (KV v2)",
		"  vaultly meta get myapp/db\n  vaultly meta put -max-versions 5 myapp/db", get, put)
}

func kvConfigCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "kv-config",
		Short:   "Show the KV v2 engine's configuration",
		Example: "  vaultly kv-config\n  vaultly kv-config -mount kv -format=json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			cfg, err := b.ReadKVConfig(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.format == "json" {
				return printJSON(out, cfg)
			}
			return printTable(out, [2]string{"Key", "Value"}, []row{
				{"mount", cfg.Mount},
				{"cas_required", strconv.FormatBool(cfg.CASRequired)},
				{"delete_version_after", durText(cfg.DeleteVersionAfter)},
				{"max_versions", strconv.Itoa(cfg.MaxVersions)},
			})
		},
	}
}
