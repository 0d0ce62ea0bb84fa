package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
)

const pathHelp = `PATH is written as with 'vault kv': secret/myapp/db (secret/ is the mount),
or relative to -mount (-mount=secret myapp/db); a path whose first segment
is no mount the token can see is read from the default mount.`

// withKV connects, resolves PATH and runs fn on the Backend of its mount.
// Errors are tied to the mount for the advice they carry.
func (g *globals) withKV(ctx context.Context, p string, fn func(k *kvConn, t kvTarget, b *hashivault.Backend) error) error {
	k, err := g.kv(ctx)
	if err != nil {
		return err
	}
	defer k.Close()
	t, b, err := k.target(ctx, p)
	if err != nil {
		return err
	}
	if err := fn(k, t, b); err != nil {
		return atTarget(t, k.mountNamedHint(t, err))
	}
	return nil
}

// cleanArg checks a PATH argument before any request.
func cleanArg(p string) (string, error) {
	c, err := vaultly.CleanPath(strings.TrimSuffix(p, "/"))
	if err != nil {
		return "", &usageError{err}
	}
	return c, nil
}

func getCmd(g *globals) *cobra.Command {
	var (
		version int
		field   string
	)
	c := &cobra.Command{
		Use:   "get PATH[:KEY]",
		Short: "Read an entry, or one field of it",
		Long: `Read the entry at PATH and print its fields and metadata, as 'vault kv get'
does (-format=json prints the same document). With -field=KEY, or PATH:KEY,
print only that field's value: -field prints it as 'vault kv get -field'
does (raw, no newline unless stdout is a terminal; a missing field exits 1),
PATH:KEY reads it through a vaultly.Store, as a Go program does, and prints
it on its own line. PATH may also be a reference:
vault://PATH[:KEY][?version=N].

` + pathHelp,
		Example: `  vaultly get secret/myapp/db
  vaultly get -field=password secret/myapp/db
  vaultly get -mount=secret -version=2 -format=json myapp/db
  vaultly get myapp/db:password
  export DB_PASSWORD="$(vaultly get -field=password secret/myapp/db)"`,
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
			if ref.Key != "" && field != "" {
				return usagef("give -field or PATH:KEY, not both")
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			k, err := g.kv(ctx)
			if err != nil {
				return err
			}
			defer k.Close()
			t, err := k.resolve(ctx, ref.Path)
			if err != nil {
				return err
			}
			if ref.Key != "" {
				// A value: read through a Store, as a program reads it.
				s, err := k.store(ctx, t.mount)
				if err != nil {
					return err
				}
				ref.Path = t.path
				v, err := s.GetRef(ctx, ref, nil)
				if err != nil {
					return atTarget(t, k.mountNamedHint(t, err))
				}
				if g.structured() {
					return g.printData(out, v)
				}
				_, err = fmt.Fprintln(out, v)
				return err
			}
			b, err := k.backend(ctx, t.mount)
			if err != nil {
				return err
			}
			sec, apiPath, kvv, err := readKV(ctx, b, t, ref.Version)
			if err != nil {
				return atTarget(t, k.mountNamedHint(t, err))
			}
			data := kvFields(sec, kvv)
			if field != "" {
				v, ok := data[field]
				if !ok || v == nil {
					return usagef("field %q not present in secret %s", field, t)
				}
				return g.printField(out, v)
			}
			if g.structured() {
				return g.printData(out, sec)
			}
			return printKVTable(out, sec, apiPath, kvv)
		},
	}
	c.Flags().IntVar(&version, "version", 0, "version to read (default: the latest)")
	c.Flags().StringVar(&field, "field", "", "print only this field's value, as 'vault kv get -field'")
	return c
}

// readKV reads the entry at t (version 0: the latest) as the vault CLI
// does and returns Vault's answer, the API path read and the KV version.
// Nothing there, or a deleted or destroyed version, is the Backend's own
// error for it (NotFound, with the advice to undelete where it applies).
func readKV(ctx context.Context, b *hashivault.Backend, t kvTarget, version int) (*api.Secret, string, int, error) {
	apiPath, kvv, err := b.KVPath(ctx, "data", t.path)
	if err != nil {
		return nil, "", 0, err
	}
	if kvv == 1 && version != 0 {
		return nil, "", 0, usagef("-version needs a kv v2 mount; %s is kv v1", t.mount)
	}
	var params map[string][]string
	if version != 0 {
		params = map[string][]string{"version": {strconv.Itoa(version)}}
	}
	var sec *api.Secret
	err = b.Call(ctx, func(ctx context.Context, c *api.Client) error {
		var err error
		sec, err = c.Logical().ReadWithDataWithContext(ctx, apiPath, params)
		return err
	})
	if err != nil {
		return nil, "", 0, vaultly.WrapError("get", t.String(), b.Name(), err)
	}
	if sec == nil || sec.Data == nil || (kvv == 2 && sec.Data["data"] == nil) {
		// The Backend words what is missing (deleted, destroyed, none).
		if _, err := b.GetEntry(ctx, t.path, version); err != nil {
			return nil, "", 0, err
		}
		return nil, "", 0, vaultly.WrapError("get", t.String(), b.Name(),
			driver.NewError(driver.NotFound, errors.New("no entry")))
	}
	return sec, apiPath, kvv, nil
}

// kvFields returns the entry's fields in Vault's answer.
func kvFields(sec *api.Secret, kvv int) map[string]any {
	if kvv == 1 {
		return sec.Data
	}
	d, _ := sec.Data["data"].(map[string]any)
	return d
}

// printKVTable prints an entry the way `vault kv get` does.
func printKVTable(w io.Writer, sec *api.Secret, apiPath string, kvv int) error {
	for _, warn := range sec.Warnings {
		fmt.Fprintln(w, "WARNING! "+warn)
	}
	if kvv == 2 {
		fmt.Fprintln(w, padEqualSigns("Secret Path", len(apiPath)))
		fmt.Fprintln(w, apiPath)
		fmt.Fprintln(w)
		if md, ok := sec.Data["metadata"].(map[string]any); ok {
			fmt.Fprintln(w, headerForMap("Metadata", md))
			if err := printMap(w, md); err != nil {
				return err
			}
			fmt.Fprintln(w)
		}
	}
	data := kvFields(sec, kvv)
	fmt.Fprintln(w, headerForMap("Data", data))
	return printMap(w, data)
}

// printMap prints a Key/Value table of m, keys sorted, values as fmt's %v
// and "n/a" for an empty one, as the vault CLI's table format.
func printMap(w io.Writer, m map[string]any) error {
	rows := make([]row, 0, len(m))
	for _, k := range sortedKeys(m) {
		v := fmt.Sprintf("%v", m[k])
		if v == "" {
			v = "n/a"
		}
		rows = append(rows, row{k, v})
	}
	return printTable(w, [2]string{"Key", "Value"}, rows)
}

// headerForMap is the vault CLI's "==== title ====" line above a map.
func headerForMap(title string, m map[string]any) string {
	width := 0
	for k := range m {
		width = max(width, len(k))
	}
	return padEqualSigns(title, width+4+5)
}

// padEqualSigns centres title in '=' signs over total columns, as the
// vault CLI does.
func padEqualSigns(title string, total int) string {
	n := total - (len(title) + 2)
	if n <= 0 {
		n = 4
	}
	if n%2 != 0 {
		n++
	}
	return strings.Repeat("=", n/2) + " " + title + " " + strings.Repeat("=", n/2)
}

// writeOut is what put, patch and rollback print: Vault's answer to the
// write, in the vault CLI's shape.
func (g *globals) writeOut(w io.Writer, t kvTarget, b *hashivault.Backend, vm *hashivault.VersionMetadata) error {
	if vm.Version == 0 { // KV v1
		return g.success(w, "Data written to", t.String())
	}
	md := map[string]any{
		"created_time":    timeJSON(vm.CreatedTime),
		"custom_metadata": nil,
		"deletion_time":   timeJSON(vm.DeletionTime),
		"destroyed":       vm.Destroyed,
		"version":         vm.Version,
	}
	if g.structured() {
		return g.printData(w, &api.Secret{Data: md, MountType: "kv"})
	}
	apiPath := t.mount + "/data/" + t.path
	fmt.Fprintln(w, padEqualSigns("Secret Path", len(apiPath)))
	fmt.Fprintln(w, apiPath)
	fmt.Fprintln(w)
	fmt.Fprintln(w, headerForMap("Metadata", md))
	return printMap(w, md)
}

// timeJSON is a time as Vault writes it ("" when zero).
func timeJSON(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// success prints the vault CLI's "Success! ..." line for a write that
// returns nothing; as in the vault CLI, only the table format prints it
// (-format=json prints nothing: there is no document to print).
func (g *globals) success(w io.Writer, what, apiPath string) error {
	if g.structured() {
		return nil
	}
	_, err := fmt.Fprintf(w, "Success! %s: %s\n", what, apiPath)
	return err
}

const fieldsHelp = `Each argument is KEY=VALUE, KEY=@FILE (the file's content), KEY=- (stdin,
byte for byte; once), \@ to start a VALUE with a literal @, or just KEY
(prompt for the value without echo; needs a terminal). A lone @FILE or -
is a JSON object of fields (from the file or stdin), as with 'vault kv put'.
Prefer @FILE, - or the prompt for secrets: arguments are visible to other
users of the machine and kept in shell history.`

func putCmd(g *globals) *cobra.Command {
	var cas int
	c := &cobra.Command{
		Use:   "put PATH KEY=VALUE... | @FILE.json | -",
		Short: "Write a new version of an entry",
		Long: `Write the given fields as a new version of the entry at PATH (the previous
fields are replaced; use patch to change some). With -cas N the write
succeeds only if the current version is N (0: the entry must not exist).

` + pathHelp + `

` + fieldsHelp,
		Example: `  vaultly put secret/myapp/db username=app password=@password.txt
  vaultly put secret/myapp/api token            # prompts for the value
  generate-key | vaultly put secret/myapp/signing key=-
  vaultly put secret/myapp/db @db.json
  vaultly put -cas=3 secret/myapp/db username=app password=@password.txt`,
		Args: minArgs(2, "PATH and at least one KEY=VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts hashivault.PutOptions
			if cmd.Flags().Changed("cas") {
				if cas < 0 {
					return usagef("-cas must not be negative")
				}
				opts.CAS = hashivault.CAS(cas)
			}
			return g.writeFields(cmd, args, nil, func(ctx context.Context, b *hashivault.Backend, p string, fields map[string]any) (*hashivault.VersionMetadata, error) {
				return b.Put(ctx, p, fields, &opts)
			})
		},
	}
	c.Flags().IntVar(&cas, "cas", 0, "check-and-set: write only if the current version is N (0: only if absent)")
	return c
}

func patchCmd(g *globals) *cobra.Command {
	var (
		cas    int
		remove []string
	)
	c := &cobra.Command{
		Use:   "patch PATH KEY=VALUE... [-remove-data KEY]...",
		Short: "Change some fields of an entry, keeping the others",
		Long: `Merge the given fields into the latest version of the entry at PATH and
store the result as a new version; -remove-data KEY removes a field. Uses
Vault's PATCH; where the token may not patch, reads and writes back with
check-and-set, so a concurrent write is never lost. KV v2 only.

` + pathHelp + `

` + fieldsHelp,
		Example: `  vaultly patch secret/myapp/db password=@new-password.txt
  vaultly patch -cas=4 secret/myapp/db password=-
  vaultly patch -remove-data=old_key secret/myapp/db`,
		Args: minArgs(1, "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts hashivault.PatchOptions
			if cmd.Flags().Changed("cas") {
				opts.CAS = hashivault.CAS(cas)
			}
			if len(args) < 2 && len(remove) == 0 {
				return usagef("missing KEY=VALUE or -remove-data KEY")
			}
			return g.writeFields(cmd, args, remove, func(ctx context.Context, b *hashivault.Backend, p string, fields map[string]any) (*hashivault.VersionMetadata, error) {
				return b.Patch(ctx, p, fields, &opts)
			})
		},
	}
	c.Flags().IntVar(&cas, "cas", 0, "check-and-set: patch only if the current version is N")
	c.Flags().StringArrayVar(&remove, "remove-data", nil, "remove this field (repeatable)")
	return c
}

// writeFields is put and patch once their own flags are checked: it reads
// PATH and the fields from args (and the fields to remove), writes them
// with write and prints Vault's answer.
func (g *globals) writeFields(cmd *cobra.Command, args, remove []string, write func(ctx context.Context, b *hashivault.Backend, p string, fields map[string]any) (*hashivault.VersionMetadata, error)) error {
	p, err := cleanArg(args[0])
	if err != nil {
		return err
	}
	fields, err := g.parseFields(args[1:])
	if err != nil {
		return err
	}
	for _, k := range remove {
		if _, dup := fields[k]; dup {
			return usagef("field %q is both set and removed", k)
		}
		fields[k] = nil // a merge patch's null removes it
	}
	ctx := cmd.Context()
	return g.withKV(ctx, p, func(_ *kvConn, t kvTarget, b *hashivault.Backend) error {
		vm, err := write(ctx, b, t.path, fields)
		if err != nil {
			return err
		}
		return g.writeOut(cmd.OutOrStdout(), t, b, vm)
	})
}

// parseFields reads field arguments; see fieldsHelp. No error quotes an
// argument: it may be a secret given where a KEY was expected.
func (g *globals) parseFields(args []string) (map[string]any, error) {
	fields := make(map[string]any, len(args))
	usedStdin := false
	stdin := func(what string) ([]byte, error) {
		if usedStdin {
			return nil, usagef("%s: stdin can be read only once", what)
		}
		usedStdin = true
		b, err := io.ReadAll(g.io.In)
		if err != nil {
			return nil, fmt.Errorf("%s: read stdin: %w", what, err)
		}
		return b, nil
	}
	set := func(k string, v any) error {
		if _, dup := fields[k]; dup {
			return usagef("field %q given twice", k)
		}
		fields[k] = v
		return nil
	}
	for i, a := range args {
		k, v, hasValue := strings.Cut(a, "=")
		switch {
		case a == "-" || (!hasValue && strings.HasPrefix(a, "@")):
			// A whole JSON document of fields.
			what := fmt.Sprintf("field argument %d", i+1)
			var doc []byte
			var err error
			if a == "-" {
				doc, err = stdin(what)
			} else if doc, err = os.ReadFile(a[1:]); err != nil {
				err = usagef("%s: %v", what, pathErr(err))
			}
			if err != nil {
				return nil, err
			}
			m, err := jsonFields(doc)
			if err != nil {
				return nil, usagef("%s: %v", what, err)
			}
			for _, mk := range sortedKeys(m) {
				if err := set(mk, m[mk]); err != nil {
					return nil, err
				}
			}
			continue
		case k == "":
			// Name the position, not the text: the value may be a secret.
			return nil, usagef("field argument %d has an empty key", i+1)
		case !hasValue:
			s, err := g.prompt(fmt.Sprintf("value of field argument %d (or give KEY=VALUE, KEY=@FILE or KEY=-)", i+1), k)
			if err != nil {
				return nil, err
			}
			v = s
		case v == "-":
			b, err := stdin(fmt.Sprintf("field %q", k))
			if err != nil {
				return nil, err
			}
			v = string(b) // byte for byte: a trailing newline is the value's
		case strings.HasPrefix(v, "@"):
			b, err := os.ReadFile(v[1:])
			if err != nil {
				return nil, usagef("field %q: %v", k, pathErr(err))
			}
			v = string(b)
		case strings.HasPrefix(v, `\@`):
			v = v[1:]
		}
		if err := set(k, v); err != nil {
			return nil, err
		}
	}
	return fields, nil
}

// pathErr is a file error without Go's "open" prefix.
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// jsonFields decodes a JSON object of fields, numbers kept as written. A
// syntax error names the offset, never the text.
func jsonFields(doc []byte) (map[string]any, error) {
	// encoding/json would replace invalid UTF-8 by U+FFFD: refuse it
	// rather than store other bytes than were given.
	if !utf8.Valid(doc) {
		return nil, errors.New("the json document is not valid UTF-8: base64-encode binary values first")
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("not a json object: syntax error at byte %d", se.Offset)
		}
		return nil, errors.New("not a json object of fields")
	}
	if dec.More() {
		return nil, errors.New("more than one json document")
	}
	if m == nil {
		return nil, errors.New("not a json object of fields")
	}
	return m, nil
}

// prompt asks for what on the terminal on stdin and reads it without echo.
// label is shown in the prompt on the terminal only; without a terminal
// the usage error names what, never label (which may be a secret typed
// where a name was expected).
func (g *globals) prompt(what, label string) (string, error) {
	f, ok := g.stdinFile()
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("no terminal to prompt for the %s: give it as a file or on stdin", what)
	}
	shown := strings.ToUpper(what[:1]) + what[1:]
	if label != "" {
		shown = "Value of " + label
	}
	b, err := readHidden(int(f.Fd()), func() {
		fmt.Fprintf(g.io.Err, "%s (hidden): ", shown)
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
	return &exitError{code: ExitUsage, msg: "aborted"}
}

// versionsFlag is the -versions flag of delete, undelete and destroy, as
// the vault CLI's: comma-separated and repeatable.
type versionsFlag struct{ v []string }

func (f *versionsFlag) add(c *cobra.Command, help string) {
	c.Flags().StringArrayVar(&f.v, "versions", nil, help)
}

func (f *versionsFlag) parse(required bool) ([]int, error) {
	var out []int
	for _, s := range f.v {
		for _, p := range strings.Split(s, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 {
				return nil, usagef("-versions must be positive integers, not %q", p)
			}
			out = append(out, n)
		}
	}
	if required && len(out) == 0 {
		return nil, usagef("missing -versions")
	}
	return out, nil
}

func deleteCmd(g *globals) *cobra.Command {
	var vf versionsFlag
	c := &cobra.Command{
		Use:   "delete [-versions N[,N...]] PATH",
		Short: "Soft-delete the latest version of an entry (undo with undelete)",
		Long: `Mark the latest version of the entry at PATH deleted, or the versions given
with -versions, as 'vault kv delete' does: the data is kept and 'vaultly
undelete' restores it, so nothing is asked. On a KV v1 mount, which keeps no
versions, the entry is removed. To remove an entry with all its versions
and metadata for good, use 'vaultly metadata delete'.

` + pathHelp,
		Example: `  vaultly delete secret/myapp/db
  vaultly delete -versions=1,2 secret/myapp/db`,
		Args: exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := cleanArg(args[0])
			if err != nil {
				return err
			}
			versions, err := vf.parse(false)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return g.withKV(ctx, p, func(_ *kvConn, t kvTarget, b *hashivault.Backend) error {
				apiPath, kvv, err := b.KVPath(ctx, "data", t.path)
				if err != nil {
					return err
				}
				if len(versions) > 0 {
					if err := b.DeleteVersions(ctx, t.path, versions); err != nil {
						return err
					}
					return g.success(cmd.OutOrStdout(), "Data deleted (if it existed) at", apiPath)
				}
				if kvv == 1 {
					if err := b.Delete(ctx, t.path); err != nil {
						return err
					}
				} else if err := b.Call(ctx, func(ctx context.Context, c *api.Client) error {
					_, err := c.Logical().DeleteWithContext(ctx, apiPath)
					return err
				}); err != nil {
					return vaultly.WrapError("delete", t.String(), b.Name(), err)
				}
				return g.success(cmd.OutOrStdout(), "Data deleted (if it existed) at", apiPath)
			})
		},
	}
	vf.add(c, "versions to soft-delete, comma-separated (default: the latest)")
	return c
}

func undeleteCmd(g *globals) *cobra.Command {
	var vf versionsFlag
	c := &cobra.Command{
		Use:     "undelete -versions N[,N...] PATH",
		Short:   "Restore soft-deleted versions of an entry",
		Long:    "Restore the given soft-deleted versions of the entry at PATH (KV v2).\n\n" + pathHelp,
		Example: `  vaultly undelete -versions=3 secret/myapp/db`,
		Args:    exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.versionsOp(cmd, args[0], &vf, "", "undelete", func(ctx context.Context, b *hashivault.Backend, p string, vs []int) error {
				return b.UndeleteVersions(ctx, p, vs)
			})
		},
	}
	vf.add(c, "versions to restore, comma-separated (required)")
	return c
}

func destroyCmd(g *globals) *cobra.Command {
	var (
		vf  versionsFlag
		yes bool
	)
	c := &cobra.Command{
		Use:   "destroy -versions N[,N...] PATH",
		Short: "Destroy versions of an entry for good",
		Long: `Remove the data of the given versions of the entry at PATH permanently
(KV v2). Unlike 'vault kv destroy', it asks for confirmation on the
terminal unless -yes is given, and refuses without a terminal.

` + pathHelp,
		Example: `  vaultly destroy -versions=1 secret/myapp/db
  vaultly destroy -yes -versions=1,2 secret/myapp/db`,
		Args: exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			question := ""
			if !yes {
				question = "Destroy versions %s of %s? This cannot be undone."
			}
			return g.versionsOp(cmd, args[0], &vf, question, "destroy", func(ctx context.Context, b *hashivault.Backend, p string, vs []int) error {
				return b.DestroyVersions(ctx, p, vs)
			})
		},
	}
	vf.add(c, "versions to destroy, comma-separated (required)")
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return c
}

// versionsOp is undelete and destroy: check PATH and -versions, ask
// question (a format of the versions and the path) when not empty, run
// do and print the vault CLI's success line for endpoint.
func (g *globals) versionsOp(cmd *cobra.Command, arg string, vf *versionsFlag, question, endpoint string, do func(ctx context.Context, b *hashivault.Backend, p string, vs []int) error) error {
	p, err := cleanArg(arg)
	if err != nil {
		return err
	}
	versions, err := vf.parse(true)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	return g.withKV(ctx, p, func(_ *kvConn, t kvTarget, b *hashivault.Backend) error {
		if question != "" {
			if err := g.confirm(fmt.Sprintf(question, intsText(versions), t)); err != nil {
				return err
			}
		}
		if err := do(ctx, b, t.path, versions); err != nil {
			return err
		}
		return g.success(cmd.OutOrStdout(), "Data written to", t.mount+"/"+endpoint+"/"+t.path)
	})
}

func rollbackCmd(g *globals) *cobra.Command {
	var version int
	c := &cobra.Command{
		Use:   "rollback -version N PATH",
		Short: "Write an earlier version of an entry as its new latest version",
		Long: `Read version N of the entry at PATH and write its data as a new version,
with check-and-set on the version current when it was read, as 'vault kv
rollback' does (KV v2). A deleted or destroyed version cannot be rolled
back to.

` + pathHelp,
		Example: `  vaultly rollback -version=2 secret/myapp/db`,
		Args:    exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := cleanArg(args[0])
			if err != nil {
				return err
			}
			if version <= 0 {
				return usagef("missing -version N (a positive version)")
			}
			ctx := cmd.Context()
			return g.withKV(ctx, p, func(_ *kvConn, t kvTarget, b *hashivault.Backend) error {
				m, err := b.ReadMetadata(ctx, t.path)
				if err != nil {
					return err
				}
				e, err := b.GetEntry(ctx, t.path, version)
				if err != nil {
					return err
				}
				vm, err := b.Put(ctx, t.path, e.Data, &hashivault.PutOptions{CAS: hashivault.CAS(m.CurrentVersion)})
				if err != nil {
					return err
				}
				return g.writeOut(cmd.OutOrStdout(), t, b, vm)
			})
		},
	}
	c.Flags().IntVar(&version, "version", 0, "version to roll back to (required)")
	return c
}

func listCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list [PATH]",
		Short: "List the entries under a path",
		Long: `List the names directly under PATH (default: the default mount's root);
folder names end in '/'. Nothing under PATH is an error (exit 2), as with
'vault kv list'.

` + pathHelp,
		Example: `  vaultly list secret/
  vaultly list secret/myapp
  vaultly list -format=json -mount=secret myapp`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 1 && strings.Trim(args[0], "/") != "" {
				p, err := cleanArg(args[0])
				if err != nil {
					return err
				}
				prefix = p + "/"
			}
			ctx := cmd.Context()
			return g.withKV(ctx, prefix, func(_ *kvConn, t kvTarget, b *hashivault.Backend) error {
				names, err := b.List(ctx, t.path)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if g.structured() {
					return g.printData(out, names)
				}
				fmt.Fprintln(out, "Keys")
				fmt.Fprintln(out, "----")
				for _, n := range names {
					fmt.Fprintln(out, n)
				}
				return nil
			})
		},
	}
}

func intsText(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func kvConfigCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "kv-config",
		Short:   "Show the KV v2 engine's configuration",
		Example: "  vaultly kv-config\n  vaultly kv-config -mount=kv -format=json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := g.kv(cmd.Context())
			if err != nil {
				return err
			}
			defer k.Close()
			cfg, err := k.primary.ReadKVConfig(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.structured() {
				return g.printData(out, cfg)
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
