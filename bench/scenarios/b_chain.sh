# shellcheck shell=bash
# Scenario B — call chain through sidecars. The tutorial's lane v1,
# gateway → mocka → mockb → mockc, run by `lanemesh up` with a sidecar beside
# every pod, against the same three mock apps called directly: three
# `lanemesh mock` processes, each with upstream_url pointing straight at the
# next one and no HTTP_PROXY; and, since `up` runs apps and proxies as
# goroutines of one process, the same three apps in one process
# (bench/chain). All get the same open-loop fixed rate with
# x-asm-prefer-tag: v1; the difference in latency, divided by the proxies on
# the mesh's path, is the latency each proxy hop adds.
#
# Pinning: the system under test (all of `up`, or the three mocks) on core
# 0, the load generator on core 1.

B_DIR=  # raw results of this scenario
B_HOPS= # proxies on the mesh's path, counted by lanemesh explain --chain

scenario_b() {
  B_DIR="$RAW/B"
  local title="call chain through sidecars" rep
  mkdir -p "$B_DIR"
  if ! ensure_lanemesh; then
    scenario_json B "$title" failed "go build ./cmd/lanemesh failed, see $LOGS/lanemesh.build.log"
    return 0
  fi
  local cfg="$RUN/chain"
  mkdir -p "$cfg"
  cp "$REPO"/examples/traffic-lanes/*.yaml "$cfg/"
  if ! B_HOPS=$(count_hops "$cfg" "$LOGS/b.explain.log"); then
    scenario_json B "$title" failed "lanemesh explain --chain did not show the v1 chain, see $LOGS/b.explain.log"
    return 0
  fi
  local ports
  read -r -a ports <<<"$("$OUT/load" ports -n 9)"
  for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "scenario B: repetition $rep of $REPEAT"
    b_direct "$rep" "${ports[@]:0:3}"
    b_direct1 "$rep" "${ports[@]:6:3}"
    b_mesh "$rep" "$cfg" "${ports[@]:3:3}"
  done
  scenario_json B "$title" measured "" \
    "\"hops\":$B_HOPS,\"rate\":$CHAIN_RATE,\"hops_note\":$(json_str "$(hops_note "$B_HOPS" "$LOGS/b.explain.log")")"
}

# b_target REP NAME sets B_TDIR, the target's raw directory. It is false
# if an earlier repetition failed the target.
b_target() {
  local n
  case $2 in direct) n=01 ;; direct1) n=02 ;; *) n=03 ;; esac
  B_TDIR="$B_DIR/$n-$2"
  mkdir -p "$B_TDIR"
  [[ $1 == 1 ]] || ! grep -q '"status":"failed"' "$B_TDIR/meta.json" 2>/dev/null
}

# b_measure REP NAME LABEL KIND URL PIDS CHECKARGS... is chain_measure for
# scenario B, at --chain-rate.
b_measure() { chain_measure B "$B_TDIR" "$CHAIN_RATE" "$@"; }

# b_direct REP PORT_A PORT_B PORT_C: the three mocks as plain processes,
# mocka → mockb → mockc over 127.0.0.1, no proxy anywhere.
b_direct() {
  local rep=$1 pa=$2 pb=$3 pc=$4 label="direct chain (3 mock processes, no mesh)"
  b_target "$rep" direct || return 0
  b_mock b-mockc mockc "" "$pc"
  b_mock b-mockb mockb "http://127.0.0.1:$pc/" "$pb"
  b_mock b-mocka mocka "http://127.0.0.1:$pb/" "$pa"
  local p ok=1
  for p in "$pa" "$pb" "$pc"; do wait_port "$p" 10 || ok=0; done
  if ((ok)); then
    b_measure "$rep" direct "$label" direct "http://127.0.0.1:$pa/mock" \
      "${LIVE[b-mocka]},${LIVE[b-mockb]},${LIVE[b-mockc]}" -lanes v1 -plain || true
  else
    target_meta "$B_TDIR" direct "$label" direct failed "a mock did not listen, see $LOGS/b-mock*.log"
  fi
  stop_bg b-mocka
  stop_bg b-mockb
  stop_bg b-mockc
}

# b_direct1 REP PORT_A PORT_B PORT_C: the three apps in one process
# (bench/chain), the process structure of lanemesh up without its proxies.
b_direct1() {
  local rep=$1 pa=$2 pb=$3 pc=$4 label="direct chain (3 apps in one process, no mesh)"
  b_target "$rep" direct1 || return 0
  start_bg b-chain env GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$OUT/chain" \
    -listen "127.0.0.1:$pa,127.0.0.1:$pb,127.0.0.1:$pc" -version v1
  if wait_port "$pa" 10; then
    b_measure "$rep" direct1 "$label" direct "http://127.0.0.1:$pa/mock" "${LIVE[b-chain]}" -lanes v1 -plain || true
  else
    target_meta "$B_TDIR" direct1 "$label" direct failed "bench/chain did not listen, see $LOGS/b-chain.log"
  fi
  stop_bg b-chain
}

# b_mock NAME APP UPSTREAM PORT starts one `lanemesh mock` of lane v1 on
# the system-under-test core, with no proxy in its environment.
b_mock() {
  start_bg "$1" env -u HTTP_PROXY -u http_proxy -u HTTPS_PROXY -u https_proxy -u ALL_PROXY -u all_proxy \
    GOMAXPROCS=1 app="$2" version=v1 upstream_url="$3" \
    taskset -c "$PROXY_CPU" "$LM" mock --bind "127.0.0.1:$4"
}

# b_mesh REP CFG PORT_GW PORT_ADMIN PORT_XDS: `lanemesh up` with the
# tutorial's configuration, the whole mesh in one process on one core.
b_mesh() {
  local rep=$1 cfg=$2 gw=$3 admin=$4 xds=$5 name=b-lanemesh label="lanemesh up (gateway + sidecars)"
  b_target "$rep" lanemesh || return 0
  start_bg "$name" env GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$LM" up -f "$cfg" \
    --port-map "80=127.0.0.1:$gw" --admin "127.0.0.1:$admin" --xds "127.0.0.1:$xds"
  if wait_log "$LOGS/$name.log" '^ready: ' 60; then
    b_measure "$rep" lanemesh "$label" proxy "http://127.0.0.1:$gw/mock" "${LIVE[$name]}" -lanes v1,v2,v3 || true
  else
    target_meta "$B_TDIR" lanemesh "$label" proxy failed "lanemesh up was not ready within 60 s, see $LOGS/$name.log"
  fi
  stop_bg "$name"
}
