#!/usr/bin/env bash
# proxy-rss.sh measures the resident memory of lanemesh's gateway proxy, as
# issue #14 asks (idle ≤ 20 MB, under load ≤ 25 MB): a real control plane
# (`lanemesh controlplane`) serves the traffic-lane tutorial's configuration
# (examples/traffic-lanes, with mocka's three versions as WorkloadEntries on
# bench/upstream's listeners) to a gateway proxy, which is measured
#
#   - idle: VmRSS BENCH_RSS_SETTLE seconds (default 10) after it first routes
#     every lane, with no traffic;
#   - under load: the peak VmRSS (VmHWM) of a fixed-rate run of
#     BENCH_RSS_RATE requests/s (default 1000) over 32 connections for
#     BENCH_RSS_DURATION (default 10s), rotating lanes v1, v2, v3, and VmRSS
#     at its end; and the proxy's CPU time (user + system) per request over
#     that run, which shows what a memory setting costs in CPU.
#
# The two "anon" columns are the anonymous part of the idle and load-end
# figures (RssAnon: the Go heap, stacks, runtime metadata). The rest is the
# binary's own pages, which moved by several MB between runs of the full
# binary at different times on a shared machine: compare builds within one
# run, and runtime settings by their anon.
#
# With BENCH_RSS_DETAIL=1 each proxy also gets an admin listener, and its
# memory is broken down into bench/out/rss/logs/NAME.{idle,load}.detail:
# VmRSS by mapping (the binary's text, rodata and data, the Go heap and the
# rest, from /proc/PID/smaps) and the Go runtime's own accounts (heap in
# use, idle, released, stacks, from the admin /metrics). The admin listener
# costs a little memory itself, so the table's figures are from runs
# without it.
#
# Each proxy build is measured in turn against the same control plane: the
# full binary's `lanemesh proxy` ("full"), the slim `lanemesh-proxy` as
# build-proxy.sh builds it ("slim"), and, when BENCH_RSS_PROXIES names it,
# the slim proxy from a bare `go build` ("plain"); a table goes to stdout.
# Everything runs on 127.0.0.1 on free ports and is stopped by pid on exit.
#
#   ./bench/proxy-rss.sh
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=$BENCH/out/rss
LOGS=$OUT/logs
SETTLE=${BENCH_RSS_SETTLE:-10}
RATE=${BENCH_RSS_RATE:-1000}
DURATION=${BENCH_RSS_DURATION:-10s}
DETAIL=${BENCH_RSS_DETAIL:-0}
# BENCH_RSS_PROXIES picks the builds measured, from "full slim plain";
# the default is "full slim".
PROXIES=${BENCH_RSS_PROXIES:-full slim}
mkdir -p "$OUT" "$LOGS"

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

log() { printf '[proxy-rss %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# rss_kb PID FIELD prints FIELD (VmRSS, VmHWM) of PID in kB.
rss_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

log "building into $OUT"
rm -f "$OUT/lanemesh-proxy" "$OUT/lanemesh-proxy-plain"
# The slim proxy is built as shipped, by build-proxy.sh; "plain" is the
# same package from a bare `go build`, to show what the script's flags save.
(cd "$ROOT" && go build -o "$OUT/lanemesh" ./cmd/lanemesh &&
  go build -o "$OUT/upstream" ./bench/upstream && go build -o "$OUT/load" ./bench/load &&
  if [[ -x build-proxy.sh ]]; then ./build-proxy.sh -o "$OUT/lanemesh-proxy"; fi &&
  if [[ " $PROXIES " == *" plain "* ]]; then go build -o "$OUT/lanemesh-proxy-plain" ./cmd/lanemesh-proxy; fi) ||
  die "go build failed"

read -r -a PORTS <<<"$("$OUT/load" ports -n 8 | tr '\n' ' ')"
UP1=${PORTS[0]} UP2=${PORTS[1]} UP3=${PORTS[2]} XDS=${PORTS[3]} ADMIN=${PORTS[4]}

CFG=$OUT/config
rm -rf "$CFG" && mkdir -p "$CFG"
cp "$ROOT"/examples/traffic-lanes/*.yaml "$CFG/"
for v in 1 2 3; do
  port_var=UP$v
  cat >>"$CFG/workloads.yaml" <<EOF
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: mocka-v$v
  namespace: default
spec:
  address: 127.0.0.1
  ports:
    http: ${!port_var}
  labels:
    app: mocka
    version: v$v
---
EOF
done

export LANEMESH_HOME=$OUT/home
mkdir -p "$LANEMESH_HOME"

"$OUT/upstream" -listen "v1=127.0.0.1:$UP1,v2=127.0.0.1:$UP2,v3=127.0.0.1:$UP3" >"$LOGS/upstream.log" 2>&1 &
PIDS+=($!)
"$OUT/lanemesh" controlplane -f "$CFG" --xds "127.0.0.1:$XDS" --admin "127.0.0.1:$ADMIN" >"$LOGS/controlplane.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 300; i++)); do grep -q '^ready' "$LOGS/controlplane.log" && break; sleep 0.1; done
grep -q '^ready' "$LOGS/controlplane.log" || die "control plane not ready, see $LOGS/controlplane.log"
TOKEN=$(sed -n 's/^xds: .* (operator token in \(.*\))$/\1/p' "$LOGS/controlplane.log")

# detail PID ADMINPORT FILE writes the memory breakdown of PID to FILE.
detail() {
  {
    grep -E '^(VmRSS|VmHWM|RssAnon|RssFile|VmData|VmStk|Threads)' "/proc/$1/status"
    echo "--- smaps_rollup"
    tail -n +2 "/proc/$1/smaps_rollup"
    echo "--- Rss by mapping (kB): pathname or [anon], permissions"
    awk '/^[0-9a-f]+-[0-9a-f]+ / {name = ($6 == "" ? "[anon]" : $6); perm = $2}
         $1 == "Rss:" {rss[name " " perm] += $2}
         END {for (k in rss) if (rss[k] > 0) printf "%8d %s\n", rss[k], k}' "/proc/$1/smaps" | sort -rn
    echo "--- Go runtime (bytes)"
    curl -s "http://127.0.0.1:$2/metrics" | grep -E '^go_(memstats_[a-z_]+_bytes|goroutines|threads|gc_gogc|gc_gomemlimit)' || true
  } >"$3"
}

# measure NAME GWPORT CMD... runs one proxy build and prints its table row.
measure() {
  local name=$1 port=$2 pid lane i idle hwm end idleanon endanon
  shift 2
  local admin=()
  [[ $DETAIL == 1 ]] && admin=(--admin "127.0.0.1:${PORTS[7]}")
  "$@" --role gateway --xds "127.0.0.1:$XDS" --xds-token-file "$TOKEN" --port-map "80=127.0.0.1:$port" "${admin[@]}" \
    >"$LOGS/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for lane in v1 v2 v3; do
    for ((i = 0; i < 300; i++)); do
      [[ $(curl -s -H "x-asm-prefer-tag: $lane" "http://127.0.0.1:$port/mock" 2>/dev/null) == "mocka-$lane" ]] && break
      sleep 0.1
    done
    ((i < 300)) || die "$name does not route lane $lane, see $LOGS/$name.log"
  done
  sleep "$SETTLE"
  idle=$(rss_kb "$pid" VmRSS)
  idleanon=$(rss_kb "$pid" RssAnon)
  [[ $DETAIL == 1 ]] && detail "$pid" "${PORTS[7]}" "$LOGS/${name// /-}.idle.detail"
  "$OUT/load" rate -url "http://127.0.0.1:$port/mock" -rate "$RATE" -duration "$DURATION" -conns 32 \
    -pid "$pid" -out "$LOGS/$name.rate.json" >"$LOGS/$name.rate.log" 2>&1 || die "load failed, see $LOGS/$name.rate.log"
  hwm=$(rss_kb "$pid" VmHWM)
  end=$(rss_kb "$pid" VmRSS)
  endanon=$(rss_kb "$pid" RssAnon)
  [[ $DETAIL == 1 ]] && detail "$pid" "${PORTS[7]}" "$LOGS/${name// /-}.load.detail"
  local ok errors cpu
  ok=$(sed -n 's/^  "ok": \([0-9]*\),$/\1/p' "$LOGS/$name.rate.json")
  errors=$(sed -n 's/^  "errors": \([0-9]*\),$/\1/p' "$LOGS/$name.rate.json")
  cpu=$(sed -n 's/^    "cpu_seconds": \([0-9.]*\),$/\1/p' "$LOGS/$name.rate.json")
  printf '%-26s %8s %12s %10s %6s %6s %8s %7s %8s\n' "$name" "$(mb "$idle")" "$(mb "$hwm")" "$(mb "$end")" \
    "$(mb "$idleanon")" "$(mb "$endanon")" "$ok" "$errors" \
    "$(awk -v c="$cpu" -v n="$ok" 'BEGIN {if (n > 0) printf "%.0f", c * 1e6 / n; else print "-"}')"
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

printf '%-26s %8s %12s %10s %6s %6s %8s %7s %8s\n' "proxy (RSS in MB)" "idle" "load peak" "load end" \
  "anon" "anon" "ok" "errors" "µs CPU/req"
[[ " $PROXIES " == *" full "* ]] && measure "lanemesh proxy" "${PORTS[5]}" "$OUT/lanemesh" proxy
# A tree from before cmd/lanemesh-proxy has only the full binary.
[[ " $PROXIES " == *" slim "* && -x $OUT/lanemesh-proxy ]] && measure "lanemesh-proxy" "${PORTS[6]}" "$OUT/lanemesh-proxy"
[[ " $PROXIES " == *" plain "* ]] && measure "lanemesh-proxy (go build)" "${PORTS[6]}" "$OUT/lanemesh-proxy-plain"
log "load: $RATE req/s for $DURATION over 32 connections; idle after ${SETTLE}s; logs in $LOGS"
