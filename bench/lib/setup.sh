# shellcheck shell=bash
# Installing and building what the harness needs, and recording versions.

# ensure_packages installs the Debian packages that are missing. Only
# scenarios A and E (its HAProxy peer chain) need them.
ensure_packages() {
  local missing=() pkg
  for pkg in nginx haproxy wrk; do
    command -v "$pkg" >/dev/null || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  ((NO_INSTALL == 0)) || die "missing ${missing[*]} and --no-install was given"
  [[ $(id -u) == 0 ]] || die "missing ${missing[*]}: run as root, or: sudo apt-get install -y --no-install-recommends ${missing[*]}"
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$LOGS/apt.log" 2>&1 || die "apt-get update failed, see $LOGS/apt.log"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1 ||
    die "apt-get install failed, see $LOGS/apt.log"
}

# build_helpers builds the harness's Go programs into $OUT.
build_helpers() {
  local helper
  for helper in upstream baseline load report converge chain; do
    (cd "$REPO" && go build -o "$OUT/$helper" "./bench/$helper") || die "go build ./bench/$helper failed"
  done
  log "built bench helpers into $OUT"
}

# ensure_lanemesh sets LM to the lanemesh binary under test: BENCH_LANEMESH,
# or ./cmd/lanemesh built once per run into $OUT/lanemesh. It is false if
# the build failed (see $LOGS/lanemesh.build.log).
LM=
LM_BUILD= # "", ok or failed
ensure_lanemesh() {
  if [[ -n $LANEMESH_BIN ]]; then
    LM=$LANEMESH_BIN
    return 0
  fi
  LM=$OUT/lanemesh
  if [[ -z $LM_BUILD ]]; then
    if (cd "$REPO" && go build -o "$LM" ./cmd/lanemesh) >"$LOGS/lanemesh.build.log" 2>&1; then
      LM_BUILD=ok
    else
      LM_BUILD=failed
    fi
  fi
  [[ $LM_BUILD == ok ]]
}

# version_json prints the versions of the tools as a JSON object; a tool
# that is not installed (scenario A not run) is left out.
version_json() {
  local nginx='' haproxy='' wrk='' gov rev
  if command -v nginx >/dev/null; then nginx=$(nginx -v 2>&1 | sed 's|.*nginx/||'); fi
  if command -v haproxy >/dev/null; then haproxy=$(haproxy -v 2>/dev/null | awk 'NR==1{print $3}'); fi
  if command -v wrk >/dev/null; then wrk=$(wrk -v 2>&1 | awk 'NR==1{print $2}' || true); fi
  gov=$(go env GOVERSION)
  rev=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n $(cd "$REPO" && git status --porcelain 2>/dev/null | grep -v '^?? bench/' || true) ]]; then
    rev+="+dirty"
  fi
  if [[ -n $LANEMESH_BIN ]]; then
    rev="prebuilt $LANEMESH_BIN"
  fi
  printf '{"nginx":%s,"haproxy":%s,"wrk":%s,"go":%s,"lanemesh":%s}' \
    "$(json_str "$nginx")" "$(json_str "$haproxy")" "$(json_str "$wrk")" "$(json_str "$gov")" "$(json_str "$rev")"
}
