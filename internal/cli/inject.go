package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/atomicfile"
)

func injectCmd(g *globals) *cobra.Command {
	var in, out string
	c := &cobra.Command{
		Use:   "inject -i TEMPLATE -o FILE",
		Short: "Render a template with secrets into a file (mode 0600)",
		Long: `Render the Go template TEMPLATE (text/template; "-" reads stdin) into FILE
("-" writes stdout). {{ secret "PATH:KEY" }} is the value of a field; the
reference may also be written vault://PATH[:KEY][?version=N], KEY defaults
to "value", and PATH is written as with 'vault kv' (secret/myapp/db) or
relative to -mount. Each Vault entry is read once per rendering.

FILE is written with mode 0600 through a temporary file and a rename, so a
reader never sees a partial file; on any error nothing is written. An error
while rendering names the template line, never a value.`,
		Example: `  vaultly inject -i app.conf.tmpl -o /run/app/app.conf
  vaultly inject -i app.conf.tmpl -o - | consumer

  # app.conf.tmpl:
  #   db_user = {{ secret "secret/myapp/db:username" }}
  #   db_pass = {{ secret "vault://secret/myapp/db:password" }}`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if in == "" {
				return usagef("missing -i TEMPLATE")
			}
			if out == "" {
				return usagef("missing -o FILE (- for stdout)")
			}
			src, err := g.readTemplate(in)
			if err != nil {
				return err
			}
			if _, err := parseTemplate(in, src, nil); err != nil {
				return &usageError{err}
			}
			ctx := cmd.Context()
			k, err := g.kv(ctx)
			if err != nil {
				return err
			}
			defer k.Close()
			text, err := renderTemplate(ctx, in, src, &refReader{k: k})
			if err != nil {
				return err
			}
			if out == "-" {
				_, err := cmd.OutOrStdout().Write(text)
				return err
			}
			if err := atomicfile.WriteFile(out, text); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			if g.structured() {
				return g.printData(cmd.OutOrStdout(), map[string]any{"output": out, "bytes": len(text)})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s (%d bytes, mode 0600)\n", out, len(text))
			return err
		},
	}
	c.Flags().StringVarP(&in, "in", "i", "", `template file ("-": stdin)`)
	c.Flags().StringVarP(&out, "out", "o", "", `output file, written with mode 0600 ("-": stdout)`)
	return c
}

// readTemplate reads the template file name ("-": stdin).
func (g *globals) readTemplate(name string) (string, error) {
	var src []byte
	var err error
	if name == "-" {
		src, err = io.ReadAll(g.io.In)
	} else {
		src, err = os.ReadFile(name)
	}
	if err != nil {
		return "", usagef("template: %v", pathErr(err))
	}
	return string(src), nil
}

// renderTemplate renders src, reading every {{ secret "..." }} through rd.
func renderTemplate(ctx context.Context, name, src string, rd *refReader) ([]byte, error) {
	where := "template " + name
	t, err := parseTemplate(name, src, func(s string) (string, error) {
		ref, err := parseRefAt(where, s)
		if err != nil {
			return "", err
		}
		return rd.read(ctx, where, ref)
	})
	if err != nil {
		return nil, &usageError{err}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, nil); err != nil {
		return nil, execError(err)
	}
	return buf.Bytes(), nil
}

// parseTemplate parses src with the secret function; a nil secret makes a
// function that fails (for checking the syntax before any network call).
func parseTemplate(name, src string, secret func(string) (string, error)) (*template.Template, error) {
	if secret == nil {
		secret = func(string) (string, error) { return "", nil }
	}
	return template.New(name).Option("missingkey=error").Funcs(template.FuncMap{"secret": secret}).Parse(src)
}

// execError is a template execution error without what text/template
// quotes, which may be a secret: of the data (range can't iterate over
// <value>, ...) and of the action (a reference pasted with a password in
// it). What is left: the location (file, line, column) and, for a failed
// secret call, vaultly's own error, which never holds a value.
func execError(err error) error {
	msg := err.Error()
	loc := "template"
	if rest, ok := strings.CutPrefix(msg, "template: "); ok {
		// "NAME:LINE:COL: executing ..."; NAME may hold ':' (a path).
		if i := strings.Index(rest, ": executing "); i >= 0 {
			loc = "template: " + rest[:i]
		}
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return &usageError{fmt.Errorf("%s: %w", loc, ue.err)}
	}
	if ot, ok := errors.AsType[*onTarget](err); ok {
		return fmt.Errorf("%s: %w", loc, ot)
	}
	if e, ok := errors.AsType[*vaultly.Error](err); ok {
		return fmt.Errorf("%s: %w", loc, e)
	}
	return &usageError{fmt.Errorf("%s: cannot render this action with the value it got (the details are not shown: they may quote a secret value)", loc)}
}
