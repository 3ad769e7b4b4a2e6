#!/usr/bin/env bash
# Installs the command-line tools the tests use when they are missing and
# this machine can install Debian packages: promtool (from the prometheus
# package; its service is kept from starting). Without it the rules test
# still parses the rules itself.
set -u
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
