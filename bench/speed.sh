#!/usr/bin/env bash
# bench/speed.sh — A/B of gateway builds' cost per request, for work on the
# data plane: scenario A's setup without the rest of run.sh. bench/upstream
# (v1–v3) and the load on core 1, each target in turn pinned to core 0,
# wrk -t1 -c32 rotating the lane header. Repetitions are interleaved (every
# target, then every target again), and the summary compares each target
# with the first by the median of paired ratios (run i against the first
# target's run i), since the host's speed drifts for minutes at a time.
#
#   bench/speed.sh [-d SECONDS] [-n REPEAT] [-s] [-r RATE] TARGET...
#
# A TARGET is a lanemesh binary (run as `proxy --role gateway --static`,
# GOMAXPROCS=1) or the word `haproxy`: HAProxy with run.sh's config
# (conf/haproxy.cfg.in), the issue's peer, so that a build can be put
# beside it by hand: `bench/speed.sh -n 5 haproxy ./lanemesh`.
#
# Per run it prints req/s, the proxy's share of core 0 and req/s per
# proxy core, and the proxy's user and system CPU per request (utime and
# stime from /proc over the window), which tell the proxy's own code from
# the kernel's work for it.
#
# With -r RATE the load is bench/load's open loop at RATE requests/s over
# 32 connections instead, and a run prints the proxy's CPU per 1,000
# requests/s.
#
# With -s, `perf stat` counts the proxy's system calls for 3 s, per
# request: at saturation in a second, untimed wrk run (counting slows
# every call), with -r in the middle of the window. Requests are taken as
# the sends (sendto and write) / 2, one of the upstream request and one of
# the response each, so the figures hold while both stay one call; EAGAIN
# reads show as reads above 2. With -r it counts per thread, with the
# threads' context switches: at light load the Go runtime's own threads
# (sysmon's nanosleep and futex) show there.
#
# For the full comparison with HAProxy and nginx, use run.sh --scenarios A.
set -euo pipefail

DUR=5 REP=3 PERF=0 RATE=
while getopts "d:n:sr:" o; do
  case $o in
    r) RATE=$OPTARG ;;
    d) DUR=$OPTARG ;;
    n) REP=$OPTARG ;;
    s) PERF=1 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
(($# > 0)) || { echo "usage: $0 [-d S] [-n N] [-s] [-r RATE] TARGET... (a lanemesh binary or haproxy)" >&2; exit 2; }
[[ -z $RATE || $RATE =~ ^[1-9][0-9]*$ ]] || { echo "-r takes requests/s, not '$RATE'" >&2; exit 2; }
[[ $DUR =~ ^[1-9][0-9]*$ ]] || { echo "-d takes whole seconds, not '$DUR'" >&2; exit 2; }
for t in "$@"; do
  if [[ $t == haproxy ]]; then
    command -v haproxy >/dev/null || { echo "haproxy is not installed (bench/run.sh installs it)" >&2; exit 1; }
  elif [[ ! -x $t ]]; then
    echo "$t: not an executable lanemesh binary, nor haproxy" >&2
    exit 2
  fi
done
if ((PERF)); then
  command -v perf >/dev/null || { echo "-s needs perf (apt-get install linux-perf)" >&2; exit 1; }
fi

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

(cd "$REPO" && go build -o "$WORK/upstream" ./bench/upstream && go build -o "$WORK/load" ./bench/load)
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
sed -e "s|@RUN@|$WORK|; s/@PORT@/$PORT/; s/@UP1@/$UP1/; s/@UP2@/$UP2/; s/@UP3@/$UP3/" \
  "$REPO/bench/conf/haproxy.cfg.in" >"$WORK/haproxy.cfg"

HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; } # utime stime

# start TARGET starts the proxy on core 0 and sets PID.
start() {
  if [[ $1 == haproxy ]]; then
    taskset -c 0 haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/proxy.log" 2>&1 &
  else
    GOMAXPROCS=1 taskset -c 0 "$1" proxy --role gateway --static -f "$CFG" \
      --port-map "80=127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN" >"$WORK/proxy.log" 2>&1 &
  fi
  PID=$!
  PIDS+=("$PID")
  wait_port "$PORT" || { echo "$1 did not listen on $PORT:" >&2; cat "$WORK/proxy.log" >&2; exit 1; }
}

# perf_stat DELAY PID OUT [--per-thread] counts PID's system calls for
# 3 s, starting DELAY s from now, in the background; it sets PERFPID.
perf_stat() {
  local delay=$1 pid=$2 out=$3
  shift 3
  (sleep "$delay" && perf stat "$@" -x, -o "$out" -p "$pid" \
    -e context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_write,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_clock_gettime,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep \
    -- sleep 3 >/dev/null 2>&1) &
  PERFPID=$!
}

# calls_per_request OUT prints perf stat's counts in OUT per request, the
# requests being the sends / 2 (see the top).
calls_per_request() {
  awk -F, '$1 ~ /^[0-9]+$/ { ev=$3; sub(/(raw_)?syscalls:sys_enter_?/, "", ev); if (ev == "") ev = "all"; n[ev] += $1 }
    END { req = (n["sendto"] + n["write"]) / 2; if (req == 0) { print "  | no sends counted"; exit }
      printf "  | per req: syscalls %.2f (read %.2f, send %.2f, epoll %.2f, clock %.2f, futex %.2f), cs %.3f",
        n["all"] / req, (n["read"] + n["recvfrom"]) / req, (n["write"] + n["sendto"]) / req,
        (n["epoll_wait"] + n["epoll_pwait"]) / req, n["clock_gettime"] / req, n["futex"] / req, n["context-switches"] / req }' "$1"
}

# run_one TARGET LABEL REP measures one target once and appends its req/s
# per core (or CPU per 1k req/s) to $WORK/results.
run_one() {
  local label=$2 rep=$3 t0 t1 out rps line
  start "$1"
  if [[ -n $RATE ]]; then
    run_rate "$label" "$rep"
  else
    taskset -c 1 wrk -t1 -c32 -d1s -s "$REPO/bench/conf/lanes.lua" "http://127.0.0.1:$PORT/mock" >/dev/null
    t0=$(ticks "$PID")
    out=$(taskset -c 1 wrk -t1 -c32 -d"${DUR}s" -s "$REPO/bench/conf/lanes.lua" "http://127.0.0.1:$PORT/mock" | tail -1)
    t1=$(ticks "$PID")
    rps=$(sed 's/.*"rps":\([0-9.]*\).*/\1/' <<<"$out")
    line=$(awk -v l="$label" -v r="$rps" -v a="$t0" -v b="$t1" -v hz="$HZ" -v d="$DUR" -v rep="$rep" -v res="$WORK/results" 'BEGIN {
        split(a, x, " "); split(b, y, " "); u = (y[1] - x[1]) / hz; s = (y[2] - x[2]) / hz; c = (u + s) / d
        printf "%s %d %.0f\n", l, rep, r / c >> res
        printf "%-14s req/s %8.0f  proxy core %5.1f%%  req/s per core %8.0f  per req: user %5.2f µs sys %5.2f µs",
          l, r, 100 * c, r / c, 1e6 * u / (r * d), 1e6 * s / (r * d) }')
    if ((PERF)); then
      perf_stat 1 "$PID" "$WORK/perf-stat.txt"
      taskset -c 1 wrk -t1 -c32 -d5s -s "$REPO/bench/conf/lanes.lua" "http://127.0.0.1:$PORT/mock" >/dev/null
      wait "$PERFPID" || true
      line+=$(calls_per_request "$WORK/perf-stat.txt")
    fi
    echo "$line"
  fi
  kill "$PID"
  wait "$PID" 2>/dev/null || true
}

# run_rate LABEL REP loads the proxy PID at RATE requests/s for DUR seconds
# and prints its CPU per 1,000 requests/s; with -s, a second run of 5 s
# prints its threads' calls.
run_rate() {
  local label=$1 rep=$2 stat=$WORK/perf-stat.txt cores
  rate_load "$DUR"
  cores=$(tr -d ' \n' <"$WORK/rate.json" | sed 's/.*"proxy":{[^}]*"cpu_cores":\([0-9.e-]*\).*/\1/')
  awk -v l="$label" -v c="$cores" -v r="$RATE" -v rep="$rep" -v res="$WORK/results" 'BEGIN {
    printf "%s %d %.5f\n", l, rep, 100 * c * 1000 / r >> res
    printf "%-14s %d req/s  proxy CPU per 1k req/s %5.1f%% of a core\n", l, r, 100 * c * 1000 / r }'
  if ((PERF)); then
    perf_stat 1 "$PID" "$stat" --per-thread
    rate_load 5
    wait "$PERFPID" || true
    # perf -x, lines: "comm-tid,value,unit,event,..." per thread.
    awk -F, -v r="$RATE" '$2 ~ /^[0-9]+$/ { ev=$4; sub(/(raw_)?syscalls:sys_enter_?/, "", ev); if (ev == "") ev = "all"; v[$1] = v[$1] sprintf(" %s %.2f", ev, $2 / (3 * r)) }
      END { for (t in v) if (v[t] !~ /^( [a-z_-]+ 0\.00)*$/) print "    thread " t ", per request:" v[t] }' "$stat" | sort
  fi
}

# rate_load SECONDS runs bench/load's open loop against the proxy.
rate_load() {
  GOMAXPROCS=2 taskset -c 1 "$WORK/load" rate -url "http://127.0.0.1:$PORT/mock" -rate "$RATE" \
    -duration "${1}s" -conns 32 -pid "$PID" -out "$WORK/rate.json" >"$WORK/rate.log" 2>&1
}

echo "# $(uptime)"
labels=()
for t in "$@"; do
  l=$(basename "$t")
  while [[ " ${labels[*]} " == *" $l "* ]]; do l+="'"; done
  labels+=("$l")
done
for ((r = 1; r <= REP; r++)); do
  for i in "${!labels[@]}"; do
    run_one "${@:i+1:1}" "${labels[i]}" "$r"
  done
done
echo "# $(uptime)"
# The summary: each target's median, and its median paired ratio to the
# first target's run in the same repetition.
awk -v first="${labels[0]}" -v what="$([[ -n $RATE ]] && echo "CPU per 1k req/s (% of a core)" || echo "req/s per proxy core")" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
  { v[$1, $2] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++nt] = $1 } if ($2 > reps) reps = $2 }
  END {
    printf "# %s: median (median of paired ratios to %s)\n", what, first
    for (k = 1; k <= nt; k++) {
      t = order[k]; n = 0; m = 0
      for (r = 1; r <= reps; r++) if ((t, r) in v) { a[++n] = v[t, r]; if ((first, r) in v && v[first, r] > 0) b[++m] = v[t, r] / v[first, r] }
      printf "#   %-14s %10.2f  (%.3f×)\n", t, median(a, n), m ? median(b, m) : 0
      delete a; delete b
    }
  }' "$WORK/results"
