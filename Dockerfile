# lanemesh's image: two static binaries, lanemesh (the control plane, the
# capture init container and the mock app) and lanemesh-proxy (the gateway
# and the sidecar: the proxy alone, at about half lanemesh's memory).
#
#   docker build -t lanemesh/lanemesh:latest .
#
# The Go version follows go.mod's.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/lanemesh ./cmd/lanemesh
# The gateway and the sidecars run the slim proxy, built as build-proxy.sh
# builds it.
RUN ./build-proxy.sh -o /out/lanemesh-proxy

# A slim Debian base, not an empty one: the injected init container runs
# `lanemesh iptables`, which needs the iptables commands (as Istio's
# proxy image carries them). Everything else runs as the unprivileged
# user below; only the init container asks for root and NET_ADMIN.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd -g 65532 nonroot && useradd -u 65532 -g 65532 -M -s /usr/sbin/nologin nonroot
COPY --from=build /out/lanemesh /out/lanemesh-proxy /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/lanemesh"]
