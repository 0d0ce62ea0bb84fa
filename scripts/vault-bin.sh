#!/usr/bin/env bash
# Prints the path of the pinned Vault server binary, building it once if needed.
#
# Order: $VAULTLY_VAULT_BIN, a `vault` on PATH that reports the pinned version,
# then a cached build under ${VAULTLY_CACHE:-$HOME/.cache/vaultly}/vault-<version>/vault.
# Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=$(awk '($1=="github.com/hashicorp/vault" && $2 ~ /^v/) {print $2} ($1=="require" && $2=="github.com/hashicorp/vault") {print $3}' "$root/tools/vault/go.mod" | head -n1)
[ -n "$version" ] || { echo "vault-bin: cannot read the pinned version from tools/vault/go.mod" >&2; exit 1; }

if [ -n "${VAULTLY_VAULT_BIN:-}" ]; then
  [ -x "$VAULTLY_VAULT_BIN" ] || { echo "vault-bin: VAULTLY_VAULT_BIN=$VAULTLY_VAULT_BIN is not executable" >&2; exit 1; }
  echo "$VAULTLY_VAULT_BIN"; exit 0
fi

if command -v vault >/dev/null 2>&1; then
  if vault version 2>/dev/null | grep -qE "Vault ${version//./\\.}([ ,)+-]|$)"; then
    command -v vault; exit 0
  fi
fi

cache=${VAULTLY_CACHE:-$HOME/.cache/vaultly}/vault-$version
bin=$cache/vault
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

mkdir -p "$cache"
lock=$cache/.lock
exec 9>"$lock"
flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

echo "building Vault $version for tests, about 6 minutes the first time (cached in $cache)…" >&2
start=$(date +%s)
# go build runs in the foreground (Ctrl-C stops it); a ticker reports progress.
(
  while sleep 30; do
    echo "  still building Vault $version ($(( $(date +%s) - start ))s)…" >&2
  done
) >/dev/null &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true; rm -f "$bin.tmp"' EXIT
if ! (cd "$root/tools/vault" && go build -trimpath -o "$bin.tmp" github.com/hashicorp/vault) >&2; then
  echo "vault-bin: building Vault $version failed (see the go build output above)" >&2
  exit 1
fi
mv "$bin.tmp" "$bin"
echo "built Vault $version in $(( $(date +%s) - start ))s" >&2
echo "$bin"
