# opsflow: `make dev` runs the whole stack locally, `make test` is what CI
# runs (.ci/run). Tools are built into .bin/ (gitignored) from pinned
# versions, each only when missing, so the first run is slow and later ones
# are not.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

BIN := $(CURDIR)/.bin
# Later CLI versions fail `go install` (a replace directive in their
# go.mod); v1.5.1 embeds Temporal Server 1.29.1 and the Web UI.
TEMPORAL_CLI_VERSION := v1.5.1
STATICCHECK_VERSION := v0.8.2
WORKFLOWCHECK_VERSION := v0.6.0

# Tests and `opsflow dev` find the dev server here without PATH tweaks.
export OPSFLOW_TEMPORAL_BIN := $(BIN)/temporal

.PHONY: tools dev test lint fmt-check vet staticcheck workflowcheck unit chaos bench composecheck build clean-state temporal-server prod-test

tools: $(BIN)/temporal $(BIN)/temporal-server $(BIN)/staticcheck $(BIN)/workflowcheck

$(BIN)/temporal:
	@echo ">> building Temporal CLI $(TEMPORAL_CLI_VERSION) (about 5 minutes, once)"
	cd / && GOBIN=$(BIN) go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

# The production Temporal server, from source: temporal-server and
# temporal-sql-tool of go.temporal.io/server at the version
# tools/temporal-server/go.mod pins (a nested module, so the server's
# ~200 dependencies stay out of opsflow's go.mod), built as
# tools/temporal-server/Dockerfile builds the compose image (static, no
# cgo). internal/chaos's TestProduction runs them on PostgreSQL. About 6
# minutes cold on 2 cores, once; delete .bin/temporal-server to rebuild
# after changing tools/temporal-server/go.mod (TestProduction checks the
# version the server reports).
temporal-server: $(BIN)/temporal-server
$(BIN)/temporal-server:
	@echo ">> building Temporal server from source (tools/temporal-server; about 6 minutes, once)"
	cd tools/temporal-server && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(BIN)/temporal-sql-tool go.temporal.io/server/cmd/tools/sql
	cd tools/temporal-server && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(BIN)/temporal-server go.temporal.io/server/cmd/server

$(BIN)/staticcheck:
	cd / && GOBIN=$(BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(BIN)/workflowcheck:
	cd / && GOBIN=$(BIN) go install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)

dev: tools
	go run ./cmd/opsflow dev

build:
	go build -o bin/opsflow ./cmd/opsflow

lint: fmt-check vet staticcheck workflowcheck

test: tools lint unit prod-test composecheck

fmt-check:
	@echo ">> gofmt"
	@files="$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go'))"; \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi

vet:
	@echo ">> go vet"
	go vet ./...
	cd internal/composecheck && go vet ./...

staticcheck: $(BIN)/staticcheck
	@echo ">> staticcheck"
	$(BIN)/staticcheck ./...
	cd internal/composecheck && $(BIN)/staticcheck ./...

workflowcheck: $(BIN)/workflowcheck
	@echo ">> workflowcheck"
	$(BIN)/workflowcheck -config workflows/workflowcheck.config.yaml ./workflows/...

# Includes internal/chaos, the fault suite, with its small default counts;
# its TestProduction runs in prod-test, with a time limit of its own.
unit:
	@echo ">> go test"
	go test -count=1 -skip '^TestProduction$$' ./...

# The fault suite alone, verbose, with a summary line per scenario: real
# processes (Temporal, PostgreSQL, two workers, the API) crashed under load.
# Raise the load with OPSFLOW_CHAOS_CAPAS and OPSFLOW_CHAOS_CLIENTS; pick
# scenarios with CHAOS_RUN, e.g. make chaos CHAOS_RUN=TestChaos/postgres-60s.
CHAOS_RUN ?= TestChaos
chaos: $(BIN)/temporal
	@echo ">> fault suite"
	go test -count=1 -v ./internal/chaos/ -timeout 20m -run '$(CHAOS_RUN)'

# The production shape on this machine (README, Running in production):
# Temporal from source on PostgreSQL with 4 shards, two workers and two
# APIs under load, one of each killed, then metrics, traces, backup and
# restore, and a deleted history. About 2 minutes; part of `make test`.
# Raise the load with OPSFLOW_PROD_CAPAS and OPSFLOW_PROD_CLIENTS.
prod-test: $(BIN)/temporal $(BIN)/temporal-server
	@echo ">> production shape"
	go test -count=1 -v ./internal/chaos/ -run '^TestProduction$$' -timeout 15m

# opsflow's create + first step against a no-op Temporal workflow on one
# private stack, interleaved rounds; prints O/R0 (see README, Performance).
bench: $(BIN)/temporal
	go run ./cmd/opsflow bench

# A nested module: compose-go's dependencies stay out of the product's go.mod.
composecheck:
	@echo ">> docker-compose.yml check"
	cd internal/composecheck && go test -count=1 ./...

# Forget the local dev stack's data (PostgreSQL and Temporal state).
clean-state:
	rm -rf .opsflow
