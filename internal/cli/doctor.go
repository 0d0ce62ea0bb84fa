package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
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
	Exists       bool     `json:"exists"`                 // the entry was read
	Keys         []string `json:"keys"`                   // the keys the app uses
	MissingKeys  []string `json:"missing_keys,omitempty"` // of Keys, those the entry lacks
	Error        string   `json:"error,omitempty"`        // why the entry could not be read
}

// ok reports whether the app can read every key it uses at the path.
func (p *pathCheck) ok() bool { return p.CanRead && p.Exists && len(p.MissingKeys) == 0 }

func doctorCmd(g *globals) *cobra.Command {
	var configs []string
	c := &cobra.Command{
		Use:   "doctor [-config FILE]... [REF...]",
		Short: "Check address, TLS, login and read access to every path an app uses",
		Long: `Check that the server is reachable over verified TLS and unsealed, that the
login works, and for every path the app uses whether the token may read it
(sys/capabilities-self), that the entry exists and that it has every key
the app reads. Then print the minimal HCL policy that grants those reads.

The references come from REF arguments, from every -config FILE (any text:
vault://PATH[:KEY] URIs and {{ secret "PATH:KEY" }} template calls are
collected) and from environment variables whose value is a vault:// URI
(as 'run' uses them). Exits 2 when a check fails.`,
		Example: `  vaultly doctor -config app.env -config app.conf.tmpl
  vaultly doctor secret/myapp/db:password secret/myapp/api:key
  vaultly doctor -format=json -config app.conf.tmpl`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			keys, err := doctorRefs(args, configs)
			if err != nil {
				return err
			}
			paths := slices.Sorted(maps.Keys(keys))

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
				if g.structured() {
					if err := g.printData(out, map[string]any{"checks": checks, "paths": pcs, "policy": policy, "ok": !failed}); err != nil {
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
			k, err := g.kv(ctx)
			if err != nil {
				add("auth", false, g.errText(err))
				return report()
			}
			defer k.Close()
			info, err := k.primary.LookupSelf(ctx)
			if err != nil {
				add("auth", false, g.errText(err))
				return report()
			}
			add("auth", true, fmt.Sprintf("token %s, policies %s, ttl %s", info.DisplayName, strings.Join(info.Policies, ","), durText(info.TTL)))
			// Mounts are resolved one by one (kvConn is not for concurrent
			// use); then three requests a path, up to doctorParallel paths at
			// a time; results are reported in path order.
			type job struct {
				t   kvTarget
				s   *vaultly.Store
				err error
			}
			jobs := make([]job, len(paths))
			for i, p := range paths {
				t, err := k.resolve(ctx, p)
				if err == nil {
					jobs[i].t = t
					jobs[i].s, err = k.store(ctx, t.mount)
				}
				jobs[i].err = err
			}
			results := make([]*pathCheck, len(paths))
			var eg errgroup.Group
			eg.SetLimit(doctorParallel)
			for i, p := range paths {
				if jobs[i].err != nil {
					continue
				}
				eg.Go(func() error {
					results[i], jobs[i].err = checkPath(ctx, jobs[i].s, p, jobs[i].t, keys[p])
					return nil
				})
			}
			_ = eg.Wait() // every error is kept per path
			for i, r := range results {
				if jobs[i].err != nil {
					add("path "+paths[i], false, g.errText(jobs[i].err))
					continue
				}
				pcs = append(pcs, *r)
				failed = failed || !r.ok()
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

// doctorRefs collects the references doctor checks: the keys used at
// each path (as written).
func doctorRefs(args, configs []string) (map[string][]string, error) {
	type found struct{ where, ref string }
	var raw []found
	for i, a := range args {
		raw = append(raw, found{fmt.Sprintf("argument %d", i+1), a})
	}
	for _, f := range configs {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, usagef("-config: %v", pathErr(err))
		}
		for _, r := range refsIn(string(b)) {
			raw = append(raw, found{"-config " + f, r})
		}
	}
	keys := map[string][]string{}
	use := func(r vaultly.Ref) {
		k := r.Key
		if k == "" {
			k = "value"
		}
		if !slices.Contains(keys[r.Path], k) {
			keys[r.Path] = append(keys[r.Path], k)
		}
	}
	for _, f := range raw {
		r, err := parseRefAt(f.where, f.ref)
		if err != nil {
			return nil, err
		}
		use(r)
	}
	envs, err := envRefs(os.Environ())
	if err != nil {
		return nil, err
	}
	for _, r := range envs {
		use(r)
	}
	for p := range keys {
		slices.Sort(keys[p])
	}
	return keys, nil
}

// checkPath checks one path: may the token read it, does the entry exist
// and have the keys. The entry is read through s, as the app would.
func checkPath(ctx context.Context, s *vaultly.Store, shown string, t kvTarget, keys []string) (*pathCheck, error) {
	b := s.Backend().(*hashivault.Backend)
	api, err := b.ReadAPIPath(ctx, t.path)
	if err != nil {
		return nil, err
	}
	caps, err := b.Capabilities(ctx, api)
	if err != nil {
		return nil, err
	}
	pc := &pathCheck{Path: shown, APIPath: api, Capabilities: caps, CanRead: hashivault.CanRead(caps), Keys: keys}
	if !pc.CanRead {
		return pc, nil
	}
	e, err := s.Entry(ctx, t.path, 0, nil)
	if err != nil {
		pc.Error = err.Error()
		if vaultly.CodeOf(err) == vaultly.NotFound {
			pc.Error = "no entry at the path (or its latest version is deleted)"
		}
		return pc, nil
	}
	pc.Exists = true
	for _, k := range keys {
		if _, ok := e.Fields[k]; !ok {
			pc.MissingKeys = append(pc.MissingKeys, k)
		}
	}
	return pc, nil
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
		switch {
		case !p.CanRead:
			mark, detail = "FAIL", "not readable"
		case !p.Exists:
			mark, detail = "FAIL", "readable, but "+p.Error
		case len(p.MissingKeys) > 0:
			q := make([]string, len(p.MissingKeys))
			for i, k := range p.MissingKeys {
				q[i] = strconv.Quote(k)
			}
			mark, detail = "FAIL", "readable, but the entry has no key "+strings.Join(q, ", ")
		}
		fmt.Fprintf(w, "[%s] path     %s (%s): %s [%s]\n", mark, p.Path, p.APIPath, detail, strings.Join(p.Capabilities, ","))
	}
	if policy != "" {
		fmt.Fprintf(w, "\nMinimal policy:\n\n%s", policy)
	}
}
