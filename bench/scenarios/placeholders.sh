# shellcheck shell=bash
# Scenarios B–D need lanemesh's control plane and sidecars (`lanemesh up`),
# which are not there yet. Each has its own function so that it can be
# replaced by a real scenario file (scenarios/b_chain.sh, ...) that writes
# its targets below $RAW/<ID>/ as scenario A does.

# placeholder ID TITLE PLAN records a scenario that was not measured.
placeholder() {
  mkdir -p "$RAW/$1"
  printf '{"id":%s,"title":%s,"status":%s}\n' "$(json_str "$1")" "$(json_str "$2")" \
    "$(json_str "not measured: needs lanemesh up. Plan: $3")" >"$RAW/$1/scenario.json"
}

scenario_b() {
  placeholder B "call chain through sidecars" \
    "gateway → mocka → mockb → mockc with a sidecar beside each (lanemesh), against the same chain through nginx and HAProxy hops and a direct chain; per-hop added latency at a fixed rate, and req/s per proxy core."
}

scenario_c() {
  placeholder C "control-plane convergence" \
    "time from applying a VirtualService or DestinationRule change (and a WorkloadEntry added or removed) to every proxy routing by it, under 1,000 req/s; no request may fail or leave its lane during the change."
}

scenario_d() {
  placeholder D "failover to the fallback version" \
    "stop lane v2's mockb under 1,000 req/s: time until requests fall back to the designated version, errors during the switch, and time to return once v2 is back."
}
