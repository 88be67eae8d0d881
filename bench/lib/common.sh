# shellcheck shell=bash
# Shared helpers of bench/run.sh: logging, JSON strings, templates, and the
# processes the harness starts (each recorded by pid, stopped by pid, and
# checked to be gone at the end).

# CHAIN_RE is what a request through the tutorial's chain must answer, in
# scenarios B and D: every hop in the request's lane ({lane}, filled in by
# bench/load), whatever the pods' addresses.
# shellcheck disable=SC2034 # used by the scenarios
CHAIN_RE='^-> mocka\(version: {lane}, ip: [0-9.]+\)-> mockb\(version: {lane}, ip: [0-9.]+\)-> mockc\(version: {lane}, ip: [0-9.]+\)$'

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# json_str prints its argument as a JSON string.
json_str() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/ }
  printf '"%s"' "$s"
}

# fill_template IN OUT KEY=VALUE... replaces each @KEY@ in IN.
fill_template() {
  local in=$1 out=$2 kv args=()
  shift 2
  for kv in "$@"; do
    args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
  done
  sed "${args[@]}" "$in" >"$out"
  if grep -q '@[A-Z0-9]*@' "$out"; then
    die "unfilled placeholder in $out: $(grep -o '@[A-Z0-9]*@' "$out" | head -1)"
  fi
}

# Processes started by the harness: name -> pid of the live ones, and every
# pid ever seen in their process trees, for the final stray check.
declare -A LIVE=()
SEEN_PIDS=()

# start_bg NAME CMD... starts CMD in the background with its output in
# $LOGS/NAME.log and records its pid in LIVE[NAME]. CMD must exec (taskset,
# env) so that the pid is the server's own.
start_bg() {
  local name=$1
  shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  LIVE[$name]=$!
  log "started $name (pid ${LIVE[$name]}): $*"
}

# alive PID is true if PID runs and is not a zombie.
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# stop_bg NAME stops a process started by start_bg and everything below it
# (nginx's worker): SIGTERM to the root, then SIGKILL to whatever is left
# after 5 s.
stop_bg() {
  local name=$1 pid=${LIVE[$1]:-} pids=() p i
  [[ -n $pid ]] || return 0
  read -r -a pids <<<"$("$OUT/load" proc -pid "$pid" -pids 2>/dev/null || echo "$pid")"
  SEEN_PIDS+=("${pids[@]}")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    local left=0
    for p in "${pids[@]}"; do alive "$p" && left=1; done
    ((left)) || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do
    if alive "$p"; then
      log "WARN: $name pid $p ignored SIGTERM; killing it"
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  wait "$pid" 2>/dev/null || true
  unset "LIVE[$name]"
  log "stopped $name"
}

# stop_all stops every live process; the order does not matter, since each
# stop waits for its own tree.
stop_all() {
  local name
  for name in "${!LIVE[@]}"; do
    stop_bg "$name"
  done
}

# check_no_strays fails if any pid the harness ever started still runs.
check_no_strays() {
  local p strays=()
  for p in "${SEEN_PIDS[@]}"; do
    alive "$p" && strays+=("$p")
  done
  ((${#strays[@]} == 0)) || die "stray processes left running: ${strays[*]}"
  log "no stray processes (${#SEEN_PIDS[@]} pids checked)"
}

# wait_port PORT [SECONDS] waits until something accepts on 127.0.0.1:PORT.
wait_port() {
  local port=$1 secs=${2:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# scenario_json ID TITLE STATUS [NOTE [FIELDS]] writes $RAW/ID/scenario.json:
# STATUS is "measured" or "failed" (NOTE says why); FIELDS, if given, is
# more JSON members for bench/report ('"hops":3,"rate":500').
scenario_json() {
  mkdir -p "$RAW/$1"
  printf '{"id":%s,"title":%s,"status":%s,"note":%s%s}\n' "$(json_str "$1")" "$(json_str "$2")" \
    "$(json_str "$3")" "$(json_str "${4:-}")" "${5:+,$5}" >"$RAW/$1/scenario.json"
  if [[ $3 == failed ]]; then
    log "FAILED: scenario $1: ${4:-}"
    FAILURES+=("scenario $1: ${4:-}")
  fi
}

# target_meta DIR NAME LABEL KIND STATUS [NOTE] writes a target's meta.json
# below a scenario, as scenario A's a_meta does.
target_meta() {
  mkdir -p "$1"
  printf '{"name":%s,"label":%s,"kind":%s,"status":%s,"note":%s}\n' "$(json_str "$2")" "$(json_str "$3")" \
    "$(json_str "$4")" "$(json_str "$5")" "$(json_str "${6:-}")" >"$1/meta.json"
  if [[ $5 == failed ]]; then
    log "FAILED: $2: ${6:-}"
    FAILURES+=("$2: ${6:-}")
  fi
}

# wait_log LOG PATTERN [SECONDS] waits until a line of LOG matches the
# extended regular expression PATTERN (a server's "ready" line).
wait_log() {
  local file=$1 pattern=$2 secs=${3:-30} i
  for ((i = 0; i < secs * 10; i++)); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# other_bench_load lists what would disturb a measurement: wrk processes
# (ours are never running at this point) and other runs of bench/run.sh:
# processes executing the script (it is their argv[0] or argv[1]; a shell
# merely waiting with "bench/run.sh" in a later argument is not a run),
# other than this one, the subshells it forks, and what started it
# (timeout, a CI shell). A run that is itself waiting in wait_idle (it has
# a marker in WAITING_DIR) runs nothing, so it is no load; but while this
# run waits too, the waiting run with the lower pid goes first, so that two
# runs waiting for each other do not both wait until BENCH_IDLE_WAIT runs
# out, nor both start at once.
other_bench_load() {
  local p q ancestors=" " argv
  pgrep -a -x wrk || true
  q=$(ppid_of $$)
  while [[ -n $q && $q != 0 ]]; do
    ancestors+="$q "
    q=$(ppid_of "$q")
  done
  for p in $(pgrep -f 'bench/run\.sh' || true); do
    [[ $ancestors == *" $p "* ]] && continue
    { mapfile -d '' -t argv <"/proc/$p/cmdline"; } 2>/dev/null || continue
    [[ ${argv[0]:-} == *bench/run.sh || ${argv[1]:-} == *bench/run.sh ]] || continue
    q=$p
    while [[ -n $q && $q != 0 && $q != 1 && $q != "$$" ]]; do
      q=$(ppid_of "$q")
    done
    [[ $q == "$$" ]] && continue
    if [[ -e $WAITING_DIR/$p ]] && { [[ ! -e $WAITING_DIR/$$ ]] || ((p > $$)); }; then
      continue
    fi
    echo "$p ${argv[*]}"
  done
  return 0
}

# ppid_of PID prints PID's parent, nothing if it is gone.
ppid_of() { awk '{print $4}' "/proc/$1/stat" 2>/dev/null || true; }

# wait_idle waits, polling every 30 s for up to BENCH_IDLE_WAIT seconds
# (default 900), until no other load generator or benchmark runs, so that
# this run does not measure on top of someone else's. It runs before the
# run and before every measurement.
wait_idle() {
  local waited=0 limit=${BENCH_IDLE_WAIT:-900} busy
  mkdir -p "$WAITING_DIR" && : >"$WAITING_DIR/$$" 2>/dev/null || true
  while busy=$(other_bench_load) && [[ -n $busy ]]; do
    ((waited < limit)) || { not_waiting; die "other load still running after ${limit}s (BENCH_IDLE_WAIT): $busy"; }
    log "waiting for other load to finish (polling every 30 s): ${busy//$'\n'/; }"
    sleep 30
    waited=$((waited + 30))
  done
  not_waiting
}

# WAITING_DIR holds an empty file named by the pid of each run of
# bench/run.sh on this machine that is waiting in wait_idle, whatever its
# work tree; other_bench_load reads it.
WAITING_DIR=${TMPDIR:-/tmp}/lanemesh-bench-waiting

# not_waiting removes this run's marker from WAITING_DIR.
not_waiting() { rm -f "$WAITING_DIR/$$"; }

# DISTURBED lists the measurements at whose end other load was running.
DISTURBED=()

# check_disturbed NAME records NAME in DISTURBED if other load runs now,
# which it may have done during the measurement that just ended.
check_disturbed() {
  local busy
  busy=$(other_bench_load)
  if [[ -n $busy ]]; then
    log "WARN: other load was running at the end of $1: ${busy//$'\n'/; }"
    DISTURBED+=("$1")
  fi
}

# pods_of ROOT prints the pids below ROOT whose environment has every
# NAME=VALUE given: a process pod of `lanemesh up` by its env (app=mockb
# version=v2).
pods_of() {
  local root=$1 p kv ok
  shift
  for p in $("$OUT/load" proc -pid "$root" -pids 2>/dev/null); do
    [[ $p == "$root" ]] && continue
    ok=1
    for kv in "$@"; do
      tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "$kv" || ok=0
    done
    ((ok)) && echo "$p"
  done
  return 0
}

# count_hops CFG LOG prints how many proxies a lane v1 request through the
# tutorial's chain meets in CFG: one line of `lanemesh explain --chain` per
# proxy that routes it (the gateway, then the sidecar of each app that
# calls the next one), the explanation kept in LOG. It is false if the
# chain does not reach mockc-v1. Scenarios B and E count the same way.
count_hops() {
  local n
  "$LM" explain -f "$1" --gateway istio-system/ingressgateway -H 'x-asm-prefer-tag: v1' --chain \
    http://gateway/mock >"$2" 2>&1 || return 1
  n=$(grep -cE '^(gateway|sidecar) ' "$2") || return 1
  grep -q 'mockc-v1' "$2" || return 1
  echo "$n"
}

# hops_note N LOG says how count_hops counted N from its LOG.
hops_note() {
  printf '%s' "$1 proxies on the path, one per line of lanemesh explain --chain: $(
    awk '{print $1, $2}' "$2" | paste -sd ',' - | sed 's/,/, /g'
  ). mockc calls nothing, so its sidecar is not on the path, and lanemesh sidecars proxy outbound calls only (no inbound hop)."
}

# chain_measure SCENARIO DIR RATE REP NAME LABEL KIND URL PIDS CHECKARGS...
# checks that the call chain at URL answers (load check with CHECKARGS),
# then runs RATE req/s of lane v1 against it for the measurement's
# duration, sampling the processes PIDS (comma-separated), into
# DIR/rate.REP.json and DIR/meta.json. Logs go to $LOGS/<scenario>-NAME.*
# (scenario in lower case). False when the check or the run failed.
chain_measure() {
  local scen=$1 dir=$2 rate=$3 rep=$4 tname=$5 label=$6 kind=$7 url=$8 pids=$9
  local name="${scen,,}-$tname"
  shift 9
  wait_idle
  if ! "$OUT/load" check -url "$url" -match "$CHAIN_RE" -n "$CHECK_N" -wait 20s "$@" \
    >>"$LOGS/$name.check.log" 2>&1; then
    target_meta "$dir" "$tname" "$label" "$kind" failed "chain check failed: $(tail -1 "$LOGS/$name.check.log")"
    return 1
  fi
  log "$name: chain ok; fixed rate $rate req/s for ${DURATION}s"
  if ! GOMAXPROCS=2 timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" "$OUT/load" rate -url "$url" -lanes v1 \
    -match "$CHAIN_RE" -rate "$rate" -duration "${DURATION}s" -warmup "$WARMUP" -conns "$CONNS" -pid "$pids" \
    -out "$dir/rate.$rep.json" >>"$LOGS/$name.rate.log" 2>&1; then
    target_meta "$dir" "$tname" "$label" "$kind" failed "fixed-rate run failed, see $LOGS/$name.rate.log"
    return 1
  fi
  tail -1 "$LOGS/$name.rate.log" >&2
  check_disturbed "$scen/$tname"
  target_meta "$dir" "$tname" "$label" "$kind" ok
}
