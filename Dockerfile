# lanemesh's image: one static binary that is the control plane, the
# gateway, the sidecar and the mock app, on a base with no shell, no
# package manager and no libc (CGO_ENABLED=0 needs none).
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

# distroless/static: CA certificates, /etc/passwd with nonroot (65532), tzdata.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lanemesh /usr/local/bin/lanemesh
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/lanemesh"]
