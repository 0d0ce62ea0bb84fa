#!/usr/bin/env bash
# scripts/bench.sh — vaultly's comparison benchmarks, side by side in one run
# against one real Vault dev server (and a Vault Proxy from the same binary),
# then a benchstat summary and the ratios the design targets.
#
#   scripts/bench.sh                 # COUNT=6 runs of each benchmark
#   COUNT=10 OUT=/tmp/b scripts/bench.sh
#
# Raw benchstat-friendly output is kept in $OUT (default: a new temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-6}
OUT=${OUT:-$(mktemp -d /tmp/vaultly-bench.XXXXXX)}
GO=${GO:-go}
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da
export VAULTLY_REQUIRE_VAULT=1 # a missing Vault fails instead of skipping

bash scripts/vault-bin.sh >/dev/null
mkdir -p "$OUT"

echo "== machine: $(nproc) CPUs, $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sm), $($GO version | cut -d' ' -f3), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/machine.txt"

echo "== KV read, Load, cold key (bench/)"
$GO test ./bench -run '^$' -bench '^(BenchmarkKVRead|BenchmarkLoad50|BenchmarkColdKey)$' -benchmem -count "$COUNT" -timeout 30m | tee "$OUT/bench.txt"
echo "== uncached vaultly vs vault/api, paired in every iteration (bench/)"
$GO test ./bench -run '^$' -bench '^BenchmarkKVReadPaired$' -benchtime 3000x -count "$COUNT" -timeout 30m | tee "$OUT/paired.txt"
echo "== memory per cached secret (bench/, one fill per run)"
$GO test ./bench -run '^$' -bench '^BenchmarkMemoryPerCachedSecret$' -benchtime 1x -count "$COUNT" -timeout 30m | tee "$OUT/memory.txt"
echo "== transit (transit/)"
$GO test ./transit -run '^$' -bench . -benchmem -count "$COUNT" -timeout 30m | tee "$OUT/transit.txt"

echo
echo "== benchstat"
BENCHSTAT=("$GO" run "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION")
{
	"${BENCHSTAT[@]}" -col /via -filter '.name:KVRead' "$OUT/bench.txt" &&
		"${BENCHSTAT[@]}" -col /via -row /rtt -filter '.name:Load50' "$OUT/bench.txt" &&
		"${BENCHSTAT[@]}" -col /goroutines -filter '.name:ColdKey' "$OUT/bench.txt" &&
		"${BENCHSTAT[@]}" "$OUT/paired.txt" &&
		"${BENCHSTAT[@]}" "$OUT/memory.txt" &&
		"${BENCHSTAT[@]}" -col /via "$OUT/transit.txt"
} | tee "$OUT/benchstat.txt" || echo "(benchstat failed; raw results in $OUT)"

# Medians per benchmark and unit, then the ratios the design sets targets for.
echo
echo "== ratios (medians of $COUNT runs)"
cat "$OUT/bench.txt" "$OUT/paired.txt" "$OUT/memory.txt" "$OUT/transit.txt" | awk '
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) { key = name SUBSEP $(i+1); n[key]++; v[key, n[key]] = $i }
}
function median(key,   m, i, j, t, a) {
	m = n[key]; if (m == 0) return "none"
	for (i = 1; i <= m; i++) a[i] = v[key, i] + 0
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function ns(b) { return median(b SUBSEP "ns/op") }
function max(key,   m, i, x) {
	m = n[key]; if (m == 0) return "none"
	x = v[key, 1] + 0
	for (i = 2; i <= m; i++) if (v[key, i] + 0 > x) x = v[key, i] + 0
	return x
}
function ok(x) { return x != "none" && x > 0 }
function line(label, x, target) { if (x != "none") printf "%-66s %12.3f   (target %s)\n", label, x, target }
END {
	api = ns("BenchmarkKVRead/via=vaultapi"); nc = ns("BenchmarkKVRead/via=vaultly-nocache")
	hit = ns("BenchmarkKVRead/via=vaultly-cached"); px = ns("BenchmarkKVRead/via=proxy-cached")
	printf "%-66s %12.0f\n", "vault/api KVv2 Get, ns/op", api
	printf "%-66s %12.0f\n", "vaultly uncached Get, ns/op", nc
	printf "%-66s %12.1f\n", "vaultly cached hit, ns/op", hit
	printf "%-66s %12.0f\n", "Vault Proxy cache hit, ns/op", px
	if (ok(api) && ok(nc)) line("uncached vaultly overhead over vault/api, separate runs, %", (nc / api - 1) * 100, "<= 5")
	pr = median("BenchmarkKVReadPaired" SUBSEP "vaultly/vaultapi")
	if (ok(pr)) line("uncached vaultly overhead over vault/api, paired p50, %", (pr - 1) * 100, "<= 5")
	if (ok(hit) && ok(px)) line("Vault Proxy hit / in-process hit, x", px / hit, ">= 1000")
	split("rtt=0 rtt=2ms", rtts, " ")
	for (r = 1; r <= 2; r++) {
		l = ns("BenchmarkLoad50/" rtts[r] "/via=vaultly-load"); s = ns("BenchmarkLoad50/" rtts[r] "/via=vaultapi-sequential")
		if (ok(l) && ok(s)) line("Load 50 fields (" rtts[r] "): 50 sequential vault/api reads / Load, x", s / l, ">= 10")
	}
	line("Load of 50 fields, Vault reads/op", median("BenchmarkLoad50/rtt=0/via=vaultly-load" SUBSEP "vault-reads/op"), "10")
	c1 = ns("BenchmarkColdKey/goroutines=1"); c200 = ns("BenchmarkColdKey/goroutines=200")
	if (ok(c1) && ok(c200)) line("cold key: 200 goroutines / 1 goroutine wall time, x", c200 / c1, "<= 2")
	line("cold key, 200 goroutines: Vault reads/op (median)", median("BenchmarkColdKey/goroutines=200" SUBSEP "vault-reads/op"), "1")
	line("cold key, 200 goroutines: Vault reads/op (worst run)", max("BenchmarkColdKey/goroutines=200" SUBSEP "vault-reads/op"), "1")
	line("memory per cached secret (4 fields), bytes", median("BenchmarkMemoryPerCachedSecret" SUBSEP "B/secret"), "<= 2048")
	te = ns("BenchmarkEncrypt/via=vaultapi"); tv = ns("BenchmarkEncrypt/via=vaultly")
	if (ok(te) && ok(tv)) line("transit encrypt: vaultly over vault/api, %", (tv / te - 1) * 100, "-")
}' | tee "$OUT/ratios.txt"
echo
echo "raw results: $OUT"
