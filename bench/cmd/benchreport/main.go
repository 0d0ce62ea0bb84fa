// Command benchreport reads the output of scripts/bench.sh (Go benchmark
// results, one file per section, and the load average recorded before
// each) and writes bench/RESULTS.md, with the medians, the ratios the
// performance goals are stated in and whether each is met, and
// bench/scaling.svg, the scaling curves.
//
//	go run ./cmd/benchreport -in /tmp/vaultly-bench.X -out . (from bench/)
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// results holds every value seen per benchmark name (without the -N CPU
// suffix) and unit.
type results map[string]map[string][]float64

func parse(path string, r results) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 || !strings.HasPrefix(fs[0], "Benchmark") {
			continue
		}
		name := fs[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		if r[name] == nil {
			r[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(fs); i += 2 {
			v, err := strconv.ParseFloat(fs[i], 64)
			if err != nil {
				continue
			}
			r[name][fs[i+1]] = append(r[name][fs[i+1]], v)
		}
	}
	return sc.Err()
}

// med is the median of name's unit, NaN if none.
func (r results) med(name, unit string) float64 {
	v := r[name][unit]
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r results) all(name, unit string) string {
	var out []string
	for _, v := range r[name][unit] {
		out = append(out, trim(v))
	}
	return strings.Join(out, " ")
}

func trim(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

type goal struct {
	what, measured, target string
	met                    bool
	known                  bool
}

func verdict(g goal) string {
	switch {
	case !g.known:
		return "not measured"
	case g.met:
		return "met"
	}
	return "**missed**"
}

func main() {
	in := flag.String("in", "", "directory with the section outputs (*.txt) and loadavg.txt")
	out := flag.String("out", ".", "directory to write RESULTS.md and scaling.svg to")
	flag.Parse()
	r := results{}
	files, _ := filepath.Glob(filepath.Join(*in, "*.txt"))
	for _, f := range files {
		if strings.HasSuffix(f, "loadavg.txt") || strings.HasSuffix(f, "machine.txt") {
			continue
		}
		if err := parse(f, r); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	machine, _ := os.ReadFile(filepath.Join(*in, "machine.txt"))
	loads, _ := os.ReadFile(filepath.Join(*in, "loadavg.txt"))
	count := os.Getenv("COUNT")

	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Benchmark results\n\n")
	p("Written by `make bench` (scripts/bench.sh, then `go run ./cmd/benchreport` in bench/) on %s. ", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	p("Every figure is the **median of %s rounds**; every benchmark of a goal runs its contenders side by side in one run (paired and shuffled in each iteration where the figure is a ratio). ", count)
	p("One real Vault v1.21.0 dev server on 127.0.0.1, shared by the Vault server, the proxies and the clients on the same CPUs; absolute times on this machine are noise, the ratios are the figures.\n\n")
	p("**Machine:** %s\n\n", strings.TrimSpace(string(machine)))
	p("**Load average** (1, 5, 15 min) before each section — the machine is shared with other engineers' builds:\n\n```\n%s```\n\n", string(loads))
	p("Raw output: [`results/`](results/).\n\n")

	// --- goals
	raw := "BenchmarkUncachedRead"
	ov := "BenchmarkStoreOverhead/paired"
	vr := r.med(raw, "vaultly/raw")
	var goals []goal
	goals = append(goals, goal{"1. uncached read p50, Store NoCache over hashivault / raw net/http", trim(vr) + "×", "≤ 1.02×", vr <= 1.02, !math.IsNaN(vr)})
	ahead := !math.IsNaN(vr) && vr < r.med(raw, "vaultapi/raw") && vr < r.med(raw, "vaultclientgo/raw") && vr < r.med(raw, "openbao/raw")
	goals = append(goals, goal{"1. … ahead of vault/api, vault-client-go, openbao api/v2", fmt.Sprintf("%s× vs %s×, %s×, %s×", trim(vr), trim(r.med(raw, "vaultapi/raw")), trim(r.med(raw, "vaultclientgo/raw")), trim(r.med(raw, "openbao/raw"))), "faster than all three", ahead, !math.IsNaN(vr)})
	en, ea := r.med(ov, "store-extra-ns"), r.med(ov, "store-extra-allocs")
	goals = append(goals, goal{"1. Store's own cost per uncached read (backend answering from memory)", fmt.Sprintf("+%s ns, +%s allocs", trim(en), trim(ea)), "≤ 500 ns, ≤ 4 allocs", en <= 500 && ea <= 4, !math.IsNaN(en)})
	na := r.med(raw, "store-extra-allocs")
	goals = append(goals, goal{"1. … the same over hashivault and a real Vault (allocs)", "+" + trim(na) + " allocs", "(≤ 4)", na <= 4, !math.IsNaN(na)})
	f1k, f1m := r.med("BenchmarkFill1M/entries=1k", "ns/insert"), r.med("BenchmarkFill1M/entries=1M", "ns/insert")
	goals = append(goals, goal{"2. fill: per-insert cost at 1M / at 1k", fmt.Sprintf("%s× (%s vs %s ns/insert)", trim(f1m/f1k), trim(f1m), trim(f1k)), "≤ 2×", f1m/f1k <= 2, !math.IsNaN(f1m)})
	hb := r.med("BenchmarkFill1M/entries=1M", "heap-B/entry")
	goals = append(goals, goal{"2. heap per small entry beyond its data, at 1M", trim(hb) + " B", "≤ 1024 B", hb <= 1024, !math.IsNaN(hb)})
	cr := r.med("BenchmarkEvictionCrossing/entries=10k", "crossing/miss-p99")
	goals = append(goals, goal{"2. the Get crossing MaxEntries (10k), p99 / ordinary miss p99", trim(cr) + "×", "≤ 2×", cr <= 2, !math.IsNaN(cr)})
	cr100 := r.med("BenchmarkEvictionCrossing/entries=100k", "crossing/miss-p99")
	goals = append(goals, goal{"2. … at 100k", trim(cr100) + "×", "≤ 2×", cr100 <= 2, !math.IsNaN(cr100)})
	h1m := r.med("BenchmarkHit/entries=1M", "sec/op")
	if math.IsNaN(h1m) {
		h1m = r.med("BenchmarkHit/entries=1M", "ns/op")
	}
	a1m := r.med("BenchmarkHit/entries=1M", "allocs/op")
	goals = append(goals, goal{"2. warm hit at 1M entries", fmt.Sprintf("%s ns, %s allocs", trim(h1m), trim(a1m)), "≤ 50 ns, 0 allocs", h1m <= 50 && a1m == 0, !math.IsNaN(h1m)})
	hc, ac := r.med("BenchmarkHitAfterChurn", "ns/op"), r.med("BenchmarkHitAfterChurn", "allocs/op")
	goals = append(goals, goal{"2. warm hit after churn of 50 × MaxEntries distinct refs", fmt.Sprintf("%s ns, %s allocs", trim(hc), trim(ac)), "≤ 50 ns, 0 allocs", hc <= 50 && ac == 0, !math.IsNaN(hc)})
	hand := r.med("BenchmarkStartup/via=hand", "ns/op")
	full := r.med("BenchmarkStartup/via=vaultly", "ns/op")
	load := r.med("BenchmarkStartup/via=vaultly-load", "ns/op")
	goals = append(goals, goal{"3. start (New + token lookup + Load of 200 fields / 40 paths) at 2 ms RTT / 40 hand-written parallel reads", trim(full/hand) + "×", "≤ 1.1×", full/hand <= 1.1, !math.IsNaN(full)})
	goals = append(goals, goal{"3. … Load alone (backend ready) / hand-written", trim(load/hand) + "×", "≤ 1.1×", load/hand <= 1.1, !math.IsNaN(load)})
	sp, fr := r.med("BenchmarkFleet", "first-renewal-spread/ttl"), r.med("BenchmarkFleet", "failed-reads")
	goals = append(goals, goal{"4. first renewals of 20 Backends started together: spread / TTL; failed reads", fmt.Sprintf("%s; %s failed", trim(sp), trim(fr)), "≥ 0.30; 0", sp >= 0.3 && fr == 0, !math.IsNaN(sp)})

	p("## The goals (issue 17)\n\n| goal | measured (median) | target | verdict |\n|---|---|---|---|\n")
	for _, g := range goals {
		p("| %s | %s | %s | %s |\n", g.what, g.measured, g.target, verdict(g))
	}
	p("\n")

	// --- details
	p("## 1. Uncached read, every client in one benchmark\n\n`BenchmarkUncachedRead`: one field of one KV v2 secret, no cache, every client once per iteration in a new random order.\n\n| client | p50 µs | / raw | rounds (ratio) |\n|---|---:|---:|---|\n")
	for _, c := range []string{"raw", "vaultly", "hashivault", "vaultapi", "vaultclientgo", "openbao"} {
		ratio := "1"
		rounds := ""
		if c != "raw" {
			ratio = trim(r.med(raw, c+"/raw"))
			rounds = r.all(raw, c+"/raw")
		}
		p("| %s | %s | %s | %s |\n", c, trim(r.med(raw, c+"-p50-ns")/1000), ratio, rounds)
	}
	p("\nraw = net/http + encoding/json; vaultly = `Store{TTL: NoCache}` over hashivault; hashivault = `Backend.Read` alone; vaultapi = vault/api `KVv2.Get`; vaultclientgo = vault-client-go v0.4.3 `KvV2Read`; openbao = openbao api/v2 v2.4.0 `KVv2.Get`.\n\n")
	p("Store's own cost, no network (`BenchmarkStoreOverhead`, backend answering from memory): ")
	p("backend Read %s ns / %s allocs; Store Get %s ns / %s allocs (context.Background: the leader runs the read itself); with a cancellable context %s ns / %s allocs (the read runs on a Store goroutine). Paired difference: **+%s ns, +%s allocs**.\n\n",
		trim(r.med("BenchmarkStoreOverhead/via=backend", "ns/op")), trim(r.med("BenchmarkStoreOverhead/via=backend", "allocs/op")),
		trim(r.med("BenchmarkStoreOverhead/via=store", "ns/op")), trim(r.med("BenchmarkStoreOverhead/via=store", "allocs/op")),
		trim(r.med("BenchmarkStoreOverhead/via=store-ctx", "ns/op")), trim(r.med("BenchmarkStoreOverhead/via=store-ctx", "allocs/op")),
		trim(en), trim(ea))

	p("## 2. A million entries\n\n| entries | warm hit ns/op | allocs | Store heap per entry beyond its data (B) |\n|---:|---:|---:|---:|\n")
	for _, n := range []string{"1", "1k", "100k", "1M"} {
		nm := "BenchmarkHit/entries=" + n
		p("| %s | %s | %s | %s |\n", n, trim(r.med(nm, "ns/op")), trim(r.med(nm, "allocs/op")), trim(r.med(nm, "heap-B/entry")))
	}
	p("\n(At 1 entry the heap figure is the Store's fixed cost, not a per-entry one.)\n\n")
	p("Fill (`BenchmarkFill1M`, each entry a miss read from memory and cached): 1k: %s ns/insert; 1M: %s ns/insert, %s B heap per entry beyond the entry's %s B of data.\n\n",
		trim(f1k), trim(f1m), trim(hb), trim(r.med("BenchmarkFill1M/entries=1M", "data-B/entry")))
	for _, n := range []string{"10k", "100k"} {
		nm := "BenchmarkEvictionCrossing/entries=" + n
		p("Eviction crossing at MaxEntries %s: ordinary miss p99 %s ns, crossing Get p99 %s ns (%s×), the 1000 misses after it p99 %s ns.\n\n", n,
			trim(r.med(nm, "miss-p99-ns")), trim(r.med(nm, "crossing-p99-ns")), trim(r.med(nm, "crossing/miss-p99")), trim(r.med(nm, "after-p99-ns")))
	}
	p("Hit after churn (`BenchmarkHitAfterChurn`, MaxEntries 10k, 500k distinct references): %s ns/op, %s allocs; %s evictions.\n\n", trim(hc), trim(ac), trim(r.med("BenchmarkHitAfterChurn", "evictions")))

	p("## 3. Startup at 2 ms RTT (200 fields, 40 paths)\n\n| how | ms | / hand-written |\n|---|---:|---:|\n")
	for _, v := range []string{"via=hand", "via=vaultly", "via=vaultly-load", "par=1", "par=4", "par=8", "par=16", "par=40"} {
		x := r.med("BenchmarkStartup/"+v, "ns/op")
		p("| %s | %s | %s |\n", v, trim(x/1e6), trim(x/hand))
	}
	p("\nvia=vaultly includes `hashivault.New` (its token lookup-self, one round trip) and the Store; via=vaultly-load and par=N are `Load` alone over a backend made before.\n\n")

	p("## 4. Fleet\n\n20 Backends with their own 6s tokens started together: first renewals spread over %s of the TTL (rounds: %s); %s first renewals seen; %s failed reads.\n\n",
		trim(sp), r.all("BenchmarkFleet", "first-renewal-spread/ttl"), trim(r.med("BenchmarkFleet", "first-renewals")), trim(fr))

	if _, ok := r["BenchmarkKVRead/via=proxy-cached"]; ok {
		p("## Against Vault Proxy and the earlier comparisons\n\n")
		px, hit := r.med("BenchmarkKVRead/via=proxy-cached", "ns/op"), r.med("BenchmarkKVRead/via=vaultly-cached", "ns/op")
		p("Vault Proxy cache hit %s µs; in-process hit %s ns: **%s×**. ", trim(px/1000), trim(hit), trim(px/hit))
		c1, c200 := r.med("BenchmarkColdKey/goroutines=1", "ns/op"), r.med("BenchmarkColdKey/goroutines=200", "ns/op")
		p("Cold key, 200 goroutines: %s Vault reads/op, wall %s× one read. ", trim(r.med("BenchmarkColdKey/goroutines=200", "vault-reads/op")), trim(c200/c1))
		p("Memory per cached secret (4 fields): %s B.\n\n", trim(r.med("BenchmarkMemoryPerCachedSecret", "B/secret")))
	}
	p("![scaling curves](scaling.svg)\n")
	if err := os.WriteFile(filepath.Join(*out, "RESULTS.md"), []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(*out, "scaling.svg"), []byte(plot(r)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
