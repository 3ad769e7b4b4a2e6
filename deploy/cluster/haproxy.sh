#!/usr/bin/env bash
# Installs HAProxy (Debian package haproxy, service not started) for
# `make cluster` when it is missing and this machine can install packages.
set -u
command -v haproxy >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "make cluster needs HAProxy: apt-get install haproxy" >&2
	exit 1
fi
echo "Installing HAProxy (Debian package haproxy; its service is not started)"
policy=/usr/sbin/policy-rc.d
created=false
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=true
fi
{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy; } >/dev/null 2>&1
rc=$?
$created && rm -f "$policy"
[ $rc = 0 ] || echo "could not install haproxy" >&2
exit $rc
