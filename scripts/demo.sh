#!/usr/bin/env bash
# make demo: build or reuse the pinned Vault, start a throwaway dev server on
# 127.0.0.1 (random port, random root token), seed example secrets with the
# vault CLI, run examples/quickstart against it, and stop the server on every
# exit path.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '==> %s\n' "$*"; }

# The demo talks only to its own server: drop the caller's VAULT_* settings.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^VAULT_' || true)

step "finding the pinned Vault server (built once, about 6 minutes the first time)"
vault_bin=$(bash scripts/vault-bin.sh)
echo "    $vault_bin"

work=$(mktemp -d "${TMPDIR:-/tmp}/vaultly-demo.XXXXXX")
vault_pid=
cleanup() {
  status=$?
  trap - EXIT INT TERM
  if [ -n "$vault_pid" ] && kill -0 "$vault_pid" 2>/dev/null; then
    step "stopping the Vault dev server (pid $vault_pid)"
    kill -TERM "$vault_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$vault_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$vault_pid" 2>/dev/null || true
    wait "$vault_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The token goes through the environment, not argv, so `ps` does not show it.
export VAULT_DEV_ROOT_TOKEN_ID="root-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
started=
for _ in 1 2 3 4 5; do
  port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ))
  port_free "$port" || continue
  step "starting vault server -dev on 127.0.0.1:$port"
  VAULT_DEV_LISTEN_ADDRESS="127.0.0.1:$port" \
    "$vault_bin" server -dev -dev-no-store-token >"$work/vault.log" 2>&1 &
  vault_pid=$!
  export VAULT_ADDR="http://127.0.0.1:$port" VAULT_TOKEN="$VAULT_DEV_ROOT_TOKEN_ID"
  # secret/config answers once the server is unsealed and has mounted KV v2.
  for _ in $(seq 1 150); do
    if ! kill -0 "$vault_pid" 2>/dev/null; then break; fi
    if "$vault_bin" read secret/config >/dev/null 2>&1; then
      started=1; break
    fi
    sleep 0.2
  done
  [ -n "$started" ] && break
  kill -KILL "$vault_pid" 2>/dev/null || true
  wait "$vault_pid" 2>/dev/null || true
  vault_pid=
done
if [ -z "$started" ]; then
  echo "demo: the Vault dev server did not start; last lines of its log:" >&2
  grep -v -E 'Root Token|Unseal Key' "$work/vault.log" | tail -n 20 >&2 || true
  exit 1
fi
unset VAULT_DEV_ROOT_TOKEN_ID
echo "    ready at $VAULT_ADDR"

step "seeding example secrets"
db_password="demo-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')"
# A multi-field entry; the password goes through stdin, not argv.
printf '{"username":"app","password":"%s"}' "$db_password" |
  "$vault_bin" kv put -mount=secret myapp/db - >/dev/null
echo "    secret/myapp/db        username, password"
# JSON from stdin keeps real JSON types: an object, a number and a bool.
"$vault_bin" kv put -mount=secret myapp/features - >/dev/null <<'JSON'
{"flags": {"beta": true, "regions": ["eu", "us"]}, "max_conns": 25, "debug": false}
JSON
echo "    secret/myapp/features  flags (JSON object), max_conns=25 (number), debug=false (bool)"

step "running examples/quickstart (VAULT_ADDR=$VAULT_ADDR)"
go run -buildvcs=false ./examples/quickstart

step "done"
