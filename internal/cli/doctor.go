package cli

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

// doctorParallel bounds the paths doctor checks at the same time.
const doctorParallel = 8

var (
	uriRE    = regexp.MustCompile(`vault://[^\s"'` + "`" + `<>]+`)
	secretRE = regexp.MustCompile(`secret\s+"([^"]+)"`)
)

// refsIn returns the references a config file or template uses: every
// vault:// URI and every {{ secret "..." }} argument.
func refsIn(text string) []string {
	var out []string
	out = append(out, uriRE.FindAllString(text, -1)...)
	for _, m := range secretRE.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

type check struct {
	Name   string `json:"check"`
	OK     bool   `json:"ok"`
	Warn   bool   `json:"warning,omitempty"` // OK, but worth a look
	Detail string `json:"detail"`
}

type pathCheck struct {
	Path         string   `json:"path"`
	APIPath      string   `json:"api_path"`
	Capabilities []string `json:"capabilities"`
	CanRead      bool     `json:"can_read"`
}

func doctorCmd(g *globals) *cobra.Command {
	var configs []string
	c := &cobra.Command{
		Use:   "doctor [-config FILE]... [REF...]",
		Short: "Check address, TLS, login and read access to every path an app uses",
		Long: `Check that the server is reachable over verified TLS and unsealed, that the
login works, and for every path the app uses whether the token may read it
(sys/capabilities-self). Then print the minimal HCL policy that grants
those reads.

The paths come from REF arguments, from every -config FILE (any text:
vault://PATH[:KEY] URIs and {{ secret "PATH:KEY" }} template calls are
collected) and from environment variables whose value is a vault:// URI
(as 'run' uses them). Exits 1 when a check fails.`,
		Example: `  vaultly doctor -config app.env -config app.conf.tmpl
  vaultly doctor myapp/db:password myapp/api:key
  vaultly doctor -format=json -config app.conf.tmpl`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			raw := slices.Clone(args)
			for _, f := range configs {
				b, err := os.ReadFile(f)
				if err != nil {
					return usagef("-config: %v", err)
				}
				raw = append(raw, refsIn(string(b))...)
			}
			envs, err := envRefs(os.Environ())
			if err != nil {
				return &usageError{err}
			}
			var paths []string
			for _, s := range raw {
				r, err := vaultly.ParseRef(s)
				if err != nil {
					return &usageError{err}
				}
				paths = append(paths, r.Path)
			}
			for _, r := range envs {
				paths = append(paths, r.Path)
			}
			slices.Sort(paths)
			paths = slices.Compact(paths)

			var checks []check
			var pcs []pathCheck
			failed := false
			add := func(name string, ok bool, detail string) {
				checks = append(checks, check{Name: name, OK: ok, Detail: detail})
				failed = failed || !ok
			}
			report := func() error {
				out := cmd.OutOrStdout()
				var apiPaths []string
				for _, p := range pcs {
					apiPaths = append(apiPaths, p.APIPath)
				}
				policy := hashivault.ReadPolicy(apiPaths)
				if g.format == "json" {
					if err := printJSON(out, map[string]any{"checks": checks, "paths": pcs, "policy": policy, "ok": !failed}); err != nil {
						return err
					}
				} else {
					printDoctor(out, checks, pcs, policy)
				}
				if failed {
					return &exitError{code: ExitError, msg: "some checks failed"}
				}
				return nil
			}

			sc, err := g.sysClient()
			if err != nil {
				add("config", false, g.errText(err))
				return report()
			}
			addr := sc.Address()
			st, err := sc.SealStatus(ctx)
			if err != nil {
				add("address", false, addr+": "+g.errText(err))
				return report()
			}
			add("address", true, fmt.Sprintf("%s answers (vault %s)", addr, st.Version))
			if strings.HasPrefix(addr, "https://") {
				add("tls", true, "server certificate verified")
			} else {
				checks = append(checks, check{Name: "tls", OK: true, Warn: true, Detail: "plain http: secrets cross the network unencrypted"})
			}
			if st.Sealed {
				add("seal", false, "vault is sealed: run 'vaultly unseal'")
				return report()
			}
			add("seal", true, "unsealed")
			b, err := g.backend(ctx)
			if err != nil {
				add("auth", false, g.errText(err))
				return report()
			}
			defer b.Close()
			info, err := b.LookupSelf(ctx)
			if err != nil {
				add("auth", false, g.errText(err))
				return report()
			}
			add("auth", true, fmt.Sprintf("token %s, policies %s, ttl %s", info.DisplayName, strings.Join(info.Policies, ","), durText(info.TTL)))
			// Two requests a path, up to doctorParallel paths at a time;
			// results are reported in path order.
			type result struct {
				pc  *pathCheck
				err error
			}
			results := make([]result, len(paths))
			var eg errgroup.Group
			eg.SetLimit(doctorParallel)
			for i, p := range paths {
				eg.Go(func() error {
					api, err := b.ReadAPIPath(ctx, p)
					if err != nil {
						results[i].err = err
						return nil
					}
					caps, err := b.Capabilities(ctx, api)
					if err != nil {
						results[i].err = err
						return nil
					}
					results[i].pc = &pathCheck{Path: p, APIPath: api, Capabilities: caps, CanRead: hashivault.CanRead(caps)}
					return nil
				})
			}
			_ = eg.Wait() // every error is kept per path
			for i, r := range results {
				if r.err != nil {
					add("path "+paths[i], false, g.errText(r.err))
					continue
				}
				pcs = append(pcs, *r.pc)
				failed = failed || !r.pc.CanRead
			}
			if len(paths) == 0 {
				add("paths", true, "no paths to check: give -config FILE or REF arguments")
			}
			return report()
		},
	}
	c.Flags().StringArrayVar(&configs, "config", nil, "config file or template whose vault references to check (repeatable)")
	return c
}

func printDoctor(w io.Writer, checks []check, pcs []pathCheck, policy string) {
	for _, c := range checks {
		mark := "ok  "
		switch {
		case !c.OK:
			mark = "FAIL"
		case c.Warn:
			mark = "warn"
		}
		fmt.Fprintf(w, "[%s] %-8s %s\n", mark, c.Name, c.Detail)
	}
	for _, p := range pcs {
		mark := "ok  "
		detail := "readable"
		if !p.CanRead {
			mark, detail = "FAIL", "not readable"
		}
		fmt.Fprintf(w, "[%s] path     %s (%s): %s [%s]\n", mark, p.Path, p.APIPath, detail, strings.Join(p.Capabilities, ","))
	}
	if policy != "" {
		fmt.Fprintf(w, "\nMinimal policy:\n\n%s", policy)
	}
}
