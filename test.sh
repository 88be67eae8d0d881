#!/usr/bin/env bash
# The test command the README gives: vet, then every test with the race
# detector. Needs only Go; modules come from the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -race -count=1 ./...
