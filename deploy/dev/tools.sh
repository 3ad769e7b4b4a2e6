#!/usr/bin/env bash
# Installs the command-line tools the tests use when they are missing:
# - the graphql-ws npm client the WebSocket conformance test drives, pinned
#   by server/wstransport/testdata/client/package-lock.json (npm ci; Node.js
#   from the nodejs Debian package when node is missing);
# - promtool, when this machine can install Debian packages (from the
#   prometheus package; its service is kept from starting). Without it the
#   rules test still parses the rules itself.
set -u
cd "$(dirname "$0")/../.."
client=server/wstransport/testdata/client
if ! command -v node >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "Installing Node.js (Debian packages nodejs, npm) for the graphql-ws conformance test"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; } >/dev/null 2>&1 \
		|| echo "note: could not install Node.js; the graphql-ws conformance test will fail"
fi
# node_modules/.installed-lock is the lock it was installed from.
if command -v npm >/dev/null 2>&1 && ! cmp -s "$client/package-lock.json" "$client/node_modules/.installed-lock"; then
	echo "Installing the graphql-ws client ($client, npm ci)"
	if npm ci --prefix "$client" --no-audit --no-fund --loglevel=error >/dev/null; then
		cp "$client/package-lock.json" "$client/node_modules/.installed-lock"
	else
		echo "note: npm ci failed in $client; the graphql-ws conformance test will fail"
	fi
fi
if command -v promtool >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "note: promtool not installed; the Prometheus rules are checked by the Go parser test only (apt-get install prometheus adds promtool)"
	exit 0
fi
echo "Installing promtool (Debian package prometheus, service not started)"
policy=/usr/sbin/policy-rc.d
created=false
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=true
fi
{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } >/dev/null 2>&1 \
	|| echo "note: could not install promtool; the rules are checked by the Go parser test only"
$created && rm -f "$policy"
exit 0
