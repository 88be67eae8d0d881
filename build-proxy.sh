#!/usr/bin/env bash
# build-proxy.sh builds lanemesh-proxy, the data plane alone
# (cmd/lanemesh-proxy), the way it is shipped and measured:
#
#   - CGO_ENABLED=0: the pure-Go resolver, so no libc is mapped and no cgo
#     threads are started;
#   - -tags grpcnotrace: grpc-go without golang.org/x/net/trace, and with it
#     without html/template and text/template, which the proxy never uses;
#   - -trimpath: file names in the binary do not carry the build machine's
#     paths.
#
# A plain `go build ./cmd/lanemesh-proxy` links all of that and is about
# 4 MB bigger in memory (bench/README.md, "Proxy memory").
#
#   ./build-proxy.sh [-o OUTPUT]   build (default ./lanemesh-proxy)
#   ./build-proxy.sh --deps        list the packages that build links
#
# internal/proxycmd's tests run --deps to check that the build links none of
# the packages the flags exist to keep out.
set -euo pipefail
cd "$(dirname "$0")"

export CGO_ENABLED=0
flags=(-tags grpcnotrace -trimpath)
out=./lanemesh-proxy
case ${1:-} in
--deps)
  exec go list "${flags[@]}" -deps ./cmd/lanemesh-proxy
  ;;
-o)
  [[ $# -eq 2 ]] || { echo "usage: $0 [-o OUTPUT | --deps]" >&2; exit 2; }
  out=$2
  ;;
"") ;;
*)
  echo "usage: $0 [-o OUTPUT | --deps]" >&2
  exit 2
  ;;
esac
exec go build "${flags[@]}" -o "$out" ./cmd/lanemesh-proxy
