#!/usr/bin/env bash
# scripts/bench.sh — `make bench`: every performance goal's benchmarks
# (bench/, a module of its own so that the comparison clients stay out of
# vaultly's go.mod), side by side against one real Vault dev server, COUNT
# rounds each; then bench/RESULTS.md (medians, ratios, verdicts, the load
# average before each section) and bench/scaling.svg are written from the
# output by bench/cmd/benchreport, and the raw output is copied to
# bench/results/.
#
#   scripts/bench.sh                 # COUNT=5 rounds
#   COUNT=7 OUT=/tmp/b scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-5}
OUT=${OUT:-$(mktemp -d /tmp/vaultly-bench.XXXXXX)}
GO=${GO:-go}
export COUNT
export VAULTLY_REQUIRE_VAULT=1 # a missing Vault fails instead of skipping
VAULTLY_VAULT_BIN="$(bash scripts/vault-bin.sh)"
export VAULTLY_VAULT_BIN
mkdir -p "$OUT"
: >"$OUT/loadavg.txt"

echo "$(nproc) CPUs, $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sm), $($GO version | cut -d' ' -f3)" | tee "$OUT/machine.txt"

# section NAME BENCH-REGEXP BENCHTIME [extra go test flags...]
section() {
	local name=$1 re=$2 bt=$3
	shift 3
	printf '%-22s %s\n' "$name" "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/loadavg.txt"
	(cd bench && $GO test -run '^$' -bench "$re" -benchtime "$bt" -count "$COUNT" -timeout 30m "$@" .) | tee "$OUT/$name.txt"
}

start=$(date +%s)
section uncached '^BenchmarkUncachedRead$' 1500x
section alone '^BenchmarkUncachedAlone$' 3000x -benchmem
section overhead '^BenchmarkStoreOverhead$' 300000x -benchmem
section hit '^BenchmarkHit$' 3000000x -benchmem
section churn '^BenchmarkHitAfterChurn$' 3000000x -benchmem
section fill '^BenchmarkFill1M$' 1x
section crossing10k '^BenchmarkEvictionCrossing$/^entries=10k$' 100x
section crossing100k '^BenchmarkEvictionCrossing$/^entries=100k$' 10x
section startup '^BenchmarkStartup$' 20x
section fleet '^BenchmarkFleet$' 1x
section kvread '^(BenchmarkKVRead|BenchmarkColdKey)$' 1s -benchmem
section memory '^BenchmarkMemoryPerCachedSecret$' 1x
printf '%-22s %s\n' "end" "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/loadavg.txt"
echo "benchmarks took $(($(date +%s) - start))s"

(cd bench && $GO run ./cmd/benchreport -in "$OUT" -out .)
rm -rf bench/results && mkdir -p bench/results && cp "$OUT"/*.txt bench/results/
echo
sed -n '/^## The goals/,/^## 1\./p' bench/RESULTS.md | sed '$d'
echo "written: bench/RESULTS.md, bench/scaling.svg, bench/results/ (raw: $OUT)"
