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

test: ## Run the whole test suite against real PostgreSQL and Redis (started if needed)
	@deploy/dev/services.sh --redis
	@deploy/dev/tools.sh
	$(GO) vet ./...
	$(GO) test -count=1 -p 2 -timeout 15m ./...

bench: ## Issuegraph side by side with PostGraphile 5 on the same seeded data: three query shapes, CPU per request (not part of make test)
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
