package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
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
		Long: `Render the Go template TEMPLATE (text/template; "-" reads stdin) into FILE.
{{ secret "PATH:KEY" }} is the value of a field; the reference may also be
written vault://PATH[:KEY][?version=N], and KEY defaults to "value". Each
Vault entry is read once per rendering.

FILE is written with mode 0600 through a temporary file and a rename, so a
reader never sees a partial file; on any error nothing is written.`,
		Example: `  vaultly inject -i app.conf.tmpl -o /run/app/app.conf

  # app.conf.tmpl:
  #   db_user = {{ secret "myapp/db:username" }}
  #   db_pass = {{ secret "vault://myapp/db:password" }}`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if in == "" {
				return usagef("missing -i TEMPLATE")
			}
			if out == "" {
				return usagef("missing -o FILE")
			}
			var src []byte
			var err error
			if in == "-" {
				src, err = io.ReadAll(g.io.In)
			} else {
				src, err = os.ReadFile(in)
			}
			if err != nil {
				return usagef("template: %v", err)
			}
			if _, err := parseTemplate(in, string(src), nil); err != nil {
				return &usageError{err}
			}
			s, err := g.store(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := cmd.Context()
			t, err := parseTemplate(in, string(src), func(ref string) (string, error) {
				r, err := vaultly.ParseRef(ref)
				if err != nil {
					return "", err
				}
				return s.GetRef(ctx, r, nil)
			})
			if err != nil {
				return &usageError{err}
			}
			var buf bytes.Buffer
			if err := t.Execute(&buf, nil); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(out, buf.Bytes()); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			if g.format == "json" {
				return printJSON(cmd.OutOrStdout(), map[string]any{"output": out, "bytes": buf.Len()})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s (%d bytes, mode 0600)\n", out, buf.Len())
			return err
		},
	}
	c.Flags().StringVarP(&in, "in", "i", "", `template file ("-": stdin)`)
	c.Flags().StringVarP(&out, "out", "o", "", "output file, written with mode 0600")
	return c
}

// parseTemplate parses src with the secret function; a nil secret makes a
// function that fails (for checking the syntax before any network call).
func parseTemplate(name, src string, secret func(string) (string, error)) (*template.Template, error) {
	if secret == nil {
		secret = func(string) (string, error) { return "", nil }
	}
	return template.New(name).Option("missingkey=error").Funcs(template.FuncMap{"secret": secret}).Parse(src)
}
