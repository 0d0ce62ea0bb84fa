//go:build ignore

// vulnfilter reads govulncheck -format json output on stdin, prints one line
// per vulnerability that this module's code reaches, and exits 1 if any of
// them is in a third-party module (standard-library findings are reported,
// not fatal: they are the toolchain's to fix). Findings in modules that are
// only required or imported, without a call path, are counted, not fatal.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
}

type message struct {
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []frame `json:"trace"`
	} `json:"finding"`
}

func main() {
	dec := json.NewDecoder(os.Stdin)
	called := map[string]string{} // "osv module" -> "module@version (fixed in …)"
	uncalled := map[string]bool{}
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "vulnfilter: bad govulncheck output:", err)
			os.Exit(2)
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 {
			continue
		}
		top := f.Trace[0]
		if top.Function == "" {
			uncalled[f.OSV] = true
			continue
		}
		called[f.OSV+" "+top.Module] = fmt.Sprintf("%s@%s (fixed in %s)", top.Module, top.Version, f.FixedVersion)
	}
	ids := make([]string, 0, len(called))
	for id := range called {
		ids = append(ids, id)
		delete(uncalled, strings.Fields(id)[0])
	}
	sort.Strings(ids)
	fatal := 0
	for _, id := range ids {
		what := "standard library: build with a patched Go toolchain"
		if len(called[id]) < 7 || called[id][:7] != "stdlib@" {
			what = "THIRD-PARTY: update the module"
			fatal++
		}
		fmt.Printf("  %s reached: %s — %s\n", strings.Fields(id)[0], called[id], what)
	}
	fmt.Printf("vulncheck: %d reachable (%d in third-party modules), %d more in dependencies without a call path\n", len(ids), fatal, len(uncalled))
	if fatal > 0 {
		os.Exit(1)
	}
}
