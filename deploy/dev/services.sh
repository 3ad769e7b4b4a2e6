#!/usr/bin/env bash
# Makes sure PostgreSQL (and, with --redis, Redis) answer where Issuegraph
# expects them. When nothing answers and the server binaries are installed,
# it starts a private instance under .data/ instead of failing; when they
# are not installed it says, in one line, what to install or set.
#
#   deploy/dev/services.sh            PostgreSQL only (make run)
#   deploy/dev/services.sh --redis    PostgreSQL and Redis (make test)
#   deploy/dev/services.sh --stop     stop the private instances under .data/ (make stop)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
data="$root/.data"

want_redis=false
[ "${1:-}" = "--redis" ] && want_redis=true

if [ "${1:-}" = "--stop" ]; then
	stopped=0
	if [ -f "$data/postgres/postmaster.pid" ]; then
		bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
		pg_ctl=$(command -v pg_ctl || echo "$bindir/pg_ctl")
		as=()
		[ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
		"${as[@]}" "$pg_ctl" -D "$data/postgres" -m fast -w stop >/dev/null && echo "Stopped the private PostgreSQL (.data/postgres)" && stopped=1
	fi
	if [ -f "$data/redis/redis.pid" ]; then
		pid=$(cat "$data/redis/redis.pid")
		if kill "$pid" 2>/dev/null; then
			for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			echo "Stopped the private Redis (.data/redis)"
			stopped=1
		fi
		rm -f "$data/redis/redis.pid"
	fi
	[ "$stopped" = 1 ] || echo "No private PostgreSQL or Redis is running under .data/"
	exit 0
fi

db_url="${ISSUEGRAPH_TEST_DATABASE_URL:-${ISSUEGRAPH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/issuegraph}}"
redis_url="${ISSUEGRAPH_TEST_REDIS_URL:-${ISSUEGRAPH_REDIS_URL:-redis://127.0.0.1:6379/0}}"

# host_port URL DEFAULT_PORT prints "host port" of a postgres:// or redis:// URL.
host_port() {
	local rest=${1#*://}
	rest=${rest#*@}
	rest=${rest%%/*}
	rest=${rest%%\?*}
	local host=${rest%%:*} port=$2
	[[ $rest == *:* ]] && port=${rest##*:}
	[ -z "$host" ] && host=127.0.0.1
	echo "$host $port"
}

answers() { # host port
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_for() { # what host port
	for _ in $(seq 1 100); do
		answers "$2" "$3" && return 0
		sleep 0.1
	done
	echo "issuegraph: $1 started but does not answer on $2:$3; see $data" >&2
	exit 1
}

read -r pg_host pg_port < <(host_port "$db_url" 5432)
if ! answers "$pg_host" "$pg_port"; then
	bindir=""
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		bindir=$(dirname "$(command -v initdb)")
	else
		bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	fi
	if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
		echo "issuegraph: nothing answers at $pg_host:$pg_port and no PostgreSQL server is installed: install one (apt-get install postgresql) or set ISSUEGRAPH_DATABASE_URL" >&2
		exit 1
	fi
	if [ "$pg_host" != "127.0.0.1" ] && [ "$pg_host" != "localhost" ]; then
		echo "issuegraph: nothing answers at $pg_host:$pg_port; a private cluster can only be started on 127.0.0.1 (set ISSUEGRAPH_DATABASE_URL)" >&2
		exit 1
	fi
	pgdata="$data/postgres"
	mkdir -p "$pgdata"
	# PostgreSQL refuses to run as root: run it as the postgres user then.
	as=()
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || useradd --system --home-dir "$pgdata" postgres
		chown -R postgres "$data/postgres"
		chmod o+x "$root" "$data" 2>/dev/null || true
		as=(runuser -u postgres --)
	fi
	if [ ! -f "$pgdata/PG_VERSION" ]; then
		echo "Starting a private PostgreSQL cluster in .data/postgres (port $pg_port)"
		"${as[@]}" "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 >"$data/initdb.log"
	fi
	"${as[@]}" "$bindir/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w \
		-o "-p $pg_port -c listen_addresses=127.0.0.1 -k $pgdata -c fsync=off" start >/dev/null
	wait_for PostgreSQL "$pg_host" "$pg_port"
fi

if $want_redis; then
	read -r r_host r_port < <(host_port "$redis_url" 6379)
	if ! answers "$r_host" "$r_port"; then
		if ! command -v redis-server >/dev/null 2>&1; then
			echo "issuegraph: nothing answers at $r_host:$r_port and redis-server is not installed: install it (apt-get install redis-server) or set ISSUEGRAPH_TEST_REDIS_URL" >&2
			exit 1
		fi
		mkdir -p "$data/redis"
		echo "Starting a private Redis in .data/redis (port $r_port)"
		redis-server --daemonize yes --bind 127.0.0.1 --port "$r_port" --save "" --appendonly no \
			--dir "$data/redis" --logfile "$data/redis/redis.log" --pidfile "$data/redis/redis.pid" >/dev/null
		wait_for Redis "$r_host" "$r_port"
	fi
fi
