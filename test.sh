#!/usr/bin/env bash
# The test command the README gives: gofmt, vet, every test with the race
# detector, the Istio conformance module, then the Kubernetes rehearsal.
# Needs only Go; modules come from the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -race -count=1 ./...
# Agreement with Istio's own validation, in a module of its own so that
# Istio's dependencies stay out of lanemesh's go.mod (conformance/doc.go).
(cd conformance && go vet ./... && go test -count=1 -v ./...)
# The Kubernetes rehearsal: real etcd, kube-apiserver, controller manager
# and scheduler, built from the Go module proxy into a cache outside the
# repository (the first run builds them: 10 minutes or more on two cores),
# with lanemesh node running the pods (test/kubernetes/run.sh).
test/kubernetes/run.sh
