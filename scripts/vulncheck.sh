#!/usr/bin/env bash
# make vulncheck: govulncheck against a vulnerability database built here from
# the golang.org/x/vulndb module (served by the Go module proxy), pinned below,
# so the result is the same on every machine and needs no access to vuln.go.dev.
#
# It fails when code in this module reaches a vulnerable symbol of a
# third-party module. Standard-library findings are printed but do not fail:
# they are fixed by building with a patched Go toolchain (the README says which),
# not by raising the module's go directive.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

govulncheck=golang.org/x/vuln/cmd/govulncheck@v1.9.0
vulndb_version=v0.0.0-20261105234957-e22db6528018

db=${VAULTLY_CACHE:-$HOME/.cache/vaultly}/vulndb-$vulndb_version
if [ ! -f "$db/index/db.json" ]; then
  echo "==> building the vulnerability database from golang.org/x/vulndb@$vulndb_version (once, ~1 min)" >&2
  src=$(go mod download -json "golang.org/x/vulndb@$vulndb_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { echo "vulncheck: no data/osv in golang.org/x/vulndb@$vulndb_version" >&2; exit 1; }
  tmp=$(mktemp -d "${db}.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$db")"; mktemp -d "${db}.tmp.XXXXXX"; })
  trap 'rm -rf "$tmp"' EXIT
  rmdir "$tmp"
  go run "golang.org/x/vulndb/cmd/indexdb@$vulndb_version" -vulns "$src/data/osv" -out "$tmp"
  rm -rf "$db"
  mv "$tmp" "$db"
fi

echo "==> govulncheck ($govulncheck, database $vulndb_version)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# govulncheck exits 3 when it finds anything; the filter decides.
go run "$govulncheck" -db "file://$db" -format json ./... >"$out" || true
go run scripts/vulnfilter.go <"$out"
