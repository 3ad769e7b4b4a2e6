#!/usr/bin/env bash
# make bench: drives the board, issue-page and deep query shapes over HTTP
# at 16 connections with wrk, with dataloaders on and off, and prints
# requests/s, p50/p95/p99 latency and SQL statements per request (one
# request on an idle server, and the mean under load from the access log).
#
# It seeds `issuegraph seed --scale 1` into its own database once (kept
# between runs), builds the binary, and starts it twice on a local port.
#
#   BENCH_DURATION   seconds per shape and mode (default 20)
#   BENCH_CONNECTIONS  concurrent connections (default 16)
#   ISSUEGRAPH_BENCH_DATABASE_URL  (default .../issuegraph_bench)
set -euo pipefail
cd "$(dirname "$0")/../.."

duration=${BENCH_DURATION:-20}
connections=${BENCH_CONNECTIONS:-16}
db_url=${ISSUEGRAPH_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/issuegraph_bench?sslmode=disable}
addr=127.0.0.1:${BENCH_PORT:-18181}
db_name=${db_url%%\?*}
db_name=${db_name##*/}

ISSUEGRAPH_DATABASE_URL="$db_url" deploy/dev/services.sh
if ! command -v wrk >/dev/null; then
	echo "installing wrk (Debian package)"
	if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi
fi

go build -o bin/issuegraph .
export ISSUEGRAPH_DATABASE_URL="$db_url" ISSUEGRAPH_DEMO_DATA=false ISSUEGRAPH_LOG_LEVEL=info \
	ISSUEGRAPH_ACCESS_TOKEN_TTL=1h ISSUEGRAPH_REQUEST_TIMEOUT=60s ISSUEGRAPH_STATEMENT_TIMEOUT=60s ISSUEGRAPH_OPERATION_QUEUE_TIMEOUT=60s ISSUEGRAPH_ADDR="$addr" \
	ISSUEGRAPH_METRICS_ADDR=off ISSUEGRAPH_RATE_LIMIT_USER=1000000000 ISSUEGRAPH_RATE_LIMIT_USER_RATE=1000000000
# The load comes from one user: the rate limit (tested on its own) would
# otherwise measure the bucket, not the query path.

admin=${db_url%%\?*}
admin=${admin%/*}/postgres
users=$(psql "${db_url%%\?*}" -tAc 'SELECT count(*) FROM users' 2>/dev/null || echo 0)
if [ "${users:-0}" = 0 ]; then
	psql "$admin" -q -c "DROP DATABASE IF EXISTS \"$db_name\"" -c "CREATE DATABASE \"$db_name\""
	echo "seeding scale 1 into $db_name (once)"
	start=$(date +%s)
	bin/issuegraph seed --scale 1
	echo "seeded in $(( $(date +%s) - start ))s"
fi

query() { # name -> GraphQL request body
	case $1 in
	board) q='{ project(organization: \"scale\", key: \"PA\") { issues(first: 20) { totalCount edges { node { key title priority assignee { name } labels { edges { node { name color } } } comments { totalCount } } } } } }' ;;
	issue) q='{ issue(key: \"PA-1\", organization: \"scale\") { key title body author { name } labels { edges { node { name } } } comments(first: 20) { totalCount edges { node { body createdAt author { name } } } } } }' ;;
	deep) q='{ organization(slug: \"scale\") { projects(first: 10) { edges { node { key issues(first: 20) { edges { node { key title assignee { name } comments(first: 5) { edges { node { body author { name } } } } } } } } } } } }' ;;
	esac
	printf '{"query":"%s"}' "$q"
}

# statements_since LOG OFFSET: mean sql_statements of the access-log lines
# written after byte OFFSET (the requests of one wrk run).
statements_since() {
	tail -c +"$(($2 + 1))" "$1" | grep -o '"sql_statements":[0-9]*' |
		awk -F: '{ s += $2; n++ } END { printf "%.1f", n ? s / n : 0 }'
}
mkdir -p deploy/bench/results

server_pid=
stop_server() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; server_pid=; }
trap stop_server EXIT

printf '%-8s %-6s %10s %9s %9s %9s %12s %12s %7s\n' mode shape "req/s" "p50 ms" "p95 ms" "p99 ms" "stmts idle" "stmts load" errors
for loaders in true false; do
	log=deploy/bench/results/server-loaders-$loaders.log
	ISSUEGRAPH_LOADERS=$loaders bin/issuegraph serve >/dev/null 2>"$log" &
	server_pid=$!
	for _ in $(seq 1 100); do curl -fs "http://$addr/healthz" >/dev/null && break; sleep 0.1; done
	token=$(curl -fs "http://$addr/graphql" -H 'Content-Type: application/json' \
		-d '{"query":"mutation { logIn(input: {email: \"user00001@seed.example\", password: \"issuegraph-seed\"}) { tokens { accessToken } } }"}' |
		sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')
	[ -n "$token" ] || { echo "could not sign in to the bench server" >&2; exit 1; }
	mode=$([ "$loaders" = true ] && echo loaders || echo naive)
	for shape in board issue deep; do
		body=$(query $shape)
		one=$(curl -fs "http://$addr/graphql" -H 'Content-Type: application/json' -H "Authorization: Bearer $token" -d "$body")
		if [[ $one == *'"errors"'* ]]; then echo "$shape failed: ${one:0:300}" >&2; exit 1; fi
		stmts=$(sed -n 's/.*"dbStatements":\([0-9]*\).*/\1/p' <<<"$one")
		offset=$(wc -c <"$log")
		result=$(BODY="$body" TOKEN="$token" wrk -t2 -c"$connections" -d"${duration}s" --timeout 30s -s deploy/bench/graphql.lua "http://$addr/graphql" | grep '^RESULT')
		read -r _ rps p50 p95 p99 errors requests non2xx <<<"$result"
		load=$(statements_since "$log" "$offset")
		printf '%-8s %-6s %10s %9s %9s %9s %12s %12s %7s\n' "$mode" "$shape" "$rps" "$p50" "$p95" "$p99" "$stmts" "$load" "$((errors + non2xx))"
	done
	stop_server
done
