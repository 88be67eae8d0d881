# shellcheck shell=bash
# Scenario A — gateway header routing. Three upstreams (bench/upstream, one
# process, listeners v1/v2/v3) behind each proxy in turn; each proxy routes
# x-asm-prefer-tag: vN on /mock to upstream vN. Every target is first
# checked for correct routing, then measured closed-loop (wrk) and at a fixed
# rate (load rate). One proxy runs at a time, pinned to core 0; the load
# generator and the upstreams run on core 1.

A_DIR=   # raw results of this scenario
A_REP=1  # the repetition running now

scenario_a() {
  A_DIR="$RAW/A"
  mkdir -p "$A_DIR"
  printf '{"id":"A","title":"gateway header routing","status":"measured"}\n' >"$A_DIR/scenario.json"

  local ports
  read -r -a ports <<<"$("$OUT/load" ports -n 8)"
  UP1=${ports[0]} UP2=${ports[1]} UP3=${ports[2]}
  PORT_HAPROXY=${ports[3]} PORT_NGINX=${ports[4]} PORT_BASELINE=${ports[5]}
  PORT_LANEMESH=${ports[6]} PORT_LANEMESH_ADMIN=${ports[7]}

  start_bg upstream env GOMAXPROCS=1 taskset -c "$LOAD_CPU" "$OUT/upstream" \
    -listen "v1=127.0.0.1:$UP1,v2=127.0.0.1:$UP2,v3=127.0.0.1:$UP3"
  for p in "$UP1" "$UP2" "$UP3"; do
    wait_port "$p" || die "upstream did not listen on $p (see $LOGS/upstream.log)"
  done

  # Repetitions are interleaved (all targets, then all again), so that a
  # burst of load from elsewhere spreads over the targets instead of
  # landing on one of them.
  local t
  for ((A_REP = 1; A_REP <= REPEAT; A_REP++)); do
    ((REPEAT == 1)) || log "repetition $A_REP of $REPEAT"
    for t in $TARGETS; do
      case $t in
        direct | haproxy | nginx | baseline | lanemesh) "a_$t" ;;
        haproxy-headers) a_haproxy_headers ;;
        *) die "unknown target $t (want direct, haproxy, haproxy-headers, nginx, baseline, lanemesh)" ;;
      esac
    done
  done
  stop_bg upstream
}

# a_target NAME LABEL KIND opens the target's raw directory, numbered by
# its place in $TARGETS so that the tables keep that order, and sets A_TDIR
# to it. It is false if an earlier repetition settled the target: it failed,
# or it was skipped.
a_target() {
  local t n=0
  for t in $TARGETS; do
    n=$((n + 1))
    [[ $t == "$1" ]] && break
  done
  A_TDIR=$(printf '%s/%02d-%s' "$A_DIR" "$n" "$1")
  mkdir -p "$A_TDIR"
  A_NAME=$1 A_LABEL=$2 A_KIND=$3
  ! grep -qE '"status":"(failed|skipped)"' "$A_TDIR/meta.json" 2>/dev/null
}

# a_meta STATUS [NOTE [DETAIL]] writes the target's meta.json.
a_meta() {
  printf '{"name":%s,"label":%s,"kind":%s,"status":%s,"note":%s,"detail":%s}\n' \
    "$(json_str "$A_NAME")" "$(json_str "$A_LABEL")" "$(json_str "$A_KIND")" \
    "$(json_str "$1")" "$(json_str "${2:-}")" "$(json_str "${3:-}")" >"$A_TDIR/meta.json"
  if [[ $1 == failed ]]; then
    log "FAILED: $A_NAME: ${2:-}"
    FAILURES+=("$A_NAME: ${2:-}")
  fi
}

# a_measure PID URL [EXPECT] checks the target's routing, then runs the
# closed-loop and the fixed-rate measurement against URL, sampling process
# PID's tree (0: none, the no-proxy line). EXPECT is the body every answer
# must have, for a server that does no routing.
a_measure() {
  local pid=$1 url=$2 expect=${3:-} exp=()
  [[ -n $expect ]] && exp=(-expect "$expect")
  wait_idle
  if ! "$OUT/load" check -url "$url" -n "$CHECK_N" "${exp[@]}" >>"$LOGS/$A_NAME.check.log" 2>&1; then
    a_meta failed "routing check failed: $(tail -1 "$LOGS/$A_NAME.check.log")"
    return 1
  fi
  log "$A_NAME: routing ok; closed loop for ${DURATION}s"
  if ! timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" "$OUT/load" measure -pid "$pid" -out "$A_TDIR/sat.$A_REP.json" -- \
    wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$BENCH/conf/lanes.lua" "$url" \
    >>"$LOGS/$A_NAME.wrk.log" 2>&1; then
    a_meta failed "closed-loop run failed, see $LOGS/$A_NAME.wrk.log"
    return 1
  fi
  log "$A_NAME: fixed rate $RATE req/s for ${DURATION}s"
  # GOMAXPROCS=2: the scheduling goroutine sleeps in nanosleep(2) on its own
  # thread and P, so that the workers never wait for it to give its P up.
  if ! GOMAXPROCS=2 timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" "$OUT/load" rate -url "$url" \
    -rate "$RATE" -duration "${DURATION}s" -warmup "$WARMUP" -conns "$CONNS" -pid "$pid" "${exp[@]}" \
    -out "$A_TDIR/rate.$A_REP.json" >>"$LOGS/$A_NAME.rate.log" 2>&1; then
    a_meta failed "fixed-rate run failed, see $LOGS/$A_NAME.rate.log"
    return 1
  fi
  tail -1 "$LOGS/$A_NAME.rate.log" >&2
  check_disturbed "A/$A_NAME"
  a_meta ok
}

# a_proxy NAME PORT CMD... starts a proxy pinned to the proxy core, measures
# it and stops it.
a_proxy() {
  local name=$1 port=$2
  shift 2
  start_bg "$name" taskset -c "$PROXY_CPU" "$@"
  if ! wait_port "$port" 15; then
    a_meta failed "did not listen on $port, see $LOGS/$name.log"
  else
    a_measure "${LIVE[$name]}" "http://127.0.0.1:$port/mock" || true
  fi
  stop_bg "$name"
}

a_direct() {
  a_target direct "direct (no proxy)" direct || return 0
  a_measure 0 "http://127.0.0.1:$UP1/mock" $'mocka-v1\n' || true
}

a_haproxy() { a_haproxy_config haproxy "" ""; }

# a_haproxy_headers: HAProxy doing the lanemesh gateway's header work too
# (conf/haproxy-headers.cfg.in), the like-for-like peer of what the
# gateway does per request.
a_haproxy_headers() {
  a_haproxy_config haproxy-headers " with the gateway's headers" "$BENCH/conf/haproxy-headers.cfg.in"
}

# a_haproxy_config NAME LABEL_SUFFIX FRAGMENT measures HAProxy with
# conf/haproxy.cfg.in, and FRAGMENT's lines (not its comments) added to the
# frontend after its last acl if FRAGMENT is not empty.
a_haproxy_config() {
  local name=$1 fragment=$3 cfg
  a_target "$name" "HAProxy $(haproxy -v | awk 'NR==1{print $3}' | cut -d- -f1)$2" proxy || return 0
  cfg=$RUN/$name.cfg
  fill_template "$BENCH/conf/haproxy.cfg.in" "$cfg" \
    RUN="$RUN" PORT="$PORT_HAPROXY" UP1="$UP1" UP2="$UP2" UP3="$UP3"
  if [[ -n $fragment ]]; then
    grep -v -e '^#' -e '^$' "$fragment" >"$RUN/$name.lines"
    sed -i "/acl lane_v3/r $RUN/$name.lines" "$cfg"
    grep -qFf "$RUN/$name.lines" "$cfg" ||
      { a_meta failed "could not add $fragment's lines to $cfg"; return; }
  fi
  haproxy -c -q -f "$cfg" >"$LOGS/$name.conf.log" 2>&1 ||
    { a_meta failed "haproxy -c rejected the config, see $LOGS/$name.conf.log"; return; }
  a_proxy "$name" "$PORT_HAPROXY" haproxy -db -f "$cfg"
}

a_nginx() {
  a_target nginx "nginx $(nginx -v 2>&1 | sed 's|.*nginx/||')" proxy || return 0
  fill_template "$BENCH/conf/nginx.conf.in" "$RUN/nginx.conf" \
    RUN="$RUN" PORT="$PORT_NGINX" UP1="$UP1" UP2="$UP2" UP3="$UP3"
  nginx -t -q -p "$RUN" -c "$RUN/nginx.conf" >"$LOGS/nginx.conf.log" 2>&1 ||
    { a_meta failed "nginx -t rejected the config, see $LOGS/nginx.conf.log"; return; }
  a_proxy nginx "$PORT_NGINX" nginx -p "$RUN" -c "$RUN/nginx.conf"
}

a_baseline() {
  a_target baseline "Go ReverseProxy baseline" proxy || return 0
  a_proxy baseline "$PORT_BASELINE" env GOMAXPROCS=1 "$OUT/baseline" -listen "127.0.0.1:$PORT_BASELINE" \
    -upstreams "v1=127.0.0.1:$UP1,v2=127.0.0.1:$UP2,v3=127.0.0.1:$UP3"
}

# a_lanemesh measures `lanemesh proxy --static` if the binary has it;
# otherwise the row says it is not available yet.
a_lanemesh() {
  a_target lanemesh lanemesh proxy || return 0
  local lm cfg="$RUN/lanemesh"
  ensure_lanemesh || true
  lm=$LM
  if ((A_REP == 1)) && ! a_lanemesh_prepare "$lm" "$cfg"; then
    return 0
  fi
  a_proxy lanemesh "$PORT_LANEMESH" env GOMAXPROCS=1 "$lm" proxy --role gateway --static \
    -f "$cfg" --port-map "80=127.0.0.1:$PORT_LANEMESH" --admin "127.0.0.1:$PORT_LANEMESH_ADMIN"
}

# a_lanemesh_prepare LM CFG checks that lanemesh was built into LM (unless
# BENCH_LANEMESH names a prebuilt binary), writes its config directory CFG,
# and proves with analyze and explain that the config routes each lane to
# its upstream. It is false, with the row written, if lanemesh cannot be
# measured.
a_lanemesh_prepare() {
  local lm=$1 cfg=$2 lane port
  if [[ $LM_BUILD == failed ]]; then
    a_meta failed "go build ./cmd/lanemesh failed, see $LOGS/lanemesh.build.log"
    return 1
  fi
  mkdir -p "$cfg"
  cp "$REPO/examples/traffic-lanes/gw-mock.yaml" "$cfg/"
  fill_template "$BENCH/conf/lanemesh/mocka.yaml.in" "$cfg/mocka.yaml" UP1="$UP1" UP2="$UP2" UP3="$UP3"
  if ! "$lm" analyze -f "$cfg" >"$LOGS/lanemesh.analyze.log" 2>&1; then
    a_meta failed "lanemesh analyze rejected the generated config, see $LOGS/lanemesh.analyze.log"
    return 1
  fi
  for lane in v1 v2 v3; do
    port=$(eval echo "\$UP${lane#v}")
    if ! "$lm" explain -f "$cfg" --gateway istio-system/ingressgateway -o json \
      -H "x-asm-prefer-tag: $lane" http://gateway/mock >"$LOGS/lanemesh.explain-$lane.json" 2>&1 ||
      ! grep -q "\"127.0.0.1:$port\"" "$LOGS/lanemesh.explain-$lane.json"; then
      a_meta failed "lanemesh explain does not route $lane to 127.0.0.1:$port, see $LOGS/lanemesh.explain-$lane.json"
      return 1
    fi
  done
  if ! "$lm" proxy --help >"$LOGS/lanemesh.proxy-help.log" 2>&1 ||
    ! grep -q -- '--static' "$LOGS/lanemesh.proxy-help.log"; then
    log "lanemesh proxy --static not available yet: skipping (its config passes analyze and explain)"
    a_meta skipped "lanemesh proxy --static not available yet" \
      "Its generated config (bench/out/run/lanemesh/) already passes \`lanemesh analyze\`, and \`lanemesh explain\` routes v1, v2, v3 to their upstreams; the row fills in once \`lanemesh proxy --static\` lands."
    return 1
  fi
}
