#!/usr/bin/env bash
# bench/speed.sh — A/B of lanemesh gateway builds at saturation (or at a
# fixed rate), for work on the data plane's cost per request. Scenario A's setup without its peers:
# bench/upstream (v1–v3) and the load on core 1, each lanemesh binary in turn
# pinned to core 0 (GOMAXPROCS=1), wrk -t1 -c32 rotating the lane header.
# Repetitions are interleaved (every binary, then every binary again).
#
#   bench/speed.sh [-d SECONDS] [-n REPEAT] [-s] [-r RATE] BINARY...
#
# Per run it prints req/s, the proxy's share of core 0 (utime+stime from
# /proc), req/s per proxy core, and with -s the system calls per request
# from `strace -c -f` attached for 3 s in the middle of a second wrk run
# (strace slows the proxy: those runs are not timed). EAGAIN is read's
# error count in strace -c's table. Requests in the strace window are
# taken as writes / 2 (each request is one write of the upstream request
# and one of the response), so the figures hold while both stay one write.
#
# With -r RATE the load is bench/load's open loop at RATE requests/s over
# 32 connections instead, and a run prints the proxy's CPU per 1,000
# requests/s; with -s as well, `perf stat --per-thread` counts, for 3 s in
# the middle of the run, each of the proxy's threads' context switches and
# system calls per request: at light load the Go runtime's own threads
# (sysmon's nanosleep and futex) show there, where strace would slow the
# proxy enough to hide them.
#
# For the comparison with HAProxy and nginx use bench/run.sh --scenarios A.
set -euo pipefail

DUR=5 REP=3 STRACE=0 RATE=
while getopts "d:n:sr:" o; do
  case $o in
    r) RATE=$OPTARG ;;
    d) DUR=$OPTARG ;;
    n) REP=$OPTARG ;;
    s) STRACE=1 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
(($# > 0)) || { echo "usage: $0 [-d S] [-n N] [-s] [-r RATE] BINARY..." >&2; exit 2; }
[[ -z $RATE || $RATE =~ ^[1-9][0-9]*$ ]] || { echo "-r takes requests/s, not '$RATE'" >&2; exit 2; }

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/speed-sh.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

go build -o "$WORK/upstream" "$REPO/bench/upstream"
go build -o "$WORK/load" "$REPO/bench/load"
read -r -a ports <<<"$("$WORK/load" ports -n 5)"
UP1=${ports[0]} UP2=${ports[1]} UP3=${ports[2]} PORT=${ports[3]} ADMIN=${ports[4]}

wait_port() {
  local i
  for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

GOMAXPROCS=1 taskset -c 1 "$WORK/upstream" -listen "v1=127.0.0.1:$UP1,v2=127.0.0.1:$UP2,v3=127.0.0.1:$UP3" \
  >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
for p in "$UP1" "$UP2" "$UP3"; do wait_port "$p"; done

CFG=$WORK/cfg
mkdir -p "$CFG"
cp "$REPO/examples/traffic-lanes/gw-mock.yaml" "$CFG/"
sed -e "s/@UP1@/$UP1/; s/@UP2@/$UP2/; s/@UP3@/$UP3/" "$REPO/bench/conf/lanemesh/mocka.yaml.in" >"$CFG/mocka.yaml"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

run_one() { # BINARY LABEL
  local bin=$1 label=$2 pid t0 t1 out rps cpu
  GOMAXPROCS=1 taskset -c 0 "$bin" proxy --role gateway --static -f "$CFG" \
    --port-map "80=127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN" >"$WORK/proxy.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_port "$PORT"
  if [[ -n $RATE ]]; then
    run_rate "$pid" "$label"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    return
  fi
  taskset -c 1 wrk -t1 -c32 -d1s -s "$REPO/bench/conf/lanes.lua" "http://127.0.0.1:$PORT/mock" >/dev/null
  t0=$(ticks "$pid")
  out=$(taskset -c 1 wrk -t1 -c32 -d"${DUR}s" -s "$REPO/bench/conf/lanes.lua" "http://127.0.0.1:$PORT/mock" | tail -1)
  t1=$(ticks "$pid")
  rps=$(sed 's/.*"rps":\([0-9.]*\).*/\1/' <<<"$out")
  cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v d="$DUR" 'BEGIN{printf "%.3f", (b-a)/hz/d}')
  local line
  line=$(awk -v l="$label" -v r="$rps" -v c="$cpu" 'BEGIN{printf "%-12s req/s %8.0f  proxy core %5.1f%%  req/s per core %8.0f", l, r, 100*c, r/c}')
  if ((STRACE)); then
    taskset -c 1 wrk -t1 -c32 -d8s -s "$REPO/bench/conf/lanes.lua" "http://127.0.0.1:$PORT/mock" >"$WORK/wrk-s.out" &
    local w=$!
    sleep 2
    timeout -s INT 3 strace -c -f -p "$pid" -o "$WORK/strace.txt" >/dev/null 2>&1 || true
    wait "$w"
    line+=$(awk '$NF=="read"||$NF=="write"||$NF=="epoll_pwait"||$NF=="futex"||$NF=="nanosleep"||$NF=="sched_yield"||$NF=="writev" {
        calls[$NF]=$4; errs[$NF]=($5 ~ /^[0-9]+$/ ? $5 : 0) }
      END { w=calls["write"]+calls["writev"]; if (w == 0) w = 1; req = w/2;
        printf "  | per req: read %.2f (EAGAIN %.2f) write %.2f epoll %.3f futex %.3f yield %.3f",
          calls["read"]/req, errs["read"]/req, w/req, calls["epoll_pwait"]/req, calls["futex"]/req, calls["sched_yield"]/req }' \
      "$WORK/strace.txt")
  fi
  echo "$line"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

# run_rate PID LABEL loads the proxy PID at RATE requests/s for DUR seconds
# and prints its CPU per 1,000 requests/s (and with -s its threads' calls).
run_rate() {
  local pid=$1 label=$2 stat=$WORK/perf-stat.txt perfpid=
  if ((STRACE)); then
    command -v perf >/dev/null || { echo "-s with -r needs perf (apt-get install linux-perf)" >&2; exit 1; }
    rm -f "$stat"
    (sleep $((DUR / 2)) && perf stat --per-thread -x, -o "$stat" -p "$pid" \
      -e context-switches,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep \
      -- sleep 3 >/dev/null 2>&1) &
    perfpid=$!
  fi
  GOMAXPROCS=2 taskset -c 1 "$WORK/load" rate -url "http://127.0.0.1:$PORT/mock" -rate "$RATE" \
    -duration "${DUR}s" -conns 32 -pid "$pid" -out "$WORK/rate.json" >"$WORK/rate.log" 2>&1
  local cores
  cores=$(tr -d ' \n' <"$WORK/rate.json" | sed 's/.*"proxy":{[^}]*"cpu_cores":\([0-9.e-]*\).*/\1/')
  awk -v l="$label" -v c="$cores" -v r="$RATE" 'BEGIN{printf "%-12s %d req/s  proxy CPU per 1k req/s %5.1f%% of a core\n", l, r, 100*c*1000/r}'
  if [[ -n $perfpid ]]; then
    wait "$perfpid" || true
    # perf -x, lines: value,unit,event,... per thread as "comm-tid,value,..."
    awk -F, -v r="$RATE" '$2 ~ /^[0-9]+$/ { ev=$4; sub(/syscalls:sys_enter_/, "", ev); v[$1] = v[$1] sprintf(" %s %.2f", ev, $2 / (3 * r)) }
      END { for (t in v) if (v[t] !~ /^( [a-z_-]+ 0\.00)*$/) print "    thread " t ", per request:" v[t] }' "$stat" | sort
  fi
}

echo "# $(uptime)"
for ((r = 1; r <= REP; r++)); do
  i=0
  for b in "$@"; do
    i=$((i + 1))
    run_one "$b" "$(basename "$b")"
  done
done
echo "# $(uptime)"
