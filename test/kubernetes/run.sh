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
"$here/cluster.sh" -- go test -count=1 -race -timeout 20m -v "$@" . || status=$?
echo "run.sh: done in $((SECONDS - start))s (exit $status)" >&2
exit "$status"
