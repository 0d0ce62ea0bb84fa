# vaultly — the two commands a new user and CI need:
#
#   make demo   start a throwaway Vault dev server, seed it, run examples/quickstart
#   make test   everything CI checks (.ci/run calls exactly this)
#
# PKGS narrows the Go steps (default ./...), e.g. make test PKGS=./internal/testing/vaulttest/...
# The pinned Vault server is built once by scripts/vault-bin.sh (about 6 minutes)
# and cached in $${VAULTLY_CACHE:-~/.cache/vaultly}; VAULTLY_VAULT_BIN skips that.

SHELL       := /bin/bash
.SHELLFLAGS := -euo pipefail -c
GO          ?= go
PKGS        ?= ./...
TESTFLAGS   ?= -race -shuffle=on -count=1 -timeout 30m

# Steps run one after another, in the order listed, even under make -j.
.NOTPARALLEL:
.PHONY: test check demo bench deps install-deps vault fmt-check vet staticcheck tidy-check vulncheck cross gotest

## test: install what is missing, then gofmt, vet, staticcheck, tidy, govulncheck, cross-compile the CLI, go test (-race, real Vault + PostgreSQL)
test: deps fmt-check vet staticcheck tidy-check vulncheck cross gotest

## check: alias of test
check: test

## demo: build or reuse Vault, start a dev server, seed secrets, run examples/quickstart, stop the server
demo:
	@bash scripts/demo.sh

## bench: every performance goal side by side on a real Vault, COUNT=5 rounds; writes bench/RESULTS.md, bench/scaling.svg, bench/results/
bench:
	@bash scripts/bench.sh

deps: install-deps vault

## install-deps: apt-get install PostgreSQL and gcc (for -race) when missing
install-deps:
	@bash scripts/install-deps.sh

## vault: build (once) or find the pinned Vault server and print its path
vault:
	@bash scripts/vault-bin.sh >/dev/null

fmt-check:
	@echo "==> gofmt"
	@dirs="$$(echo $(PKGS) | sed 's#/\.\.\.##g')"; \
	files="$$(gofmt -l $$dirs)"; \
	if [ -n "$$files" ]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$files"; exit 1; fi

vet:
	@echo "==> go vet"
	@$(GO) vet $(PKGS)
	@if [ "$(PKGS)" = "./..." ]; then cd bench && $(GO) vet ./...; fi

staticcheck:
	@echo "==> staticcheck"
	@$(GO) tool staticcheck $(PKGS)

tidy-check:
	@echo "==> go mod tidy -diff"
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	@cd tools/vault && $(GO) mod tidy -diff || { echo "tools/vault/go.mod is not tidy: run go mod tidy there"; exit 1; }
	@cd bench && $(GO) mod tidy -diff || { echo "bench/go.mod is not tidy: run go mod tidy there"; exit 1; }

## vulncheck: govulncheck against a pinned copy of the Go vulnerability database (fails on reachable third-party vulnerabilities)
vulncheck:
	@bash scripts/vulncheck.sh

## cross: compile the vaultly CLI for linux, darwin and windows on amd64 and arm64
cross:
	@bash scripts/cross.sh

# go test runs last so its summary lines end the output (CI reads them).
gotest:
	@echo "==> go test $(TESTFLAGS) $(PKGS)"
	@bin="$$(bash scripts/vault-bin.sh)"; \
	export VAULTLY_VAULT_BIN="$$bin" VAULTLY_REQUIRE_VAULT=1 VAULTLY_SOAK=1; \
	if [ "$(PKGS)" = "./..." ]; then (cd bench && $(GO) test $(TESTFLAGS) ./...); fi; \
	$(GO) test $(TESTFLAGS) $(PKGS)
