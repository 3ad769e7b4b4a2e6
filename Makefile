# Issuegraph: `make run` serves the API, `make test` runs every test.
# `make help` lists every target.

GO ?= go
export ISSUEGRAPH_DEV_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/issuegraph_migrate_dev?sslmode=disable

.DEFAULT_GOAL := help

.PHONY: help run stop test build generate graphiql check-generated check-schema migration bench cluster chaos

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

run: ## Serve the API at http://127.0.0.1:8080/graphql with GraphiQL at / (starts PostgreSQL if needed); Ctrl-C stops it
	@GO=$(GO) deploy/dev/run.sh

stop: ## Stop the private PostgreSQL and Redis that make run / make test started under .data/
	@deploy/dev/services.sh --stop

test: ## Run the whole test suite under the race detector, then every benchmark once (PostgreSQL and Redis started if needed)
	@deploy/dev/services.sh --redis
	@deploy/dev/tools.sh
	$(GO) vet ./...
	$(GO) test -race -count=1 -p 2 -timeout 15m ./...
	@# Every benchmark runs once, as a smoke test: a broken one fails the build.
	@# With -race too, so it reuses the test binaries built above.
	$(GO) test -race -count=1 -p 2 -timeout 10m -run '^$$' -bench . -benchtime 1x ./...
	@# deploy/k8s is a module of its own (the Kubernetes and kustomize
	@# libraries stay out of the server's dependencies): test it too.
	cd deploy/k8s && $(GO) vet ./... && $(GO) test -count=1 -timeout 15m ./...

cluster: ## Three instances behind HAProxy sharing PostgreSQL and Redis; prints a table of scale-out scenarios (not part of make test)
	@deploy/dev/services.sh --redis
	@deploy/cluster/haproxy.sh
	$(GO) test -tags cluster -count=1 -v -timeout 20m -run TestCluster ./deploy/cluster/

chaos: ## Fault suite: own PostgreSQL and Redis, two instances, outages, SIGTERM, kill -9, a soak (CHAOS_SOAK=3m); prints a table (not part of make test)
	@uptime
	$(GO) test -tags chaos -count=1 -v -timeout 30m -run TestChaos ./deploy/chaos/
	@uptime

bench: ## Issuegraph side by side with PostGraphile 5 on the same seeded data: three query shapes, CPU per request (not part of make test)
	@deploy/bench/bench.sh

build: ## Build bin/issuegraph
	$(GO) build -o bin/issuegraph .

generate: ## Regenerate the ent client, the GraphQL executor, schema.graphql and the Kubernetes PrometheusRule
	$(GO) generate ./...
	cd deploy/k8s && $(GO) generate ./...

graphiql: ## Rebuild GraphiQL's bundle (server/graphiql/dist, committed) from the npm versions pinned in server/graphiql/web
	cd server/graphiql/web && npm ci --no-audit --no-fund && node build.mjs

check-generated: ## Fail when `go generate ./...` (or `go mod tidy` of deploy/k8s) changes any file
	$(GO) generate ./...
	cd deploy/k8s && $(GO) generate ./... && $(GO) mod tidy
	@git diff --exit-code --stat || { echo "generated code is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain)" || { git status --porcelain; echo "go generate created files: commit them"; exit 1; }

check-schema: ## Fail when schema.graphql is stale or breaks clients of main's (override: BREAKING-CHANGE-OK: in a commit message)
	@GO=$(GO) deploy/dev/check-schema.sh

migration: ## Write a new versioned migration from ent/schema: make migration NAME=add_x
	@test -n "$(NAME)" || { echo "usage: make migration NAME=add_something"; exit 1; }
	@deploy/dev/services.sh
	@url="$${ISSUEGRAPH_DEV_DATABASE_URL%%\?*}"; name="$${url##*/}"; \
		psql "$${url%/*}/postgres" -q -c "DROP DATABASE IF EXISTS \"$$name\"" -c "CREATE DATABASE \"$$name\""
	$(GO) run ./ent/migrate/diff.go $(NAME)
