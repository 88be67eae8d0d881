#!/usr/bin/env bash
# Runs a real Kubernetes control plane on this machine: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler, built by tools/build.sh (cached),
# all on 127.0.0.1 at free ephemeral ports. There is no node: `lanemesh node`
# is the one that runs pods.
#
#   test/kubernetes/cluster.sh [-d DIR]                 # runs until Ctrl-C
#   test/kubernetes/cluster.sh [-d DIR] -- CMD ARGS...  # runs CMD, then stops
#
# DIR (default: a new temporary directory) receives the state, the logs
# (DIR/logs/*.log) and DIR/kubeconfig, the cluster admin's; CMD runs with
# KUBECONFIG set to it and PATH starting with the Kubernetes binaries, and
# its exit status is the script's. Every process is stopped by its PID when
# the script ends, however it ends (Ctrl-C, SIGTERM, a failed start), and a
# DIR the script made itself is removed unless KEEP_CLUSTER_DIR=1. (Started
# in the background by a script, bash ignores SIGINT; send SIGTERM.)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	-d) dir="$2"; shift 2 ;;
	--) shift; break ;;
	*) echo "cluster.sh: unknown argument $1 (usage: cluster.sh [-d DIR] [-- CMD ARGS...])" >&2; exit 2 ;;
	esac
done

bin="$("$here/tools/build.sh")"
made_dir=0
if [[ -z "$dir" ]]; then
	dir="$(mktemp -d "${TMPDIR:-/tmp}/lanemesh-kube.XXXXXX")"
	made_dir=1
fi
mkdir -p "$dir/logs" "$dir/pki" "$dir/etcd"
dir="$(cd "$dir" && pwd)"

pids=()
cmd_pid=""
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	# The command first, with its whole process group: go test, the test
	# binary and what the tests started.
	if [[ -n $cmd_pid ]] && kill -TERM -- "-$cmd_pid" 2>/dev/null; then
		for _ in $(seq 100); do
			kill -0 "$cmd_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$cmd_pid" 2>/dev/null || true
		wait "$cmd_pid" 2>/dev/null || true
	fi
	# Reverse start order, each gone before the next: the apiserver's
	# clients first, etcd last, so that the apiserver can shut down cleanly.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		local pid=${pids[i]}
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ $made_dir == 1 && "${KEEP_CLUSTER_DIR:-0}" != 1 ]]; then
		rm -rf "$dir"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: runs CMD in the background with its output in logs/NAME.log.
start() {
	local name="$1"
	shift
	"$@" >"$dir/logs/$name.log" 2>&1 &
	pids+=($!)
}

# await WHAT SECONDS CMD...: retries CMD until it succeeds; fails with the logs' tails.
await() {
	local what="$1" secs="$2"
	shift 2
	for _ in $(seq $((secs * 5))); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		for pid in "${pids[@]}"; do
			if ! kill -0 "$pid" 2>/dev/null; then
				echo "cluster.sh: a process exited while waiting for $what" >&2
				tail -n 20 "$dir"/logs/*.log >&2
				return 1
			fi
		done
		sleep 0.2
	done
	echo "cluster.sh: $what not ready after ${secs}s" >&2
	tail -n 20 "$dir"/logs/*.log >&2
	return 1
}

(cd "$here/tools" && GOFLAGS= go run ./prep keys "$dir/pki")
mapfile -t port < <(cd "$here/tools" && GOFLAGS= go run ./prep ports 3)
etcd_port=${port[0]} peer_port=${port[1]} api_port=${port[2]}

start etcd "$bin/etcd" --name default --data-dir "$dir/etcd" \
	--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
	--listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
	--initial-cluster "default=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn
await etcd 60 curl -fsS "http://127.0.0.1:$etcd_port/health"

# One static token per client: the admin (system:masters) and the two
# controllers, whose user names RBAC's bootstrap policy already binds.
admin_token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
kcm_token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
sched_token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat >"$dir/pki/tokens.csv" <<EOF
$admin_token,admin,admin,system:masters
$kcm_token,system:kube-controller-manager,system:kube-controller-manager
$sched_token,system:kube-scheduler,system:kube-scheduler
EOF
chmod 600 "$dir/pki/tokens.csv"

# The endpoint reconciler would publish the apiserver's address as the
# `kubernetes` Service's endpoint and refuses a loopback one; nothing here
# serves cluster IPs anyway (lanemesh node hands pods the real address in
# KUBERNETES_SERVICE_HOST/PORT).
# --enable-aggregator-routing makes the apiserver call webhooks (and
# aggregated APIs) at their Service's endpoints, the pods' loopback
# addresses, rather than at the Service's cluster IP, which nothing serves
# here. The service range is only bookkeeping for Services' clusterIP fields.
start kube-apiserver "$bin/kube-apiserver" \
	--etcd-servers "http://127.0.0.1:$etcd_port" \
	--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
	--cert-dir "$dir/pki" --token-auth-file "$dir/pki/tokens.csv" \
	--authorization-mode Node,RBAC \
	--enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
	--service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true \
	--enable-aggregator-routing=true --endpoint-reconciler-type none
# The apiserver writes its self-signed serving certificate before it listens.
await "kube-apiserver's certificate" 60 test -s "$dir/pki/apiserver.crt"

# kubeconfig USER TOKEN FILE
kubeconfig() {
	cat >"$3" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $dir/pki/apiserver.crt
users:
- name: $1
  user:
    token: $2
contexts:
- name: local
  context: {cluster: local, user: $1, namespace: default}
current-context: local
EOF
	chmod 600 "$3"
}
kubeconfig admin "$admin_token" "$dir/kubeconfig"
kubeconfig system:kube-controller-manager "$kcm_token" "$dir/pki/controller-manager.kubeconfig"
kubeconfig system:kube-scheduler "$sched_token" "$dir/pki/scheduler.kubeconfig"
await kube-apiserver 120 "$bin/kubectl" --kubeconfig "$dir/kubeconfig" get --raw /readyz

# --use-service-account-credentials: each controller acts as its own
# ServiceAccount, which RBAC's bootstrap policy grants what it needs (the
# manager's own user may only run the manager).
# --secure-port 0: the controllers serve no health endpoint, so they need
# no serving certificate nor delegated authentication. The service-account
# key makes the token controller and ServiceAccounts work; the root CA is
# published to every namespace as kube-root-ca.crt.
start kube-controller-manager "$bin/kube-controller-manager" \
	--kubeconfig "$dir/pki/controller-manager.kubeconfig" --secure-port 0 --leader-elect=false \
	--use-service-account-credentials \
	--service-account-private-key-file "$dir/pki/sa.key" --root-ca-file "$dir/pki/apiserver.crt" \
	--controllers '*'
start kube-scheduler "$bin/kube-scheduler" \
	--kubeconfig "$dir/pki/scheduler.kubeconfig" --secure-port 0 --leader-elect=false
await "the default ServiceAccount" 120 "$bin/kubectl" --kubeconfig "$dir/kubeconfig" get serviceaccount default -n default

echo "cluster: kube-apiserver at https://127.0.0.1:$api_port"
echo "kubeconfig: $dir/kubeconfig"
echo "logs: $dir/logs"
if [[ $# -gt 0 ]]; then
	# In its own process group (setsid keeps the PID), in the background so
	# that a signal here runs the clean-up at once rather than after it.
	KUBECONFIG="$dir/kubeconfig" PATH="$bin:$PATH" KUBE_BIN_DIR="$bin" setsid "$@" &
	cmd_pid=$!
	status=0
	wait "$cmd_pid" || status=$?
	cmd_pid=""
	exit "$status"
fi
echo "ready; press Ctrl-C to stop"
# wait returns when any process exits (or a signal arrives, running the trap).
wait -n "${pids[@]}" || true
echo "cluster.sh: a control-plane process exited; see $dir/logs" >&2
exit 1
