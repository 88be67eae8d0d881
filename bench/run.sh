#!/usr/bin/env bash
# bench/run.sh — lanemesh's side-by-side benchmark, all on this machine,
# written to bench/out/results.md and bench/out/results.json:
#   A  the gateway against nginx, HAProxy, a tuned Go httputil.ReverseProxy
#      and a direct call;
#   B  the tutorial's call chain through the mesh (gateway and sidecars)
#      against the same apps calling each other directly;
#   C  control-plane convergence to 100 and 1,000 xDS clients;
#   D  failover of lane v2 to the fallback when mockb-v2 dies or is scaled
#      to zero;
#   E  the same chain with the gateway and each sidecar a separate proxy
#      process fed by a control plane over xDS, at 1,000 req/s: the latency
#      each proxy hop adds.
# See bench/README.md for what each figure means.
#
# Usage: bench/run.sh [--scenarios A,B,C,D,E] [--quick] [--check] [--duration S]
#                     [--rate N] [--chain-rate N] [--hop-rate N] [--conns N] [--repeat N]
#                     [--targets "direct haproxy ..."] [--no-install]
#
#   --scenarios L  which scenarios to run, comma-separated (default A,B,C,D,E)
#                                                              (BENCH_SCENARIOS)
#   --quick        3 s runs (CI smoke); default 10 s           (BENCH_QUICK=1)
#   --check        exit non-zero unless every asked-for scenario ran cleanly
#                  and no process was left running             (BENCH_CHECK=1)
#   --duration S   seconds per measurement                     (BENCH_DURATION)
#   --rate N       scenario A's fixed rate, requests/s (default 1000)  (BENCH_RATE)
#   --chain-rate N scenario B's fixed rate (default 500)      (BENCH_CHAIN_RATE)
#   --hop-rate N   scenario E's fixed rate (default 1000)     (BENCH_HOP_RATE)
#   BENCH_FAILOVER_RATE=N  scenario D's fixed rate (default 500)
#   BENCH_CONVERGE_N="100 1000"  scenario C's client counts (quick: 100)
#   BENCH_CONVERGE_CHANGES=N     scenario C's changes per count (20; quick: 6)
#   BENCH_IDLE_WAIT=S  how long to wait for other load (wrk, another
#                  bench/run.sh) to finish before each measurement (default 900)
#   --conns N      connections of every load run (default 32)  (BENCH_CONNS)
#   --repeat N     repeat A, B and E measurements N times, interleaved, and
#                  report medians (default 1; 3 on a busy machine)  (BENCH_REPEAT)
#   --targets T    which targets of scenario A, in order       (BENCH_TARGETS)
#   --no-install   fail instead of apt-get installing nginx, haproxy, wrk
#                                                             (BENCH_NO_INSTALL=1)
#   BENCH_LANEMESH=PATH  measure this lanemesh binary instead of building
#                  ./cmd/lanemesh from the work tree
#   BENCH_NICE=N   niceness of the harness and all it starts (default -10
#                  as root, so that other processes on the machine take less
#                  CPU from the proxy and the load generator; 0 to leave it)
#
# It installs nginx, haproxy and wrk with apt-get if they are missing (as
# root; scenario A only), builds its Go helpers and lanemesh into bench/out/,
# serves only on 127.0.0.1 (and the 127.0.1.x pod addresses of lanemesh up),
# and stops everything it started when it exits.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
OUT="$BENCH/out"
RAW="$OUT/raw"   # per-target results, read by bench/report
RUN="$OUT/run"   # generated configs and pid files
LOGS="$OUT/logs" # every process's output
export PATH="$PATH:/usr/sbin:/sbin"

SCENARIOS=${BENCH_SCENARIOS:-A,B,C,D,E}
QUICK=${BENCH_QUICK:-0}
CHECK=${BENCH_CHECK:-0}
DURATION=${BENCH_DURATION:-}
RATE=${BENCH_RATE:-1000}
CHAIN_RATE=${BENCH_CHAIN_RATE:-500}
HOP_RATE=${BENCH_HOP_RATE:-1000}
FAILOVER_RATE=${BENCH_FAILOVER_RATE:-500}
CONNS=${BENCH_CONNS:-32}
REPEAT=${BENCH_REPEAT:-1}
TARGETS=${BENCH_TARGETS:-direct haproxy haproxy-headers nginx baseline lanemesh}
NO_INSTALL=${BENCH_NO_INSTALL:-0}
LANEMESH_BIN=${BENCH_LANEMESH:-}
if [[ $(id -u) == 0 ]]; then NICE=${BENCH_NICE:--10}; else NICE=${BENCH_NICE:-0}; fi
PROXY_CPU=0 # the proxy under test
LOAD_CPU=1  # load generator and upstreams
FAILURES=()

# shellcheck source=lib/common.sh
source "$BENCH/lib/common.sh"
# shellcheck source=lib/setup.sh
source "$BENCH/lib/setup.sh"
# shellcheck source=scenarios/a_gateway.sh
source "$BENCH/scenarios/a_gateway.sh"
# shellcheck source=scenarios/b_chain.sh
source "$BENCH/scenarios/b_chain.sh"
# shellcheck source=scenarios/c_converge.sh
source "$BENCH/scenarios/c_converge.sh"
# shellcheck source=scenarios/d_failover.sh
source "$BENCH/scenarios/d_failover.sh"
# shellcheck source=scenarios/e_hops.sh
source "$BENCH/scenarios/e_hops.sh"

usage() {
  sed -n '2,/^# shellcheck/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit "${1:-0}"
}

parse_args() {
  while (($#)); do
    case $1 in
      --quick) QUICK=1 ;;
      --check) CHECK=1 ;;
      --duration) DURATION=$2; shift ;;
      --scenarios) SCENARIOS=$2; shift ;;
      --rate) RATE=$2; shift ;;
      --chain-rate) CHAIN_RATE=$2; shift ;;
      --hop-rate) HOP_RATE=$2; shift ;;
      --conns) CONNS=$2; shift ;;
      --repeat) REPEAT=$2; shift ;;
      --targets) TARGETS=$2; shift ;;
      --no-install) NO_INSTALL=1 ;;
      -h | --help) usage 0 ;;
      *) log "unknown option $1"; usage 2 ;;
    esac
    shift
  done
  if [[ -z $DURATION ]]; then
    if ((QUICK)); then DURATION=3; else DURATION=10; fi
  fi
  if ((QUICK)); then WARMUP=500ms CHECK_N=5; else WARMUP=1s CHECK_N=20; fi
  local n
  for n in "$DURATION" "$RATE" "$CHAIN_RATE" "$HOP_RATE" "$FAILOVER_RATE" "$CONNS" "$REPEAT"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "--duration, --rate, --chain-rate, --hop-rate, --conns and --repeat take positive integers, not '$n'"
  done
  SCENARIOS=${SCENARIOS^^}
  SCENARIOS=${SCENARIOS// /}
  [[ $SCENARIOS =~ ^[A-E](,[A-E])*$ ]] || die "--scenarios takes a comma-separated list of A, B, C, D, E, not '$SCENARIOS'"
}

# selected ID is true if scenario ID is to run.
selected() { [[ ,$SCENARIOS, == *,$1,* ]]; }

cleanup() {
  local rc=$?
  not_waiting
  stop_all
  exit "$rc"
}

# write_run_json records the run's settings and the machine's state.
write_run_json() {
  printf '{"started":%s,"mode":%s,"duration_s":%s,"rate":%s,"chain_rate":%s,"hop_rate":%s,"failover_rate":%s,"conns":%s,"repeat":%s,"nproc":%s,' \
    "$(json_str "$STARTED")" "$(json_str "$( ((QUICK)) && echo quick || echo full)")" \
    "$DURATION" "$RATE" "$CHAIN_RATE" "$HOP_RATE" "$FAILOVER_RATE" "$CONNS" "$REPEAT" "$(nproc)" >"$RAW/run.json"
  local t targets=() scenarios=()
  for t in $TARGETS; do targets+=("$(json_str "$t")"); done
  for t in ${SCENARIOS//,/ }; do scenarios+=("$(json_str "$t")"); done
  printf '"targets":[%s],"scenarios":[%s],' "$(IFS=,; echo "${targets[*]}")" "$(IFS=,; echo "${scenarios[*]}")" >>"$RAW/run.json"
  if ((${#DISTURBED[@]})); then
    printf '"comment":%s,' "$(json_str "other load (wrk or another bench/run.sh) was running at the end of: ${DISTURBED[*]}; those figures may include it")" >>"$RAW/run.json"
  fi
  printf '"uptime_start":%s,"uptime_end":%s,"kernel":%s,"pinning":%s,"versions":%s}\n' \
    "$(json_str "$UPTIME_START")" "$(json_str "$(uptime)")" "$(json_str "$(uname -sr)")" \
    "$(json_str "system under test (proxy, lanemesh up, mocks, control plane) pinned to core $PROXY_CPU (taskset), load generator, upstreams and xDS clients to core $LOAD_CPU, all at nice $NICE; one system under test runs at a time")" \
    "$(version_json)" >>"$RAW/run.json"
}

main() {
  parse_args "$@"
  (($(nproc) >= 2)) || die "needs 2 cores (proxy on core $PROXY_CPU, load on core $LOAD_CPU); this machine has $(nproc)"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  wait_idle
  rm -rf "$RAW" "$RUN" "$LOGS"
  mkdir -p "$OUT" "$RAW" "$RUN" "$LOGS"
  if [[ $NICE != 0 ]]; then
    renice -n "$NICE" -p $$ >/dev/null || die "cannot renice to $NICE (BENCH_NICE=0 to skip)"
  fi
  STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  UPTIME_START=$(uptime)
  log "uptime: $UPTIME_START"

  if selected A || selected E; then ensure_packages; fi
  build_helpers

  local id
  for id in A B C D E; do
    if selected "$id"; then "scenario_${id,,}"; fi
  done

  stop_all
  check_no_strays
  write_run_json
  local check=()
  ((CHECK)) && check=(-check)
  "$OUT/report" -raw "$RAW" -json "$OUT/results.json" -md "$OUT/results.md" "${check[@]}"
  log "wrote $OUT/results.md and $OUT/results.json"
  cat "$OUT/results.md"
  if ((${#FAILURES[@]})); then
    log "FAILED targets:"
    printf '  %s\n' "${FAILURES[@]}" >&2
    exit 1
  fi
}

main "$@"
