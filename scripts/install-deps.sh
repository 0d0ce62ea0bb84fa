#!/usr/bin/env bash
# Installs, with apt-get, what `make test` needs beyond Go and is missing:
#   - PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): the tests
#     start their own throwaway clusters (internal/testing/vaulttest);
#   - a C compiler (gcc), which `go test -race` needs.
# Does nothing when both are present.
set -euo pipefail

pkgs=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || pkgs+=(postgresql)
command -v gcc >/dev/null 2>&1 || pkgs+=(gcc libc6-dev)
[ "${#pkgs[@]}" -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: missing ${pkgs[*]}; installing needs root (or sudo): apt-get install -y ${pkgs[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${pkgs[*]} and apt-get is not available; install them with your package manager (PostgreSQL server binaries under /usr/lib/postgresql/<version>/bin)" >&2
  exit 1
fi

echo "installing ${pkgs[*]} with apt-get (once)…" >&2
if [[ " ${pkgs[*]} " == *" postgresql "* ]]; then
  # The tests make their own clusters; ask Debian not to create and start the
  # default "main" cluster on port 5432.
  "${sudo[@]}" mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' | "${sudo[@]}" tee /etc/postgresql-common/createcluster.d/vaultly-no-main.conf >/dev/null
fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2

compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || {
  echo "install-deps: apt-get ran but no /usr/lib/postgresql/*/bin/initdb exists" >&2
  exit 1
}
command -v gcc >/dev/null 2>&1 || { echo "install-deps: apt-get ran but gcc is still missing" >&2; exit 1; }
echo "installed ${pkgs[*]}" >&2
