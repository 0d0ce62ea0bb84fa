#!/usr/bin/env bash
# Installs Debian's postgresql package when no PostgreSQL server binaries are
# present (/usr/lib/postgresql/*/bin/initdb). The tests start their own
# throwaway clusters (internal/vaulttest); nothing here configures a server.
set -euo pipefail

if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "postgres-install: PostgreSQL is missing and this needs root (or sudo) to run: apt-get install -y postgresql" >&2
    exit 1
  fi
  sudo=(sudo)
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "postgres-install: PostgreSQL is missing and apt-get is not available; install PostgreSQL server binaries under /usr/lib/postgresql/<version>/bin" >&2
  exit 1
fi

echo "installing PostgreSQL with apt-get (once)…" >&2
# The tests make their own clusters; ask Debian not to create and start the
# default "main" cluster on port 5432.
"${sudo[@]}" mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' | "${sudo[@]}" tee /etc/postgresql-common/createcluster.d/vaultly-no-main.conf >/dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || {
  echo "postgres-install: apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb exists" >&2
  exit 1
}
echo "installed $(ls -d /usr/lib/postgresql/*/bin | tail -n1)" >&2
