#!/usr/bin/env bash
# Fails when proto/ breaks the wire contract of any recent state of main (buf breaking, WIRE).
#
# CI runs on a fresh clone of main whose tip already holds the submission, possibly many
# commits long, so "the previous commit" is not one commit: proto/ as it stands is compared
# with proto/ at each of the last $DEPTH first-parent commits that changed it (HEAD's own
# line; on a branch that includes the commits of main it started from). A breaking change
# anywhere in the submission then fails against the state before it.
#   BUF_AGAINST=<git ref>   compare with that one commit instead (e.g. origin/main)
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=tools/node_modules/.bin/buf
DEPTH=${BUF_BREAKING_DEPTH:-20}

if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
    # A shallow clone hides the states to compare with; deepen it rather than pass blind.
    git fetch --quiet --deepen=200 || echo "buf-breaking: shallow clone and no way to deepen it" >&2
fi
if [ -n "${BUF_AGAINST:-}" ]; then
    refs=$(git rev-parse --verify "${BUF_AGAINST}^{commit}")
else
    refs=$(git log --first-parent --format=%H -n "$DEPTH" HEAD -- proto)
fi
if [ -z "$refs" ]; then
    echo "buf-breaking: no earlier commit holds proto/; nothing to compare with"
    exit 0
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
for ref in $refs; do
    mkdir -p "$scratch/$ref"
    git archive "$ref" proto | tar -x -C "$scratch/$ref"
    if ! (cd proto && "../$BUF" breaking . --against "$scratch/$ref/proto"); then
        echo "buf-breaking: proto/ breaks the contract of $(git log -1 --format='%h %s' "$ref")" >&2
        failed=1
        break  # the most recent state that breaks says it all; older ones repeat it
    fi
done
[ "$failed" = 0 ] && echo "buf-breaking: proto/ keeps the wire contract of $(wc -w <<<"$refs") earlier states"
exit "$failed"
