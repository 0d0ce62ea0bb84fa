#!/usr/bin/env bash
# Compile the vaultly command (cmd/vaultly and internal/cli, with every
# package they import) for each platform the CLI supports, so a
# platform-specific identifier (syscall.SIGUSR1 on Windows, ...) fails CI.
# Compile only: two packages on one command line are type-checked and
# compiled, not linked, which keeps a warm run at a few seconds a target
# (a cold Go build cache costs ~40-50 s a target on these 2-core machines).
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
echo "==> cross-compile cmd/vaultly"
for target in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64; do
	start=$SECONDS
	if ! CGO_ENABLED=0 GOOS="${target%/*}" GOARCH="${target#*/}" "$GO" build ./cmd/vaultly ./internal/cli; then
		echo "cross: the CLI does not compile for $target"
		exit 1
	fi
	echo "    $target ok ($((SECONDS - start))s)"
done
