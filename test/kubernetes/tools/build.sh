#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries the rehearsal needs (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) from the Go
# module proxy, and prints the directory that holds them.
#
# The binaries live outside the repository, in a cache directory keyed by this
# module's go.mod and go.sum: a version bump makes a new directory, an
# unchanged module reuses the old one. A cold build takes 6-10 minutes on two
# cores and fills GOCACHE with about 3 GB; a warm one only checks the files.
#
# Usage: test/kubernetes/tools/build.sh        # prints the binary directory
#        KUBE_BIN_DIR=/some/dir build.sh       # build into (or reuse) that directory
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version=v1.37.2
key="$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)"
dir="${KUBE_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lanemesh/kube-$version-$key}"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)

missing=0
for b in "${bins[@]}"; do
	[[ -x "$dir/$b" ]] || missing=1
done
if [[ $missing == 0 ]]; then
	echo "$dir"
	exit 0
fi

# The version ldflags make `kubectl version` and the apiserver's /version tell
# the truth; without them they report v0.0.0, which kubectl's version-skew
# check and some clients treat as an error.
commit=unknown
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=37 \
-X $pkg.gitCommit=$commit -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z \
-X k8s.io/client-go/pkg/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitMajor=1 \
-X k8s.io/client-go/pkg/version.gitMinor=37"

tmp="$dir.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
echo "building Kubernetes $version binaries into $dir (cold: 6-10 minutes)" >&2
start=$SECONDS
(
	cd "$here"
	# GOFLAGS from the caller (e.g. -race) must not leak into these builds.
	GOFLAGS= CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
		go.etcd.io/etcd/server/v3 \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler \
		k8s.io/kubernetes/cmd/kubectl
)
# The etcd server module's main package is its module root, so go names the
# binary after the last path element, "server".
mv "$tmp/server" "$tmp/etcd"
mkdir -p "$dir"
for b in "${bins[@]}"; do
	mv "$tmp/$b" "$dir/$b"
done
echo "built in $((SECONDS - start))s" >&2
echo "$dir"
