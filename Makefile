# Issuegraph: `make run` serves the API, `make test` runs every test.
# `make help` lists every target.

GO ?= go
export ISSUEGRAPH_DEV_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/issuegraph_migrate_dev?sslmode=disable

.DEFAULT_GOAL := help

.PHONY: help run test build generate check-generated migration lint bench

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

run: ## Serve the API at http://127.0.0.1:8080/graphql with GraphiQL at / (starts PostgreSQL if needed)
	@deploy/dev/services.sh
	$(GO) run . serve

test: ## Run the whole test suite under the race detector, then every benchmark once (PostgreSQL and Redis started if needed)
	@deploy/dev/services.sh --redis
	@deploy/dev/tools.sh
	$(GO) vet ./...
	$(GO) test -race -count=1 -p 2 -timeout 15m ./...
	@# Every benchmark runs once, as a smoke test: a broken one fails the build.
	@# With -race too, so it reuses the test binaries built above.
	$(GO) test -race -count=1 -p 2 -timeout 10m -run '^$$' -bench . -benchtime 1x ./...

bench: ## Load-test three query shapes with dataloaders on and off (seeds scale 1 once; not part of make test)
	@deploy/bench/bench.sh

build: ## Build bin/issuegraph
	$(GO) build -o bin/issuegraph .

generate: ## Regenerate the ent client and the GraphQL executor
	$(GO) generate ./...

check-generated: ## Fail when `go generate ./...` changes any file
	$(GO) generate ./...
	@git diff --exit-code --stat || { echo "generated code is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain)" || { git status --porcelain; echo "go generate created files: commit them"; exit 1; }

migration: ## Write a new versioned migration from ent/schema: make migration NAME=add_x
	@test -n "$(NAME)" || { echo "usage: make migration NAME=add_something"; exit 1; }
	@deploy/dev/services.sh
	@url="$${ISSUEGRAPH_DEV_DATABASE_URL%%\?*}"; name="$${url##*/}"; \
		psql "$${url%/*}/postgres" -q -c "DROP DATABASE IF EXISTS \"$$name\"" -c "CREATE DATABASE \"$$name\""
	$(GO) run ./ent/migrate/diff.go $(NAME)
