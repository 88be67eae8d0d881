#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries the rehearsal needs (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) from the Go
# module proxy, and prints the directory that holds them.
#
# The binaries live outside the repository, in a cache directory keyed by this
# module's go.mod and go.sum and this script: a version bump makes a new
# directory, an unchanged module reuses the old one. A cold build takes 6-10
# minutes on two idle cores (45 on two cores shared with other builds) and
# fills GOCACHE with about 3 GB; a warm one only checks the files.
#
# One change to Kubernetes, and nothing else:
# kube-apiserver accepts loopback addresses in EndpointSlices. Upstream
# refuses them (ValidateEndpointIP), but lanemesh node's pods live on
# 127.0.x.y, as up's do, since this machine may send traffic nowhere else;
# without the change the EndpointSlice controller could list no pod.
#
# Usage: test/kubernetes/tools/build.sh        # prints the binary directory
#        KUBE_BIN_DIR=/some/dir build.sh       # build into (or reuse) that directory
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version=v1.37.2
key="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-12)"
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
	export GOFLAGS= CGO_ENABLED=0
	# The module cache is read-only, and go build -overlay refuses to
	# replace files in it, so kube-apiserver builds against a tree of
	# symlinks to k8s.io/kubernetes's files with the one file patched,
	# through a temporary go.mod that replaces the module with that tree.
	# With -trimpath the build cache keys packages by module path and
	# version, not directory, so only the patched package and its
	# dependents compile again.
	# go mod download, not go list -m: a module cache without the module
	# (a fresh machine) makes go list -m print an empty directory.
	orig="$(go mod download -json k8s.io/kubernetes | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	if [[ -z $orig || ! -d $orig ]]; then
		echo "build.sh: go mod download k8s.io/kubernetes gave no module directory" >&2
		exit 1
	fi
	cp -rs "$orig" "$tmp/kubernetes"
	find "$tmp/kubernetes" -type d -exec chmod u+w {} +
	file=pkg/apis/discovery/validation/validation.go
	rm "$tmp/kubernetes/$file"
	sed 's/apivalidation\.ValidateEndpointIP(/endpointIP(/g' "$orig/$file" >"$tmp/kubernetes/$file"
	if [[ "$(grep -c 'endpointIP(address' "$tmp/kubernetes/$file")" != 2 ]]; then
		echo "build.sh: $orig/$file changed: the EndpointSlice address check to relax is not where it was" >&2
		exit 1
	fi
	cat >>"$tmp/kubernetes/$file" <<'EOF'

// endpointIP is ValidateEndpointIP, but loopback addresses are accepted:
// lanemesh node's pods live on 127.0.x.y (test/kubernetes/tools/build.sh).
func endpointIP(address string, fldPath *field.Path) field.ErrorList {
	if ip := netutils.ParseIPSloppy(address); ip != nil && ip.IsLoopback() {
		return nil
	}
	return apivalidation.ValidateEndpointIP(address, fldPath)
}
EOF
	cp go.mod go.sum "$tmp/"
	echo "replace k8s.io/kubernetes => $tmp/kubernetes" >>"$tmp/go.mod"
	go build -modfile "$tmp/go.mod" -trimpath -ldflags "$ldflags" -o "$tmp/" k8s.io/kubernetes/cmd/kube-apiserver
	go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
		go.etcd.io/etcd/server/v3 \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler \
		k8s.io/kubernetes/cmd/kubectl
	rm -rf "$tmp/kubernetes" "$tmp/go.mod" "$tmp/go.sum"
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
