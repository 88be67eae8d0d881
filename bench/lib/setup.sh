# shellcheck shell=bash
# Installing and building what the harness needs, and recording versions.

# ensure_packages installs the Debian packages that are missing.
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
  for helper in upstream baseline load report; do
    (cd "$REPO" && go build -o "$OUT/$helper" "./bench/$helper") || die "go build ./bench/$helper failed"
  done
  log "built bench helpers into $OUT"
}

# version_json prints the versions of the tools as a JSON object.
version_json() {
  local nginx haproxy wrk gov rev
  nginx=$(nginx -v 2>&1 | sed 's|.*nginx/||')
  haproxy=$(haproxy -v 2>/dev/null | awk 'NR==1{print $3}')
  wrk=$(wrk -v 2>&1 | awk 'NR==1{print $2}' || true)
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
