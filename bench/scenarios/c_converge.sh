# shellcheck shell=bash
# Scenario C — control-plane convergence. A `lanemesh controlplane` serving
# the tutorial's configuration to N simulated proxies (bench/converge), each
# its own node with its own gRPC connection and ADS stream, spread over the
# six sidecar identities the change reaches and over BENCH_CONVERGE_WORKERS
# worker processes, default 8, so that no one process's scheduler and
# garbage collector stand between the control plane and every proxy; and
# the time from `lanemesh apply -f` of a change (fallback on, then off, ...)
# against the control plane's admin API until each of the N has it. A fresh
# control plane per N, so that its RSS is that of N proxies.
#
# What is measured: one proxy in BENCH_CONVERGE_SAMPLE (default 50) is a
# full xds.Client, the proxy's own decoder, in worker processes of its own
# (the sample); the others are light clients, which the control plane
# cannot tell from full ones (same streams, subscriptions, ACKs and NACKs)
# but which look each resource's bytes up in a per-process memo instead of
# decoding them, because all N share core 1 here where real proxies decode
# on their own CPUs. So the delivery times are the control plane's and the
# wire's, the sample's times are those of real decoders among them, and the
# sample's CPU per change per client is one proxy's decoding cost, to be
# added by the reader to the delivery time (bench/README.md).
#
# Pinning: the control plane on core 0; the clients, and the apply command
# they run, on core 1.

scenario_c() {
  local title="control-plane convergence" n sizes changes cfg="$RUN/converge"
  mkdir -p "$RAW/C" "$cfg"
  if ! ensure_lanemesh; then
    scenario_json C "$title" failed "go build ./cmd/lanemesh failed, see $LOGS/lanemesh.build.log"
    return 0
  fi
  cp "$REPO"/examples/traffic-lanes/*.yaml "$cfg/"
  sizes=${BENCH_CONVERGE_N:-$( ((QUICK)) && echo 100 || echo "100 1000")}
  changes=${BENCH_CONVERGE_CHANGES:-$( ((QUICK)) && echo 6 || echo 20)}
  C_WORKERS=${BENCH_CONVERGE_WORKERS:-8}
  C_SAMPLE=${BENCH_CONVERGE_SAMPLE:-50}
  [[ $C_SAMPLE =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONVERGE_SAMPLE takes a positive integer, not '$C_SAMPLE'"
  [[ $C_WORKERS =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONVERGE_WORKERS takes a positive integer, not '$C_WORKERS'"
  C_CPUS=${BENCH_CONVERGE_CPUS:-$LOAD_CPU}
  [[ $C_CPUS =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] || die "BENCH_CONVERGE_CPUS takes a taskset CPU list (1, 1-3, 1,3), not '$C_CPUS'"
  for n in $sizes; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONVERGE_N takes positive integers, not '$n'"
    if ! c_run "$n" "$changes" "$cfg"; then
      scenario_json C "$title" failed "N=$n: $C_ERROR"
      return 0
    fi
  done
  scenario_json C "$title" measured "" "\"changes\":$changes,\"client_cpus\":$(json_str "$C_CPUS"),\"trigger\":$(json_str \
    "lanemesh apply -f (vs-mock-fallback.yaml, then vs-mock.yaml, alternately) against the control plane's admin API; timed from the command's start")"
}

# c_run N CHANGES CFG starts a control plane on CFG, times CHANGES changes
# to N clients into $RAW/C/converge.N.json, and stops it. It sets C_ERROR
# and is false on failure.
c_run() {
  local n=$1 changes=$2 cfg=$3 ports name="c-controlplane-$1"
  read -r -a ports <<<"$("$OUT/load" ports -n 2)"
  start_bg "$name" env GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$LM" controlplane -f "$cfg" \
    --xds "127.0.0.1:${ports[0]}" --admin "127.0.0.1:${ports[1]}"
  if ! wait_log "$LOGS/$name.log" '^ready$' 30; then
    C_ERROR="the control plane was not ready within 30 s, see $LOGS/$name.log"
    stop_bg "$name"
    return 1
  fi
  wait_idle
  log "scenario C: $changes changes to $n proxies in $(( C_WORKERS < n ? C_WORKERS : n )) client process(es)"
  local ok=1
  # The workers inherit the pinning (the load core, or BENCH_CONVERGE_CPUS on
  # a machine with cores to spare); converge stops them when it ends, and
  # they end by themselves if it dies (their stdin closes).
  if ! timeout $((120 + 15 * changes)) taskset -c "$C_CPUS" "$OUT/converge" -n "$n" -workers "$C_WORKERS" -sample "$C_SAMPLE" -changes "$changes" \
    -xds "127.0.0.1:${ports[0]}" -admin "http://127.0.0.1:${ports[1]}" -lanemesh "$LM" -cp-pid "${LIVE[$name]}" \
    -on "$REPO/examples/traffic-lanes-fallback/vs-mock-fallback.yaml" -off "$REPO/examples/traffic-lanes/vs-mock.yaml" \
    -out "$RAW/C/converge.$n.json" >"$LOGS/c-converge-$n.log" 2>&1; then
    C_ERROR="bench/converge failed: $(tail -1 "$LOGS/c-converge-$n.log")"
    ok=0
  else
    grep '^converge n=' "$LOGS/c-converge-$n.log" >&2
    check_disturbed "C/N=$n"
  fi
  # The workers converge started, for the final stray check.
  local pid
  for pid in $(sed -n 's/^converge: worker [0-9]* (pid \([0-9]*\)).*/\1/p' "$LOGS/c-converge-$n.log"); do
    SEEN_PIDS+=("$pid")
  done
  stop_bg "$name"
  ((ok))
}
