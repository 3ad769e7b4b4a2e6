#!/usr/bin/env bash
# ab.sh BINARY_A BINARY_B: two Issuegraph builds side by side on the bench
# database, to measure what a change does (make bench compares one build
# with the peer). Both run as make bench runs Issuegraph (production mode,
# the bench user's rate limit lifted), each with its own application_name;
# for BENCH_ROUNDS rounds, each shape runs on both, alternating which goes
# first, each after a 2 s warm-up, with wrk at 16 connections. Per run it
# prints requests/s, p99, errors, server CPU and PostgreSQL CPU per request
# (utime+stime from /proc, as make bench reads them: a backend opened
# during the run counts from zero) and the load average.
#
#   deploy/bench/ab.sh /tmp/issuegraph-before bin/issuegraph
#
#   BENCH_SHAPES    shapes to run (default "board issue deep")
#   BENCH_DURATION  seconds per run (default 10)
#   BENCH_ROUNDS    rounds (default 3)
#   ISSUEGRAPH_BENCH_DATABASE_URL  (default .../issuegraph_bench, seeded by make bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# = 2 ] || { echo "usage: $0 BINARY_A BINARY_B" >&2; exit 2; }

shapes=${BENCH_SHAPES:-board issue deep}
duration=${BENCH_DURATION:-10}
rounds=${BENCH_ROUNDS:-3}
db_url=${ISSUEGRAPH_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/issuegraph_bench?sslmode=disable}
db_base=${db_url%%\?*}
admin=${db_base%/*}/postgres
binaries=("$1" "$2")
mkdir -p deploy/bench/results
ports=(18191 18192)
clk=$(getconf CLK_TCK)
command -v wrk >/dev/null || { echo "wrk is missing: make bench installs it" >&2; exit 1; }

proc_ticks() { # PID: utime+stime of the process, in clock ticks
	local f
	f=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	f=${f##*) }
	read -r -a a <<<"$f"
	echo $((a[11] + a[12]))
}
backend_ticks() { # APP: "pid:ticks ..." of that application's backends
	local pid
	for pid in $(psql "$admin" -tAc "SELECT pid FROM pg_stat_activity WHERE application_name = '$1'"); do
		echo -n "$pid:$(proc_ticks "$pid") "
	done
}
ticks_between() { # BEFORE AFTER: ticks the backends listed after spent since before
	awk -v before="$1" -v after="$2" 'BEGIN {
		n = split(before, b, " "); for (i = 1; i <= n; i++) { split(b[i], kv, ":"); was[kv[1]] = kv[2] }
		n = split(after, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, ":"); t += kv[2] - was[kv[1]] }
		print t + 0 }'
}

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
tokens=()
for i in 0 1; do
	ISSUEGRAPH_ENV=production ISSUEGRAPH_DATABASE_URL="$db_url&application_name=issuegraph-ab$i" \
		ISSUEGRAPH_ADDR=127.0.0.1:${ports[$i]} ISSUEGRAPH_METRICS_ADDR=off \
		ISSUEGRAPH_JWT_SECRET="ab-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
		ISSUEGRAPH_DEMO_DATA=false ISSUEGRAPH_AUTO_MIGRATE=false \
		ISSUEGRAPH_RATE_LIMIT_USER=1000000000 ISSUEGRAPH_RATE_LIMIT_USER_RATE=1000000000 \
		"${binaries[$i]}" serve >/dev/null 2>"deploy/bench/results/ab$i.log" &
	pids+=($!)
	for _ in $(seq 1 300); do curl -fs -o /dev/null "http://127.0.0.1:${ports[$i]}/healthz" && break; sleep 0.1; done
	tokens+=("$(curl -fs "http://127.0.0.1:${ports[$i]}/graphql" -H 'Content-Type: application/json' \
		-d '{"query":"mutation { logIn(input: {email: \"user00001@seed.example\", password: \"issuegraph-seed\"}) { tokens { accessToken } } }"}' |
		sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')")
	[ -n "${tokens[$i]}" ] || { echo "could not sign in to ${binaries[$i]}" >&2; exit 1; }
done

echo "# binary shape round req/s p99_ms errors server_cpu_ms/req pg_cpu_ms/req loadavg"
for round in $(seq 1 "$rounds"); do
	for shape in $shapes; do
		body=$(python3 deploy/bench/shapes.py query "$shape" ours)
		order=(0 1)
		[ $((round % 2)) = 0 ] && order=(1 0)
		for i in "${order[@]}"; do
			url=http://127.0.0.1:${ports[$i]}/graphql
			BODY="$body" TOKEN="${tokens[$i]}" wrk -t2 -c16 -d2s --timeout 30s -s deploy/bench/graphql.lua "$url" >/dev/null
			cpu0=$(proc_ticks "${pids[$i]}")
			pg0=$(backend_ticks "issuegraph-ab$i")
			result=$(BODY="$body" TOKEN="${tokens[$i]}" wrk -t2 -c16 -d"${duration}s" --timeout 30s -s deploy/bench/graphql.lua "$url" | grep '^RESULT')
			cpu1=$(proc_ticks "${pids[$i]}")
			pg1=$(backend_ticks "issuegraph-ab$i")
			read -r _ rps _ _ p99 errors requests non2xx <<<"$result"
			awk -v b="${binaries[$i]}" -v s="$shape" -v r="$round" -v rps="$rps" -v p99="$p99" -v e=$((errors + non2xx)) \
				-v cpu=$((cpu1 - cpu0)) -v pg="$(ticks_between "$pg0" "$pg1")" -v n="$requests" -v clk="$clk" \
				-v la="$(cut -d' ' -f1 /proc/loadavg)" \
				'BEGIN { printf "%s %s %s %.1f %.1f %d %.3f %.3f %s\n", b, s, r, rps, p99, e, cpu * 1000 / clk / n, pg * 1000 / clk / n, la }'
		done
	done
done
