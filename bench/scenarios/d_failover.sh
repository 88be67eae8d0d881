# shellcheck shell=bash
# Scenario D — failover to the fallback version. `lanemesh up` with the
# tutorial after step 6 (fallback: v2 and v3 of mockb and mockc fall back to
# v1), mockb-v2 running as a real process (conf/lanemesh/mockb-v2-process
# .yaml.in). Lane v2 gets a fixed open-loop rate; mid-run, mockb-v2 goes
# away, twice:
#
#   kill:  kill -9 of its process (found below `up` by its env). The runner
#          restarts it with back-off, so the lane comes back to mockb-v2.
#   scale: `lanemesh scale deployment/mockb-v2 --replicas 0`, the graceful
#          way: the mesh is told first, the pod drains, then stops.
#
# `load rate -at` does the kill (or runs the command) itself, so that the
# event and the answers share one clock, and reports requests lost (no 200
# with a chain in lane or fallen back), when the first answer served by the
# fallback (`mockb(version: v1` in the chain) arrived, and when lane v2 was
# back at mockb-v2.
#
# Pinning: `up` and the process it starts on core 0, the load on core 1.

D_FALLBACK='mockb\(version: v1, ip: [0-9.]+\)-> mockc\(version: v1,'

scenario_d() {
  local title="failover to the fallback version" base="$RUN/failover/base" over="$RUN/failover/override"
  mkdir -p "$RAW/D" "$base" "$over"
  if ! ensure_lanemesh; then
    scenario_json D "$title" failed "go build ./cmd/lanemesh failed, see $LOGS/lanemesh.build.log"
    return 0
  fi
  cp "$REPO"/examples/traffic-lanes/*.yaml "$base/"
  cp "$REPO/examples/traffic-lanes-fallback/vs-mock-fallback.yaml" "$over/"
  fill_template "$BENCH/conf/lanemesh/mockb-v2-process.yaml.in" "$over/mockb-v2.yaml" LANEMESH="$(json_str "$LM")"
  if ! "$LM" analyze -f "$base" -f "$over" >"$LOGS/d.analyze.log" 2>&1; then
    scenario_json D "$title" failed "lanemesh analyze rejected the generated config, see $LOGS/d.analyze.log"
    return 0
  fi
  local ports at
  read -r -a ports <<<"$("$OUT/load" ports -n 3)"
  local gw=${ports[0]} admin=${ports[1]} name=d-lanemesh
  at=$( ((QUICK)) && echo 1s || echo 3s)
  start_bg "$name" env GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$LM" up -f "$base" -f "$over" \
    --port-map "80=127.0.0.1:$gw" --admin "127.0.0.1:$admin" --xds "127.0.0.1:${ports[2]}"
  if ! wait_log "$LOGS/$name.log" '^ready: ' 60; then
    scenario_json D "$title" failed "lanemesh up was not ready within 60 s, see $LOGS/$name.log"
    stop_bg "$name"
    return 0
  fi
  local url="http://127.0.0.1:$gw/mock" pid err=
  if ! d_in_lane "$url" 20; then
    err="lane v2 was not served by mockb-v2, see $LOGS/d.check.log"
  elif ! pid=$(d_mockb_v2_pid) || [[ -z $pid ]]; then
    err="no mockb-v2 process below lanemesh up (pid ${LIVE[$name]})"
  elif ! d_event kill "$url" "$at" -kill "$pid"; then
    err="the kill run failed, see $LOGS/d-kill.rate.log"
  elif ! d_in_lane "$url" 60; then
    err="lane v2 did not come back to mockb-v2 after the kill (runner restart), see $LOGS/d.check.log"
  elif ! d_event scale "$url" "$at" -cmd "$(printf '%q ' "$LM" scale deployment/mockb-v2 --replicas 0 --server "http://127.0.0.1:$admin")"; then
    err="the scale run failed, see $LOGS/d-scale.rate.log"
  fi
  stop_bg "$name"
  if [[ -n $err ]]; then
    scenario_json D "$title" failed "$err"
  else
    scenario_json D "$title" measured "" "\"rate\":$FAILOVER_RATE"
  fi
}

# d_mockb_v2_pid prints the pid of mockb-v2's process: the one below
# `lanemesh up` with app=mockb and version=v2 in its environment.
d_mockb_v2_pid() {
  local pids
  read -r -a pids <<<"$(pods_of "${LIVE[d-lanemesh]}" app=mockb version=v2 | paste -sd ' ' -)"
  ((${#pids[@]} == 1)) || return 1
  log "mockb-v2 runs as pid ${pids[0]}: $(tr '\0' ' ' <"/proc/${pids[0]}/cmdline")"
  echo "${pids[0]}"
}

# d_in_lane URL SECONDS waits until lane v2 answers from mockb-v2 again.
d_in_lane() {
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    if "$OUT/load" check -url "$1" -lanes v2 -n 3 -wait 5s -plain -match "$CHAIN_RE" >>"$LOGS/d.check.log" 2>&1; then
      return 0
    fi
    sleep 0.25
  done
  return 1
}

# d_event NAME URL AT EVENTARGS... runs lane v2 at the fixed rate with the
# event AT into the window, into $RAW/D/NAME.json.
d_event() {
  local name=$1 url=$2 at=$3
  shift 3
  wait_idle
  log "scenario D ($name): lane v2 at $FAILOVER_RATE req/s for ${DURATION}s, $* at $at"
  GOMAXPROCS=2 timeout $((DURATION + 60)) taskset -c "$LOAD_CPU" "$OUT/load" rate -url "$url" -lanes v2 \
    -match "$CHAIN_RE" -fallback-match "$D_FALLBACK" -rate "$FAILOVER_RATE" -duration "${DURATION}s" \
    -warmup "$WARMUP" -conns "$CONNS" -at "$at" "$@" -out "$RAW/D/$name.json" >"$LOGS/d-$name.rate.log" 2>&1 || return 1
  tail -2 "$LOGS/d-$name.rate.log" >&2
  check_disturbed "D/$name"
}
