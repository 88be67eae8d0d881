#!/usr/bin/env bash
# Runs lanemesh's tests against a real Kubernetes control plane: builds the
# Kubernetes binaries (cached; see tools/build.sh), starts them
# (cluster.sh), runs the Go tests of this directory, and stops everything.
#
#   test/kubernetes/run.sh                 # all of them
#   test/kubernetes/run.sh -run TestName   # arguments go to go test
#
# Plain `go test ./...` skips these tests: they need the cluster this
# script starts.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
start=$SECONDS
"$here/tools/build.sh" >/dev/null
echo "run.sh: Kubernetes binaries ready after $((SECONDS - start))s" >&2
cd "$here"
status=0
# In the background, so that a SIGTERM or Ctrl-C here is passed on to
# cluster.sh, which then stops what it started.
"$here/cluster.sh" -- go test -count=1 -race -timeout 20m -v "$@" . &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' INT TERM
wait "$child" || status=$?
if kill -0 "$child" 2>/dev/null; then # interrupted: wait for the clean-up
	wait "$child" || true
	status=130
fi
echo "run.sh: done in $((SECONDS - start))s (exit $status)" >&2
exit "$status"
