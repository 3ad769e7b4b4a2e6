#!/usr/bin/env bash
# Installs the command-line tools the tests use when they are missing and
# this machine can install Debian packages:
#   promtool (package prometheus; its service is kept from starting): the
#            rules test also runs `promtool check rules`;
#   buildah  (package buildah): the image test builds the runtime stage of
#            deploy/Dockerfile and runs the binary from the image.
# Without them those checks are skipped and the rest still runs.
set -u
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
if [ ${#missing[@]} = 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "note: ${missing[*]} not installed (apt-get install ${missing[*]}); the checks that need them are skipped"
	exit 0
fi
echo "Installing ${missing[*]} (Debian packages; no service is started)"
policy=/usr/sbin/policy-rc.d
created=false
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=true
fi
{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null 2>&1 \
	|| echo "note: could not install ${missing[*]}; the checks that need them are skipped"
$created && rm -f "$policy"
exit 0
