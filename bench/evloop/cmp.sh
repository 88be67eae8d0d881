#!/usr/bin/env bash
# bench/evloop/cmp.sh — HAProxy vs lanemesh vs the gnet event-loop prototype
# (bench/evloop) doing scenario A's job, each pinned to core 0 (Go ones with
# GOMAXPROCS=1), bench/upstream and the load on core 1. Run it under the
# benchmark lock, one mode per locked run:
#
#   flock /tmp/lanemesh-bench.lock bench/evloop/cmp.sh sat  [REPS] [DUR]   # default 3 8
#   flock /tmp/lanemesh-bench.lock bench/evloop/cmp.sh rate [RATE] [DUR]   # default 1000 10
#   flock /tmp/lanemesh-bench.lock bench/evloop/cmp.sh satprof [DUR]       # default 8
#
# sat: closed loop, `wrk -t1 -c32 -s bench/conf/lanes.lua` after a 1 s
# warm-up; the proxy's CPU is utime+stime from /proc/PID/stat before and
# after, and req/s per proxy core = req/s / its share of core 0.
# Repetitions are interleaved (haproxy, lanemesh, evloop, then again).
# rate: bench/load's open loop at RATE req/s over 32 connections (which
# also checks every answer came from its lane's upstream); prints CPU per
# 1k req/s, then `perf record` (4 s) and `perf stat` of every system call
# and the context switches (3 s) in the middle of the run, per request,
# and the perf samples split into kernel and user time per request.
# satprof: the same perf record and perf stat under wrk's closed loop
# (not timed: perf slows the proxy a little), per request from wrk's rate.
#
# Binaries (build them first, outside the lock):
#   go build -o /tmp/evloop-lm ./cmd/lanemesh; go build -o /tmp/evloop-up ./bench/upstream
#   go build -o /tmp/evloop-load ./bench/load; (cd bench/evloop && go build -o /tmp/evloop-ev .)
# TARGETS="haproxy lanemesh evloop" picks and orders the targets: evloop is
# the prototype on gnet, evloop-gmp2 the same with GOMAXPROCS=2 (on core 0
# alone, like the others), evloop-epoll the prototype on epoll.go's loop.
set -euo pipefail
MODE=${1:-sat}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
LM=${LM:-/tmp/evloop-lm} EV=${EV:-/tmp/evloop-ev} UPB=${UPB:-/tmp/evloop-up} LOAD=${LOAD:-/tmp/evloop-load}
W=$(mktemp -d /tmp/evloop-cmp.XXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_port() {
  local i
  for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 never opened" >&2
  return 1
}

read -r UP1 UP2 UP3 PORT ADMIN <<<"$("$LOAD" ports -n 5)"
GOMAXPROCS=1 taskset -c 1 "$UPB" -listen "v1=127.0.0.1:$UP1,v2=127.0.0.1:$UP2,v3=127.0.0.1:$UP3" >"$W/up.log" 2>&1 &
PIDS+=($!)
for p in $UP1 $UP2 $UP3; do wait_port "$p"; done
sed -e "s/@UP1@/$UP1/; s/@UP2@/$UP2/; s/@UP3@/$UP3/; s/@PORT@/$PORT/; s#@RUN@#$W#" "$REPO/bench/conf/haproxy.cfg.in" >"$W/h.cfg"
mkdir -p "$W/cfg"
cp "$REPO/examples/traffic-lanes/gw-mock.yaml" "$W/cfg/"
sed -e "s/@UP1@/$UP1/; s/@UP2@/$UP2/; s/@UP3@/$UP3/" "$REPO/bench/conf/lanemesh/mocka.yaml.in" >"$W/cfg/mocka.yaml"

start() { # TARGET: starts it on core 0, sets PID
  local t=$1
  case $t in
  haproxy) taskset -c 0 haproxy -db -f "$W/h.cfg" >"$W/$t.log" 2>&1 & ;;
  lanemesh) GOMAXPROCS=1 taskset -c 0 "$LM" proxy --role gateway --static -f "$W/cfg" \
    --port-map "80=127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN" >"$W/$t.log" 2>&1 & ;;
  evloop | evloop-gmp2) # evloop-gmp2: GOMAXPROCS=2, still on core 0 alone
    GOMAXPROCS=$([[ $t == evloop ]] && echo 1 || echo 2) taskset -c 0 "$EV" -engine gnet -listen "127.0.0.1:$PORT" \
    -up "v1=127.0.0.1:$UP1,v2=127.0.0.1:$UP2,v3=127.0.0.1:$UP3" >"$W/$t.log" 2>&1 & ;;
  evloop-epoll) GOMAXPROCS=1 taskset -c 0 "$EV" -engine epoll -listen "127.0.0.1:$PORT" \
    -up "v1=127.0.0.1:$UP1,v2=127.0.0.1:$UP2,v3=127.0.0.1:$UP3" >"$W/$t.log" 2>&1 & ;;
  esac
  PID=$!
  PIDS+=("$PID")
  wait_port "$PORT"
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
wrk_run() { taskset -c 1 wrk -t1 -c32 -d"$1"s -s "$REPO/bench/conf/lanes.lua" "http://127.0.0.1:$PORT/mock" | tail -1; }

# profile LABEL REQS_PER_S CPU_CORES: perf record 4 s then perf stat 3 s
# of PID, started now; prints per-request figures when done.
profile_bg() {
  (
    perf record -q -F 20000 -g -o "$W/perf-$1.data" -p "$PID" -- sleep 4 >/dev/null 2>&1
    perf stat --per-thread -x, -o "$W/stat-$1.txt" -e 'syscalls:sys_enter_*',context-switches -p "$PID" -- sleep 3 >/dev/null 2>&1
  ) &
  PP=$!
}
profile_report() { # LABEL REQ/S CPU-CORES
  local l=$1 r=$2 c=$3
  # perf stat --per-thread -x, lines: THREAD-TID,VALUE,UNIT,EVENT,...
  awk -F, -v r="$r" '$2+0>0 {v[$4]+=$2} END {for (e in v) printf "    %s %.3f\n", e, v[e]/(3*r)}' "$W/stat-$l.txt" |
    sed 's/syscalls:sys_enter_//' | sort -k2 -nr | head -12
  awk -F, -v r="$r" '$2+0>0 && $4 ~ /^syscalls/ {s+=$2} END {printf "    all system calls %.2f per request\n", s/(3*r)}' "$W/stat-$l.txt"
  awk -F, -v r="$r" '$2+0>0 { ev=$4; sub(/syscalls:sys_enter_/, "", ev); if ($2/(3*r) >= 0.01) t[$1]=t[$1] sprintf(" %s %.2f", ev, $2/(3*r)) }
    END { for (x in t) print "      thread " x ":" t[x] }' "$W/stat-$l.txt" | sort
  # cpu-clock samples: kernel ([k]) or user, as a share of the process's CPU
  perf report -i "$W/perf-$l.data" --stdio --no-children -g none --sort sym 2>/dev/null |
    awk -v r="$r" -v c="$c" -v l="$l" '/^ +[0-9.]+%/ { p=$1; sub(/%/,"",p); if ($0 ~ /\[k\]/) k+=p; else u+=p }
      END { us=1e6*c/r; printf "    perf: kernel %.1f%% user %.1f%% of samples; CPU %.1f us/req = kernel %.1f + user %.1f us/req\n", k, u, us, us*k/(k+u), us*u/(k+u) }'
  perf report -i "$W/perf-$l.data" --stdio --no-children -g none --sort sym 2>/dev/null | grep -E '^ +[0-9]' | head -25 >"$W/top-$l.txt" || true
  cp "$W/perf-$l.data" "/tmp/evloop-perf-$l-$MODE.data" 2>/dev/null || true
  cp "$W/top-$l.txt" "/tmp/evloop-top-$l-$MODE.txt"
}

echo "# $MODE $(date -u +%H:%M:%S) $(uptime)"
TARGETS=${TARGETS:-haproxy lanemesh evloop}
case $MODE in
sat)
  REPS=${2:-3} DUR=${3:-8}
  for ((rep = 1; rep <= REPS; rep++)); do
    for t in $TARGETS; do
      start "$t"
      wrk_run 1 >/dev/null
      t0=$(ticks "$PID")
      out=$(wrk_run "$DUR")
      t1=$(ticks "$PID")
      stop
      rps=$(sed 's/.*"rps":\([0-9.]*\).*/\1/' <<<"$out")
      errs=$(grep -o '"errors":{[^}]*}' <<<"$out")
      awk -v l="$t" -v n="$rep" -v r="$rps" -v a="$t0" -v b="$t1" -v hz="$HZ" -v d="$DUR" -v e="$errs" \
        'BEGIN{c=(b-a)/hz/d; printf "rep %d %-9s req/s %8.0f  proxy core %5.1f%%  req/s per core %8.0f  %s\n", n, l, r, 100*c, r/c, e}'
    done
  done
  ;;
rate)
  RATE=${2:-1000} DUR=${3:-10}
  for t in $TARGETS; do
    start "$t"
    sleep 0.5
    # perf starts mid-run, after the warm-up
    (sleep $((DUR / 2 - 2)); perf record -q -F 20000 -g -o "$W/perf-$t.data" -p "$PID" -- sleep 4 >/dev/null 2>&1
      perf stat --per-thread -x, -o "$W/stat-$t.txt" -e 'syscalls:sys_enter_*',context-switches -p "$PID" -- sleep 3 >/dev/null 2>&1) &
    PP=$!
    GOMAXPROCS=2 taskset -c 1 "$LOAD" rate -url "http://127.0.0.1:$PORT/mock" -rate "$RATE" -duration "${DUR}s" \
      -conns 32 -pid "$PID" -out "$W/$t.json" >"$W/$t.rate.log" 2>&1 || true
    wait "$PP" || true
    stop
    j=$(tr -d ' \n' <"$W/$t.json")
    cores=$(sed 's/.*"proxy":{[^}]*"cpu_cores":\([0-9.e-]*\).*/\1/' <<<"$j")
    ok=$(sed 's/.*"ok":\([0-9]*\).*/\1/' <<<"$j") errs=$(sed 's/.*"errors":\([0-9]*\).*/\1/' <<<"$j") mis=$(sed 's/.*"misrouted":\([0-9]*\).*/\1/' <<<"$j")
    p50=$(grep -o '"latency":{[^}]*}' <<<"$j" | head -1)
    awk -v l="$t" -v c="$cores" -v r="$RATE" -v ok="$ok" -v e="$errs" -v m="$mis" -v lat="$p50" \
      'BEGIN{printf "%-9s %d req/s  proxy CPU per 1k req/s %5.2f%% of a core  (ok %d errors %d misrouted %d) %s\n", l, r, 100*c*1000/r, ok, e, m, lat}'
    profile_report "$t" "$RATE" "$cores"
  done
  ;;
satprof)
  DUR=${2:-8}
  for t in $TARGETS; do
    start "$t"
    wrk_run 1 >/dev/null
    t0=$(ticks "$PID")
    profile_bg "$t"
    out=$(wrk_run "$DUR")
    t1=$(ticks "$PID")
    wait "$PP" || true
    stop
    rps=$(sed 's/.*"rps":\([0-9.]*\).*/\1/' <<<"$out")
    cores=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v d="$DUR" 'BEGIN{printf "%.4f", (b-a)/hz/d}')
    echo "$t: req/s $rps under perf, proxy core $cores"
    profile_report "$t" "$rps" "$cores"
  done
  ;;
*) echo "mode: sat, rate or satprof" >&2; exit 2 ;;
esac
echo "# end $(date -u +%H:%M:%S) $(uptime)"
