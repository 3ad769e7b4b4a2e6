#!/usr/bin/env bash
# Installs the tools some tests drive, when they are missing and this
# machine can install them; each is optional on a developer's machine (the
# tests that need it are skipped there) and required in CI (CI=true):
#   - promtool (Debian package prometheus; its service is kept from
#     starting). Without it the rules test still parses the rules itself.
#   - buildah (Debian package): the image test builds the runtime stage of
#     deploy/Dockerfile and runs the binary from the image.
#   - Node packages pinned in deploy/dev/js/package-lock.json: graphql-http
#     (the GraphQL-over-HTTP audit) and playwright-core (drives Chromium).
#   - chromium (Debian package) for the GraphiQL browser test.
#   - the graphql-ws npm client the WebSocket conformance test drives,
#     pinned by server/realtime/wstransport/testdata/client/package-lock.json.
set -u
cd "$(dirname "$0")"
root=$(id -u)

apt_install() { # what package...
	local what=$1
	shift
	if [ "$root" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "note: $what not installed; the tests that need it are skipped (apt-get install $*)"
		return 0
	fi
	echo "Installing $what (Debian package $*)"
	local policy=/usr/sbin/policy-rc.d created=false
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=true
	fi
	if [ -z "${apt_updated:-}" ]; then
		apt-get update -qq >/dev/null 2>&1
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
		|| echo "note: could not install $what; the tests that need it are skipped"
	$created && rm -f "$policy"
}

command -v promtool >/dev/null 2>&1 || apt_install promtool prometheus
command -v buildah >/dev/null 2>&1 || apt_install buildah buildah
command -v chromium >/dev/null 2>&1 || apt_install chromium chromium
command -v npm >/dev/null 2>&1 || apt_install "node and npm" nodejs npm

# npm ci only when a lockfile changed since the last install.
npm_ci() { # DIR WHAT
	local stamp=$1/node_modules/.package-lock.sha256 want
	want=$(sha256sum "$1/package-lock.json" | cut -d' ' -f1)
	if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
		echo "Installing $2 ($1, npm ci)"
		if (cd "$1" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
			echo "$want" >"$stamp"
		else
			echo "note: npm ci failed in $1; the tests that need it fail in CI"
		fi
	fi
}
if command -v npm >/dev/null 2>&1; then
	npm_ci js "the GraphQL-over-HTTP audit and browser test's Node packages"
	npm_ci ../../server/realtime/wstransport/testdata/client "the graphql-ws client"
fi
exit 0
