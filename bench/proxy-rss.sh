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
#     at its end.
#
# Each proxy build is measured in turn, the full `lanemesh proxy` and the
# slim `lanemesh-proxy` (cmd/lanemesh-proxy), against the same control
# plane; a table goes to stdout. Everything runs on 127.0.0.1 on free ports
# and is stopped by pid on exit.
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
# The slim proxy's build, as cmd/lanemesh-proxy's doc gives it: no cgo (the
# pure-Go resolver; no libc mapped) and grpc-go without golang.org/x/net/trace
# (and with it html/template).
SLIM_CGO=${BENCH_RSS_SLIM_CGO:-0}
SLIM_FLAGS=${BENCH_RSS_SLIM_FLAGS:--tags=grpcnotrace}
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
rm -f "$OUT/lanemesh-proxy"
(cd "$ROOT" && go build -o "$OUT/lanemesh" ./cmd/lanemesh &&
  go build -o "$OUT/upstream" ./bench/upstream && go build -o "$OUT/load" ./bench/load &&
  if [[ -d cmd/lanemesh-proxy ]]; then
    # shellcheck disable=SC2086 # SLIM_FLAGS is a list of flags
    CGO_ENABLED=$SLIM_CGO go build $SLIM_FLAGS -o "$OUT/lanemesh-proxy" ./cmd/lanemesh-proxy
  fi) ||
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

# measure NAME GWPORT CMD... runs one proxy build and prints its table row.
measure() {
  local name=$1 port=$2 pid lane i idle hwm end
  shift 2
  "$@" --role gateway --xds "127.0.0.1:$XDS" --xds-token-file "$TOKEN" --port-map "80=127.0.0.1:$port" \
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
  "$OUT/load" rate -url "http://127.0.0.1:$port/mock" -rate "$RATE" -duration "$DURATION" -conns 32 \
    -pid "$pid" -out "$LOGS/$name.rate.json" >"$LOGS/$name.rate.log" 2>&1 || die "load failed, see $LOGS/$name.rate.log"
  hwm=$(rss_kb "$pid" VmHWM)
  end=$(rss_kb "$pid" VmRSS)
  local ok errors
  ok=$(sed -n 's/^  "ok": \([0-9]*\),$/\1/p' "$LOGS/$name.rate.json")
  errors=$(sed -n 's/^  "errors": \([0-9]*\),$/\1/p' "$LOGS/$name.rate.json")
  printf '%-26s %8s %12s %10s %8s %7s\n' "$name" "$(mb "$idle")" "$(mb "$hwm")" "$(mb "$end")" "$ok" "$errors"
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

printf '%-26s %8s %12s %10s %8s %7s\n' "proxy (RSS in MB)" "idle" "load peak" "load end" "ok" "errors"
measure "lanemesh proxy" "${PORTS[5]}" "$OUT/lanemesh" proxy
# A tree from before cmd/lanemesh-proxy has only the full binary.
[[ -x $OUT/lanemesh-proxy ]] && measure "lanemesh-proxy" "${PORTS[6]}" "$OUT/lanemesh-proxy"
log "load: $RATE req/s for $DURATION over 32 connections; idle after ${SETTLE}s; logs in $LOGS"
