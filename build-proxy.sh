#!/usr/bin/env bash
# build-proxy.sh builds lanemesh-proxy, the data plane alone
# (cmd/lanemesh-proxy), the way it is shipped and measured:
#
#   - CGO_ENABLED=0: the pure-Go resolver, so no libc is mapped and no cgo
#     threads are started;
#   - -tags grpcnotrace: grpc-go without golang.org/x/net/trace, and with it
#     without html/template and text/template, which the proxy never uses;
#   - -tags disable_pgv: go-control-plane without its protoc-gen-validate
#     files. The proxy calls none of their Validate methods (internal/xdsrules
#     checks the fields it reads), but each file's package-level regular
#     expressions and lookup tables were still compiled at start-up;
#   - -tags nethttpomithttp2: net/http without its bundled HTTP/2, about
#     0.5 MB of the binary. Nothing in the proxy speaks HTTP/2 through
#     net/http: the listeners serve HTTP/1.1 (internal/h1, whose net/http
#     server allows HTTP/1 alone), the admin listener is plain HTTP/1.1,
#     and the xDS client's gRPC has its own HTTP/2 (golang.org/x/net/http2).
#     The one client it changes is the OTLP exporter's: to an https
#     collector it sends HTTP/1.1 instead of negotiating h2, which OTLP/HTTP
#     allows and collectors accept. Code that needs net/http's HTTP/2 in the
#     proxy (an http.Transport or Server with Protocols.SetHTTP2) must drop
#     this tag, with which net/http has no HTTP/2 to give;
#   - -trimpath: file names in the binary do not carry the build machine's
#     paths.
#
# A plain `go build ./cmd/lanemesh-proxy` links all of that and is several
# MB bigger in memory (bench/README.md, "Proxy memory").
#
#   ./build-proxy.sh [-o OUTPUT]   build (default ./lanemesh-proxy)
#   ./build-proxy.sh --deps        list the packages that build links
#
# internal/proxycmd's tests run --deps to check that the build links none of
# the packages the flags exist to keep out.
set -euo pipefail
cd "$(dirname "$0")"

export CGO_ENABLED=0
flags=(-tags grpcnotrace,disable_pgv,nethttpomithttp2 -trimpath)
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
