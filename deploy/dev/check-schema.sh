#!/usr/bin/env bash
# make check-schema: fails when schema.graphql is not what the code prints
# (run make generate), or when it breaks clients of the schema on the base
# revision: SCHEMA_BASE if set, else main when this is another branch, else
# the first parent of HEAD (CI runs on main after a merge).
#
# A deliberate break passes when a commit since the base says why, on a
# line of its message of its own:  BREAKING-CHANGE-OK: <reason>
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-go}

current=$(mktemp)
old=$(mktemp)
trap 'rm -f "$current" "$old"' EXIT
"$GO" run . schema -o "$current"
if ! cmp -s "$current" schema.graphql; then
	diff -u schema.graphql "$current" | head -40 || true
	echo "schema.graphql is stale: run make generate and commit it" >&2
	exit 1
fi

base=${SCHEMA_BASE:-}
if [ -z "$base" ]; then
	branch=$(git rev-parse --abbrev-ref HEAD)
	if [ "$branch" != main ] && git rev-parse -q --verify main >/dev/null; then
		base=main
	elif git rev-parse -q --verify HEAD^1 >/dev/null; then
		base=HEAD^1
	else
		echo "schema: no earlier revision to compare with"
		exit 0
	fi
fi
if ! git show "$base:schema.graphql" >"$old" 2>/dev/null; then
	echo "schema: $base has no schema.graphql yet; nothing to compare"
	exit 0
fi
if "$GO" run . schema diff "$old"; then
	echo "schema: no change breaks clients of $base"
	exit 0
fi
reasons=$(git log --format=%B "$(git merge-base "$base" HEAD)..HEAD" | grep -E '^BREAKING-CHANGE-OK: .+' || true)
if [ -n "$reasons" ]; then
	echo "schema: breaking changes accepted by commit message:"
	echo "$reasons"
	exit 0
fi
echo "schema: these changes break clients of $base. Deprecate first (@deprecated(reason: ...)) and remove later," >&2
echo "or, for a deliberate break, add a line 'BREAKING-CHANGE-OK: <reason>' to the commit message." >&2
exit 1
