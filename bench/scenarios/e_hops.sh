# shellcheck shell=bash
# Scenario E — the proxy hop as deployed: the tutorial's lane v1 chain,
# gateway → mocka → mockb → mockc, with the gateway and each sidecar a
# separate proxy process fed over xDS by one `lanemesh controlplane`, and
# each app a separate `lanemesh mock` process calling through its sidecar
# (HTTP_PROXY), against the same three mock processes calling each other
# directly. Both get the same open-loop fixed rate (--hop-rate, 1,000 req/s,
# the issue's figure); (mesh − direct) / hops is the latency one proxy hop
# adds, hops counted as scenario B counts them.
#
# It is a scenario of its own rather than a variant of B because it answers
# a different question with a different zero line: B measures `lanemesh up`
# (every proxy a goroutine of one process) at a rate one process can carry;
# E measures the deployed shape, where each hop is a process switch and a
# loopback connection, at the issue's 1,000 req/s, against the three-process
# direct chain only (bench/chain's one-process line has no counterpart
# here).
#
# The mesh runs twice, with the full `lanemesh proxy` and with the slim
# `lanemesh-proxy` (cmd/lanemesh-proxy, built as shipped by build-proxy.sh),
# each time from a fresh control plane and fresh
# processes. The same chain runs once more with HAProxy processes in the
# proxies' places (the peer: the same hops, process switches and loopback
# connections, with a proxy that routes statically), so that the tail a hop
# adds on this machine is compared with what a proxy of HAProxy's cost adds
# in the same run, not only with the target. Pinning: all of the system
# under test (control plane, proxies, mocks; GOMAXPROCS=1 each) on core 0,
# the load on core 1.

E_DIR=  # raw results of this scenario
E_HOPS= # proxies on the path, counted by lanemesh explain --chain
E_CFG=  # the generated config directory (written per run of a mesh)
LMP=    # the slim proxy binary, empty if this tree has none
E_SLIM_LABEL="separate \`lanemesh-proxy\` (slim) processes"

scenario_e() {
  E_DIR="$RAW/E"
  local title="proxy hops as separate processes" rep
  mkdir -p "$E_DIR"
  if ! ensure_lanemesh; then
    scenario_json E "$title" failed "go build ./cmd/lanemesh failed, see $LOGS/lanemesh.build.log"
    return 0
  fi
  e_slim_proxy
  # The hops are counted on the tutorial itself, as B counts them: E's own
  # config has WorkloadEntries, which carry no upstream_url for --chain to
  # follow; e_check_routes proves that E's config routes each of those
  # hops to the next app.
  mkdir -p "$RUN/hops-tutorial"
  cp "$REPO"/examples/traffic-lanes/*.yaml "$RUN/hops-tutorial/"
  if ! E_HOPS=$(count_hops "$RUN/hops-tutorial" "$LOGS/e.explain.log"); then
    scenario_json E "$title" failed "lanemesh explain --chain did not show the v1 chain, see $LOGS/e.explain.log"
    return 0
  fi
  for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "scenario E: repetition $rep of $REPEAT"
    e_direct "$rep"
    e_mesh "$rep" lanemesh "separate \`lanemesh proxy\` processes" "$LM" proxy
    if [[ $E_SLIM_BUILD == failed ]]; then
      e_target "$rep" slim && target_meta "$E_TDIR" slim "$E_SLIM_LABEL" proxy failed \
        "building ./cmd/lanemesh-proxy failed, see $LOGS/lanemesh-proxy.build.log"
    elif [[ -n $LMP ]]; then
      e_mesh "$rep" slim "$E_SLIM_LABEL" "$LMP"
    fi
    e_haproxy "$rep"
  done
  scenario_json E "$title" measured "" \
    "\"hops\":$E_HOPS,\"rate\":$HOP_RATE,\"hops_note\":$(json_str "$(hops_note "$E_HOPS" "$LOGS/e.explain.log")")"
}

# e_slim_proxy sets LMP to the slim proxy: BENCH_LANEMESH_PROXY, or
# ./cmd/lanemesh-proxy built once per run as shipped: by build-proxy.sh, or
# in a tree from before it with the flags it uses (no cgo, grpcnotrace). LMP is
# empty, and the slim row left out, if the tree has no such command or
# BENCH_LANEMESH names a prebuilt lanemesh and no slim proxy is given; a
# failed build leaves LMP set and E_SLIM_BUILD=failed, so the row says so.
E_SLIM_BUILD= # "", ok or failed
e_slim_proxy() {
  if [[ -n ${BENCH_LANEMESH_PROXY:-} ]]; then
    LMP=$BENCH_LANEMESH_PROXY E_SLIM_BUILD=ok
  elif [[ -z $LANEMESH_BIN && -d $REPO/cmd/lanemesh-proxy ]]; then
    LMP=$OUT/lanemesh-proxy
    [[ -n $E_SLIM_BUILD ]] && return 0
    if (cd "$REPO" && if [[ -x build-proxy.sh ]]; then ./build-proxy.sh -o "$LMP"; else
      CGO_ENABLED=0 go build -tags grpcnotrace -o "$LMP" ./cmd/lanemesh-proxy; fi) >"$LOGS/lanemesh-proxy.build.log" 2>&1; then
      E_SLIM_BUILD=ok
    else
      E_SLIM_BUILD=failed
    fi
  else
    LMP=
    log "scenario E: no slim lanemesh-proxy to measure (a prebuilt BENCH_LANEMESH and no BENCH_LANEMESH_PROXY); its row is left out"
  fi
}

# e_target REP NAME sets E_TDIR, the target's raw directory. It is false
# if an earlier repetition failed the target.
e_target() {
  local n
  case $2 in direct) n=01 ;; lanemesh) n=02 ;; slim) n=03 ;; *) n=04 ;; esac
  E_TDIR="$E_DIR/$n-$2"
  mkdir -p "$E_TDIR"
  [[ $1 == 1 ]] || ! grep -q '"status":"failed"' "$E_TDIR/meta.json" 2>/dev/null
}

# e_measure REP NAME LABEL KIND URL PIDS CHECKARGS... is chain_measure for
# scenario E, at --hop-rate, checking lane v1 only.
e_measure() { chain_measure E "$E_TDIR" "$HOP_RATE" "$@" -lanes v1; }

# e_mock NAME APP UPSTREAM PORT [PROXY] starts one `lanemesh mock` of lane
# v1 on the system-under-test core: with PROXY, calling UPSTREAM through
# that sidecar (HTTP_PROXY), else with no proxy in its environment.
e_mock() {
  local proxy=()
  [[ -n ${5:-} ]] && proxy=(HTTP_PROXY="http://$5")
  start_bg "$1" env -u HTTP_PROXY -u http_proxy -u HTTPS_PROXY -u https_proxy -u ALL_PROXY -u all_proxy -u NO_PROXY -u no_proxy \
    "${proxy[@]}" GOMAXPROCS=1 app="$2" version=v1 upstream_url="$3" \
    taskset -c "$PROXY_CPU" "$LM" mock --bind "127.0.0.1:$4"
}

# e_proxied_mocks NAME PA PB PC SA SB starts a mesh's three mocks, named
# e-NAME-mock{a,b,c}, on ports PA, PB and PC, mocka calling mockb through
# the proxy at SA and mockb calling mockc through the one at SB.
e_proxied_mocks() {
  e_mock "e-$1-mockc" mockc "" "$4"
  e_mock "e-$1-mockb" mockb "http://mockc:8000/" "$3" "127.0.0.1:$6"
  e_mock "e-$1-mocka" mocka "http://mockb:8000/" "$2" "127.0.0.1:$5"
}

# e_direct REP: the three mocks as plain processes, mocka → mockb → mockc
# over 127.0.0.1, no proxy anywhere (scenario B's direct chain, at E's
# rate).
e_direct() {
  local rep=$1 label="direct chain (3 mock processes, no mesh)" ports p ok=1
  e_target "$rep" direct || return 0
  read -r -a ports <<<"$("$OUT/load" ports -n 3)"
  e_mock e-mockc mockc "" "${ports[2]}"
  e_mock e-mockb mockb "http://127.0.0.1:${ports[2]}/" "${ports[1]}"
  e_mock e-mocka mocka "http://127.0.0.1:${ports[1]}/" "${ports[0]}"
  for p in "${ports[@]}"; do wait_port "$p" 10 || ok=0; done
  if ((ok)); then
    e_measure "$rep" direct "$label" direct "http://127.0.0.1:${ports[0]}/mock" \
      "${LIVE[e-mocka]},${LIVE[e-mockb]},${LIVE[e-mockc]}" -plain || true
  else
    target_meta "$E_TDIR" direct "$label" direct failed "a mock did not listen, see $LOGS/e-mock*.log"
  fi
  stop_bg e-mocka
  stop_bg e-mockb
  stop_bg e-mockc
}

# e_mesh REP NAME LABEL PROXY... : a control plane, the three mocks (mocka
# and mockb calling through their sidecars), the gateway and the two
# sidecars on the path, each its own process, PROXY... the proxy command
# (`lanemesh proxy` or `lanemesh-proxy`). mockc calls nothing, so it has
# no sidecar here (in B its sidecar exists but is idle).
e_mesh() {
  local rep=$1 tname=$2 label=$3 ports n
  shift 3
  e_target "$rep" "$tname" || return 0
  read -r -a ports <<<"$("$OUT/load" ports -n 8)"
  local pa=${ports[0]} pb=${ports[1]} pc=${ports[2]} gw=${ports[3]} sa=${ports[4]} sb=${ports[5]}
  local xds=${ports[6]} admin=${ports[7]} cp="e-$tname-controlplane" err=
  E_ERROR=
  if ! e_config "$pa" "$pb" "$pc"; then
    target_meta "$E_TDIR" "$tname" "$label" proxy failed "$E_ERROR"
    return 0
  fi
  # The control plane writes its operator token here, where the proxies
  # look for it by the xDS port; nothing of the user's ~/.config is used.
  local home="$RUN/hops-home"
  mkdir -p "$home"
  start_bg "$cp" env LANEMESH_HOME="$home" GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$LM" controlplane -f "$E_CFG" \
    --xds "127.0.0.1:$xds" --admin "127.0.0.1:$admin"
  if ! wait_log "$LOGS/$cp.log" '^ready$' 30; then
    err="the control plane was not ready within 30 s, see $LOGS/$cp.log"
  else
    e_proxied_mocks "$tname" "$pa" "$pb" "$pc" "$sa" "$sb"
    start_bg "e-$tname-sidecar-mocka" env LANEMESH_HOME="$home" GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$@" \
      --role sidecar --xds "127.0.0.1:$xds" --labels app=mocka,version=v1 --outbound "127.0.0.1:$sa"
    start_bg "e-$tname-sidecar-mockb" env LANEMESH_HOME="$home" GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$@" \
      --role sidecar --xds "127.0.0.1:$xds" --labels app=mockb,version=v1 --outbound "127.0.0.1:$sb"
    start_bg "e-$tname-gateway" env LANEMESH_HOME="$home" GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$@" \
      --role gateway --xds "127.0.0.1:$xds" --port-map "80=127.0.0.1:$gw"
    local p
    for p in "$pa" "$pb" "$pc" "$sa" "$sb" "$gw"; do
      wait_port "$p" 20 || err="nothing listened on 127.0.0.1:$p within 20 s, see $LOGS/e-$tname-*.log"
    done
  fi
  if [[ -n $err ]]; then
    target_meta "$E_TDIR" "$tname" "$label" proxy failed "$err"
  else
    local pids=()
    for n in controlplane mocka mockb mockc sidecar-mocka sidecar-mockb gateway; do
      pids+=("${LIVE[e-$tname-$n]}")
    done
    # The load check waits (-wait) until the proxies have their first
    # configuration and the control plane's probes found the workloads
    # healthy; before that the gateway answers 404 or 503.
    e_measure "$rep" "$tname" "$label" proxy "http://127.0.0.1:$gw/mock" "$(IFS=,; echo "${pids[*]}")" || true
  fi
  for n in gateway sidecar-mocka sidecar-mockb mocka mockb mockc controlplane; do
    stop_bg "e-$tname-$n"
  done
}

# e_haproxy REP: the peer chain. The three mocks as in e_mesh, mocka and
# mockb calling through HAProxy sidecars, and an HAProxy gateway routing
# lane v1 on /mock to mocka (404 otherwise), each its own `haproxy -db`
# process (nbthread 1) on the system-under-test core.
e_haproxy() {
  local rep=$1 label ports n name port up rule err= p
  label="separate HAProxy $(haproxy -v | awk 'NR==1{print $3}' | cut -d- -f1) processes (peer)"
  e_target "$rep" haproxy || return 0
  read -r -a ports <<<"$("$OUT/load" ports -n 6)"
  local pa=${ports[0]} pb=${ports[1]} pc=${ports[2]} gw=${ports[3]} sa=${ports[4]} sb=${ports[5]}
  local route='http-request return status 404 content-type text/plain string "no route" unless { path /mock } { req.hdr(x-asm-prefer-tag) -m str v1 }'
  for n in gateway:$gw:$pa:route sidecar-mocka:$sa:$pb: sidecar-mockb:$sb:$pc:; do
    IFS=: read -r name port up rule <<<"$n"
    if [[ -n $rule ]]; then rule=$route; fi
    fill_template "$BENCH/conf/haproxy-hop.cfg.in" "$RUN/hop-haproxy-$name.cfg" \
      NAME="$name" PORT="$port" UP="$up" RUN="$RUN" RULE="$rule"
    haproxy -c -q -f "$RUN/hop-haproxy-$name.cfg" >"$LOGS/e-haproxy-$name.conf.log" 2>&1 ||
      err="haproxy -c rejected $RUN/hop-haproxy-$name.cfg, see $LOGS/e-haproxy-$name.conf.log"
  done
  if [[ -z $err ]]; then
    e_proxied_mocks haproxy "$pa" "$pb" "$pc" "$sa" "$sb"
    for n in gateway sidecar-mocka sidecar-mockb; do
      start_bg "e-haproxy-$n" taskset -c "$PROXY_CPU" haproxy -db -f "$RUN/hop-haproxy-$n.cfg"
    done
    for p in "$pa" "$pb" "$pc" "$sa" "$sb" "$gw"; do
      wait_port "$p" 20 || err="nothing listened on 127.0.0.1:$p within 20 s, see $LOGS/e-haproxy-*.log"
    done
  fi
  if [[ -n $err ]]; then
    target_meta "$E_TDIR" haproxy "$label" proxy failed "$err"
  else
    local pids=()
    for n in mocka mockb mockc sidecar-mocka sidecar-mockb gateway; do
      pids+=("${LIVE[e-haproxy-$n]}")
    done
    e_measure "$rep" haproxy "$label" proxy "http://127.0.0.1:$gw/mock" "$(IFS=,; echo "${pids[*]}")" || true
  fi
  for n in gateway sidecar-mocka sidecar-mockb mocka mockb mockc; do
    stop_bg "e-haproxy-$n"
  done
}

# e_config PA PB PC writes E_CFG: the tutorial's gateway, DestinationRules
# and VirtualServices with lane v1's apps as WorkloadEntries on ports PA,
# PB, PC, and proves with lanemesh explain that each proxy on the path
# routes lane v1 to the next app. It sets E_ERROR and is false if not.
e_config() {
  local pa=$1 pb=$2 pc=$3 f
  E_CFG="$RUN/hops"
  rm -rf "$E_CFG"
  mkdir -p "$E_CFG"
  for f in gw-mock dr-mock vs-mock; do cp "$REPO/examples/traffic-lanes/$f.yaml" "$E_CFG/"; done
  fill_template "$BENCH/conf/lanemesh/hop-workloads.yaml.in" "$E_CFG/workloads.yaml" PA="$pa" PB="$pb" PC="$pc"
  if ! "$LM" explain -f "$E_CFG" --gateway istio-system/ingressgateway -o json -H 'x-asm-prefer-tag: v1' \
    http://gateway/mock >"$LOGS/e.explain-gateway.json" 2>&1 || ! grep -q "\"127.0.0.1:$pa\"" "$LOGS/e.explain-gateway.json"; then
    E_ERROR="lanemesh explain: the gateway does not route lane v1 to mocka-v1 at 127.0.0.1:$pa, see $LOGS/e.explain-gateway.json"
    return 1
  fi
  if ! "$LM" explain -f "$E_CFG" --source-labels app=mocka,version=v1 -o json http://mockb:8000/ \
    >"$LOGS/e.explain-mocka.json" 2>&1 || ! grep -q "\"127.0.0.1:$pb\"" "$LOGS/e.explain-mocka.json"; then
    E_ERROR="lanemesh explain: mocka-v1's sidecar does not route to mockb-v1 at 127.0.0.1:$pb, see $LOGS/e.explain-mocka.json"
    return 1
  fi
  if ! "$LM" explain -f "$E_CFG" --source-labels app=mockb,version=v1 -o json http://mockc:8000/ \
    >"$LOGS/e.explain-mockb.json" 2>&1 || ! grep -q "\"127.0.0.1:$pc\"" "$LOGS/e.explain-mockb.json"; then
    E_ERROR="lanemesh explain: mockb-v1's sidecar does not route to mockc-v1 at 127.0.0.1:$pc, see $LOGS/e.explain-mockb.json"
    return 1
  fi
}
