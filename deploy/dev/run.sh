#!/usr/bin/env bash
# make run: makes sure PostgreSQL answers (deploy/dev/services.sh), builds
# bin/issuegraph and serves until Ctrl-C. On a terminal the server runs as
# the foreground job of its own, so Ctrl-C reaches the server alone: it
# shuts down gracefully, and make sees its exit status (0) instead of being
# interrupted itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/services.sh
if [ ! -x bin/issuegraph ]; then
	echo "Building bin/issuegraph (the first build compiles every dependency: about 3 minutes)"
fi
"${GO:-go}" build -o bin/issuegraph .
set +e
if [ -t 0 ] && [ -t 1 ]; then
	set -m
	bin/issuegraph serve &
	fg %1 >/dev/null
	rc=$?
else
	bin/issuegraph serve
	rc=$?
fi
if [ "$rc" = 0 ]; then
	echo "Issuegraph stopped."
else
	echo "Issuegraph stopped with exit status $rc." >&2
fi
if [ -d .data ]; then
	echo "Private services under .data/ keep running; make stop stops them."
fi
exit "$rc"
