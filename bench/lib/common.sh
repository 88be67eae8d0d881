# shellcheck shell=bash
# Shared helpers of bench/run.sh: logging, JSON strings, templates, and the
# processes the harness starts (each recorded by pid, stopped by pid, and
# checked to be gone at the end).

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
